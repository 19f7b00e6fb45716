//! One STUN/TURN transaction over UDP, written once for every media caller (the unauthenticated
//! probe, the authenticated relay test and the call's diagnosis): send, retransmit on RFC 8489's
//! timers (§6.2.1: the first retransmission after 500 ms, the interval doubling each time), match
//! the answer by transaction ID, and never wait past the deadline.
//!
//! Several requests may share one socket and run at once (the probe sends its Binding and its
//! Allocate together); each keeps its own timer. What counts as an answer is the caller's to say:
//! `read` turns a datagram into the transaction ID it answers and the caller's reading of it, or
//! says why it is not an answer (a stray).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::message::MAX_DATAGRAM;

/// RFC 8489 §6.2.1: the first retransmission after 500 ms, doubling each time.
pub(crate) const INITIAL_RTO: Duration = Duration::from_millis(500);

/// How the socket reaches the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A connected socket: the kernel drops datagrams from any other address and reports ICMP
    /// errors ("unreachable") on the socket.
    Connected,
    /// An unconnected socket, sending to this address; datagrams from any other are ignored.
    At(SocketAddr),
}

/// When to send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retransmit {
    /// The wait after the first transmission; each later wait doubles.
    pub(crate) initial_rto: Duration,
    /// The number of transmissions at most (RFC 8489's Rc is 7); `None`: until the deadline.
    pub(crate) max_sends: Option<u32>,
}

impl Retransmit {
    /// RFC 8489's timers, retransmitting until the deadline.
    pub(crate) const UNTIL_DEADLINE: Self = Self {
        initial_rto: INITIAL_RTO,
        max_sends: None,
    };

    /// RFC 8489's timers and its seven transmissions at most.
    #[cfg(feature = "webrtc-call")]
    pub(crate) const RFC_8489: Self = Self {
        initial_rto: INITIAL_RTO,
        max_sends: Some(7),
    };
}

/// One request: its transaction ID and the bytes on the wire.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) id: [u8; 12],
    pub(crate) bytes: Vec<u8>,
}

/// How one request fared.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<R> {
    Answered {
        reply: R,
        /// From the last transmission to the answer.
        rtt: Duration,
        attempts: u32,
    },
    /// No valid answer within the deadline (or the transmissions allowed).
    Timeout { attempts: u32, waited: Duration },
    /// The network answered "unreachable" (ICMP): a firewall reject rule, or no route.
    Unreachable {
        kind: io::ErrorKind,
        after: Duration,
        /// The operating system's own words.
        error: String,
    },
    /// The socket itself failed.
    Failed { error: String },
}

impl<R> Outcome<R> {
    pub(crate) const fn answered(&self) -> bool {
        matches!(self, Self::Answered { .. })
    }
}

/// The outcomes, in the order of the requests, and the datagrams that answered none of them.
#[derive(Clone, Debug)]
pub(crate) struct Exchanged<R> {
    pub(crate) outcomes: Vec<Outcome<R>>,
    pub(crate) stray: u32,
    /// What the last stray datagram was.
    pub(crate) last_stray: Option<String>,
}

/// The error kinds that mean the network refused or has no route, as opposed to a failing socket.
pub(crate) fn is_unreachable(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::AddrNotAvailable
    )
}

/// An unspecified local address of `addr`'s family, port 0.
pub(crate) fn any_local(addr: SocketAddr) -> SocketAddr {
    if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}

/// The outcome of an error on the socket, `after` the start.
pub(crate) fn socket_error<R>(e: &io::Error, after: Duration) -> Outcome<R> {
    if is_unreachable(e.kind()) {
        Outcome::Unreachable {
            kind: e.kind(),
            after,
            error: e.to_string(),
        }
    } else {
        Outcome::Failed {
            error: e.to_string(),
        }
    }
}

struct Pending<R> {
    attempts: u32,
    last_sent: Instant,
    next_send: Instant,
    rto: Duration,
    outcome: Option<Outcome<R>>,
}

