//! `check` against hostile loopback servers and hostile inputs: what was not measured is never a
//! verdict, every wait is bounded, and nothing a peer sends reaches the report raw.
//!
//! Each test asserts statuses, reasons and a generous bound on the wall time (speed targets are in
//! the benchmarks, not here).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::check::{check, expect, lab_args, preflight, run_json, verdict};
use crate::lab::{self, Ca, Dns, Endpoint, Lab, Site};

/// Every check of a report.
fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().unwrap()
}

/// A lab with `names` at 127.0.0.1, each an endpoint on `port`, and the catalog for them.
fn catalog_of(lab: &Lab, names: &[String], port: u16) -> (PathBuf, std::net::SocketAddr) {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let dns = lab.dns(lab::loopback_zone(&refs));
    let endpoints: Vec<Endpoint<'_>> = refs.iter().map(|n| Endpoint::new(n, n, port)).collect();
    (lab::catalog_file(lab.dir.path(), &endpoints), dns)
}

/// A TLS site that waits `delay` after each connection before its handshake, then answers 200.
fn slow_tls_site(lab: &Lab, ca: &Ca, names: &[&str], delay: Duration) -> u16 {
    let (chain, key) = ca.leaf(names, false);
    let acceptor = lab::tls_acceptor(chain, key);
    lab.tcp_server(move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            tokio::time::sleep(delay).await;
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = lab::read_head(&mut tls).await;
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            let _ = tls.shutdown().await;
        }
    })
}

/// A TLS site whose answer after the handshake is `answer` (bounded to a minute in all).
fn tls_site_answering<F, Fut>(lab: &Lab, ca: &Ca, names: &[&str], answer: F) -> u16
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (chain, key) = ca.leaf(names, false);
    let acceptor = lab::tls_acceptor(chain, key);
    let answer = std::sync::Arc::new(answer);
    lab.tcp_server(move |tcp| {
        let acceptor = acceptor.clone();
        let answer = answer.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = lab::read_head(&mut tls).await;
            let _ = tokio::time::timeout(Duration::from_secs(60), answer(tls)).await;
        }
    })
}

fn assert_untested_without_remedy(c: &Value, reason: &str) {
    assert_eq!(c["status"], "skip", "{c:#}");
    assert_eq!(c["reason"], reason, "{c:#}");
    assert!(
        c.get("remedy").is_none(),
        "nothing was measured, so no remedy: {c:#}"
    );
}

#[test]
fn checks_the_deadline_cut_are_not_tested_and_the_run_is_incomplete_within_the_timeout() {
    let lab = Lab::new();
    let ca = Ca::new("Lab Public CA", "Lab Trust");
    let names: Vec<String> = (0..24).map(|i| format!("h{i}.lab.test")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // Healthy, but each TLS handshake answers only after 2 s: three waves of eight do not fit.
    let site = slow_tls_site(&lab, &ca, &refs, Duration::from_secs(2));
    let (catalog, dns) = catalog_of(&lab, &names, site);
    let ca_file = lab.write("ca.pem", &ca.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "5s"])
        .arg("--ca-file")
        .arg(&ca_file);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    eprintln!("24 slow hosts, --timeout 5s: {took:?}");
    assert!(took < Duration::from_millis(7_500), "{took:?}");
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["verdict"], "incomplete");
    let mut passed = 0;
    let mut cut = 0;
    for c in checks(&report) {
        let on_host = c["host"].as_str().is_some_and(|h| h.ends_with(".lab.test"));
        if !on_host {
            continue;
        }
        match c["status"].as_str().unwrap() {
            "pass" => passed += 1,
            "skip" => {
                assert_untested_without_remedy(c, "deadline");
                cut += 1;
            }
            _ => panic!("a healthy host judged by the deadline: {c:#}"),
        }
    }
    assert!(passed > 0 && cut > 0, "{passed} passed, {cut} cut");
    let system = check(&report, "system/deadline");
    assert_eq!(system["evidence"]["not_tested"], cut, "{system:#}");
    // The healthy hosts are not in the list of things to add.
    assert!(
        report["fixes"]["domains"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
        "{:#}",
        report["fixes"]
    );
}

#[test]
fn a_run_that_tests_nothing_is_incomplete_never_ready() {
    let lab = Lab::new();
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", lab.closed_port()).parse().unwrap();
    // A catalog of wildcards only: nothing concrete to test.
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("wild", "*.wild.lab.test", 443)],
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--no-proxy");
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["verdict"], "incomplete");
    expect(&report, "system/nothing-tested", "skip", "nothing_tested");

    // --only media where the catalog names no relay.
    let concrete = lab::catalog_file(lab.dir.path(), &[Endpoint::new("a", "a.lab.test", 443)]);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &concrete, dns);
    cmd.args(["--no-proxy", "--only", "media"]);
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert_eq!(code, 3, "{report:#}");
    expect(&report, "system/nothing-tested", "skip", "nothing_tested");
}

#[test]
fn a_pac_route_this_tool_cannot_test_is_unsupported_and_the_run_incomplete() {
    let lab = Lab::new();
    let names: Vec<String> = vec!["a.lab.test".into(), "b.lab.test".into()];
    let port = lab.closed_port();
    let (catalog, dns) = catalog_of(&lab, &names, port);
    let pac = lab.write(
        "routes.pac",
        r#"function FindProxyForURL(url, host) {
  return host == "a.lab.test" ? "SOCKS 127.0.0.1:1080" : "BOGUS route";
}
"#,
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.arg("--pac").arg(&pac);
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["verdict"], "incomplete");
    for c in checks(&report)
        .iter()
        .filter(|c| c["host"].as_str().is_some_and(|h| h.ends_with(".lab.test")))
    {
        assert_untested_without_remedy(c, "unsupported_route");
    }
    let a = check(&report, &format!("tcp/a.lab.test:{port}"));
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("SOCKS 127.0.0.1:1080"),
        "{a:#}"
    );
}

