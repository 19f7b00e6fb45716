//! The HTML renderer: one self-contained page an agent can open and send to support.
//!
//! The verdict comes first, in plain words; then *What to fix* for the network team, in blocks that
//! copy cleanly; then every check grouped by host; then the media figures with a chart of the
//! round-trip time; then where the IP ranges came from and the tool's version.
//!
//! The page has no script and fetches nothing: its styles are inline, its chart is inline SVG, and
//! a Content-Security-Policy forbids anything else. Every string from the report is escaped by maud
//! and passed through [`crate::sanitize`] first, so control and bidirectional characters show as
//! visible escapes instead of reordering the text. Pure: the report in, a string out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::{Check, Kind, Report, Status, Verdict};
use crate::sanitize::for_terminal;

/// Longest text shown for one field; the JSON report keeps everything.
const MAX_FIELD: usize = 2000;
/// Longest evidence value shown in the table.
const MAX_EVIDENCE: usize = 400;
/// Most RTT samples drawn in one chart.
const MAX_SAMPLES: usize = 10_000;
/// Samples above a minute are drawn at a minute: they only need to stand out.
const MAX_RTT_MS: f64 = 60_000.0;
/// AWS's guidance: a round-trip time above this is abnormal for the softphone.
const RTT_LIMIT_MS: f64 = 300.0;

/// The page's styles, shared with the fleet summary's page.
pub(crate) const CSS: &str = r#"
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --fail: #cf222e; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2328; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 0 0 20px; }
h1 { font-size: 30px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 20px 0 8px; overflow-wrap: anywhere; }
h3 code { font-size: 15px; }
p { margin: 6px 0; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 6px 0 14px; white-space: pre-wrap; overflow-wrap: anywhere; user-select: all; }
.verdict { border-width: 0 0 0 10px; }
.verdict.ready { border-color: var(--ok); }
.verdict.degraded { border-color: var(--warn); }
.verdict.not_ready { border-color: var(--fail); }
.verdict.incomplete { border-color: var(--warn); }
.verdict.incomplete h1 { color: var(--warn); }
.verdict.ready h1 { color: var(--ok); }
.verdict.degraded h1 { color: var(--warn); }
.verdict.not_ready h1 { color: var(--fail); }
.lead { font-size: 17px; }
.facts { color: var(--muted); }
.facts span + span::before { content: " · "; }
table { border-collapse: collapse; width: 100%; }
table.checks { table-layout: fixed; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-top: 1px solid var(--line); overflow-wrap: anywhere; }
th { font-size: 13px; color: var(--muted); font-weight: 600; }
col.status { width: 76px; }
col.what { width: 150px; }
col.evidence { width: 30%; }
.badge { display: inline-block; white-space: nowrap; min-width: 48px; text-align: center; font-size: 12px; font-weight: 700; border-radius: 4px; padding: 1px 6px; color: #fff; }
.badge.pass { background: var(--ok); }
.badge.warn { background: var(--warn); }
.badge.fail { background: var(--fail); }
.badge.skip, .badge.info { background: #818b98; }
.remedy { margin-top: 4px; }
.remedy strong { color: var(--fail); }
.reason { color: var(--muted); font-size: 13px; }
table.evidence { font-size: 12px; width: auto; }
table.evidence th, table.evidence td { border: 0; padding: 0 8px 0 0; font-weight: normal; }
table.evidence th { color: var(--muted); white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 4px 0 8px; }
.figures div { min-width: 110px; }
.figures b { display: block; font-size: 20px; }
.figures span { color: var(--muted); font-size: 13px; }
svg { max-width: 100%; height: auto; background: #fff; }
footer { color: var(--muted); font-size: 13px; max-width: 1100px; margin: 0 auto; padding: 0 28px 24px; }
@media print { body { background: #fff; } section { break-inside: avoid; } }
"#;

/// Untrusted text made safe to show: control and bidi characters become visible escapes.
fn clean(text: &str) -> String {
    for_terminal(text, MAX_FIELD)
}

pub(crate) fn render(report: &Report) -> String {
    let title = format!(
        "{} — connect-preflight {}",
        verdict_title(report.verdict),
        report.command
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="generator" content=(format!("connect-preflight {}", clean(&report.tool.version)));
                title { (clean(&title)) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (verdict_section(report))
                    (fixes_section(report))
                    (checks_section(report))
                    (media_section(report))
                }
                (footer(report))
            }
        }
    };
    page.into_string()
}

const fn verdict_title(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ready => "Ready",
        Verdict::Degraded => "Degraded",
        Verdict::Incomplete => "Incomplete",
        Verdict::NotReady => "Not ready",
    }
}

const fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ready => "ready",
        Verdict::Degraded => "degraded",
        Verdict::Incomplete => "incomplete",
        Verdict::NotReady => "not_ready",
    }
}

