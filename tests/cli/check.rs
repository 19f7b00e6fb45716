//! `check` against the loopback lab: one classification per fake.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{self, Ca, Dns, Endpoint, Lab, Site, WsAnswer};

/// The binary with a cleared environment (no proxies, profile or cache; colourless) and an OS
/// certificate store of `os-store.pem` in the lab folder only.
pub(crate) fn preflight(lab: &Lab) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("connect-preflight"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let home = lab.path("home");
    let certs = lab.path("os-certs");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    let store = lab.path("os-store.pem");
    if !store.exists() {
        std::fs::write(&store, "").unwrap();
    }
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("APPDATA", home.join("appdata"))
        .env("LOCALAPPDATA", home.join("localappdata"))
        .env("CONNECT_PREFLIGHT_CACHE_DIR", home.join("cache"))
        .env("SSL_CERT_FILE", &store)
        .env("SSL_CERT_DIR", &certs)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs to completion within `limit` and returns the exit code and the JSON report.
pub(crate) fn run_json(mut cmd: std::process::Command, limit: Duration) -> (i32, Value) {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the check ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    every_warning_and_failure_has_a_remedy(&report);
    (output.status.code().unwrap_or(-1), report)
}

/// Every check that warns or fails tells what to change: asserted on every report these scenarios
/// produce, so a new warning or failure without a remedy fails the scenario that reaches it.
pub(crate) fn every_warning_and_failure_has_a_remedy(report: &Value) {
    for c in report["checks"].as_array().into_iter().flatten() {
        if c["status"] == "warn" || c["status"] == "fail" {
            assert!(
                c["remedy"].as_str().is_some_and(|r| !r.trim().is_empty()),
                "a {} check without a remedy: {c:#}",
                c["status"]
            );
        }
    }
}

pub(crate) fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

pub(crate) fn verdict(report: &Value, id: &str) -> (String, String) {
    let c = check(report, id);
    (
        c["status"].as_str().unwrap().to_owned(),
        c["reason"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn expect(report: &Value, id: &str, status: &str, reason: &str) {
    assert_eq!(
        verdict(report, id),
        (status.to_owned(), reason.to_owned()),
        "{id}: {:#}",
        check(report, id)
    );
}

pub(crate) fn lab_args(
    cmd: &mut std::process::Command,
    dir: &Path,
    catalog: &Path,
    dns: std::net::SocketAddr,
) {
    lab_args_as(cmd, dir, catalog, dns, "json");
}

pub(crate) fn lab_args_as(
    cmd: &mut std::process::Command,
    dir: &Path,
    catalog: &Path,
    dns: std::net::SocketAddr,
    format: &str,
) {
    cmd.arg("check")
        .args(["--region", "lab-1", "--format", format])
        .arg("--endpoints")
        .arg(catalog)
        .arg("--ip-ranges")
        .arg(lab::ranges_file(dir))
        .args(["--dns-server", &dns.to_string()]);
}

#[test]
fn tls_inspection_bad_certificates_old_tls_and_refusals_are_told_apart() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let inspect = Ca::new("Inspect Root CA", "Inspect Corp");
    let rogue = Ca::new("Rogue CA", "Rogue Org");
    let site = |ca: &Ca, names: &[&str], expired: bool, site: Site| {
        let (chain, key) = ca.leaf(names, expired);
        lab.tls_site(chain, key, site)
    };
    let good = site(&public, &["good.lab.test"], false, Site::ok());
    let inspected = site(&inspect, &["inspected.lab.test"], false, Site::ok());
    let untrusted = site(&rogue, &["rogue.lab.test"], false, Site::ok());
    let expired = site(&public, &["expired.lab.test"], true, Site::ok());
    let wrong = site(&public, &["other.lab.test"], false, Site::ok());
    let broken = site(
        &public,
        &["broken.lab.test"],
        false,
        Site {
            status: 502,
            date: None,
        },
    );
    let old = lab.old_tls();
    let refused = lab.closed_port();
    let names = [
        "good.lab.test",
        "inspected.lab.test",
        "rogue.lab.test",
        "expired.lab.test",
        "wrong.lab.test",
        "broken.lab.test",
        "old.lab.test",
        "refused.lab.test",
    ];
    let dns = lab.dns(lab::loopback_zone(&names));
    let mut good_endpoint = Endpoint::new("good", "good.lab.test", good);
    good_endpoint.paths = &["/ccp-v2/", "/api"];
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            good_endpoint,
            Endpoint::new("inspected", "inspected.lab.test", inspected),
            Endpoint::new("rogue", "rogue.lab.test", untrusted),
            Endpoint::new("expired", "expired.lab.test", expired),
            Endpoint::new("wrong", "wrong.lab.test", wrong),
            Endpoint::new("broken", "broken.lab.test", broken),
            Endpoint::new("old", "old.lab.test", old),
            Endpoint::new("refused", "refused.lab.test", refused),
            Endpoint::new("wild", "*.wild.lab.test", 443),
        ],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    lab.write("os-store.pem", &inspect.pem);

    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--no-proxy", "--timeout", "20s"]);
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["verdict"], "not_ready");

    // The healthy site passes every step, in plan order, with evidence.
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == "good.lab.test")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let g = |step: &str| format!("{step}/good.lab.test:{good}");
    assert_eq!(
        ids,
        [
            "dns/good.lab.test".to_owned(),
            g("tcp"),
            g("tls"),
            format!("https/good.lab.test:{good}/ccp-v2/"),
            format!("https/good.lab.test:{good}/api"),
        ]
    );
    expect(&report, "dns/good.lab.test", "pass", "ok");
    expect(&report, &g("tcp"), "pass", "ok");
    expect(&report, &g("tls"), "pass", "ok");
    expect(
        &report,
        &format!("https/good.lab.test:{good}/ccp-v2/"),
        "pass",
        "ok",
    );
    let tls = check(&report, &g("tls"));
    assert_eq!(tls["evidence"]["chain"][0]["dns_names"][0], "good.lab.test");
    assert_eq!(
        tls["evidence"]["chain"][0]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        95
    );
    assert!(
        tls["evidence"]["version"]
            .as_str()
            .unwrap()
            .starts_with("TLS 1.")
    );
    expect(&report, "system/clock", "pass", "ok");

    // Only the OS store trusts the inspecting CA: intercepted, naming it; HTTPS still works.
    let t = format!("tls/inspected.lab.test:{inspected}");
    expect(&report, &t, "warn", "intercepted");
    assert!(
        check(&report, &t)["remedy"]
            .as_str()
            .unwrap()
            .contains("Inspect Corp")
    );
    expect(
        &report,
        &format!("https/inspected.lab.test:{inspected}/"),
        "pass",
        "ok",
    );

    let t = format!("tls/rogue.lab.test:{untrusted}");
    expect(&report, &t, "fail", "untrusted_certificate");
    assert!(
        check(&report, &t)["detail"]
            .as_str()
            .unwrap()
            .contains("Rogue CA")
    );
    expect(
        &report,
        &format!("https/rogue.lab.test:{untrusted}/"),
        "skip",
        "not_tested",
    );

    expect(
        &report,
        &format!("tls/expired.lab.test:{expired}"),
        "fail",
        "expired_certificate",
    );
    let t = format!("tls/wrong.lab.test:{wrong}");
    expect(&report, &t, "fail", "hostname_mismatch");
    assert!(
        check(&report, &t)["detail"]
            .as_str()
            .unwrap()
            .contains("other.lab.test")
    );
    expect(
        &report,
        &format!("https/broken.lab.test:{broken}/"),
        "fail",
        "http_error",
    );
    expect(
        &report,
        &format!("tls/old.lab.test:{old}"),
        "fail",
        "old_tls",
    );

    let t = format!("tcp/refused.lab.test:{refused}");
    expect(&report, &t, "fail", "refused");
    let remedy = check(&report, &t)["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("127.0.0.1/32") && remedy.contains("refused.lab.test"),
        "{remedy}"
    );
    expect(
        &report,
        &format!("tls/refused.lab.test:{refused}"),
        "skip",
        "not_tested",
    );

    // A wildcard without a concrete name is listed, never passing.
    expect(&report, "untested/wild/lab-1", "skip", "not_tested");

    // The snapshot is reported, and what failed is gathered for the network team.
    expect(&report, "ranges/snapshot", "info", "ok");
    let domains = report["fixes"]["domains"].as_array().unwrap();
    assert!(
        domains.iter().any(|d| d == "refused.lab.test"),
        "{domains:?}"
    );
    assert!(!domains.iter().any(|d| d == "good.lab.test"), "{domains:?}");
    let notes = report["fixes"]["notes"].to_string();
    assert!(
        notes.contains("exempt from TLS inspection") && notes.contains("rogue.lab.test"),
        "{notes}"
    );
}

