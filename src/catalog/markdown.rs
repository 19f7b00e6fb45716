//! Every entry of the catalog with its source, as `docs/catalog.md` and `catalog info
//! --format markdown` show it.

use super::Catalog;

impl Catalog {
    /// Every entry of the catalog with its source, for `docs/catalog.md` and `catalog info`.
    pub(crate) fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "# The catalog: every entry and where it comes from\n\n\
             Generated from `ranges/catalog.toml` by `connect-preflight catalog info --format markdown`; \
             a test keeps the two in step. Edit the TOML file, then regenerate this page.\n\n",
        );
        if let Some(day) = self.checked() {
            let _ = writeln!(out, "Last compared with AWS's pages: {day}.\n");
        }
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        out.push_str("## Domains (AWS's Option 1)\n\n| id | group | host | allow-list line | ports | source | quote | checked | probe (and where its name comes from) |\n|---|---|---|---|---|---|---|---|---|\n");
        for e in &self.endpoints {
            let ports: Vec<String> = e.ports.iter().map(ToString::to_string).collect();
            let mut scope = Vec::new();
            if let Some(p) = &e.partition {
                scope.push(format!("partition {p}"));
            }
            if !e.regions.is_empty() {
                scope.push(format!("Regions {}", e.regions.join(", ")));
            }
            if e.source_region_only {
                scope.push("source Region only".to_owned());
            }
            if e.legacy_domain_only {
                scope.push("while on awsapps.com".to_owned());
            }
            let scope = if scope.is_empty() {
                String::new()
            } else {
                format!(" ({})", scope.join("; "))
            };
            let probe = match (&e.probe, &e.probe_from.is_empty()) {
                (Some(p), _) => format!(
                    "`{p}`: {} \"{}\"",
                    e.probe_source.as_deref().unwrap_or("source not given"),
                    cell(e.probe_quote.as_deref().unwrap_or(""))
                ),
                (None, false) => format!("the Region's `{}` hosts", e.probe_from.join("`, `")),
                (None, true) if ["{turn}", "{static}", "{login}"].contains(&e.host.as_str()) => {
                    "each pinned host of the Region".to_owned()
                }
                (None, true) if e.host.contains('*') => {
                    "not tested (no concrete name known)".to_owned()
                }
                (None, true) => "the host".to_owned(),
            };
            let mut source = e.source.clone();
            if let (Some(code), Some(quote)) = (&e.code_source, &e.code_quote) {
                source = format!("{source}; code: {code} \"{}\"", cell(quote));
            }
            let _ = writeln!(
                out,
                "| `{}` | {}{scope} | `{}` | `{}` | {} | {} | {} | {} | {} |",
                e.id,
                e.group.name(),
                e.host,
                e.allowlist.as_deref().unwrap_or(&e.host),
                ports.join(", "),
                cell(&source),
                cell(e.quote.as_deref().unwrap_or("(none)")),
                e.checked.as_deref().unwrap_or("(never)"),
                probe
            );
        }
        out.push_str("\n## IP ranges (AWS's Option 2)\n\n| id | group | service | Regions | ports | source | quote | checked |\n|---|---|---|---|---|---|---|---|\n");
        for r in &self.rules {
            let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
            let direction = if r.inbound { " inbound" } else { "" };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {}{direction} | {} | {} | {} |",
                r.id,
                r.group.name(),
                r.service,
                r.regions.join(", "),
                ports.join(", "),
                r.source,
                cell(r.quote.as_deref().unwrap_or("(none)")),
                r.checked.as_deref().unwrap_or("(never)")
            );
        }
        out.push_str("\n## Regions\n\n| Region | name | partition | pinned TURN hosts | CloudFront static hosts | sign-in page assets | note |\n|---|---|---|---|---|---|---|\n");
        for r in &self.regions {
            let list = |l: &[String]| {
                if l.is_empty() {
                    "(none)".to_owned()
                } else {
                    l.iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join("<br>")
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.code,
                r.name,
                r.partition(),
                list(&r.turn),
                list(&r.static_hosts),
                list(&r.login),
                cell(r.note.as_deref().unwrap_or(""))
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_catalog_md_is_in_step_with_the_catalog() {
        let committed = include_str!("../../docs/catalog.md");
        assert!(
            committed == Catalog::embedded().markdown(),
            "docs/catalog.md is stale: run `connect-preflight catalog info --endpoints ranges/catalog.toml --format markdown -o docs/catalog.md`"
        );
    }
}
