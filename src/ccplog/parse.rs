//! Reading `agent-log.txt`: one JSON array of log entries, in the order the CCP inserted them.
//!
//! `Logger.prototype.download` (amazon-connect-streams src/log.js:587-625) writes
//! `JSON.stringify(rolledLogs.concat(logs), undefined, 4)`; each element is a `LogEntry`
//! (log.js:134-163): `component, level, text, time, tabId, exception, objects, line,
//! agentResourceId, loggerId, contextLayer`, of which 2019 logs have only the first seven.
//!
//! The array is streamed element by element, each entry turned into the few facts it carries
//! ([`Event`]s and endpoint facts) and dropped, so memory stays near the size of the file. What
//! real files need: entries forwarded between contexts appear twice (dropped by time and text),
//! `time` may be an ISO string or epoch milliseconds (`LogEntry.fromObject`, log.js:165) or
//! missing, softphone texts start with a space (`SoftphoneLogger`'s `" %s"`, softphone.js:1480),
//! JSON inside texts may be cut by redaction ([`super::json`]), and metrics may sit in `objects`.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer as _, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::json::{self, Parsed};
use super::model::{Endpoints, FileRead, Phases};
use super::scrub;
use crate::error::{Error, Location, Result};

/// Which way a stream goes, in streams' words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Direction {
    /// `audio_input`: inbound RTP, what the agent hears (rtc-js rtp-stats.js, rtc_session.js).
    Input,
    /// `audio_output`: the agent's microphone; loss and RTT as Connect reports them back (RTCP).
    Output,
}

impl Direction {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Input => "audio_input",
            Self::Output => "audio_output",
        }
    }
}

/// One per-second sample: streams' `RTPStreamStats` (softphone.js:1465).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    pub direction: Direction,
    pub at_ms: i64,
    pub packets: Option<f64>,
    pub lost: Option<f64>,
    pub audio_level: Option<f64>,
    pub jitter_buffer_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    /// Streams 2.28.4+ adds `jitterBufferDelayMilliseconds`, and `jitterBufferMillis` is jitter again.
    pub has_buffer_delay: bool,
}

/// The softphone's call report (`sendSoftphoneReport success{…}`, softphone.js:1219-1256) or its
/// telemetry superset (`sent TelemetryCallReport {…}`, softphone.js:1277-1322).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CallReport {
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub phases: Phases,
    /// Failure flags set to true.
    pub failures: Vec<String>,
    pub rtc_js_version: Option<String>,
    pub telemetry: bool,
    /// The telemetry report's per-second arrays, as samples counted back from the call's end.
    pub per_second: Vec<Sample>,
    pub ice_connections_lost: Option<f64>,
}