#[test]
fn dns_failures_and_suspicious_answers_are_classified() {
    let lab = Lab::new();
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let zone: HashMap<String, Dns> = [
        ("nx.lab.test", Dns::NxDomain),
        ("servfail.lab.test", Dns::ServFail),
        ("refused.lab.test", Dns::Refused),
        ("empty.lab.test", Dns::Empty),
        ("silent.lab.test", Dns::Silent),
        (
            "private.lab.test",
            Dns::Addresses(vec!["10.20.30.40".parse().unwrap()]),
        ),
        (
            "outside.lab.test",
            Dns::Addresses(vec!["93.184.216.34".parse().unwrap()]),
        ),
        (
            "alias.lab.test",
            Dns::Cname("edge.lab.test".to_owned(), vec![loopback]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let dns = lab.dns(zone);
    let hosts = [
        "nx", "servfail", "refused", "empty", "silent", "private", "outside", "alias",
    ];
    let names: Vec<String> = hosts.iter().map(|h| format!("{h}.lab.test")).collect();
    let endpoints: Vec<Endpoint<'_>> = hosts
        .iter()
        .zip(&names)
        .map(|(id, name)| Endpoint::new(id, name, 443))
        .collect();
    let catalog = lab::catalog_file(lab.dir.path(), &endpoints);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    // DNS only: the suspicious answers are never contacted.
    cmd.args(["--only", "dns", "--timeout", "3s"]);
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert_eq!(code, 2, "{report:#}");
    expect(&report, "dns/nx.lab.test", "fail", "nxdomain");
    expect(&report, "dns/servfail.lab.test", "fail", "servfail");
    expect(&report, "dns/refused.lab.test", "fail", "refused");
    expect(&report, "dns/empty.lab.test", "fail", "no_answer");
    expect(&report, "dns/silent.lab.test", "fail", "timeout");
    expect(&report, "dns/private.lab.test", "fail", "private_address");
    expect(&report, "dns/outside.lab.test", "fail", "outside_ranges");
    let outside = check(&report, "dns/outside.lab.test");
    assert!(
        outside["detail"].as_str().unwrap().contains("EC2 lab-1"),
        "{outside:#}"
    );
    assert!(
        outside["remedy"]
            .as_str()
            .unwrap()
            .contains("outside.lab.test")
    );
    expect(&report, "dns/alias.lab.test", "pass", "ok");
    assert_eq!(
        check(&report, "dns/alias.lab.test")["evidence"]["cname_chain"][0],
        "edge.lab.test."
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "tcp" && c["kind"] != "tls"),
        "--only dns made other checks"
    );
}

#[test]
fn a_proxy_that_denies_or_wants_credentials_is_named_and_a_working_one_is_used() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["good.lab.test"], false);
    let good = lab.tls_site(chain, key, Site::ok());
    let proxy = lab.proxy(&["denied.lab.test"], &["auth.lab.test"]);
    let dns = lab.dns(lab::loopback_zone(&[
        "good.lab.test",
        "denied.lab.test",
        "auth.lab.test",
    ]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("good", "good.lab.test", good),
            Endpoint::new("denied", "denied.lab.test", good),
            Endpoint::new("auth", "auth.lab.test", good),
            // Not in the lab's DNS: the proxy resolves names for the browser.
            Endpoint::new("gone", "gone.lab.test", good),
        ],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let proxy_url = format!("http://127.0.0.1:{proxy}");

    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--proxy", &proxy_url]);
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 2, "{report:#}");
    let denied = format!("tcp/denied.lab.test:{good}");
    expect(&report, &denied, "fail", "proxy_denied");
    let c = check(&report, &denied);
    assert_eq!(c["evidence"]["proxy_status"], 403);
    assert!(
        c["evidence"]["proxy_headers"]
            .to_string()
            .contains("lab-proxy"),
        "{c:#}"
    );
    assert!(c["remedy"].as_str().unwrap().contains(&proxy_url));
    expect(
        &report,
        &format!("tcp/auth.lab.test:{good}"),
        "fail",
        "proxy_auth_required",
    );
    let t = format!("tls/good.lab.test:{good}");
    expect(&report, &t, "pass", "ok");
    assert!(
        check(&report, &t)["evidence"]["via"]
            .as_str()
            .unwrap()
            .contains("proxy")
    );
    expect(
        &report,
        &format!("https/good.lab.test:{good}/"),
        "pass",
        "ok",
    );
    expect(&report, "dns/gone.lab.test", "warn", "nxdomain");
    expect(&report, &format!("tcp/gone.lab.test:{good}"), "pass", "ok");
    // The direct path, tried beside the proxy: open on loopback, so the proxy is not the only
    // way out, and for the denied host the proxy blocks what direct allows.
    let direct = check(&report, &format!("direct/good.lab.test:{good}"));
    assert_eq!(
        (&direct["status"], &direct["reason"]),
        (&"info".into(), &"ok".into())
    );
    assert!(
        direct["detail"]
            .as_str()
            .unwrap()
            .contains("not good.lab.test's only way out"),
        "{direct:#}"
    );
    let direct = check(&report, &format!("direct/denied.lab.test:{good}"));
    assert!(
        direct["detail"]
            .as_str()
            .unwrap()
            .contains("the proxy blocks what the firewall allows"),
        "{direct:#}"
    );
    let direct = check(&report, &format!("direct/gone.lab.test:{good}"));
    assert_eq!(direct["reason"], "not_tested", "{direct:#}");

    // The same proxy from the environment, with NO_PROXY sending one host direct.
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file").arg(&ca_file);
    cmd.env("HTTPS_PROXY", &proxy_url)
        .env("NO_PROXY", "good.lab.test");
    let (_, report) = run_json(cmd, Duration::from_secs(60));
    expect(&report, &denied, "fail", "proxy_denied");
    let via = check(&report, &t)["evidence"]["via"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(via.starts_with("direct to 127.0.0.1:"), "{via}");

    // A proxy that is not there: named, with its own remedy.
    let gone_proxy = format!("http://127.0.0.1:{}", lab.closed_port());
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--proxy", &gone_proxy]);
    let (_, report) = run_json(cmd, Duration::from_secs(60));
    let c = check(&report, &format!("tcp/good.lab.test:{good}"));
    assert_eq!(
        (&c["status"], &c["reason"]),
        (&Value::from("fail"), &Value::from("refused")),
        "{c:#}"
    );
    assert!(c["remedy"].as_str().unwrap().contains(&gone_proxy), "{c:#}");
}

#[test]
fn a_slow_clock_and_a_websocket_upgrade() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["time.lab.test"], false);
    let ten_minutes_ahead = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let skewed = lab.tls_site(
        chain,
        key,
        Site {
            status: 200,
            date: Some(lab::http_date(ten_minutes_ahead)),
        },
    );
    let (chain, key) = public.leaf(&["ws.lab.test"], false);
    let ws = lab.websocket_site(chain, key);
    let dns = lab.dns(lab::loopback_zone(&["time.lab.test", "ws.lab.test"]));
    let mut ws_endpoint = Endpoint::new("ws", "ws.lab.test", ws);
    ws_endpoint.websocket = true;
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("time", "time.lab.test", skewed), ws_endpoint],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file").arg(&ca_file).arg("--no-proxy");
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 2, "{report:#}");
    expect(&report, "system/clock", "fail", "clock_skew");
    let skew = check(&report, "system/clock")["evidence"]["skew_s"]
        .as_i64()
        .unwrap();
    assert!((-610..=-590).contains(&skew), "{skew}");
    expect(
        &report,
        &format!("websocket/ws.lab.test:{ws}/"),
        "pass",
        "ok",
    );
}

