//! Talking to one TURN relay over UDP: a Binding and an unauthenticated Allocate with RFC 8489
//! retransmissions inside the softphone's own ICE budget, and a 20 ms train of Bindings that
//! measures the path.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

use super::message::{self, MAX_DATAGRAM, Reply, Request};
use super::stats::Sample;

use super::transaction::{self, Outcome, Peer, Retransmit};

/// Where a relay is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The host name, as the catalog gives it.
    pub host: String,
    pub addr: SocketAddr,
}

/// How one request fared.
pub type Exchange = Outcome<Reply>;

/// The outcome of probing one relay.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    pub target: Target,
    pub local: Option<SocketAddr>,
    pub binding: Exchange,
    pub allocate: Exchange,
    /// Datagrams that were not a valid answer to our requests, and what the last one was.
    pub stray: u32,
    pub last_stray: Option<String>,
}

async fn connected_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(transaction::any_local(addr)).await?;
    // Connected: the kernel drops datagrams from any other address, and reports ICMP errors.
    socket.connect(addr).await?;
    Ok(socket)
}

/// Sends a Binding and an unauthenticated Allocate together and waits, retransmitting, until both
/// are answered or `budget` is spent.
pub(crate) async fn probe(target: &Target, budget: Duration) -> Probe {
    let start = Instant::now();
    let deadline = start + budget;
    let mut probe = Probe {
        target: target.clone(),
        local: None,
        binding: Exchange::Timeout {
            attempts: 0,
            waited: Duration::ZERO,
        },
        allocate: Exchange::Timeout {
            attempts: 0,
            waited: Duration::ZERO,
        },
        stray: 0,
        last_stray: None,
    };
    let socket = match connected_socket(target.addr).await {
        Ok(s) => s,
        Err(e) => {
            probe.binding = transaction::socket_error(&e, start.elapsed());
            probe.allocate = probe.binding.clone();
            return probe;
        }
    };
    probe.local = socket.local_addr().ok();
    let requests: Vec<transaction::Request> = [Request::Binding, Request::Allocate]
        .into_iter()
        .map(|request| {
            let id = message::new_id();
            let bytes = match request {
                Request::Binding => message::binding(id),
                Request::Allocate => message::allocate(id),
            };
            transaction::Request { id, bytes }
        })
        .collect();
    let done = transaction::run(
        &socket,
        Peer::Connected,
        &requests,
        Retransmit::UNTIL_DEADLINE,
        deadline,
        |bytes| message::parse(bytes).map_err(|message::Malformed(what)| what),
    )
    .await;
    probe.stray = done.stray;
    probe.last_stray = done.last_stray;
    let mut outcomes = done.outcomes.into_iter();
    if let (Some(binding), Some(allocate)) = (outcomes.next(), outcomes.next()) {
        probe.binding = binding;
        probe.allocate = allocate;
    }
    probe
}

/// What a sample train measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Train {
    pub samples: Vec<Sample>,
    /// Indexes of `samples` in the order their replies arrived.
    pub arrival_order: Vec<usize>,
    /// The train stopped because nothing answered.
    pub stopped_early: bool,
    pub stray: u32,
    pub error: Option<String>,
}

/// The pacing of a sample train, shared by the Binding train and the relayed echo: how many
/// requests, when silence stops the train, the samples sent, and how long late replies count.
pub(crate) struct Pacing {
    count: usize,
    silence_limit: usize,
    start: Instant,
    sent_at: Vec<Instant>,
    max_rtt: Duration,
    end: Option<Instant>,
}

