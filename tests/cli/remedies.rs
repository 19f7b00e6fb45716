//! Every warning and failure says what to change: `audit` over every list in `tests/data` (the
//! realistic exports and the collected real files) for several Regions, and `ccp-log` over the
//! real log and generated ones with each kind of trouble. Each remedy is in the voice of
//! `src/remedy.rs`: lower case, no closing full stop.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ccplog_gen::{self as g, CallSpec, Log, Outcome, Shape, T0, Tick};
use crate::common::{Sandbox, repo_file};

/// The Regions the lists are audited for: with and without an instance, on both sides of the
/// Atlantic and in Asia Pacific.
const REGIONS: [(&str, Option<&str>); 3] = [
    ("eu-central-1", Some("acme")),
    ("us-east-1", None),
    ("ap-southeast-2", Some("acme")),
];

/// The lists in `tests/data`, each with the flag that hands it to `audit`.
fn lists() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (dir, flag) in [
        ("tests/data/allowlists", None),
        ("tests/data/real/pac", Some("--domains")),
        ("tests/data/real/proxy", Some("--domains")),
        ("tests/data/real/firewall", Some("--cidrs")),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_str().unwrap();
            let flag = flag.unwrap_or(match name {
                "connect-domains.txt" | "web-gateway-bypass.txt" | "squid.conf" | "proxy.pac" => {
                    "--domains"
                }
                _ => "--cidrs",
            });
            out.push((flag, path));
        }
    }
    out
}

/// The voice every remedy shares; `None` when the text is fine.
fn voice_fault(remedy: &str) -> Option<&'static str> {
    if remedy.trim().is_empty() {
        Some("empty")
    } else if remedy.starts_with(char::is_uppercase) {
        Some("starts upper case")
    } else if remedy.ends_with('.') {
        Some("ends with a full stop")
    } else {
        None
    }
}

/// The warnings and failures of a report that give no remedy or one out of voice.
fn faults(report: &Value, origin: &str) -> (usize, Vec<String>) {
    let mut seen = 0;
    let mut out = Vec::new();
    for check in report["checks"].as_array().unwrap() {
        if !matches!(check["status"].as_str(), Some("warn" | "fail")) {
            continue;
        }
        seen += 1;
        match check["remedy"].as_str() {
            None => out.push(format!("{origin}: {} has no remedy", check["id"])),
            Some(remedy) => {
                if let Some(fault) = voice_fault(remedy) {
                    out.push(format!("{origin}: {} {fault}: {remedy}", check["id"]));
                }
            }
        }
    }
    (seen, out)
}

fn json_of(out: &std::process::Output, origin: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{origin}: {e}: exit {:?}: {stdout} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn every_warning_and_failure_of_the_audit_over_the_test_corpus_carries_a_remedy() {
    let s = Sandbox::new();
    let lists = lists();
    assert!(lists.len() >= 50, "{} lists", lists.len());
    let mut warned = 0;
    let mut audited = 0;
    let mut refused = std::collections::BTreeSet::new();
    let mut all = Vec::new();
    for (flag, path) in &lists {
        for (region, instance) in REGIONS {
            let mut cmd = s.cmd();
            cmd.args([
                "-q",
                "audit",
                "--region",
                region,
                "--lenient",
                "--format",
                "json",
            ])
            .arg(flag)
            .arg(path);
            if let Some(instance) = instance {
                cmd.args(["--instance", instance]);
            }
            let out = cmd.output().unwrap();
            let origin = format!("{} ({region})", short(path));
            if out.status.code() == Some(65) {
                // A file the audit cannot evaluate at all (a PAC script that does not run) is
                // bad input, refused with an error that names it: no findings to judge.
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.stdout.is_empty() && stderr.contains(&*path.to_string_lossy()),
                    "{origin}: {stderr}"
                );
                refused.insert(short(path));
                continue;
            }
            let (seen, faults) = faults(&json_of(&out, &origin), &origin);
            audited += 1;
            warned += seen;
            all.extend(faults);
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    // The corpus has plenty to warn about: the test looked at real findings.
    eprintln!(
        "{audited} audits, {warned} warnings and failures; refused as bad input: {refused:?}"
    );
    assert!(refused.len() * 10 < lists.len(), "{refused:?}");
    assert!(warned > 500, "only {warned} warnings and failures");
}

fn short(path: &Path) -> String {
    path.strip_prefix(repo_file(""))
        .unwrap_or(path)
        .display()
        .to_string()
}

fn silent(_: u32) -> Tick {
    Tick {
        packets: 0,
        lost: 0,
        jitter_ms: 0.0,
        rtt_ms: 60.0,
    }
}

fn lossy(_: u32) -> Tick {
    Tick {
        packets: 45,
        lost: 5,
        jitter_ms: 12.0,
        rtt_ms: 60.0,
    }
}

/// A log with every kind of trouble the generator writes: a lossy call, one-way audio, ICE and
/// signalling failures, a dropped WebSocket, a failed API request, a skewed clock.
fn troubled_log(shape: Shape) -> String {
    let mut log = Log::new(shape);
    log.session_start(T0 - 60_000);
    log.snapshot(T0 - 30_000, 90_000, None);
    let calls = [
        CallSpec {
            input: lossy,
            ..g::clean_call(1, T0, 40)
        },
        CallSpec {
            input: silent,
            ..g::clean_call(2, T0 + 60_000, 40)
        },
        CallSpec {
            outcome: Outcome::IceFailed,
            ..g::clean_call(3, T0 + 120_000, 0)
        },
        CallSpec {
            outcome: Outcome::SignallingFailed,
            ..g::clean_call(4, T0 + 180_000, 0)
        },
    ];
    for spec in &calls {
        log.call(spec, 90_000);
    }
    log.websocket_drop(T0 + 240_000);
    log.api_failure(T0 + 250_000, "getAgentSnapshot", 5_000);
    log.render()
}

#[test]
fn every_warning_and_failure_of_ccp_log_carries_a_remedy() {
    let s = Sandbox::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file("tests/data/ccp-logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for shape in [Shape::Y2019, Shape::Y2021, Shape::Y2023, Shape::Y2026] {
        files.push(s.write(&format!("{shape:?}.txt"), &troubled_log(shape)));
    }
    let mut warned = 0;
    let mut all = Vec::new();
    let mut reasons = std::collections::BTreeSet::new();
    for path in &files {
        let out = s
            .cmd()
            .args(["ccp-log", "--format", "json"])
            .arg(path)
            .output()
            .unwrap();
        let origin = short(path);
        let report = json_of(&out, &origin);
        let (seen, faults) = faults(&report, &origin);
        warned += seen;
        all.extend(faults);
        for check in report["checks"].as_array().unwrap() {
            if matches!(check["status"].as_str(), Some("warn" | "fail")) {
                reasons.insert(check["reason"].as_str().unwrap().to_owned());
            }
        }
        // The log's own findings carry the same remedies as the checks.
        for error in report["ccp_log"]["errors"].as_array().into_iter().flatten() {
            let remedy = error["remedy"].as_str().unwrap_or("");
            if let Some(fault) = voice_fault(remedy) {
                all.push(format!(
                    "{origin}: error {} {fault}: {remedy}",
                    error["what"]
                ));
            }
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    // Each kind of trouble was there to be judged.
    for reason in [
        "poor_quality",
        "one_way_audio",
        "ice_failed",
        "signalling_failed",
        "websocket_lost",
        "api_failed",
        "clock_skew",
    ] {
        assert!(reasons.contains(reason), "{reason} not seen in {reasons:?}");
    }
    assert!(warned >= 20, "only {warned} warnings and failures");
}
