//! What `catalog info` shows, and what every report says about the catalog it used: which one (built-in,
//! the config folder's, or a file), when its entries were last compared with AWS's pages, and
//! the pages they cite. The catalog is data, so a change AWS makes reaches users as a file.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

use crate::catalog::{Catalog, CatalogProvenance, Origin};
use crate::report::{Check, Kind, Reason, Status};

/// The forms `catalog info` prints (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogFormat {
    Text,
    Json,
    Markdown,
}

/// What `catalog info --format json` prints.
#[derive(Debug, Serialize)]
struct Info {
    schema: &'static str,
    #[serde(flatten)]
    catalog: CatalogProvenance,
    /// Where an administrator's catalog is looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    config_folder_file: Option<String>,
    /// Which catalog wins, first to last.
    precedence: Vec<String>,
    /// The built-in catalog's date, to compare with a replacement's.
    built_in_checked: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// The order in which a catalog is chosen, for people.
fn precedence(config_file: Option<&Path>) -> Vec<String> {
    let mut out = vec!["--endpoints FILE (or `endpoints` in the site profile)".to_owned()];
    if let Some(path) = config_file {
        out.push(format!("{} (an administrator's copy)", path.display()));
    }
    out.push("the catalog built into this program".to_owned());
    out
}

/// Says when a replacement catalog is older than the one built in: a newer program brought
/// newer facts that the replacement hides.
fn notes(catalog: &Catalog) -> Vec<String> {
    let mut notes = Vec::new();
    if *catalog.origin() != Origin::BuiltIn {
        let built_in = Catalog::embedded();
        match (catalog.checked(), built_in.checked()) {
            (Some(theirs), Some(ours)) if theirs < ours => notes.push(format!(
                "this catalog was last compared with AWS's pages on {theirs}, before the built-in one ({ours}): update or remove it"
            )),
            (None, _) => notes.push(
                "this catalog gives no `checked` date: nothing says when it last matched AWS's pages"
                    .to_owned(),
            ),
            _ => {}
        }
    }
    notes
}

/// What `catalog info --format json` prints about `catalog`, read at `now`; `config_file` is
/// where an administrator's catalog is looked for.
pub(crate) fn json(catalog: &Catalog, now: OffsetDateTime, config_file: Option<&Path>) -> String {
    let info = Info {
        schema: "connect-preflight/catalog-info/v1",
        catalog: catalog.provenance(now),
        config_folder_file: config_file.map(|p| p.display().to_string()),
        precedence: precedence(config_file),
        built_in_checked: Catalog::embedded().checked().map(str::to_owned),
        notes: notes(catalog),
    };
    let mut out = serde_json::to_string_pretty(&info).expect("plain data serialises");
    out.push('\n');
    out
}

/// "built-in", or "config folder /path", for sentences.
pub(crate) fn describe(p: &CatalogProvenance) -> String {
    match &p.path {
        Some(path) => format!("{} {path}", p.source),
        None => p.source.clone(),
    }
}

/// "last compared with AWS's pages on 2026-12-04, 3 days ago", or that it does not say.
pub(crate) fn age(p: &CatalogProvenance) -> String {
    match (&p.checked, p.age_days) {
        (Some(day), Some(days)) => {
            format!("last compared with AWS's pages on {day}, {days} days ago")
        }
        _ => "with no date saying when it last matched AWS's pages".to_owned(),
    }
}

/// What `catalog info` prints for people.
pub(crate) fn text(catalog: &Catalog, now: OffsetDateTime, config_file: Option<&Path>) -> String {
    let p = catalog.provenance(now);
    let mut out = String::new();
    let _ = writeln!(out, "Catalog in use: {}", describe(&p));
    let _ = writeln!(out, "Date: {}", age(&p));
    let _ = writeln!(
        out,
        "Entries: {} (domain templates and IP rules) for {} Regions",
        p.entries,
        catalog.regions().len()
    );
    let _ = writeln!(out, "Which catalog wins, first to last:");
    for (i, step) in precedence(config_file).iter().enumerate() {
        let _ = writeln!(out, "  {}. {step}", i + 1);
    }
    let _ = writeln!(out, "Sources ({}):", p.sources.len());
    for source in &p.sources {
        let _ = writeln!(out, "  {source}");
    }
    for note in notes(catalog) {
        let _ = writeln!(out, "Note: {note}");
    }
    let _ = writeln!(
        out,
        "Every entry with its quote: connect-preflight catalog info --format markdown"
    );
    out
}

/// The check every report carries about the catalog it used (information only: the catalog is
/// as old as the program, and AWS publishes no notice window for it).
pub(crate) fn provenance_check(catalog: &Catalog, at: OffsetDateTime) -> Check {
    let p = catalog.provenance(at);
    let mut detail = format!("the catalog in use ({}) was {}", describe(&p), age(&p));
    for note in notes(catalog) {
        let _ = write!(detail, "; {note}");
    }
    let mut check = Check::new(
        "catalog/provenance",
        Kind::System,
        Status::Info,
        Reason::Ok,
        detail,
    )
    .evidence("source", &p.source)
    .evidence("entries", p.entries);
    if let Some(path) = &p.path {
        check = check.evidence("path", path);
    }
    if let Some(day) = &p.checked {
        check = check.evidence("checked", day);
    }
    if let Some(days) = p.age_days {
        check = check.evidence("age_days", days);
    }
    check
}
