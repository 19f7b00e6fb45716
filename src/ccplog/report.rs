//! The `ccp-log` report: the project's report (verdict, checks with stable reasons, JUnit and
//! `summarize` for free) plus a `ccp_log` section with the calls' figures over time, the errors in
//! time order, the clock and the endpoints. Renderers are pure functions of [`CcpLogReport`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::{Deserialize, Serialize};

use super::model::{Audio, Call, CcpLog, JitterMeaning, LogError};
use crate::report::{Check, Kind, Reason, Report, Status, Target, Verdict};
use crate::sanitize::for_terminal;

/// A `connect-preflight/report/v1` report with its `ccp_log` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CcpLogReport {
    #[serde(flatten)]
    pub report: Report,
    pub ccp_log: CcpLog,
}

fn clean(s: &str) -> String {
    for_terminal(s, 400)
}

/// Builds the report; `started_at` is when the command ran.
pub fn build(log: CcpLog, started_at: String, duration_ms: u64) -> CcpLogReport {
    let mut checks = vec![input_check(&log)];
    if log.calls.is_empty() {
        checks.push(Check::new(
            "ccp-log/calls",
            Kind::Media,
            Status::Info,
            Reason::NotTested,
            "the log holds no softphone call",
        ));
    }
    for (i, call) in log.calls.iter().enumerate() {
        checks.push(call_check(i + 1, call));
    }
    checks.extend(error_checks(&log.errors));
    if let Some(clock) = &log.clock {
        checks.extend(clock_check(clock));
    }
    checks.push(endpoints_check(&log));
    let target = Target {
        instance: log.endpoints.instance.iter().next().cloned(),
        region: log.endpoints.region.clone(),
        ..Target::default()
    };
    let mut report = Report::new("ccp-log", target, started_at, checks);
    report.duration_ms = duration_ms;
    CcpLogReport {
        report,
        ccp_log: log,
    }
}

fn input_check(log: &CcpLog) -> Check {
    let sum = |f: fn(&super::model::FileRead) -> u64| log.input.files.iter().map(f).sum::<u64>();
    let (entries, duplicates, without_time, not_entries, cut, out_of_order) = (
        sum(|f| f.entries),
        sum(|f| f.duplicates),
        sum(|f| f.without_time),
        sum(|f| f.not_entries),
        sum(|f| f.cut_json),
        sum(|f| f.out_of_order),
    );
    let reason = if not_entries > 0 {
        Reason::UnreadEntries
    } else {
        Reason::Ok
    };
    let span = match (&log.first_entry_at, &log.last_entry_at) {
        (Some(a), Some(b)) => format!(", from {a} to {b}"),
        _ => String::new(),
    };
    Check::new(
        "ccp-log/input",
        Kind::System,
        Status::Info,
        reason,
        format!(
            "read {entries} entries from {} file(s){span}: {duplicates} duplicates dropped, \
             {out_of_order} out of time order, {without_time} without a time, {cut} with JSON \
             cut short (kept what parsed), {not_entries} not log entries",
            log.input.files.len()
        ),
    )
    .evidence("entries", entries)
    .evidence("duplicates", duplicates)
    .evidence("out_of_order", out_of_order)
    .evidence("without_time", without_time)
    .evidence("cut_json", cut)
    .evidence("not_entries", not_entries)
}

fn call_check(n: usize, call: &Call) -> Check {
    let mut check = Check::new(
        format!("ccp-log/call/{n}"),
        Kind::Media,
        call.status,
        call.reason,
        call.detail.clone(),
    );
    if let Some(remedy) = &call.remedy {
        check = check.remedy(remedy.clone());
    }
    if let Some(c) = &call.contact_id {
        check = check.evidence("contact_id", c);
    }
    if let Some(s) = &call.started_at {
        check = check.evidence("started_at", s);
    }
    // The figures `summarize` folds per site: the worse direction of each.
    let worst = |f: fn(&Audio) -> Option<f64>| {
        [f(&call.audio_input), f(&call.audio_output)]
            .into_iter()
            .flatten()
            .reduce(f64::max)
    };
    let has_audio = call.audio_input.seconds + call.audio_output.seconds > 0;
    if has_audio {
        check = check.evidence(
            "loss_pct",
            call.audio_input.loss_pct.max(call.audio_output.loss_pct),
        );
    }
    if let Some(v) = worst(|a| a.jitter_avg_ms) {
        check = check.evidence("jitter_ms", v);
    }
    if let Some(v) = worst(|a| a.rtt_avg_ms) {
        check = check.evidence("rtt_ms", v);
    }
    let mos = [call.audio_input.mos, call.audio_output.mos]
        .into_iter()
        .flatten()
        .reduce(f64::min);
    if let Some(mos) = mos {
        check = check.evidence("mos", mos);
    }
    if !call.failures.is_empty() {
        check = check.evidence("failures", &call.failures);
    }
    check
}

