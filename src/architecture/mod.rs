//! The import direction of `docs/architecture.md`, kept by a test: it reads every file under
//! `src/`, takes the modules each one names by a crate path (in `use` lines and inline paths, test
//! code left out), reads the floors and the listed exceptions from the document, and fails on an
//! import from a lower floor to a higher one, on any cycle, and on a module the document does not
//! place.
//!
//! `cargo test --lib architecture -- --nocapture` also prints the graph: one line per module with
//! what it imports, then the cycles. `read_back` reads the stages of `check` the same way and
//! fails where one reads a check's evidence, id or detail back instead of its typed facts;
//! `remedies` fails where remedy text is written outside `src/remedy.rs`.

mod read_back;
mod remedies;

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
fn code_lines(text: &str) -> Vec<(usize, &str)> {
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
            out.push((i + 1, lines[i]));
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
        let code: Vec<&str> = code_lines(&text)
            .into_iter()
            .map(|(_, line)| line)
            .collect();
        for target in named_modules(&code.join("\n")) {
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

/// The floors of `docs/architecture.md` ("What may import what"): module → floor. `commands/*`
/// stands for every `commands::NAME`.
pub(crate) fn floors(doc: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let Some(start) = doc.find("## What may import what") else {
        return out;
    };
    for line in doc[start..].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, floor, modules, ..] = cells.as_slice() else {
            continue;
        };
        let Ok(floor) = floor.parse::<u32>() else {
            continue;
        };
        for module in modules.split(',') {
            let name = module.trim().trim_matches('`').replace('/', "::");
            if !name.is_empty() {
                out.insert(name, floor);
            }
        }
    }
    out
}

/// The imports `docs/architecture.md` lists as still to remove: lines "- `a -> b`: why".
pub(crate) fn pending(doc: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Some(start) = doc.find("### Imports against the direction") else {
        return out;
    };
    for line in doc[start..].lines().skip(1) {
        if line.starts_with('#') {
            break;
        }
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((edge, _)) = rest.split_once('`') else {
            continue;
        };
        if let Some((from, to)) = edge.split_once(" -> ") {
            out.insert((from.trim().to_owned(), to.trim().to_owned()));
        }
    }
    out
}

/// A module's floor: its own row, or `commands::*` for a command.
fn floor_of(floors: &BTreeMap<String, u32>, module: &str) -> Option<u32> {
    floors.get(module).copied().or_else(|| {
        module
            .strip_prefix("commands::")
            .and_then(|_| floors.get("commands::*").copied())
    })
}

/// Everything in `graph` against the rules: modules without a floor, imports upwards (not
/// listed as pending), cycles (pending imports left out), pending imports no longer there.
pub(crate) fn violations(
    graph: &Graph,
    floors: &BTreeMap<String, u32>,
    pending: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for module in graph.keys() {
        if module != "architecture" && floor_of(floors, module).is_none() {
            out.push(format!(
                "{module} has no floor in docs/architecture.md: add it to the table"
            ));
        }
    }
    let mut kept = Graph::new();
    for (from, imports) in graph {
        let entry = kept.entry(from.clone()).or_default();
        for to in imports {
            if pending.contains(&(from.clone(), to.clone())) {
                continue;
            }
            entry.insert(to.clone());
            if let (Some(a), Some(b)) = (floor_of(floors, from), floor_of(floors, to)) {
                if b > a {
                    out.push(format!(
                        "{from} (floor {a}) imports {to} (floor {b}): against the direction"
                    ));
                }
            }
        }
    }
    for cycle in cycles(&kept) {
        out.push(format!("cycle: {}", cycle.join(" <-> ")));
    }
    for (from, to) in pending {
        if !graph.get(from).is_some_and(|i| i.contains(to)) {
            out.push(format!(
                "{from} no longer imports {to}: remove the line from docs/architecture.md"
            ));
        }
    }
    out
}

fn architecture_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    std::fs::read_to_string(path).expect("docs/architecture.md is readable")
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
    fn every_import_follows_the_documented_direction_and_none_is_circular() {
        let doc = architecture_doc();
        let floors = floors(&doc);
        assert!(floors.len() > 20, "the floors table was read: {floors:?}");
        let found = violations(&graph(), &floors, &pending(&doc));
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    #[test]
    fn an_import_upwards_a_cycle_and_an_unplaced_module_are_caught() {
        let doc = "## What may import what\n| floor | modules |\n|---|---|\n| 2 | `app` |\n\
                   | 1 | `commands/*`, `run` |\n| 0 | `report` |\n\n\
                   ### Imports against the direction, still to remove\n\n\
                   - `report -> run`: being moved.\n- `run -> gone`: done.\n";
        let floors = floors(doc);
        assert_eq!(floors["commands::*"], 1);
        let mut graph = Graph::new();
        for (from, to) in [
            ("app", "commands::check"),
            ("commands::check", "run"),
            ("run", "app"),
            ("report", "run"),
            ("run", "report"),
            ("extra", "report"),
        ] {
            graph.entry(from.into()).or_default().insert(to.into());
        }
        let found = violations(&graph, &floors, &pending(doc));
        assert_eq!(
            found,
            vec![
                "extra has no floor in docs/architecture.md: add it to the table",
                "run (floor 1) imports app (floor 2): against the direction",
                "cycle: app <-> commands::check <-> run",
                "run no longer imports gone: remove the line from docs/architecture.md",
            ]
        );
    }

    #[test]
    fn a_crate_path_names_its_top_level_module() {
        let line = format!("use {CRATE}report::{{Check, Status}}; my_{CRATE}no");
        assert_eq!(named_modules(&line), vec!["report".to_owned()]);
        let line = format!("{CRATE}commands::check::run(x)");
        assert_eq!(named_modules(&line), vec!["commands::check".to_owned()]);
        let group =
            format!("use {CRATE}{{\n    clock, plan::{{self, Plan}},\n    commands::agent,\n}};");
        assert_eq!(
            named_modules(&group),
            vec![
                "clock".to_owned(),
                "plan".to_owned(),
                "commands::agent".to_owned()
            ]
        );
    }

    #[test]
    fn test_modules_and_comments_are_left_out() {
        let text = format!(
            "use {CRATE}a::X;\n// {CRATE}b\n#[cfg(test)]\nmod tests {{\n    use {CRATE}c;\n}}\nfn f() {{ {CRATE}d::g() }}\n"
        );
        let found: Vec<String> = code_lines(&text)
            .into_iter()
            .flat_map(|(_, line)| named_modules(line))
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
