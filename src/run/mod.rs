//! The runner: the plan's hosts concurrently (a limit), each step under a per-probe timeout, the
//! whole run under one deadline, Ctrl-C giving a partial report. Progress goes to stderr.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::plan::{HostPlan, Plan, Step, SurveyTarget};
use crate::probe::http::{self, PathFailure, Proxy};
use crate::probe::{Context, dns, millis, tcp, tls, ws};
use crate::ranges::Snapshot;
use crate::remedy;
use crate::report::{Check, Kind, Proto, Reason, Status};
use crate::route;

mod media;
mod reached;
mod survey;

use media::{ice_servers_beyond_cap, run_media, unused_ice_server};
pub(crate) use reached::Reached;
use survey::{closest_region, survey_check, survey_one};

/// At most this many hosts are probed at once.
pub(crate) const CONCURRENCY: usize = 8;
/// How long after the deadline the runner waits for probes to report their own timeouts.
const DEADLINE_GRACE: Duration = Duration::from_millis(300);
/// The probes' deadline comes this long before the run's, so that the grace above, stopping the
/// runtime and writing the report fit within `--timeout`.
const REPORT_RESERVE: Duration = Duration::from_millis(400);
/// And this much more per check of the plan.
const REPORT_PER_CHECK: Duration = Duration::from_micros(15);
/// A step starts only with at least this much time left (or half the per-probe limit, when that
/// is shorter): one started with less could only be cut, and would measure nothing.
const MIN_STEP_TIME: Duration = Duration::from_millis(800);
/// The least time a relay gets to answer: a STUN Binding unanswered for a second is a path the
/// softphone cannot use, one cut shorter measured nothing.
const MIN_RELAY_TIME: Duration = Duration::from_secs(1);
/// A step that ended within this of its limit ran out of time.
const AT_LIMIT: Duration = Duration::from_millis(60);

/// The runner's limits and media settings, resolved once by `config`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Empty: the system's resolver configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// The whole run's deadline, and when it ends: fixed once, when the configuration is
    /// resolved, so that PAC fetching and evaluation, the catalog and the probes all spend the
    /// one `--timeout`.
    pub deadline: Duration,
    pub deadline_at: Instant,
    /// No probe takes longer than this.
    pub per_probe: Duration,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Media checks are selected (relays from an iceServers file are then tested too).
    pub media_selected: bool,
    /// The media test's sample length and quality thresholds; the run adds what the plan knows.
    pub media: crate::media::Options,
    /// TURN credentials for the authenticated media test, when given.
    pub turn: Option<crate::media::ice_servers::TurnAuth>,
}

/// What a run produced: the checks for the report, and beside them the facts later stages read
/// (never parsed back out of a check's evidence).
pub(crate) struct Outcome {
    /// In plan order.
    pub checks: Vec<Check>,
    pub snapshot: Arc<Snapshot>,
    pub elapsed: Duration,
    /// Why the run stopped: every probe done, the deadline, or Ctrl-C.
    pub stop: Stop,
    /// The addresses the checks resolved, tried or heard from, in report order.
    pub reached: Vec<Reached>,
}

/// One Region the survey timed: a working TLS session with its telemetry host in `connect_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SurveyTiming {
    pub region: String,
    pub region_name: String,
    /// The instance's own Region.
    pub home: bool,
    pub connect_ms: u64,
}

/// Finished checks by id, shared by the host tasks, so a stopped run keeps what it has.
#[derive(Clone)]
struct Sink {
    checks: Arc<Mutex<HashMap<String, Check>>>,
    /// The media test's checks, whose ids the media module decides.
    media: Arc<Mutex<Vec<Check>>>,
    clock: Arc<Mutex<Option<Check>>>,
    /// The survey's connect times by target id.
    survey: Arc<Mutex<HashMap<String, u64>>>,
    progress: ProgressBar,
}

impl Sink {
    fn push(&self, check: Check) {
        self.progress.inc(1);
        self.checks
            .lock()
            .expect("not poisoned")
            .insert(check.id.clone(), check);
    }

    /// A check beside the plan's steps: kept, not counted as progress.
    fn extra(&self, check: Check) {
        self.checks
            .lock()
            .expect("not poisoned")
            .insert(check.id.clone(), check);
    }

    fn clock(&self, check: Check) {
        let mut slot = self.clock.lock().expect("not poisoned");
        if slot.is_none() {
            *slot = Some(check);
        }
    }
}