const fn verdict_sentence(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ready => "This workstation can run the Amazon Connect CCP and its softphone.",
        Verdict::Degraded => {
            "The CCP should work, but some checks raised warnings. Send this report to your support team."
        }
        Verdict::Incomplete => {
            "Not everything required was tested, so this report cannot say whether the CCP will work. Run the check again, and send this report to your support team."
        }
        Verdict::NotReady => {
            "The CCP or its softphone will not work on this workstation as it is connected. Send this report to your support team."
        }
    }
}

const fn status_class(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Skip => "skip",
        Status::Info => "info",
    }
}

fn verdict_section(report: &Report) -> Markup {
    let c = &report.counts;
    let target = &report.target;
    html! {
        section.verdict.(verdict_class(report.verdict)) {
            h1 { (verdict_title(report.verdict)) }
            p.lead { (verdict_sentence(report.verdict)) }
            @if let Some(untested) = super::untested_summary(&report.checks) {
                p.lead.untested { strong { (clean(&untested)) } }
            }
            p {
                (c.pass) " passed · " (c.warn) (if c.warn == 1 { " warning" } else { " warnings" })
                " · " (c.fail) " failed · " (c.skip) " skipped"
            }
            p.facts {
                @if let Some(instance) = &target.instance { span { "Instance " b { (clean(instance)) } } }
                @if let Some(region) = &target.region { span { "Region " b { (clean(region)) } } }
                @if let Some(partner) = &target.partner_region { span { "Partner Region " b { (clean(partner)) } } }
                @if let Some(site) = &target.site { span { "Site " b { (clean(site)) } } }
                @if !target.features.is_empty() { span { "Features " (clean(&target.features.join(", "))) } }
                span { "Command " code { (clean(&report.command)) } }
                span { "Started " (clean(&report.started_at)) }
                span { "Took " (format_ms(report.duration_ms)) }
            }
        }
    }
}

