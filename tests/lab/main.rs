//! The end-to-end lab: network namespaces joined only to each other by veth pairs (an agent
//! workstation, a corporate edge with firewall, resolver and proxy, and an "AWS" side), Debian's
//! dnsmasq, nginx, squid, coturn and nftables started inside them, and the built binary run in the
//! agent namespace against them. Needs root; see docs/testing.md.
//!
//! `cargo test --test lab -- NAME...` runs the scenarios whose names contain one of the NAMEs.
//! `LAB_KEEP=1` keeps each scenario's lab up after it ran, prints its namespaces and waits for
//! Enter (at most an hour). `LAB_KEEP_REPORTS=DIR` keeps what the binary printed per scenario.

// The harness reports on stdout and stderr itself, as libtest would.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// Network namespaces, veth pairs and nftables exist only on Linux; elsewhere the lab is empty.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports))]

#[cfg(target_os = "linux")]
mod ccplog;
#[cfg(target_os = "linux")]
mod delay;
#[cfg(target_os = "linux")]
mod firewall;
#[cfg(target_os = "linux")]
mod helper;
#[cfg(target_os = "linux")]
mod net;
#[cfg(target_os = "linux")]
mod pki;
#[cfg(target_os = "linux")]
mod proxies;
#[cfg(target_os = "linux")]
mod scenarios;
#[cfg(target_os = "linux")]
mod servers;
#[cfg(target_os = "linux")]
mod signin;
#[cfg(target_os = "linux")]
mod softphone;

use std::process::ExitCode;
use std::time::Instant;

/// Debian packages and the programs from them the lab starts.
#[cfg(target_os = "linux")]
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("dnsmasq", "dnsmasq-base"),
    ("nginx", "nginx-light"),
    ("squid", "squid-openssl"),
    ("turnserver", "coturn"),
    ("sysctl", "procps"),
    ("kill", "procps"),
    ("faketime", "faketime"),
    ("iptables-restore", "iptables"),
];

#[cfg(target_os = "linux")]
fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !net::is_root() {
        missing.push("root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)".to_owned());
    }
    for (program, package) in TOOLS {
        if servers::find_program(program).is_none() {
            missing.push(format!("{program} (Debian package {package})"));
        }
    }
    if missing.is_empty() && !net::can_create_namespaces() {
        missing.push("the right to create network namespaces and veth pairs here".to_owned());
    }
    missing
}

/// Every scenario list, in the order they run: one file of scenarios per subject, each with its
/// own `ALL`.
#[cfg(target_os = "linux")]
const SUITES: &[&[scenarios::Scenario]] = &[
    scenarios::ALL,
    softphone::ALL,
    proxies::ALL,
    signin::ALL,
    firewall::ALL,
    ccplog::ALL,
];

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    println!("SKIP: the network lab did not run (nothing was tested); it needs Linux");
    ExitCode::SUCCESS
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = helper::dispatch(&args) {
        return code;
    }
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let missing = missing_prerequisites();
    if !missing.is_empty() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let list = missing.join(", ");
        if ci {
            println!("FAILED: the lab cannot run here; missing: {list}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        println!("SKIP: the network lab did not run (nothing was tested); missing: {list}");
        return ExitCode::SUCCESS;
    }
    net::clean_up_on_signal();
    let started = Instant::now();
    let mut passed = 0;
    let mut failed = 0;
    for scenario in SUITES.iter().flat_map(|suite| suite.iter()) {
        if !filters.is_empty() && !filters.iter().any(|f| scenario.name.contains(f)) {
            continue;
        }
        *servers::SCENARIO.lock().unwrap_or_else(|e| e.into_inner()) = scenario.name;
        let t = Instant::now();
        let result = std::panic::catch_unwind(scenario.run);
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok      {} ({secs:.1} s)", scenario.name);
            }
            Err(panic) => {
                failed += 1;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                let first = message.lines().next().unwrap_or_default();
                println!("FAILED  {} ({secs:.1} s): {first}", scenario.name);
            }
        }
    }
    println!(
        "lab: {} scenarios in {:.1} s",
        passed + failed,
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