impl Pacing {
    /// One request every `interval` for `duration` (at least one); silence gives up after the
    /// first second's requests (at least five).
    pub(crate) fn new(duration: Duration, interval: Duration) -> Self {
        let every = interval.as_millis().max(1);
        let count = usize::try_from(duration.as_millis() / every)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            count,
            silence_limit: usize::try_from(1000 / every).unwrap_or(50).max(5),
            start: Instant::now(),
            sent_at: Vec::with_capacity(count),
            max_rtt: Duration::ZERO,
            end: None,
        }
    }

    /// A ticker for `interval` that never bunches: a late tick is delayed.
    pub(crate) fn ticker(interval: Duration) -> tokio::time::Interval {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker
    }

    /// Whether a request is still due.
    pub(crate) fn wants_more(&self) -> bool {
        self.sent_at.len() < self.count
    }

    /// The number of the next request (its index in the train's samples).
    pub(crate) fn next(&self) -> usize {
        self.sent_at.len()
    }

    /// Nothing answered the first second's requests: the train should stop.
    pub(crate) fn silent(&self, train: &Train) -> bool {
        train.arrival_order.is_empty() && self.sent_at.len() >= self.silence_limit
    }

    /// Records a request sent `now`. After the last one, late replies count for twice the
    /// slowest round trip so far, within 100 to 450 ms.
    pub(crate) fn sent(&mut self, train: &mut Train, now: Instant) {
        train.samples.push(Sample {
            sent_ms: (now - self.start).as_secs_f64() * 1000.0,
            rtt_ms: None,
        });
        self.sent_at.push(now);
        if self.sent_at.len() == self.count {
            let grace =
                (self.max_rtt * 2).clamp(Duration::from_millis(100), Duration::from_millis(450));
            self.end = Some(now + grace);
        }
    }

    /// Records the reply to request `i`; a reply to no request, or to one already answered, is
    /// a stray.
    pub(crate) fn answered(&mut self, train: &mut Train, i: Option<usize>) {
        match i {
            Some(i) if i < self.sent_at.len() && train.samples[i].rtt_ms.is_none() => {
                let rtt = Instant::now() - self.sent_at[i];
                self.max_rtt = self.max_rtt.max(rtt);
                train.samples[i].rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                train.arrival_order.push(i);
            }
            _ => train.stray += 1,
        }
    }

    /// When late replies stop counting, once the last request is sent.
    pub(crate) fn end(&self) -> Option<Instant> {
        self.end
    }

    /// Every request is sent and answered.
    pub(crate) fn complete(&self, train: &Train) -> bool {
        self.end.is_some() && train.arrival_order.len() == self.sent_at.len()
    }
}

/// Sends a Binding every `interval` for `duration` (never faster: a late tick is delayed, not
/// bunched), matching replies by transaction ID. Stops early when the first second goes unanswered.
pub(crate) async fn sample(target: &Target, duration: Duration, interval: Duration) -> Train {
    let mut train = Train::default();
    let socket = match connected_socket(target.addr).await {
        Ok(s) => s,
        Err(e) => {
            train.error = Some(e.to_string());
            return train;
        }
    };
    let mut pacing = Pacing::new(duration, interval);
    let mut ids: HashMap<[u8; 12], usize> = HashMap::new();
    let mut ticker = Pacing::ticker(interval);
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let grace_over = pacing.end().map(tokio::time::sleep_until);
        tokio::select! {
            _ = ticker.tick(), if pacing.wants_more() => {
                if pacing.silent(&train) {
                    train.stopped_early = true;
                    break;
                }
                let id = message::new_id();
                let now = Instant::now();
                if let Err(e) = socket.send(&message::binding(id)).await {
                    train.error = Some(e.to_string());
                    break;
                }
                ids.insert(id, pacing.next());
                pacing.sent(&mut train, now);
            }
            received = socket.recv(&mut buf) => match received {
                Ok(n) if n <= MAX_DATAGRAM => match message::parse(&buf[..n]) {
                    Ok((id, Reply::BindingSuccess { .. })) => {
                        pacing.answered(&mut train, ids.get(&id).copied());
                    }
                    _ => train.stray += 1,
                },
                Ok(_) => train.stray += 1,
                Err(e) => {
                    train.error = Some(e.to_string());
                    break;
                }
            },
            () = async { if let Some(s) = grace_over { s.await } else { std::future::pending().await } } => break,
        }
        if pacing.complete(&train) {
            break;
        }
    }
    train
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_counts_requests_replies_and_strays() {
        let mut pacing = Pacing::new(Duration::from_millis(100), Duration::from_millis(20));
        let mut train = Train::default();
        for _ in 0..5 {
            assert!(pacing.wants_more() && !pacing.silent(&train));
            pacing.sent(&mut train, Instant::now());
        }
        assert!(!pacing.wants_more());
        assert_eq!(train.samples.len(), 5);
        // Five requests, the first second not over: not yet silent, and waiting for replies.
        let end = pacing
            .end()
            .expect("late replies are awaited after the last request");
        assert!(end - Instant::now() <= Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(30));
        pacing.answered(&mut train, Some(3));
        pacing.answered(&mut train, Some(3));
        pacing.answered(&mut train, Some(9));
        pacing.answered(&mut train, None);
        assert_eq!(train.arrival_order, [3]);
        assert_eq!(train.stray, 3);
        assert!(
            train.samples[3].rtt_ms.is_some_and(|ms| ms >= 30.0),
            "{train:?}"
        );
        assert!(!pacing.complete(&train));
        for i in [0, 1, 2, 4] {
            pacing.answered(&mut train, Some(i));
        }
        assert!(pacing.complete(&train));
    }

    #[test]
    fn pacing_gives_up_after_a_silent_second() {
        let mut pacing = Pacing::new(Duration::from_secs(3), Duration::from_millis(20));
        let mut train = Train::default();
        for _ in 0..50 {
            assert!(!pacing.silent(&train));
            pacing.sent(&mut train, Instant::now());
        }
        assert!(pacing.silent(&train));
        assert!(pacing.wants_more());
    }
}
