//! A userspace delay line for UDP (these kernels have no netem): it listens on the edge, forwards
//! every datagram to the relay behind it and the replies back, holding each one for
//! `delay ± jitter` (uniform), and logs what it really held each for, so scenarios compare the
//! product's figures with what the path did rather than with what was asked for.
//!
//! Log lines: `up|down CLIENT SEQUENCE TRANSACTION_ID HOLD_US`: the client's address and port, the
//! datagram's number in order of arrival at the line, the STUN transaction ID in hex or `-`, and
//! the hold in microseconds. Lines are written as datagrams leave, so jitter reorders them.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

/// The line never outlives this, whatever happens to the lab.
const LIFETIME: Duration = Duration::from_secs(300);

/// xorshift64*: enough randomness for hold times, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[delay - jitter, delay + jitter]` microseconds.
    fn hold(&mut self, delay_us: u64, jitter_us: u64) -> Duration {
        let span = 2 * jitter_us + 1;
        let offset = self.next() % span;
        Duration::from_micros((delay_us + offset).saturating_sub(jitter_us))
    }
}

struct Line {
    arrivals: std::sync::atomic::AtomicU64,
    delay_us: u64,
    jitter_us: u64,
    rng: Mutex<Rng>,
    log: Mutex<std::fs::File>,
}

impl Line {
    fn draw(&self) -> Duration {
        self.rng
            .lock()
            .expect("not poisoned")
            .hold(self.delay_us, self.jitter_us)
    }

    /// Holds `data` and sends it with `send`, logging the hold really applied.
    fn forward<F, Fut>(
        self: &Arc<Self>,
        dir: &'static str,
        client: SocketAddr,
        data: Vec<u8>,
        send: F,
    ) where
        F: FnOnce(Vec<u8>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let received = Instant::now();
        let seq = self
            .arrivals
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let hold = self.draw();
        let line = self.clone();
        tokio::spawn(async move {
            let id = transaction_id(&data);
            tokio::time::sleep_until(received + hold).await;
            send(data).await;
            let held = received.elapsed().as_micros();
            let mut log = line.log.lock().expect("not poisoned");
            let _ = writeln!(log, "{dir} {client} {seq} {id} {held}");
        });
    }
}

fn transaction_id(data: &[u8]) -> String {
    if data.len() >= 20 && data[4..8] == [0x21, 0x12, 0xa4, 0x42] {
        data[8..20].iter().map(|b| format!("{b:02x}")).collect()
    } else {
        "-".to_owned()
    }
}

/// `delay-line LISTEN UPSTREAM DELAY_MS JITTER_MS LOG`
pub(crate) fn main(args: &[String]) -> ExitCode {
    let parsed = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
        args.get(3).and_then(|a| a.parse::<u64>().ok()),
        args.get(4),
    );
    let (Some(listen), Some(upstream), Some(delay), Some(jitter), Some(log)) = parsed else {
        eprintln!("usage: delay-line LISTEN UPSTREAM DELAY_MS JITTER_MS LOG");
        return ExitCode::from(64);
    };
    let seed = u64::from(std::process::id()) << 20
        | u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos(),
        )
        | 1;
    let line = Arc::new(Line {
        arrivals: std::sync::atomic::AtomicU64::new(0),
        delay_us: delay * 1000,
        jitter_us: (jitter * 1000).min(delay * 1000),
        rng: Mutex::new(Rng(seed)),
        log: Mutex::new(std::fs::File::create(log).expect("the log file")),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime
        .block_on(async { tokio::time::timeout(LIFETIME, serve(line, listen, upstream)).await });
    match result {
        Ok(Err(e)) => {
            eprintln!("delay-line: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

async fn serve(line: Arc<Line>, listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<()> {
    let front = Arc::new(UdpSocket::bind(listen).await?);
    eprintln!("delay-line: {listen} -> {upstream}");
    let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, client) = front.recv_from(&mut buf).await?;
        let back = match backs.get(&client) {
            Some(b) => b.clone(),
            None => {
                let any: SocketAddr = if upstream.is_ipv4() {
                    "0.0.0.0:0".parse().expect("an address")
                } else {
                    "[::]:0".parse().expect("an address")
                };
                let back = Arc::new(UdpSocket::bind(any).await?);
                back.connect(upstream).await?;
                backs.insert(client, back.clone());
                let (reader, front, line) = (back.clone(), front.clone(), line.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 2048];
                    while let Ok(n) = reader.recv(&mut buf).await {
                        let front = front.clone();
                        line.forward("down", client, buf[..n].to_vec(), move |data| async move {
                            let _ = front.send_to(&data, client).await;
                        });
                    }
                });
                back
            }
        };
        line.forward("up", client, buf[..n].to_vec(), move |data| async move {
            let _ = back.send(&data).await;
        });
    }
}