#[test]
fn a_websocket_upgrade_is_real_and_who_refused_it_is_named() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let inspect = Ca::new("Inspect Root CA", "Inspect Corp");
    let site = |ca: &Ca, name: &str, answer: WsAnswer| {
        let (chain, key) = ca.leaf(&[name], false);
        lab.websocket_site_answering(chain, key, answer)
    };
    let good = site(&public, "good.lab.test", WsAnswer::Accept);
    let forged = site(&public, "forged.lab.test", WsAnswer::WrongAccept);
    let stripped = site(&public, "stripped.lab.test", WsAnswer::Plain200);
    let inspected = site(&inspect, "inspected.lab.test", WsAnswer::Plain200);
    let silent = site(&public, "silent.lab.test", WsAnswer::HangUp);
    let hosts = [
        ("good", "good.lab.test", good),
        ("forged", "forged.lab.test", forged),
        ("stripped", "stripped.lab.test", stripped),
        ("inspected", "inspected.lab.test", inspected),
        ("silent", "silent.lab.test", silent),
    ];
    let names: Vec<&str> = hosts.iter().map(|(_, n, _)| *n).collect();
    let dns = lab.dns(lab::loopback_zone(&names));
    let endpoints: Vec<Endpoint<'_>> = hosts
        .iter()
        .map(|(id, name, port)| {
            let mut e = Endpoint::new(id, name, *port);
            e.websocket = true;
            e
        })
        .collect();
    let catalog = lab::catalog_file(lab.dir.path(), &endpoints);
    let ca_file = lab.write("public-ca.pem", &public.pem);
    lab.write("os-store.pem", &inspect.pem);
    let ws = |name: &str, port: u16| format!("websocket/{name}:{port}/");
    let proxy = lab.proxy(&[], &[]);

    for route in ["direct", "proxy"] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.arg("--ca-file").arg(&ca_file);
        if route == "direct" {
            cmd.arg("--no-proxy");
        } else {
            cmd.args(["--proxy", &format!("http://127.0.0.1:{proxy}")]);
        }
        cmd.args(["--timeout", "20s"]);
        let (_, report) = run_json(cmd, Duration::from_secs(60));

        // A real upgrade, closed politely: the fake answers a Close frame only.
        let id = ws("good.lab.test", good);
        expect(&report, &id, "pass", "ok");
        let c = &check(&report, &id)["evidence"];
        assert_eq!(
            (&c["status"], &c["close"]),
            (&Value::from(101), &Value::from("acknowledged")),
            "{route}: {c:#}"
        );

        // A 101 not derived from the request's key is named, with the answer as evidence.
        let id = ws("forged.lab.test", forged);
        expect(&report, &id, "warn", "websocket_rejected");
        let c = check(&report, &id);
        assert_eq!(
            c["evidence"]["handshake_error"], "sec_websocket_accept_mismatch",
            "{route}: {c:#}"
        );
        assert_eq!(c["evidence"]["status"], 101, "{c:#}");
        assert!(
            c["evidence"]["headers"]
                .to_string()
                .contains("sec-websocket-accept"),
            "{c:#}"
        );
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .contains("Sec-WebSocket-Accept"),
            "{c:#}"
        );
        assert_eq!(c["evidence"]["rejected_by"], "the server", "{c:#}");

        // A 200: the Upgrade stripped or ignored; through an untouched tunnel, the server did it.
        // A failure: the browser's WebSocket cannot open.
        let id = ws("stripped.lab.test", stripped);
        expect(&report, &id, "fail", "websocket_rejected");
        let c = check(&report, &id);
        assert_eq!(c["evidence"]["status"], 200, "{c:#}");
        assert!(
            c["evidence"]["headers"]
                .to_string()
                .contains("lab-stripped"),
            "{c:#}"
        );
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.contains("HTTP 200 by the server") && detail.contains("stripped"),
            "{detail}"
        );
        assert!(
            c["remedy"]
                .as_str()
                .unwrap()
                .contains("allow WebSocket (HTTP Upgrade)"),
            "{c:#}"
        );

        // Behind TLS inspection, the inspecting proxy is named among those who may have refused.
        // A failure: the inspecting proxy read the Upgrade and it did not come through.
        let id = ws("inspected.lab.test", inspected);
        expect(&report, &id, "fail", "websocket_rejected");
        let c = check(&report, &id);
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .contains("the TLS-inspecting proxy or the server"),
            "{c:#}"
        );
        assert!(
            c["remedy"]
                .as_str()
                .unwrap()
                .starts_with("the TLS-inspecting proxy or the server refused"),
            "{c:#}"
        );

        // No answer at all.
        let id = ws("silent.lab.test", silent);
        expect(&report, &id, "fail", "websocket_rejected");
        assert!(
            check(&report, &id)["detail"]
                .as_str()
                .unwrap()
                .contains("no HTTP answer"),
            "{route}"
        );
        if route == "proxy" {
            assert!(
                check(&report, &ws("good.lab.test", good))["evidence"]["via"]
                    .as_str()
                    .unwrap()
                    .contains("through the proxy"),
            );
        }
    }
}

