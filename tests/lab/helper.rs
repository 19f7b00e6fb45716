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