fn error_checks(errors: &[LogError]) -> Vec<Check> {
    let mut groups: BTreeMap<(String, Reason), (u64, &LogError, &LogError)> = BTreeMap::new();
    for e in errors {
        let g = groups
            .entry((e.what.clone(), e.reason))
            .or_insert((0, e, e));
        g.0 += e.repeats.max(1);
        g.2 = e;
    }
    groups
        .into_iter()
        .map(|((what, reason), (count, first, last))| {
            let kind = match reason {
                Reason::WebsocketLost | Reason::SignallingFailed => Kind::Websocket,
                Reason::ApiFailed | Reason::AuthFailed => Kind::Https,
                _ => Kind::Media,
            };
            let when = if count > 1 {
                format!("{count} times from {} to {}", first.at, last.at)
            } else {
                format!("at {}", first.at)
            };
            Check::new(
                format!("ccp-log/error/{what}"),
                kind,
                first.status,
                reason,
                format!("{what} {when}: {}", first.cause),
            )
            .remedy(first.remedy.clone())
            .evidence("count", count)
            .evidence("first_at", &first.at)
            .evidence("last_at", &last.at)
        })
        .collect()
}

/// Graded by the live clock check's own function, with the snapshot's server time and the
/// workstation's time built so that their difference is the median skew.
fn clock_check(clock: &super::model::Clock) -> Option<Check> {
    let server = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let local = server - time::Duration::milliseconds(clock.skew_median_ms as i64);
    let date = server
        .format(&time::format_description::well_known::Rfc2822)
        .ok()?
        .replace("+0000", "GMT");
    let mut check = crate::probe::http::judge_clock("Amazon Connect", &date, local)?;
    check.id = "ccp-log/clock".to_owned();
    check.detail = format!(
        "{} (the CCP measured {:+.0} ms, the median of {} agent snapshots; positive means the workstation is behind)",
        check.detail, clock.skew_median_ms, clock.snapshots
    );
    check.evidence.remove("server_date");
    Some(
        check
            .evidence("skew_ms", clock.skew_median_ms)
            .evidence("skew_min_ms", clock.skew_min_ms)
            .evidence("skew_max_ms", clock.skew_max_ms)
            .evidence("snapshots", clock.snapshots),
    )
}