#[test]
fn list_prints_the_plan_without_touching_the_network() {
    let lab = Lab::new();
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("good", "good.lab.test", 8443),
            Endpoint::new("wild", "*.wild.lab.test", 443),
        ],
    );
    // Nothing listens on the DNS server given: --list must not ask it.
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", lab.closed_port()).parse().unwrap();
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--list");
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("good.lab.test tcp/8443"), "{text}");
    assert!(text.contains("tls/good.lab.test:8443"), "{text}");
    assert!(text.contains("*.wild.lab.test"), "{text}");
    assert!(text.contains(&dns.to_string()), "{text}");
}

#[test]
fn the_deadline_bounds_a_server_that_never_answers() {
    let lab = Lab::new();
    let (seen, _seen_rx) = std::sync::mpsc::channel();
    let hang = lab.silent(seen);
    let dns = lab.dns(lab::loopback_zone(&["hang.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("hang", "hang.lab.test", hang)],
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "2s"]);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(20));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_ne!(code, 0, "{report:#}");
    expect(&report, &format!("tcp/hang.lab.test:{hang}"), "pass", "ok");
    // The connection opened: a handshake that never comes is named for its stage, never a
    // firewall dropping TCP; one the deadline cut short measured nothing.
    let tls = check(&report, &format!("tls/hang.lab.test:{hang}"));
    let (status, reason) = verdict(&report, &format!("tls/hang.lab.test:{hang}"));
    assert!(
        (status.as_str(), reason.as_str()) == ("fail", "stalled")
            || (status.as_str(), reason.as_str()) == ("skip", "deadline"),
        "{tls:#}"
    );
    assert!(
        !tls["remedy"]
            .as_str()
            .unwrap_or_default()
            .contains("firewall silently drops"),
        "{tls:#}"
    );
    let (status, reason) = verdict(&report, &format!("https/hang.lab.test:{hang}/"));
    assert!(
        status == "skip" && (reason == "not_tested" || reason == "deadline"),
        "{status} {reason}"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_gives_a_partial_report_and_exit_130() {
    let lab = Lab::new();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    let hang = lab.silent(seen);
    let dns = lab.dns(lab::loopback_zone(&["hang.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("hang", "hang.lab.test", hang)],
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // The run is under way once the silent server sees a connection.
    if seen_rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        panic!("the check never connected");
    }
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the check did not stop after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let https = check(&report, &format!("https/hang.lab.test:{hang}/"));
    assert_eq!(https["reason"], "interrupted");
    assert!(
        https["detail"].as_str().unwrap().contains("interrupted"),
        "{https:#}"
    );
}

#[test]
fn the_text_report_names_each_fix_and_nothing_else_reaches_a_pipe() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["good.lab.test"], false);
    let good = lab.tls_site(chain, key, Site::ok());
    let refused = lab.closed_port();
    let dns = lab.dns(lab::loopback_zone(&["good.lab.test", "refused.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("good", "good.lab.test", good),
            Endpoint::new("refused", "refused.lab.test", refused),
        ],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let mut cmd = preflight(&lab);
    lab_args_as(&mut cmd, lab.dir.path(), &catalog, dns, "text");
    cmd.arg("--no-proxy").arg("--ca-file").arg(&ca_file);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stdout).unwrap();
    if std::env::var_os("SHOW_REPORT").is_some() {
        eprintln!("{text}");
    }
    assert!(text.starts_with("NOT READY"), "{text}");
    assert!(
        text.contains("fix: a firewall or the network rejects TCP"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour on a pipe: {text}");
    // Progress goes to stderr only on a terminal; here stderr stays empty.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");

    // The same run into a file: nothing on stdout, the whole report in the file.
    let out = lab.path("report.json");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--no-proxy")
        .arg("--ca-file")
        .arg(&ca_file)
        .arg("--output")
        .arg(&out);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["command"], "check");
    assert_eq!(report["verdict"], "not_ready");

    // And as JUnit for pipelines that read test results.
    let mut cmd = preflight(&lab);
    lab_args_as(&mut cmd, lab.dir.path(), &catalog, dns, "junit");
    cmd.arg("--no-proxy").arg("--ca-file").arg(&ca_file);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let xml = String::from_utf8(output.stdout).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("refused.lab.test"),
        "{xml}"
    );
}

#[test]
fn broken_ipv6_beside_working_ipv4_is_a_warning_naming_the_address() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["dual.lab.test"], false);
    // The site listens on 127.0.0.1 only, so its port on ::1 refuses (or has no route).
    let port = lab.tls_site(chain, key, Site::ok());
    let zone = [(
        "dual.lab.test".to_owned(),
        Dns::Addresses(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
    )]
    .into_iter()
    .collect();
    let dns = lab.dns(zone);
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("dual", "dual.lab.test", port)],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file").arg(&ca_file).arg("--no-proxy");
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 1, "{report:#}");
    expect(&report, "dns/dual.lab.test", "pass", "ok");
    let tcp = check(&report, &format!("tcp/dual.lab.test:{port}"));
    assert_eq!(tcp["status"], "warn", "{tcp:#}");
    assert!(tcp["detail"].as_str().unwrap().contains("[::1]"), "{tcp:#}");
    assert!(tcp["remedy"].as_str().unwrap().contains("IPv6"), "{tcp:#}");
    expect(&report, &format!("tls/dual.lab.test:{port}"), "pass", "ok");
}

#[test]
fn the_survey_times_each_regions_telemetry_host_and_names_the_closest() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let names = ["t.telemetry.lab-1.lab.test", "t.telemetry.lab-2.lab.test"];
    let (chain, key) = public.leaf(&names, false);
    let port = lab.tls_site(chain, key, Site::ok());
    // lab-3's telemetry name does not resolve.
    let dns = lab.dns(lab::loopback_zone(&names));
    let catalog = lab.write(
        "survey.toml",
        &format!(
            r#"version = 1
[[region]]
code = "lab-1"
name = "Lab One"
[[region]]
code = "lab-2"
name = "Lab Two"
[[region]]
code = "lab-3"
name = "Lab Three"
[[rule]]
id = "ec2-api"
group = "core"
service = "EC2"
regions = ["lab-1"]
ports = ["tcp/1-65535"]
purpose = "lab"
source = "lab"
[[endpoint]]
id = "telemetry"
group = "core"
host = "*.telemetry.{{region}}.lab.test"
probe = "t.telemetry.{{region}}.lab.test"
ports = ["tcp/{port}"]
purpose = "lab telemetry"
source = "lab"
"#
        ),
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--no-proxy", "--survey"]);
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 0, "{report:#}");
    expect(&report, "survey/lab-1", "info", "ok");
    assert!(check(&report, "survey/lab-1")["evidence"]["connect_ms"].is_u64());
    expect(&report, "survey/lab-2", "info", "ok");
    expect(&report, "survey/lab-3", "info", "nxdomain");
    let closest = check(&report, "survey/closest");
    assert_eq!(closest["evidence"]["regions_timed"], 2, "{closest:#}");
    let region = closest["evidence"]["region"].as_str().unwrap();
    assert!(region == "lab-1" || region == "lab-2", "{closest:#}");
    assert!(
        closest["detail"].as_str().unwrap().contains("Lab "),
        "{closest:#}"
    );
}

