//! A generator of CCP logs (`agent-log.txt`) in the shapes amazon-connect-streams writes, for the
//! `ccp-log` tests and benchmark. References are to amazon-connect-streams @ cc9c587 (v2.28.2) and
//! aws/connect-rtc-js @ 04fe005 (v1.3.2) unless a line says otherwise.
//!
//! - The file: `JSON.stringify(rolledLogs.concat(logs), undefined, 4)` (src/log.js:587-625).
//! - An entry: `component, level, text, time, tabId, exception, objects, line, agentResourceId,
//!   loggerId, contextLayer` (src/log.js:134-163); 2019 logs have only the first seven keys but
//!   `tabId`; `loggerId` came in 2020 (44c8077), `agentResourceId` in 2021 (0ad1f93),
//!   `contextLayer` in 2023 (5bd7968).
//! - Softphone lines start with a space: `SoftphoneLogger` formats each argument as `" %s"`
//!   (src/softphone.js:1480-1492).
//! - Forwarded entries (`LogEntry.fromObject`, src/log.js:165) come back with `component: "ccp"`
//!   and may carry `time` as epoch milliseconds.
#![allow(dead_code)]

use serde_json::{Value, json};

/// The shapes of the years: which keys an entry has, which call report the softphone sends, and
/// what `jitterBufferMillis` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// 2019: seven keys, `sendSoftphoneReport` only, jitter in ms (rtc-js 1.1.x).
    Y2019,
    /// 2021: loggerId and agentResourceId; the AWSClient's renamed keys (`packetCount`,
    /// `handshakeTimeMillis`, client.js:606-642) as a forwarded copy shows them.
    Y2021,
    /// 2023: contextLayer and tabId; `sent TelemetryCallReport` with rtcJsVersion 1.1.20 (jitter ms).
    Y2023,
    /// 2026: rtcJsVersion 1.3.2: `jitterBufferMillis` is the cumulative jitter-buffer delay
    /// (rtc-js src/rtp-stats.js:24-25).
    Y2026,
}

/// One second of one direction: packets, lost, jitter (ms), RTT (ms). Jitter and RTT are
/// fractional where the browser's standard stats are (`jitter * 1000`, `roundTripTime * 1000`,
/// rtc-js src/js/rtp-stats.js at 04b6c31, the `inbound-rtp` and `remote-inbound-rtp` branches);
/// an RTT of NaN is written as `null` (no RTCP report yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Tick {
    pub packets: u32,
    pub lost: u32,
    pub jitter_ms: f64,
    pub rtt_ms: f64,
}

pub(super) const CLEAN: Tick = Tick {
    packets: 50,
    lost: 0,
    jitter_ms: 4.0,
    rtt_ms: 60.0,
};

