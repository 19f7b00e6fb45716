//! Many reports → one fleet view: which problems hit how many machines at which sites, the media
//! figures of each site, and one change list for the network team.
//!
//! Reports are read one at a time and folded into a [`Fleet`] whose size depends on the number of
//! distinct problems, sites and fix entries, never on the number of reports: percentiles come from
//! fixed logarithmic histograms (within 1%), not from kept samples. A file that is not a
//! `connect-preflight/report/v1` report is skipped with a reason, never an abort.
//!
//! The renderers ([`text`], [`json`], [`csv`], [`html`]) are pure functions of a [`Summary`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use maud::{DOCTYPE, PreEscaped, html as markup};
use serde::{Deserialize, Serialize};

use crate::report::{CidrFix, Kind, Report, SCHEMA as REPORT_SCHEMA, Status, Tool, Verdict};
use crate::sanitize::for_terminal;

/// The forms `summarize` prints (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Html,
    Csv,
    Json,
}

/// The `schema` field of the JSON summary.
pub(crate) const SCHEMA: &str = "connect-preflight/summary/v1";

/// A report larger than this is not one the tool wrote; it is skipped unread.
pub(crate) const MAX_REPORT_BYTES: u64 = 64 << 20;

/// The site of a report without `target.site`: the name of the folder holding it.
fn site_of(report: &Report, path: &Path) -> String {
    report
        .target
        .site
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            path.parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "(no site)".to_owned())
}

/// Percentiles of a stream of non-negative figures in bounded memory: counts in buckets 1% wide
/// on a logarithmic scale of `1 + value`, plus the exact extremes. The first [`EXACT`] figures are
/// also kept, so a small site's percentiles are exact.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    exact: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
    min: f64,
    max: f64,
}

/// How many figures a histogram keeps exactly.
pub(crate) const EXACT: usize = 1024;
/// The width of a bucket: ln(1.01).
const LN_STEP: f64 = 0.009_950_330_853_168_083;
/// Figures above this (a day in ms, or far past any percentage) land in the last bucket.
const MAX_FIGURE: f64 = 86_400_000.0;

impl Histogram {
    pub(crate) fn add(&mut self, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let value = value.min(MAX_FIGURE);
        // Truncation is the bucketing; the value is finite, non-negative and bounded.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = (value.ln_1p() / LN_STEP) as usize;
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += 1;
        if self.n < EXACT as u64 {
            self.exact.push(value);
        } else if !self.exact.is_empty() {
            self.exact = Vec::new();
        }
        if self.n == 0 || value < self.min {
            self.min = value;
        }
        if self.n == 0 || value > self.max {
            self.max = value;
        }
        self.n += 1;
    }

    #[cfg(test)]
    pub(crate) const fn count(&self) -> u64 {
        self.n
    }