fn endpoints_check(log: &CcpLog) -> Check {
    let ep = &log.endpoints;
    let mut parts = Vec::new();
    for (name, set) in [
        ("WebSocket", &ep.websocket),
        ("signalling", &ep.signalling),
        ("TURN", &ep.turn),
        ("instance", &ep.instance),
    ] {
        if !set.is_empty() {
            parts.push(format!(
                "{name} {}",
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let detail = if parts.is_empty() {
        "the log names no endpoint (no transport, TURN or instance URL)".to_owned()
    } else {
        format!("the CCP used: {}", parts.join("; "))
    };
    Check::new(
        "ccp-log/endpoints",
        Kind::System,
        Status::Info,
        Reason::Ok,
        detail,
    )
    .evidence("websocket", &ep.websocket)
    .evidence("signalling", &ep.signalling)
    .evidence("turn", &ep.turn)
    .evidence("instance", &ep.instance)
    .evidence("streams_version", &ep.streams_version)
    .evidence("rtc_js_version", &ep.rtc_js_version)
    .evidence("browser", &ep.browser)
    .evidence("vdi_platform", &ep.vdi_platform)
}

pub fn json(r: &CcpLogReport) -> String {
    let mut out = serde_json::to_string_pretty(r).expect("a report always serialises");
    out.push('\n');
    out
}

pub fn junit(r: &CcpLogReport) -> String {
    crate::report::junit::render(&r.report)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
}

fn audio_line(a: &Audio) -> String {
    match a.mos {
        None => "no samples".to_owned(),
        Some(mos) => format!(
            "loss {:.1} % ({} of {} packets), jitter avg {} max {}, RTT avg {} max {}, MOS {mos:.2} (lowest second {:.2}), {} silent s",
            a.loss_pct,
            a.packets_lost,
            a.packets + a.packets_lost,
            ms(a.jitter_avg_ms),
            ms(a.jitter_max_ms),
            ms(a.rtt_avg_ms),
            ms(a.rtt_max_ms),
            a.mos_min.unwrap_or(mos),
            a.silent_seconds
        ),
    }
}

fn phases_line(call: &Call) -> String {
    let p = &call.phases;
    [
        ("media access", p.media_access_ms),
        ("init", p.initialization_ms),
        ("ICE collection", p.ice_collection_ms),
        ("signalling", p.signalling_connect_ms),
        ("handshake", p.handshake_ms),
        ("pre-talk", p.pre_talk_ms),
        ("talk", p.talk_ms),
        ("cleanup", p.cleanup_ms),
    ]
    .iter()
    .filter_map(|(n, v)| v.map(|v| format!("{n} {v:.0} ms")))
    .collect::<Vec<_>>()
    .join(" · ")
}

/// The text form: verdict, calls, errors in time order, clock, endpoints.
pub fn text(r: &CcpLogReport) -> String {
    let log = &r.ccp_log;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "connect-preflight ccp-log: {}",
        r.report.verdict.label()
    );
    for f in &log.input.files {
        let _ = writeln!(
            out,
            "  {}: {} entries ({} duplicates, {} without time, {} cut JSON, {} not entries)",
            clean(&f.path),
            f.entries,
            f.duplicates,
            f.without_time,
            f.cut_json,
            f.not_entries
        );
    }
    if let (Some(a), Some(b)) = (&log.first_entry_at, &log.last_entry_at) {
        let _ = writeln!(out, "  log from {a} to {b}");
    }
    let _ = writeln!(out, "\nCalls ({})", log.calls.len());
    for call in &log.calls {
        let who = call.contact_id.as_deref().unwrap_or("(no contact id)");
        let _ = writeln!(
            out,
            "  {} {} {} → {}  [{}]",
            call.status.label(),
            clean(who),
            call.started_at.as_deref().unwrap_or("?"),
            call.ended_at.as_deref().unwrap_or("?"),
            call.reason.code()
        );
        let _ = writeln!(out, "       {}", clean(&call.detail));
        let phases = phases_line(call);
        if !phases.is_empty() {
            let _ = writeln!(out, "       setup: {phases}");
        }
        if !call.failures.is_empty() {
            let _ = writeln!(out, "       failure flags: {}", call.failures.join(", "));
        }
        let _ = writeln!(
            out,
            "       agent heard (audio_input):     {}",
            audio_line(&call.audio_input)
        );
        let _ = writeln!(
            out,
            "       customer heard (audio_output): {}",
            audio_line(&call.audio_output)
        );
        if let Some(why) = &call.jitter_meaning_from {
            let _ = writeln!(out, "       jitter: {}", clean(why));
        }
        for w in &call.worst_seconds {
            let _ = writeln!(
                out,
                "       worst second {} {}: MOS {:.2}, loss {:.1} %, jitter {}, RTT {}{}",
                w.at,
                w.direction,
                w.mos,
                w.loss_pct,
                ms(w.jitter_ms),
                ms(w.rtt_ms),
                if w.problems.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", w.problems.join("; "))
                }
            );
        }
        if let Some(remedy) = &call.remedy {
            let _ = writeln!(out, "       fix: {}", clean(remedy));
        }
    }
    let _ = writeln!(
        out,
        "\nErrors in time order ({})",
        log.errors.len() as u64 + log.errors_omitted
    );
    for e in &log.errors {
        let latency = e
            .latency_ms
            .map(|l| format!(" after {l:.0} ms"))
            .unwrap_or_default();
        let repeats = if e.repeats > 1 {
            format!(" ×{}", e.repeats)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {} {} {}{latency}{repeats} [{}]: {}",
            e.at,
            e.status.label(),
            clean(&e.what),
            e.reason.code(),
            clean(&e.text)
        );
        let _ = writeln!(out, "       cause: {}", clean(&e.cause));
        let _ = writeln!(out, "       fix: {}", clean(&e.remedy));
    }
    if log.errors_omitted > 0 {
        let _ = writeln!(
            out,
            "  … and {} more (see the JSON report's counts)",
            log.errors_omitted
        );
    }
    let _ = writeln!(out, "\nOther findings");
    for c in r
        .report
        .checks
        .iter()
        .filter(|c| !c.id.starts_with("ccp-log/call/") && !c.id.starts_with("ccp-log/error/"))
    {
        let _ = writeln!(
            out,
            "  {} {} [{}]: {}",
            c.status.label(),
            c.id,
            c.reason.code(),
            clean(&c.detail)
        );
        if let Some(remedy) = &c.remedy {
            let _ = writeln!(out, "       fix: {}", clean(remedy));
        }
    }
    let ep = &log.endpoints;
    let _ = writeln!(out, "\nEndpoints in use");
    for (name, set) in [
        ("WebSocket transport", &ep.websocket),
        ("signalling", &ep.signalling),
        ("TURN", &ep.turn),
        ("instance", &ep.instance),
        ("streams version", &ep.streams_version),
        ("connect-rtc-js version", &ep.rtc_js_version),
        ("browser", &ep.browser),
        ("VDI platform", &ep.vdi_platform),
    ] {
        if !set.is_empty() {
            let _ = writeln!(
                out,
                "  {name}: {}",
                clean(&set.iter().cloned().collect::<Vec<_>>().join(", "))
            );
        }
    }
    if let Some(region) = &ep.region {
        let _ = writeln!(out, "  Region: {}", clean(region));
    }
    out
}

const W: f64 = 900.0;
const H: f64 = 160.0;
const PAD: f64 = 36.0;

/// One line of a chart: its name, its colour, and (second, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(u32, f64)>);

/// A line chart of one or two series over the call's seconds, inline SVG.
fn chart(label: &str, unit: &str, series: &[Series<'_>], limit: Option<f64>) -> Markup {
    let x_max = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut y_max = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().map(|p| p.1))
        .fold(limit.unwrap_or(0.0), f64::max);
    if y_max <= 0.0 {
        y_max = 1.0;
    }
    y_max *= 1.1;
    let x = |t: u32| PAD + (W - PAD - 8.0) * f64::from(t) / x_max;
    let y = |v: f64| H - 20.0 - (H - 30.0) * (v.min(y_max) / y_max);
    let mut paths = String::new();
    for (_, color, points) in series {
        let mut d = String::new();
        for (i, (t, v)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*t),
                y(*v)
            );
        }
        let _ = write!(
            paths,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
    }
    if let Some(l) = limit {
        let _ = write!(
            paths,
            r##"<line x1="{PAD}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#cf222e" stroke-dasharray="4 3"/>"##,
            W - 8.0,
            y(l),
            y(l)
        );
    }
    html! {
        figure {
            svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(label) {
                rect x=(PAD) y="10" width=(W - PAD - 8.0) height=(H - 30.0) fill="none" stroke="#d1d9e0" {}
                text x="2" y="18" font-size="11" { (format!("{:.0}", y_max)) }
                text x="2" y=(H - 20.0) font-size="11" { "0" }
                text x=(W - 60.0) y=(H - 4.0) font-size="11" { (format!("{x_max:.0} s")) }
                (PreEscaped(paths))
            }
            figcaption {
                (label) " (" (unit) ")"
                @for (name, color, _) in series {
                    " · " span style=(format!("color:{color}")) { "■ " (name) }
                }
                @if let Some(l) = limit { " · threshold " (format!("{l:.0}")) }
            }
        }
    }
}

fn call_charts(call: &Call, t: &crate::media::grade::Thresholds) -> Markup {
    let pick = |a: &Audio, f: fn(&super::model::Second) -> Option<f64>| -> Vec<(u32, f64)> {
        a.series
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t_s, v)))
            .collect()
    };
    let (i, o) = (&call.audio_input, &call.audio_output);
    let both = |f: fn(&super::model::Second) -> Option<f64>| {
        vec![
            ("agent heard", "#0969da", pick(i, f)),
            ("customer heard", "#8250df", pick(o, f)),
        ]
    };
    let jitter_graded = call.jitter_meaning == Some(JitterMeaning::JitterMs);
    html! {
        (chart("MOS per second", "1-4.5", &both(|s| Some(s.mos)), None))
        (chart("Packet loss per second", "%", &both(|s| Some(s.loss_pct)), Some(t.loss_fail_pct)))
        @if jitter_graded { (chart("Jitter per second", "ms", &both(|s| s.jitter_ms), Some(t.jitter_ms))) }
        (chart("Round-trip time", "ms", &[("RTT", "#1a7f37", pick(o, |s| s.rtt_ms))], Some(t.rtt_ms)))
    }
}

