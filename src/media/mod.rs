//! The softphone's media path. Connect's softphone sends audio only through the Region's TURN
//! relays on UDP 3478 (relay-only ICE, no TCP fallback), so that path decides whether agents can
//! take calls. For each relay: a STUN Binding (the public address and whether NAT is in the path),
//! an unauthenticated TURN Allocate (a 401 challenge proves UDP works both ways), and a train of
//! Bindings every 20 ms that measures round-trip time, jitter and loss.

pub(crate) mod auth;
#[cfg(feature = "webrtc-call")]
pub mod call;
pub(crate) mod family;
pub mod grade;
pub(crate) mod ice_servers;
pub mod message;
pub mod relay;
pub(crate) mod softphone;
pub(crate) mod stats;
pub(crate) mod transaction;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::remedy;
use crate::report::facts::{Contact, RelayStep, RelayTarget};
use crate::report::{Check, Kind, Proto, Reason, Status};
use grade::Thresholds;
use message::{Reply, Request};
use relay::{Exchange, Probe, Target, Train};

/// The softphone gives ICE 8 seconds to gather relay candidates; a relay slower than that fails
/// in the CCP too.
pub const ICE_BUDGET: Duration = Duration::from_secs(8);

/// The softphone's packet time.
pub const PACKET_INTERVAL: Duration = Duration::from_millis(20);

pub const TURN_PORT: u16 = 3478;

#[derive(Clone, Debug)]
pub struct Options {
    /// How long a relay may take to answer, at most [`ICE_BUDGET`].
    pub budget: Duration,
    /// Length of the quality sample per relay; zero skips it.
    pub sample: Duration,
    pub interval: Duration,
    pub thresholds: Thresholds,
    /// The AMAZON_CONNECT CIDRs of the Region, named in remedies.
    pub connect_ranges: Vec<String>,
    /// TURN credentials: relays with some also get the authenticated test ([`auth`]).
    pub keyring: auth::Keyring,
    /// When the media test must be over; the authenticated test fits in what is left.
    pub until: Option<Instant>,
    /// After the authenticated test, place one relay-only WebRTC call ([`softphone`]).
    pub call: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            budget: ICE_BUDGET,
            sample: Duration::from_secs(5),
            interval: PACKET_INTERVAL,
            thresholds: Thresholds::default(),
            connect_ranges: Vec::new(),
            keyring: auth::Keyring::default(),
            until: None,
            call: false,
        }
    }
}

/// Probes every relay in parallel and returns the checks, in the order of `targets`.
pub async fn check(targets: &[Target], options: &Options) -> Vec<Check> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, target) in targets.iter().cloned().enumerate() {
        let options = options.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let probe = relay::probe(&target, options.budget.min(ICE_BUDGET)).await;
            let probe_ms = started.elapsed();
            let reachable = probe.binding.answered() || probe.allocate.answered();
            let train = if reachable && !options.sample.is_zero() {
                Some(relay::sample(&target, options.sample, options.interval).await)
            } else {
                None
            };
            let relayed = match options.keyring.for_host(&target.host) {
                Some(credentials) if reachable => {
                    let (budget, sample) = auth_time(&options);
                    Some(Ok(auth::relayed(
                        &target,
                        credentials,
                        budget,
                        sample,
                        options.interval,
                    )
                    .await))
                }
                Some(credentials) => Some(Err(credentials.from.clone())),
                None => None,
            };
            (i, probe, probe_ms, train, relayed)
        });
    }
    let mut results = Vec::with_capacity(targets.len());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|r| r.0);

    let mut checks = Vec::new();
    for (_, probe, probe_ms, train, relayed) in &results {
        let ms = u64::try_from(probe_ms.as_millis()).unwrap_or(u64::MAX);
        let mut binding = binding_check(probe, options);
        binding.duration_ms = ms;
        checks.push(binding);
        let mut allocate = allocate_check(probe, options);
        allocate.duration_ms = ms;
        checks.push(allocate);
        if let Some(train) = train {
            checks.push(quality_check(&probe.target, train, options));
        }
        match relayed {
            Some(Ok(relayed)) => checks.extend(auth::checks(relayed, options)),
            Some(Err(from)) => checks.push(auth::not_tested(&probe.target, from)),
            None => {}
        }
    }
    family::apply(&mut checks);
    let with_credentials: Vec<&Target> = results
        .iter()
        .filter(|r| matches!(r.4, Some(Ok(_))))
        .map(|r| &r.1.target)
        .collect();
    if let Some(call) = call_check(&with_credentials, &checks, options).await {
        checks.push(call);
    }
    if let Some(nat) = nat_check(targets).await {
        checks.push(nat);
    }
    checks
}

