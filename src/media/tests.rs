//! The media checks against small in-process relays on 127.0.0.1, one per behaviour.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::message::tests::{AllocateAnswer, respond};
use super::relay::Target;
use super::*;

/// [`super::check`], and every check it returns that warns or fails tells what to change.
async fn check(targets: &[Target], options: &Options) -> Vec<Check> {
    let checks = super::check(targets, options).await;
    for c in &checks {
        if matches!(c.status, Status::Warn | Status::Fail) {
            assert!(
                c.remedy.as_deref().is_some_and(|r| !r.trim().is_empty()),
                "a {:?} check without a remedy: {c:#?}",
                c.status
            );
        }
    }
    checks
}

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
        media.detail.contains("over the site profile's 30 ms"),
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

// ------------------------------------------------------------------------------------------------
// The authenticated test against an in-process TURN server with long-term credentials.

mod turn_server {
    use std::collections::HashSet;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::{Arc, Mutex};

    use stun::attributes::{
        ATTR_DATA, ATTR_LIFETIME, ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME,
        ATTR_XOR_PEER_ADDRESS, ATTR_XOR_RELAYED_ADDRESS, ATTR_XORMAPPED_ADDRESS,
    };
    use stun::error_code::{ErrorCode, ErrorCodeAttribute};
    use stun::integrity::MessageIntegrity;
    use stun::message::{
        BINDING_SUCCESS, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST,
        CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_BINDING, METHOD_CREATE_PERMISSION,
        METHOD_DATA, METHOD_REFRESH, METHOD_SEND, Message, MessageType, Setter,
    };
    use stun::textattrs::TextAttribute;
    use stun::xoraddr::XorMappedAddress;
    use tokio::net::UdpSocket;

    pub(super) const REALM: &str = "lab.example";

    #[derive(Clone, Copy, Debug)]
    pub(super) enum Mode {
        /// Grants relays to `user`/`password`, after answering the first `stale` authenticated
        /// Allocates with 438 and a new nonce.
        Grant { stale: usize },
        /// Grants, then calls the nonce stale: the next request gets 438 and a new nonce.
        GrantThenStale,
        /// Answers every authenticated Allocate with this code.
        Refuse(u16),
        /// Challenges, then never answers a request with credentials.
        SilentWithCredentials,
        /// Never answers anything.
        Silent,
    }

    pub(super) const USER: &str = "1732400000:agent";
    pub(super) const PASSWORD: &str = "Fake-Turn-Secret-1";

    /// What the server saw, for the assertions.
    #[derive(Debug, Default)]
    pub(super) struct Seen {
        pub authenticated_allocates: usize,
        pub bad_integrity: usize,
        pub permissions: Vec<SocketAddr>,
        pub sends: usize,
        pub refresh_lifetimes: Vec<u32>,
    }

    pub(super) struct Server {
        pub addr: SocketAddr,
        pub seen: Arc<Mutex<Seen>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    struct Raw(stun::attributes::AttrType, Vec<u8>);

    impl Setter for Raw {
        fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
            m.add(self.0, &self.1);
            Ok(())
        }
    }

    struct Addr(stun::attributes::AttrType, SocketAddr);