/// Runs `requests` at once on `socket` until each is answered, fails, or the deadline (or the
/// transmissions allowed) passes. Every request is sent at least once.
pub(crate) async fn run<R>(
    socket: &UdpSocket,
    peer: Peer,
    requests: &[Request],
    retransmit: Retransmit,
    deadline: Instant,
    mut read: impl FnMut(&[u8]) -> Result<([u8; 12], R), String>,
) -> Exchanged<R> {
    let start = Instant::now();
    let mut pending: Vec<Pending<R>> = requests
        .iter()
        .map(|_| Pending {
            attempts: 0,
            last_sent: start,
            next_send: start,
            rto: retransmit.initial_rto,
            outcome: None,
        })
        .collect();
    let mut stray = 0;
    let mut last_stray = None;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let now = Instant::now();
        for (p, request) in pending.iter_mut().zip(requests) {
            if p.outcome.is_some() || p.next_send > now {
                continue;
            }
            if retransmit.max_sends.is_some_and(|max| p.attempts >= max) {
                p.outcome = Some(Outcome::Timeout {
                    attempts: p.attempts,
                    waited: start.elapsed(),
                });
                continue;
            }
            let sent = match peer {
                Peer::Connected => socket.send(&request.bytes).await,
                Peer::At(addr) => socket.send_to(&request.bytes, addr).await,
            };
            match sent {
                Ok(_) => {
                    p.attempts += 1;
                    p.last_sent = now;
                    p.next_send = now + p.rto;
                    p.rto *= 2;
                }
                Err(e) => p.outcome = Some(socket_error(&e, start.elapsed())),
            }
        }
        if pending.iter().all(|p| p.outcome.is_some()) {
            break;
        }
        let wake = pending
            .iter()
            .filter(|p| p.outcome.is_none())
            .map(|p| p.next_send)
            .min()
            .unwrap_or(deadline)
            .min(deadline);
        let received = match peer {
            Peer::Connected => tokio::time::timeout_at(wake, socket.recv(&mut buf))
                .await
                .map(|r| r.map(|n| (n, true))),
            Peer::At(addr) => tokio::time::timeout_at(wake, socket.recv_from(&mut buf))
                .await
                .map(|r| r.map(|(n, from)| (n, from == addr))),
        };
        match received {
            Err(_) if Instant::now() >= deadline => break,
            Err(_) | Ok(Ok((_, false))) => {}
            Ok(Ok((n, true))) if n > MAX_DATAGRAM => {
                stray += 1;
                last_stray = Some(format!(
                    "an oversized datagram of more than {MAX_DATAGRAM} bytes"
                ));
            }
            Ok(Ok((n, true))) => match read(&buf[..n]) {
                Ok((id, reply)) => match pending
                    .iter_mut()
                    .zip(requests)
                    .find(|(p, r)| r.id == id && p.outcome.is_none())
                {
                    Some((p, _)) => {
                        p.outcome = Some(Outcome::Answered {
                            reply,
                            rtt: Instant::now() - p.last_sent,
                            attempts: p.attempts,
                        });
                    }
                    None => {
                        stray += 1;
                        last_stray =
                            Some("a reply with a transaction ID we did not send".to_owned());
                    }
                },
                Err(what) => {
                    stray += 1;
                    last_stray = Some(what);
                }
            },
            Ok(Err(e)) => {
                // An error on the socket ends every request still waiting.
                let after = start.elapsed();
                for p in pending.iter_mut().filter(|p| p.outcome.is_none()) {
                    p.outcome = Some(socket_error(&e, after));
                }
            }
        }
        if pending.iter().all(|p| p.outcome.is_some()) || Instant::now() >= deadline {
            break;
        }
    }
    let outcomes = pending
        .into_iter()
        .map(|p| {
            p.outcome.unwrap_or(Outcome::Timeout {
                attempts: p.attempts,
                waited: start.elapsed(),
            })
        })
        .collect();
    Exchanged {
        outcomes,
        stray,
        last_stray,
    }
}