/// Sends SIGINT to `child` once `ready` says so, and waits (bounded) for it to end.
#[cfg(unix)]
fn interrupt(child: &mut std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
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
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_the_probes_writes_an_incomplete_report_never_a_ready_one() {
    let lab = Lab::new();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    let hang = lab.silent(seen);
    let ca = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = ca.leaf(&["ok.lab.test"], false);
    let ok = lab.tls_site(chain, key, Site::ok());
    let dns = lab.dns(lab::loopback_zone(&["hang.lab.test", "ok.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("ok", "ok.lab.test", ok),
            Endpoint::new("hang", "hang.lab.test", hang),
        ],
    );
    let ca_file = lab.write("ca.pem", &ca.pem);
    for format in ["html", "text"] {
        let out = lab.path(&format!("report.{format}"));
        let mut cmd = preflight(&lab);
        crate::check::lab_args_as(&mut cmd, lab.dir.path(), &catalog, dns, format);
        cmd.args(["--no-proxy", "--timeout", "60s"])
            .arg("--ca-file")
            .arg(&ca_file)
            .arg("--output")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        if seen_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!("the check never connected");
        }
        // Let the healthy host finish, so the report holds passes beside the untested.
        std::thread::sleep(Duration::from_millis(500));
        interrupt(&mut child);
        assert_eq!(child.wait().unwrap().code(), Some(130));
        let text = std::fs::read_to_string(&out).unwrap();
        if format == "html" {
            assert!(text.contains("<title>Incomplete"), "{text}");
            assert!(!text.contains("<title>Ready"), "{text}");
        } else {
            let mut lines = text.lines();
            assert!(lines.next().unwrap().starts_with("INCOMPLETE:"), "{text}");
            assert!(
                lines
                    .next()
                    .unwrap()
                    .starts_with("The run was interrupted:"),
                "{text}"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_while_the_pac_script_is_fetched_ends_the_run_and_writes_no_report() {
    let lab = Lab::new();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    let pac_server = lab.silent(seen);
    let (catalog, dns) = catalog_of(&lab, &["a.lab.test".to_owned()], lab.closed_port());
    let out = lab.path("report.json");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--timeout", "60s", "--pac"])
        .arg(format!("http://127.0.0.1:{pac_server}/proxy.pac"))
        .arg("--output")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    if seen_rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        panic!("the PAC script was never asked for");
    }
    interrupt(&mut child);
    assert_ne!(child.wait().unwrap().code(), Some(0));
    assert!(
        !out.exists(),
        "a report written for a run that never started"
    );
}

#[test]
fn a_pac_url_that_never_answers_and_a_pac_script_that_never_ends_stay_within_the_timeout() {
    let lab = Lab::new();
    let (seen, _seen_rx) = std::sync::mpsc::channel();
    let silent = lab.silent(seen);
    let (catalog, dns) = catalog_of(&lab, &["a.lab.test".to_owned()], lab.closed_port());
    let endless = lab.write(
        "endless.pac",
        "function FindProxyForURL(url, host) { for (;;) {} }\n",
    );
    for (pac, timeout) in [
        (format!("http://127.0.0.1:{silent}/proxy.pac"), 3),
        (endless.display().to_string(), 2),
    ] {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.args(["--timeout", &format!("{timeout}s"), "--pac", &pac]);
        let started = Instant::now();
        let output = output_within(cmd, Duration::from_secs(30));
        let took = started.elapsed();
        eprintln!("{pac} with --timeout {timeout}s: {took:?}");
        assert!(
            took < Duration::from_millis(timeout * 1000 + 1_500),
            "{pac}: {took:?}"
        );
        assert_ne!(output.status.code(), Some(0), "{pac}");
    }
}

/// Runs `cmd` to its end, killing it (and failing) past `limit`: an input that blocks must not
/// hang the suite.
fn output_within(mut cmd: std::process::Command, limit: Duration) -> std::process::Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Writes `size` bytes of a sparse file (no disk used).
#[cfg(unix)]
fn huge(dir: &std::path::Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn every_input_that_is_not_a_regular_file_or_is_huge_is_refused_naming_it() {
    let lab = Lab::new();
    let (catalog, dns) = catalog_of(&lab, &["a.lab.test".to_owned()], lab.closed_port());
    let fifo = lab.path("input.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dir = lab.path("a-folder");
    std::fs::create_dir(&dir).unwrap();
    let big = huge(lab.dir.path(), "huge.txt", 3 << 30);
    let inputs: Vec<(PathBuf, &str)> = vec![
        (fifo, "FIFO"),
        (PathBuf::from("/dev/zero"), "device"),
        (dir, "directory"),
        (big, "larger than"),
    ];
    let flags = [
        "--pac",
        "--ca-file",
        "--domains",
        "--cidrs",
        "--ice-servers",
        "--endpoints",
        "--ip-ranges",
        "--profile",
    ];
    let ranges = lab::ranges_file(lab.dir.path());
    for (input, what) in &inputs {
        for flag in flags {
            let mut cmd = preflight(&lab);
            cmd.args(["check", "--region", "lab-1", "--format", "json"])
                .args(["--dns-server", &dns.to_string(), "--timeout", "5s"]);
            if flag != "--endpoints" {
                cmd.arg("--endpoints").arg(&catalog);
            }
            if flag != "--ip-ranges" {
                cmd.arg("--ip-ranges").arg(&ranges);
            }
            cmd.arg(flag).arg(input);
            let started = Instant::now();
            let output = output_within(cmd, Duration::from_secs(10));
            let took = started.elapsed();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(65), "{flag} {input:?}: {stderr}");
            assert!(
                stderr.contains(&input.display().to_string()) && stderr.contains(what),
                "{flag} {input:?}: {stderr}"
            );
            assert!(took < Duration::from_secs(5), "{flag} {input:?}: {took:?}");
        }
    }
    // The profile's keys go through the same reader.
    for key in ["pac", "ca_file"] {
        let profile = lab.write(
            "profile.toml",
            &format!("region = \"lab-1\"\n{key} = \"/dev/zero\"\n"),
        );
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.args(["--timeout", "5s"]).arg("--profile").arg(&profile);
        let output = output_within(cmd, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(65), "{key}: {stderr}");
        assert!(stderr.contains("/dev/zero"), "{key}: {stderr}");
    }
}

#[test]
fn an_ice_servers_file_of_thousands_of_relays_is_capped_and_its_relays_are_reported() {
    let lab = Lab::new();
    let (catalog, dns) = catalog_of(&lab, &["a.lab.test".to_owned()], lab.closed_port());
    let servers: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"urls": ["turn:r{i}.lab.test:3478?transport=udp"], "username": "u", "credential": "c"}}"#
            )
        })
        .collect();
    let file = lab.write("ice.json", &format!("[{}]", servers.join(",\n")));
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    // The lab catalog names no relay: the file's are tested all the same.
    cmd.args(["--no-proxy", "--timeout", "10s", "--only", "media"])
        .arg("--ice-servers")
        .arg(&file);
    let started = Instant::now();
    let (_, report) = run_json(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    eprintln!("3000 relays, --timeout 10s: {took:?}");
    assert!(took < Duration::from_millis(11_500), "{took:?}");
    let first = check(&report, "media/r0.lab.test:3478");
    assert_eq!(first["status"], "skip", "{first:#}");
    let cap = check(&report, "ice-server/beyond-cap");
    assert_eq!(cap["evidence"]["not_tested"], 3000 - 16, "{cap:#}");
    let relays = checks(&report)
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("media/r"))
        .count();
    assert_eq!(relays, 16);
}

