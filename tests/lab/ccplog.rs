//! `ccp-log` against real statistics: the project's relay-only WebRTC call placed through the
//! lab's coturn behind a delay line, once on a clean path and once on a path that loses 6 % of
//! what the agent sends towards the relay. The call's figures, as the live check's JSON report
//! gives them, are written as an `agent-log.txt` in the shape amazon-connect-streams writes (the
//! generator of the CLI tests, `tests/cli/ccplog_gen.rs`, with its source references), and
//! `ccp-log` must grade that call as the live check graded it: status, MOS and its band, and the
//! loss, jitter, round-trip and MOS findings.
//!
//! And the CCP's WebSocket without a session's URL in a CCP v2 run through a proxy: no other
//! WebSocket host is in the run, so the report must say that whether the proxy passes upgrades
//! is untested, and what a URL would add.
//!
//! The lab's call carries one stream (the offering peer sends, the answering peer counts), so its
//! figures stand for both ways of the logged call: what the agent heard (`audio_input`: the
//! received packets and those lost, the counted jitter) and what the customer heard
//! (`audio_output`: the sent packets, the same loss, the RTCP round trip).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::net;
use crate::scenarios::{
    CATALOG, INSTANCE, PARTICIPANT, STATIC, Scenario, TURN, World, counted, expect, find,
    host_passes, mentions, verdict,
};
use crate::servers::{Site, TURN_PASSWORD, TURN_USER, run_bounded};

#[path = "../cli/ccplog_gen.rs"]
mod ccplog_gen;

use ccplog_gen::{Log, Shape, T0, Tick};

pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "ccplog_live_call_clean_path",
        run: ccplog_live_call_clean_path,
    },
    Scenario {
        name: "ccplog_live_call_6_pct_loss",
        run: ccplog_live_call_6_pct_loss,
    },
    Scenario {
        name: "ccplog_check_tests_the_logs_endpoints",
        run: ccplog_check_tests_the_logs_endpoints,
    },
    Scenario {
        name: "transport_v2_proxy_without_url",
        run: transport_v2_proxy_without_url,
    },
];

/// Where the relay's name resolves: the delay line on the edge, in front of coturn.
const FRONT: &str = "203.0.113.28";

/// The live check with the lab's TURN credentials, the relay behind a delay line of
/// 20 ± 2 ms each way and `drop_every` (lost, period) applied by the edge to what the agent
/// sends to the relay. Returns the lab (still up), the report, the exit code and the share the
/// edge dropped (%).
fn live_call(drop_every: Option<(u32, u32)>) -> (World, Value, i32, f64) {
    let mut w = World::new();
    w.answer(TURN, FRONT);
    w.media_seconds = 4;
    w.start();
    w.lab.delay_line(
        &format!("{FRONT}:3478"),
        &format!("{}:3478", crate::scenarios::TURN_V4),
        20,
        2,
    );
    let mut rules = vec![format!(
        "ip daddr {FRONT} udp dport 3478 counter comment \"seen\""
    )];
    if let Some((lost, every)) = drop_every {
        // The last ones of each period, so the first requests of a transaction get through.
        rules.push(format!(
            "ip daddr {FRONT} udp dport 3478 numgen inc mod {every} >= {} counter drop comment \"lost\"",
            every - lost
        ));
    }
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    w.lab.net.edge_input(&rules);
    let (code, report) = w.check(&[
        "--turn-username",
        TURN_USER,
        "--turn-password",
        TURN_PASSWORD,
        "--timeout",
        "30s",
    ]);
    let ruleset = w.lab.net.ruleset();
    w.lab.keep_if_asked("ccplog_live_call");
    let seen = counted(&ruleset, "seen");
    assert!(seen > 150, "the call passed the edge: {seen} datagrams");
    let dropped = if drop_every.is_some() {
        100.0 * counted(&ruleset, "lost") as f64 / seen as f64
    } else {
        0.0
    };
    (w, report, code, dropped)
}

/// Spreads `total` over `n` seconds as evenly as whole packets allow.
fn share(total: u64, n: u64, second: u64) -> u32 {
    u32::try_from(total * (second + 1) / n - total * second / n).expect("a second's packets")
}