fn progress_bar(total: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let template = if cfg!(windows) {
        "{spinner} checking {pos}/{len} {wide_msg}"
    } else {
        "{spinner:.cyan} checking {pos}/{len} {wide_msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        let style = if cfg!(windows) {
            style.tick_chars("-\\|/ ")
        } else {
            style
        };
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Every probe finished.
    Done,
    /// The run's deadline (`--timeout`) came first.
    Deadline,
    /// Ctrl-C.
    Interrupted,
}

/// Runs the plan. Builds its own runtime so that exit is bounded however probes end.
pub(crate) fn execute(
    plan: &Plan,
    settings: &Options,
    route: &route::Route,
    snapshot: Snapshot,
    ca_roots: Vec<CertificateDer<'static>>,
) -> Result<Outcome> {
    let started = Instant::now();
    let deadline_at = settings.deadline_at;
    let trust = tls::Trust::load(ca_roots)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(anyhow::anyhow!("starting the async runtime: {e}")))?;
    let snapshot = Arc::new(snapshot);
    let total = plan.check_count();
    let sink = Sink {
        checks: Arc::default(),
        media: Arc::default(),
        clock: Arc::default(),
        survey: Arc::default(),
        // The bar counts what is contacted; the untested requirements are never pushed.
        progress: progress_bar(total - plan.untested.len(), settings.progress),
    };
    let turn = settings.turn.clone().unwrap_or_default();
    // Relays given by --ice-servers are tested whatever the catalog names.
    let relays_given = !turn.relays.is_empty() && settings.media_selected;
    let mut extra_relays: Vec<crate::plan::MediaHost> = Vec::new();
    for (host, port) in &turn.relays {
        let known =
            |m: &crate::plan::MediaHost| m.host.eq_ignore_ascii_case(host) && m.port == *port;
        if !plan.media.iter().any(known) && !extra_relays.iter().any(known) {
            extra_relays.push(crate::plan::MediaHost {
                id: format!("media/{host}:{port}"),
                host: host.clone(),
                port: *port,
                allowlist: host.clone(),
            });
        }
    }
    let stop = runtime.block_on(async {
        // Writing the report takes longer the more checks it holds (a catalog of tens of
        // thousands of hosts): that time is kept aside too.
        let reserve = (REPORT_RESERVE
            + REPORT_PER_CHECK * u32::try_from(total).unwrap_or(u32::MAX))
        .min(settings.deadline / 2);
        let probes_end = deadline_at
            .checked_sub(reserve)
            .unwrap_or(deadline_at)
            .max(started);
        // A probe the deadline allows in full is not cut by it: its timeout is the peer's.
        let per_probe = settings
            .per_probe
            .min(probes_end.saturating_duration_since(Instant::now()));
        let ctx = Arc::new(Context {
            resolver: dns::Resolver::new(&settings.dns_servers, per_probe),
            snapshot: snapshot.clone(),
            tls: trust,
            per_probe,
            deadline: tokio::time::Instant::from_std(probes_end),
        });
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut set = JoinSet::new();
        for host in &plan.hosts {
            let ctx = ctx.clone();
            let limit = limit.clone();
            let sink = sink.clone();
            let host = host.clone();
            let proxy = route.proxy_for(&host.host).cloned();
            if let Some(route) = route.unsupported_route(&host.host) {
                let why = format!(
                    "the PAC script sends {} by {route}, a route this tool does not support",
                    host.host
                );
                for step in &host.steps {
                    sink.push(
                        not_run_for(&host, step, Reason::UnsupportedRoute, &why)
                            .evidence("via", route),
                    );
                }
                continue;
            }
            set.spawn(async move {
                let Ok(_permit) = limit.acquire().await else {
                    return;
                };
                sink.progress.set_message(host.host.clone());
                run_host(&ctx, &host, proxy.as_ref(), &sink).await;
            });
        }
        if !plan.media.is_empty() || relays_given {
            let ctx = ctx.clone();
            let sink = sink.clone();
            let mut hosts = plan.media.clone();
            hosts.extend(extra_relays.iter().cloned());
            let options = crate::media::Options {
                connect_ranges: plan.media_ranges.clone(),
                keyring: turn.keyring,
                call: true,
                ..settings.media.clone()
            };
            let unused = turn.unused;
            let beyond_cap = turn.beyond_cap;
            set.spawn(async move {
                run_media(&ctx, &hosts, options, &sink).await;
                let mut media = sink.media.lock().expect("not poisoned");
                media.extend(unused.iter().map(|url| unused_ice_server(url)));
                if beyond_cap > 0 {
                    media.push(ice_servers_beyond_cap(beyond_cap));
                }
            });
        }
        for target in &plan.survey {
            let ctx = ctx.clone();
            let limit = limit.clone();
            let sink = sink.clone();
            let target = target.clone();
            let proxy = route.proxy_for(&target.host).cloned();
            set.spawn(async move {
                let Ok(_permit) = limit.acquire().await else {
                    return;
                };
                sink.progress.set_message(target.host.clone());
                let started = Instant::now();
                if !can_start(&ctx) {
                    sink.push(survey_check(
                        &target,
                        Status::Info,
                        Reason::Deadline,
                        format!("not timed: {}", deadline_words()),
                    ));
                    return;
                }
                let (mut check, connect_ms) =
                    tokio::time::timeout(ctx.limit(), survey_one(&ctx, &target, proxy.as_ref()))
                        .await
                        .unwrap_or_else(|_| {
                            let check = survey_check(
                                &target,
                                Status::Info,
                                Reason::Timeout,
                                format!(
                                    "{} ({}) not timed: no connection within the time allowed",
                                    target.region, target.region_name
                                ),
                            );
                            (check, None)
                        });
                check.duration_ms = millis(started.elapsed());
                if let Some(ms) = connect_ms {
                    sink.survey
                        .lock()
                        .expect("not poisoned")
                        .insert(target.id.clone(), ms);
                }
                sink.push(check);
            });
        }
        let all = async {
            while let Some(joined) = set.join_next().await {
                // A panicking probe loses only its host's remaining checks, which are then
                // reported as not tested.
                let _ = joined;
            }
        };
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        // Probes stop themselves at the deadline; the grace lets them report it as a timeout.
        let deadline = ctx.deadline + DEADLINE_GRACE;
        let stop = tokio::select! {
            () = all => Stop::Done,
            () = tokio::time::sleep_until(deadline) => Stop::Deadline,
            () = ctrl_c => Stop::Interrupted,
        };
        set.abort_all();
        stop
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    sink.progress.finish_and_clear();

    let (why_reason, why_not) = match stop {
        Stop::Done => (Reason::NotTested, "the probe ended unexpectedly".to_owned()),
        Stop::Deadline => (Reason::Deadline, deadline_words()),
        Stop::Interrupted => (
            Reason::Interrupted,
            "the run was interrupted (Ctrl-C) first".to_owned(),
        ),
    };
    let mut done = std::mem::take(&mut *sink.checks.lock().expect("not poisoned"));
    let mut checks = Vec::with_capacity(total + 1);
    for host in &plan.hosts {
        for step in &host.steps {
            checks.push(
                done.remove(&step.id)
                    .unwrap_or_else(|| not_run_for(host, step, why_reason, &why_not)),
            );
            if step.kind == Kind::Tcp {
                // The direct path beside a proxy, when it was tried.
                checks.extend(done.remove(&format!("direct/{}:{}", host.host, host.port)));
            }
        }
    }
    for m in &plan.media {
        let found = std::mem::take(&mut *sink.media.lock().expect("not poisoned"));
        let (mine, rest): (Vec<Check>, Vec<Check>) = found
            .into_iter()
            .partition(|c| c.host.as_deref() == Some(m.host.as_str()));
        *sink.media.lock().expect("not poisoned") = rest;
        match done.remove(&m.id) {
            Some(check) => checks.push(check),
            None if mine.is_empty() => checks.push(
                Check::new(
                    m.id.clone(),
                    Kind::Turn,
                    Status::Skip,
                    why_reason,
                    format!("not tested: {why_not}"),
                )
                .host(m.host.clone())
                .endpoint(m.port, Proto::Udp)
                .allowlist(&m.allowlist),
            ),
            None => {}
        }
        checks.extend(mine);
    }
    // Relays beside the catalog's (an iceServers file) that gave no media checks of their own
    // (no address, or the deadline): kept whatever the catalog names.
    let mut extra: Vec<&str> = extra_relays.iter().map(|m| m.id.as_str()).collect();
    extra.sort_unstable();
    extra.dedup();
    checks.extend(extra.iter().filter_map(|id| done.remove(*id)));
    // Checks about the media path as a whole (the NAT mapping) come after the relays.
    checks.extend(std::mem::take(
        &mut *sink.media.lock().expect("not poisoned"),
    ));
    for u in &plan.untested {
        checks.push(
            Check::new(
                u.id.clone(),
                u.kind,
                Status::Skip,
                Reason::NotTested,
                format!("{} {}/{} not tested: {}", u.host, u.proto, u.port, u.why),
            )
            .host(u.host.clone())
            .endpoint(u.port, u.proto)
            .remedy(remedy::untestable(&u.allowlist))
            .allowlist(&u.allowlist)
            .evidence("purpose", &u.purpose),
        );
    }
    // The connect times of the survey checks that made it into the report.
    let mut timed = std::mem::take(&mut *sink.survey.lock().expect("not poisoned"));
    for target in &plan.survey {
        // The survey is information beside the verdict: one not timed does not hold it back.
        match done.remove(&target.id) {
            Some(check) => checks.push(check),
            None => {
                timed.remove(&target.id);
                checks.push(survey_check(
                    target,
                    Status::Info,
                    why_reason,
                    format!("not timed: {why_not}"),
                ));
            }
        }
    }
    let survey: Vec<SurveyTiming> = plan
        .survey
        .iter()
        .filter_map(|t| {
            Some(SurveyTiming {
                region: t.region.clone(),
                region_name: t.region_name.clone(),
                home: t.home,
                connect_ms: *timed.get(&t.id)?,
            })
        })
        .collect();
    if let Some(closest) = closest_region(&survey) {
        checks.push(closest);
    }
    if let Some(clock) = sink.clock.lock().expect("not poisoned").take() {
        checks.push(clock);
    }
    if let Some(cut) = cut_check(
        &checks,
        matches!(stop, Stop::Interrupted),
        settings.deadline,
    ) {
        // First, where it is seen: the run was cut, and this much was left untested.
        checks.insert(0, cut);
    }
    let reached = reached::gather(&checks, &snapshot);
    Ok(Outcome {
        checks,
        snapshot,
        reached,
        elapsed: started.elapsed(),
        stop,
    })
}

fn not_run(host: &HostPlan, step: &Step, why: &str) -> Check {
    not_run_for(host, step, Reason::NotTested, why)
}

/// A step not carried out, for `reason` (`deadline`, `interrupted`, `unsupported_route`…): no
/// remedy, since nothing was measured.
fn not_run_for(host: &HostPlan, step: &Step, reason: Reason, why: &str) -> Check {
    let mut check = Check::new(
        step.id.clone(),
        step.kind,
        Status::Skip,
        reason,
        format!("not tested: {why}"),
    )
    .host(host.host.clone())
    .allowlist(&host.allowlist);
    if step.kind != Kind::Dns {
        check = check.endpoint(host.port, host.proto);
    }
    check
}

/// How the steps after DNS reach the host.
enum Route<'a> {
    Direct(SocketAddr),
    Proxy(&'a Proxy),
    None(PathFailure),
}

impl Route<'_> {
    fn via(&self) -> String {
        match self {
            Self::Direct(addr) => format!("direct to {addr}"),
            Self::Proxy(p) => format!("through the proxy {p}"),
            Self::None(_) => "no path".to_owned(),
        }
    }

    async fn open(
        &self,
        ctx: &Context,
        host: &HostPlan,
        limit: Duration,
    ) -> std::result::Result<TcpStream, PathFailure> {
        match self {
            Self::Direct(addr) => tcp::connect(*addr, limit)
                .await
                .map_err(|f| PathFailure::Direct(*addr, f)),
            Self::Proxy(p) => http::tunnel(p, &ctx.tls, &host.host, host.port, limit).await,
            Self::None(f) => Err(f.clone()),
        }
    }
}