/// What went wrong, before it is explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// `Softphone error occurred : <type> …` (softphone.js:1135).
    Softphone(String),
    Ice(&'static str),
    Signalling(&'static str),
    WebSocket(&'static str),
    Heartbeat,
    /// A Connect API call failed (no answer, a timeout, a server error): its name.
    Api(String),
    /// Connect answered an API call with an error message: a refusal, not a network fault.
    ApiRefused(String),
    Auth(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawError {
    pub kind: ErrorKind,
    /// The log's words, scrubbed.
    pub text: String,
    pub contact: Option<String>,
    /// The HTTP status of a failed API call, when its JSON says.
    pub status_code: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum What {
    CallDetected {
        contact: String,
    },
    /// A connect-rtc-js session line (`<contactId> SESSION|SIGNALING <message>`, rtc-js utils.js:55).
    Rtc {
        contact: String,
        message: String,
    },
    Metrics(Vec<Sample>),
    CallReport(Box<CallReport>),
    Error(RawError),
    /// `AWSClient: --> Calling operation 'X'` (client.js:381): the start of a call's latency.
    ApiCall(String),
    /// `GET_AGENT_SNAPSHOT succeeded.` (worker.js:604-609): server time − local receive time, ms.
    Skew(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Event {
    pub at_ms: i64,
    /// File and position: the tiebreak of equal times.
    pub order: u64,
    pub what: What,
}

/// Everything read from the files, before calls are assembled.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub events: Vec<Event>,
    pub endpoints: Endpoints,
    pub files: Vec<FileRead>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

/// Reads one file's text (already read through the bounded reader) into `into`.
pub(crate) fn read(path: &Path, text: &str, file_index: u64, into: &mut Collected) -> Result<()> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let bad = |offset: usize, message: String| {
        Error::bad_input(Location::from_offset(path, text, offset), message)
    };
    if trimmed.is_empty() {
        return Err(Error::bad_input(
            Location::file(path),
            "the file is empty; expected the JSON array the CCP's \"Download logs\" saves (agent-log.txt)",
        ));
    }
    let offset = text.len() - trimmed.len();
    if !trimmed.starts_with('[') {
        return Err(bad(
            offset,
            format!(
                "expected a CCP log: a JSON array of log entries starting with '[', found {:?}",
                trimmed.chars().next().unwrap_or(' ')
            ),
        ));
    }
    let mut reader = FileReader {
        file: FileRead {
            path: path.display().to_string(),
            bytes: text.len() as u64,
            ..FileRead::default()
        },
        file_index,
        seen: HashSet::new(),
        last_ms: None,
        max_ms: None,
        into,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = (&mut de)
        .deserialize_seq(EntriesVisitor(&mut reader))
        .and_then(|()| de.end());
    if let Err(e) = outcome {
        let location = Location::at(path, e.line(), Some(e.column()));
        let what = if e.is_eof() {
            "the file ends in the middle of the log (truncated?)".to_owned()
        } else {
            format!("not a readable CCP log: {e}")
        };
        return Err(Error::bad_input(location, what));
    }
    let file = reader.file;
    into.files.push(file);
    Ok(())
}

struct FileReader<'c> {
    file: FileRead,
    file_index: u64,
    seen: HashSet<u64>,
    /// The time of the entry before, given to an entry without one.
    last_ms: Option<i64>,
    max_ms: Option<i64>,
    into: &'c mut Collected,
}

struct EntriesVisitor<'r, 'c>(&'r mut FileReader<'c>);

impl<'de> Visitor<'de> for EntriesVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of CCP log entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element_seed(EntrySeed)? {
            self.0.entry(&value);
        }
        Ok(())
    }
}

struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// Epoch milliseconds from an ISO string or a number; `None` for anything else or out of 2000-2100.
pub(crate) fn time_of(value: Option<&Value>) -> Option<i64> {
    let ms = match value? {
        Value::String(s) => {
            let t = time::OffsetDateTime::parse(
                s.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?
        }
        Value::Number(n) => n.as_f64()? as i64,
        _ => return None,
    };
    (946_684_800_000..4_102_444_800_000)
        .contains(&ms)
        .then_some(ms)
}

fn number(o: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match o.get(*k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn flag(o: &Map<String, Value>, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| o.get(*k).and_then(Value::as_bool) == Some(true))
}

fn string(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key)?
        .as_str()
        .map(|s| crate::sanitize::for_terminal(s.trim(), 80))
        .filter(|s| !s.is_empty())
}

impl FileReader<'_> {
    fn entry(&mut self, value: &Value) {
        self.file.entries += 1;
        let order = (self.file_index << 40) | self.file.entries;
        let Some(o) = value.as_object() else {
            self.file.not_entries += 1;
            return;
        };
        let Some(raw_text) = o.get("text").and_then(Value::as_str) else {
            self.file.not_entries += 1;
            return;
        };
        let text = raw_text.trim();
        let at_ms = match time_of(o.get("time")) {
            Some(ms) => ms,
            None => {
                self.file.without_time += 1;
                match self.last_ms {
                    Some(ms) => ms,
                    None => {
                        // Nothing to place it by: its facts (endpoints) still count, its events not.
                        self.endpoints_of(text, o);
                        return;
                    }
                }
            }
        };
        let mut hasher = DefaultHasher::new();
        (at_ms, text).hash(&mut hasher);
        if !self.seen.insert(hasher.finish()) {
            self.file.duplicates += 1;
            return;
        }
        if self.max_ms.is_some_and(|max| at_ms < max) {
            self.file.out_of_order += 1;
        }
        self.max_ms = Some(self.max_ms.map_or(at_ms, |m| m.max(at_ms)));
        self.last_ms = Some(at_ms);
        let first = &mut self.into.first_ms;
        *first = Some(first.map_or(at_ms, |f| f.min(at_ms)));
        let last = &mut self.into.last_ms;
        *last = Some(last.map_or(at_ms, |l| l.max(at_ms)));

        self.endpoints_of(text, o);
        let objects = o.get("objects").and_then(Value::as_array);
        for what in self.events_of(text, at_ms, objects) {
            self.into.events.push(Event { at_ms, order, what });
        }
    }

    fn parsed(&mut self, text: &str) -> Option<Value> {
        match json::parse(text) {
            Parsed::Whole(v) => Some(v),
            Parsed::Cut(v) => {
                self.file.cut_json += 1;
                Some(v)
            }
            Parsed::Unreadable => {
                self.file.cut_json += 1;
                None
            }
        }
    }

    fn events_of(&mut self, text: &str, at_ms: i64, objects: Option<&Vec<Value>>) -> Vec<What> {
        // softphone.js:608: logger.info("Softphone call detected:", "contactId " + id, "agent connectionId " + id)
        if let Some(rest) = text.strip_prefix("Softphone call detected:") {
            let contact = rest
                .split_whitespace()
                .skip_while(|w| *w != "contactId")
                .nth(1)
                .and_then(scrub::contact_id);
            return contact
                .map(|contact| vec![What::CallDetected { contact }])
                .unwrap_or_default();
        }
        // softphone.js:1207: "sendSoftphoneMetrics success" + JSON.stringify(streamStats)
        if let Some(rest) = text.strip_prefix("sendSoftphoneMetrics success") {
            let from_text = if rest.trim().is_empty() {
                None
            } else {
                self.parsed(rest)
            };
            // Some builds put the array in `objects` instead of the text.
            let value = from_text.or_else(|| {
                objects.map(|objs| {
                    Value::Array(
                        objs.iter()
                            .flat_map(|o| match o {
                                Value::Array(a) => a.clone(),
                                other => vec![other.clone()],
                            })
                            .collect(),
                    )
                })
            });
            let samples = value
                .as_ref()
                .and_then(Value::as_array)
                .map(|a| samples_of(a, at_ms))
                .unwrap_or_default();
            return if samples.is_empty() {
                Vec::new()
            } else {
                vec![What::Metrics(samples)]
            };
        }
        // softphone.js:1250 and 1321.
        let report = text
            .strip_prefix("sendSoftphoneReport success")
            .map(|r| (r, false))
            .or_else(|| {
                text.strip_prefix("sent TelemetryCallReport")
                    .map(|r| (r, true))
            });
        if let Some((rest, telemetry)) = report {
            let value = if rest.trim().is_empty() {
                objects.and_then(|o| o.first()).cloned()
            } else {
                self.parsed(rest)
            };
            let Some(o) = value.as_ref().and_then(Value::as_object) else {
                return Vec::new();
            };
            let ep = &mut self.into.endpoints;
            for (key, set) in [
                ("rtcJsVersion", &mut ep.rtc_js_version),
                ("streamJsVersion", &mut ep.streams_version),
                ("vdiPlatform", &mut ep.vdi_platform),
            ] {
                if let Some(v) = string(o, key) {
                    set.insert(v);
                }
            }
            return vec![What::CallReport(Box::new(call_report(o, telemetry)))];
        }
        if text == "GET_AGENT_SNAPSHOT succeeded." {
            let skew = objects
                .and_then(|o| o.first())
                .and_then(|o| o.get("snapshot"))
                .and_then(Value::as_object)
                .and_then(|s| number(s, &["skew"]));
            return skew.map(|s| vec![What::Skew(s)]).unwrap_or_default();
        }
        if let Some(rest) = text.strip_prefix("AWSClient: --> Calling operation '") {
            let api = rest.split('\'').next().unwrap_or_default();
            return vec![What::ApiCall(api_name(api))];
        }
        if let Some(rest) = text.strip_prefix("AWSClient: <-- Operation '") {
            let (api, rest) = rest.split_once('\'').unwrap_or((rest, ""));
            if let Some(body) = rest.trim_start().strip_prefix("failed") {
                return vec![What::Error(self.api_failure(&api_name(api), text, body))];
            }
            return Vec::new();
        }
        // rtc-js: wrapLogger(logger, callId, "SESSION"|"SIGNALING") prefixes every RTC line.
        let mut words = text.splitn(3, ' ');
        if let (Some(id), Some(category), Some(message)) =
            (words.next(), words.next(), words.next())
        {
            if matches!(category, "SESSION" | "SIGNALING") {
                if let Some(contact) = scrub::contact_id(id) {
                    let mut out = vec![What::Rtc {
                        contact: contact.clone(),
                        message: rtc_message(message),
                    }];
                    if let Some(kind) = rtc_error(message) {
                        out.push(What::Error(RawError {
                            kind,
                            text: scrub::text(message, 300),
                            contact: Some(contact),
                            status_code: None,
                        }));
                    }
                    return out;
                }
            }
        }
        error_of(text).map_or_else(Vec::new, |kind| {
            vec![What::Error(RawError {
                kind,
                text: scrub::text(text, 300),
                contact: None,
                status_code: None,
            })]
        })
    }

    fn api_failure(&mut self, api: &str, text: &str, body: &str) -> RawError {
        let parsed = if body.contains(['{', '[']) {
            self.parsed(body)
        } else {
            None
        };
        let field = |key: &str| -> Option<String> {
            parsed
                .as_ref()
                .and_then(Value::as_object)
                .and_then(|o| o.get(key))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .or_else(|| json::scan_field(body, key).map(str::to_owned))
        };
        let status_code = field("statusCode")
            .or_else(|| field("status"))
            .and_then(|s| s.trim().parse().ok());
        if let Some(host) = field("hostname") {
            if is_instance_host(&host) {
                self.into
                    .endpoints
                    .instance
                    .insert(host.to_ascii_lowercase());
            }
        }
        let code = field("code").unwrap_or_default();
        let auth = matches!(status_code, Some(401 | 403))
            || code.contains("AccessDenied")
            || code.contains("Unauthorized")
            || code.contains("ExpiredToken");
        let message = field("message").unwrap_or_default();
        let network = code.contains("Networking")
            || code.contains("Timeout")
            || message.contains("Network")
            || message.contains("timed out")
            || message.contains("Failed to fetch")
            || status_code.is_some_and(|s| s == 0 || s >= 500);
        let kind = if auth {
            ErrorKind::Auth("api_unauthorized")
        } else if !network && !message.is_empty() {
            ErrorKind::ApiRefused(api.to_owned())
        } else {
            ErrorKind::Api(api.to_owned())
        };
        let mut shown = format!("Operation '{api}' failed");
        if let Some(message) = field("message") {
            shown.push_str(": ");
            shown.push_str(&message);
        }
        if !code.is_empty() {
            shown.push_str(&format!(" ({code})"));
        }
        let _ = text;
        RawError {
            kind,
            text: scrub::text(&shown, 300),
            contact: None,
            status_code,
        }
    }

    /// Endpoint facts: from `objects` (snapshots, createTransport) and from URLs in texts.
    fn endpoints_of(&mut self, text: &str, o: &Map<String, Value>) {
        let ep = &mut self.into.endpoints;
        if let Some(objects) = o.get("objects") {
            walk(objects, ep, 0);
        }
        if let Some(v) = text.strip_prefix("StreamsJS Version:") {
            let v = v.trim();
            if v != "null" && !v.is_empty() {
                ep.streams_version
                    .insert(crate::sanitize::for_terminal(v, 40));
            }
        } else if let Some(ua) = text.strip_prefix("User Agent:") {
            if let Some(b) = browser(ua) {
                ep.browser.insert(b);
            }
        } else if let Some(v) = text.strip_prefix("isCCPv2:") {
            ep.ccp_v2 = Some(v.trim() == "true");
        }
        if text.contains("://") || text.contains("turn:") {
            urls_in(text, ep);
        }
        if let Some(Value::Object(exception)) = o.get("exception") {
            if let Some(Value::Array(stack)) = exception.get("stack") {
                for line in stack.iter().filter_map(Value::as_str) {
                    urls_in(line, ep);
                }
            }
        }
    }
}

/// An API name as the log writes it, kept only when it looks like one.
fn api_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name
    }
}

/// An RTC message short enough to keep: state transitions and events, never SDP or candidates.
fn rtc_message(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or_default();
    if first_line.starts_with("Sending SDP")
        || first_line.starts_with("Received SDP")
        || first_line.starts_with("onicecandidate")
    {
        return first_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
    }
    scrub::text(first_line, 200)
}

/// rtc-js's error lines (rtc_session.js:223, 248, 298, 354, 582, 589, 656).
fn rtc_error(message: &str) -> Option<ErrorKind> {
    let m = message.trim();
    Some(if m.starts_with("ICE collection timed out") {
        ErrorKind::Ice("ice_collection_timeout")
    } else if m.starts_with("No ICE candidate") {
        ErrorKind::Ice("no_ice_candidate")
    } else if m.starts_with("Lost ICE connection") {
        ErrorKind::Ice("ice_connection_lost")
    } else if m.starts_with("ICE Connection State:") && m.ends_with("failed") {
        ErrorKind::Ice("ice_connection_failed")
    } else if m.starts_with("ICE Connection State:") && m.ends_with("disconnected") {
        ErrorKind::Ice("ice_disconnected")
    } else if m.starts_with("Peer Connection State:") && m.ends_with("failed") {
        ErrorKind::Ice("peer_connection_failed")
    } else if m.starts_with("Failed connecting to signaling server") {
        ErrorKind::Signalling("signalling_connection_failure")
    } else if m.starts_with("Failed handshaking with signaling server") {
        ErrorKind::Signalling("signalling_handshake_failure")
    } else {
        return None;
    })
}

/// The CCP's other error lines: softphone errors, the WebSocket manager, API and authorization.
fn error_of(text: &str) -> Option<ErrorKind> {
    if let Some(rest) = text.strip_prefix("Softphone error occurred :") {
        let kind = rest.split_whitespace().next().unwrap_or("other");
        let kind: String = kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Some(ErrorKind::Softphone(kind));
    }
    const WEBSOCKET: &[(&str, &str)] = &[
        ("WebSocketManager Error", "websocket_error"),
        ("WebSocket connection is closed", "websocket_closed"),
        (
            "Neither primary websocket and nor secondary",
            "websocket_down",
        ),
        (
            "Failed to fetch webSocket connection configuration",
            "websocket_configuration_failed",
        ),
        ("WebSocket Initialization failed", "websocket_init_failed"),
        ("WebSocket failed to initialize", "websocket_init_failed"),
        ("getWebSocketUrl failed", "websocket_init_failed"),
        ("Network offline", "network_offline"),
        ("webSocket::connection_lost", "websocket_connection_lost"),
        ("websocket_connection_lost", "websocket_connection_lost"),
    ];
    if text.contains("Heartbeat response not received") {
        return Some(ErrorKind::Heartbeat);
    }
    if let Some((_, what)) = WEBSOCKET.iter().find(|(needle, _)| text.contains(needle)) {
        return Some(ErrorKind::WebSocket(what));
    }
    if text.starts_with("Authorization failed with code") {
        return Some(ErrorKind::Auth("authorization_failed"));
    }
    if text.starts_with("ACK_TIMEOUT occurred") {
        return Some(ErrorKind::Auth("ack_timeout"));
    }
    for metrics in ["sendSoftphoneMetrics failed", "sendSoftphoneReport failed"] {
        if text.starts_with(metrics) {
            return Some(ErrorKind::Api(
                metrics.split(' ').next().unwrap_or_default().to_owned(),
            ));
        }
    }
    if let Some(rest) = text.strip_prefix('\'') {
        if let Some((api, tail)) = rest.split_once('\'') {
            if tail.trim_start().starts_with("API request failed") {
                return Some(ErrorKind::Api(api_name(api)));
            }
        }
    }
    if let Some(rest) = text.strip_prefix("Failed to handle AWS API request for method") {
        return Some(ErrorKind::Api(api_name(
            rest.split_whitespace().next().unwrap_or_default(),
        )));
    }
    if text.starts_with("Failed to get agent data") {
        return Some(ErrorKind::Api("getAgentData".to_owned()));
    }
    if text.contains("exhausted max") && text.contains("retries") {
        return Some(ErrorKind::Api("retries_exhausted".to_owned()));
    }
    None
}

fn samples_of(array: &[Value], at_ms: i64) -> Vec<Sample> {
    let n = array.len() as i64;
    array
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let o = v.as_object()?;
            let direction = match o
                .get("softphoneStreamType")?
                .as_str()?
                .to_ascii_lowercase()
                .as_str()
            {
                "audio_input" => Direction::Input,
                "audio_output" => Direction::Output,
                _ => return None,
            };
            // Without its own timestamp a sample is placed by its position before the entry's time.
            let at = time_of(o.get("timestamp")).unwrap_or(at_ms - (n - 1 - i as i64) * 500);
            Some(Sample {
                direction,
                at_ms: at,
                packets: number(o, &["packetsCount", "packetCount"]),
                lost: number(o, &["packetsLost"]),
                audio_level: number(o, &["audioLevel"]),
                jitter_buffer_ms: number(o, &["jitterBufferMillis"]),
                rtt_ms: number(o, &["roundTripTimeMillis"]),
                has_buffer_delay: o.contains_key("jitterBufferDelayMilliseconds"),
            })
        })
        .collect()
}