    impl Setter for Addr {
        fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
            XorMappedAddress {
                ip: self.1.ip(),
                port: self.1.port(),
            }
            .add_to_as(m, self.0)
        }
    }

    fn encode(setters: Vec<Box<dyn Setter>>) -> Vec<u8> {
        let mut m = Message::new();
        m.build(&setters).unwrap();
        m.raw
    }

    fn error(m: &Message, code: u16, nonce: &str) -> Vec<u8> {
        encode(vec![
            Box::new(m.transaction_id),
            Box::new(MessageType::new(m.typ.method, CLASS_ERROR_RESPONSE)),
            Box::new(ErrorCodeAttribute {
                code: ErrorCode(code),
                reason: b"Refused".to_vec(),
            }),
            Box::new(TextAttribute::new(ATTR_REALM, REALM.to_owned())),
            Box::new(TextAttribute::new(ATTR_NONCE, nonce.to_owned())),
        ])
    }

    fn success(m: &Message, mut attrs: Vec<Box<dyn Setter>>) -> Vec<u8> {
        let mut all: Vec<Box<dyn Setter>> = vec![
            Box::new(m.transaction_id),
            Box::new(MessageType::new(m.typ.method, CLASS_SUCCESS_RESPONSE)),
        ];
        all.append(&mut attrs);
        encode(all)
    }

    fn peer(m: &Message) -> Option<SocketAddr> {
        let mut a = XorMappedAddress::default();
        a.get_from_as(m, ATTR_XOR_PEER_ADDRESS).ok()?;
        Some(SocketAddr::new(a.ip, a.port))
    }

    pub(super) async fn start(mode: Mode) -> Server {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let mut nonce = "nonce-1".to_owned();
            let mut stale_left = match mode {
                Mode::Grant { stale } => stale,
                _ => 0,
            };
            let mut relayed: Option<Arc<UdpSocket>> = None;
            let mut permitted: HashSet<IpAddr> = HashSet::new();
            let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
            let mut buf = vec![0u8; 2048];
            // Bounded: a test sends a few hundred datagrams.
            for _ in 0..5000 {
                let Ok((n, client)) = socket.recv_from(&mut buf).await else {
                    break;
                };
                if matches!(mode, Mode::Silent) {
                    continue;
                }
                let mut m = Message::new();
                if m.unmarshal_binary(&buf[..n]).is_err() {
                    continue;
                }
                let signed = m.contains(ATTR_MESSAGE_INTEGRITY);
                if m.typ.class == CLASS_INDICATION && m.typ.method == METHOD_SEND {
                    log.lock().unwrap().sends += 1;
                    if let (Some(peer), Ok(data), Some(out)) =
                        (peer(&m), m.get(ATTR_DATA), &relayed)
                    {
                        if permitted.contains(&peer.ip()) {
                            let _ = out.send_to(&data, peer).await;
                        }
                    }
                    continue;
                }
                if m.typ.class != CLASS_REQUEST {
                    continue;
                }
                let reply = match (m.typ.method, signed) {
                    (METHOD_BINDING, _) => encode(vec![
                        Box::new(m.transaction_id),
                        Box::new(BINDING_SUCCESS),
                        Box::new(Addr(ATTR_XORMAPPED_ADDRESS, client)),
                    ]),
                    (_, false) => error(&m, 401, &nonce),
                    (_, true) if matches!(mode, Mode::SilentWithCredentials) => continue,
                    (method, true) => {
                        let user = TextAttribute::get_from_as(&m, ATTR_USERNAME)
                            .map(|t| t.text)
                            .unwrap_or_default();
                        let given = TextAttribute::get_from_as(&m, ATTR_NONCE)
                            .map(|t| t.text)
                            .unwrap_or_default();
                        let key = MessageIntegrity::new_long_term_integrity(
                            user.clone(),
                            REALM.to_owned(),
                            PASSWORD.to_owned(),
                        );
                        let valid = user == USER && key.check(&mut m).is_ok();
                        if method == METHOD_ALLOCATE {
                            log.lock().unwrap().authenticated_allocates += 1;
                        }
                        if given != nonce {
                            error(&m, 438, &nonce)
                        } else if !valid {
                            log.lock().unwrap().bad_integrity += 1;
                            error(&m, 401, &nonce)
                        } else if method == METHOD_ALLOCATE && stale_left > 0 {
                            stale_left -= 1;
                            nonce = format!("{nonce}-fresh");
                            error(&m, 438, &nonce)
                        } else if let (METHOD_ALLOCATE, Mode::Refuse(code)) = (method, mode) {
                            error(&m, code, &nonce)
                        } else if method == METHOD_ALLOCATE {
                            if matches!(mode, Mode::GrantThenStale) {
                                nonce = "nonce-after-allocate".to_owned();
                            }
                            let out = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                            let at = out.local_addr().unwrap();
                            relayed = Some(out.clone());
                            let back = socket.clone();
                            if let Some(f) = forwarder.take() {
                                f.abort();
                            }
                            forwarder = Some(tokio::spawn(async move {
                                let mut buf = vec![0u8; 2048];
                                for _ in 0..5000 {
                                    let Ok((n, from)) = out.recv_from(&mut buf).await else {
                                        return;
                                    };
                                    let data = encode(vec![
                                        Box::new(stun::agent::TransactionId::new()),
                                        Box::new(MessageType::new(METHOD_DATA, CLASS_INDICATION)),
                                        Box::new(Addr(ATTR_XOR_PEER_ADDRESS, from)),
                                        Box::new(Raw(ATTR_DATA, buf[..n].to_vec())),
                                    ]);
                                    let _ = back.send_to(&data, client).await;
                                }
                            }));
                            success(
                                &m,
                                vec![
                                    Box::new(Addr(ATTR_XOR_RELAYED_ADDRESS, at)),
                                    Box::new(Addr(ATTR_XORMAPPED_ADDRESS, client)),
                                    Box::new(Raw(ATTR_LIFETIME, 600u32.to_be_bytes().to_vec())),
                                ],
                            )
                        } else if method == METHOD_CREATE_PERMISSION {
                            if let Some(p) = peer(&m) {
                                permitted.insert(p.ip());
                                log.lock().unwrap().permissions.push(p);
                            }
                            success(&m, vec![])
                        } else if method == METHOD_REFRESH {
                            let lifetime = m
                                .get(ATTR_LIFETIME)
                                .ok()
                                .and_then(|v| {
                                    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
                                })
                                .unwrap_or(600);
                            log.lock().unwrap().refresh_lifetimes.push(lifetime);
                            if lifetime == 0 {
                                relayed = None;
                                if let Some(f) = forwarder.take() {
                                    f.abort();
                                }
                            }
                            success(&m, vec![])
                        } else {
                            error(&m, 400, &nonce)
                        }
                    }
                };
                let _ = socket.send_to(&reply, client).await;
            }
        });
        Server { addr, seen, task }
    }
}