/// Runs `f`, timed, under the per-probe limit; a timeout becomes `on_timeout`.
async fn timed<F: std::future::Future<Output = Check>>(
    limit: Duration,
    f: F,
    on_timeout: impl FnOnce() -> Check,
) -> Check {
    let started = Instant::now();
    let mut check = tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| on_timeout());
    check.duration_ms = millis(started.elapsed());
    check
}

fn timeout_check(host: &HostPlan, step: &Step, limit: Duration) -> Check {
    let within = format!("within {:.1} s", limit.as_secs_f32());
    let (reason, detail, remedy) = match step.kind {
        Kind::Dns | Kind::Tcp => {
            let what = if step.kind == Kind::Dns {
                format!("resolving {}", host.host)
            } else {
                format!("connecting to {} on TCP {}", host.host, host.port)
            };
            (
                Reason::Timeout,
                format!("no answer {what} {within}"),
                remedy::tcp_timeout(&host.host, host.port, None, &host.allowlist),
            )
        }
        // The steps after TCP run on a connection that opened: what stopped is a later stage,
        // never a firewall dropping TCP.
        kind => {
            let stage = match kind {
                Kind::Tls => "the TLS handshake".to_owned(),
                Kind::Websocket => "the WebSocket upgrade's answer".to_owned(),
                // Never the query: a session's WebSocket URL carries a credential there.
                _ => format!(
                    "the HTTP answer to {}",
                    step.path
                        .as_deref()
                        .and_then(|p| p.split('?').next())
                        .unwrap_or("/")
                ),
            };
            (
                Reason::Stalled,
                format!("{stage} from {} did not complete {within}", host.host),
                remedy::stalled(&host.host, &stage, "its path", &host.allowlist),
            )
        }
    };
    let check = Check::new(step.id.clone(), step.kind, Status::Fail, reason, detail)
        .host(host.host.clone())
        .remedy(remedy)
        .allowlist(&host.allowlist);
    if step.kind == Kind::Dns {
        check
    } else {
        check.endpoint(host.port, host.proto)
    }
}

