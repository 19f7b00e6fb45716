//! The documentation and the code agree.

use std::collections::BTreeSet;

use connect_preflight::error::ExitCode;
use connect_preflight::report::Reason;

use crate::common::repo_file;

/// The first column of every table row whose first cell is a `code`.
fn table_codes(text: &str, section: &str) -> BTreeSet<String> {
    let start = text
        .find(section)
        .unwrap_or_else(|| panic!("docs/reasons.md has a {section:?} section"));
    let body = &text[start + section.len()..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    body.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(code, _)| code.to_owned()))
        .collect()
}

#[test]
fn every_reason_code_is_documented_and_every_documented_code_exists() {
    let text = std::fs::read_to_string(repo_file("docs/reasons.md")).unwrap();
    let documented = table_codes(&text, "## Reason codes");
    let in_code: BTreeSet<String> = Reason::ALL.iter().map(|r| r.code().to_owned()).collect();
    assert_eq!(
        documented, in_code,
        "docs/reasons.md and the Reason enum disagree"
    );
}

#[test]
fn every_exit_code_is_documented() {
    let text = std::fs::read_to_string(repo_file("docs/reasons.md")).unwrap();
    let documented = table_codes(&text, "## Exit codes");
    let in_code: BTreeSet<String> = [
        ExitCode::Ready,
        ExitCode::Degraded,
        ExitCode::NotReady,
        ExitCode::Incomplete,
        ExitCode::Usage,
        ExitCode::BadInput,
        ExitCode::Internal,
        ExitCode::Interrupted,
    ]
    .iter()
    .map(|c| c.code().to_string())
    .collect();
    assert_eq!(documented, in_code);
}

#[test]
fn the_sample_profile_parses() {
    let path = repo_file("packaging/profile.sample.toml");
    let profile = connect_preflight::config::Profile::read(&path).unwrap();
    assert_eq!(profile.region.as_deref(), Some("eu-central-1"));
}