/// A call report in either spelling: the AWSClient renames some keys in place (client.js:606-642).
fn call_report(o: &Map<String, Value>, telemetry: bool) -> CallReport {
    let phases = Phases {
        media_access_ms: number(o, &["gumTimeMillis"]),
        initialization_ms: number(o, &["initializationTimeMillis"]),
        ice_collection_ms: number(o, &["iceCollectionTimeMillis"]),
        signalling_connect_ms: number(o, &["signallingConnectTimeMillis"]),
        handshake_ms: number(o, &["handshakingTimeMillis", "handshakeTimeMillis"]),
        pre_talk_ms: number(o, &["preTalkingTimeMillis", "preTalkTimeMillis"]),
        talk_ms: number(o, &["talkingTimeMillis", "talkTimeMillis"]),
        cleanup_ms: number(o, &["cleanupTimeMillis"]),
    };
    const FLAGS: &[&[&str]] = &[
        &["iceCollectionFailure"],
        &["signallingConnectionFailure"],
        &["handshakingFailure", "handshakeFailure"],
        &["gumOtherFailure"],
        &["gumTimeoutFailure"],
        &["createOfferFailure"],
        &["setLocalDescriptionFailure"],
        &["userBusyFailure"],
        &["invalidRemoteSDPFailure"],
        &["noRemoteIceCandidateFailure"],
        &["setRemoteDescriptionFailure"],
        &["peerConnectionFailed"],
        &["iceRestartFailed"],
    ];
    let failures = FLAGS
        .iter()
        .filter(|keys| flag(o, keys))
        .map(|keys| keys[0].to_owned())
        .collect();
    let start_ms = time_of(o.get("callStartTime"));
    let end_ms = time_of(o.get("callEndTime"));
    let mut per_second = Vec::new();
    if let Some(Value::Object(stats)) = o.get("softphoneStreamPerSecondStatistics") {
        for (key, direction) in [
            ("AUDIO_INPUT", Direction::Input),
            ("AUDIO_OUTPUT", Direction::Output),
        ] {
            let Some(Value::Object(s)) = stats.get(key) else {
                continue;
            };
            let series = |k: &str| -> Vec<Option<f64>> {
                s.get(k)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(Value::as_f64).collect())
                    .unwrap_or_default()
            };
            let packets = series("packetsCount");
            let packets = if packets.is_empty() {
                series("packetCount")
            } else {
                packets
            };
            let lost = series("packetsLost");
            let level = series("audioLevel");
            let jb = series("jitterBufferMillis");
            let rtt = series("roundTripTimeMillis");
            let n = packets.len().max(lost.len());
            let end = end_ms
                .or(start_ms.map(|s| s + n as i64 * 1000))
                .unwrap_or(0);
            let at = |i: usize| -> Option<f64> { packets.get(i).copied().flatten() };
            for i in 0..n {
                per_second.push(Sample {
                    direction,
                    at_ms: end - (n - i) as i64 * 1000,
                    packets: at(i),
                    lost: lost.get(i).copied().flatten(),
                    audio_level: level.get(i).copied().flatten(),
                    jitter_buffer_ms: jb.get(i).copied().flatten(),
                    rtt_ms: rtt.get(i).copied().flatten(),
                    has_buffer_delay: false,
                });
            }
        }
    }
    CallReport {
        start_ms,
        end_ms,
        phases,
        failures,
        rtc_js_version: string(o, "rtcJsVersion"),
        telemetry,
        per_second,
        ice_connections_lost: number(o, &["iceConnectionsLost"]),
    }
}

