//! The import direction of `docs/architecture.md`, kept by a test: it reads every file under
//! `src/`, takes the modules each one names by a crate path (in `use` lines and inline paths, test
//! code left out), and fails on an import the map does not allow and on any cycle.
//!
//! `cargo test --lib architecture -- --nocapture` also prints the graph: one line per module with
//! what it imports, then the cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it imports (top-level modules of the crate; `commands/*` one each).
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate path prefix, spelled so that this file does not import what it names.
const CRATE: &str = concat!("crate", "::");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: its top-level module, or `commands::NAME` under `commands/`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.as_slice() {
        [one] if one == "main" || one == "lib" => None,
        [first, second, ..] if first == "commands" && second != "mod" => {
            Some(format!("commands::{second}"))
        }
        [first, ..] => Some(first.clone()),
        [] => None,
    }
}

/// The file's code without its test modules (`#[cfg(test)]` then `mod`, to the closing brace)
/// and without comments.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line == "#[cfg(test)]" {
            let next = lines.get(i + 1).map_or("", |l| l.trim());
            if next.starts_with("mod ") || next.starts_with("pub mod ") {
                if next.ends_with(';') {
                    i += 2;
                    continue;
                }
                let mut depth = 0i32;
                let mut j = i + 1;
                while j < lines.len() {
                    depth += lines[j].matches('{').count() as i32;
                    depth -= lines[j].matches('}').count() as i32;
                    j += 1;
                    if depth <= 0 && lines[j - 1].contains('}') {
                        break;
                    }
                }
                i = j;
                continue;
            }
        }
        if !line.starts_with("//") {
            out.push(lines[i]);
        }
        i += 1;
    }
    out
}

/// The first name of a path: `report::Check` → `report`, or `commands::check` when the path
/// goes into `commands`.
fn first_module(path: &str) -> Option<String> {
    let word = |t: &str| -> String {
        t.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let name = word(path.trim_start());
    if name.is_empty() || name == "self" {
        return None;
    }
    if name == "commands" {
        let sub = word(path.trim_start()[name.len()..].trim_start_matches("::"));
        if !sub.is_empty() && sub != "self" {
            return Some(format!("commands::{sub}"));
        }
    }
    Some(name)
}

/// The top-level modules `code` names by a crate path: `crate::report::Check` → `report`,
/// `crate::{clock, plan::Plan}` → `clock` and `plan`, `crate::commands::check::run` →
/// `commands::check`.
fn named_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(CRATE) {
        let before = rest[..at].chars().last();
        rest = &rest[at + CRATE.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // A group: each top-level item names one module.
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(first_module(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.extend(first_module(&item));
            continue;
        }
        found.extend(first_module(rest));
    }
    found
}

/// The crate's import graph, read from the files under `src/`.
pub(crate) fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        let entry = graph.entry(module.clone()).or_default();
        for target in named_modules(&code_lines(&text).join("\n")) {
            if target != module {
                entry.insert(target);
            }
        }
    }
    graph
}

/// The groups of modules that import each other in a circle (strongly connected components of
/// more than one module), each sorted.
pub(crate) fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|k| (k, reach(k))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for node in graph.keys() {
        if done.contains(node) {
            continue;
        }
        let group: Vec<String> = graph
            .keys()
            .filter(|other| {
                *other == node || (reaches[node].contains(*other) && reaches[*other].contains(node))
            })
            .cloned()
            .collect();
        for member in &group {
            done.insert(member.clone());
        }
        if group.len() > 1 {
            out.push(group);
        }
    }
    out
}

/// The graph as text: `module -> a, b, c` per line, then one `cycle:` line per cycle.
pub(crate) fn render(graph: &Graph) -> String {
    let mut out = String::new();
    for (module, imports) in graph {
        let list: Vec<&str> = imports.iter().map(String::as_str).collect();
        out.push_str(&format!("{module} -> {}\n", list.join(", ")));
    }
    let cycles = cycles(graph);
    if cycles.is_empty() {
        out.push_str("no cycle\n");
    }
    for cycle in cycles {
        out.push_str(&format!("cycle: {}\n", cycle.join(" <-> ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::print_stdout)]
    fn the_import_graph_is_printed() {
        let graph = graph();
        println!("{}", render(&graph));
        assert!(
            graph.contains_key("report"),
            "the scan found the report module"
        );
    }

    #[test]
    fn a_crate_path_names_its_top_level_module() {
        let line = format!("use {CRATE}report::{{Check, Status}}; my_{CRATE}no");
        assert_eq!(named_modules(&line), vec!["report".to_owned()]);
        let line = format!("{CRATE}commands::check::run(x)");
        assert_eq!(named_modules(&line), vec!["commands::check".to_owned()]);
        let group = format!("use {CRATE}{{\n    clock, plan::{{self, Plan}},\n    commands::agent,\n}};");
        assert_eq!(
            named_modules(&group),
            vec!["clock".to_owned(), "plan".to_owned(), "commands::agent".to_owned()]
        );
    }

    #[test]
    fn test_modules_and_comments_are_left_out() {
        let text = format!(
            "use {CRATE}a::X;\n// {CRATE}b\n#[cfg(test)]\nmod tests {{\n    use {CRATE}c;\n}}\nfn f() {{ {CRATE}d::g() }}\n"
        );
        let found: Vec<String> = code_lines(&text)
            .into_iter()
            .flat_map(|line| named_modules(line))
            .collect();
        assert_eq!(found, vec!["a".to_owned(), "d".to_owned()]);
    }

    #[test]
    fn a_circle_of_three_is_one_cycle() {
        let mut graph = Graph::new();
        for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
            graph.entry(from.into()).or_default().insert(to.into());
            graph.entry(to.into()).or_default();
        }
        assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    }
}
