//! The README's usage block is the binary's real `--help`, and the generated packaging files work.

use crate::common::{Sandbox, repo_file};

const HEADING: &str = "## Usage";
const FENCE: &str = "```text\n";

/// The byte range of the first ```` ```text ```` block's body under the `## Usage` heading.
fn usage_block(readme: &str) -> Option<std::ops::Range<usize>> {
    let section = readme.find(&format!("\n{HEADING}\n"))? + 1;
    let end_of_section = readme[section + HEADING.len()..]
        .find("\n## ")
        .map_or(readme.len(), |i| section + HEADING.len() + i);
    let start = section + readme[section..end_of_section].find(FENCE)? + FENCE.len();
    let end = start + readme[start..end_of_section].find("```")?;
    Some(start..end)
}

#[test]
fn the_readme_usage_is_the_real_help() {
    let sandbox = Sandbox::new();
    let out = sandbox.cmd().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let path = repo_file("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let range = usage_block(&readme).unwrap_or_else(|| {
        panic!("README.md needs a {HEADING:?} section with a ```text block of `connect-preflight --help`")
    });
    if readme[range.clone()] == help {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let mut updated = readme.clone();
        updated.replace_range(range, &help);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    let diff: Vec<String> = readme[range]
        .lines()
        .map(|l| format!("- {l}"))
        .chain(help.lines().map(|l| format!("+ {l}")))
        .collect();
    panic!(
        "README.md's usage block differs from `connect-preflight --help` (- README, + binary):\n{}\n\
         Update it with: UPDATE_README=1 cargo test --test cli usage",
        diff.join("\n")
    );
}

#[test]
fn the_usage_block_is_found_only_under_its_heading() {
    let readme = "# x\n```text\nnot this\n```\n## Usage\n\nRun:\n\n```text\nhelp\n```\n## Next\n";
    let range = usage_block(readme).unwrap();
    assert_eq!(&readme[range], "help\n");
    assert_eq!(
        usage_block("## Usage\n\nno block\n## Next\n```text\nx\n```\n"),
        None
    );
}

#[test]
fn generate_writes_the_man_page_and_completions() {
    let sandbox = Sandbox::new();
    let man = sandbox.path("connect-preflight.1");
    sandbox
        .cmd()
        .args(["generate", "man", "--output"])
        .arg(&man)
        .assert()
        .success();
    let page = std::fs::read_to_string(&man).unwrap();
    assert!(page.contains(".TH connect-preflight 1"));
    for command in [
        "check",
        "endpoints",
        "ranges",
        "summarize",
        "generate",
        "profile",
    ] {
        assert!(
            page.contains(&format!(".SS \"connect\\-preflight {command}\"")),
            "{command} missing from the man page"
        );
    }
    let out = sandbox
        .cmd()
        .args(["generate", "completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bash = String::from_utf8(out.stdout).unwrap();
    assert!(bash.contains("endpoints") && bash.contains("ranges"));
    sandbox
        .cmd()
        .args(["generate", "completions", "tcsh"])
        .assert()
        .code(64);
}

/// Where `groff` is installed (always in Linux CI), the page formats without a warning.
#[test]
fn the_man_page_formats_cleanly_with_groff() {
    let sandbox = Sandbox::new();
    let out = sandbox.cmd().args(["generate", "man"]).output().unwrap();
    let page = out.stdout;
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut groff) = groff else {
        assert!(
            std::env::var_os("CI").is_none() || !cfg!(target_os = "linux"),
            "groff is needed in Linux CI to check the man page"
        );
        return;
    };
    use std::io::Write;
    groff.stdin.take().unwrap().write_all(&page).unwrap();
    let done = groff.wait_with_output().unwrap();
    let warnings = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success() && warnings.is_empty(), "{warnings}");
}

#[test]
fn profile_write_puts_a_valid_profile_where_asked_and_keeps_an_existing_one() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("connect-preflight.toml");
    sandbox
        .cmd()
        .args([
            "profile",
            "write",
            "--instance=acme",
            "--region=eu-central-1",
            "--output",
        ])
        .arg(&path)
        .assert()
        .success();
    let profile = connect_preflight::config::Profile::read(&path).unwrap();
    assert_eq!(profile.instance.as_deref(), Some("acme"));
    // The written profile is the one `endpoints` then uses.
    let out = sandbox
        .cmd()
        .args(["--profile"])
        .arg(&path)
        .args(["endpoints", "--format", "domains"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme.my.connect.aws"));
    // No overwrite without --force; an unknown Region is a usage error; the file is untouched.
    let before = std::fs::read(&path).unwrap();
    sandbox
        .cmd()
        .args(["profile", "write", "--region=us-east-1", "--output"])
        .arg(&path)
        .assert()
        .code(64);
    sandbox
        .cmd()
        .args(["profile", "write", "--region=mars-1", "--force", "--output"])
        .arg(&path)
        .assert()
        .code(64);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A base profile from a file, with the installer's blank properties.
    let base = sandbox.write("site.toml", "site = \"Leeds\"\nregion = \"eu-west-2\"\n");
    sandbox
        .cmd()
        .args([
            "profile",
            "write",
            "--instance=",
            "--region=",
            "--force",
            "--from",
        ])
        .arg(&base)
        .arg("--output")
        .arg(&path)
        .assert()
        .success();
    let profile = connect_preflight::config::Profile::read(&path).unwrap();
    assert_eq!(profile.site.as_deref(), Some("Leeds"));
    assert_eq!(profile.region.as_deref(), Some("eu-west-2"));
}