/// The live call's figures as the softphone's per-second statistics of one call.
fn logged_call(call: &Value) -> String {
    let e = &call["evidence"];
    let sent = e["packets_sent"].as_u64().expect("packets_sent");
    let received = e["packets_received"].as_u64().expect("packets_received");
    let lost = sent.saturating_sub(received);
    let jitter = e["jitter_ms"].as_f64().expect("jitter_ms");
    // No RTCP round trip yet is `null` in the log, as the browser reports it.
    let rtt = e["rtcp_rtt_ms"].as_f64().unwrap_or(f64::NAN);
    let seconds = ((e["sampled_ms"].as_u64().expect("sampled_ms") + 500) / 1000).max(1);
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for s in 0..seconds {
        let (sent, lost) = (share(sent, seconds, s), share(lost, seconds, s));
        input.push(Tick {
            packets: sent - lost,
            lost,
            jitter_ms: jitter,
            rtt_ms: f64::NAN,
        });
        output.push(Tick {
            packets: sent,
            lost,
            jitter_ms: jitter,
            rtt_ms: rtt,
        });
    }
    // A 2023 log (streams 2.28, connect-rtc-js 1.1.20): `jitterBufferMillis` is jitter in ms, as
    // the call counts it (RFC 3550 over the received packets).
    let mut log = Log::new(Shape::Y2023);
    log.session_start(T0 - 60_000);
    log.snapshot(T0 - 30_000, 0, None);
    log.measured_call(&ccplog_gen::contact(1), T0, &input, &output, 0);
    log.snapshot(
        T0 + i64::try_from(seconds).expect("seconds") * 1_000 + 5_000,
        0,
        None,
    );
    log.render()
}

fn ccp_log(path: &std::path::Path) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connect-preflight"));
    cmd.arg("ccp-log")
        .arg(path)
        .args(["--format", "json"])
        .env_clear()
        .env("NO_COLOR", "1");
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(20));
    assert!([0, 1, 2].contains(&code), "ccp-log exited {code}: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("ccp-log printed no JSON ({e}): {stdout}\n{stderr}"))
}

/// The findings of a grading, by the words `media::grade` gives each (default thresholds).
fn findings(problems: &str) -> BTreeSet<&'static str> {
    [
        ("loss fails", "where calls break up"),
        ("loss warns", "Twilio warns at"),
        ("jitter", "ms is over AWS's and Twilio's"),
        ("round trip", "round-trip time"),
        ("MOS fails", "Twilio's lowest band"),
        ("MOS fair", "\"fair\" band"),
    ]
    .into_iter()
    .filter(|(_, words)| problems.contains(words))
    .map(|(name, _)| name)
    .collect()
}

fn close(a: f64, b: f64, within: f64, what: &str) {
    assert!((a - b).abs() <= within, "{what}: ccp-log {a}, live {b}");
}

/// Runs the live call, writes its figures as a CCP log, grades the log, and compares.
/// Returns the live report, its exit code and the logged call as `ccp-log` reads it.
fn graded_alike(drop_every: Option<(u32, u32)>) -> (Value, i32, Value) {
    let (w, report, code, dropped) = live_call(drop_every);
    let call = find(&report, &format!("call/{TURN}/{FRONT}")).clone();
    assert!(
        call["evidence"]["packets_sent"].as_u64().unwrap_or(0) >= 100,
        "the call carried no audio: {call:#}"
    );
    let e = &call["evidence"];
    let live_mos = e["mos"].as_f64();
    println!(
        "        live call: {} ({}), loss {} % (edge dropped {dropped:.2} %), jitter {} ms, RTCP RTT {} ms, MOS {} ({}), exit {code}",
        call["status"],
        call["reason"],
        e["loss_pct"],
        e["jitter_ms"],
        e["rtcp_rtt_ms"],
        e["mos"],
        e["mos_band"]
    );
    let path = w.lab.write("agent-log.txt", &logged_call(&call));
    let r = ccp_log(&path);
    let logged = &r["ccp_log"]["calls"][0];
    assert_eq!(logged["contact_id"], ccplog_gen::contact(1), "{r:#}");
    println!(
        "        ccp-log:   {} ({}), loss {} %, jitter {} ms, RTT {} ms, MOS {}",
        logged["status"],
        logged["reason"],
        logged["audio_input"]["loss_pct"],
        logged["audio_input"]["jitter_avg_ms"],
        logged["audio_output"]["rtt_avg_ms"],
        logged["audio_input"]["mos"]
    );
    // The verdict on the call.
    assert_eq!(logged["status"], call["status"], "{logged:#}\n{call:#}");
    assert_eq!(logged["reason"], call["reason"], "{logged:#}\n{call:#}");
    let id_check = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "ccp-log/call/1")
        .unwrap_or_else(|| panic!("no ccp-log/call/1 in {r:#}"));
    assert_eq!(id_check["status"], call["status"], "{id_check:#}");
    // The figures it was judged on, both ways.
    let live_loss = e["loss_pct"].as_f64().expect("loss_pct");
    let live_jitter = e["jitter_ms"].as_f64().expect("jitter_ms");
    for dir in ["audio_input", "audio_output"] {
        let a = &logged[dir];
        close(
            a["loss_pct"].as_f64().unwrap_or(-1.0),
            live_loss,
            0.01,
            &format!("{dir} loss %"),
        );
        close(
            a["jitter_avg_ms"].as_f64().unwrap_or(-1.0),
            live_jitter,
            0.01,
            &format!("{dir} jitter ms"),
        );
        match (e["rtcp_rtt_ms"].as_f64(), a["rtt_avg_ms"].as_f64()) {
            (Some(live), Some(log)) => close(log, live, 0.01, &format!("{dir} RTT ms")),
            (None, None) => {}
            (live, log) => panic!("{dir} RTT: ccp-log {log:?}, live {live:?}"),
        }
        // The MOS and its band (Twilio's E-model and score, as the live check grades).
        if let Some(live) = live_mos {
            let mos = a["mos"].as_f64().expect("mos");
            close(mos, live, 0.01, &format!("{dir} MOS"));
            assert_eq!(
                connect_preflight::media::grade::Band::of(mos).as_str(),
                e["mos_band"],
                "{dir} MOS band"
            );
        }
    }
    // The findings: the live detail names them before "Judged against:"; the log's per
    // direction. A run of bad seconds is the log's own finding (it has seconds), left aside.
    let detail = call["detail"].as_str().unwrap_or_default();
    let live_problems = detail.split("Judged against:").next().unwrap_or_default();
    let live = findings(live_problems);
    for dir in ["audio_input", "audio_output"] {
        let problems = logged[dir]["problems"].to_string();
        assert_eq!(
            findings(&problems),
            live,
            "{dir}: ccp-log found {problems}; the live check: {live_problems}"
        );
    }
    (report, code, logged.clone())
}