#[test]
fn bad_settings_are_usage_errors_and_a_bad_ca_file_is_bad_input() {
    let lab = Lab::new();
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("good", "good.lab.test", 8443)],
    );
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", lab.closed_port()).parse().unwrap();
    let not_pem = lab.write("not.pem", "hello\n");
    for (extra, code, says) in [
        (vec!["--timeout", "fast"], 64, "duration"),
        (vec!["--dns-server", "dns.example"], 64, "DNS server"),
        (vec!["--proxy", "socks4://127.0.0.1:1080"], 64, "socks5://"),
        (
            vec!["--proxy", "http://127.0.0.1:1", "--no-proxy"],
            64,
            "cannot be used with",
        ),
        (vec!["--media-seconds", "0"], 64, "1..=60"),
        (vec!["--media-seconds", "61"], 64, "1..=60"),
        (vec!["--ca-file", not_pem.to_str().unwrap()], 65, "not.pem"),
        (
            vec!["--transport-url", "https://t.lab.test/?AuthToken=Sekrit"],
            64,
            "wss://",
        ),
        (
            vec!["--transport-url", "wss://t.lab.test/?AuthToken=Sekrit"],
            64,
            "no WebSocket wildcard",
        ),
    ] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.args(&extra);
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(
            !stderr.contains("Sekrit"),
            "a URL's query is never repeated"
        );
        assert!(output.stdout.is_empty(), "{extra:?}");
    }
}

#[test]
fn the_media_path_is_tested_for_every_turn_relay_that_resolves() {
    let lab = Lab::new();
    let relay = lab.silent_udp();
    let working = lab.turn_relay();
    // gone-turn.lab.test does not resolve.
    let dns = lab.dns(lab::loopback_zone(&["turn.lab.test", "relay.lab.test"]));
    let catalog = lab.write(
        "media.toml",
        &format!(
            r#"version = 1
[[region]]
code = "lab-1"
name = "Lab One"
turn = ["turn.lab.test", "gone-turn.lab.test"]
[[rule]]
id = "connect-media"
group = "core"
service = "EC2"
regions = ["lab-1"]
ports = ["udp/{relay}"]
purpose = "lab"
source = "lab"
[[endpoint]]
id = "turn"
group = "core"
host = "{{turn}}"
ports = ["udp/{relay}"]
purpose = "lab relays"
source = "lab"
[[endpoint]]
id = "relay"
group = "core"
host = "relay.lab.test"
ports = ["udp/{working}"]
purpose = "a working lab relay"
source = "lab"
"#
        ),
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "6s", "--media-seconds", "1"]);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(code, 2, "{report:#}");
    expect(&report, "dns/turn.lab.test", "pass", "ok");
    expect(&report, "stun/turn.lab.test/127.0.0.1", "fail", "timeout");
    expect(&report, "turn/turn.lab.test/127.0.0.1", "fail", "timeout");
    let turn = check(&report, "turn/turn.lab.test/127.0.0.1");
    assert!(
        turn["remedy"].as_str().unwrap().contains("127.0.0.1/32"),
        "{turn:#}"
    );
    expect(&report, "dns/gone-turn.lab.test", "fail", "nxdomain");
    // The working relay: Binding answered, Allocate challenged, and a quality sample taken.
    expect(&report, "stun/relay.lab.test/127.0.0.1", "pass", "ok");
    expect(
        &report,
        "turn/relay.lab.test/127.0.0.1",
        "pass",
        "auth_challenge",
    );
    let quality = check(&report, "media/relay.lab.test/127.0.0.1");
    assert_eq!(quality["status"], "pass", "{quality:#}");
    // --media-seconds 1: one second of Bindings every 20 ms, not the default five.
    let sent = quality["evidence"]["sent"].as_u64().unwrap();
    assert!((40..=51).contains(&sent), "{quality:#}");
    // The workstation facts the media findings are read against.
    assert_eq!(check(&report, "system/session")["status"], "info");
    assert_eq!(check(&report, "system/webrtc-udp-ports")["status"], "info");
    expect(
        &report,
        &format!("media/gone-turn.lab.test:{relay}"),
        "skip",
        "not_tested",
    );
}

#[test]
fn a_pac_script_routes_each_host_and_the_evidence_names_the_route() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(
        &[
            "direct.lab.test",
            "proxied.lab.test",
            "socks.lab.test",
            "tlsproxy.lab.test",
        ],
        false,
    );
    let site = lab.tls_site(chain, key, Site::ok());
    let proxy = lab.proxy(&["denied.lab.test"], &[]);
    let socks5 = lab.socks5_proxy(&["socksrefused.lab.test"]);
    let (proxy_chain, proxy_key) = public.leaf(&["localhost"], false);
    let https_proxy = lab.https_proxy(proxy_chain, proxy_key);
    // proxied.lab.test is not in the lab's DNS: only the proxy can reach it.
    let dns = lab.dns(lab::loopback_zone(&["direct.lab.test", "denied.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("direct", "direct.lab.test", site),
            Endpoint::new("proxied", "proxied.lab.test", site),
            Endpoint::new("denied", "denied.lab.test", site),
            Endpoint::new("socks", "socks.lab.test", site),
            Endpoint::new("socksrefused", "socksrefused.lab.test", site),
            Endpoint::new("tlsproxy", "tlsproxy.lab.test", site),
            Endpoint::new("socks4", "socks4.lab.test", site),
        ],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let pac = lab.write(
        "routes.pac",
        &format!(
            r#"function FindProxyForURL(url, host) {{
  if (host == "proxied.lab.test" || dnsDomainIs(host, "denied.lab.test"))
    return "PROXY 127.0.0.1:{proxy}; DIRECT";
  if (shExpMatch(host, "socks4.*")) return "SOCKS 127.0.0.1:1080";
  if (shExpMatch(host, "socks*")) return "SOCKS5 127.0.0.1:{socks5}";
  if (shExpMatch(host, "tlsproxy.*")) return "HTTPS localhost:{https_proxy}";
  return "DIRECT";
}}
"#
        ),
    );

    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file").arg(&ca_file).arg("--pac").arg(&pac);
    // The environment's proxy does not count when --pac is given.
    cmd.env("HTTPS_PROXY", "http://127.0.0.1:1");
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 2, "{report:#}");

    let proxied = format!("tls/proxied.lab.test:{site}");
    expect(&report, &proxied, "pass", "ok");
    let c = check(&report, &proxied);
    assert_eq!(c["evidence"]["route"], format!("PROXY 127.0.0.1:{proxy}"));
    assert_eq!(
        c["evidence"]["pac_result"],
        format!("PROXY 127.0.0.1:{proxy}; DIRECT")
    );
    assert!(
        c["evidence"]["via"].as_str().unwrap().contains("proxy"),
        "{c:#}"
    );
    let source = c["evidence"]["route_source"].as_str().unwrap();
    assert!(
        source.contains("routes.pac") && source.contains("--pac") && source.contains("first"),
        "{source}"
    );
    expect(
        &report,
        &format!("https/proxied.lab.test:{site}/"),
        "pass",
        "ok",
    );
    // The name does not resolve here, but the proxy resolves it for the browser.
    expect(&report, "dns/proxied.lab.test", "warn", "nxdomain");

    let direct = format!("tls/direct.lab.test:{site}");
    expect(&report, &direct, "pass", "ok");
    let c = check(&report, &direct);
    assert_eq!(c["evidence"]["route"], "DIRECT");
    assert!(
        c["evidence"]["via"]
            .as_str()
            .unwrap()
            .starts_with("direct to 127.0.0.1:"),
        "{c:#}"
    );

    expect(
        &report,
        &format!("tcp/denied.lab.test:{site}"),
        "fail",
        "proxy_denied",
    );
    // A SOCKS5 proxy and an HTTPS proxy carry the checks like an HTTP one.
    for step in ["tcp", "tls"] {
        expect(
            &report,
            &format!("{step}/socks.lab.test:{site}"),
            "pass",
            "ok",
        );
        expect(
            &report,
            &format!("{step}/tlsproxy.lab.test:{site}"),
            "pass",
            "ok",
        );
    }
    expect(
        &report,
        &format!("https/socks.lab.test:{site}/"),
        "pass",
        "ok",
    );
    expect(
        &report,
        &format!("https/tlsproxy.lab.test:{site}/"),
        "pass",
        "ok",
    );
    let c = check(&report, &format!("tcp/socks.lab.test:{site}"));
    assert_eq!(c["evidence"]["route"], format!("SOCKS5 127.0.0.1:{socks5}"));
    let c = check(&report, &format!("tcp/socksrefused.lab.test:{site}"));
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("fail"), Some("proxy_denied")),
        "{c:#}"
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("not allowed by ruleset"),
        "{c:#}"
    );
    // SOCKS (version 4 in browsers) is not tested, and says so.
    let socks4 = format!("tcp/socks4.lab.test:{site}");
    expect(&report, &socks4, "skip", "unsupported_route");
    let c = check(&report, &socks4);
    assert_eq!(c["evidence"]["route"], "SOCKS 127.0.0.1:1080");
    assert!(c["detail"].as_str().unwrap().contains("SOCKS"), "{c:#}");
    assert!(c.get("remedy").is_none(), "{c:#}");

    let route = check(&report, "system/proxy");
    assert_eq!(route["status"], "info");
    assert_eq!(route["evidence"]["route_source"], "--pac");
    assert!(
        route["detail"].as_str().unwrap().contains("routes.pac"),
        "{route:#}"
    );
}