/// A DNS answer to `request` as `make` builds it from the request's bytes.
fn dns_server(lab: &Lab, make: fn(&[u8]) -> Vec<u8>) -> std::net::SocketAddr {
    let port = lab.udp_server(move |request| vec![make(request)]);
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// The request's header and question with QR set, NOERROR, and `answers` answer records.
fn dns_header(request: &[u8], answers: u16) -> Vec<u8> {
    let mut out = request.to_vec();
    if out.len() < 12 {
        return out;
    }
    // Drop any EDNS additional record: QDCOUNT 1, ANCOUNT, NSCOUNT 0, ARCOUNT 0.
    let question_end = 12 + question_len(&out[12..]);
    out.truncate(question_end);
    out[2] = 0x81;
    out[3] = 0x80;
    out[6..8].copy_from_slice(&answers.to_be_bytes());
    out[8..12].copy_from_slice(&[0, 0, 0, 0]);
    out
}

fn question_len(question: &[u8]) -> usize {
    let mut i = 0;
    while i < question.len() && question[i] != 0 {
        i += usize::from(question[i]) + 1;
    }
    (i + 1 + 4).min(question.len())
}

fn garbage_answer(request: &[u8]) -> Vec<u8> {
    // NOERROR, one answer claimed, and bytes that are no record.
    let mut out = dns_header(request, 1);
    out.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0xff, 0xff]);
    out
}

fn many_answers(request: &[u8]) -> Vec<u8> {
    let is_a = request.len() > 12 && {
        let q = 12 + question_len(&request[12..]);
        q >= 4 && request[q - 4..q - 2] == [0, 1]
    };
    if !is_a {
        return dns_header(request, 0);
    }
    // As many as fit in the 1,232 bytes a resolver asks for over UDP.
    let count: u16 = 70;
    let mut out = dns_header(request, count);
    for i in 0..count {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0]);
        out.extend_from_slice(&i.to_be_bytes());
    }
    out
}

fn wrong_id(request: &[u8]) -> Vec<u8> {
    let mut out = dns_header(request, 0);
    if out.len() >= 2 {
        out[1] ^= 0xff;
    }
    out
}

#[test]
fn hostile_dns_answers_are_named_for_what_they_are() {
    let lab = Lab::new();
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("a", "a.lab.test", lab.closed_port())],
    );
    let run = |dns: std::net::SocketAddr| {
        let mut cmd = preflight(&lab);
        lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
        cmd.args(["--no-proxy", "--timeout", "4s", "--only", "dns"]);
        let started = Instant::now();
        let (_, report) = run_json(cmd, Duration::from_secs(30));
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        report
    };
    // A NOERROR answer that does not decode is not the resolver's SERVFAIL.
    let report = run(dns_server(&lab, garbage_answer));
    let (status, reason) = verdict(&report, "dns/a.lab.test");
    assert_eq!(status, "fail", "{report:#}");
    assert!(
        reason == "bad_response" || reason == "timeout",
        "{:#}",
        check(&report, "dns/a.lab.test")
    );
    assert_ne!(reason, "servfail");
    // Dozens of addresses: the first 16 are judged, and the run stays bounded.
    let report = run(dns_server(&lab, many_answers));
    let dns = check(&report, "dns/a.lab.test");
    let addresses = dns["evidence"]["addresses"]
        .as_array()
        .unwrap_or_else(|| panic!("{dns:#}"));
    assert_eq!(addresses.len(), 16, "{dns:#}");
    // An answer with another transaction ID is no answer.
    let report = run(dns_server(&lab, wrong_id));
    assert_eq!(
        verdict(&report, "dns/a.lab.test").1,
        "timeout",
        "{report:#}"
    );
    // A CNAME loop is not SERVFAIL either.
    let dns = lab.dns(
        [
            (
                "a.lab.test".to_owned(),
                Dns::Cname("b.lab.test".to_owned(), vec![]),
            ),
            (
                "b.lab.test".to_owned(),
                Dns::Cname("a.lab.test".to_owned(), vec![]),
            ),
        ]
        .into_iter()
        .collect(),
    );
    let report = run(dns);
    let (status, reason) = verdict(&report, "dns/a.lab.test");
    assert_eq!(status, "fail", "{report:#}");
    assert_ne!(reason, "servfail", "{report:#}");
}

