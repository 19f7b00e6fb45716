//! The audit of the lists a run names: each list read and audited with its evaluator, then the
//! report, the lines to paste and the fixed copy rendered. What to read, and how, arrives as
//! [`Settings`], the audit's own terms for what the user chose.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::firewall::Placement;
use super::*;
use crate::allowlist::Strictness;
use crate::allowlist::cidrs::{Addition, CidrFormat, CidrList};
use crate::allowlist::domains::DomainList;
use crate::catalog::Requirements;
use crate::error::{Error, Result};
use crate::ranges::Snapshot;
use crate::report::{self, CidrFix, Report, Target};

/// The syntax of a domain allow-list (`--domains-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DomainsFormat {
    /// One entry a line: `host`, `*.suffix`, `.suffix` or a URL
    Plain,
    /// A squid configuration with `acl NAME dstdomain ...` lines
    Squid,
    /// A proxy auto-config script: which hosts go DIRECT, which through a proxy
    Pac,
}

/// The forms of the audit's report (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// For people at a terminal, ending with the lines to paste into the list
    Text,
    /// The `connect-preflight/report/v1` contract, for pipelines
    Json,
    /// One row per check, for a spreadsheet
    Csv,
    /// A self-contained page to send to the network team
    Html,
    /// JUnit XML, one test case per check, for CI dashboards
    Junit,
}

/// Where the agents are and where a ruleset runs: what a ruleset's rules (read as the kernel
/// walks them) and a squid configuration's `src` ACLs are matched against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Firewall {
    /// The agents' addresses or networks; empty: any address.
    pub from: Vec<IpNet>,
    /// Where the ruleset runs; `None` detects it from what the file filters.
    pub placement: Option<Placement>,
    /// The interface the agents' traffic comes in by, on a gateway.
    pub in_interface: Option<String>,
    /// The interface the traffic to AWS leaves by.
    pub out_interface: Option<String>,
}

/// What one audit reads, and how: built once by `config` (`AuditConfig`) from the flags and the
/// site profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The domain allow-list, squid configuration or PAC script.
    pub domains: Option<PathBuf>,
    /// The firewall whitelist or ruleset.
    pub cidrs: Option<PathBuf>,
    /// The domain list's syntax; `None` detects it from the text.
    pub domains_format: Option<DomainsFormat>,
    /// The CIDR list's syntax; `None` detects it from the text.
    pub cidrs_format: Option<CidrFormat>,
    /// Whether a line that cannot be read stops the audit or is reported and skipped.
    pub strictness: Strictness,
    /// Where the copy of the one list audited, with the additions, is written.
    pub fix_output: Option<PathBuf>,
    pub firewall: Firewall,
}

impl Settings {
    /// The usage errors of what to read: no list at all, or two lists with one copy to write.
    pub(crate) fn check(&self) -> Result<()> {
        if self.domains.is_none() && self.cidrs.is_none() {
            return Err(Error::usage(
                "give the list to audit: --domains FILE (the domain allow-list) and/or --cidrs FILE (the firewall whitelist), or put domains/cidrs in the site profile",
            ));
        }
        if self.fix_output.is_some() && self.domains.is_some() && self.cidrs.is_some() {
            return Err(Error::usage(
                "--fix-output writes a copy of one list: give --domains or --cidrs alone with it",
            ));
        }
        Ok(())
    }
}

/// Everything one run read and decided, for the renderers.
pub(crate) struct Outcome {
    pub report: Report,
    pub domains: Option<(DomainList, Vec<String>)>,
    pub cidrs: Option<(CidrList, Vec<Addition>)>,
    /// A ruleset evaluated as the kernel walks it, with its fixes.
    pub ruleset: Option<(PathBuf, ruleset::Syntax, ruleset::Audited)>,
}