/// The run's deadline, in the words of a check it stopped.
fn deadline_words() -> String {
    "the run's deadline (--timeout) came first".to_owned()
}

/// Whether there is time left to start a step: one started with less could only be cut.
fn can_start(ctx: &Context) -> bool {
    let left = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    left >= MIN_STEP_TIME.min(ctx.per_probe / 2)
}

/// Whether the deadline, not the peer, ended a step: its limit was cut well short of the
/// per-probe limit and it ran to that limit without passing.
fn was_cut(ctx: &Context, limit: Duration, check: &Check) -> bool {
    // A step that had nearly all of the per-probe limit was judged by it, not cut.
    let margin = AT_LIMIT.max(ctx.per_probe / 10);
    check.status != Status::Pass
        && limit + margin < ctx.per_probe
        && Duration::from_millis(check.duration_ms) + AT_LIMIT >= limit
}

/// `steps` of `host`, none of them carried out because the deadline came.
fn cut_rest<'a>(host: &HostPlan, steps: impl IntoIterator<Item = &'a Step>, sink: &Sink) {
    for step in steps {
        sink.push(not_run_for(host, step, Reason::Deadline, &deadline_words()));
    }
}

/// The check that says, first in the report, that the run was cut and how much it left
/// untested; `None` when it ran to its end.
fn cut_check(checks: &[Check], interrupted: bool, deadline: Duration) -> Option<Check> {
    let counts = crate::report::untested(checks);
    let count = |r: Reason| {
        counts
            .iter()
            .find(|(reason, _)| *reason == r)
            .map_or(0, |(_, n)| *n)
    };
    let (cut, stopped) = (count(Reason::Deadline), count(Reason::Interrupted));
    let required = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Pass | Status::Warn | Status::Fail))
        .count()
        + cut
        + stopped;
    if interrupted {
        return Some(
            Check::new(
                "system/interrupted",
                Kind::System,
                Status::Info,
                Reason::Interrupted,
                format!(
                    "the run was interrupted (Ctrl-C): {} of {required} checks were not carried out",
                    cut + stopped
                ),
            )
            .evidence("not_tested", cut + stopped)
            .evidence("checks", required),
        );
    }
    (cut > 0).then(|| {
        Check::new(
            "system/deadline",
            Kind::System,
            Status::Info,
            Reason::Deadline,
            format!(
                "the run was cut by its deadline ({} s, --timeout): {cut} of {required} checks were not carried out; run again with a longer --timeout to test them",
                deadline.as_secs_f32()
            ),
        )
        .evidence("not_tested", cut)
        .evidence("checks", required)
    })
}