/// With credentials, one relay-only WebRTC call through the first relay that granted the
/// authenticated allocation, in the time left before `until`; nothing without credentials.
async fn call_check(
    with_credentials: &[&Target],
    checks: &[Check],
    options: &Options,
) -> Option<Check> {
    if !options.call {
        return None;
    }
    let first = *with_credentials.first()?;
    let granted = with_credentials.iter().copied().find(|t| {
        checks.iter().any(|c| {
            c.status == Status::Pass
                && c.facts.relay.as_ref().is_some_and(|r| {
                    r.step == RelayStep::TurnAuth && r.host == t.host && r.ip == t.addr.ip()
                })
        })
    });
    let Some(target) = granted else {
        return Some(softphone::not_placed(
            first,
            "no relay granted the authenticated allocation (see the turn-auth checks)",
        ));
    };
    let credentials = options.keyring.for_host(&target.host)?;
    // The call closes its two connections after `limit` (at most `CLOSE_GRACE` more).
    let limit = options.until.map_or(ICE_BUDGET + options.sample, |until| {
        until
            .saturating_duration_since(Instant::now())
            .saturating_sub(Duration::from_secs(2))
    });
    Some(softphone::call(target, credentials, options.sample, limit, options).await)
}

/// The answer budget and echo length of the authenticated test: what the options give, within
/// what is left before `until` (the Refresh that frees the allocation keeps up to 2 s of it).
fn auth_time(options: &Options) -> (Duration, Duration) {
    let budget = options.budget.min(ICE_BUDGET);
    let Some(until) = options.until else {
        return (budget, options.sample);
    };
    let left = until
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_secs(2));
    let budget = budget.min(left / 2).max(Duration::from_millis(200));
    (budget, options.sample.min(left.saturating_sub(budget)))
}

/// A check about one relay address: its id (`STEP/HOST/ADDRESS`), host and UDP port, and the
/// typed target later stages read (the family rule, the runner's fixes).
pub(crate) fn relay_check(
    step: RelayStep,
    target: &Target,
    kind: Kind,
    status: Status,
    reason: Reason,
    detail: String,
) -> Check {
    let relay = RelayTarget {
        step,
        host: target.host.clone(),
        ip: target.addr.ip(),
    };
    let mut check = Check::new(relay.id(), kind, status, reason, detail)
        .host(&target.host)
        .endpoint(target.addr.port(), Proto::Udp);
    check.facts.relay = Some(relay);
    check
}

fn where_to(target: &Target, options: &Options) -> String {
    remedy::turn_path(
        &target.host,
        target.addr.ip(),
        TURN_PORT,
        &options.connect_ranges,
    )
}

fn path_failure(
    kind: Kind,
    target: &Target,
    exchange: &Exchange,
    probe: &Probe,
    options: &Options,
    what: &str,
) -> Check {
    let step = if kind == Kind::Stun {
        RelayStep::Stun
    } else {
        RelayStep::Turn
    };
    let base =
        |status, reason, detail: String| relay_check(step, target, kind, status, reason, detail);
    let softphone = "the softphone cannot carry audio (agents see ice_collection_timeout)";
    match exchange {
        Exchange::Timeout { attempts, waited } if probe.stray > 0 => base(
            Status::Fail,
            Reason::BadResponse,
            format!(
                "{} datagrams came back from {} on UDP {TURN_PORT} but none was a valid answer to the {what} (last: {}), after {attempts} tries in {:.1} s",
                probe.stray,
                target.addr,
                probe.last_stray.as_deref().unwrap_or("unknown"),
                waited.as_secs_f64()
            ),
        )
        .remedy(remedy::turn_impostor(&target.host, TURN_PORT, Some(&where_to(target, options)))),
        Exchange::Timeout { attempts, waited } => base(
            Status::Fail,
            Reason::Timeout,
            format!("no answer from {} to the {what} on UDP {TURN_PORT} after {attempts} tries in {:.1} s: {softphone}", target.addr, waited.as_secs_f64()),
        )
        .remedy(remedy::turn_timeout(&target.host, TURN_PORT, &where_to(target, options))),
        Exchange::Unreachable { kind: error, .. } => base(
            Status::Fail,
            Reason::Unreachable,
            format!("the network reported {} unreachable for UDP {TURN_PORT} ({error}): a firewall rejects the traffic or there is no route; {softphone}", target.addr),
        )
        .remedy(remedy::turn_unreachable(&target.host, TURN_PORT, &where_to(target, options))),
        Exchange::Failed { error } => base(
            Status::Fail,
            Reason::Unreachable,
            format!("could not send UDP to {}: {error}", target.addr),
        )
        .remedy(remedy::turn_unreachable(&target.host, TURN_PORT, &where_to(target, options))),
        Exchange::Answered { .. } => unreachable!("only failures are passed here"),
    }
}

