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

/// The Markdown files a reader of the repository or of the packages opens.
fn doc_files() -> Vec<String> {
    let mut files: Vec<String> = ["README.md", "GUIDE.md", "FAQ.md", "CONTRIBUTING.md"]
        .map(str::to_owned)
        .to_vec();
    let mut in_docs: Vec<String> = std::fs::read_dir(repo_file("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    in_docs.sort();
    files.extend(in_docs);
    files
}

/// The lines outside fenced code blocks: what Markdown renders as prose, headings and tables.
pub(crate) fn prose_lines(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// `line` without its inline code spans (`` `…` ``), which show links as written.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The anchor GitHub gives a heading: its rendered text in lower case, without punctuation other
/// than `-` and `_`, spaces turned into hyphens.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // A link in a heading renders as its text.
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find("](")
            .and_then(|close| after[close..].find(')').map(|end| (close, close + end + 1)))
        {
            Some((close, end)) => {
                text.push_str(&after[..close]);
                rest = &after[end..];
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every heading anchor of a Markdown file, with GitHub's `-1`, `-2` for repeated headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut out = BTreeSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let Some(title) = line[hashes..]
            .strip_prefix(' ')
            .filter(|_| (1..=6).contains(&hashes))
        else {
            continue;
        };
        let base = slug(title.trim().trim_end_matches('#').trim());
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` of a line.
pub(crate) fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        targets.push(after[..end].trim().to_owned());
        rest = &after[end..];
    }
    targets
}

#[test]
fn a_heading_anchor_is_the_one_github_gives_it() {
    for (heading, anchor) in [
        (
            "The browser's path: proxy, PAC script, OS settings",
            "the-browsers-path-proxy-pac-script-os-settings",
        ),
        (
            "The customer's lists: `--domains FILE` and `--cidrs FILE`",
            "the-customers-lists---domains-file-and---cidrs-file",
        ),
        (
            "The new sign-in (since 2026-10-07)",
            "the-new-sign-in-since-2026-10-07",
        ),
        ("`nxdomain`, `no_answer` (dns)", "nxdomain-no_answer-dns"),
        ("See [the guide](GUIDE.md) — now", "see-the-guide--now"),
    ] {
        assert_eq!(slug(heading), anchor);
    }
    let text = "# A\n## Twice\n```\n# not a heading\n```\n### Twice\n#nope\n";
    let found: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(found, ["a", "twice", "twice-1"]);
    assert_eq!(
        link_targets("see [a](x.md#y), `[b](not-a-link)` and [c](https://e.example/)"),
        ["x.md#y", "https://e.example/"]
    );
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(repo_file(&file)).unwrap();
        let folder = std::path::Path::new(&file).parent().unwrap().to_path_buf();
        for (n, line) in prose_lines(&text).iter().enumerate() {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
                let linked = if path.is_empty() {
                    std::path::PathBuf::from(&file)
                } else {
                    folder.join(path)
                };
                let full = repo_file(linked.to_str().unwrap());
                if !full.exists() {
                    broken.push(format!(
                        "{file} (prose line {}): {target}: no such file",
                        n + 1
                    ));
                    continue;
                }
                if !fragment.is_empty() && path_is_markdown(&linked) {
                    let heads = anchors(&std::fs::read_to_string(&full).unwrap());
                    if !heads.contains(fragment) {
                        broken.push(format!(
                            "{file} (prose line {}): {target}: no such heading",
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn path_is_markdown(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "md")
}

/// `docs/reasons.md` sends the reader of each code to every FAQ entry about it.
#[test]
fn reasons_md_links_each_code_to_its_faq_entries() {
    let faq = std::fs::read_to_string(repo_file("FAQ.md")).unwrap();
    let section = &faq[faq
        .find("\n## By reason code\n")
        .expect("FAQ.md has a By reason code section")..];
    let reasons = std::fs::read_to_string(repo_file("docs/reasons.md")).unwrap();
    let in_faq = &reasons[reasons
        .find("\n## In the FAQ\n")
        .expect("docs/reasons.md has an In the FAQ section")..];
    let mut expected = 0;
    for heading in section.lines().filter_map(|l| l.strip_prefix("### ")) {
        let codes = heading.split(" (").next().unwrap();
        let anchor = format!("(../FAQ.md#{})", slug(heading));
        for code in codes.split(", ") {
            let code = code.trim_matches('`');
            assert!(
                Reason::ALL.iter().any(|r| r.code() == code),
                "FAQ.md's heading {heading:?} names {code:?}, which is no reason code"
            );
            let row = in_faq
                .lines()
                .find(|l| l.starts_with(&format!("| `{code}` |")))
                .unwrap_or_else(|| panic!("docs/reasons.md's In the FAQ has no row for {code}"));
            assert!(
                row.contains(&anchor),
                "docs/reasons.md's row for {code} does not link {anchor}"
            );
            expected += 1;
        }
    }
    assert!(expected > 40);
}

/// The README's exit-code table lists exactly the codes the binary uses.
#[test]
fn the_readme_lists_every_exit_code() {
    let text = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let heading = "\n## Exit codes\n";
    let start = text.find(heading).expect("README.md has ## Exit codes") + heading.len();
    let body = &text[start..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    let documented: BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split_once(' ').map(|(code, _)| code.to_owned()))
        .filter(|code| code.parse::<u8>().is_ok())
        .collect();
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

/// The guide's grading table states the default thresholds the media checks use.
#[test]
fn the_guides_grading_table_states_the_default_thresholds() {
    let text = std::fs::read_to_string(repo_file("GUIDE.md")).unwrap();
    let start = text
        .find("\n### How call quality is graded\n")
        .expect("GUIDE.md has the grading section");
    let section = &text[start..];
    let row = |figure: &str| -> Vec<String> {
        let line = section
            .lines()
            .find(|l| l.starts_with(&format!("| {figure} |")))
            .unwrap_or_else(|| panic!("no {figure} row in the grading table"));
        line.trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let t = connect_preflight::config::Thresholds::default();
    assert_eq!(row("round trip")[1], format!("≤ {} ms", t.rtt_ms));
    assert_eq!(row("jitter")[1], format!("≤ {} ms", t.jitter_ms));
    let loss = row("loss");
    assert_eq!(loss[1], format!("under {} %", t.loss_warn_pct));
    assert_eq!(loss[2], format!("{} % or more", t.loss_warn_pct));
    assert_eq!(loss[3], format!("{} % or more", t.loss_fail_pct));
}

/// Every flag of every command is described in the user docs, where a reader looks it up.
#[test]
fn every_flag_is_documented() {
    use clap::CommandFactory;
    let docs: String = [
        "README.md",
        "GUIDE.md",
        "FAQ.md",
        "docs/deploy.md",
        "docs/report.md",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(repo_file(f)).unwrap())
    .collect();
    let mut missing = Vec::new();
    let mut seen = 0;
    let mut commands = vec![(
        "connect-preflight".to_owned(),
        connect_preflight::cli::Cli::command(),
    )];
    while let Some((path, command)) = commands.pop() {
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            seen += 1;
            let flag = format!("--{long}");
            let documented = docs.match_indices(&flag).any(|(i, _)| {
                let next = docs[i + flag.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !documented {
                missing.push(format!("{path} {flag}"));
            }
        }
        for sub in command.get_subcommands() {
            commands.push((format!("{path} {}", sub.get_name()), sub.clone()));
        }
    }
    assert!(seen > 40, "only {seen} flags found");
    assert!(missing.is_empty(), "flags no doc describes: {missing:?}");
}