/// How long the direct path is tried when a proxy carries the host.
const DIRECT_TIME: Duration = Duration::from_secs(3);

/// What the direct path says beside the proxy's: information for the network team, never a
/// verdict on the browser's own path.
fn direct_check(
    host: &HostPlan,
    proxy: &Proxy,
    proxied: bool,
    resolved: bool,
    direct: Option<tcp::Outcome>,
) -> Check {
    let (name, port) = (&host.host, host.port);
    let check = |reason, detail: String| {
        Check::new(
            format!("direct/{name}:{port}"),
            Kind::Tcp,
            Status::Info,
            reason,
            detail,
        )
        .host(name.clone())
        .endpoint(port, Proto::Tcp)
    };
    let Some(outcome) = direct else {
        return if resolved {
            check(
                Reason::Timeout,
                format!(
                    "direct TCP {port} to {name} did not connect within {} s: {}",
                    DIRECT_TIME.as_secs(),
                    only_or_neither(proxied, name, proxy)
                ),
            )
            .evidence("direct", "timeout")
        } else {
            check(
                Reason::NotTested,
                format!(
                    "the direct path was not tried: {name} has no address here (the proxy {proxy} resolves it)"
                ),
            )
        };
    };
    match outcome.reachable {
        Some(addr) if proxied => check(
            Reason::Ok,
            format!(
                "direct TCP {port} to {addr} connects too: the proxy {proxy} is not {name}'s only way out"
            ),
        )
        .evidence("direct", "connects"),
        Some(addr) => check(
            Reason::Ok,
            format!(
                "direct TCP {port} to {addr} connects, but the proxy {proxy} does not carry {name}: the proxy blocks what the firewall allows"
            ),
        )
        .evidence("direct", "connects"),
        None => check(
            outcome.check.reason,
            format!(
                "direct TCP {port} to {name} fails ({}): {}",
                outcome.check.reason.code(),
                only_or_neither(proxied, name, proxy)
            ),
        )
        .evidence("direct", outcome.check.reason.code()),
    }
}