fn credentials(password: &str) -> auth::Credentials {
    auth::Credentials {
        username: turn_server::USER.to_owned(),
        password: password.to_owned(),
        from: "--turn-username and --turn-password".to_owned(),
    }
}

fn with_credentials(budget_ms: u64, sample_ms: u64, password: &str) -> Options {
    let mut o = options(budget_ms, sample_ms);
    o.keyring.any_host = Some(credentials(password));
    o
}

fn find_id<'a>(checks: &'a [Check], prefix: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} check in {checks:#?}"))
}

/// No credential in any text of the checks.
fn assert_no_secret(checks: &[Check]) {
    let text = serde_json::to_string(checks).unwrap();
    assert!(
        !text.contains(turn_server::PASSWORD) && !text.contains(turn_server::USER),
        "{text}"
    );
}

#[tokio::test]
async fn with_credentials_the_relay_is_granted_the_echo_measured_and_the_allocation_freed() {
    let server = turn_server::start(turn_server::Mode::Grant { stale: 0 }).await;
    let checks = check(
        &[target("turnnlb-1.elb.lab.example", server.addr)],
        &with_credentials(2000, 300, turn_server::PASSWORD),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason, auth.kind),
        (Status::Pass, Reason::Ok, Kind::Media),
        "{auth:#?}"
    );
    assert_eq!(auth.evidence["realm"], turn_server::REALM);
    assert_eq!(auth.evidence["freed"], true);
    assert_eq!(auth.evidence["stale_nonce_retried"], false);
    let relayed: SocketAddr = auth.evidence["relayed_address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let echo = find_id(&checks, "relayed/");
    assert_eq!(
        (echo.status, echo.reason),
        (Status::Pass, Reason::Ok),
        "{echo:#?}"
    );
    assert_eq!(echo.evidence["sent"], 15);
    assert_eq!(echo.evidence["received"], 15);
    assert!(
        echo.detail.contains("15 relayed echoes every 20 ms"),
        "{}",
        echo.detail
    );
    let seen = server.seen.lock().unwrap();
    // The echo went through the relay: every Send indication relayed back to the relayed address.
    assert_eq!(seen.permissions, [relayed]);
    assert_eq!(seen.sends, 15);
    assert_eq!(seen.refresh_lifetimes, [0]);
    assert_eq!(seen.bad_integrity, 0);
    drop(seen);
    assert_no_secret(&checks);
}

#[tokio::test]
async fn a_stale_nonce_is_retried_once_with_the_new_nonce_and_twice_is_named() {
    let server = turn_server::start(turn_server::Mode::Grant { stale: 1 }).await;
    let checks = check(
        &[target("stale.lab.example", server.addr)],
        &with_credentials(2000, 0, turn_server::PASSWORD),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Pass, Reason::Ok),
        "{auth:#?}"
    );
    assert_eq!(auth.evidence["stale_nonce_retried"], true);
    assert!(auth.detail.contains("438 Stale Nonce"), "{}", auth.detail);
    assert_eq!(server.seen.lock().unwrap().authenticated_allocates, 2);
    assert!(
        checks.iter().all(|c| !c.id.starts_with("relayed/")),
        "no echo with a zero sample"
    );

    let server = turn_server::start(turn_server::Mode::Grant { stale: 2 }).await;
    let checks = check(
        &[target("stale.lab.example", server.addr)],
        &with_credentials(2000, 0, turn_server::PASSWORD),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Fail, Reason::AllocationFailed),
        "{auth:#?}"
    );
    assert_eq!(auth.evidence["error_code"], 438);
    assert_eq!(auth.evidence["credentials_refused"], false);
    assert!(
        auth.detail.contains("stale again after one retry"),
        "{}",
        auth.detail
    );
    // One retry, not a loop.
    assert_eq!(server.seen.lock().unwrap().authenticated_allocates, 2);
}

