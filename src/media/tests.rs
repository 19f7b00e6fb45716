//! The media checks against small in-process relays on 127.0.0.1, one per behaviour.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::message::tests::{AllocateAnswer, respond};
use super::relay::Target;
use super::*;

#[derive(Clone, Debug)]
enum Mode {
    /// A TURN server: Bindings answered, Allocates answered as given, after `delay`.
    Relay {
        allocate: AllocateAnswer,
        delay: Duration,
        ignore_binding: bool,
    },
    Silent,
    /// Answers every request with bytes that are not STUN.
    Garbage,
    /// Answers with a datagram larger than any STUN reply we accept.
    Oversized,
    /// Answers with a valid message for a transaction we never sent.
    WrongTransaction,
    /// Answers every request with this many junk datagrams.
    Flood(usize),
}

struct Relay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mode: Mode) -> Relay {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        // Bounded: a test never sends more than a few hundred requests.
        for _ in 0..5000 {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let request = buf[..n].to_vec();
            match &mode {
                Mode::Relay {
                    allocate,
                    delay,
                    ignore_binding,
                } => {
                    if *ignore_binding && request.get(1) == Some(&0x01) {
                        continue;
                    }
                    if let Some(answer) = respond(&request, peer, allocate) {
                        let socket = socket.clone();
                        let delay = *delay;
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = socket.send_to(&answer, peer).await;
                        });
                    }
                }
                Mode::Silent => {}
                Mode::Garbage => {
                    let _ = socket
                        .send_to(b"HTTP/1.1 400 Bad Request\r\n\r\n", peer)
                        .await;
                }
                Mode::Oversized => {
                    let mut big =
                        respond(&request, peer, &AllocateAnswer::Challenge { nonce: true })
                            .unwrap_or_default();
                    big.resize(4000, 0);
                    let _ = socket.send_to(&big, peer).await;
                }
                Mode::WrongTransaction => {
                    let mut other = request.clone();
                    other[8..20].copy_from_slice(&[7; 12]);
                    if let Some(answer) =
                        respond(&other, peer, &AllocateAnswer::Challenge { nonce: true })
                    {
                        let _ = socket.send_to(&answer, peer).await;
                    }
                }
                Mode::Flood(count) => {
                    for i in 0..*count {
                        let _ = socket.send_to(&[i as u8; 64], peer).await;
                    }
                }
            }
        }
    });
    Relay { addr, task }
}

fn coturn_like() -> Mode {
    Mode::Relay {
        allocate: AllocateAnswer::Challenge { nonce: true },
        delay: Duration::ZERO,
        ignore_binding: false,
    }
}

fn target(host: &str, addr: SocketAddr) -> Target {
    Target {
        host: host.to_owned(),
        addr,
    }
}

fn options(budget_ms: u64, sample_ms: u64) -> Options {
    Options {
        budget: Duration::from_millis(budget_ms),
        sample: Duration::from_millis(sample_ms),
        connect_ranges: vec!["15.193.0.0/19".to_owned()],
        ..Options::default()
    }
}

fn find(checks: &[Check], kind: Kind) -> &Check {
    checks
        .iter()
        .find(|c| c.kind == kind && c.id != "stun/nat-mapping")
        .unwrap_or_else(|| panic!("no {kind:?} check in {checks:#?}"))
}

#[tokio::test]
async fn a_turn_relay_passes_with_the_401_challenge_explained() {
    let r = relay(coturn_like()).await;
    let checks = check(
        &[target("turnnlb-1.elb.lab.example", r.addr)],
        &options(2000, 300),
    )
    .await;
    let stun = find(&checks, Kind::Stun);
    assert_eq!(
        (stun.status, stun.reason),
        (Status::Pass, Reason::Ok),
        "{stun:#?}"
    );
    assert_eq!(
        stun.evidence["reflexive_address"],
        serde_json::json!(stun.evidence["local_address"])
    );
    assert_eq!(stun.evidence["nat"], serde_json::json!(false));
    let turn = find(&checks, Kind::Turn);
    assert_eq!(
        (turn.status, turn.reason),
        (Status::Pass, Reason::AuthChallenge),
        "{turn:#?}"
    );
    assert!(
        turn.detail.contains("expected answer") && turn.detail.contains("both directions"),
        "{}",
        turn.detail
    );
    assert_eq!(turn.evidence["realm"], "lab.example");
    let media = find(&checks, Kind::Media);
    assert_eq!(
        (media.status, media.reason),
        (Status::Pass, Reason::Ok),
        "{media:#?}"
    );
    assert_eq!(media.evidence["sent"], 15);
    assert_eq!(media.evidence["loss_pct"], 0.0);
    assert_eq!(
        media.evidence["samples_rtt_ms"].as_array().unwrap().len(),
        15
    );
}

#[tokio::test]
async fn delay_is_measured_and_graded() {
    let r = relay(Mode::Relay {
        allocate: AllocateAnswer::Challenge { nonce: true },
        delay: Duration::from_millis(40),
        ignore_binding: false,
    })
    .await;
    let mut opts = options(2000, 400);
    opts.thresholds.rtt_ms = 30.0;
    let checks = check(&[target("slow.lab.example", r.addr)], &opts).await;
    let media = find(&checks, Kind::Media);
    let rtt = media.evidence["rtt_ms"].as_f64().unwrap();
    assert!(
        (40.0..60.0).contains(&rtt),
        "measured {rtt} ms for a 40 ms delay"
    );
    assert_eq!(
        (media.status, media.reason),
        (Status::Warn, Reason::PoorQuality),
        "{media:#?}"
    );
    assert!(
        media.detail.contains("over AWS's 30 ms"),
        "{}",
        media.detail
    );
}

