//! Evidence is output only: a test that reads the stages of `check` from the probes on (`probe/`,
//! `media/`, `run/`, `judge.rs`, `transport.rs`, `commands/check.rs`) and fails where one reads a
//! check's evidence, parses its id or searches its detail, instead of the typed facts
//! (`report::facts`, `run::Outcome`). Test modules and comments are left out: tests read the
//! output. Renderers (`report/`) and the readers of saved reports (`summary.rs`) are not stages
//! of the run and are not scanned.

use std::path::Path;

use super::{code_lines, rust_files};

/// The files and folders scanned, under `src/`.
const SCANNED: &[&str] = &[
    "probe",
    "media",
    "run",
    "judge.rs",
    "transport.rs",
    "commands/check.rs",
];

/// What reading a check's id or detail back looks like (besides any read of the evidence map,
/// which has no business being read at all: see [`reads_evidence`]). A check is `c` or `check`
/// in this code; its id may be cloned (as a map key) or set, never searched, parsed or compared.
const READS: &[&str] = &[
    ".id.starts_with(",
    ".id.ends_with(",
    ".id.contains(",
    ".id.split",
    ".id.rsplit",
    ".id.strip_prefix(",
    ".id.strip_suffix(",
    ".id.find(",
    ".id.parse",
    "|id| id.starts_with(",
    "(&c.id)",
    "(&check.id)",
    "c.id ==",
    "c.id !=",
    "check.id ==",
    "check.id !=",
    ".detail.contains(",
    ".detail.starts_with(",
    ".detail.ends_with(",
    ".detail.find(",
];

/// Whether `line` touches the evidence map other than through the `evidence(key, value)` builder.
fn reads_evidence(line: &str) -> bool {
    line.match_indices(".evidence").any(|(at, m)| {
        line[at + m.len()..]
            .chars()
            .next()
            .is_none_or(|c| c != '(' && !c.is_alphanumeric() && c != '_')
    })
}

/// Every read back in `text`, as `LINE: CODE`. A line that continues a method chain (it starts
/// with `.`) is read together with the lines before it, so `check\n.id\n.rsplit('/')` is one.
fn reads(text: &str) -> Vec<String> {
    let mut joined: Vec<(usize, String)> = Vec::new();
    for (n, line) in code_lines(text) {
        let trimmed = line.trim();
        match joined.last_mut() {
            Some((_, last)) if trimmed.starts_with('.') => last.push_str(trimmed),
            _ => joined.push((n, trimmed.to_owned())),
        }
    }
    joined
        .into_iter()
        .filter(|(_, line)| reads_evidence(line) || READS.iter().any(|r| line.contains(r)))
        .map(|(n, line)| format!("{n}: {line}"))
        .collect()
}

#[test]
fn no_stage_of_the_run_reads_evidence_ids_or_details_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for scanned in SCANNED {
        let path = src.join(scanned);
        assert!(path.exists(), "{} is gone: update SCANNED", path.display());
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    let mut found = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Whole files of tests, and this file, whose patterns are the reads themselves.
        if name == "tests.rs" || name == "read_back.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        for read in reads(&text) {
            found.push(format!(
                "{}:{read}",
                file.strip_prefix(&src).unwrap_or(file).display()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "a stage reads a check back instead of its typed facts (report::facts, run::Outcome):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_read_back_is_found_and_a_test_module_is_left_out() {
    let text = "fn judge(c: &Check) {
    let a = c.evidence.get(\"address\");
    // c.id.rsplit('/') in a comment
    if c.id.starts_with(\"turn-auth/\") {}
    let ev = &check.evidence;
    let ip = check
        .id
        .rsplit('/');
    let kept = c.evidence(\"address\", ip).evidence_of(1);
    let ok = c.facts.relay.is_some() && c.id.clone() == key;
}
#[cfg(test)]
mod tests {
    fn t(c: &Check) {
        assert_eq!(c.evidence[\"x\"], 1);
    }
}
";
    assert_eq!(
        reads(text),
        [
            "2: let a = c.evidence.get(\"address\");",
            "4: if c.id.starts_with(\"turn-auth/\") {}",
            "5: let ev = &check.evidence;",
            "6: let ip = check.id.rsplit('/');",
        ]
    );
    for read in READS {
        assert_eq!(reads(&format!("x{read}")).len(), 1, "{read}");
    }
}