#[tokio::test]
async fn wrong_credentials_are_named_as_refused_credentials() {
    let server = turn_server::start(turn_server::Mode::Grant { stale: 0 }).await;
    let wrong = "Not-The-Password";
    let checks = check(
        &[target("turnnlb-1.elb.lab.example", server.addr)],
        &with_credentials(2000, 300, wrong),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Fail, Reason::AllocationFailed),
        "{auth:#?}"
    );
    assert_eq!(auth.evidence["error_code"], 401);
    assert_eq!(auth.evidence["credentials_refused"], true);
    assert_eq!(auth.evidence["realm"], turn_server::REALM);
    assert!(
        auth.detail.contains("refused the credentials")
            && auth.detail.contains("MESSAGE-INTEGRITY")
            && auth.detail.contains("--turn-username and --turn-password"),
        "{}",
        auth.detail
    );
    assert!(auth.remedy.as_deref().unwrap().contains("short-lived"));
    assert_eq!(
        server.seen.lock().unwrap().bad_integrity,
        1,
        "a 401 after integrity is not retried"
    );
    assert!(checks.iter().all(|c| !c.id.starts_with("relayed/")));
    // The unauthenticated checks still pass: the path is not blamed.
    assert_eq!(find(&checks, Kind::Turn).reason, Reason::AuthChallenge);
    let text = serde_json::to_string(&checks).unwrap();
    assert!(!text.contains(wrong), "{text}");
    assert_no_secret(&checks);
}

#[tokio::test]
async fn the_call_is_placed_only_through_a_relay_that_granted_the_allocation() {
    let server = turn_server::start(turn_server::Mode::Grant { stale: 0 }).await;
    let targets = [target("turnnlb-1.elb.lab.example", server.addr)];
    let mut opts = with_credentials(2000, 300, "Not-The-Password");
    let checks = check(&targets, &opts).await;
    assert!(
        checks.iter().all(|c| !c.id.starts_with("call/")),
        "{checks:#?}"
    );
    opts.call = true;
    let checks = check(&targets, &opts).await;
    let call = find_id(&checks, "call/");
    assert_eq!(
        (call.status, call.reason),
        (Status::Skip, Reason::NotTested)
    );
    assert!(
        call.detail
            .contains("no relay granted the authenticated allocation"),
        "{}",
        call.detail
    );
    assert_no_secret(&checks);
}

#[tokio::test]
async fn quota_and_capacity_codes_are_named() {
    for (code, words) in [
        (486, "allocation quota"),
        (508, "out of capacity"),
        (403, "forbids"),
    ] {
        let server = turn_server::start(turn_server::Mode::Refuse(code)).await;
        let checks = check(
            &[target("full.lab.example", server.addr)],
            &with_credentials(2000, 300, turn_server::PASSWORD),
        )
        .await;
        let auth = find_id(&checks, "turn-auth/");
        assert_eq!(
            (auth.status, auth.reason),
            (Status::Fail, Reason::AllocationFailed),
            "{auth:#?}"
        );
        assert_eq!(auth.evidence["error_code"], code);
        assert_eq!(auth.evidence["credentials_refused"], false);
        assert!(
            auth.detail.contains(&code.to_string()) && auth.detail.contains(words),
            "{code}: {}",
            auth.detail
        );
        assert!(auth.remedy.is_some());
    }
}