#[test]
fn stalls_after_the_connection_opened_are_named_for_their_stage_never_a_firewall() {
    let lab = Lab::new();
    let ca = Ca::new("Lab Public CA", "Lab Trust");
    let names = ["slowhead.lab.test", "endless.lab.test", "badname.lab.test"];
    // Slowloris: the head trickles a byte at a time and never ends.
    let slow = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n").await;
        for _ in 0..600 {
            if tls.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // An endless head, sent at once.
    let endless = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', 64 * 1024));
        let _ = tls.write_all(&head).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    // Escape bytes in a header name.
    let badname = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let _ = tls
            .write_all(
                b"HTTP/1.1 200 OK\r\nX-\x1b[31mEvil\xe2\x80\xae: 1\r\nContent-Length: 0\r\n\r\n",
            )
            .await;
        let _ = tls.shutdown().await;
    });
    // A proxy that accepts and never answers.
    let (seen, _seen_rx) = std::sync::mpsc::channel();
    let hung_proxy = lab.silent(seen);
    let dns = lab.dns(lab::loopback_zone(&names));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("slowhead", "slowhead.lab.test", slow),
            Endpoint::new("endless", "endless.lab.test", endless),
            Endpoint::new("badname", "badname.lab.test", badname),
        ],
    );
    let ca_file = lab.write("ca.pem", &ca.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "4s"])
        .arg("--ca-file")
        .arg(&ca_file);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_millis(5_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 2, "{report:#}");
    let slow_https = check(&report, &format!("https/slowhead.lab.test:{slow}/"));
    assert_eq!(
        (slow_https["status"].as_str(), slow_https["reason"].as_str()),
        (Some("fail"), Some("stalled")),
        "{slow_https:#}"
    );
    let endless_https = format!("https/endless.lab.test:{endless}/");
    expect(&report, &endless_https, "fail", "bad_response");
    let raw = serde_json::to_string(&report).unwrap();
    assert!(
        !raw.contains('\u{1b}') && !raw.contains('\u{202e}'),
        "{raw}"
    );
    for c in checks(&report) {
        if let Some(remedy) = c["remedy"].as_str() {
            assert!(
                !(c["kind"] != "tcp" && remedy.contains("firewall silently drops")),
                "{c:#}"
            );
        }
    }

    // The hung proxy: the connection to it opened, so its silence is named as such.
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--timeout", "3s", "--proxy"])
        .arg(format!("http://127.0.0.1:{hung_proxy}"))
        .arg("--ca-file")
        .arg(&ca_file);
    let started = Instant::now();
    let (_, report) = run_json(cmd, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_millis(4_500),
        "{:?}",
        started.elapsed()
    );
    let tcp = check(&report, &format!("tcp/slowhead.lab.test:{slow}"));
    assert_eq!(tcp["reason"], "stalled", "{tcp:#}");
    assert_eq!(tcp["evidence"]["stage"], "proxy_connect", "{tcp:#}");
    assert!(
        !tcp["remedy"]
            .as_str()
            .unwrap()
            .contains("firewall silently drops"),
        "{tcp:#}"
    );
}

#[test]
fn hostile_certificate_names_and_an_oversized_chain_reach_no_report_raw() {
    let lab = Lab::new();
    // An issuer whose names would reorder or recolour a terminal, not trusted here.
    let evil = Ca::new("Evil\u{202e}AC\u{1b}[31m", "Org\u{7}\u{9b}");
    let (chain, key) = evil.leaf(&["evil.lab.test"], false);
    let evil_site = lab.tls_site(chain, key, Site::ok());
    // A chain of about 100 KB: past what any real server sends.
    let ca = Ca::new("Lab Public CA", "Lab Trust");
    let (mut chain, key) = ca.leaf(&["big.lab.test"], false);
    let filler = chain[0].clone();
    while chain.iter().map(|c| c.len()).sum::<usize>() < 100 * 1024 {
        chain.push(filler.clone());
    }
    let big_site = lab.tls_site(chain, key, Site::ok());
    let dns = lab.dns(lab::loopback_zone(&["evil.lab.test", "big.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("evil", "evil.lab.test", evil_site),
            Endpoint::new("big", "big.lab.test", big_site),
        ],
    );
    let ca_file = lab.write("ca.pem", &ca.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "5s"])
        .arg("--ca-file")
        .arg(&ca_file);
    let (_, report) = run_json(cmd, Duration::from_secs(30));
    expect(
        &report,
        &format!("tls/evil.lab.test:{evil_site}"),
        "fail",
        "untrusted_certificate",
    );
    let raw = serde_json::to_string(&report).unwrap();
    for bad in ['\u{202e}', '\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!raw.contains(bad), "{bad:?} in {raw}");
    }
    let big = check(&report, &format!("tls/big.lab.test:{big_site}"));
    assert_ne!(
        big["reason"], "handshake_failed",
        "not an SNI filter: {big:#}"
    );
    assert_eq!(big["status"], "fail", "{big:#}");
}

/// Holds the read side of a socket open so a flood has somewhere to go.
async fn drain(mut tcp: tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
}

#[test]
fn a_proxy_that_answers_garbage_is_named_and_bounded() {
    let lab = Lab::new();
    let garbage = lab.tcp_server(|mut tcp| async move {
        let _ = tcp.write_all(b"\x00\xffSSH-2.0-not-a-proxy\r\n\r\n").await;
        drain(tcp).await;
    });
    let (catalog, dns) = catalog_of(&lab, &["a.lab.test".to_owned()], 443);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--timeout", "3s", "--proxy"])
        .arg(format!("http://127.0.0.1:{garbage}"));
    let started = Instant::now();
    let (_, report) = run_json(cmd, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_millis(4_500),
        "{:?}",
        started.elapsed()
    );
    expect(&report, "tcp/a.lab.test:443", "fail", "proxy_denied");
}