#[test]
fn a_broken_or_missing_pac_script_stops_the_check_naming_it() {
    let lab = Lab::new();
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("good", "good.lab.test", 8443)],
    );
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", lab.closed_port()).parse().unwrap();
    let broken = lab.write(
        "broken.pac",
        "function FindProxyForURL(url, host) {\n  return (;\n}\n",
    );
    let throws = lab.write(
        "throws.pac",
        "function FindProxyForURL(url, host) { throw new Error('no route for ' + host); }\n",
    );
    let not_pac = lab.write("not-pac.pac", "var proxy = 'PROXY a:1';\n");
    for (pac, says) in [
        (&broken, "broken.pac:2"),
        (&throws, "good.lab.test"),
        (&not_pac, "FindProxyForURL"),
    ] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.arg("--pac").arg(pac);
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(65), "{pac:?}: {stderr}");
        let name = pac.file_name().unwrap().to_str().unwrap();
        assert!(stderr.contains(name) && stderr.contains(says), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--pac", "no-such.pac", "--proxy", "http://127.0.0.1:1"]);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(64));
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--pac", "no-such.pac"]);
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr.contains("no-such.pac"), "{stderr}");
}

/// A PATH whose `gsettings` prints `settings`, as GNOME's would.
#[cfg(unix)]
fn fake_gsettings(lab: &Lab, settings: &str) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    let bin = lab.path(&format!(
        "bin-{}",
        lab.dir.path().read_dir().unwrap().count()
    ));
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("gsettings");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{settings}EOF\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = bin.into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

