//! Remedies are written in `src/remedy.rs` only: a test that reads every other source file and
//! fails where remedy text is written in place (a string or `format!` given to `.remedy(`, a
//! `remedy:` field or a `remedy =` binding; in the rooms that judge lists and logs, a command
//! quoted in backticks). Test modules and comments are left out.

use std::path::Path;

use super::{code_lines, rust_files};

/// Where remedy text is written in place: `.remedy(`, a `remedy:` field or a `remedy =`
/// binding given a string literal or `format!`, or a command to run quoted in backticks (the
/// remedies' way of naming one) anywhere outside a comment. Test modules are left out.
fn written_in_place(source: &str, commands: bool) -> Vec<String> {
    let lines: Vec<&str> = code_lines(source)
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    let text = lines.join("\n");
    let mut found = Vec::new();
    for slot in [".remedy(", "remedy:", "remedy ="] {
        for (at, _) in text.match_indices(slot) {
            if slot != ".remedy("
                && text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = text[at + slot.len()..].trim_start();
            if [
                "\"",
                "r\"",
                "r#\"",
                "format!",
                "&format!",
                "String::from",
                "concat!",
            ]
            .iter()
            .any(|start| rest.starts_with(start))
            {
                let line = text[..at].matches('\n').count();
                found.push(lines[line].trim().to_owned());
            }
        }
    }
    if commands {
        found.extend(
            lines
                .iter()
                .filter(|l| l.contains("`connect-preflight"))
                .map(|l| l.trim().to_owned()),
        );
    }
    found
}

#[test]
fn the_scan_finds_remedy_text_written_in_place() {
    let source = "fn f() {\n    c.remedy(format!(\"add {x}\"))\n        .remedy(\n            \"fix it\",\n        );\n    Advice { remedy: \"x\".to_owned() };\n    let remedy = format!(\"y\");\n    let t = \"run `connect-preflight check`\";\n    // c.remedy(\"in a comment\")\n    c.remedy(remedy::add_to_list(e, f, None));\n    let x_remedy = format!(\"z\");\n}\n#[cfg(test)]\nmod tests {\n    c.remedy(\"in a test\");\n}\n";
    assert_eq!(
        written_in_place(source, true),
        [
            "c.remedy(format!(\"add {x}\"))",
            ".remedy(",
            "Advice { remedy: \"x\".to_owned() };",
            "let remedy = format!(\"y\");",
            "let t = \"run `connect-preflight check`\";",
        ]
    );
}

/// No remedy is written where a check is made, anywhere in the program: every one comes
/// from this module.
#[test]
fn no_remedy_is_written_outside_this_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // The remedies themselves, and these tests, whose samples are the texts they look for.
    files.retain(|f| *f != root.join("remedy.rs") && !f.starts_with(root.join("architecture")));
    assert!(files.len() > 100, "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(root.parent().unwrap()).unwrap();
        let name = name.to_string_lossy().replace('\\', "/");
        if name == "src/report/samples.rs" {
            // The renderers' sample report: made-up checks, not advice anyone is given.
            continue;
        }
        // Command lines in backticks are advice in the rooms that judge the customer's lists
        // and logs; elsewhere they also head generated files.
        let commands = ["src/audit", "src/ccplog", "src/judge.rs"]
            .iter()
            .any(|room| name.starts_with(room));
        for line in written_in_place(&source, commands) {
            found.push(format!("{name}: {line}"));
        }
    }
    assert!(
        found.is_empty(),
        "remedy text written in place:\n{}",
        found.join("\n")
    );
}