#[test]
fn a_relay_that_answers_garbage_or_floods_is_named_and_bounded() {
    let lab = Lab::new();
    // Every datagram gets 200 that are no STUN message.
    let relay = lab.udp_server(|_| (0..200u8).map(|i| vec![i; 64]).collect());
    let dns = lab.dns(lab::loopback_zone(&["relay.lab.test"]));
    let catalog = crate::check::one_relay_catalog(&lab, relay);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "6s", "--media-seconds", "1"]);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(7_500), "{took:?}");
    assert_eq!(code, 2, "{report:#}");
    let stun = check(&report, "stun/relay.lab.test/127.0.0.1");
    assert_eq!(stun["status"], "fail", "{stun:#}");
    assert!(
        matches!(stun["reason"].as_str(), Some("bad_response" | "timeout")),
        "{stun:#}"
    );
}

#[test]
fn a_catalog_of_twenty_thousand_hosts_ends_within_the_timeout() {
    let lab = Lab::new();
    let names: Vec<String> = (0..20_000).map(|i| format!("h{i}.lab.test")).collect();
    // None of them resolves: each is answered at once, and there are far too many for 3 s.
    let dns = lab.dns(std::collections::HashMap::new());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let endpoints: Vec<Endpoint<'_>> = refs.iter().map(|n| Endpoint::new(n, n, 443)).collect();
    let catalog = lab::catalog_file(lab.dir.path(), &endpoints);
    let out = lab.path("report.json");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    // Tens of megabytes of JSON: to a file, not a pipe read only at the end.
    cmd.args(["--no-proxy", "--timeout", "3s", "--output"])
        .arg(&out);
    let started = Instant::now();
    let output = output_within(cmd, Duration::from_secs(60));
    let took = started.elapsed();
    let code = output.status.code().unwrap_or(-1);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    eprintln!("20,000 hosts, --timeout 3s: {took:?}");
    // Generous for an unoptimised build writing 80,000 checks on a loaded machine (alone, about
    // 3.6 s); what it guards against took minutes (matching every host to the catalog again).
    assert!(took < Duration::from_secs(15), "{took:?}");
    // How many names are asked before the deadline depends on the machine: the names that were
    // asked are NXDOMAIN (a failure, exit 2); when the deadline came before any answer, nothing
    // failed and the run is incomplete (exit 3). Either way the verdict is what was measured.
    let failed = checks(&report).iter().any(|c| c["status"] == "fail");
    assert_eq!(code, if failed { 2 } else { 3 }, "{}", report["verdict"]);
    assert!(
        checks(&report)
            .iter()
            .filter(|c| c["status"] == "fail")
            .all(|c| c["reason"] == "nxdomain")
    );
    assert!(checks(&report).iter().any(|c| c["reason"] == "deadline"));
}

// ---------------------------------------------------------------------------------------------
// DNS servers that lie about the transport, the port or the transaction.
// ---------------------------------------------------------------------------------------------

/// How long the blocking servers below live at most.
const SERVER_LIFE: Duration = Duration::from_secs(60);

/// An answer to the DNS `request` (A: `v4`, AAAA: nothing), its ID XORed with `id_xor` and its
/// TC bit set when `truncated`. `None` when the request is not DNS.
fn dns_answer(
    request: &[u8],
    v4: &[std::net::Ipv4Addr],
    id_xor: u16,
    truncated: bool,
) -> Option<Vec<u8>> {
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record, RecordType};
    let request = Message::from_vec(request).ok()?;
    let query = request.queries.first()?.clone();
    let mut response = Message::response(request.metadata.id ^ id_xor, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.truncation = truncated;
    response.add_query(query.clone());
    if query.query_type == RecordType::A && !truncated {
        for ip in v4 {
            response.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A(*ip))));
        }
    }
    response.to_vec().ok()
}

/// A UDP socket on 127.0.0.1 that `answer` serves on a thread of its own (bounded by
/// [`SERVER_LIFE`]): for each request, the datagrams to send and the socket to send each from
/// (`true`: the one asked, `false`: `other`, a socket on another port).
fn udp_dns<F>(socket: std::net::UdpSocket, answer: F) -> std::net::SocketAddr
where
    F: Fn(&[u8]) -> Vec<(bool, Duration, Vec<u8>)> + Send + 'static,
{
    let addr = socket.local_addr().unwrap();
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        while started.elapsed() < SERVER_LIFE {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            for (from_asked, delay, bytes) in answer(&buf[..n]) {
                std::thread::sleep(delay);
                let from = if from_asked { &socket } else { &other };
                let _ = from.send_to(&bytes, peer);
            }
        }
    });
    addr
}