/// An HTTP server on 127.0.0.1 that answers every request with `body`.
#[cfg(unix)]
fn serve(body: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let body = body.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

#[cfg(unix)]
#[test]
fn the_os_proxy_settings_are_used_when_nothing_else_sets_a_route() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["direct.lab.test", "proxied.lab.test"], false);
    let site = lab.tls_site(chain, key, Site::ok());
    let proxy = lab.proxy(&[], &[]);
    let dns = lab.dns(lab::loopback_zone(&["direct.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("direct", "direct.lab.test", site),
            Endpoint::new("proxied", "proxied.lab.test", site),
        ],
    );
    let ca_file = lab.write("public-ca.pem", &public.pem);
    // The HTTP client that fetches a PAC script wants a certificate store that is not empty.
    lab.write("os-store.pem", &public.pem);
    let gnome = |mode: &str, url: &str| {
        format!(
            "org.gnome.system.proxy autoconfig-url '{url}'\n\
             org.gnome.system.proxy ignore-hosts ['localhost', '*.direct.lab.test', 'direct.lab.test']\n\
             org.gnome.system.proxy mode '{mode}'\n\
             org.gnome.system.proxy use-same-proxy true\n\
             org.gnome.system.proxy.https host '127.0.0.1'\n\
             org.gnome.system.proxy.https port {proxy}\n"
        )
    };
    let run = |path: &std::ffi::OsString, extra: &[&str]| {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.arg("--ca-file").arg(&ca_file).args(extra);
        cmd.env("PATH", path);
        run_json(cmd, Duration::from_secs(60)).1
    };
    let tls = |host: &str| format!("tls/{host}:{site}");

    // GNOME's manual proxy, bypassed for its ignore-hosts.
    let report = run(&fake_gsettings(&lab, &gnome("manual", "")), &[]);
    expect(&report, &tls("proxied.lab.test"), "pass", "ok");
    let c = check(&report, &tls("proxied.lab.test"));
    assert_eq!(c["evidence"]["route"], format!("PROXY 127.0.0.1:{proxy}"));
    let source = c["evidence"]["route_source"].as_str().unwrap();
    assert!(source.contains("GNOME"), "{source}");
    let c = check(&report, &tls("direct.lab.test"));
    assert!(
        c["evidence"]["route"]
            .as_str()
            .unwrap()
            .starts_with("DIRECT"),
        "{c:#}"
    );
    let route = check(&report, "system/proxy");
    assert!(
        route["detail"].as_str().unwrap().contains("GNOME"),
        "{route:#}"
    );

    // --no-proxy turns the OS's settings off.
    let report = run(&fake_gsettings(&lab, &gnome("manual", "")), &["--no-proxy"]);
    expect(&report, &tls("direct.lab.test"), "pass", "ok");
    expect(&report, "dns/proxied.lab.test", "fail", "nxdomain");
    assert_eq!(
        check(&report, "system/proxy")["evidence"]["route_source"],
        "--no-proxy"
    );

    // GNOME's automatic configuration: the PAC script is fetched and followed.
    let pac = format!(
        "function FindProxyForURL(url, host) {{ return host == 'proxied.lab.test' ? 'PROXY 127.0.0.1:{proxy}' : 'DIRECT'; }}\n"
    );
    let url = format!("http://127.0.0.1:{}/proxy.pac", serve(pac));
    let report = run(&fake_gsettings(&lab, &gnome("auto", &url)), &[]);
    expect(&report, &tls("proxied.lab.test"), "pass", "ok");
    let c = check(&report, &tls("proxied.lab.test"));
    assert_eq!(c["evidence"]["route"], format!("PROXY 127.0.0.1:{proxy}"));
    assert!(
        c["evidence"]["route_source"]
            .as_str()
            .unwrap()
            .contains(&url),
        "{c:#}"
    );
    expect(&report, &tls("direct.lab.test"), "pass", "ok");
    assert_eq!(
        check(&report, &tls("direct.lab.test"))["evidence"]["route"],
        "DIRECT"
    );

    // A PAC script the OS names but that cannot be fetched: a warning, and the check goes direct.
    let gone = format!("http://127.0.0.1:{}/proxy.pac", lab.closed_port());
    let report = run(&fake_gsettings(&lab, &gnome("auto", &gone)), &[]);
    expect(&report, "system/proxy", "warn", "skipped_entry");
    assert!(
        check(&report, "system/proxy")["detail"]
            .as_str()
            .unwrap()
            .contains(&gone)
    );
    expect(&report, &tls("direct.lab.test"), "pass", "ok");

    // Automatic discovery is on (no script URL): --list names it and contacts nothing.
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--list")
        .env("PATH", fake_gsettings(&lab, &gnome("auto", "")));
    let output = cmd.output().unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{listing}");
    let path = listing
        .lines()
        .find(|l| l.starts_with("path: "))
        .unwrap_or_default();
    assert!(
        path.contains("GNOME")
            && path.contains(
                "automatic proxy discovery (WPAD) is on: the check looks for its script first"
            ),
        "{listing}"
    );

    // The environment beats the OS.
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file").arg(&ca_file);
    cmd.env("PATH", fake_gsettings(&lab, &gnome("manual", "")))
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{proxy}"));
    let (_, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(
        check(&report, &tls("direct.lab.test"))["evidence"]["route_source"],
        "the environment (HTTPS_PROXY)"
    );
}

#[test]
fn every_host_and_address_checked_is_matched_against_the_allow_lists() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let names = ["good.lab.test", "porty.lab.test", "missing.lab.test"];
    let (chain, key) = public.leaf(&names, false);
    let site = lab.tls_site(chain, key, Site::ok());
    let relay = lab.turn_relay();
    let mut zone = names.to_vec();
    zone.push("relay.lab.test");
    let dns = lab.dns(lab::loopback_zone(&zone));
    let mut catalog = format!(
        "version = 1\n[[region]]\ncode = \"lab-1\"\nname = \"Lab\"\n\
         [[rule]]\nid = \"ec2\"\ngroup = \"core\"\nservice = \"EC2\"\nregions = [\"lab-1\"]\nports = [\"tcp/1-65535\", \"udp/1-65535\"]\npurpose = \"lab\"\nsource = \"lab\"\n\
         [[endpoint]]\nid = \"relay\"\ngroup = \"core\"\nhost = \"relay.lab.test\"\nports = [\"udp/{relay}\"]\npurpose = \"lab relay\"\nsource = \"lab\"\n"
    );
    for name in names {
        catalog.push_str(&format!(
            "[[endpoint]]\nid = \"{name}\"\ngroup = \"core\"\nhost = \"{name}\"\nports = [\"tcp/{site}\"]\npurpose = \"lab {name}\"\nsource = \"lab\"\n"
        ));
    }
    let catalog = lab.write("catalog.toml", &catalog);
    let ca_file = lab.write("public-ca.pem", &public.pem);
    let domains = lab.write(
        "domains.txt",
        "# the lab's proxy allow-list\ngood.lab.test\nhttps://porty.lab.test:1/*\n.relay.lab.test\n",
    );
    let cidrs = lab.write(
        "cidrs.txt",
        &format!("# the lab's firewall\n127.0.0.1/32 tcp/{site}\n127.0.0.0/24 udp/9\n"),
    );

    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--no-proxy", "--timeout", "8s"]);
    cmd.arg("--domains")
        .arg(&domains)
        .arg("--cidrs")
        .arg(&cidrs);
    let (code, report) = run_json(cmd, Duration::from_secs(60));
    assert_eq!(code, 2, "{report:#}");
    expect(&report, &format!("tls/good.lab.test:{site}"), "pass", "ok");

    let d = |host: &str, port: u16, proto: &str| format!("allowlist/domain/{host}:{port}/{proto}");
    let good = d("good.lab.test", site, "tcp");
    expect(&report, &good, "pass", "ok");
    let c = check(&report, &good);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("domains.txt:2: good.lab.test"),
        "{c:#}"
    );
    assert_eq!(c["kind"], "allowlist");
    expect(
        &report,
        &d("porty.lab.test", site, "tcp"),
        "fail",
        "wrong_port",
    );
    let missing = d("missing.lab.test", site, "tcp");
    expect(&report, &missing, "fail", "missing_domain");
    let c = check(&report, &missing);
    assert_eq!(c["evidence"]["add"], "missing.lab.test");
    assert!(
        c["remedy"].as_str().unwrap().contains("domains.txt"),
        "{c:#}"
    );
    let r = d("relay.lab.test", relay, "udp");
    expect(&report, &r, "pass", "ok");
    assert!(
        check(&report, &r)["detail"]
            .as_str()
            .unwrap()
            .contains("domains.txt:4"),
        "{report:#}"
    );

    let a = |host: &str, proto: &str, port: u16| {
        format!("allowlist/cidr/{host}/{proto}/{port}/127.0.0.1")
    };
    for name in names {
        let id = a(name, "tcp", site);
        expect(&report, &id, "pass", "ok");
        assert!(
            check(&report, &id)["detail"]
                .as_str()
                .unwrap()
                .contains("cidrs.txt:2"),
            "{id}"
        );
    }
    let id = a("relay.lab.test", "udp", relay);
    expect(&report, &id, "fail", "wrong_port");
    let c = check(&report, &id);
    assert!(
        c["remedy"].as_str().unwrap().contains("cidrs.txt:3"),
        "{c:#}"
    );
    assert_eq!(c["evidence"]["missing"], "127.0.0.1/32");
    // The report's fixes gather what to add to each list.
    let fixes = &report["fixes"];
    assert!(
        fixes["domains"]
            .as_array()
            .unwrap()
            .contains(&Value::from("missing.lab.test")),
        "{fixes:#}"
    );
    assert!(
        fixes["cidrs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cidr"] == "127.0.0.1/32" && f["proto"] == "udp"),
        "{fixes:#}"
    );

    // The repository's sample lists (real AWS names and ranges) allow none of the lab.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/allowlists");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ca-file")
        .arg(&ca_file)
        .args(["--no-proxy", "--skip", "media", "--timeout", "8s"]);
    cmd.arg("--domains")
        .arg(data.join("squid.conf"))
        .arg("--cidrs")
        .arg(data.join("iptables-save.rules"));
    let (_, report) = run_json(cmd, Duration::from_secs(60));
    expect(&report, &good, "fail", "missing_domain");
    let c = check(&report, &a("good.lab.test", "tcp", site));
    assert_eq!(
        (&c["status"], &c["reason"]),
        (&Value::from("fail"), &Value::from("missing_cidr"))
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("iptables-save.rules"),
        "{c:#}"
    );

    // A list that cannot be read stops the run before anything is contacted, naming the line; a
    // PAC script is not an allow-list.
    let bad = lab.write("bad-cidrs.txt", "127.0.0.1/32\nnot-an-address tcp/443\n");
    let pac = lab.write(
        "routes.pac",
        "function FindProxyForURL(u, h) { return 'DIRECT'; }\n",
    );
    for (flag, file, code, says) in [
        ("--cidrs", &bad, 65, "bad-cidrs.txt:2"),
        ("--domains", &pac, 64, "--pac"),
    ] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.arg("--no-proxy").arg(flag).arg(file);
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// A catalog whose only media relay is relay.lab.test on `port`.
pub(crate) fn one_relay_catalog(lab: &Lab, port: u16) -> std::path::PathBuf {
    lab.write(
        "relay.toml",
        &format!(
            r#"version = 1
[[region]]
code = "lab-1"
name = "Lab One"
[[endpoint]]
id = "relay"
group = "core"
host = "relay.lab.test"
ports = ["udp/{port}"]
purpose = "a lab relay"
source = "lab"
"#
        ),
    )
}