/// Walks `objects` for endpoint facts: TURN URLs in `callConfigJson` (a JSON string inside the
/// snapshot, streams test log.entry.test.js:147) or `softphoneMediaConnections` (aws-client.js:905),
/// the WebSocket URL of `createTransport` (client.js:403), the Region in `agentStateARN`.
fn walk(value: &Value, ep: &mut Endpoints, depth: usize) {
    if depth > 16 {
        return;
    }
    match value {
        Value::Array(a) => a.iter().for_each(|v| walk(v, ep, depth + 1)),
        Value::Object(o) => {
            for (key, v) in o {
                match (key.as_str(), v) {
                    ("callConfigJson", Value::String(s)) => {
                        if let Some(config) = json::parse(s).value() {
                            walk(config, ep, depth + 1);
                        }
                        // A cut config still names its relays.
                        urls_in(s, ep);
                    }
                    ("urls" | "url", Value::String(s)) => urls_in(s, ep),
                    ("urls", Value::Array(a)) => {
                        for s in a.iter().filter_map(Value::as_str) {
                            urls_in(s, ep);
                        }
                    }
                    ("signalingEndpoint", Value::String(s)) => urls_in(s, ep),
                    ("agentStateARN", Value::String(arn)) if ep.region.is_none() => {
                        ep.region = arn
                            .split(':')
                            .nth(3)
                            .filter(|r| {
                                !r.is_empty()
                                    && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            })
                            .map(str::to_owned);
                    }
                    ("vdiPlatform", Value::String(s)) if !s.is_empty() => {
                        ep.vdi_platform.insert(crate::sanitize::for_terminal(s, 40));
                    }
                    ("rtcJsVersion", Value::String(s)) if !s.is_empty() => {
                        ep.rtc_js_version
                            .insert(crate::sanitize::for_terminal(s, 40));
                    }
                    (_, Value::Object(_) | Value::Array(_)) => walk(v, ep, depth + 1),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The URLs in a text: `wss://` hosts (transport or signalling), `turn:` relays, and the
/// instance's own `https://` domain. Never a query string, a path of a transport, or a user part.
pub(crate) fn urls_in(text: &str, ep: &mut Endpoints) {
    for (at, _) in text.match_indices("wss://") {
        let rest = &text[at + 6..];
        let end = rest
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '/' | '_'))
            })
            .unwrap_or(rest.len());
        let url = &rest[..end];
        let (host, path) = url.split_once('/').unwrap_or((url, ""));
        let host = host
            .rsplit_once('@')
            .map_or(host, |(_, h)| h)
            .to_ascii_lowercase();
        if !valid_host(host.split(':').next().unwrap_or_default()) {
            continue;
        }
        let lower = text.to_ascii_lowercase();
        if path.starts_with("LilyRTC") || lower.contains("signal") {
            ep.signalling.insert(format!(
                "wss://{host}/{}",
                path.split('/').next().unwrap_or_default()
            ));
        } else {
            ep.websocket.insert(format!("wss://{host}"));
        }
    }
    for scheme in ["turn:", "turns:"] {
        for (at, _) in text.match_indices(scheme) {
            if at > 0 && text.as_bytes()[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let rest = &text[at + scheme.len()..];
            let end = rest
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '-' | ':' | '?' | '=' | '_' | '[' | ']'))
                })
                .unwrap_or(rest.len());
            let url = &rest[..end];
            let (hostport, query) = url.split_once('?').unwrap_or((url, ""));
            let host = hostport.rsplit_once(':').map_or(hostport, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    hostport
                }
            });
            if !valid_host(host.trim_matches(['[', ']'])) {
                continue;
            }
            let transport = query
                .split('&')
                .find(|kv| kv.starts_with("transport="))
                .map(|kv| format!("?{kv}"))
                .unwrap_or_default();
            ep.turn.insert(format!(
                "{scheme}{}{transport}",
                hostport.to_ascii_lowercase()
            ));
        }
    }
    for (at, _) in text.match_indices("https://") {
        let rest = &text[at + 8..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
            .unwrap_or(rest.len());
        let host = rest[..end].to_ascii_lowercase();
        if is_instance_host(&host) {
            ep.instance.insert(host);
        }
    }
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && host
            .bytes()
            .any(|b| b.is_ascii_alphabetic() || b == b'.' || b == b':')
}