/// A TCP DNS server (RFC 7766 framing) on `listener`, answering each request with `answer`;
/// reports each connection on `seen`.
fn tcp_dns<F>(listener: std::net::TcpListener, seen: std::sync::mpsc::Sender<()>, answer: F)
where
    F: Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
{
    use std::io::{Read, Write};
    listener.set_nonblocking(true).unwrap();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < SERVER_LIFE {
            let Ok((mut tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = seen.send(());
            let answer = answer.clone();
            // Each connection on a thread of its own: a few requests at most (A and AAAA).
            std::thread::spawn(move || {
                tcp.set_nonblocking(false).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                for _ in 0..4 {
                    let mut len = [0u8; 2];
                    if tcp.read_exact(&mut len).is_err() {
                        break;
                    }
                    let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if tcp.read_exact(&mut request).is_err() {
                        break;
                    }
                    let Some(reply) = answer(&request) else { break };
                    let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    if tcp.write_all(&framed).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// A UDP socket and a TCP listener on the same loopback port.
fn udp_and_tcp_on_one_port() -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// `check --only dns` of `a.lab.test` against `dns`, within `--timeout 4s` and a 6 s bound.
fn dns_only(lab: &Lab, dns: std::net::SocketAddr) -> Value {
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("a", "a.lab.test", lab.closed_port())],
    );
    let mut cmd = preflight(lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "4s", "--only", "dns"]);
    let started = Instant::now();
    let (_, report) = run_json(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "{took:?}");
    report
}

fn addresses_of(report: &Value) -> Vec<String> {
    let dns = check(report, "dns/a.lab.test");
    dns["evidence"]["addresses"]
        .as_array()
        .unwrap_or_else(|| panic!("{dns:#}"))
        .iter()
        .map(|a| a["address"].as_str().unwrap().to_owned())
        .collect()
}

/// A DNS server that answers every UDP request "truncated" and, over TCP on the same port, with
/// `count` A records: the first 127.0.0.1 (published in the lab's ranges), the others elsewhere in
/// 127/8. Reports each TCP connection on the receiver.
fn truncated_then_tcp(count: u32) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<()>) {
    let (udp, tcp) = udp_and_tcp_on_one_port();
    let dns = udp_dns(udp, |request| {
        dns_answer(request, &[], 0, true)
            .map(|a| vec![(true, Duration::ZERO, a)])
            .unwrap_or_default()
    });
    let many: Vec<std::net::Ipv4Addr> = (0..count)
        .map(|i| {
            if i == 0 {
                std::net::Ipv4Addr::LOCALHOST
            } else {
                std::net::Ipv4Addr::from(0x7f01_0000 + i)
            }
        })
        .collect();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    tcp_dns(tcp, seen, move |request| {
        dns_answer(request, &many, 0, false)
    });
    (dns, seen_rx)
}

#[test]
fn thousands_of_dns_answers_over_tcp_after_a_truncated_udp_answer_are_bounded() {
    let lab = Lab::new();
    // 2,000 records over TCP (about 32 KB): taken, and the first 16 judged.
    let (dns, seen) = truncated_then_tcp(2_000);
    let report = dns_only(&lab, dns);
    assert!(
        seen.try_recv().is_ok(),
        "the resolver did not retry over TCP: {report:#}"
    );
    let addresses = addresses_of(&report);
    assert_eq!(addresses.len(), 16, "{addresses:?}");
    assert_eq!(addresses[0], "127.0.0.1");
    // The others are loopback addresses no range publishes: judged as such, not passed.
    expect(&report, "dns/a.lab.test", "fail", "private_address");

    // 3,000 records (about 48 KB): more than the resolver takes over TCP. The answer was
    // truncated and never had whole, which is not the server's SERVFAIL.
    let (dns, seen) = truncated_then_tcp(3_000);
    let report = dns_only(&lab, dns);
    assert!(seen.try_recv().is_ok(), "{report:#}");
    expect(&report, "dns/a.lab.test", "fail", "bad_response");
    let detail = check(&report, "dns/a.lab.test")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("truncated answer over UDP"), "{detail}");
}

#[test]
fn dns_answers_from_another_port_or_with_another_id_are_not_believed() {
    let lab = Lab::new();
    let spoofed = |last: u8| vec![std::net::Ipv4Addr::new(10, 6, 6, last)];
    let real = [std::net::Ipv4Addr::LOCALHOST];
    // First a forged answer from another port and one with another ID, then the real one.
    let dns = udp_dns(
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        move |request| {
            let mut out = Vec::new();
            out.extend(
                dns_answer(request, &spoofed(6), 0, false).map(|a| (false, Duration::ZERO, a)),
            );
            out.extend(
                dns_answer(request, &spoofed(7), 0x5a5a, false).map(|a| (true, Duration::ZERO, a)),
            );
            out.extend(
                dns_answer(request, &real, 0, false).map(|a| (true, Duration::from_millis(300), a)),
            );
            out
        },
    );
    let report = dns_only(&lab, dns);
    expect(&report, "dns/a.lab.test", "pass", "ok");
    assert_eq!(addresses_of(&report), ["127.0.0.1"]);

    // Only ever from another port: no answer at all.
    let dns = udp_dns(
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        move |request| {
            dns_answer(request, &real, 0, false)
                .map(|a| vec![(false, Duration::ZERO, a)])
                .unwrap_or_default()
        },
    );
    let report = dns_only(&lab, dns);
    expect(&report, "dns/a.lab.test", "fail", "timeout");
}

// ---------------------------------------------------------------------------------------------
// HTTP heads and bodies far past any real server's.
// ---------------------------------------------------------------------------------------------

#[test]
fn huge_http_heads_fail_as_such_and_huge_bodies_are_never_read() {
    let lab = Lab::new();
    let ca = Ca::new("Lab Public CA", "Lab Trust");
    let names = [
        "manyheaders.lab.test",
        "hugehead.lab.test",
        "hugebody.lab.test",
    ];
    // 2,000 tiny header fields: a 12 KB head, within the bound; only the first are kept.
    let many = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..2000 {
            head.extend_from_slice(format!("X{}: v\r\n", i % 10).as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let _ = tls.write_all(&head).await;
        let _ = tls.shutdown().await;
    });
    // 100,000 well-formed header fields (about 2 MB), sent as fast as they are read.
    let huge_head = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n").await;
        let line = b"X-Filler: 0123456789abcdef\r\n".repeat(1000);
        for _ in 0..100 {
            if tls.write_all(&line).await.is_err() {
                return;
            }
        }
        let _ = tls.write_all(b"\r\n").await;
    });
    // A complete head announcing 10 GB, then a body that keeps coming for half a minute.
    let huge_body = tls_site_answering(&lab, &ca, &names, |mut tls| async move {
        let _ = tls
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
            .await;
        let chunk = vec![b'x'; 64 * 1024];
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if tls.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let dns = lab.dns(lab::loopback_zone(&names));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("manyheaders", "manyheaders.lab.test", many),
            Endpoint::new("hugehead", "hugehead.lab.test", huge_head),
            Endpoint::new("hugebody", "hugebody.lab.test", huge_body),
        ],
    );
    let ca_file = lab.write("ca.pem", &ca.pem);
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "5s"])
        .arg("--ca-file")
        .arg(&ca_file);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    eprintln!("huge heads and bodies, --timeout 5s: {took:?}");
    assert!(took < Duration::from_millis(6_500), "{took:?}");
    assert_eq!(code, 2, "{report:#}");
    expect(
        &report,
        &format!("https/manyheaders.lab.test:{many}/"),
        "pass",
        "ok",
    );
    let head = check(&report, &format!("https/hugehead.lab.test:{huge_head}/"));
    assert_eq!(
        (head["status"].as_str(), head["reason"].as_str()),
        (Some("fail"), Some("bad_response")),
        "{head:#}"
    );
    assert!(
        head["detail"].as_str().unwrap().contains("KiB"),
        "the detail names the bound: {head:#}"
    );
    // The body is not the check's business: the head said 200, and the check ends at once.
    let body = check(&report, &format!("https/hugebody.lab.test:{huge_body}/"));
    assert_eq!(body["status"], "pass", "{body:#}");
    assert!(body["duration_ms"].as_u64().unwrap() < 2_000, "{body:#}");
}

