//! CIDR whitelist readers (plain, CSV, iptables-save, nft, security-group JSON) on arbitrary
//! bytes: never a panic, and every entry found names a line of the input.
#![no_main]

use std::path::Path;

use connect_preflight::allowlist::cidrs::{CidrFormat, CidrList};
use connect_preflight::allowlist::{Strictness, text_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.rules");
    let Ok(text) = text_of(path, data.to_vec()) else {
        return;
    };
    let lines = text.lines().count().max(1);
    let formats = [
        None,
        Some(CidrFormat::Plain),
        Some(CidrFormat::Csv),
        Some(CidrFormat::Iptables),
        Some(CidrFormat::Nft),
        Some(CidrFormat::AwsSg),
    ];
    for format in formats {
        for strictness in [Strictness::Strict, Strictness::Lenient] {
            if let Ok(list) = CidrList::parse(&text, path, format, strictness) {
                for entry in &list.entries {
                    assert!(entry.span.line >= 1 && entry.span.line <= lines);
                }
            }
        }
    }
});
