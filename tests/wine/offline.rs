//! The offline commands give the Windows build's output byte for byte the Linux build's, on the
//! same inputs given by the same relative paths; only what is the clock's (a report's
//! `started_at` and `duration_ms`) is set aside in JSON.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::prefix::{self, Prefix};

/// Runs the Linux build in `dir` with a scrubbed environment.
fn linux(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("connect-preflight"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("linux-home"))
        .env("CONNECT_PREFLIGHT_CACHE_DIR", dir.join("linux-cache"))
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .args(args);
    prefix::run(&mut cmd, Duration::from_secs(60))
}

fn windows(prefix: &Prefix, exe: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = prefix.cmd(dir);
    cmd.arg(exe).args(args);
    prefix::run(&mut cmd, Duration::from_secs(120))
}

/// A JSON document without the clock's fields.
fn timeless(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("started_at");
            map.remove("duration_ms");
            map.remove("generated_at");
            map.values_mut().for_each(timeless);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(timeless),
        _ => {}
    }
}

fn same(what: &str, linux: &Output, windows: &Output) {
    assert_eq!(
        windows.status.code(),
        linux.status.code(),
        "{what}: exit codes differ\nwindows stderr: {}\nlinux stderr: {}",
        String::from_utf8_lossy(&windows.stderr),
        String::from_utf8_lossy(&linux.stderr)
    );
    let parsed = |out: &Output| serde_json::from_slice::<serde_json::Value>(&out.stdout).ok();
    if let (Some(mut l), Some(mut w)) = (parsed(linux), parsed(windows)) {
        if l.get("started_at").is_some() || l.get("generated_at").is_some() {
            timeless(&mut l);
            timeless(&mut w);
        }
        assert_eq!(w, l, "{what}: the JSON differs");
        return;
    }
    if windows.stdout != linux.stdout {
        let w = String::from_utf8_lossy(&windows.stdout);
        let l = String::from_utf8_lossy(&linux.stdout);
        let line = w
            .lines()
            .zip(l.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(w.lines().count().min(l.lines().count()));
        panic!(
            "{what}: the output differs from line {} on (windows {} bytes, linux {} bytes)\nwindows: {:?}\nlinux:   {:?}",
            line + 1,
            windows.stdout.len(),
            linux.stdout.len(),
            w.lines().nth(line),
            l.lines().nth(line)
        );
    }
}

#[test]
fn the_offline_commands_print_what_the_linux_build_prints() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = |from: &str, to: &str| {
        let to = work.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(from), to).unwrap();
    };
    for name in [
        "connect-domains.txt",
        "firewall-export.csv",
        "iptables-save.rules",
        "nft.ruleset",
        "proxy.pac",
        "security-groups.json",
        "squid.conf",
        "web-gateway-bypass.txt",
    ] {
        copy(&format!("tests/data/allowlists/{name}"), name);
    }
    copy("tests/data/ip-ranges-2026-06-25.json", "old/ip-ranges.json");
    copy("ranges/ip-ranges.json", "new/ip-ranges.json");
    std::fs::write(
        work.join("addresses.txt"),
        "15.193.4.10\n52.119.160.7\n2600:f0f2:7103::1\n192.0.2.1\n",
    )
    .unwrap();

    let mut cases: Vec<Vec<&str>> = vec![
        vec!["--version"],
        vec!["--help"],
        vec!["check", "--help"],
        vec![
            "endpoints",
            "--region",
            "eu-central-1",
            "--instance",
            "https://acme.my.connect.aws/ccp-v2/",
        ],
        vec![
            "endpoints",
            "--region",
            "us-east-1",
            "--with",
            "saml,gr",
            "--format",
            "domains",
        ],
        vec!["endpoints", "--region", "us-east-1", "--format", "cidrs"],
        vec![
            "endpoints",
            "--region",
            "eu-west-2",
            "--stateless",
            "--format",
            "csv",
        ],
        vec![
            "endpoints",
            "--region",
            "ap-southeast-2",
            "--instance",
            "acme",
            "--format",
            "json",
        ],
        vec!["endpoints", "--region", "no-such-1"],
        vec!["ranges", "info"],
        vec!["ranges", "info", "--format", "json"],
        vec![
            "ranges",
            "lookup",
            "15.193.4.10",
            "2600:f0f2:7103::1",
            "--region",
            "eu-central-1",
        ],
        vec![
            "ranges",
            "lookup",
            "--file",
            "addresses.txt",
            "--format",
            "csv",
        ],
        vec![
            "ranges",
            "diff",
            "old/ip-ranges.json",
            "new/ip-ranges.json",
            "--region",
            "eu-central-1",
        ],
        vec!["profile", "write", "--help"],
        vec!["generate", "man"],
        vec!["generate", "completions", "powershell"],
    ];
    for list in [
        "connect-domains.txt",
        "web-gateway-bypass.txt",
        "squid.conf",
        "proxy.pac",
    ] {
        cases.push(vec![
            "audit",
            "--region",
            "eu-central-1",
            "--instance",
            "acme",
            "--domains",
            list,
        ]);
    }
    for list in [
        "iptables-save.rules",
        "nft.ruleset",
        "security-groups.json",
        "firewall-export.csv",
    ] {
        cases.push(vec!["audit", "--region", "eu-central-1", "--cidrs", list]);
        cases.push(vec![
            "audit",
            "--region",
            "eu-central-1",
            "--cidrs",
            list,
            "--format",
            "json",
        ]);
    }
    for args in &cases {
        let l = linux(work, args);
        let w = windows(&prefix, &tools.exe, work, args);
        same(&args.join(" "), &l, &w);
    }

    // A fix file written by each build, and a profile written by each: the same bytes.
    for (build, name) in [
        ("linux", "fixed-linux.json"),
        ("windows", "fixed-windows.json"),
    ] {
        let args = [
            "audit",
            "--region",
            "eu-central-1",
            "--cidrs",
            "security-groups.json",
            "--fix-output",
            name,
            "--quiet",
        ];
        if build == "linux" {
            linux(work, &args);
        } else {
            windows(&prefix, &tools.exe, work, &args);
        }
    }
    assert_eq!(
        std::fs::read(work.join("fixed-windows.json")).unwrap(),
        std::fs::read(work.join("fixed-linux.json")).unwrap(),
        "the fixed security-group file differs"
    );
    for (build, name) in [("linux", "linux.toml"), ("windows", "windows.toml")] {
        let args = [
            "profile",
            "write",
            "--instance",
            "acme",
            "--region",
            "eu-central-1",
            "--output",
            name,
        ];
        let out = if build == "linux" {
            linux(work, &args)
        } else {
            windows(&prefix, &tools.exe, work, &args)
        };
        assert!(out.status.success(), "{build}: {out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(work.join("windows.toml")).unwrap(),
        std::fs::read_to_string(work.join("linux.toml")).unwrap(),
        "profile write differs"
    );

    // summarize: the same reports, read by both builds.
    let reports = work.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    for (i, region) in ["eu-central-1", "us-east-1"].iter().enumerate() {
        let out = linux(
            work,
            &[
                "audit",
                "--region",
                region,
                "--cidrs",
                "nft.ruleset",
                "--domains",
                "connect-domains.txt",
                "--format",
                "json",
                "--output",
                &format!("reports/r{i}.json"),
            ],
        );
        assert!(out.status.code().is_some(), "{out:?}");
    }
    for format in ["text", "csv", "json"] {
        let args = ["summarize", "reports", "--format", format];
        same(
            &args.join(" "),
            &linux(work, &args),
            &windows(&prefix, &tools.exe, work, &args),
        );
    }
    eprintln!(
        "{} commands gave the same output on both builds",
        cases.len() + 5
    );
}