/// 20 ± 2 ms each way, nothing lost: the call passes, and so does the logged call.
fn ccplog_live_call_clean_path() {
    let (report, _, logged) = graded_alike(None);
    let call = find(&report, &format!("call/{TURN}/{FRONT}"));
    assert_eq!(call["status"], "pass", "{call:#}");
    assert_eq!(logged["audio_input"]["packets_lost"], 0, "{logged:#}");
    assert!(
        ["excellent", "great"].contains(&call["evidence"]["mos_band"].as_str().unwrap_or("")),
        "a 40 ms path keeps a high MOS band: {call:#}"
    );
}

/// 3 of every 50 datagrams to the relay dropped: the call loses about 6 %, past the 5 % where
/// calls break up; both grade it a failure for its loss.
fn ccplog_live_call_6_pct_loss() {
    let (report, code, logged) = graded_alike(Some((3, 50)));
    verdict(&report, code, "not_ready", 2);
    let call = find(&report, &format!("call/{TURN}/{FRONT}"));
    let loss = call["evidence"]["loss_pct"].as_f64().expect("loss_pct");
    assert!(
        (4.0..9.0).contains(&loss),
        "the call lost {loss} % on a 6 % path"
    );
    if loss >= 5.0 {
        assert_eq!(call["status"], "fail", "{call:#}");
        assert_eq!(logged["status"], "fail", "{logged:#}");
        assert!(
            logged["audio_input"]["problems"]
                .to_string()
                .contains("where calls break up"),
            "{logged:#}"
        );
    }
}

/// The CCP's WebSocket wildcard, as the catalog names it.
const TRANSPORT_ENDPOINT: &str = "\n[[endpoint]]\nid = \"transport\"\ngroup = \"core\"\n\
     host = \"*.transport.connect.{region}.amazonaws.com\"\nports = [\"tcp/443\"]\n\
     websocket = true\npurpose = \"The CCP's WebSocket\"\nsource = \"lab\"\n";

/// The lab's catalog as a CCP v2 instance sees it: the transport wildcard, and no other
/// WebSocket host (the lab's CCP v1 signalling host left out).
fn ccp_v2_catalog() -> String {
    let start = CATALOG
        .find("[[endpoint]]\nid = \"rtc\"")
        .expect("the lab's rtc endpoint");
    let block = &CATALOG[start..];
    let end = start + block.find("\n\n").expect("the end of the rtc endpoint") + 2;
    format!(
        "{}{}{TRANSPORT_ENDPOINT}",
        &CATALOG[..start],
        &CATALOG[end..]
    )
}