fn binding_check(probe: &Probe, options: &Options) -> Check {
    let target = &probe.target;
    match &probe.binding {
        Exchange::Answered {
            reply: Reply::BindingSuccess { mapped },
            rtt,
            attempts,
        } => {
            let nat = match (mapped, probe.local) {
                (Some(m), Some(l)) => Some(m.ip() != l.ip() || m.port() != l.port()),
                _ => None,
            };
            let seen = match (mapped, nat) {
                (Some(m), Some(true)) => format!("; this machine reaches it as {m} (through NAT)"),
                (Some(m), _) => format!("; this machine reaches it as {m} (no NAT)"),
                (None, _) => String::new(),
            };
            relay_check(
                RelayStep::Stun,
                target,
                Kind::Stun,
                Status::Pass,
                Reason::Ok,
                format!(
                    "{} answered the STUN Binding in {:.1} ms{seen}",
                    target.addr,
                    rtt.as_secs_f64() * 1000.0
                ),
            )
            .evidence("address", target.addr.to_string())
            .contacts([Contact::Udp(target.addr)])
            .evidence("rtt_ms", round(rtt.as_secs_f64() * 1000.0))
            .evidence("attempts", attempts)
            .evidence("reflexive_address", mapped.map(|m| m.to_string()))
            .evidence("local_address", probe.local.map(|l| l.to_string()))
            .evidence("nat", nat)
        }
        Exchange::Answered { reply, .. } => relay_check(
            RelayStep::Stun,
            target,
            Kind::Stun,
            Status::Info,
            Reason::Ok,
            format!(
                "{} answered the STUN Binding with {}: UDP {TURN_PORT} works both ways",
                target.addr,
                describe(reply)
            ),
        ),
        other if probe.allocate.answered() => relay_check(
            RelayStep::Stun,
            target,
            Kind::Stun,
            Status::Info,
            Reason::NotTested,
            format!(
                "{} did not answer the STUN Binding ({}), but answered the TURN Allocate: the path works; this relay only ignores Bindings",
                target.addr,
                short(other)
            ),
        ),
        other => path_failure(Kind::Stun, target, other, probe, options, "STUN Binding"),
    }
}