#[tokio::test]
async fn silence_to_authenticated_requests_is_a_bounded_timeout() {
    let server = turn_server::start(turn_server::Mode::SilentWithCredentials).await;
    let started = std::time::Instant::now();
    let checks = check(
        &[target("quiet.lab.example", server.addr)],
        &with_credentials(1600, 0, turn_server::PASSWORD),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(4000),
        "took {:?}",
        started.elapsed()
    );
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Fail, Reason::Timeout),
        "{auth:#?}"
    );
    assert!(
        auth.detail.contains("after 3 tries")
            && auth.detail.contains("answered without credentials"),
        "{}",
        auth.detail
    );

    // A relay silent to everything is not tried with credentials at all.
    let server = turn_server::start(turn_server::Mode::Silent).await;
    let checks = check(
        &[target("gone.lab.example", server.addr)],
        &with_credentials(1000, 300, turn_server::PASSWORD),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Skip, Reason::NotTested),
        "{auth:#?}"
    );
    assert_eq!(server.seen.lock().unwrap().authenticated_allocates, 0);

    // Straight to the authenticated exchange: the budget bounds it.
    let started = std::time::Instant::now();
    let r = auth::relayed(
        &target("gone.lab.example", server.addr),
        &credentials(turn_server::PASSWORD),
        Duration::from_millis(700),
        Duration::from_millis(300),
        PACKET_INTERVAL,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            r.allocation,
            Err(auth::Failure::NoAnswer { attempts: 2, .. })
        ),
        "{:?}",
        r.allocation
    );
    assert!(r.train.is_none() && !r.freed);
}

#[tokio::test]
async fn credentials_of_an_ice_server_go_only_to_its_host() {
    let server = turn_server::start(turn_server::Mode::Grant { stale: 0 }).await;
    let mut opts = options(2000, 0);
    opts.keyring.by_host.push((
        "other.lab.example".to_owned(),
        credentials(turn_server::PASSWORD),
    ));
    let checks = check(&[target("turnnlb-1.elb.lab.example", server.addr)], &opts).await;
    assert!(
        checks.iter().all(|c| !c.id.starts_with("turn-auth/")),
        "{checks:#?}"
    );
    opts.keyring.by_host[0].0 = "TurnNlb-1.elb.lab.example".to_owned();
    let checks = check(&[target("turnnlb-1.elb.lab.example", server.addr)], &opts).await;
    assert_eq!(find_id(&checks, "turn-auth/").status, Status::Pass);
}

#[tokio::test]
async fn a_nonce_gone_stale_after_the_allocation_is_renewed_for_the_permission_and_refresh() {
    let server = turn_server::start(turn_server::Mode::GrantThenStale).await;
    let checks = check(
        &[target("turnnlb-1.elb.lab.example", server.addr)],
        &with_credentials(2000, 200, turn_server::PASSWORD),
    )
    .await;
    let auth = find_id(&checks, "turn-auth/");
    assert_eq!(
        (auth.status, auth.reason),
        (Status::Pass, Reason::Ok),
        "{auth:#?}"
    );
    assert_eq!(auth.evidence["stale_nonce_retried"], true);
    assert_eq!(auth.evidence["freed"], true);
    assert_eq!(find_id(&checks, "relayed/").status, Status::Pass);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.permissions.len(), 1);
    assert_eq!(seen.refresh_lifetimes, [0]);
}

/// A relay name with an IPv4 address that answers and an IPv6 address that nothing answers on
/// (a closed UDP port on ::1: ICMP port unreachable): the browser relays over IPv4, so the IPv6
/// failures are warnings naming the family.
#[tokio::test]
async fn a_broken_address_family_is_a_warning_when_the_other_family_relays() {
    let r = relay(Mode::Relay {
        allocate: AllocateAnswer::Challenge { nonce: true },
        delay: Duration::ZERO,
        ignore_binding: false,
    })
    .await;
    let Ok(closed) = std::net::UdpSocket::bind("[::1]:0") else {
        println!("SKIP: no IPv6 loopback here");
        return;
    };
    let v6 = closed.local_addr().unwrap();
    drop(closed);
    let checks = check(
        &[
            target("dual.lab.example", r.addr),
            target("dual.lab.example", v6),
        ],
        &options(1000, 200),
    )
    .await;
    let turn6 = checks
        .iter()
        .find(|c| c.id == format!("turn/dual.lab.example/{}", v6.ip()))
        .unwrap();
    assert_eq!(
        (turn6.status, turn6.reason),
        (Status::Warn, Reason::Unreachable),
        "{turn6:#?}"
    );
    assert!(
        turn6.detail.starts_with(
            "IPv6 to TURN is refused (ICMP unreachable) (::1); the softphone uses IPv4"
        ),
        "{}",
        turn6.detail
    );
    let turn4 = checks
        .iter()
        .find(|c| c.id == format!("turn/dual.lab.example/{}", r.addr.ip()))
        .unwrap();
    assert_eq!(turn4.status, Status::Pass);
}
