//! `ccp-log` from the built binary: generated logs in the shapes streams writes (clean, lossy,
//! one-way, ICE-failed, signalling-failed calls, a dropped WebSocket, a skewed clock, four format
//! generations), graded with known answers, the real fixture, privacy in every format, bad input.

use serde_json::Value;

use crate::ccplog_gen::{self as g, CLEAN, CallSpec, Log, Outcome, Shape, T0, Tick};
use crate::common::{Sandbox, repo_file};

const SHAPES: [Shape; 4] = [Shape::Y2019, Shape::Y2021, Shape::Y2023, Shape::Y2026];

fn run_json(s: &Sandbox, files: &[&std::path::Path]) -> (i32, Value) {
    let out = s
        .cmd()
        .arg("ccp-log")
        .args(files)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

fn log_with(shape: Shape, skew_ms: i64, calls: &[CallSpec]) -> Log {
    let mut log = Log::new(shape);
    log.session_start(T0 - 60_000);
    log.snapshot(T0 - 30_000, skew_ms, None);
    for spec in calls {
        log.call(spec, skew_ms);
        log.snapshot(
            spec.start_ms + i64::from(spec.talk_s) * 1_000 + 5_000,
            skew_ms,
            None,
        );
    }
    log
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn mos(rtt: f64, jitter: Option<f64>, loss: f64) -> f64 {
    connect_preflight::ccplog::grade(Some(rtt), jitter, loss, &Default::default()).mos
}

#[test]
fn a_clean_call_passes_in_every_format_generation_with_its_known_figures() {
    for shape in SHAPES {
        let s = Sandbox::new();
        let log = log_with(shape, 300, &[g::clean_call(1, T0, 65)]);
        let path = s.write("agent-log.txt", &log.render());
        let (code, r) = run_json(&s, &[&path]);
        assert_eq!(code, 0, "{shape:?}: {r:#}");
        assert_eq!(r["schema"], "connect-preflight/report/v1");
        assert_eq!(r["command"], "ccp-log");
        let call = &r["ccp_log"]["calls"][0];
        assert_eq!(call["contact_id"], g::contact(1), "{shape:?}");
        assert_eq!(call["status"], "pass", "{shape:?}: {call:#}");
        for dir in ["audio_input", "audio_output"] {
            let a = &call[dir];
            assert_eq!(a["seconds"], 65, "{shape:?} {dir}");
            assert_eq!(a["packets"], 65 * 50);
            assert_eq!(a["loss_pct"], 0.0);
            assert_eq!(a["rtt_avg_ms"], 60.0, "{shape:?} {dir}");
            assert_eq!(a["silent_seconds"], 0);
        }
        assert_eq!(call["phases"]["ice_collection_ms"], 400.0);
        assert_eq!(
            call["phases"]["handshake_ms"], 250.0,
            "{shape:?}: both spellings"
        );
        assert_eq!(
            call["states"].as_array().unwrap().last().unwrap(),
            "DisconnectedState"
        );
        if shape == Shape::Y2026 {
            // rtc-js 1.3.2's jitterBufferMillis is a cumulative delay: not graded as jitter.
            assert_eq!(call["jitter_meaning"], "cumulative_buffer_delay");
            assert!(
                call["jitter_meaning_from"]
                    .as_str()
                    .unwrap()
                    .contains("rtcJsVersion 1.3.2")
            );
            assert!(call["audio_input"].get("jitter_avg_ms").is_none());
            assert_eq!(call["audio_input"]["mos"], mos(60.0, None, 0.0));
        } else {
            assert_eq!(call["jitter_meaning"], "jitter_ms");
            assert_eq!(call["audio_input"]["jitter_avg_ms"], 4.0);
            assert_eq!(call["audio_input"]["mos"], mos(60.0, Some(4.0), 0.0));
        }
        assert!(call["audio_input"]["mos"].as_f64().unwrap() > 4.0);
        assert!(call.get("worst_seconds").is_none(), "{call:#}");
        assert_eq!(check(&r, "ccp-log/clock")["status"], "pass");
        assert_eq!(check(&r, "ccp-log/clock")["evidence"]["skew_ms"], 300.0);
    }
}

fn lossy(s: u32) -> Tick {
    if (20..30).contains(&s) {
        Tick {
            packets: 45,
            lost: 5,
            jitter_ms: 40.0,
            rtt_ms: 60.0,
        }
    } else {
        CLEAN
    }
}

fn always_lossy(_: u32) -> Tick {
    Tick {
        packets: 45,
        lost: 5,
        jitter_ms: 12.0,
        rtt_ms: 60.0,
    }
}

#[test]
fn a_lossy_call_is_graded_like_the_media_check_and_its_worst_seconds_are_named() {
    let s = Sandbox::new();
    let calls = [
        CallSpec {
            input: lossy,
            ..g::clean_call(1, T0, 60)
        },
        CallSpec {
            input: always_lossy,
            ..g::clean_call(2, T0 + 120_000, 40)
        },
    ];
    let path = s.write("agent-log.txt", &log_with(Shape::Y2023, 0, &calls).render());
    let (code, r) = run_json(&s, &[&path]);
    assert_eq!(code, 2, "{r:#}");
    // Call 1: ten bad seconds in sixty: 50 lost of 2,950 + 50 → 1.67 %, past the 1 % the
    // references warn at, and ten seconds in a row past the thresholds is a call the agent
    // complains about.
    let c1 = &r["ccp_log"]["calls"][0];
    assert_eq!(c1["audio_input"]["packets_lost"], 50);
    assert_eq!(c1["audio_input"]["loss_pct"], 1.67);
    assert_eq!(c1["audio_input"]["jitter_avg_ms"], 10.0);
    assert_eq!(c1["status"], "warn", "{c1:#}");
    assert_eq!(
        c1["audio_input"]["problems"],
        serde_json::json!([
            "loss 1.7 % is at or over the 1 % Twilio warns at and Microsoft targets",
            "10 s in a row past the thresholds from second 20"
        ])
    );
    assert!(c1["audio_output"].get("problems").is_none());
    let worst = c1["worst_seconds"].as_array().unwrap();
    assert_eq!(worst.len(), 5);
    for w in worst {
        assert_eq!(w["direction"], "audio_input");
        let t = w["t_s"].as_u64().unwrap();
        assert!((20..30).contains(&t), "{w:#}");
        assert_eq!(w["loss_pct"], 10.0);
        assert_eq!(w["mos"], mos(60.0, Some(40.0), 10.0));
        assert!(
            w["problems"]
                .to_string()
                .contains("jitter 40.0 ms is over AWS's and Twilio's 30 ms")
        );
    }
    // Call 2: 10 % loss all along: poor quality, a failure as the media check says from 5 %.
    let c2 = &r["ccp_log"]["calls"][1];
    assert_eq!(c2["status"], "fail");
    assert_eq!(c2["reason"], "poor_quality");
    assert_eq!(c2["audio_input"]["loss_pct"], 10.0);
    assert_eq!(c2["audio_input"]["mos"], mos(60.0, Some(12.0), 10.0));
    assert_eq!(check(&r, "ccp-log/call/2")["evidence"]["loss_pct"], 10.0);
    assert_eq!(r["verdict"], "not_ready");
}

fn silent(_: u32) -> Tick {
    Tick {
        packets: 0,
        lost: 0,
        jitter_ms: 0.0,
        rtt_ms: 60.0,
    }
}

#[test]
fn one_way_audio_fails_and_names_who_heard_nothing() {
    let s = Sandbox::new();
    let calls = [CallSpec {
        input: silent,
        ..g::clean_call(1, T0, 45)
    }];
    let path = s.write("agent-log.txt", &log_with(Shape::Y2019, 0, &calls).render());
    let (code, r) = run_json(&s, &[&path]);
    assert_eq!(code, 2, "{r:#}");
    let call = &r["ccp_log"]["calls"][0];
    assert_eq!(call["reason"], "one_way_audio");
    assert!(
        call["detail"]
            .as_str()
            .unwrap()
            .contains("the agent heard nothing"),
        "{call:#}"
    );
    assert_eq!(call["audio_input"]["silent_seconds"], 45);
}

#[test]
fn ice_and_signalling_failures_fail_their_calls_with_causes_in_time_order() {
    let s = Sandbox::new();
    let calls = [
        CallSpec {
            outcome: Outcome::IceFailed,
            ..g::clean_call(1, T0, 0)
        },
        CallSpec {
            outcome: Outcome::SignallingFailed,
            ..g::clean_call(2, T0 + 60_000, 0)
        },
    ];
    let path = s.write("agent-log.txt", &log_with(Shape::Y2026, 0, &calls).render());
    let (code, r) = run_json(&s, &[&path]);
    assert_eq!(code, 2, "{r:#}");
    let calls = r["ccp_log"]["calls"].as_array().unwrap();
    assert_eq!(calls[0]["reason"], "ice_failed");
    assert_eq!(
        calls[0]["failures"],
        serde_json::json!(["iceCollectionFailure"])
    );
    assert_eq!(
        calls[0]["softphone_errors"],
        serde_json::json!(["ice_collection_timeout"])
    );
    assert_eq!(
        calls[0]["states"].as_array().unwrap().last().unwrap(),
        "FailedState"
    );
    assert_eq!(calls[1]["reason"], "signalling_failed");
    let errors = r["ccp_log"]["errors"].as_array().unwrap();
    let whats: Vec<&str> = errors.iter().map(|e| e["what"].as_str().unwrap()).collect();
    assert_eq!(
        whats,
        [
            "ice_collection_timeout",
            "no_ice_candidate",
            "ice_collection_timeout",
            "signalling_connection_failure",
            "signalling_connection_failure"
        ]
    );
    let times: Vec<&str> = errors.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(
        errors[0]["status"], "warn",
        "a timed-out collection goes on with what it has"
    );
    assert_eq!(errors[1]["status"], "fail");
    assert_eq!(errors[0]["contact_id"], g::contact(1));
    let signalling = &errors[4];
    assert_eq!(signalling["reason"], "signalling_failed");
    assert!(
        signalling["text"]
            .as_str()
            .unwrap()
            .contains(&format!("wss://{}/LilyRTC", g::SIGNALLING_HOST))
    );
    assert!(!signalling["text"].as_str().unwrap().contains(g::AUTH_QUERY));
    // Remedies name what to allow, as the live check's do: the catalog's allow-list lines of the
    // hosts the log shows.
    let remedy = signalling["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("WebSocket")
            && remedy.contains("rtc*.connect-telecom.eu-central-1.amazonaws.com"),
        "{remedy}"
    );
    assert!(
        errors[1]["remedy"].as_str().unwrap().contains(
            "UDP 3478 to turnnlb-*.elb.eu-central-1.amazonaws.com and the AMAZON_CONNECT"
        ),
        "{:#}",
        errors[1]
    );
}

#[test]
fn a_dropped_websocket_and_a_failed_api_call_are_explained_with_latency() {
    let s = Sandbox::new();
    let mut log = log_with(Shape::Y2023, 0, &[g::clean_call(1, T0, 30)]);
    log.websocket_drop(T0 + 100_000);
    log.api_failure(T0 + 200_000, "createAdditionalConnection", 61);
    let path = s.write("agent-log.txt", &log.render());
    let (code, r) = run_json(&s, &[&path]);
    assert_eq!(code, 1, "{r:#}");
    let errors = r["ccp_log"]["errors"].as_array().unwrap();
    let lost: Vec<&Value> = errors
        .iter()
        .filter(|e| e["reason"] == "websocket_lost")
        .collect();
    assert_eq!(lost.len(), 5, "{errors:#?}");
    assert_eq!(lost[0]["what"], "heartbeat");
    let api = errors.iter().find(|e| e["reason"] == "api_failed").unwrap();
    assert_eq!(api["what"], "api:createAdditionalConnection");
    assert_eq!(api["latency_ms"], 61.0);
    assert!(
        api["text"]
            .as_str()
            .unwrap()
            .contains("Cannot create new connection by phone number[redacted]")
    );
    // The session's own host changes every session: the remedy names its allow-list line.
    for e in &lost {
        let remedy = e["remedy"].as_str().unwrap();
        assert!(
            remedy.contains("*.transport.connect.eu-central-1.amazonaws.com")
                && !remedy.contains(g::WS_HOST),
            "{remedy}"
        );
    }
    assert_eq!(check(&r, "ccp-log/error/heartbeat")["evidence"]["count"], 2);
    assert_eq!(check(&r, "ccp-log/error/heartbeat")["kind"], "websocket");
}

#[test]
fn a_skewed_clock_is_graded_like_the_live_clock_check() {
    for (skew, status, skew_s) in [
        (42_000, "warn", -42),
        (-400_000, "fail", 400),
        (900, "pass", 0),
    ] {
        let s = Sandbox::new();
        let path = s.write("agent-log.txt", &log_with(Shape::Y2021, skew, &[]).render());
        let (_, r) = run_json(&s, &[&path]);
        let clock = check(&r, "ccp-log/clock");
        assert_eq!(clock["status"], status, "{skew}: {clock:#}");
        assert_eq!(clock["evidence"]["skew_s"], skew_s);
        assert_eq!(r["ccp_log"]["clock"]["skew_median_ms"], skew as f64);
    }
}

#[test]
fn the_endpoints_in_use_are_named() {
    let s = Sandbox::new();
    let path = s.write(
        "agent-log.txt",
        &log_with(Shape::Y2023, 0, &[g::clean_call(1, T0, 5)]).render(),
    );
    let (_, r) = run_json(&s, &[&path]);
    let ep = &r["ccp_log"]["endpoints"];
    assert_eq!(
        ep["websocket"],
        serde_json::json!([format!("wss://{}", g::WS_HOST)])
    );
    assert_eq!(
        ep["turn"],
        serde_json::json!([format!("turn:{}:3478?transport=udp", g::TURN_HOST)])
    );
    assert_eq!(
        ep["signalling"],
        serde_json::json!([format!("wss://{}/LilyRTC", g::SIGNALLING_HOST)])
    );
    assert_eq!(ep["instance"], serde_json::json!([g::INSTANCE]));
    assert_eq!(ep["region"], "eu-central-1");
    assert_eq!(ep["browser"], serde_json::json!(["Chrome 140"]));
    assert_eq!(ep["streams_version"], serde_json::json!(["2.28.2"]));
    assert_eq!(ep["rtc_js_version"], serde_json::json!(["1.1.20"]));
    assert_eq!(r["target"]["instance"], g::INSTANCE);
}

#[test]
fn forwarded_copies_out_of_order_and_epoch_times_change_nothing_but_the_counts() {
    let s = Sandbox::new();
    let log = log_with(
        Shape::Y2023,
        0,
        &[CallSpec {
            input: lossy,
            ..g::clean_call(1, T0, 60)
        }],
    );
    let plain = s.write("plain.txt", &log.render());
    let mut copied = log;
    let n = copied.entries.len();
    copied.forward_copies(3);
    // The worker's entries arrive in batches: its snapshots land after the tab's later lines.
    let (worker, mut rest): (Vec<Value>, Vec<Value>) = copied
        .entries
        .drain(..)
        .partition(|e| e["text"] == "GET_AGENT_SNAPSHOT succeeded." && e["time"].is_string());
    rest.extend(worker);
    copied.entries = rest;
    // An entry without time and one that is not an entry at all.
    copied
        .entries
        .push(serde_json::json!({"component": "ccp", "level": "INFO", "text": "no time here"}));
    copied.entries.push(serde_json::json!("not an entry"));
    let path = s.write("agent-log.txt", &copied.render());
    let (_, a) = run_json(&s, &[&plain]);
    let (_, b) = run_json(&s, &[&path]);
    assert_eq!(a["ccp_log"]["calls"], b["ccp_log"]["calls"]);
    assert_eq!(a["ccp_log"]["errors"], b["ccp_log"]["errors"]);
    let f = &b["ccp_log"]["input"]["files"][0];
    assert_eq!(f["duplicates"], n.div_ceil(3) as u64);
    assert_eq!(f["without_time"], 1);
    assert_eq!(f["not_entries"], 1);
    assert!(f["out_of_order"].as_u64().unwrap() > 0);
    assert_eq!(check(&b, "ccp-log/input")["reason"], "unread_entries");
}

#[test]
fn metrics_cut_by_redaction_keep_their_whole_samples() {
    let s = Sandbox::new();
    let mut log = log_with(Shape::Y2019, 0, &[g::clean_call(1, T0, 30)]);
    for e in &mut log.entries {
        let text = e["text"].as_str().unwrap().to_owned();
        if text.starts_with(" sendSoftphoneMetrics success") {
            // Cut in the middle of the 11th sample, as a redaction to the end of the text would.
            let at = text.match_indices("{\"").nth(10).unwrap().0 + 30;
            e["text"] = Value::String(format!("{}AuthToken[redacted]", &text[..at]));
        }
    }
    let path = s.write("agent-log.txt", &log.render());
    let (_, r) = run_json(&s, &[&path]);
    let call = &r["ccp_log"]["calls"][0];
    assert_eq!(call["audio_input"]["seconds"], 5, "{call:#}");
    assert_eq!(call["audio_output"]["seconds"], 5);
    assert!(
        r["ccp_log"]["input"]["files"][0]["cut_json"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[test]
fn a_global_resiliency_download_is_read_as_one_session() {
    let s = Sandbox::new();
    let a = s.write(
        "crm-agent-log.txt",
        &log_with(Shape::Y2023, 0, &[g::clean_call(1, T0, 10)]).render(),
    );
    let b = s.write(
        "ccp-us-west-2-agent-log.txt",
        &log_with(Shape::Y2023, 0, &[g::clean_call(2, T0 + 60_000, 10)]).render(),
    );
    let (code, r) = run_json(&s, &[&a, &b]);
    assert_eq!(code, 0);
    assert_eq!(r["ccp_log"]["calls"].as_array().unwrap().len(), 2);
    assert_eq!(r["ccp_log"]["input"]["files"].as_array().unwrap().len(), 2);
}

#[test]
fn the_real_fixture_is_read_with_its_cut_json_and_skew() {
    let s = Sandbox::new();
    let path = repo_file("tests/data/ccp-logs/pickles-CCPLogParser__sample-error-log.txt");
    let (code, r) = run_json(&s, &[&path]);
    assert_eq!(code, 1, "{r:#}");
    let f = &r["ccp_log"]["input"]["files"][0];
    assert_eq!(
        (
            f["entries"].as_u64(),
            f["cut_json"].as_u64(),
            f["duplicates"].as_u64()
        ),
        (Some(5), Some(1), Some(0))
    );
    let errors = r["ccp_log"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["at"], "2025-05-06T17:25:07.733Z");
    assert_eq!(errors[0]["what"], "api:createAdditionalConnection");
    assert_eq!(errors[0]["latency_ms"], 61.0);
    // The service refused the action: the remedy does not send the network team looking.
    assert!(
        errors[0]["cause"]
            .as_str()
            .unwrap()
            .contains("not a network fault")
    );
    assert_eq!(r["ccp_log"]["clock"]["skew_median_ms"], 354.0);
    assert_eq!(check(&r, "ccp-log/clock")["status"], "pass");
    assert_eq!(r["ccp_log"]["endpoints"]["region"], "us-east-1");
    assert_eq!(r["ccp_log"]["calls"], serde_json::json!([]));
}

#[test]
fn secrets_in_the_log_reach_no_output_format() {
    let s = Sandbox::new();
    let mut log = log_with(
        Shape::Y2023,
        0,
        &[
            g::clean_call(1, T0, 10),
            CallSpec {
                outcome: Outcome::SignallingFailed,
                ..g::clean_call(2, T0 + 60_000, 0)
            },
        ],
    );
    log.entry(
        "ccp",
        "ERROR",
        &format!(
            "Softphone error occurred : other call from {} username=\"{}\" token {}",
            g::PHONE,
            g::TURN_USERNAME,
            g::CONTACT_TOKEN
        ),
        T0 + 90_000,
        vec![],
    );
    log.entry("ccp", "TRACE", &format!("AWSClient: <-- Operation 'getAgentSnapshot' failed: {{\"message\":\"callContextToken={}\",\"hostname\":\"{}\"}}", g::CONTACT_TOKEN, g::INSTANCE), T0 + 91_000, vec![]);
    let path = s.write("agent-log.txt", &log.render());
    let text = std::fs::read_to_string(&path).unwrap();
    let secrets = [
        g::TURN_USERNAME,
        g::TURN_SECOND_CREDENTIAL,
        g::CONTACT_TOKEN,
        g::PHONE,
        g::AUTH_QUERY,
        "111122223333",
        "6j1Br0WySrAsZ0r2TwA",
    ];
    for secret in secrets {
        assert!(text.contains(secret), "the input holds {secret}");
    }
    for format in ["json", "text", "html", "junit"] {
        let out = s
            .cmd()
            .args(["ccp-log", "--format", format])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.len() > 500, "{format}: {stdout}");
        for secret in secrets {
            assert!(!stdout.contains(secret), "{format} shows {secret}");
        }
        assert!(stdout.contains(g::TURN_HOST), "{format} names the relay");
    }
}

#[test]
fn html_has_inline_svg_charts_and_no_script() {
    let s = Sandbox::new();
    let path = s.write(
        "agent-log.txt",
        &log_with(
            Shape::Y2023,
            0,
            &[CallSpec {
                input: lossy,
                ..g::clean_call(1, T0, 60)
            }],
        )
        .render(),
    );
    let out = s
        .cmd()
        .args(["ccp-log", "--format", "html"])
        .arg(&path)
        .output()
        .unwrap();
    let page = String::from_utf8(out.stdout).unwrap().to_ascii_lowercase();
    assert!(page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("<svg").count(), 4, "MOS, loss, jitter, RTT");
    // No script element, no script URL, no event-handler attribute (` onload=`, ` onclick=`…).
    let handler = page.match_indices(" on").any(|(at, _)| {
        let rest = &page[at + 3..];
        let name = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name > 0 && rest.as_bytes().get(name) == Some(&b'=')
    });
    assert!(
        !page.contains("<script") && !page.contains("javascript:") && !handler,
        "no script"
    );
    assert!(page.contains("worst seconds"));
}

#[test]
fn junit_and_text_carry_the_verdict() {
    let s = Sandbox::new();
    let path = s.write(
        "agent-log.txt",
        &log_with(
            Shape::Y2023,
            0,
            &[CallSpec {
                outcome: Outcome::IceFailed,
                ..g::clean_call(1, T0, 0)
            }],
        )
        .render(),
    );
    let out = s
        .cmd()
        .args(["ccp-log", "--format", "junit"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.contains("ccp-log/call/1") && xml.contains("<failure"),
        "{xml}"
    );
    let out = s.cmd().args(["ccp-log"]).arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("connect-preflight ccp-log: NOT READY"),
        "{text}"
    );
    assert!(
        text.contains("Errors in time order") && text.contains("ice_failed"),
        "{text}"
    );
}

#[test]
fn bad_files_are_refused_naming_file_and_place_with_exit_65() {
    let s = Sandbox::new();
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "notjson.txt",
            b"hello",
            "notjson.txt:1:1: expected a CCP log",
        ),
        (
            "object.txt",
            b"{\"text\": \"x\"}",
            "object.txt:1:1: expected a CCP log",
        ),
        (
            "truncated.txt",
            b"[\n    {\n        \"text\": \"a\",\n        \"time\": \"2025-",
            "truncated.txt:4:",
        ),
        ("binary.txt", b"[\x00\x01\x02\xff\xfe", "binary.txt"),
        ("empty.txt", b"", "empty.txt: the file is empty"),
    ];
    for (name, bytes, expected) in cases {
        let path = s.path(name);
        std::fs::write(&path, bytes).unwrap();
        let out = s.cmd().arg("ccp-log").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(65), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: no partial output");
    }
}

#[test]
fn summarize_reads_ccp_log_reports_beside_live_checks() {
    let s = Sandbox::new();
    let calls = [CallSpec {
        input: always_lossy,
        ..g::clean_call(1, T0, 40)
    }];
    let path = s.write("agent-log.txt", &log_with(Shape::Y2023, 0, &calls).render());
    std::fs::create_dir(s.path("reports")).unwrap();
    let out = s
        .cmd()
        .arg("ccp-log")
        .arg(&path)
        .args(["--format", "json", "--output"])
        .arg(s.path("reports/agent1.json"))
        .output()
        .unwrap();
    // 10 % loss all along fails, as the live media check fails it.
    assert_eq!(out.status.code(), Some(2));
    let out = s
        .cmd()
        .args(["summarize", "--format", "json"])
        .arg(s.path("reports"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["reports"], 1);
    let problem = summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["reason"] == "poor_quality")
        .unwrap();
    assert_eq!(problem["check_id"], "ccp-log/call", "{summary:#}");
    assert_eq!(problem["machines"], 1);
    assert_eq!(summary["sites"][0]["loss_pct"]["max"], 10.0, "{summary:#}");
}

#[test]
fn check_with_a_ccp_log_plans_exactly_the_logs_transport_signalling_and_relays() {
    let s = Sandbox::new();
    let path = s.write(
        "agent-log.txt",
        &log_with(Shape::Y2023, 0, &[g::clean_call(1, T0, 5)]).render(),
    );
    // --list contacts nothing: the plan shows what the run would test.
    let out = s
        .cmd()
        .args(["check", "--list", "--ccp-log"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = String::from_utf8(out.stdout).unwrap();
    for expected in [
        format!("websocket/{}:443/", g::WS_HOST),
        format!("websocket/{}:443/LilyRTC", g::SIGNALLING_HOST),
        format!("{}:3478", g::TURN_HOST),
        "eu-central-1".to_owned(),
        g::INSTANCE.to_owned(),
    ] {
        assert!(plan.contains(&expected), "{expected} missing from:\n{plan}");
    }
    assert!(!plan.contains(g::TURN_USERNAME) && !plan.contains(g::TURN_SECOND_CREDENTIAL));
    // The log's transport host stands in for the wildcard, as --transport-url does: the untested
    // `*.transport…` entry is gone, and the host gets the steps of a session URL, once.
    let untested = plan.split("\nnot tested:").nth(1).unwrap_or_default();
    assert!(
        !untested.contains("transport"),
        "the wildcard is still listed as untested:\n{plan}"
    );
    for step in ["dns", "tcp", "tls", "websocket"] {
        let id = match step {
            "dns" => format!("dns/{}\n", g::WS_HOST),
            "websocket" => format!("websocket/{}:443/\n", g::WS_HOST),
            _ => format!("{step}/{}:443\n", g::WS_HOST),
        };
        assert_eq!(plan.matches(&id).count(), 1, "{id} in:\n{plan}");
    }
    assert!(!plan.contains(&format!("https/{}", g::WS_HOST)), "{plan}");
    // Flags still win over the log.
    let out = s
        .cmd()
        .args(["check", "--list", "--region", "us-east-1", "--ccp-log"])
        .arg(&path)
        .output()
        .unwrap();
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        plan.contains("us-east-1") && plan.contains(g::WS_HOST),
        "{plan}"
    );
    // An eu-central-1 session proves nothing of us-east-1's wildcard: still untested, and the
    // log's host says why it is tested beside it.
    let untested = plan.split("\nnot tested:").nth(1).unwrap_or_default();
    assert!(
        untested.contains("*.transport.connect.us-east-1.amazonaws.com"),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("websocket/{}:443/\n", g::WS_HOST))
            && plan.contains("not under this run's wildcard"),
        "{plan}"
    );
    let bad = s.write("bad.txt", "{}");
    let out = s
        .cmd()
        .args(["check", "--list", "--ccp-log"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
}
