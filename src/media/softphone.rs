//! The relay-only WebRTC call as a report check: once a relay granted an authenticated
//! allocation, one call is placed through it with the same credentials ([`super::call`]), and its
//! figures are graded like the quality sample's. Builds without the `webrtc-call` feature report
//! the call as not tested, saying why.

use std::time::Duration;

use super::Options;
use super::auth::Credentials;
use super::relay::Target;
use crate::report::facts::RelayStep;
use crate::report::{Check, Kind, Reason, Status};

/// Below this much time left, the call is not started: relay gathering, the handshakes and a
/// useful sample do not fit.
#[cfg(feature = "webrtc-call")]
pub(crate) const MIN_CALL_TIME: Duration = Duration::from_secs(3);

/// The call's check (`call/HOST/ADDRESS`).
fn base(target: &Target, status: Status, reason: Reason, detail: String) -> Check {
    super::relay_check(RelayStep::Call, target, Kind::Media, status, reason, detail)
        .evidence("address", target.addr.to_string())
}

/// The call was not placed: `why` says what was missing.
pub(crate) fn not_placed(target: &Target, why: &str) -> Check {
    base(
        target,
        Status::Skip,
        Reason::NotTested,
        format!(
            "the relay-only WebRTC call through {} was not placed: {why}",
            target.addr
        ),
    )
}

/// Places one relay-only call through `target` with `credentials`, within `limit`, and grades it.
#[cfg(feature = "webrtc-call")]
pub(crate) async fn call(
    target: &Target,
    credentials: &Credentials,
    sample: Duration,
    limit: Duration,
    options: &Options,
) -> Check {
    use super::call::{CallServer, relay_call};
    if limit < MIN_CALL_TIME {
        return not_placed(target, "too little of the run's time was left");
    }
    // The address the DNS check found, not the name: the call tests this relay, resolved as the
    // rest of the run resolved it.
    let server = CallServer {
        url: format!("turn:{}?transport=udp", target.addr),
        username: credentials.username.clone(),
        credential: credentials.password.clone(),
    };
    let sample = sample.max(Duration::from_secs(1));
    match relay_call(&server, sample, limit).await {
        Ok(figures) => graded(target, &figures, options),
        Err(failure) => failed(target, &failure),
    }
    .evidence("credentials_from", &credentials.from)
}

#[cfg(not(feature = "webrtc-call"))]
pub(crate) async fn call(
    target: &Target,
    credentials: &Credentials,
    _sample: Duration,
    _limit: Duration,
    _options: &Options,
) -> Check {
    not_placed(
        target,
        "this build has no WebRTC call (it was built without the webrtc-call feature)",
    )
    .evidence("credentials_from", &credentials.from)
}

#[cfg(feature = "webrtc-call")]
fn graded(target: &Target, f: &super::call::CallFigures, options: &Options) -> Check {
    let grade = super::grade::grade(
        super::grade::Measured {
            rtt_ms: f.rtcp_rtt_ms,
            jitter_ms: f.jitter_ms,
            loss_pct: f.loss_pct,
        },
        &options.thresholds,
    );
    let rtt = f.rtcp_rtt_ms.map_or_else(
        || "no RTCP round trip yet".to_owned(),
        |r| format!("RTCP round trip {r:.1} ms"),
    );
    let mos = f
        .mos
        .map_or_else(String::new, |m| format!(", estimated MOS {m:.2}"));
    let summary = format!(
        "a relay-only WebRTC call through {} connected in {} ms (ICE, DTLS-SRTP) between the relay \
         candidates {} and {}; {} of {} Opus-sized packets arrived in {:.1} s: loss {:.1} %, jitter \
         {:.1} ms, {rtt}{mos}",
        target.addr,
        f.setup.as_millis(),
        f.offer_relay,
        f.answer_relay,
        f.packets_received,
        f.packets_sent,
        f.sampled.as_secs_f64(),
        f.loss_pct,
        f.jitter_ms,
    );
    let check = super::graded_check(
        base(target, grade.status, grade.reason, summary),
        &grade,
        &target.host,
    );
    let round = |v: f64| (v * 100.0).round() / 100.0;
    check
        .evidence(
            "setup_ms",
            u64::try_from(f.setup.as_millis()).unwrap_or(u64::MAX),
        )
        .evidence("offer_relay", &f.offer_relay)
        .evidence("answer_relay", &f.answer_relay)
        .evidence(
            "sampled_ms",
            u64::try_from(f.sampled.as_millis()).unwrap_or(u64::MAX),
        )
        .evidence("packets_sent", f.packets_sent)
        .evidence("packets_received", f.packets_received)
        .evidence("loss_pct", round(f.loss_pct))
        .evidence("jitter_ms", round(f.jitter_ms))
        .evidence("rtcp_rtt_ms", f.rtcp_rtt_ms.map(round))
        .evidence("rtcp_jitter_ms", f.rtcp_jitter_ms.map(round))
        .evidence("rtcp_packets_lost", f.rtcp_packets_lost)
        .evidence("rtcp_reports", f.rtcp_reports)
        .evidence("mos", f.mos.map(round))
}

#[cfg(feature = "webrtc-call")]
fn failed(target: &Target, failure: &super::call::CallFailure) -> Check {
    use super::call::{CallFailure, TurnDiagnosis};
    use crate::remedy;
    let detail = crate::sanitize::for_terminal(&failure.to_string(), 600);
    let path = remedy::turn_path(&target.host, target.addr.ip(), target.addr.port(), &[]);
    match failure {
        CallFailure::NoRelayCandidate { diagnosis, .. } => match diagnosis {
            TurnDiagnosis::Refused { code, .. } => {
                base(target, Status::Fail, Reason::AllocationFailed, detail)
                    .remedy(if *code == 401 || *code == 441 {
                        remedy::turn_credentials_refused()
                    } else {
                        remedy::allocation_refused(&target.host, target.addr.port(), *code)
                    })
                    .evidence("error_code", *code)
            }
            TurnDiagnosis::Timeout { .. } => base(target, Status::Fail, Reason::Timeout, detail)
                .remedy(remedy::turn_timeout(
                    &target.host,
                    target.addr.port(),
                    &path,
                )),
            TurnDiagnosis::Unreachable { .. } => {
                base(target, Status::Fail, Reason::Unreachable, detail).remedy(
                    remedy::turn_unreachable(&target.host, target.addr.port(), &path),
                )
            }
            TurnDiagnosis::NoChallenge { .. } => {
                base(target, Status::Fail, Reason::BadResponse, detail).remedy(
                    remedy::turn_impostor(&target.host, target.addr.port(), None),
                )
            }
            TurnDiagnosis::Unresolved { .. }
            | TurnDiagnosis::Allocated { .. }
            | TurnDiagnosis::Failed { .. } => call_failed(target, detail),
        },
        CallFailure::IceFailed { .. }
        | CallFailure::DtlsFailed
        | CallFailure::NoMedia { .. }
        | CallFailure::BadServer { .. }
        | CallFailure::Internal { .. } => call_failed(target, detail),
    }
}

/// The relay allocated, but the call did not carry audio. A warning: the call relays between two
/// allocations of the same relay, which a real call (to Connect's media servers) does not need.
#[cfg(feature = "webrtc-call")]
fn call_failed(target: &Target, detail: String) -> Check {
    base(target, Status::Warn, Reason::CallFailed, detail).remedy(
        crate::remedy::call_media_blocked(target.addr.ip(), target.addr.port()),
    )
}