/// Reads the lists, audits them against `requirements`, and builds the report for `target`. Pure
/// but for reading the named files.
pub(crate) fn audit(
    settings: &Settings,
    requirements: &Requirements,
    snapshot: &Snapshot,
    target: Target,
    started_at: String,
) -> Result<Outcome> {
    settings.check()?;
    let strictness = settings.strictness;
    let mut checks = Vec::new();
    let mut fixes = report::Fixes::default();
    let domains = match &settings.domains {
        Some(path) => {
            let text = crate::input::read_list(path)?;
            let format = settings.domains_format.unwrap_or_else(|| {
                if crate::allowlist::pac::looks_like_pac(&text) {
                    DomainsFormat::Pac
                } else if crate::allowlist::domains::looks_like_squid(&text) {
                    DomainsFormat::Squid
                } else {
                    DomainsFormat::Plain
                }
            });
            if format == DomainsFormat::Pac {
                if settings.fix_output.is_some() {
                    return Err(Error::usage(
                        "--fix-output cannot edit a PAC script: it is a program, not a list",
                    ));
                }
                checks.extend(audit_pac(&text, path, &requirements.domains)?);
                None
            } else {
                let squid = format == DomainsFormat::Squid;
                let mut list = DomainList::parse(&text, path, Some(squid), strictness)?;
                let found = if squid {
                    squid::audit(
                        &text,
                        path,
                        &mut list,
                        &requirements.domains,
                        &settings.firewall.from,
                    )
                } else {
                    audit_domains(&list, &requirements.domains)
                };
                checks.extend(found.checks);
                fixes.domains.clone_from(&found.domains);
                Some((list, found.domains))
            }
        }
        None => None,
    };
    let mut rules_found = None;
    let cidrs = match &settings.cidrs {
        Some(path) => match ruleset::syntax_of(path, settings.cidrs_format)? {
            Some((syntax, text)) => {
                let options = ruleset::options(&settings.firewall)?;
                let rules = ruleset::read(&text, path, syntax, strictness)?;
                let reread = |t: &str| ruleset::read(t, path, syntax, Strictness::Lenient).ok();
                let found = ruleset::audit(
                    &rules,
                    syntax,
                    &text,
                    path,
                    &requirements.rules,
                    snapshot,
                    &options,
                    &reread,
                );
                checks.extend(found.checks.iter().cloned());
                fixes.cidrs.extend(found.fixes.iter().cloned());
                fixes.notes.extend(found.notes.iter().cloned());
                rules_found = Some((path.clone(), syntax, found));
                None
            }
            None => {
                let list = CidrList::read(path, settings.cidrs_format, strictness)?;
                let found = audit_cidrs(&list, &requirements.rules, snapshot);
                checks.extend(found.checks);
                if list.format == CidrFormat::AwsSg {
                    let text = crate::input::read_list(path)?;
                    checks.extend(sg_quota::checks(&text, path, &found.additions));
                }
                for a in &found.additions {
                    for net in &a.nets {
                        fixes.cidrs.push(CidrFix {
                            cidr: net.to_string(),
                            proto: a.port.proto,
                            port: a.port.ports(),
                        });
                    }
                }
                let v6 = found
                    .additions
                    .iter()
                    .flat_map(|a| &a.nets)
                    .filter(|n| n.addr().is_ipv6())
                    .count();
                let v6_elsewhere = match list.format {
                    CidrFormat::Iptables => !list.layout.ipv6,
                    CidrFormat::Nft => list
                        .layout
                        .nft_table
                        .as_ref()
                        .is_some_and(|(f, _)| f == "ip"),
                    _ => false,
                };
                if v6 > 0 && v6_elsewhere {
                    fixes.notes.push(format!(
                    "{v6} of the CIDRs to add are IPv6, which {} does not filter: they are written as comments; add them to the IPv6 rules (ip6tables, or an ip6/inet nft table)",
                    path.display()
                ));
                }
                Some((list, found.additions))
            }
        },
        None => None,
    };
    let mut report = Report::new("audit", target, started_at, checks);
    report.fixes = fixes;
    Ok(Outcome {
        report,
        domains,
        cidrs,
        ruleset: rules_found,
    })
}