fn allocate_check(probe: &Probe, options: &Options) -> Check {
    let target = &probe.target;
    let base = |status, reason, detail: String| {
        relay_check(RelayStep::Turn, target, Kind::Turn, status, reason, detail)
            .evidence("address", target.addr.to_string())
            .contacts([Contact::Udp(target.addr)])
    };
    match &probe.allocate {
        Exchange::Answered { reply: Reply::Error { code: 401, realm: Some(realm), nonce: Some(_), reason, .. }, rtt, attempts } => base(
            Status::Pass,
            Reason::AuthChallenge,
            format!(
                "{} answered the TURN Allocate with 401 Unauthorized (realm {realm:?}) in {:.1} ms: that is the expected answer without the softphone's \
                 credentials, and it proves UDP {TURN_PORT} to this relay works in both directions",
                target.addr,
                rtt.as_secs_f64() * 1000.0
            ),
        )
        .evidence("rtt_ms", round(rtt.as_secs_f64() * 1000.0))
        .evidence("attempts", attempts)
        .evidence("error_code", 401)
        .evidence("error_reason", reason)
        .evidence("realm", realm),
        Exchange::Answered { reply: Reply::Error { code: 401, realm, reason, .. }, .. } => base(
            Status::Warn,
            Reason::AllocationFailed,
            format!(
                "{} answered the TURN Allocate with 401 but without {}: UDP works both ways, but this is not how a TURN relay challenges, so a client cannot authenticate",
                target.addr,
                if realm.is_some() { "a NONCE" } else { "a REALM and NONCE" }
            ),
        )
        .evidence("error_code", 401)
        .evidence("error_reason", reason)
        .remedy(remedy::turn_impostor(&target.host, TURN_PORT, None)),
        Exchange::Answered { reply: Reply::Error { code, reason, .. }, rtt, .. } => base(
            Status::Fail,
            Reason::AllocationFailed,
            format!("{} refused the TURN Allocate with {code} {reason:?} after {:.1} ms", target.addr, rtt.as_secs_f64() * 1000.0),
        )
        .evidence("error_code", code)
        .evidence("error_reason", reason)
        .remedy(remedy::allocation_refused(&target.host, TURN_PORT, *code)),
        Exchange::Answered { reply: Reply::AllocateSuccess, rtt, .. } => base(
            Status::Pass,
            Reason::Ok,
            format!(
                "{} granted a relay without credentials in {:.1} ms: UDP {TURN_PORT} works both ways (an open relay, unusual for Connect)",
                target.addr,
                rtt.as_secs_f64() * 1000.0
            ),
        ),
        Exchange::Answered { reply: Reply::BindingSuccess { .. }, .. } => base(
            Status::Warn,
            Reason::BadResponse,
            format!("{} answered the TURN Allocate with a Binding success: not a TURN relay", target.addr),
        )
        .remedy(remedy::turn_impostor(&target.host, TURN_PORT, None)),
        other => path_failure(Kind::Turn, target, other, probe, options, "TURN Allocate"),
    }
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::BindingSuccess { .. } => "a Binding success".to_owned(),
        Reply::AllocateSuccess => "an Allocate success".to_owned(),
        Reply::Error {
            request,
            code,
            reason,
            ..
        } => {
            let what = match request {
                Request::Binding => "Binding",
                Request::Allocate => "Allocate",
            };
            format!("a {what} error {code} {reason:?}")
        }
    }
}

