//! Subcommands the lab runs of itself inside a namespace (`ip netns exec NS LAB HELPER ...`).

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs the helper named by `args[0]`, if it is one.
pub fn dispatch(args: &[String]) -> Option<ExitCode> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("wait-tcp") => Some(wait_tcp(rest)),
        Some("delay-line") => Some(crate::delay::main(rest)),
        Some("media") => Some(media(rest)),
        _ => None,
    }
}

/// `wait-tcp ADDR MS`: succeeds once a TCP connection to ADDR opens, fails after MS.
fn wait_tcp(args: &[String]) -> ExitCode {
    let (Some(addr), Some(ms)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|m| m.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: wait-tcp ADDR MILLISECONDS");
        return ExitCode::from(64);
    };
    let deadline = Instant::now() + Duration::from_millis(ms);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return ExitCode::SUCCESS;
        }
        if Instant::now() > deadline {
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `media HOST ADDR SAMPLE_MS`: the library's media path (STUN Binding, TURN Allocate, quality
/// train) against one relay, its checks printed as JSON. `check` does not run it yet.
fn media(args: &[String]) -> ExitCode {
    let (Some(host), Some(addr), Some(ms)) = (
        args.first(),
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|m| m.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: media HOST ADDR SAMPLE_MS");
        return ExitCode::from(64);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let targets = [connect_preflight::media::relay::Target {
        host: host.clone(),
        addr,
    }];
    let options = connect_preflight::media::Options {
        sample: Duration::from_millis(ms),
        ..connect_preflight::media::Options::default()
    };
    let checks = runtime.block_on(connect_preflight::media::check(&targets, &options));
    println!(
        "{}",
        serde_json::to_string(&checks).expect("checks serialise")
    );
    ExitCode::SUCCESS
}