/// CCP v2 through an explicit squid, no `--transport-url`: the route of names under the wildcard
/// is reported, and with no other WebSocket host in the run the report says the proxy's handling
/// of upgrades is untested, and what a session's URL would test (the proxy's CONNECT to the
/// names, TLS through it, the upgrade), rather than borrowing another host's result.
fn transport_v2_proxy_without_url() {
    let mut w = World::new();
    w.catalog = w.lab.write("catalog.toml", &ccp_v2_catalog());
    w.start();
    w.lab.squid(
        &[
            INSTANCE,
            PARTICIPANT,
            ".cloudfront.net",
            ".transport.connect.eu-central-1.amazonaws.com",
        ],
        "",
    );
    w.lab.net.firewall(&[&format!(
        "ip saddr {} tcp dport 443 counter reject with tcp reset",
        net::AGENT_V4
    )]);
    let proxy = format!("http://{}:3128", net::EDGE_OUTSIDE_V4);
    let (code, report) = w.check(&["--proxy", &proxy]);
    w.lab.keep_if_asked("transport_v2_proxy_without_url");
    verdict(&report, code, "ready", 0);
    for host in [INSTANCE, PARTICIPANT, STATIC] {
        host_passes(&report, host);
    }
    let checks = report["checks"].as_array().expect("checks");
    // No upgrade is tested anywhere in this run.
    assert!(
        checks
            .iter()
            .filter(|c| c["kind"] == "websocket")
            .all(|c| c["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("websocket/route/"))),
        "a WebSocket upgrade was tested in a run without a WebSocket host"
    );
    let route = expect(
        &report,
        "websocket/route/*.transport.connect.eu-central-1.amazonaws.com",
        "info",
        "not_tested",
    );
    mentions(
        route,
        "detail",
        &[
            "go through the proxy",
            &format!("{}:3128 (--proxy)", net::EDGE_OUTSIDE_V4),
            "no other host of this run answers WebSocket on the same route",
            "whether this route passes WebSocket upgrades is not tested",
            "Not tested without a session's URL (--transport-url, or --ccp-log with the agent's \
             CCP log): whether the proxy accepts a CONNECT to them, their TLS through it and the \
             upgrade to them",
        ],
    );
    assert_eq!(
        route["evidence"]["name_asked"], "x.transport.connect.eu-central-1.amazonaws.com",
        "{route:#}"
    );
    assert!(
        route["evidence"].get("upgrade_seen").is_none(),
        "no other upgrade to borrow: {route:#}"
    );
    let untested = expect(
        &report,
        "untested/transport/eu-central-1",
        "skip",
        "not_tested",
    );
    mentions(
        untested,
        "detail",
        &[
            "WebSocket upgrade are not tested",
            "--transport-url",
            "--ccp-log",
        ],
    );
}

/// Where the lab serves the session host the generated log names.
const SESSION_V4: &str = "203.0.113.13";

/// `check --ccp-log` against real servers: the log's transport session host (served with a
/// WebSocket behind the `*.transport…` wildcard), its signalling path on the lab's `rtc…` host and
/// its TURN relay (coturn under the log's relay name) are tested; the session host stands in for
/// the wildcard as `--transport-url` makes it, so nothing under the wildcard is left untested.
fn ccplog_check_tests_the_logs_endpoints() {
    let mut w = World::new();
    w.catalog = w
        .lab
        .write("catalog.toml", &format!("{CATALOG}{TRANSPORT_ENDPOINT}"));
    w.answer(ccplog_gen::WS_HOST, SESSION_V4);
    w.answer(ccplog_gen::TURN_HOST, crate::scenarios::TURN_V4);
    let pair =
        w.ca.leaf(w.lab.dir.path(), "session", &[ccplog_gen::WS_HOST], false);
    let mut site = Site::new(&[SESSION_V4], &pair);
    site.websocket = true;
    w.sites.push(site);
    w.start();
    let mut log = Log::new(Shape::Y2023);
    log.session_start(T0 - 60_000);
    log.call(&ccplog_gen::clean_call(1, T0, 5), 0);
    let path = w.lab.write("agent-log.txt", &log.render());
    let (code, report) = w.check(&["--ccp-log", path.to_str().expect("a UTF-8 path")]);
    w.lab.keep_if_asked("ccplog_check_tests_the_logs_endpoints");
    verdict(&report, code, "ready", 0);
    let host = ccplog_gen::WS_HOST;
    for id in [
        format!("dns/{host}"),
        format!("tcp/{host}:443"),
        format!("tls/{host}:443"),
    ] {
        expect(&report, &id, "pass", "ok");
    }
    let ws = expect(&report, &format!("websocket/{host}:443/"), "pass", "ok");
    assert_eq!(ws["evidence"]["status"], 101, "{ws:#}");
    let rtc = crate::scenarios::RTC;
    expect(
        &report,
        &format!("websocket/{rtc}:443/LilyRTC"),
        "pass",
        "ok",
    );
    expect(
        &report,
        &format!(
            "media/{}/{}",
            ccplog_gen::TURN_HOST,
            crate::scenarios::TURN_V4
        ),
        "pass",
        "ok",
    );
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        !ids.iter()
            .any(|id| id.contains("untested/transport") || id.starts_with("websocket/route/")),
        "the wildcard is still reported untested beside the log's host: {ids:?}"
    );
    let text = report.to_string();
    for secret in [
        ccplog_gen::TURN_USERNAME,
        ccplog_gen::TURN_SECOND_CREDENTIAL,
    ] {
        assert!(!text.contains(secret), "the report carries {secret}");
    }
}
