//! The media sample's own costs, on loopback: three relays that hold each reply for a known delay
//! (and log what they really applied), sampled in parallel for N seconds.
//!
//! Targets: the whole check finishes within N + 0.5 s; the process's CPU stays under 5 % of a
//! core (an upper bound: the relays run in the same process); the measured RTT is within 1 ms of
//! the delay the relays applied. Run: `cargo bench --bench media [-- SECONDS DELAY_MS]`.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connect_preflight::media::{self, relay::Target};
use stun::attributes::{ATTR_NONCE, ATTR_REALM};
use stun::error_code::{CODE_UNAUTHORIZED, ErrorCodeAttribute};
use stun::message::{
    BINDING_SUCCESS, CLASS_ERROR_RESPONSE, METHOD_ALLOCATE, METHOD_BINDING, Message, MessageType,
    Setter,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;

/// Total microseconds of delay applied and the number of replies, per relay.
#[derive(Default)]
struct Applied {
    micros: AtomicU64,
    replies: AtomicU64,
}

async fn relay(delay: Duration, applied: Arc<Applied>) -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let received = Instant::now();
            let mut m = Message::new();
            if m.unmarshal_binary(&buf[..n]).is_err() {
                continue;
            }
            let id = m.transaction_id;
            let setters: Vec<Box<dyn Setter>> = if m.typ.method == METHOD_BINDING {
                vec![
                    Box::new(id),
                    Box::new(BINDING_SUCCESS),
                    Box::new(XorMappedAddress {
                        ip: peer.ip(),
                        port: peer.port(),
                    }),
                ]
            } else if m.typ.method == METHOD_ALLOCATE {
                vec![
                    Box::new(id),
                    Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
                    Box::new(ErrorCodeAttribute {
                        code: CODE_UNAUTHORIZED,
                        reason: b"Unauthorized".to_vec(),
                    }),
                    Box::new(TextAttribute::new(ATTR_REALM, "bench".into())),
                    Box::new(TextAttribute::new(ATTR_NONCE, "n".into())),
                ]
            } else {
                continue;
            };
            let mut out = Message::new();
            if out.build(&setters).is_err() {
                continue;
            }
            let (socket, applied) = (socket.clone(), applied.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until((received + delay).into()).await;
                let held = received.elapsed();
                let _ = socket.send_to(&out.raw, peer).await;
                applied.micros.fetch_add(
                    u64::try_from(held.as_micros()).unwrap_or(0),
                    Ordering::Relaxed,
                );
                applied.replies.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    addr
}

/// User plus system CPU time of this process, from /proc (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let delay_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let applied: Vec<Arc<Applied>> = (0..3).map(|_| Arc::new(Applied::default())).collect();
        let mut targets = Vec::new();
        for (i, a) in applied.iter().enumerate() {
            let addr = relay(Duration::from_millis(delay_ms), a.clone()).await;
            targets.push(Target { host: format!("relay-{i}.bench"), addr });
        }
        let options = media::Options { sample: Duration::from_secs(seconds), ..media::Options::default() };
        let cpu_before = cpu_time();
        let started = Instant::now();
        let checks = media::check(&targets, &options).await;
        let wall = started.elapsed();
        let cpu = cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));

        println!("3 relays, {seconds} s sample each, {delay_ms} ms delay applied by the relays");
        let limit = Duration::from_secs(seconds) + Duration::from_millis(500);
        println!("  wall time      {:.3} s (target <= {:.1} s) {}", wall.as_secs_f64(), limit.as_secs_f64(), if wall <= limit { "ok" } else { "OVER" });
        if let Some(cpu) = cpu {
            let share = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
            println!("  process CPU    {:.2} s = {share:.1} % of a core (target < 5 %, relays included) {}", cpu.as_secs_f64(), if share < 5.0 { "ok" } else { "OVER" });
        }
        for (check, a) in checks.iter().filter(|c| c.id.starts_with("media/")).zip(&applied) {
            let measured = check.evidence["rtt_ms"].as_f64().unwrap_or(f64::NAN);
            let replies = a.replies.load(Ordering::Relaxed).max(1);
            let held = a.micros.load(Ordering::Relaxed) as f64 / replies as f64 / 1000.0;
            let error = measured - held;
            println!(
                "  {}  measured RTT {measured:.3} ms, applied {held:.3} ms, error {error:+.3} ms (target < 1 ms) {}; loss {} %, jitter {} ms",
                check.host.as_deref().unwrap_or("?"),
                if error.abs() < 1.0 { "ok" } else { "OVER" },
                check.evidence["loss_pct"],
                check.evidence["jitter_ms"]
            );
        }
    });
}