#[tokio::test]
async fn silence_is_a_timeout_naming_udp_3478_the_host_and_the_ranges_within_the_budget() {
    let r = relay(Mode::Silent).await;
    let started = std::time::Instant::now();
    let checks = check(
        &[target("turnnlb-x.elb.lab.example", r.addr)],
        &options(1600, 300),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2100),
        "took {:?}",
        started.elapsed()
    );
    for kind in [Kind::Stun, Kind::Turn] {
        let c = find(&checks, kind);
        assert_eq!(
            (c.status, c.reason),
            (Status::Fail, Reason::Timeout),
            "{c:#?}"
        );
        let remedy = c.remedy.as_deref().unwrap();
        assert!(
            remedy.contains("UDP 3478")
                && remedy.contains("turnnlb-x.elb.lab.example")
                && remedy.contains("15.193.0.0/19"),
            "{remedy}"
        );
    }
    // Retransmitted at 0, 0.5 and 1.5 s within a 1.6 s budget.
    assert!(
        find(&checks, Kind::Turn).detail.contains("after 3 tries"),
        "{}",
        find(&checks, Kind::Turn).detail
    );
    assert!(checks.iter().all(|c| c.kind != Kind::Media));
}

#[tokio::test]
async fn a_closed_port_is_unreachable_at_once() {
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let started = std::time::Instant::now();
    let checks = check(&[target("closed.lab.example", closed)], &options(4000, 300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let turn = find(&checks, Kind::Turn);
    assert_eq!(
        (turn.status, turn.reason),
        (Status::Fail, Reason::Unreachable),
        "{turn:#?}"
    );
}

#[tokio::test]
async fn garbage_oversized_and_foreign_replies_are_bad_responses_not_samples() {
    for mode in [
        Mode::Garbage,
        Mode::Oversized,
        Mode::WrongTransaction,
        Mode::Flood(200),
    ] {
        let r = relay(mode.clone()).await;
        let checks = check(&[target("odd.lab.example", r.addr)], &options(1200, 300)).await;
        for kind in [Kind::Stun, Kind::Turn] {
            let c = find(&checks, kind);
            assert_eq!(
                (c.status, c.reason),
                (Status::Fail, Reason::BadResponse),
                "{mode:?}: {c:#?}"
            );
        }
        assert!(checks.iter().all(|c| c.kind != Kind::Media), "{mode:?}");
    }
}

#[tokio::test]
async fn allocation_errors_and_missing_nonces_are_named() {
    let r = relay(Mode::Relay {
        allocate: AllocateAnswer::Error(403),
        delay: Duration::ZERO,
        ignore_binding: false,
    })
    .await;
    let checks = check(&[target("deny.lab.example", r.addr)], &options(1500, 0)).await;
    let turn = find(&checks, Kind::Turn);
    assert_eq!(
        (turn.status, turn.reason),
        (Status::Fail, Reason::AllocationFailed)
    );
    assert_eq!(turn.evidence["error_code"], 403);
    assert!(turn.remedy.as_deref().unwrap().contains("403"));

    let r = relay(Mode::Relay {
        allocate: AllocateAnswer::Challenge { nonce: false },
        delay: Duration::ZERO,
        ignore_binding: false,
    })
    .await;
    let checks = check(&[target("odd.lab.example", r.addr)], &options(1500, 0)).await;
    let turn = find(&checks, Kind::Turn);
    assert_eq!(
        (turn.status, turn.reason),
        (Status::Warn, Reason::AllocationFailed),
        "{turn:#?}"
    );
    assert!(turn.detail.contains("without a NONCE"));
}

#[tokio::test]
async fn a_relay_that_ignores_bindings_still_proves_the_path() {
    let r = relay(Mode::Relay {
        allocate: AllocateAnswer::Challenge { nonce: true },
        delay: Duration::ZERO,
        ignore_binding: true,
    })
    .await;
    let checks = check(&[target("quiet.lab.example", r.addr)], &options(1200, 0)).await;
    assert_eq!(find(&checks, Kind::Turn).reason, Reason::AuthChallenge);
    let stun = find(&checks, Kind::Stun);
    assert_eq!(
        (stun.status, stun.reason),
        (Status::Info, Reason::NotTested),
        "{stun:#?}"
    );
}

#[tokio::test]
async fn relays_run_in_parallel_and_nat_mapping_is_compared() {
    let (a, b, c) = (
        relay(coturn_like()).await,
        relay(coturn_like()).await,
        relay(coturn_like()).await,
    );
    let targets = [
        target("a.lab.example", a.addr),
        target("b.lab.example", b.addr),
        target("c.lab.example", c.addr),
    ];
    let started = std::time::Instant::now();
    let checks = check(&targets, &options(2000, 500)).await;
    // Three 0.5 s samples in parallel, not one after another.
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(checks.iter().filter(|c| c.kind == Kind::Media).count(), 3);
    let nat = checks.iter().find(|c| c.id == "stun/nat-mapping").unwrap();
    assert_eq!(
        nat.evidence["behaviour"], "endpoint_independent",
        "{nat:#?}"
    );
}
