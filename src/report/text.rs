//! The text renderer: the verdict first, then the checks grouped by host, then what to fix.
//!
//! Pure: it reads the report and a palette, nothing else. Strings that came from outside the tool
//! go through [`crate::sanitize`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Check, Report, Status, Verdict};
use crate::sanitize::for_terminal;

/// ANSI styling, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Palette {
    color: bool,
}

impl Palette {
    #[cfg(test)]
    pub(crate) const fn plain() -> Self {
        Self { color: false }
    }

    pub(crate) const fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn status(self, status: Status) -> String {
        let code = match status {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "1;31",
            Status::Skip | Status::Info => "2",
        };
        self.paint(code, &format!("{:<4}", status.label()))
    }

    fn verdict(self, verdict: Verdict) -> String {
        let code = match verdict {
            Verdict::Ready => "1;32",
            Verdict::Degraded | Verdict::Incomplete => "1;33",
            Verdict::NotReady => "1;31",
        };
        self.paint(code, verdict.label())
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

const MAX_FIELD: usize = 300;

pub(crate) fn render(report: &Report, palette: Palette) -> String {
    let mut out = String::new();
    let c = &report.counts;
    let _ = writeln!(
        out,
        "{}: {} passed, {} warnings, {} failed, {} skipped",
        palette.verdict(report.verdict),
        c.pass,
        c.warn,
        c.fail,
        c.skip
    );
    if let Some(untested) = super::untested_summary(&report.checks) {
        let _ = writeln!(out, "{}", palette.bold(&untested));
    }
    let mut target = Vec::new();
    if let Some(instance) = &report.target.instance {
        target.push(format!("instance {instance}"));
    }
    if let Some(region) = &report.target.region {
        target.push(format!("Region {region}"));
    }
    if let Some(partner) = &report.target.partner_region {
        target.push(format!("partner Region {partner}"));
    }
    if let Some(site) = &report.target.site {
        target.push(format!("site {}", for_terminal(site, 80)));
    }
    if let Some(ranges) = &report.ranges {
        target.push(format!(
            "IP ranges of {} ({}, {} days old)",
            ranges.create_date, ranges.source, ranges.age_days
        ));
    }
    if !target.is_empty() {
        let _ = writeln!(out, "{}", target.join(" · "));
    }

    // Checks grouped by host, in report order; checks without a host come first.
    let mut groups: BTreeMap<usize, (String, Vec<&Check>)> = BTreeMap::new();
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, check) in report.checks.iter().enumerate() {
        let key = check.host.clone().unwrap_or_default();
        let slot = *first_seen.entry(key.clone()).or_insert(i);
        groups
            .entry(slot)
            .or_insert_with(|| (key, Vec::new()))
            .1
            .push(check);
    }
    for (host, checks) in groups.values() {
        out.push('\n');
        if !host.is_empty() {
            let _ = writeln!(out, "{}", palette.bold(&for_terminal(host, MAX_FIELD)));
        }
        for check in checks {
            render_check(&mut out, check, palette);
        }
    }

    let fixes = &report.fixes;
    if !fixes.is_empty() {
        let _ = writeln!(out, "\n{}", palette.bold("What to fix"));
        if !fixes.domains.is_empty() {
            let _ = writeln!(out, "  Add to the domain allow-list:");
            for domain in &fixes.domains {
                let _ = writeln!(out, "    {}", for_terminal(domain, MAX_FIELD));
            }
        }
        if !fixes.cidrs.is_empty() {
            let _ = writeln!(out, "  Allow outbound to these address ranges:");
            for fix in &fixes.cidrs {
                let _ = writeln!(out, "    {:<20} {}/{}", fix.cidr, fix.proto, fix.port);
            }
        }
        for note in &fixes.notes {
            let _ = writeln!(out, "  {}", for_terminal(note, MAX_FIELD));
        }
    }
    out
}

fn render_check(out: &mut String, check: &Check, palette: Palette) {
    let endpoint = match (check.proto, check.port) {
        (Some(proto), Some(port)) => format!(" {proto}/{port}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {} {:<10}{} {} ({})",
        palette.status(check.status),
        check.kind.as_str(),
        endpoint,
        for_terminal(&check.detail, MAX_FIELD),
        check.reason
    );
    if let Some(remedy) = &check.remedy {
        if check.status != Status::Pass {
            let _ = writeln!(out, "       fix: {}", for_terminal(remedy, MAX_FIELD * 2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, Fixes, Kind, Proto, Reason, Report, Target};

    fn sample() -> Report {
        let checks = vec![
            Check::new(
                "dns/a",
                Kind::Dns,
                Status::Pass,
                Reason::Ok,
                "resolves to 15.193.4.10",
            )
            .host("a.example"),
            Check::new(
                "tls/a",
                Kind::Tls,
                Status::Fail,
                Reason::Intercepted,
                "issued by \x1b[31mEvil CA",
            )
            .host("a.example")
            .endpoint(443, Proto::Tcp)
            .remedy("exempt a.example from TLS inspection"),
            Check::new(
                "ranges",
                Kind::Ranges,
                Status::Warn,
                Reason::SnapshotStale,
                "snapshot is 40 days old",
            ),
        ];
        let mut report = Report::new(
            "check",
            Target {
                region: Some("eu-central-1".into()),
                ..Target::default()
            },
            "2026-11-24T00:00:00Z".into(),
            checks,
        );
        report.fixes = Fixes {
            domains: vec!["a.example".into()],
            ..Fixes::default()
        };
        report
    }

    #[test]
    fn plain_text_report() {
        insta::assert_snapshot!(render(&sample(), Palette::plain()));
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!render(&sample(), Palette::plain()).contains('\x1b'));
        let colored = render(&sample(), Palette::new(true));
        assert!(colored.contains("\x1b[1;31mNOT READY\x1b[0m"));
        // Network text stays escaped even when colour is on.
        assert!(colored.contains("\\u{1b}[31mEvil CA"));
    }
}