// ---------------------------------------------------------------------------------------------
// A TURN relay whose error reason is hostile text, over the live TURN path.
// ---------------------------------------------------------------------------------------------

/// A relay's answer to `request`: Bindings succeed, every Allocate gets the error `code` with
/// `reason` (and, when `challenge`, the REALM and NONCE of a TURN 401).
fn relay_answer(request: &[u8], code: u16, reason: &str, challenge: bool) -> Vec<Vec<u8>> {
    use stun::message::{Message, MessageType, Setter};
    let mut m = Message::new();
    if m.unmarshal_binary(request).is_err() {
        return Vec::new();
    }
    let id = m.transaction_id;
    let mut setters: Vec<Box<dyn Setter>> = match m.typ.method {
        stun::message::METHOD_BINDING => vec![
            Box::new(id),
            Box::new(stun::message::BINDING_SUCCESS),
            Box::new(stun::xoraddr::XorMappedAddress {
                ip: std::net::Ipv4Addr::LOCALHOST.into(),
                port: 9,
            }),
        ],
        stun::message::METHOD_ALLOCATE => vec![
            Box::new(id),
            Box::new(MessageType::new(
                stun::message::METHOD_ALLOCATE,
                stun::message::CLASS_ERROR_RESPONSE,
            )),
            Box::new(stun::error_code::ErrorCodeAttribute {
                code: stun::error_code::ErrorCode(code),
                reason: reason.as_bytes().to_vec(),
            }),
        ],
        _ => return Vec::new(),
    };
    if challenge && m.typ.method == stun::message::METHOD_ALLOCATE {
        setters.push(Box::new(stun::textattrs::TextAttribute::new(
            stun::attributes::ATTR_REALM,
            "lab.test".to_owned(),
        )));
        setters.push(Box::new(stun::textattrs::TextAttribute::new(
            stun::attributes::ATTR_NONCE,
            "0123abcd".to_owned(),
        )));
    }
    let mut reply = Message::new();
    if reply.build(&setters).is_err() {
        return Vec::new();
    }
    vec![reply.raw]
}

/// A relay answering Bindings, and every Allocate with `code` and `reason`.
fn relay_refusing(lab: &Lab, code: u16, reason: &'static str) -> u16 {
    lab.udp_server(move |request| relay_answer(request, code, reason, false))
}

#[test]
fn a_turn_error_reason_with_bidi_overrides_and_escapes_reaches_no_output_raw() {
    let lab = Lab::new();
    let relay = relay_refusing(
        &lab,
        403,
        "Forbidden \u{202e}nimda\u{202c} \u{1b}[31mred\u{7}",
    );
    let dns = lab.dns(lab::loopback_zone(&["relay.lab.test"]));
    let catalog = crate::check::one_relay_catalog(&lab, relay);
    for format in ["json", "text", "html"] {
        let mut cmd = preflight(&lab);
        crate::check::lab_args_as(&mut cmd, lab.dir.path(), &catalog, dns, format);
        cmd.args(["--no-proxy", "--timeout", "5s", "--media-seconds", "1"]);
        let started = Instant::now();
        let output = output_within(cmd, Duration::from_secs(30));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(6_500), "{format}: {took:?}");
        assert_eq!(output.status.code(), Some(2), "{format}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        for bad in ['\u{202e}', '\u{202c}', '\u{1b}', '\u{7}'] {
            assert!(!text.contains(bad), "{format}: {bad:?} in {text}");
        }
        assert!(text.contains("Forbidden"), "{format}: {text}");
        if format == "json" {
            let report: Value = serde_json::from_str(&text).unwrap();
            let turn = checks(&report)
                .iter()
                .find(|c| c["kind"] == "turn" && c["id"].as_str().unwrap().starts_with("turn/"))
                .unwrap_or_else(|| panic!("no TURN check: {report:#}"));
            assert_eq!(
                (turn["status"].as_str(), turn["reason"].as_str()),
                (Some("fail"), Some("allocation_failed")),
                "{turn:#}"
            );
            assert_eq!(turn["evidence"]["error_code"], 403, "{turn:#}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C during the media sample and while the report is written.
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn ctrl_c_during_the_media_sample_reports_the_sample_as_interrupted() {
    let lab = Lab::new();
    // A relay as the softphone meets it; once it has answered 40 requests, the sample is on.
    let (sampling, sampling_rx) = std::sync::mpsc::channel();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let relay = lab.udp_server(move |request| {
        let n = answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 40 {
            let _ = sampling.send(());
        }
        relay_answer(request, 401, "Unauthorized", true)
    });
    let dns = lab.dns(lab::loopback_zone(&["relay.lab.test"]));
    let catalog = crate::check::one_relay_catalog(&lab, relay);
    let out = lab.path("report.json");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "60s", "--media-seconds", "30"])
        .arg("--output")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    if sampling_rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        panic!("the media sample never started");
    }
    let started = Instant::now();
    interrupt(&mut child);
    let took = started.elapsed();
    eprintln!("Ctrl-C during the media sample: ended {took:?} later");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["verdict"], "incomplete", "{report:#}");
    assert_eq!(
        check(&report, "system/interrupted")["reason"],
        "interrupted"
    );
    let media: Vec<&Value> = checks(&report)
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("media/"))
        .collect();
    assert!(
        media
            .iter()
            .any(|c| c["status"] == "skip" && c["reason"] == "interrupted"),
        "the cut sample is not reported as interrupted: {report:#}"
    );
    for c in media {
        assert_ne!(c["status"], "pass", "a sample cut short passed: {c:#}");
    }
}