/// The instance's own web domains (AWS: `<alias>.my.connect.aws`, `<alias>.awsapps.com`).
pub(crate) fn is_instance_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    valid_host(&host)
        && ["my.connect.aws", "awsapps.com"]
            .iter()
            .any(|suffix| host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")))
}

/// The browser and its major version from a user agent: enough to tell, nothing more.
fn browser(ua: &str) -> Option<String> {
    for (token, name) in [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ] {
        if let Some(at) = ua.find(token) {
            let version: String = ua[at + token.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !version.is_empty() {
                return Some(format!("{name} {version}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collect(text: &str) -> Result<Collected> {
        let mut c = Collected::default();
        read(Path::new("agent-log.txt"), text, 0, &mut c)?;
        Ok(c)
    }

    #[test]
    fn times_are_iso_strings_or_epoch_milliseconds() {
        assert_eq!(
            time_of(Some(&json!("2025-05-06T17:25:02.353Z"))),
            Some(1_746_552_302_353)
        );
        assert_eq!(
            time_of(Some(&json!(1_746_552_302_353_i64))),
            Some(1_746_552_302_353)
        );
        assert_eq!(time_of(Some(&json!("yesterday"))), None);
        assert_eq!(time_of(Some(&json!(12))), None);
        assert_eq!(time_of(None), None);
    }

    #[test]
    fn bad_files_name_where() {
        let e = collect("{\"a\":1}").unwrap_err().to_string();
        assert!(
            e.starts_with("agent-log.txt:1:1: expected a CCP log"),
            "{e}"
        );
        let e = collect("[\n {\"text\":\"x\",").unwrap_err().to_string();
        assert!(
            e.contains("agent-log.txt:2:") && e.contains("truncated"),
            "{e}"
        );
        let e = collect("  ").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = collect("[1] x").unwrap_err().to_string();
        assert!(e.contains("agent-log.txt:1:5"), "{e}");
    }

    #[test]
    fn odd_elements_are_counted_not_fatal() {
        let c = collect(
            r#"[1, "x", {"text": 5}, {"text": "a", "time": "2025-01-01T00:00:00.000Z"},
                {"text": "a", "time": 1735689600000}, {"text": "b"}]"#,
        )
        .unwrap();
        let f = &c.files[0];
        assert_eq!(
            (f.entries, f.not_entries, f.duplicates, f.without_time),
            (6, 3, 1, 1)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_never_a_panic(text in "\\PC{0,200}") {
            let _ = collect(&text);
            let _ = collect(&format!("[{text}]"));
            let _ = json::parse(&text);
            proptest::prop_assert!(!scrub::text(&text, 50).chars().any(char::is_control));
        }

        #[test]
        fn entries_of_any_shape_are_counted(texts in proptest::collection::vec("\\PC{0,80}", 0..8), times in proptest::collection::vec(proptest::option::of(0i64..4_000_000_000_000), 8)) {
            let entries: Vec<Value> = texts.iter().zip(&times).map(|(t, time)| json!({"text": t, "time": time, "objects": [{"snapshot": {"skew": t}}]})).collect();
            let c = collect(&Value::Array(entries).to_string()).unwrap();
            let f = &c.files[0];
            proptest::prop_assert_eq!(f.entries, texts.len() as u64);
            proptest::prop_assert!(f.duplicates + f.not_entries <= f.entries);
        }
    }

    #[test]
    fn failed_api_calls_tell_a_refusal_from_a_network_fault() {
        let text = r#"[{"text": "AWSClient: <-- Operation 'getAgentSnapshot' failed: {\"code\":\"NetworkingError\",\"message\":\"Network Failure\",\"hostname\":\"acme.my.connect.aws\"", "time": 1735689600000},
            {"text": "AWSClient: <-- Operation 'createOutboundContact' failed: {\"message\":\"Invalid number\",\"statusCode\":400}", "time": 1735689601000},
            {"text": "AWSClient: <-- Operation 'putAgentState' failed: {\"statusCode\":401,\"code\":\"UnauthorizedException\"}", "time": 1735689602000}]"#;
        let c = collect(text).unwrap();
        let kinds: Vec<ErrorKind> = c
            .events
            .iter()
            .filter_map(|e| match &e.what {
                What::Error(raw) => Some(raw.kind.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::Api("getAgentSnapshot".into()),
                ErrorKind::ApiRefused("createOutboundContact".into()),
                ErrorKind::Auth("api_unauthorized")
            ]
        );
        assert!(c.endpoints.instance.contains("acme.my.connect.aws"));
    }

    #[test]
    fn metrics_in_objects_are_read_when_the_text_has_none() {
        let text = r#"[{"text": " sendSoftphoneMetrics success", "time": "2025-01-01T00:00:00.000Z",
            "objects": [[{"softphoneStreamType": "audio_input", "timestamp": "2025-01-01T00:00:00.000Z",
                          "packetsLost": 1, "packetCount": 49, "audioLevel": 10, "jitterBufferMillis": 3, "roundTripTimeMillis": null}]]}]"#;
        let c = collect(text).unwrap();
        match &c.events[0].what {
            What::Metrics(samples) => {
                assert_eq!(samples.len(), 1);
                assert_eq!(
                    (samples[0].packets, samples[0].lost),
                    (Some(49.0), Some(1.0))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_come_from_snapshots_and_texts() {
        let mut ep = Endpoints::default();
        let config = r#"{"signalingEndpoint":"wss://rtc.example.com/LilyRTC","iceServers":[{"urls":["turn:turnnlb-1.example.com:3478?transport=udp"],"username":"17000:secretuser","credential":"[redacted]"}]}"#;
        walk(
            &json!({"snapshot": {"contacts": [{"connections": [{"softphoneMediaInfo": {"callConfigJson": config}}]}],
                                  "state": {"agentStateARN": "arn:aws:connect:eu-central-1:123456789012:instance/x/agent-state/y"}}}),
            &mut ep,
            0,
        );
        urls_in(
            "Successfully fetched webSocket connection configuration {\"url\":\"wss://abc.transport.connect.eu-central-1.amazonaws.com/?AuthToken=[redacted]",
            &mut ep,
        );
        urls_in("at https://acme.my.connect.aws/ccp-v2/x.js:1:2", &mut ep);
        assert_eq!(
            ep.turn.iter().collect::<Vec<_>>(),
            ["turn:turnnlb-1.example.com:3478?transport=udp"]
        );
        assert_eq!(
            ep.signalling.iter().collect::<Vec<_>>(),
            ["wss://rtc.example.com/LilyRTC"]
        );
        assert_eq!(
            ep.websocket.iter().collect::<Vec<_>>(),
            ["wss://abc.transport.connect.eu-central-1.amazonaws.com"]
        );
        assert_eq!(
            ep.instance.iter().collect::<Vec<_>>(),
            ["acme.my.connect.aws"]
        );
        assert_eq!(ep.region.as_deref(), Some("eu-central-1"));
        assert_eq!(
            browser("Mozilla/5.0 (X11) AppleWebKit/537.36 Chrome/140.0.1 Safari/537.36").as_deref(),
            Some("Chrome 140")
        );
    }
}