fn only_or_neither(proxied: bool, name: &str, proxy: &Proxy) -> String {
    if proxied {
        format!("{name} is reachable only via the proxy {proxy}")
    } else {
        format!("neither the proxy {proxy} nor the direct path reaches {name}")
    }
}

async fn run_host(ctx: &Context, host: &HostPlan, proxy: Option<&Proxy>, sink: &Sink) {
    // Each step gets the per-probe limit, cut short by the run's deadline.
    let limit = || ctx.limit();
    let step_of = |kind: Kind| host.steps.iter().find(|s| s.kind == kind);
    let connects = host.steps.iter().any(|s| s.kind != Kind::Dns);
    let after_dns = || host.steps.iter().filter(|s| s.kind != Kind::Dns);
    if !can_start(ctx) {
        cut_rest(host, host.steps.iter(), sink);
        return;
    }

    // DNS, when asked for or when a direct connection needs the addresses.
    let mut addresses: Vec<IpAddr> = Vec::new();
    let implicit_dns = Step {
        id: format!("dns/{}", host.host),
        kind: Kind::Dns,
        path: None,
    };
    let dns_step = step_of(Kind::Dns).or((connects && proxy.is_none()).then_some(&implicit_dns));
    if let Some(step) = dns_step {
        let started = Instant::now();
        let l = limit();
        let outcome =
            tokio::time::timeout(l, dns::resolve(&ctx.resolver, &ctx.snapshot, host)).await;
        let mut check = match outcome {
            Ok(o) => {
                addresses = o.addresses;
                o.check
            }
            Err(_) => timeout_check(host, step, l).remedy(remedy::dns_timeout(
                &host.host,
                &host.allowlist,
                &ctx.resolver.describe,
            )),
        };
        check.duration_ms = millis(started.elapsed());
        if was_cut(ctx, l, &check) {
            // The deadline, not the resolver, ended it: nothing after it is judged either.
            cut_rest(host, host.steps.iter(), sink);
            return;
        }
        if let Some(p) = proxy {
            if check.status == Status::Fail {
                // The browser asks the proxy, which resolves names itself.
                check.status = Status::Warn;
                check.detail = format!(
                    "{}; the browser reaches it through the proxy {p}, which resolves it itself",
                    check.detail
                );
            }
        }
        if step_of(Kind::Dns).is_some() {
            sink.push(check);
        }
    }
    if !connects {
        return;
    }
    // With no address and no proxy, nothing is started: the steps say why (no address).
    if (proxy.is_some() || !addresses.is_empty()) && !can_start(ctx) {
        cut_rest(host, after_dns(), sink);
        return;
    }

    // TCP: every address directly, or the CONNECT tunnel through the proxy.
    let route = if let Some(p) = proxy {
        let step = Step {
            id: format!("tcp/{}:{}", host.host, host.port),
            kind: Kind::Tcp,
            path: None,
        };
        let via = format!("through the proxy {p}");
        let mut failure = None;
        let l = limit();
        // The direct path is tried at the same time, so the report can tell "only via the
        // proxy" from "the proxy blocks what direct allows".
        let direct_limit = l.min(DIRECT_TIME);
        let direct = async {
            if addresses.is_empty() || step_of(Kind::Tcp).is_none() {
                return None;
            }
            let attempts = direct_limit.saturating_sub(direct_limit / 10);
            tokio::time::timeout(
                direct_limit,
                tcp::probe(&ctx.snapshot, host, &addresses, attempts),
            )
            .await
            .ok()
        };
        let tunnel = timed(
            l,
            async {
                match http::tunnel(p, &ctx.tls, &host.host, host.port, limit()).await {
                    Ok(_) => Check::new(
                        step.id.clone(),
                        Kind::Tcp,
                        Status::Pass,
                        Reason::Ok,
                        format!(
                            "the proxy {p} opens a tunnel to {}:{}",
                            host.host, host.port
                        ),
                    )
                    .host(host.host.clone())
                    .endpoint(host.port, Proto::Tcp)
                    .evidence("via", &via),
                    Err(f) => {
                        let check =
                            http::path_check(step.id.clone(), Kind::Tcp, host, &p.to_string(), &f);
                        failure = Some(f);
                        check
                    }
                }
            },
            || timeout_check(host, &step, l),
        );
        let (check, direct) = tokio::join!(tunnel, direct);
        if was_cut(ctx, l, &check) {
            cut_rest(host, after_dns(), sink);
            return;
        }
        if step_of(Kind::Tcp).is_some() {
            sink.extra(direct_check(
                host,
                p,
                check.status == Status::Pass,
                !addresses.is_empty(),
                direct,
            ));
        }
        let route = match failure {
            Some(f) => Route::None(f),
            None if check.status == Status::Pass => Route::Proxy(p),
            None => Route::None(PathFailure::ProxyBroken),
        };
        if step_of(Kind::Tcp).is_some() {
            sink.push(check);
        }
        route
    } else if addresses.is_empty() {
        if let Some(step) = step_of(Kind::Tcp) {
            sink.push(not_run(
                host,
                step,
                &format!("{} has no address", host.host),
            ));
        }
        Route::None(PathFailure::NoAddress)
    } else {
        let step = Step {
            id: format!("tcp/{}:{}", host.host, host.port),
            kind: Kind::Tcp,
            path: None,
        };
        let started = Instant::now();
        let l = limit();
        // The attempts stop a little before the step does, so that an address that connected
        // is reported even when another one (a black-holed IPv6) uses all the time allowed.
        let attempts = l.saturating_sub(l / 10);
        let outcome =
            tokio::time::timeout(l, tcp::probe(&ctx.snapshot, host, &addresses, attempts)).await;
        let (reachable, mut check) = match outcome {
            Ok(o) => (o.reachable, o.check),
            Err(_) => (None, timeout_check(host, &step, l)),
        };
        check.duration_ms = millis(started.elapsed());
        if reachable.is_none() && was_cut(ctx, l, &check) {
            cut_rest(host, after_dns(), sink);
            return;
        }
        if step_of(Kind::Tcp).is_some() {
            sink.push(check);
        }
        match reachable {
            Some(addr) => Route::Direct(addr),
            None => Route::None(PathFailure::NoAddress),
        }
    };
    let via = route.via();
    let later: Vec<&Step> = host
        .steps
        .iter()
        .filter(|s| !matches!(s.kind, Kind::Dns | Kind::Tcp))
        .collect();
    if let Route::None(failure) = &route {
        for step in later {
            sink.push(match failure {
                PathFailure::SocksAuth => not_run_for(
                    host,
                    step,
                    Reason::UnsupportedRoute,
                    "the SOCKS5 proxy asks for authentication, which this tool does not support",
                ),
                _ => not_run(host, step, "the TCP connection failed"),
            });
        }
        return;
    }

    // TLS: the handshake and the trust verdict.
    let step = Step {
        id: format!("tls/{}:{}", host.host, host.port),
        kind: Kind::Tls,
        path: None,
    };
    let mut tls_usable = false;
    let mut intercepted = false;
    if !can_start(ctx) {
        cut_rest(host, later.iter().copied(), sink);
        return;
    }
    let l = limit();
    let check = timed(
        l,
        async {
            match route.open(ctx, host, limit()).await {
                Ok(stream) => {
                    let result = tls::handshake(&ctx.tls, &host.host, stream, limit()).await;
                    if let Ok(h) = &result {
                        intercepted = h.verdict == tls::Verdict::Intercepted;
                        tls_usable =
                            matches!(h.verdict, tls::Verdict::Public | tls::Verdict::Intercepted);
                    }
                    tls::judge(host, &via, &result)
                }
                Err(f) => http::path_check(step.id.clone(), Kind::Tls, host, &via, &f),
            }
        },
        || timeout_check(host, &step, l),
    )
    .await;
    if !tls_usable && was_cut(ctx, l, &check) {
        cut_rest(host, later.iter().copied(), sink);
        return;
    }
    if step_of(Kind::Tls).is_some() {
        sink.push(check);
    }
    let later: Vec<&Step> = later.into_iter().filter(|s| s.kind != Kind::Tls).collect();
    if !tls_usable {
        for step in later {
            sink.push(not_run(host, step, "the TLS check failed"));
        }
        return;
    }

    // HTTPS and WebSocket, each on its own connection.
    for (i, step) in later.iter().copied().enumerate() {
        if !can_start(ctx) {
            cut_rest(host, later[i..].iter().copied(), sink);
            return;
        }
        let path = step.path.clone().unwrap_or_else(|| "/".to_owned());
        let l = limit();
        // The WebSocket's polite Close must end before the step does.
        let ends = tokio::time::Instant::now() + l;
        let check = timed(
            l,
            async {
                let stream = match route.open(ctx, host, limit()).await {
                    Ok(s) => s,
                    Err(f) => return http::path_check(step.id.clone(), step.kind, host, &via, &f),
                };
                let mut h = match tls::handshake(&ctx.tls, &host.host, stream, limit()).await {
                    Ok(h) => h,
                    Err(f) => {
                        let mut c = tls::judge(host, &via, &Err(f));
                        c.id = step.id.clone();
                        c.kind = step.kind;
                        return c;
                    }
                };
                if step.kind == Kind::Websocket {
                    let result = ws::upgrade(h.stream, &host.host, host.port, &path, ends).await;
                    ws::judge(host, &path, &via, intercepted, &result)
                } else {
                    let result =
                        http::request(&mut h.stream, &host.host, &path, "Connection: close\r\n")
                            .await;
                    if let Ok(head) = &result {
                        if let Some(date) = head.header("date") {
                            if let Some(clock) =
                                http::judge_clock(&host.host, date, time::OffsetDateTime::now_utc())
                            {
                                sink.clock(clock);
                            }
                        }
                    }
                    http::judge_https(host, &path, &via, &result)
                }
            },
            || timeout_check(host, step, l),
        )
        .await;
        sink.push(check);
    }
}