/// One request: [`run`] with a single transaction.
pub(crate) async fn one<R>(
    socket: &UdpSocket,
    peer: Peer,
    request: Request,
    retransmit: Retransmit,
    deadline: Instant,
    read: impl FnMut(&[u8]) -> Result<([u8; 12], R), String>,
) -> Outcome<R> {
    run(
        socket,
        peer,
        std::slice::from_ref(&request),
        retransmit,
        deadline,
        read,
    )
    .await
    .outcomes
    .pop()
    .unwrap_or(Outcome::Timeout {
        attempts: 0,
        waited: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A request whose bytes are its ID; the answer echoes the ID and says "ok".
    fn request(n: u8) -> Request {
        Request {
            id: [n; 12],
            bytes: vec![n; 12],
        }
    }

    fn read(bytes: &[u8]) -> Result<([u8; 12], String), String> {
        let id: [u8; 12] = bytes
            .get(..12)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "a runt".to_owned())?;
        Ok((id, String::from_utf8_lossy(&bytes[12..]).into_owned()))
    }

    const FAST: Retransmit = Retransmit {
        initial_rto: Duration::from_millis(40),
        max_sends: None,
    };

    /// A loopback peer that drops the first `drop` datagrams of each ID, answers the rest with
    /// `prefix` (sent first, a stray) and the echo, and counts what it received.
    async fn peer(drop: u32, prefix: Option<Vec<u8>>) -> (SocketAddr, Arc<AtomicU32>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(AtomicU32::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::HashMap::<u8, u32>::new();
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::SeqCst);
                let tries = seen.entry(buf[0]).or_default();
                *tries += 1;
                if *tries <= drop {
                    continue;
                }
                if let Some(p) = &prefix {
                    let _ = socket.send_to(p, from).await;
                }
                let mut answer = buf[..n].to_vec();
                answer.extend_from_slice(b"ok");
                let _ = socket.send_to(&answer, from).await;
            }
        });
        (addr, received)
    }

    async fn connected(addr: SocketAddr) -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(addr).await.unwrap();
        socket
    }

    #[tokio::test]
    async fn a_lost_request_is_sent_again_on_doubling_timers_and_answered() {
        let (addr, received) = peer(2, None).await;
        let socket = connected(addr).await;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let outcome = one(&socket, Peer::Connected, request(1), FAST, deadline, read).await;
        let Outcome::Answered {
            reply,
            rtt,
            attempts,
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!((reply.as_str(), attempts), ("ok", 3));
        // Sent at 0, 40 and 120 ms: the third answered, and its round trip counts from its own
        // transmission.
        assert!(started.elapsed() >= Duration::from_millis(120));
        assert!(rtt < Duration::from_millis(40), "{rtt:?}");
        assert_eq!(received.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn two_requests_share_a_socket_and_strays_are_counted() {
        let mut stray = vec![9u8; 12];
        stray.extend_from_slice(b"late");
        let (addr, _) = peer(0, Some(stray)).await;
        let socket = connected(addr).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let done = run(
            &socket,
            Peer::Connected,
            &[request(1), request(2)],
            FAST,
            deadline,
            read,
        )
        .await;
        assert!(done.outcomes.iter().all(Outcome::answered), "{done:?}");
        assert!(done.stray >= 1, "{done:?}");
        assert_eq!(
            done.last_stray.as_deref(),
            Some("a reply with a transaction ID we did not send")
        );
    }

    #[tokio::test]
    async fn silence_ends_at_the_deadline_with_the_transmissions_counted() {
        let (addr, received) = peer(u32::MAX, None).await;
        let socket = connected(addr).await;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let outcome = one(&socket, Peer::Connected, request(1), FAST, deadline, read).await;
        let elapsed = started.elapsed();
        // Sent at 0, 40, 120 and 280 ms; the next would be at 600.
        assert!(
            matches!(outcome, Outcome::Timeout { attempts: 4, .. }),
            "{outcome:?}"
        );
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(600));
        assert_eq!(received.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_cap_on_transmissions_ends_before_the_deadline() {
        let (addr, received) = peer(u32::MAX, None).await;
        let socket = connected(addr).await;
        let started = Instant::now();
        let capped = Retransmit {
            max_sends: Some(2),
            ..FAST
        };
        let outcome = one(
            &socket,
            Peer::Connected,
            request(1),
            capped,
            started + Duration::from_secs(5),
            read,
        )
        .await;
        // Sent at 0 and 40 ms, then the second wait (80 ms) runs out.
        assert!(
            matches!(outcome, Outcome::Timeout { attempts: 2, .. }),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(received.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unconnected_socket_ignores_other_senders() {
        let (addr, _) = peer(0, None).await;
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let intruder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut forged = vec![1u8; 12];
        forged.extend_from_slice(b"forged");
        intruder.send_to(&forged, local).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = one(&socket, Peer::At(addr), request(1), FAST, deadline, read).await;
        assert!(
            matches!(&outcome, Outcome::Answered { reply, .. } if reply == "ok"),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_not_a_timeout() {
        // Bind, learn the port, close: nothing listens there.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let socket = connected(addr).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = one(&socket, Peer::Connected, request(1), FAST, deadline, read).await;
        assert!(
            matches!(
                outcome,
                Outcome::Unreachable {
                    kind: io::ErrorKind::ConnectionRefused,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
}