    /// The nearest-rank percentile `p` (0–100), within 1% of the true value; `None` when empty.
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((p / 100.0 * self.n as f64).ceil() as u64).clamp(1, self.n);
        if self.exact.len() as u64 == self.n {
            let mut sorted = self.exact.clone();
            sorted.sort_by(f64::total_cmp);
            #[allow(clippy::cast_possible_truncation)]
            return sorted.get(rank as usize - 1).copied();
        }
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                #[allow(clippy::cast_precision_loss)]
                let middle = ((index as f64 + 0.5) * LN_STEP).exp_m1();
                return Some(middle.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    fn figures(&self) -> Option<Figures> {
        Some(Figures {
            samples: self.n,
            p50: round1(self.percentile(50.0)?),
            p95: round1(self.percentile(95.0)?),
            min: round1(self.min),
            max: round1(self.max),
        })
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Counts of reports by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Verdicts {
    pub ready: u64,
    pub degraded: u64,
    /// Reports where something required was not carried out (and nothing failed).
    #[serde(default)]
    pub incomplete: u64,
    pub not_ready: u64,
}

impl Verdicts {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Ready => self.ready += 1,
            Verdict::Degraded => self.degraded += 1,
            Verdict::Incomplete => self.incomplete += 1,
            Verdict::NotReady => self.not_ready += 1,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct SiteAcc {
    reports: u64,
    verdicts: Verdicts,
    rtt_ms: Histogram,
    jitter_ms: Histogram,
    loss_pct: Histogram,
}

#[derive(Clone, Debug)]
struct ProblemAcc {
    kind: Kind,
    worst: Status,
    machines: u64,
    sites: BTreeMap<String, u64>,
}

/// The id a problem is counted under: a `ccp-log` report numbers its calls, and a fleet counts
/// the machines whose calls had the problem, whichever call it was.
fn problem_id(id: &str) -> String {
    if id.starts_with("ccp-log/call/") {
        "ccp-log/call".to_owned()
    } else {
        id.to_owned()
    }
}

/// The running fold of the reports read so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fleet {
    reports: u64,
    skipped: u64,
    verdicts: Verdicts,
    sites: BTreeMap<String, SiteAcc>,
    problems: BTreeMap<(String, String), ProblemAcc>,
    domains: BTreeSet<String>,
    cidrs: BTreeSet<CidrFix>,
}

impl Fleet {
    /// Folds one report in; `site` is where the machine is.
    pub(crate) fn add(&mut self, report: &Report, site: &str) {
        self.reports += 1;
        self.verdicts.add(report.verdict);
        let acc = self.sites.entry(site.to_owned()).or_default();
        acc.reports += 1;
        acc.verdicts.add(report.verdict);
        // A machine counts once per problem, however many checks report it.
        let mut seen = BTreeSet::new();
        for check in &report.checks {
            if check.kind == Kind::Media {
                let figure =
                    |key: &str| check.evidence.get(key).and_then(serde_json::Value::as_f64);
                if let Some(v) = figure("rtt_ms") {
                    acc.rtt_ms.add(v);
                }
                if let Some(v) = figure("jitter_ms") {
                    acc.jitter_ms.add(v);
                }
                if let Some(v) = figure("loss_pct") {
                    acc.loss_pct.add(v);
                }
            }
            if !matches!(check.status, Status::Fail | Status::Warn) {
                continue;
            }
            let key = (problem_id(&check.id), check.reason.code().to_owned());
            if !seen.insert(key.clone()) {
                continue;
            }
            let problem = self.problems.entry(key).or_insert_with(|| ProblemAcc {
                kind: check.kind,
                worst: check.status,
                machines: 0,
                sites: BTreeMap::new(),
            });
            problem.worst = problem.worst.max(check.status);
            problem.machines += 1;
            *problem.sites.entry(site.to_owned()).or_default() += 1;
        }
        self.domains.extend(report.fixes.domains.iter().cloned());
        self.cidrs.extend(report.fixes.cidrs.iter().cloned());
    }

    /// Counts a file that was not a report.
    pub(crate) const fn skip(&mut self) {
        self.skipped += 1;
    }

    pub(crate) const fn reports(&self) -> u64 {
        self.reports
    }

    pub(crate) fn finish(self) -> Summary {
        let mut problems: Vec<Problem> = self
            .problems
            .into_iter()
            .map(|((check_id, reason), acc)| {
                let mut sites: Vec<SiteCount> = acc
                    .sites
                    .into_iter()
                    .map(|(site, machines)| SiteCount { site, machines })
                    .collect();
                sites.sort_by(|a, b| b.machines.cmp(&a.machines).then(a.site.cmp(&b.site)));
                Problem {
                    check_id,
                    kind: acc.kind,
                    reason,
                    status: acc.worst,
                    machines: acc.machines,
                    sites,
                }
            })
            .collect();
        problems.sort_by(|a, b| {
            b.machines
                .cmp(&a.machines)
                .then(b.status.cmp(&a.status))
                .then(a.check_id.cmp(&b.check_id))
                .then(a.reason.cmp(&b.reason))
        });
        Summary {
            schema: SCHEMA.to_owned(),
            tool: Tool::default(),
            reports: self.reports,
            skipped_files: self.skipped,
            verdicts: self.verdicts,
            change_list: ChangeList {
                domains: self.domains.into_iter().collect(),
                cidrs: self.cidrs.into_iter().collect(),
            },
            problems,
            sites: self
                .sites
                .into_iter()
                .map(|(site, acc)| Site {
                    site,
                    reports: acc.reports,
                    verdicts: acc.verdicts,
                    rtt_ms: acc.rtt_ms.figures(),
                    jitter_ms: acc.jitter_ms.figures(),
                    loss_pct: acc.loss_pct.figures(),
                })
                .collect(),
        }
    }
}

/// The fleet view: what the renderers show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub schema: String,
    /// The tool that summarised (each report names the one that wrote it).
    pub tool: Tool,
    pub reports: u64,
    pub skipped_files: u64,
    pub verdicts: Verdicts,
    /// The union of every report's missing allow-list entries: one change for the network team.
    pub change_list: ChangeList,
    /// Checks that failed or warned, by check id and reason, most machines first.
    pub problems: Vec<Problem>,
    pub sites: Vec<Site>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChangeList {
    pub domains: Vec<String>,
    pub cidrs: Vec<CidrFix>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Problem {
    pub check_id: String,
    pub kind: Kind,
    pub reason: String,
    /// The worst status seen for it.
    pub status: Status,
    pub machines: u64,
    pub sites: Vec<SiteCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SiteCount {
    pub site: String,
    pub machines: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Site {
    pub site: String,
    pub reports: u64,
    pub verdicts: Verdicts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<Figures>,
}

/// Percentiles of one media figure at one site, from `samples` media checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Figures {
    pub samples: u64,
    pub p50: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

/// Why a file was not counted.
#[derive(Debug)]
pub(crate) enum Skipped {
    Unreadable(std::io::Error),
    TooLarge(u64),
    Malformed(String),
    Foreign(String),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "cannot be read: {e}"),
            Self::TooLarge(bytes) => write!(
                f,
                "is {bytes} bytes, larger than any report ({MAX_REPORT_BYTES} bytes at most)"
            ),
            Self::Malformed(why) => write!(f, "is not a valid report: {why}"),
            Self::Foreign(schema) => write!(
                f,
                "is not a {REPORT_SCHEMA} report (its schema is {})",
                for_terminal(schema, 100)
            ),
        }
    }
}

/// Only the `schema` field, to tell a foreign file from a broken report.
#[derive(Deserialize)]
struct Head {
    schema: Option<serde_json::Value>,
}

/// Reads one report file.
pub(crate) fn read_report(path: &Path) -> Result<Report, Skipped> {
    let size = std::fs::metadata(path).map_err(Skipped::Unreadable)?.len();
    if size > MAX_REPORT_BYTES {
        return Err(Skipped::TooLarge(size));
    }
    // Through the one bounded reader: a FIFO or device among the reports is skipped, not read.
    let bytes = crate::input::read_bytes(path, MAX_REPORT_BYTES, "a report").map_err(|e| {
        Skipped::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            e.to_string(),
        ))
    })?;
    match serde_json::from_slice::<Report>(&bytes) {
        Ok(report) if report.schema == REPORT_SCHEMA => Ok(report),
        Ok(report) => Err(Skipped::Foreign(report.schema)),
        Err(error) => match serde_json::from_slice::<Head>(&bytes) {
            Ok(Head {
                schema: Some(serde_json::Value::String(schema)),
            }) if schema != REPORT_SCHEMA => Err(Skipped::Foreign(schema)),
            Ok(Head { schema: None }) => Err(Skipped::Foreign("absent".to_owned())),
            _ => Err(Skipped::Malformed(error.to_string())),
        },
    }
}

/// What the walk found: a file to read, or a path it could not read.
#[derive(Debug)]
pub(crate) enum Found<'a> {
    File(&'a Path),
    Unreadable(&'a Path, std::io::Error),
}

/// Calls `visit` with every report file under `paths`: a file given by name whatever its
/// extension, and every `*.json` below a folder (symbolic links to folders are not followed, so a
/// loop cannot trap the walk). Folders are read as they are walked, not listed up front.
pub(crate) fn walk(paths: &[PathBuf], visit: &mut dyn FnMut(Found<'_>)) {
    for root in paths {
        match std::fs::metadata(root) {
            Err(e) => visit(Found::Unreadable(root, e)),
            Ok(meta) if !meta.is_dir() => visit(Found::File(root)),
            Ok(_) => {
                let mut folders = vec![root.clone()];
                while let Some(folder) = folders.pop() {
                    let entries = match std::fs::read_dir(&folder) {
                        Ok(entries) => entries,
                        Err(e) => {
                            visit(Found::Unreadable(&folder, e));
                            continue;
                        }
                    };
                    for entry in entries {
                        let entry = match entry {
                            Ok(entry) => entry,
                            Err(e) => {
                                visit(Found::Unreadable(&folder, e));
                                continue;
                            }
                        };
                        let path = entry.path();
                        let Ok(kind) = entry.file_type() else {
                            continue;
                        };
                        if kind.is_dir() {
                            folders.push(path);
                        } else if path
                            .extension()
                            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                            && path.is_file()
                        {
                            visit(Found::File(&path));
                        }
                    }
                }
            }
        }
    }
}

/// Reads every report under `paths` into one fleet; `warn` hears of each file skipped.
pub(crate) fn summarize(paths: &[PathBuf], warn: &mut dyn FnMut(String)) -> Fleet {
    let mut fleet = Fleet::default();
    walk(paths, &mut |item| match item {
        Found::File(path) => match read_report(path) {
            Ok(report) => fleet.add(&report, &site_of(&report, path)),
            Err(why) => {
                fleet.skip();
                warn(format!("skipped {}: {why}", path.display()));
            }
        },
        Found::Unreadable(path, e) => {
            fleet.skip();
            warn(format!("skipped {}: cannot be read: {e}", path.display()));
        }
    });
    fleet
}

const MAX_FIELD: usize = 300;

fn clean(text: &str) -> String {
    for_terminal(text, MAX_FIELD)
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn figures_text(f: Option<&Figures>) -> String {
    f.map_or_else(
        || "-".to_owned(),
        |f| format!("{:.1} / {:.1}", f.p50, f.p95),
    )
}

fn sites_text(sites: &[SiteCount]) -> String {
    sites
        .iter()
        .map(|s| format!("{} ({})", clean(&s.site), s.machines))
        .collect::<Vec<_>>()
        .join(", ")
}

/// For people: totals, the change list, the problems, and the sites.
pub(crate) fn text(summary: &Summary) -> String {
    let mut out = String::new();
    let v = &summary.verdicts;
    let _ = writeln!(
        out,
        "Fleet summary: {} from {} ({} skipped)",
        plural(summary.reports, "report"),
        plural(summary.sites.len() as u64, "site"),
        plural(summary.skipped_files, "file")
    );
    let _ = writeln!(
        out,
        "Verdicts: {} ready, {} degraded, {} incomplete, {} not ready",
        v.ready, v.degraded, v.incomplete, v.not_ready
    );
    let changes = &summary.change_list;
    out.push_str("\nChange list for the network team (every report's missing entries)\n");
    if changes.domains.is_empty() && changes.cidrs.is_empty() {
        out.push_str("  nothing to add\n");
    }
    if !changes.domains.is_empty() {
        out.push_str("  Add to the domain allow-list:\n");
        for domain in &changes.domains {
            let _ = writeln!(out, "    {}", clean(domain));
        }
    }
    if !changes.cidrs.is_empty() {
        out.push_str("  Allow outbound to these address ranges:\n");
        for fix in &changes.cidrs {
            let _ = writeln!(
                out,
                "    {:<20} {}/{}",
                clean(&fix.cidr),
                fix.proto,
                clean(&fix.port)
            );
        }
    }
    out.push_str("\nProblems (checks that failed or warned), most machines first\n");
    if summary.problems.is_empty() {
        out.push_str("  none\n");
    }
    for p in &summary.problems {
        let _ = writeln!(
            out,
            "  {:>6} {:<4} {:<22} {}\n         at {}",
            p.machines,
            p.status.label(),
            clean(&p.reason),
            clean(&p.check_id),
            sites_text(&p.sites)
        );
    }
    out.push_str("\nSites (media figures p50 / p95)\n");
    let _ = writeln!(
        out,
        "  {:<24} {:>7} {:>6} {:>8} {:>9}  {:<15} {:<15} loss %",
        "site", "reports", "ready", "degraded", "not ready", "RTT ms", "jitter ms"
    );
    for s in &summary.sites {
        let line = format!(
            "  {:<24} {:>7} {:>6} {:>8} {:>9}  {:<15} {:<15} {:<15}",
            clean(&s.site),
            s.reports,
            s.verdicts.ready,
            s.verdicts.degraded,
            s.verdicts.not_ready,
            figures_text(s.rtt_ms.as_ref()),
            figures_text(s.jitter_ms.as_ref()),
            figures_text(s.loss_pct.as_ref())
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The `connect-preflight/summary/v1` JSON, pretty-printed, ending in a newline.
pub(crate) fn json(summary: &Summary) -> String {
    let mut out = serde_json::to_string_pretty(summary).expect("a summary always serialises");
    out.push('\n');
    out
}

/// One row per problem and site, for a spreadsheet's pivot table.
pub(crate) fn csv(summary: &Summary) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![[
        "check_id".to_owned(),
        "kind".to_owned(),
        "reason".to_owned(),
        "status".to_owned(),
        "site".to_owned(),
        "machines".to_owned(),
    ]];
    for p in &summary.problems {
        for s in &p.sites {
            rows.push([
                clean(&p.check_id),
                p.kind.as_str().to_owned(),
                clean(&p.reason),
                p.status.label().to_ascii_lowercase(),
                clean(&s.site),
                s.machines.to_string(),
            ]);
        }
    }
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&row);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
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

/// A self-contained page with the same content as [`text`].
pub(crate) fn html(summary: &Summary) -> String {
    let v = &summary.verdicts;
    let changes = &summary.change_list;
    let domains = changes
        .domains
        .iter()
        .map(|d| clean(d))
        .collect::<Vec<_>>()
        .join("\n");
    let cidrs = changes
        .cidrs
        .iter()
        .map(|f| format!("{:<20} {}/{}", clean(&f.cidr), f.proto, clean(&f.port)))
        .collect::<Vec<_>>()
        .join("\n");
    let page = markup! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'";
                title { "connect-preflight fleet summary" }
                style { (PreEscaped(crate::report::html::CSS)) }
            }
            body {
                main {
                    section.verdict.(if v.not_ready > 0 { "not_ready" } else if v.degraded > 0 { "degraded" } else { "ready" }) {
                        h1 { "Fleet summary" }
                        p.lead { (plural(summary.reports, "report")) " from " (plural(summary.sites.len() as u64, "site")) }
                        p { (v.ready) " ready · " (v.degraded) " degraded · " (v.not_ready) " not ready · " (plural(summary.skipped_files, "file")) " skipped" }
                    }
                    section.fixes {
                        h2 { "Change list for the network team" }
                        @if changes.domains.is_empty() && changes.cidrs.is_empty() { p { "Nothing to add." } }
                        @if !changes.domains.is_empty() {
                            p { "Add these domains to the allow-list of the proxy or web filter:" }
                            pre { (domains) }
                        }
                        @if !changes.cidrs.is_empty() {
                            p { "Allow outbound traffic from agent workstations to these address ranges (protocol/port):" }
                            pre { (cidrs) }
                        }
                    }
                    section {
                        h2 { "Problems" }
                        @if summary.problems.is_empty() { p { "No check failed or warned." } }
                        @else {
                            table {
                                thead { tr { th { "Machines" } th { "Status" } th { "Check" } th { "Reason" } th { "Sites" } } }
                                tbody {
                                    @for p in &summary.problems {
                                        tr {
                                            td { (p.machines) }
                                            td { span.badge.(status_class(p.status)) { (p.status.label()) } }
                                            td { b { (p.kind.as_str()) } " " (clean(&p.check_id)) }
                                            td { code { (clean(&p.reason)) } }
                                            td { (sites_text(&p.sites)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section {
                        h2 { "Sites" }
                        p.facts { "Media figures are the median and 95th percentile (p50 / p95) of the sites' media checks." }
                        table {
                            thead { tr { th { "Site" } th { "Reports" } th { "Ready" } th { "Degraded" } th { "Not ready" } th { "RTT ms" } th { "Jitter ms" } th { "Loss %" } } }
                            tbody {
                                @for s in &summary.sites {
                                    tr {
                                        td { (clean(&s.site)) }
                                        td { (s.reports) }
                                        td { (s.verdicts.ready) }
                                        td { (s.verdicts.degraded) }
                                        td { (s.verdicts.not_ready) }
                                        td { (figures_text(s.rtt_ms.as_ref())) }
                                        td { (figures_text(s.jitter_ms.as_ref())) }
                                        td { (figures_text(s.loss_pct.as_ref())) }
                                    }
                                }
                            }
                        }
                    }
                }
                footer { p { (clean(&summary.tool.name)) " " (clean(&summary.tool.version)) " · summary schema " code { (clean(&summary.schema)) } } }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, Fixes, Proto, Reason, Target};

    fn machine(site: Option<&str>, status: Status, rtt: f64) -> Report {
        let mut checks = vec![
            Check::new("dns/a", Kind::Dns, Status::Pass, Reason::Ok, "fine"),
            Check::new("media/t", Kind::Media, Status::Pass, Reason::Ok, "fine")
                .evidence("rtt_ms", rtt)
                .evidence("jitter_ms", rtt / 10.0)
                .evidence("loss_pct", 0.5),
        ];
        if status != Status::Pass {
            let reason = if status == Status::Fail {
                Reason::Intercepted
            } else {
                Reason::SnapshotStale
            };
            // Twice: a machine still counts once.
            for _ in 0..2 {
                checks.push(Check::new("tls/a", Kind::Tls, status, reason, "bad"));
            }
        }
        let mut report = Report::new(
            "check",
            Target {
                site: site.map(str::to_owned),
                ..Target::default()
            },
            "2026-11-24T00:00:00Z".into(),
            checks,
        );
        if status == Status::Fail {
            report.fixes = Fixes {
                domains: vec!["b.example".into(), "a.example".into()],
                cidrs: vec![CidrFix {
                    cidr: "15.193.0.0/19".into(),
                    proto: Proto::Udp,
                    port: "3478".into(),
                }],
                notes: vec![],
            };
        }
        report
    }

    #[test]
    fn problems_count_machines_per_site_and_fixes_are_a_union() {
        let mut fleet = Fleet::default();
        for i in 0..10 {
            let status = if i < 3 { Status::Fail } else { Status::Pass };
            fleet.add(&machine(Some("Leeds"), status, 40.0), "Leeds");
        }
        fleet.add(&machine(None, Status::Fail, 90.0), "york");
        fleet.add(&machine(None, Status::Warn, 90.0), "york");
        let summary = fleet.finish();
        assert_eq!(summary.reports, 12);
        assert_eq!(
            summary.verdicts,
            Verdicts {
                ready: 7,
                degraded: 1,
                incomplete: 0,
                not_ready: 4
            }
        );
        assert_eq!(summary.problems.len(), 2);
        let intercepted = &summary.problems[0];
        assert_eq!(
            (intercepted.check_id.as_str(), intercepted.reason.as_str()),
            ("tls/a", "intercepted")
        );
        assert_eq!(intercepted.machines, 4);
        assert_eq!(
            intercepted.sites,
            [
                SiteCount {
                    site: "Leeds".into(),
                    machines: 3
                },
                SiteCount {
                    site: "york".into(),
                    machines: 1
                }
            ]
        );
        assert_eq!(summary.problems[1].status, Status::Warn);
        assert_eq!(summary.change_list.domains, ["a.example", "b.example"]);
        assert_eq!(summary.change_list.cidrs.len(), 1);
        let leeds = &summary.sites[0];
        assert_eq!((leeds.site.as_str(), leeds.reports), ("Leeds", 10));
        assert_eq!(leeds.rtt_ms.unwrap().p50, 40.0);
        assert_eq!(leeds.jitter_ms.unwrap().p95, 4.0);
    }

    #[test]
    fn percentiles_are_within_one_percent_in_fixed_memory() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for i in 1..=10_000 {
            h.add(f64::from(i) / 10.0);
        }
        let p50 = h.percentile(50.0).unwrap();
        let p95 = h.percentile(95.0).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 < 0.01, "{p50}");
        assert!((p95 - 950.0).abs() / 950.0 < 0.01, "{p95}");
        assert_eq!(h.percentile(100.0), Some(1000.0));
        assert_eq!(h.percentile(0.0), Some(0.1));
        assert!(
            h.exact.is_empty(),
            "past {EXACT} figures, only the histogram"
        );
        let buckets = h.counts.len();
        for _ in 0..100_000 {
            h.add(500.0);
        }
        assert_eq!(h.counts.len(), buckets, "more figures, no more memory");
        // Nonsense is ignored, not counted.
        h.add(f64::NAN);
        h.add(-1.0);
        assert_eq!(h.count(), 110_000);
        h.add(1e300);
        assert!(h.counts.len() < 2_000);
    }

    #[test]
    fn small_samples_are_exact() {
        let mut h = Histogram::default();
        for v in [45.0, 40.0, 41.0, 42.0, 43.0, 44.0] {
            h.add(v);
        }
        assert_eq!(h.percentile(50.0), Some(42.0));
        assert_eq!(h.percentile(95.0), Some(45.0));
    }

    #[test]
    fn the_site_is_the_profile_s_or_the_folder_s() {
        let report = machine(Some("Leeds"), Status::Pass, 1.0);
        assert_eq!(site_of(&report, Path::new("x/york/a.json")), "Leeds");
        let report = machine(None, Status::Pass, 1.0);
        assert_eq!(site_of(&report, Path::new("x/york/a.json")), "york");
        assert_eq!(site_of(&report, Path::new("a.json")), "(no site)");
    }

    #[test]
    fn renderers_escape_and_agree() {
        let mut fleet = Fleet::default();
        let mut evil = machine(None, Status::Fail, 10.0);
        evil.checks[2].id = "<script>alert(1)</script>\u{1b}[2J".into();
        fleet.add(&evil, "<b>site</b>\u{202e}");
        let summary = fleet.finish();
        let page = html(&summary);
        assert!(!page.contains("<script") && !page.contains("<b>site"));
        assert!(page.contains("&lt;b&gt;site&lt;/b&gt;\\u{202e}"));
        let text = text(&summary);
        assert!(!text.contains('\u{1b}') && text.contains("\\u{1b}[2J"));
        let csv = csv(&summary);
        // The renamed check and its untouched twin are two problems at one site.
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.starts_with("check_id,kind,reason,status,site,machines\n"));
        let back: Summary = serde_json::from_str(&json(&summary)).unwrap();
        assert_eq!(back, summary);
    }
}