#[test]
fn turn_credentials_from_the_environment_are_tried_and_never_written_out() {
    let lab = Lab::new();
    // The lab relay challenges every Allocate, with credentials or not: it refuses them.
    let working = lab.turn_relay();
    let dns = lab.dns(lab::loopback_zone(&["relay.lab.test"]));
    let catalog = one_relay_catalog(&lab, working);
    let secret = "Cli-Turn-Secret-5";
    for format in ["json", "text", "html"] {
        let mut cmd = preflight(&lab);
        lab_args_as(&mut cmd, lab.dir.path(), &catalog, dns, format);
        cmd.args(["--no-proxy", "--timeout", "6s"])
            .env("CONNECT_PREFLIGHT_TURN_USERNAME", "1732400000:agent")
            .env("CONNECT_PREFLIGHT_TURN_PASSWORD", secret);
        let output = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{format}: {stdout}\n{stderr}"
        );
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{format}: the password was written out"
        );
        assert!(
            !stdout.contains("1732400000:agent"),
            "{format}: the username was written out"
        );
        if format == "json" {
            let report: Value = serde_json::from_str(&stdout).unwrap();
            expect(
                &report,
                "turn-auth/relay.lab.test/127.0.0.1",
                "fail",
                "allocation_failed",
            );
            let auth = check(&report, "turn-auth/relay.lab.test/127.0.0.1");
            assert_eq!(auth["evidence"]["error_code"], 401, "{auth:#}");
            assert_eq!(auth["evidence"]["credentials_refused"], true, "{auth:#}");
            assert_eq!(
                auth["evidence"]["credentials_from"],
                "CONNECT_PREFLIGHT_TURN_USERNAME and CONNECT_PREFLIGHT_TURN_PASSWORD"
            );
            assert!(
                auth["detail"]
                    .as_str()
                    .unwrap()
                    .contains("refused the credentials"),
                "{auth:#}"
            );
            // The path is fine without credentials.
            expect(
                &report,
                "turn/relay.lab.test/127.0.0.1",
                "pass",
                "auth_challenge",
            );
        }
    }
}

#[test]
fn an_ice_servers_file_adds_its_relays_and_names_entries_the_softphone_does_not_use() {
    let lab = Lab::new();
    let working = lab.turn_relay();
    let dns = lab.dns(lab::loopback_zone(&["relay.lab.test"]));
    let catalog = one_relay_catalog(&lab, working);
    let ice = lab.write(
        "ice.json",
        &format!(
            r#"{{"iceServers": [
  {{"urls": ["turn:127.0.0.1:{working}?transport=udp", "turn:127.0.0.1:443?transport=tcp"],
    "username": "1732400000:agent", "credential": "Ice-Secret-3"}}
], "iceTransportPolicy": "relay"}}"#
        ),
    );
    // --list names what would be contacted, never the credential.
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--ice-servers").arg(&ice).arg("--list");
    let output = cmd.output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "127.0.0.1 udp/{working}, credentials from iceServers entry 1"
        )) && text.contains("not tested: turn:127.0.0.1:443?transport=tcp"),
        "{text}"
    );
    assert!(
        !text.contains("Ice-Secret-3") && !text.contains("1732400000"),
        "{text}"
    );

    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "6s"])
        .arg("--ice-servers")
        .arg(&ice);
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert_eq!(code, 2, "{report:#}");
    assert!(!report.to_string().contains("Ice-Secret-3"));
    // The file's relay is tested besides the catalog's, and only it gets the credentials.
    expect(
        &report,
        "turn/127.0.0.1/127.0.0.1",
        "pass",
        "auth_challenge",
    );
    expect(
        &report,
        "turn-auth/127.0.0.1/127.0.0.1",
        "fail",
        "allocation_failed",
    );
    assert!(
        !report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "turn-auth/relay.lab.test/127.0.0.1"),
        "{report:#}"
    );
    expect(
        &report,
        "ice-server/turn:127.0.0.1:443?transport=tcp",
        "info",
        "not_tested",
    );
}

#[test]
fn bad_turn_credentials_settings_are_usage_errors_and_a_bad_ice_servers_file_is_bad_input() {
    let lab = Lab::new();
    let catalog = one_relay_catalog(&lab, 3478);
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", lab.closed_port()).parse().unwrap();
    let broken = lab.write(
        "broken.json",
        "[\n  {\"urls\": \"turn:relay.lab.test\",\n   \"username\": \"u\" \"credential\": \"Broken-Secret\"}\n]\n",
    );
    let tcp_only = lab.write(
        "tcp.json",
        r#"[{"urls": "turns:relay.lab.test:443?transport=tcp", "username": "u", "credential": "Tcp-Secret"}]"#,
    );
    let good = lab.write(
        "good.json",
        r#"[{"urls": "turn:relay.lab.test", "username": "u", "credential": "Good-Secret"}]"#,
    );
    let broken_path = broken.to_str().unwrap().to_owned();
    for (extra, code, says) in [
        (
            vec!["--turn-username", "u"],
            64,
            "CONNECT_PREFLIGHT_TURN_PASSWORD",
        ),
        (
            vec!["--turn-password", "Flag-Secret"],
            64,
            "--turn-username",
        ),
        (
            vec![
                "--turn-username",
                "u",
                "--ice-servers",
                good.to_str().unwrap(),
            ],
            64,
            "cannot be used with",
        ),
        (
            vec!["--ice-servers", &broken_path],
            65,
            &format!("{broken_path}:3:"),
        ),
        (
            vec!["--ice-servers", tcp_only.to_str().unwrap()],
            65,
            "no turn: URL over UDP",
        ),
    ] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.args(&extra).arg("--list");
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(!stderr.contains("Secret"), "{extra:?}: {stderr}");
    }
}
