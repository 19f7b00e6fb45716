//! The floor under `bench/audit-domains.sh`: a program that does nothing but what the audit
//! cannot skip on any list (read the file, check it is text, and put every line in a hash set,
//! which finding duplicates needs), with the audit's own hasher. It prints the number of lines
//! and of repeated lines.
//!
//! `cargo run --release --example line_set -- FILE`

// A command-line program: it reports on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashSet;
use std::process::ExitCode;

use connect_preflight::allowlist::domains::FastHash;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: line_set FILE");
        return ExitCode::from(64);
    };
    let text = match std::fs::read(&path).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => {
            eprintln!("{}: not UTF-8: {e}", path.to_string_lossy());
            return ExitCode::from(65);
        }
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::from(66);
        }
    };
    let mut seen: HashSet<&str, FastHash> =
        HashSet::with_capacity_and_hasher(text.len() / 16, FastHash::default());
    let (mut lines, mut repeated) = (0usize, 0usize);
    for line in text.lines() {
        lines += 1;
        if !seen.insert(line) {
            repeated += 1;
        }
    }
    println!("{lines} lines, {repeated} repeated");
    ExitCode::SUCCESS
}