fn short(exchange: &Exchange) -> String {
    match exchange {
        Exchange::Timeout { attempts, .. } => format!("{attempts} tries"),
        Exchange::Unreachable { kind, .. } => kind.to_string(),
        Exchange::Failed { error } => error.clone(),
        Exchange::Answered { reply, .. } => describe(reply),
    }
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn quality_check(target: &Target, train: &Train, options: &Options) -> Check {
    if let Some(check) = graded(RelayStep::Quality, target, train, options, "Bindings") {
        return check;
    }
    let why = train
        .error
        .clone()
        .unwrap_or_else(|| format!("none of {} Bindings was answered", train.samples.len()));
    relay_check(
        RelayStep::Quality,
        target,
        Kind::Media,
        Status::Fail,
        Reason::Timeout,
        format!("the relay answered the first requests, then the sample got nothing back: {why}"),
    )
    .evidence("sent", train.samples.len())
    .remedy(remedy::turn_went_silent(
        &target.host,
        TURN_PORT,
        &where_to(target, options),
    ))
}

/// A sample's check with its grade: the detail names the reference each figure was judged
/// against and what is past a limit; the MOS band goes in the evidence.
pub(crate) fn graded_check(check: Check, grade: &grade::Grade, host: &str) -> Check {
    let mut check = check;
    check.detail = if grade.problems.is_empty() {
        format!("{}. Judged against: {}", check.detail, grade.against())
    } else {
        format!(
            "{}: {}. Judged against: {}",
            check.detail,
            grade.problems.join("; "),
            grade.against()
        )
    };
    let check = check
        .evidence("mos_band", grade.band.map(grade::Band::as_str))
        .evidence("mos_score", grade.band.map(grade::Band::score));
    if grade.status == Status::Pass {
        check
    } else {
        check.remedy(remedy::poor_quality(host, TURN_PORT))
    }
}

/// A train's figures graded against the thresholds, as the check of `step`; `None` when nothing
/// was answered. `what` names the requests in the detail ("Bindings").
fn graded(
    step: RelayStep,
    target: &Target,
    train: &Train,
    options: &Options,
    what: &str,
) -> Option<Check> {
    let base = |status, reason, detail: String| {
        relay_check(step, target, Kind::Media, status, reason, detail)
    };
    let raw: Vec<Option<f64>> = train.samples.iter().map(|s| s.rtt_ms.map(round)).collect();
    let f = stats::figures(&train.samples, &train.arrival_order)?;
    let grade = grade::grade(
        grade::Measured {
            rtt_ms: Some(f.rtt_avg_ms),
            jitter_ms: f.jitter_ms,
            loss_pct: f.loss_pct,
        },
        &options.thresholds,
    );
    let summary = format!(
        "{} {what} every {} ms: RTT min/avg/p95/max {:.1}/{:.1}/{:.1}/{:.1} ms, jitter {:.1} ms, loss {:.1} %, {} reordered, estimated MOS {:.2}",
        f.sent,
        options.interval.as_millis(),
        f.rtt_min_ms,
        f.rtt_avg_ms,
        f.rtt_p95_ms,
        f.rtt_max_ms,
        f.jitter_ms,
        f.loss_pct,
        f.reordered,
        f.mos
    );
    let check = graded_check(
        base(grade.status, grade.reason, summary),
        &grade,
        &target.host,
    );
    let check = check
        .evidence("sent", f.sent)
        .evidence("received", f.received)
        .evidence("loss_pct", round(f.loss_pct))
        .evidence("rtt_min_ms", round(f.rtt_min_ms))
        .evidence("rtt_ms", round(f.rtt_avg_ms))
        .evidence("rtt_p95_ms", round(f.rtt_p95_ms))
        .evidence("rtt_max_ms", round(f.rtt_max_ms))
        .evidence("jitter_ms", round(f.jitter_ms))
        .evidence("reordered", f.reordered)
        .evidence("mos", f.mos)
        .evidence(
            "interval_ms",
            u64::try_from(options.interval.as_millis()).unwrap_or(20),
        )
        .evidence("samples_rtt_ms", raw);
    Some(check)
}

/// With two or more relays, one socket asks each for its reflexive address: the same mapping for
/// every server is endpoint-independent NAT, a different port per server is symmetric NAT.
async fn nat_check(targets: &[Target]) -> Option<Check> {
    let v4: Vec<&Target> = targets.iter().filter(|t| t.addr.is_ipv4()).collect();
    if v4.len() < 2 {
        return None;
    }
    let socket = UdpSocket::bind("0.0.0.0:0").await.ok()?;
    let local = socket.local_addr().ok()?;
    let ids: Vec<[u8; 12]> = v4.iter().map(|_| message::new_id()).collect();
    let mut mapped: Vec<Option<SocketAddr>> = vec![None; v4.len()];
    let start = Instant::now();
    let deadline = start + Duration::from_secs(2);
    let mut buf = vec![0u8; message::MAX_DATAGRAM + 1];
    for resend in [
        Duration::ZERO,
        Duration::from_millis(500),
        Duration::from_millis(1500),
    ] {
        let until = (start + resend + Duration::from_millis(500)).min(deadline);
        for (i, t) in v4.iter().enumerate() {
            if mapped[i].is_none() {
                let _ = socket.send_to(&message::binding(ids[i]), t.addr).await;
            }
        }
        while mapped.iter().any(Option::is_none) {
            let Ok(Ok((n, from))) =
                tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await
            else {
                break;
            };
            if n > message::MAX_DATAGRAM {
                continue;
            }
            if let Ok((id, Reply::BindingSuccess { mapped: Some(m) })) = message::parse(&buf[..n]) {
                if let Some(i) = ids.iter().position(|x| *x == id) {
                    if v4[i].addr == from {
                        mapped[i] = Some(m);
                    }
                }
            }
        }
        if mapped.iter().all(Option::is_some) {
            break;
        }
    }
    let seen: Vec<(String, SocketAddr)> = v4
        .iter()
        .zip(&mapped)
        .filter_map(|(t, m)| m.map(|m| (t.host.clone(), m)))
        .collect();
    if seen.len() < 2 {
        return None;
    }
    let same = seen.iter().all(|(_, m)| *m == seen[0].1);
    let (behaviour, detail) = if same {
        (
            "endpoint_independent",
            format!(
                "every relay sees this machine as {}: the NAT keeps one mapping for all destinations",
                seen[0].1
            ),
        )
    } else {
        let list: Vec<String> = seen.iter().map(|(h, m)| format!("{h} sees {m}")).collect();
        (
            "address_dependent",
            format!(
                "relays see different mappings ({}): symmetric NAT, which relay-only softphone media handles",
                list.join("; ")
            ),
        )
    };
    Some(
        Check::new(
            "stun/nat-mapping",
            Kind::Stun,
            Status::Info,
            Reason::Ok,
            detail,
        )
        .evidence("behaviour", behaviour)
        .evidence("local_address", local.to_string())
        .evidence(
            "reflexive_addresses",
            seen.iter()
                .map(|(h, m)| (h.clone(), m.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        ),
    )
}

#[cfg(test)]
mod tests;