/// A figure as JSON: whole numbers as integers (as the legacy stats' `parseInt` gives them),
/// fractions as they are, NaN as `null`.
fn num(v: f64) -> Value {
    if v.is_nan() {
        Value::Null
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

#[derive(Clone, Debug)]
pub(super) enum Outcome {
    Talked,
    IceFailed,
    SignallingFailed,
}

pub(super) struct CallSpec {
    pub contact: String,
    pub start_ms: i64,
    pub talk_s: u32,
    /// What the agent heard (inbound), second by second.
    pub input: fn(u32) -> Tick,
    /// What the customer heard (the agent's microphone as Connect received it).
    pub output: fn(u32) -> Tick,
    pub outcome: Outcome,
}

pub(super) struct Log {
    pub shape: Shape,
    pub entries: Vec<Value>,
    line: u64,
}

/// The secrets a log can hold in clear (streams redacts only some, src/log.js:194-245): none
/// may reach any output.
pub(super) const TURN_USERNAME: &str = "1764850000:TurnUserSECRETagent42";
pub(super) const TURN_SECOND_CREDENTIAL: &str = "SecondCredentialSECRETxyz";
pub(super) const CONTACT_TOKEN: &str = "CallContextTokenSECRETabc123";
pub(super) const PHONE: &str = "+14155550199";
pub(super) const AUTH_QUERY: &str = "QueryTokenSECRET987";
pub(super) const WS_HOST: &str = "a1b2c3.transport.connect.eu-central-1.amazonaws.com";
pub(super) const TURN_HOST: &str = "turnnlb-0123abcd.elb.eu-central-1.amazonaws.com";
pub(super) const SIGNALLING_HOST: &str = "rtc.connect-telecom.eu-central-1.amazonaws.com";
pub(super) const INSTANCE: &str = "acme.my.connect.aws";

pub(super) fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap()
}

impl Log {
    pub(super) fn new(shape: Shape) -> Self {
        Self {
            shape,
            entries: Vec::new(),
            line: 0,
        }
    }

    /// One `LogEntry` with the keys of its year.
    pub(super) fn entry(
        &mut self,
        component: &str,
        level: &str,
        text: &str,
        t_ms: i64,
        objects: Vec<Value>,
    ) {
        self.line += 1;
        let mut e = serde_json::Map::new();
        e.insert("component".into(), json!(component));
        e.insert("level".into(), json!(level));
        e.insert("text".into(), json!(text));
        e.insert("time".into(), json!(iso(t_ms)));
        if self.shape != Shape::Y2019 {
            e.insert("tabId".into(), json!("1764849000000-abc123"));
        }
        e.insert("exception".into(), Value::Null);
        e.insert("objects".into(), Value::Array(objects));
        e.insert("line".into(), json!(self.line));
        if self.shape != Shape::Y2019 {
            e.insert(
                "agentResourceId".into(),
                json!("51beb344-0b0d-488f-ac78-8beeebaa627b"),
            );
            e.insert("loggerId".into(), json!("1764849000000-2ik0r80ksuc"));
        }
        if matches!(self.shape, Shape::Y2023 | Shape::Y2026) {
            e.insert("contextLayer".into(), json!("CCP"));
        }
        self.entries.push(Value::Object(e));
    }

    /// A softphone line: `" %s"` per argument (softphone.js:1480-1492).
    pub(super) fn softphone(&mut self, level: &str, args: &[&str], t_ms: i64) {
        let text: String = args.iter().map(|a| format!(" {a}")).collect();
        self.entry("softphone", level, &text, t_ms, Vec::new());
    }

    /// An rtc-js session line: `wrapLogger(logger, callId, "SESSION")` (rtc-js src/utils.js:55).
    pub(super) fn session(&mut self, level: &str, contact: &str, message: &str, t_ms: i64) {
        self.softphone(level, &[contact, "SESSION", message], t_ms);
    }

    /// The agent snapshot the worker logs every long poll (worker.js:590-612): skew = server
    /// snapshotTimestamp − local receive time; contacts carry `callConfigJson` with the TURN relays.
    pub(super) fn snapshot(&mut self, t_ms: i64, skew_ms: i64, with_call: Option<&str>) {
        let contacts = match with_call {
            None => json!([]),
            Some(contact) => {
                // Streams redacts only the first "credential" of callConfigJson (no /g flag).
                let config = format!(
                    r#"{{"signalingEndpoint":"wss://{SIGNALLING_HOST}/LilyRTC","iceServers":[{{"urls":["turn:{TURN_HOST}:3478?transport=udp"],"username":"{TURN_USERNAME}","credential":"[redacted]"}},{{"urls":["turn:{TURN_HOST}:3478?transport=udp"],"username":"{TURN_USERNAME}","credential":"{TURN_SECOND_CREDENTIAL}"}}],"protocol":"wss","useWebSocketProvider":true}}"#
                );
                json!([{
                    "contactId": contact,
                    "type": "voice",
                    "connections": [{
                        "connectionId": "c0ffee00-0000-4000-8000-000000000001",
                        "softphoneMediaInfo": {"callType": "audio_only", "autoAccept": false,
                                                "callConfigJson": config,
                                                "callContextToken": CONTACT_TOKEN},
                        "endpoint": {"phoneNumber": "[redacted]", "name": "[redacted]"}
                    }]
                }])
            }
        };
        let objects = vec![json!({
            "snapshot": {
                "state": {
                    "agentStateARN": "arn:aws:connect:eu-central-1:111122223333:instance/553e079f-40b6-4dc2-969a-9c0e6ca357f2/agent-state/d57a6ea7",
                    "type": "routable", "name": "Available"
                },
                "contacts": contacts,
                "snapshotTimestamp": iso(t_ms + skew_ms),
                "localTimestamp": t_ms,
                "skew": skew_ms,
                "contentLength": 468
            },
            "nextToken": "6j1Br0WySrAsZ0r2TwA++MgmUa+dXuTsdQOral17Ki8=_174655228097900"
        })];
        let mut e = Log::new(self.shape);
        e.entry(
            "ccp",
            "TRACE",
            "GET_AGENT_SNAPSHOT succeeded.",
            t_ms,
            objects,
        );
        let mut entry = e.entries.pop().unwrap();
        if matches!(self.shape, Shape::Y2023 | Shape::Y2026) {
            entry["contextLayer"] = json!("SharedWorker");
            entry["tabId"] = Value::Null;
        }
        self.line += 1;
        self.entries.push(entry);
    }

    /// The session start lines of the CCP: user agent, versions (core.js:1250-1255), the
    /// transport (client.js:403) and the WebSocket manager's configuration line.
    pub(super) fn session_start(&mut self, t_ms: i64) {
        self.entry("ccp", "INFO", "User Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36", t_ms, Vec::new());
        self.entry("ccp", "INFO", "isCCPv2: true", t_ms, Vec::new());
        self.entry("ccp", "INFO", "StreamsJS Version: 2.28.2", t_ms, Vec::new());
        self.entry(
            "ccp",
            "TRACE",
            "AWSClient: --> Calling operation 'createTransport'",
            t_ms + 10,
            Vec::new(),
        );
        self.entry(
            "ccp",
            "TRACE",
            "AWSClient: <-- Operation 'createTransport' succeeded.",
            t_ms + 60,
            vec![json!({"webSocketTransport": {
                "url": format!("wss://{WS_HOST}/?AuthToken=[redacted]"),
                "transportLifeTimeInSeconds": 7200, "expiry": iso(t_ms + 7_200_000)}})],
        );
        // The manager's own prefix: "[ISO][LEVEL]AMZ_WEB_SOCKET_MANAGER: " (websocket manager
        // `_convertToSingleStatement`); redaction cuts the JSON at AuthToken.
        self.entry(
            "ccp",
            "DEBUG",
            &format!("[{}][DEBUG]AMZ_WEB_SOCKET_MANAGER: Successfully fetched webSocket connection configuration {{\"webSocketTransport\":{{\"url\":\"wss://{WS_HOST}/?[redacted]", iso(t_ms + 70)),
            t_ms + 70,
            Vec::new(),
        );
        self.entry(
            "ccp",
            "INFO",
            &format!("Refreshing the CCP IFrame for https://{INSTANCE}/ccp-v2/"),
            t_ms + 80,
            Vec::new(),
        );
    }

    /// A dropped WebSocket: missed heartbeats, the manager's error, the connection-lost event.
    pub(super) fn websocket_drop(&mut self, t_ms: i64) {
        for (i, text) in [
            "Heartbeat response not received",
            "Heartbeat response not received",
            "WebSocketManager Error, error_event: {\"isTrusted\":true}",
            "WebSocket connection is closed",
        ]
        .iter()
        .enumerate()
        {
            let at = t_ms + 10_000 * i as i64;
            self.entry(
                "ccp",
                "ERROR",
                &format!("[{}][ERROR]AMZ_WEB_SOCKET_MANAGER: {text}", iso(at)),
                at,
                Vec::new(),
            );
        }
        self.entry(
            "ccp",
            "INFO",
            "Publishing event: webSocket::connection_lost",
            t_ms + 30_001,
            Vec::new(),
        );
    }

    /// An API call that failed after `latency_ms`, its JSON cut by the phone-number redaction (the
    /// real fixture's form, pickles/CCPLogParser sample-error-log.txt).
    pub(super) fn api_failure(&mut self, t_ms: i64, api: &str, latency_ms: i64) {
        self.entry(
            "ccp",
            "TRACE",
            &format!("AWSClient: --> Calling operation '{api}'"),
            t_ms,
            Vec::new(),
        );
        self.entry(
            "ccp",
            "TRACE",
            &format!("AWSClient: <-- Operation '{api}' failed: {{\"message\":\"Cannot create new connection by phone number[redacted]\""),
            t_ms + latency_ms,
            Vec::new(),
        );
    }

    fn stats_json(&self, t_ms: i64, stream: &str, tick: Tick, second: u32) -> Value {
        let jb = match self.shape {
            // rtc-js 1.3.2: floor(cumulative jitterBufferDelay × 1000), ever growing.
            Shape::Y2026 => {
                (800.0 * f64::from(second + 1) + tick.jitter_ms * f64::from(second)).floor()
            }
            _ => tick.jitter_ms,
        };
        let count_key = if self.shape == Shape::Y2021 {
            "packetCount"
        } else {
            "packetsCount"
        };
        let mut o = serde_json::Map::new();
        o.insert("softphoneStreamType".into(), json!(stream));
        o.insert("timestamp".into(), json!(iso(t_ms)));
        o.insert("packetsLost".into(), json!(tick.lost));
        o.insert(count_key.into(), json!(tick.packets));
        o.insert(
            "audioLevel".into(),
            json!(if tick.packets > 0 { 900 } else { 0 }),
        );
        o.insert("jitterBufferMillis".into(), num(jb));
        o.insert(
            "roundTripTimeMillis".into(),
            if stream == "audio_output" {
                num(tick.rtt_ms)
            } else {
                Value::Null
            },
        );
        Value::Object(o)
    }

    /// A whole call as the softphone logs it.
    pub(super) fn call(&mut self, spec: &CallSpec, skew_ms: i64) {
        let input: Vec<Tick> = (0..spec.talk_s).map(spec.input).collect();
        let output: Vec<Tick> = (0..spec.talk_s).map(spec.output).collect();
        self.call_of(
            &spec.contact,
            spec.start_ms,
            &spec.outcome,
            (&input, &output),
            skew_ms,
        );
    }

    /// A call that talked for as many seconds as `input` has, with figures measured elsewhere
    /// (`input`: what the agent heard; `output`: what the customer heard).
    pub(super) fn measured_call(
        &mut self,
        contact: &str,
        start_ms: i64,
        input: &[Tick],
        output: &[Tick],
        skew_ms: i64,
    ) {
        self.call_of(
            contact,
            start_ms,
            &Outcome::Talked,
            (input, output),
            skew_ms,
        );
    }

    fn call_of(
        &mut self,
        contact: &str,
        start_ms: i64,
        outcome: &Outcome,
        (input, output): (&[Tick], &[Tick]),
        skew_ms: i64,
    ) {
        let c = contact;
        let t0 = start_ms;
        self.snapshot(t0 - 500, skew_ms, Some(c));
        // softphone.js:608
        self.softphone(
            "INFO",
            &[
                "Softphone call detected:",
                &format!("contactId {c}"),
                "agent connectionId c0ffee00-0000-4000-8000-000000000001",
            ],
            t0,
        );
        let states = [
            "null => GrabLocalMediaState",
            "GrabLocalMediaState => CreateOfferState",
            "CreateOfferState => SetLocalSessionDescriptionState",
            "SetLocalSessionDescriptionState => ConnectSignalingAndIceCollectionState",
        ];
        for (i, s) in states.iter().enumerate() {
            self.session("INFO", c, s, t0 + 100 + 50 * i as i64);
        }
        let report_flags: Value;
        match outcome {
            Outcome::IceFailed => {
                // rtc_session.js:223, 298-300; softphone.js:1135
                self.session("WARN", c, "ICE collection timed out", t0 + 3_000);
                self.session("ERROR", c, "No ICE candidate", t0 + 3_001);
                self.session(
                    "INFO",
                    c,
                    "ConnectSignalingAndIceCollectionState => FailedState",
                    t0 + 3_002,
                );
                self.softphone(
                    "ERROR",
                    &["Softphone error occurred : ", "ice_collection_timeout", ""],
                    t0 + 3_010,
                );
                report_flags =
                    json!({"iceCollectionFailure": true, "signallingConnectionFailure": false});
                self.report(t0, t0 + 3_100, &report_flags, 3_000, None);
                return;
            }
            Outcome::SignallingFailed => {
                // rtc_session.js:248-250; the message names the signalling URI.
                self.session(
                    "ERROR",
                    c,
                    "Failed connecting to signaling server",
                    t0 + 2_000,
                );
                self.session(
                    "INFO",
                    c,
                    "ConnectSignalingAndIceCollectionState => FailedState",
                    t0 + 2_001,
                );
                self.softphone(
                    "ERROR",
                    &["Softphone error occurred : ", "signalling_connection_failure", &format!("URL wss://{SIGNALLING_HOST}/LilyRTC?token={AUTH_QUERY} cannot be reached.")],
                    t0 + 2_010,
                );
                report_flags =
                    json!({"iceCollectionFailure": false, "signallingConnectionFailure": true});
                self.report(t0, t0 + 2_100, &report_flags, 200, None);
                return;
            }
            Outcome::Talked => {}
        }
        for s in [
            "ConnectSignalingAndIceCollectionState => InviteAnswerState",
            "InviteAnswerState => AcceptState",
            "AcceptState => TalkingState",
        ] {
            self.session("INFO", c, s, t0 + 600);
        }
        // Stats every second (softphone.js:1325-1352), flushed every 30 s (statsReportingJobIntervalMs).
        let talk0 = t0 + 1_000;
        let mut batch: Vec<Value> = Vec::new();
        let talk_s = u32::try_from(input.len().min(output.len())).unwrap();
        for s in 0..talk_s {
            let at = talk0 + i64::from(s) * 1_000;
            let (i, o) = (input[s as usize], output[s as usize]);
            batch.push(self.stats_json(at, "audio_input", i, s));
            batch.push(self.stats_json(at + 3, "audio_output", o, s));
            if (s + 1) % 30 == 0 {
                let text = format!(
                    " sendSoftphoneMetrics success{}",
                    Value::Array(std::mem::take(&mut batch))
                );
                self.entry("softphone", "INFO", &text, at + 10, Vec::new());
            }
        }
        let end = talk0 + i64::from(talk_s) * 1_000;
        self.session("INFO", c, "TalkingState => CleanUpState", end);
        self.session("INFO", c, "CleanUpState => DisconnectedState", end + 20);
        // stopJobsAndReport: the report first, then the last metrics (softphone.js:1457-1458).
        let flags = json!({"iceCollectionFailure": false, "signallingConnectionFailure": false});
        self.report(t0, end + 30, &flags, 400, Some((input, output)));
        if !batch.is_empty() {
            let text = format!(" sendSoftphoneMetrics success{}", Value::Array(batch));
            self.entry("softphone", "INFO", &text, end + 40, Vec::new());
        }
    }

    /// `sendSoftphoneReport success{…}` (softphone.js:1219-1256) and, from 2023,
    /// `sent TelemetryCallReport {…}` (softphone.js:1277-1322).
    fn report(
        &mut self,
        start: i64,
        end: i64,
        flags: &Value,
        ice_ms: u32,
        series: Option<(&[Tick], &[Tick])>,
    ) {
        let renamed = self.shape == Shape::Y2021;
        let mut r = serde_json::Map::new();
        r.insert("callStartTime".into(), json!(iso(start)));
        r.insert("callEndTime".into(), json!(iso(end)));
        r.insert("gumTimeMillis".into(), json!(35));
        r.insert("initializationTimeMillis".into(), json!(120));
        r.insert("iceCollectionTimeMillis".into(), json!(ice_ms));
        r.insert("signallingConnectTimeMillis".into(), json!(180));
        r.insert(
            (if renamed {
                "handshakeTimeMillis"
            } else {
                "handshakingTimeMillis"
            })
            .into(),
            json!(250),
        );
        r.insert(
            (if renamed {
                "preTalkTimeMillis"
            } else {
                "preTalkingTimeMillis"
            })
            .into(),
            json!(90),
        );
        r.insert(
            (if renamed {
                "talkTimeMillis"
            } else {
                "talkingTimeMillis"
            })
            .into(),
            json!(end - start),
        );
        r.insert("cleanupTimeMillis".into(), json!(15));
        for (k, v) in flags.as_object().unwrap() {
            r.insert(k.clone(), v.clone());
        }
        r.insert(
            (if renamed {
                "handshakeFailure"
            } else {
                "handshakingFailure"
            })
            .into(),
            json!(false),
        );
        r.insert("gumOtherFailure".into(), json!(false));
        r.insert("softphoneStreamStatistics".into(), json!([
            {"softphoneStreamType": "audio_input", "timestamp": iso(end), "packetsLost": 0, "packetsCount": 0, "audioLevel": 0},
            {"softphoneStreamType": "audio_output", "timestamp": iso(end), "packetsLost": 0, "packetsCount": 0, "audioLevel": 0}
        ]));
        let report = Value::Object(r.clone());
        self.softphone(
            "INFO",
            &[&format!("sendSoftphoneReport success{report}")],
            end,
        );
        if matches!(self.shape, Shape::Y2023 | Shape::Y2026) {
            let (input, output) = series.unwrap_or((&[], &[]));
            let col =
                |s: &[Tick], f: fn(&Tick) -> f64| s.iter().map(|t| num(f(t))).collect::<Vec<_>>();
            r.insert("softphoneStreamPerSecondStatistics".into(), json!({
                "AUDIO_INPUT": {"packetsCount": col(input, |t| t.packets.into()), "packetsLost": col(input, |t| t.lost.into()),
                                 "audioLevel": col(input, |_| 900.0), "jitterBufferMillis": col(input, |t| t.jitter_ms)},
                "AUDIO_OUTPUT": {"packetsCount": col(output, |t| t.packets.into()), "packetsLost": col(output, |t| t.lost.into()),
                                  "audioLevel": col(output, |_| 900.0), "jitterBufferMillis": col(output, |t| t.jitter_ms),
                                  "roundTripTimeMillis": col(output, |t| t.rtt_ms)}
            }));
            r.insert(
                "rtcJsVersion".into(),
                json!(if self.shape == Shape::Y2026 {
                    "1.3.2"
                } else {
                    "1.1.20"
                }),
            );
            r.insert("streamJsVersion".into(), json!("2.28.2"));
            r.insert("vdiPlatform".into(), Value::Null);
            r.insert("iceConnectionsLost".into(), json!(0));
            self.softphone(
                "INFO",
                &[&format!("sent TelemetryCallReport {}", Value::Object(r))],
                end + 5,
            );
        }
    }

    /// Forwarded copies (`LogEntry.fromObject`, log.js:165): component reset to "ccp", time as
    /// epoch ms, appended later in the array (out of time order).
    pub(super) fn forward_copies(&mut self, every: usize) {
        let copies: Vec<Value> = self
            .entries
            .iter()
            .step_by(every.max(1))
            .map(|e| {
                let mut c = e.clone();
                c["component"] = json!("ccp");
                let ms = time::OffsetDateTime::parse(
                    c["time"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                c["time"] = json!(i64::try_from(ms.unix_timestamp_nanos() / 1_000_000).unwrap());
                c
            })
            .collect();
        self.entries.extend(copies);
    }

    /// The file as the CCP saves it: 4-space pretty JSON.
    pub(super) fn render(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&self.entries, &mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }
}

pub(super) const T0: i64 = 1_764_850_000_000; // 2025-12-04T12:06:40Z

pub(super) fn contact(n: u32) -> String {
    format!("1f3c2a44-0b0d-488f-ac78-{n:012x}")
}

/// A clean call of `talk_s` seconds.
pub(super) fn clean_call(n: u32, start_ms: i64, talk_s: u32) -> CallSpec {
    CallSpec {
        contact: contact(n),
        start_ms,
        talk_s,
        input: |_| CLEAN,
        output: |_| CLEAN,
        outcome: Outcome::Talked,
    }
}