/// The block that ends the text output: the lines to paste into each list, in its syntax.
pub(crate) fn what_to_add(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some((list, entries)) = &outcome.domains {
        let lines = list.addition_lines(entries);
        if !lines.is_empty() {
            let place = match (list.syntax, list.insert_after_line) {
                (crate::allowlist::domains::DomainSyntax::Squid, Some(after)) => {
                    format!(", before line {}", after + 1)
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "\nWhat to add to {}{place} (paste as is):",
                list.path.display()
            );
            for line in lines {
                let _ = writeln!(out, "{}", crate::sanitize::for_terminal(&line, 4096));
            }
        }
    }
    if let Some((path, syntax, found)) = &outcome.ruleset {
        out.push_str(&ruleset::what_to_add(found, path, *syntax));
    }
    if let Some((list, additions)) = &outcome.cidrs {
        let lines = list.addition_lines(additions);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "\nWhat to add to {} ({} syntax, paste as is):",
                list.path.display(),
                list.format.name()
            );
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// The text report, whose generic "What to fix" block gives way to the lines to paste in each
/// list's own syntax.
pub(crate) fn text(outcome: &Outcome, palette: report::text::Palette) -> String {
    let mut shown = outcome.report.clone();
    shown.fixes = report::Fixes {
        notes: outcome.report.fixes.notes.clone(),
        ..report::Fixes::default()
    };
    let mut out = report::text::render(&shown, palette);
    out.push_str(&what_to_add(outcome));
    out
}

/// One row per check.
pub(crate) fn csv(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "id", "kind", "status", "reason", "host", "proto", "port", "detail", "remedy", "evidence",
    ]);
    for c in &report.checks {
        let evidence = serde_json::to_string(&c.evidence).unwrap_or_default();
        let _ = w.write_record([
            c.id.as_str(),
            c.kind.as_str(),
            &format!("{:?}", c.status).to_ascii_lowercase(),
            c.reason.code(),
            c.host.as_deref().unwrap_or(""),
            c.proto.map_or("", |p| p.as_str()),
            &c.port.map(|p| p.to_string()).unwrap_or_default(),
            &c.detail,
            c.remedy.as_deref().unwrap_or(""),
            &evidence,
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A copy of the one list audited, with the additions, for `--fix-output`.
pub(crate) fn fixed_copy(outcome: &Outcome) -> Result<String> {
    if let Some((list, entries)) = &outcome.domains {
        let original = crate::input::read_list(&list.path)?;
        return Ok(list.with_additions(&original, entries));
    }
    if let Some((list, additions)) = &outcome.cidrs {
        let original = crate::input::read_list(&list.path)?;
        return Ok(list.with_additions(&original, additions));
    }
    if let Some((path, _, found)) = &outcome.ruleset {
        return match &found.fixed {
            Some(fixed) => Ok(fixed.clone()),
            None => crate::input::read_list(path),
        };
    }
    Ok(String::new())
}

/// Writes the copy of the one list audited, with the additions, to `path`, which must not be
/// the list itself: the list audited is never modified.
pub(crate) fn write_fixed_copy(outcome: &Outcome, path: &Path) -> Result<()> {
    if same_file(path, outcome.domains.as_ref().map(|d| d.0.path.as_path()))
        || same_file(path, outcome.cidrs.as_ref().map(|c| c.0.path.as_path()))
        || same_file(path, outcome.ruleset.as_ref().map(|r| r.0.as_path()))
    {
        return Err(Error::usage(
            "--fix-output must name a new file: the list audited is never modified",
        ));
    }
    let copy = fixed_copy(outcome)?;
    crate::output::write_atomically(path, copy.as_bytes())
}

/// The outcome in `format`; `color` for the text form at a terminal.
pub(crate) fn render(outcome: &Outcome, format: AuditFormat, color: bool) -> String {
    match format {
        AuditFormat::Json => report::json::render(&outcome.report),
        AuditFormat::Csv => csv(&outcome.report),
        AuditFormat::Html => report::html::render(&outcome.report),
        AuditFormat::Junit => report::junit::render(&outcome.report),
        AuditFormat::Text => text(outcome, report::text::Palette::new(color)),
    }
}

fn same_file(a: &Path, b: Option<&Path>) -> bool {
    let Some(b) = b else { return false };
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowlist::domains::parse_plain;
    use std::path::Path;

    use crate::allowlist::Strictness;
    use crate::audit::testing::requirements;

    #[test]
    fn text_report_ends_with_lines_to_paste() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("bypass.txt");
        std::fs::write(
            &list,
            "acme.my.connect.aws\n*.cloudfront.net\n*.amazonaws.com\n10.0.0.1\n*.awsglobalaccelerator.com\n",
        )
        .unwrap();
        let settings = Settings {
            domains: Some(list),
            ..Settings::default()
        };
        let requirements = requirements();
        let target = Target {
            instance: requirements.instance.clone(),
            region: Some(requirements.region.clone()),
            partner_region: requirements.partner_region.clone(),
            ..Target::default()
        };
        let outcome = audit(
            &settings,
            &requirements,
            &Snapshot::embedded(),
            target,
            "2026-11-24T00:00:00Z".into(),
        )
        .unwrap();
        let text = text(&outcome, report::text::Palette::plain())
            .replace(&dir.path().display().to_string(), "<dir>");
        insta::assert_snapshot!(text);
    }

    fn cidr_list(text: &str) -> CidrList {
        CidrList::parse(text, Path::new("fw.txt"), None, Strictness::Strict).unwrap()
    }

    #[test]
    fn endpoints_output_audits_clean() {
        let req = requirements();
        let snapshot = Snapshot::embedded();
        let listing = crate::endpoints::Listing::new(
            &req,
            None,
            &snapshot,
            snapshot.provenance(crate::clock::now()),
            crate::catalog::Catalog::embedded().provenance(crate::clock::now()),
        );
        let text = crate::endpoints::cidrs(&listing);
        let list = cidr_list(&text);
        let found = audit_cidrs(&list, &req.rules, &snapshot);
        assert!(
            found.checks.iter().all(|c| c.status == Status::Pass),
            "{:#?}",
            found
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass)
                .collect::<Vec<_>>()
        );
        assert!(found.additions.is_empty());
        let domains = crate::endpoints::domains(&listing);
        let list = parse_plain(&domains, Path::new("d"), Strictness::Strict).unwrap();
        let found = audit_domains(&list, &req.domains);
        // AWS lists *.apps.signin.aws beside *.signin.aws, which covers it: information only.
        assert!(
            found
                .checks
                .iter()
                .all(|c| c.status == Status::Pass || c.status == Status::Info),
            "{:#?}",
            found.checks
        );
    }
}