fn format_ms(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// The remedies of the checks that did not pass, each once, in report order.
fn remedies(report: &Report) -> Vec<(&Check, &str)> {
    let mut seen = std::collections::BTreeSet::new();
    report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
        .filter_map(|c| c.remedy.as_deref().map(|r| (c, r)))
        .filter(|(_, r)| seen.insert(*r))
        .collect()
}

fn fixes_section(report: &Report) -> Markup {
    let fixes = &report.fixes;
    let remedies = remedies(report);
    if fixes.is_empty() && remedies.is_empty() {
        return html! {};
    }
    let domains: String = fixes.domains.iter().fold(String::new(), |mut out, d| {
        let _ = writeln!(out, "{}", clean(d));
        out
    });
    let cidrs: String = fixes.cidrs.iter().fold(String::new(), |mut out, f| {
        let _ = writeln!(out, "{:<20} {}/{}", clean(&f.cidr), f.proto, clean(&f.port));
        out
    });
    html! {
        section.fixes {
            h2 { "What to fix" }
            @if !fixes.domains.is_empty() {
                p { "Add these domains to the allow-list of the proxy or web filter:" }
                pre { (domains.trim_end()) }
            }
            @if !fixes.cidrs.is_empty() {
                p { "Allow outbound traffic from agent workstations to these address ranges (protocol/port):" }
                pre { (cidrs.trim_end()) }
            }
            @if !fixes.notes.is_empty() {
                ul { @for note in &fixes.notes { li { (clean(note)) } } }
            }
            @if !remedies.is_empty() {
                p { "Per check:" }
                ul {
                    @for (check, remedy) in &remedies {
                        li {
                            span.badge.(status_class(check.status)) { (check.status.label()) }
                            " "
                            @if let Some(host) = &check.host { code { (clean(host)) } ": " }
                            (clean(remedy))
                        }
                    }
                }
            }
        }
    }
}

/// Checks grouped by host in report order; checks without a host form the first group.
fn groups(report: &Report) -> Vec<(Option<&str>, Vec<&Check>)> {
    let mut order: BTreeMap<usize, (Option<&str>, Vec<&Check>)> = BTreeMap::new();
    let mut first_seen: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for (i, check) in report.checks.iter().enumerate() {
        let key = check.host.as_deref();
        let slot = *first_seen.entry(key).or_insert(i);
        order
            .entry(slot)
            .or_insert_with(|| (key, Vec::new()))
            .1
            .push(check);
    }
    let mut groups: Vec<_> = order.into_values().collect();
    groups.sort_by_key(|(host, _)| host.is_some());
    groups
}

fn checks_section(report: &Report) -> Markup {
    html! {
        section.checks {
            h2 { "Checks" }
            @if report.checks.is_empty() { p { "No checks ran." } }
            @for (host, checks) in groups(report) {
                h3 {
                    @match host {
                        Some(host) => { code { (clean(host)) } }
                        None => { "General" }
                    }
                }
                table.checks {
                    colgroup { col.status; col.what; col; col.evidence; }
                    thead { tr { th { "Status" } th { "Check" } th { "Finding" } th { "Evidence" } } }
                    tbody { @for check in checks { (check_row(check)) } }
                }
            }
        }
    }
}

fn check_row(check: &Check) -> Markup {
    let endpoint = match (check.proto, check.port) {
        (Some(proto), Some(port)) => Some(format!("{proto}/{port}")),
        (None, Some(port)) => Some(format!("port {port}")),
        _ => None,
    };
    html! {
        tr {
            td { span.badge.(status_class(check.status)) { (check.status.label()) } }
            td {
                b { (check.kind.as_str()) }
                @if let Some(endpoint) = endpoint { " " (endpoint) }
                br;
                span.reason { "reason " code { (check.reason.code()) } }
            }
            td {
                (clean(&check.detail))
                @if let Some(remedy) = &check.remedy {
                    @if check.status != Status::Pass {
                        p.remedy { strong { "Fix: " } (clean(remedy)) }
                    }
                }
            }
            td { (evidence_table(check)) }
        }
    }
}

fn evidence_text(key: &str, value: &Value) -> String {
    match value {
        Value::String(s) => for_terminal(s, MAX_EVIDENCE),
        Value::Null => "—".to_owned(),
        Value::Array(items) if key == "samples_rtt_ms" => {
            format!("{} samples (see the chart below)", items.len())
        }
        other => for_terminal(&other.to_string(), MAX_EVIDENCE),
    }
}

fn evidence_table(check: &Check) -> Markup {
    if check.evidence.is_empty() {
        return html! {};
    }
    html! {
        table.evidence {
            @for (key, value) in &check.evidence {
                tr { th { (for_terminal(key, 80)) } td { (evidence_text(key, value)) } }
            }
        }
    }
}

fn is_media(check: &Check) -> bool {
    check.kind == Kind::Media
        || check
            .evidence
            .get("samples_rtt_ms")
            .is_some_and(Value::is_array)
}

/// The headline media figures, with their units, when the evidence holds them.
const FIGURES: &[(&str, &str, &str)] = &[
    ("rtt_ms", "round-trip time", "ms"),
    ("rtt_p95_ms", "round-trip p95", "ms"),
    ("jitter_ms", "jitter", "ms"),
    ("loss_pct", "packet loss", "%"),
    ("mos", "estimated MOS", ""),
];

fn media_section(report: &Report) -> Markup {
    let media: Vec<&Check> = report.checks.iter().filter(|c| is_media(c)).collect();
    if media.is_empty() {
        return html! {};
    }
    html! {
        section.media {
            h2 { "Softphone media quality" }
            p.facts { "AWS's guidance: a round-trip time above 300 ms or a jitter above 30 ms is abnormal for the softphone." }
            @for check in media {
                h3 {
                    span.badge.(status_class(check.status)) { (check.status.label()) }
                    " "
                    @if let Some(host) = &check.host { code { (clean(host)) } } @else { (clean(&check.id)) }
                }
                div.figures {
                    @for (key, label, unit) in FIGURES {
                        @if let Some(n) = check.evidence.get(*key).and_then(Value::as_f64) {
                            div { b { (format_figure(n)) " " (unit) } span { (label) } }
                        }
                    }
                }
                @if let Some(Value::Array(samples)) = check.evidence.get("samples_rtt_ms") {
                    (rtt_chart(samples))
                }
            }
        }
    }
}

fn format_figure(n: f64) -> String {
    if n.is_nan() || n.abs() >= 1e9 {
        format!("{n:e}")
    } else if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Chart geometry, in SVG user units.
const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// A line of the round-trip time of each sample; a lost packet (`null`, or anything not a number)
/// breaks the line and is marked in red along the top.
fn rtt_chart(samples: &[Value]) -> Markup {
    let samples = &samples[..samples.len().min(MAX_SAMPLES)];
    let values: Vec<Option<f64>> = samples
        .iter()
        .map(|v| v.as_f64().map(|n| n.clamp(0.0, MAX_RTT_MS)))
        .collect();
    let n = values.len();
    let lost = values.iter().filter(|v| v.is_none()).count();
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(max.max(10.0) * 1.1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if n <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);

    // Runs of received samples become polylines.
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let _ = write!(current, "{:.1},{:.1} ", x(i), y(*v));
            }
            None if !current.is_empty() => lines.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    let singles: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            v.is_some()
                && (*i == 0 || values[i - 1].is_none())
                && (i + 1 == n || values[i + 1].is_none())
        })
        .filter_map(|(i, v)| v.map(|v| (x(i), y(v))))
        .collect();
    let losses: Vec<f64> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_none())
        .map(|(i, _)| x(i))
        .collect();
    let label = format!(
        "Round-trip time of {n} samples, {lost} lost, highest {}",
        format_figure(max)
    );
    let ticks = [0.0, y_max / 2.0, y_max];
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(label) {
            title { (label) " ms" }
            rect x=(LEFT) y=(TOP) width=(plot_w) height=(plot_h) fill="#f6f8fa" stroke="#d1d9e0" {}
            @for t in ticks {
                line x1=(LEFT) x2=(W - RIGHT) y1=(fmt1(y(t))) y2=(fmt1(y(t))) stroke="#d1d9e0" {}
                text x=(LEFT - 6.0) y=(fmt1(y(t) + 4.0)) text-anchor="end" font-size="11" fill="#59636e" { (format_figure(t)) " ms" }
            }
            @if RTT_LIMIT_MS < y_max {
                line x1=(LEFT) x2=(W - RIGHT) y1=(fmt1(y(RTT_LIMIT_MS))) y2=(fmt1(y(RTT_LIMIT_MS))) stroke="#cf222e" stroke-dasharray="4 3" {}
                text x=(W - RIGHT - 4.0) y=(fmt1(y(RTT_LIMIT_MS) - 4.0)) text-anchor="end" font-size="11" fill="#cf222e" { "300 ms limit" }
            }
            @for points in &lines {
                polyline points=(points.trim_end()) fill="none" stroke="#0969da" stroke-width="1.5" {}
            }
            @for (cx, cy) in &singles {
                circle cx=(fmt1(*cx)) cy=(fmt1(*cy)) r="2" fill="#0969da" {}
            }
            @for lx in &losses {
                line x1=(fmt1(*lx)) x2=(fmt1(*lx)) y1=(TOP) y2=(TOP + 10.0) stroke="#cf222e" stroke-width="2" {}
            }
            text x=(LEFT) y=(H - 10.0) font-size="11" fill="#59636e" { "sample 1" }
            text x=(W - RIGHT) y=(H - 10.0) text-anchor="end" font-size="11" fill="#59636e" { "sample " (n) }
            text x=(LEFT + plot_w / 2.0) y=(H - 10.0) text-anchor="middle" font-size="11" fill="#59636e" {
                (n) " samples · " (lost) " lost (red marks)"
            }
        }
    }
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `v`, for a readable axis.
fn nice_ceiling(v: f64) -> f64 {
    let v = v.max(1.0);
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

fn footer(report: &Report) -> Markup {
    html! {
        footer {
            @if let Some(ranges) = &report.ranges {
                p {
                    "AWS IP ranges published " (clean(&ranges.create_date))
                    " (syncToken " (clean(&ranges.sync_token)) ", " (clean(&ranges.source)) " copy, "
                    (ranges.age_days) " days old at the time of the check)."
                }
            }
            p {
                (clean(&report.tool.name)) " " (clean(&report.tool.version))
                " · report schema " code { (clean(&report.schema)) }
                " · started " (clean(&report.started_at))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::{hostile, sample};
    use crate::report::{Reason, Target};

    #[test]
    fn representative_report() {
        insta::assert_snapshot!(render(&sample()));
    }

    #[test]
    fn the_page_leads_with_the_verdict_and_lists_the_fixes_in_copyable_blocks() {
        let page = render(&sample());
        let verdict = page.find("<h1>Not ready</h1>").unwrap();
        let fixes = page.find("What to fix").unwrap();
        let checks = page.find("<h2>Checks</h2>").unwrap();
        let media = page.find("Softphone media quality").unwrap();
        assert!(verdict < fixes && fixes < checks && checks < media);
        assert!(page.contains(
            "<pre>*.transport.connect.eu-central-1.amazonaws.com\nparticipant.connect.eu-central-1.amazonaws.com</pre>"
        ));
        assert!(page.contains("15.193.0.0/19        udp/3478\n3.120.0.0/14         tcp/443</pre>"));
        // The chart: three lost samples break the line into three runs.
        assert_eq!(page.matches("<polyline").count(), 3);
        assert!(page.contains("60 samples, 3 lost"));
        assert!(page.contains("1795000000"));
    }

    /// Every `<` in the page starts a tag the renderer wrote.
    fn tags(page: &str) -> std::collections::BTreeSet<String> {
        page.match_indices('<')
            .map(|(i, _)| {
                page[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '!')
                    .collect::<String>()
                    .trim_start_matches('/')
                    .to_ascii_lowercase()
            })
            .collect()
    }

    #[test]
    fn hostile_text_is_escaped_and_made_visible() {
        let page = render(&hostile());
        assert!(!page.to_ascii_lowercase().contains("<script"));
        assert_eq!(page.matches("</style>").count(), 1);
        let allowed: std::collections::BTreeSet<String> = [
            "!doctype", "html", "head", "meta", "title", "style", "body", "main", "section", "h1",
            "h2", "h3", "p", "span", "b", "code", "pre", "ul", "li", "table", "thead", "tbody",
            "tr", "th", "td", "br", "div", "colgroup", "col", "svg", "rect", "line", "text",
            "polyline", "circle", "footer", "strong",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let found = tags(&page);
        assert!(found.is_subset(&allowed), "unexpected tags: {found:?}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // Control and bidi characters are shown, not obeyed.
        assert!(
            !page
                .chars()
                .any(|c| c == '\u{1b}' || c == '\u{202E}' || c == '\0')
        );
        assert!(page.contains("\\u{202e}gnp.exe"));
        // No attribute the page writes can carry a URL, so `javascript:` stays inert text.
        assert!(!page.contains("href=") && !page.contains("src="));
        // Non-numbers in the samples count as lost; a huge value only stretches the axis.
        assert!(page.contains("5 samples, 2 lost"));
    }

    #[test]
    fn a_passing_report_has_no_fix_section() {
        let report = Report::new(
            "ranges info",
            Target::default(),
            "2026-11-24T00:00:00Z".into(),
            vec![Check::new(
                "ranges/snapshot",
                Kind::Ranges,
                Status::Pass,
                Reason::Ok,
                "fresh",
            )],
        );
        let page = render(&report);
        assert!(page.contains("<h1>Ready</h1>"));
        assert!(!page.contains("What to fix"));
        assert!(!page.contains("<svg"));
    }

    /// The first Chromium found, or `None`.
    fn chromium() -> Option<std::path::PathBuf> {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
    }

    /// Runs headless Chromium on a page with `extra` arguments; returns (stdout, stderr).
    fn browse(
        chromium: &std::path::Path,
        page: &std::path::Path,
        extra: &[&str],
    ) -> (String, String) {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("timeout")
            .arg("120")
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium failed: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    }

    /// Console errors, script errors and CSP refusals, as Chromium logs them.
    fn browser_errors(stderr: &str) -> Vec<&str> {
        stderr
            .lines()
            .filter(|l| {
                l.contains("Uncaught")
                    || l.contains("Refused")
                    || l.contains("CONSOLE")
                    || l.contains("console")
            })
            .collect()
    }

    /// A real browser opens the page: no console error, no refused fetch, no script in the DOM,
    /// and a screenshot. `UPDATE_SCREENSHOT=1` copies it to `docs/images/report.png` (then shrink
    /// it with `pngquant --quality 70-95` to keep the repository small).
    #[test]
    fn a_real_browser_renders_the_page_cleanly() {
        let Some(chromium) = chromium() else {
            assert!(
                !missing_browser_fails(std::env::var("CI").ok().as_deref()),
                "chromium is not installed, and CI must run the browser test: apt-get install chromium"
            );
            eprintln!(
                "\n*** SKIPPED a_real_browser_renders_the_page_cleanly: chromium is not installed \
                 (apt-get install chromium); CI=true makes this a failure ***\n"
            );
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut fleet = crate::summary::Fleet::default();
        fleet.add(&sample(), "Leeds");
        fleet.add(&hostile(), "<i>York</i>\u{202e}");
        let pages = [
            ("sample.html", render(&sample()), true),
            ("hostile.html", render(&hostile()), true),
            ("fleet.html", crate::summary::html(&fleet.finish()), false),
        ];
        for (name, html, chart) in pages {
            let page = dir.path().join(name);
            std::fs::write(&page, html).unwrap();

            let (dom, stderr) = browse(&chromium, &page, &["--dump-dom"]);
            assert!(browser_errors(&stderr).is_empty(), "{name}: {stderr}");
            let lower = dom.to_ascii_lowercase();
            assert!(
                !lower.contains("<script"),
                "{name}: a script element in the DOM"
            );
            assert_eq!(lower.contains("<svg"), chart, "{name}: the chart");
            assert_eq!(lower.matches("<style").count(), 1, "{name}");

            let png = dir.path().join(name.replace(".html", ".png"));
            let (_, stderr) = browse(
                &chromium,
                &page,
                &[
                    &format!("--screenshot={}", png.display()),
                    "--window-size=1024,1500",
                    "--hide-scrollbars",
                ],
            );
            assert!(browser_errors(&stderr).is_empty(), "{name}: {stderr}");
            let bytes = std::fs::read(&png).unwrap();
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
            if name == "sample.html"
                && std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1")
            {
                let target =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/report.png");
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, &bytes).unwrap();
            }
        }
    }

    /// Outside CI a missing browser skips the test loudly; in CI it fails it.
    fn missing_browser_fails(ci: Option<&str>) -> bool {
        ci == Some("true")
    }

    #[test]
    fn only_ci_insists_on_the_browser() {
        assert!(missing_browser_fails(Some("true")));
        assert!(!missing_browser_fails(None));
        assert!(!missing_browser_fails(Some("")));
        assert!(!missing_browser_fails(Some("false")));
    }

    #[test]
    fn axis_ceilings_are_round() {
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(96.8), 100.0);
        assert_eq!(nice_ceiling(220.0), 250.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