fn path_reason(failure: &PathFailure) -> Reason {
    match failure {
        PathFailure::NoAddress => Reason::NotTested,
        PathFailure::Direct(_, f) | PathFailure::ProxyUnreachable(f) => f.reason(),
        PathFailure::ProxyDenied(_) | PathFailure::ProxyBroken => Reason::ProxyDenied,
        PathFailure::ProxyStalled => Reason::Stalled,
        PathFailure::SocksAuth => Reason::UnsupportedRoute,
        PathFailure::SocksDenied(_) => Reason::ProxyDenied,
        PathFailure::ProxyTls => Reason::HandshakeFailed,
        PathFailure::ProxyUntrusted => Reason::UntrustedCertificate,
        PathFailure::ProxyAuth(_) => Reason::ProxyAuthRequired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the survey measured of `region`: nothing when `ms` is `None` (not timed).
    fn timed_region(region: &str, home: bool, ms: Option<u64>) -> Option<SurveyTiming> {
        Some(SurveyTiming {
            region: region.to_owned(),
            region_name: format!("Name of {region}"),
            home,
            connect_ms: ms?,
        })
    }

    #[test]
    fn the_closest_region_is_the_fastest_timed_one_and_the_home_region_is_compared() {
        let timed: Vec<SurveyTiming> = [
            timed_region("eu-central-1", true, Some(140)),
            timed_region("eu-west-2", false, Some(35)),
            timed_region("us-east-1", false, None),
            timed_region("ap-southeast-2", false, Some(290)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let closest = closest_region(&timed).unwrap();
        assert_eq!(closest.evidence["region"], "eu-west-2");
        assert_eq!(closest.evidence["regions_timed"], 3);
        assert!(
            closest.detail.contains("Name of eu-west-2), 35 ms")
                && closest.detail.contains("eu-central-1 takes 140 ms"),
            "{}",
            closest.detail
        );
        let none: Vec<SurveyTiming> = timed_region("us-east-1", false, None).into_iter().collect();
        assert!(closest_region(&none).is_none());
    }
}