/// The HTML page: self-contained, no script, charts as inline SVG.
pub fn html(r: &CcpLogReport, t: &crate::media::grade::Thresholds) -> String {
    let log = &r.ccp_log;
    let class = match r.report.verdict {
        Verdict::Ready => "ready",
        Verdict::Degraded => "degraded",
        Verdict::NotReady => "not_ready",
        Verdict::Incomplete => "incomplete",
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { "CCP log — connect-preflight" }
                style { (PreEscaped(crate::report::html::CSS)) }
            }
            body { main {
                section class=(format!("verdict {class}")) {
                    h1 { (r.report.verdict.label()) }
                    p class="lead" { "What the agent's CCP log shows: " (log.calls.len()) " call(s), " (log.errors.len() as u64 + log.errors_omitted) " error(s)." }
                    p class="facts" {
                        @for f in &log.input.files { span { (clean(&f.path)) ": " (f.entries) " entries" } }
                        @if let (Some(a), Some(b)) = (&log.first_entry_at, &log.last_entry_at) { span { (a) " → " (b) } }
                    }
                }
                section {
                    h2 { "Calls" }
                    @if log.calls.is_empty() { p { "The log holds no softphone call." } }
                    @for call in &log.calls {
                        h3 {
                            span class=(format!("badge {}", call.status.label().to_ascii_lowercase())) { (call.status.label()) } " "
                            code { (clean(call.contact_id.as_deref().unwrap_or("(no contact id)"))) } " "
                            (call.started_at.as_deref().unwrap_or("?")) " → " (call.ended_at.as_deref().unwrap_or("?"))
                        }
                        p { (clean(&call.detail)) " " span class="reason" { (call.reason.code()) } }
                        @if let Some(remedy) = &call.remedy { p class="remedy" { strong { "Fix: " } (clean(remedy)) } }
                        @let phases = phases_line(call);
                        @if !phases.is_empty() { p { "Setup: " (phases) } }
                        @if !call.failures.is_empty() { p { "Failure flags: " (call.failures.join(", ")) } }
                        table class="evidence" {
                            tr { th { "agent heard (audio_input)" } td { (audio_line(&call.audio_input)) } }
                            tr { th { "customer heard (audio_output)" } td { (audio_line(&call.audio_output)) } }
                            @if let Some(why) = &call.jitter_meaning_from { tr { th { "jitter figure" } td { (clean(why)) } } }
                        }
                        @if !call.worst_seconds.is_empty() {
                            p { "Worst seconds:" }
                            ul { @for w in &call.worst_seconds {
                                li { (w.at) " " (w.direction) ": MOS " (format!("{:.2}", w.mos)) ", loss " (format!("{:.1}", w.loss_pct)) " %, jitter " (ms(w.jitter_ms)) ", RTT " (ms(w.rtt_ms)) }
                            } }
                        }
                        @if call.audio_input.seconds + call.audio_output.seconds > 0 { (call_charts(call, t)) }
                    }
                }
                section {
                    h2 { "Errors in time order" }
                    @if log.errors.is_empty() { p { "None." } } @else {
                        table class="checks" {
                            tr { th { "time" } th { "what" } th { "cause and fix" } }
                            @for e in &log.errors {
                                tr {
                                    td { (e.at) @if e.repeats > 1 { " ×" (e.repeats) } }
                                    td { span class=(format!("badge {}", e.status.label().to_ascii_lowercase())) { (e.status.label()) } " " code { (clean(&e.what)) } br; span class="reason" { (e.reason.code()) }
                                         @if let Some(l) = e.latency_ms { br; (format!("after {l:.0} ms")) } }
                                    td { (clean(&e.text)) br; (clean(&e.cause)) div class="remedy" { strong { "Fix: " } (clean(&e.remedy)) } }
                                }
                            }
                        }
                        @if log.errors_omitted > 0 { p { "… and " (log.errors_omitted) " more." } }
                    }
                }
                section {
                    h2 { "Other findings" }
                    table class="checks" {
                        @for c in r.report.checks.iter().filter(|c| !c.id.starts_with("ccp-log/call/") && !c.id.starts_with("ccp-log/error/")) {
                            tr {
                                td { span class=(format!("badge {}", c.status.label().to_ascii_lowercase())) { (c.status.label()) } }
                                td { code { (clean(&c.id)) } }
                                td { (clean(&c.detail)) @if let Some(remedy) = &c.remedy { div class="remedy" { strong { "Fix: " } (clean(remedy)) } } }
                            }
                        }
                    }
                }
            } }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_graded_like_the_live_check() {
        let clock = |ms: f64| super::super::model::Clock {
            snapshots: 3,
            skew_median_ms: ms,
            skew_min_ms: ms,
            skew_max_ms: ms,
        };
        assert_eq!(clock_check(&clock(354.0)).unwrap().status, Status::Pass);
        let behind = clock_check(&clock(42_000.0)).unwrap();
        assert_eq!(
            (behind.status, behind.reason),
            (Status::Warn, Reason::ClockSkew)
        );
        assert_eq!(behind.evidence["skew_s"], -42);
        assert!(behind.remedy.unwrap().contains("42 s behind"));
        assert_eq!(
            clock_check(&clock(-400_000.0)).unwrap().status,
            Status::Fail
        );
    }
}
