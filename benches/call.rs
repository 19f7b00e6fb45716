//! The relay-only WebRTC call's own costs, on loopback: a TURN server (the `turn` crate's) in this
//! process, and N calls of S seconds through it, one after the other.
//!
//! Reported: the time to set a call up (two relay allocations, ICE, DTLS), the whole call against
//! S, the process's CPU (an upper bound: the relay and both peers run in this process), and the
//! figures. Targets: setup within the softphone's 8-second ICE budget, CPU under 25 % of a core.
//! Run: `cargo bench --bench call [-- CALLS SECONDS]`.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_preflight::media::call::{CallServer, relay_call};
use tokio::net::UdpSocket;
use webrtc::turn::auth::{AuthHandler, generate_auth_key};
use webrtc::turn::relay::relay_static::RelayAddressGeneratorStatic;
use webrtc::turn::server::Server;
use webrtc::turn::server::config::{ConnConfig, ServerConfig};
use webrtc::util::vnet::net::Net;

struct OneUser;

impl AuthHandler for OneUser {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, webrtc::turn::Error> {
        if username == "bench" {
            Ok(generate_auth_key(username, realm, "bench"))
        } else {
            Err(webrtc::turn::Error::ErrNoSuchUser)
        }
    }
}

/// User plus system CPU time of this process, from /proc (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 a second).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let calls: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let sample = Duration::from_secs(seconds);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("a loopback port"));
        let addr = conn.local_addr().expect("its address");
        let turn = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn,
                relay_addr_generator: Box::new(RelayAddressGeneratorStatic {
                    relay_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    address: "127.0.0.1".to_owned(),
                    net: Arc::new(Net::new(None)),
                }),
            }],
            realm: "bench.test".to_owned(),
            auth_handler: Arc::new(OneUser),
            channel_bind_timeout: Duration::ZERO,
            alloc_close_notify: None,
        })
        .await
        .expect("a TURN server");
        let server = CallServer {
            url: format!("turn:{addr}?transport=udp"),
            username: "bench".to_owned(),
            credential: "bench".to_owned(),
        };
        println!("{calls} relay-only calls of {seconds} s through a TURN server on {addr}");
        for i in 1..=calls {
            let cpu_before = cpu_time();
            let started = Instant::now();
            let result = relay_call(&server, sample, sample + Duration::from_secs(10)).await;
            let wall = started.elapsed();
            let cpu = cpu_time()
                .zip(cpu_before)
                .map(|(after, before)| after.saturating_sub(before));
            match result {
                Ok(f) => {
                    let share = cpu.map_or(f64::NAN, |c| 100.0 * c.as_secs_f64() / wall.as_secs_f64());
                    println!(
                        "  call {i}: setup {:.0} ms (target < 8000 {}), whole call {:.2} s, CPU {share:.1} % of a core (target < 25 % {})",
                        f.setup.as_secs_f64() * 1e3,
                        if f.setup < Duration::from_secs(8) { "ok" } else { "OVER" },
                        wall.as_secs_f64(),
                        if share < 25.0 { "ok" } else { "OVER" },
                    );
                    println!(
                        "          {}/{} packets, loss {:.1} %, jitter {:.2} ms (RTCP {:?}), RTT {:?} ms over {} reports, MOS {:?}",
                        f.packets_received,
                        f.packets_sent,
                        f.loss_pct,
                        f.jitter_ms,
                        f.rtcp_jitter_ms,
                        f.rtcp_rtt_ms,
                        f.rtcp_rtt_measurements,
                        f.mos
                    );
                }
                Err(e) => println!("  call {i}: FAILED after {:.2} s: {e}", wall.as_secs_f64()),
            }
        }
        let _ = turn.close().await;
    });
}