/// Once the probes are over, Ctrl-C is held until the report in hand is written whole (it is
/// all measured; the write is atomic): the folder then holds the complete report, never a part.
#[cfg(unix)]
#[test]
fn ctrl_c_while_the_report_is_written_leaves_no_partial_file() {
    let lab = Lab::new();
    // 5,000 names nobody knows: a report of a few megabytes to write.
    let names: Vec<String> = (0..5_000).map(|i| format!("h{i}.lab.test")).collect();
    let dns = lab.dns(std::collections::HashMap::new());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let endpoints: Vec<Endpoint<'_>> = refs.iter().map(|n| Endpoint::new(n, n, 443)).collect();
    let catalog = lab::catalog_file(lab.dir.path(), &endpoints);
    let folder = lab.path("out");
    std::fs::create_dir(&folder).unwrap();
    let out = folder.join("report.json");
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--no-proxy", "--timeout", "2s", "--output"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // The report is written to a temporary file beside the destination, then renamed: Ctrl-C
    // as soon as anything appears in the folder.
    let started = Instant::now();
    let mut sent = false;
    while started.elapsed() < Duration::from_secs(30) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::fs::read_dir(&folder).unwrap().next().is_some() {
            interrupt(&mut child);
            sent = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "Ctrl-C while the report is written (sent: {sent}): exit {:?}, {:?} in all",
        output.status.code(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // Nothing but the complete report, or nothing at all.
    let left: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty() || left == ["report.json"],
        "left behind: {left:?}"
    );
    if out.exists() {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
            .expect("the report written is complete JSON");
        assert!(checks(&report).len() >= 5_000);
        if output.status.code() == Some(130) {
            assert_eq!(report["verdict"], "incomplete", "{stderr}");
        }
    } else {
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// SOCKS routes this tool cannot test.
// ---------------------------------------------------------------------------------------------

/// A SOCKS5 proxy that offers only username/password authentication (RFC 1929), or none at all.
fn socks5_demanding_auth(lab: &Lab, method: u8) -> u16 {
    lab.tcp_server(move |mut client| async move {
        let mut greeting = [0u8; 2];
        if client.read_exact(&mut greeting).await.is_err() {
            return;
        }
        let mut methods = vec![0u8; usize::from(greeting[1])];
        let _ = client.read_exact(&mut methods).await;
        let _ = client.write_all(&[5, method]).await;
        drain(client).await;
    })
}

#[test]
fn socks4_and_socks5_with_authentication_are_unsupported_routes_never_failures() {
    let lab = Lab::new();
    let names: Vec<String> = ["four.lab.test", "auth.lab.test", "none.lab.test"]
        .map(str::to_owned)
        .to_vec();
    let port = lab.closed_port();
    let (catalog, dns) = catalog_of(&lab, &names, port);
    let wants_password = socks5_demanding_auth(&lab, 2);
    let no_method = socks5_demanding_auth(&lab, 0xff);
    let pac = lab.write(
        "socks.pac",
        &format!(
            r#"function FindProxyForURL(url, host) {{
  if (host == "four.lab.test") return "SOCKS4 127.0.0.1:1080";
  if (host == "auth.lab.test") return "SOCKS5 127.0.0.1:{wants_password}";
  return "SOCKS5 127.0.0.1:{no_method}";
}}
"#
        ),
    );
    let mut cmd = preflight(&lab);
    lab_args(&mut cmd, lab.dir.path(), &catalog, dns);
    cmd.args(["--timeout", "5s"]).arg("--pac").arg(&pac);
    let started = Instant::now();
    let (code, report) = run_json(cmd, Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_millis(6_500));
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["verdict"], "incomplete");
    for c in checks(&report)
        .iter()
        .filter(|c| c["host"].as_str().is_some_and(|h| h.ends_with(".lab.test")))
        .filter(|c| c["kind"] != "dns")
        // The direct path beside a proxy is information, tried for every proxied host.
        .filter(|c| !c["id"].as_str().unwrap().starts_with("direct/"))
    {
        assert_untested_without_remedy(c, "unsupported_route");
    }
    let four = check(&report, &format!("tcp/four.lab.test:{port}"));
    let detail = four["detail"].as_str().unwrap();
    assert!(detail.contains("SOCKS4 127.0.0.1:1080"), "{four:#}");
    for (host, proxy) in [("auth", wants_password), ("none", no_method)] {
        let c = check(&report, &format!("tcp/{host}.lab.test:{port}"));
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("socks5://127.0.0.1:{proxy}"))
                && detail.contains("authentication"),
            "{c:#}"
        );
    }
}
