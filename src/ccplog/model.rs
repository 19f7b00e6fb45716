//! What a CCP log tells, as the report carries it (`ccp_log` in the JSON): calls with their audio
//! both ways, errors in time order, the clock, the endpoints in use, and how much of the file was
//! read. Times are RFC 3339 (UTC, milliseconds); figures carry their unit in their name.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::report::{Reason, Status};

/// The `ccp_log` section of a `ccp-log` report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CcpLog {
    pub input: Input,
    /// First and last entry time of the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_entry_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_entry_at: Option<String>,
    pub calls: Vec<Call>,
    /// Errors in time order (the first [`super::MAX_ERRORS`]; `errors_omitted` counts the rest).
    pub errors: Vec<LogError>,
    #[serde(default)]
    pub errors_omitted: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    pub endpoints: Endpoints,
}

/// How the files were read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Input {
    pub files: Vec<FileRead>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct FileRead {
    pub path: String,
    pub bytes: u64,
    /// Elements of the top-level array.
    pub entries: u64,
    /// Entries dropped as copies of another (same time and text: forwarded between contexts).
    pub duplicates: u64,
    /// Entries without a usable `time`: placed after the entry before them.
    pub without_time: u64,
    /// Elements that are not log entries (not an object, or no text): counted, not used.
    pub not_entries: u64,
    /// Entries whose text or objects held JSON that was cut short (by redaction) or unreadable;
    /// what parsed was kept.
    pub cut_json: u64,
    /// Entries that were found out of time order and put back in order.
    pub out_of_order: u64,
}

/// Where a figure series came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatsSource {
    /// `sendSoftphoneMetrics success[…]`: one sample a second with its timestamp.
    SoftphoneMetrics,
    /// `sent TelemetryCallReport {…}`'s per-second arrays (no timestamps: counted from the start).
    TelemetryCallReport,
}

/// What `jitterBufferMillis` meant in the log that was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum JitterMeaning {
    /// Interarrival jitter in ms (connect-rtc-js up to 1.2.x, and streams 2.28.4+).
    JitterMs,
    /// The cumulative jitter-buffer delay (connect-rtc-js 1.3.x): not jitter; jitter is not graded.
    CumulativeBufferDelay,
}

/// One direction of a call's audio.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Audio {
    /// Seconds with a sample.
    pub seconds: u64,
    pub packets: u64,
    pub packets_lost: u64,
    pub loss_pct: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_avg_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_max_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
    /// The whole direction graded as the live media check grades a sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mos: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mos_min: Option<f64>,
    /// Seconds in which no packet flowed.
    pub silent_seconds: u64,
    /// What is past the thresholds, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// One point a second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Second>,
}

/// One second of one direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Second {
    /// Seconds since the call's first sample.
    pub t_s: u32,
    pub packets: u32,
    pub lost: u32,
    pub loss_pct: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_level: Option<u32>,
    pub mos: f64,
}

/// A second worth naming: the lowest MOS of the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct WorstSecond {
    pub at: String,
    /// `audio_input` (what the agent heard) or `audio_output` (what the customer heard).
    pub direction: String,
    pub t_s: u32,
    pub mos: f64,
    pub loss_pct: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// How long each setup phase took (the softphone's call report), in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Phases {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_access_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_collection_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signalling_connect_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_talk_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_ms: Option<f64>,
}

/// One softphone call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Call {
    /// The contact id (`Softphone call detected: contactId …`), when the log names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub status: Status,
    pub reason: Reason,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    pub phases: Phases,
    /// The session states in order (`GrabLocalMediaState` … `TalkingState`, `FailedState`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    /// Failure flags the softphone set (`iceCollectionFailure`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Softphone error types raised during the call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub softphone_errors: Vec<String>,
    /// What the agent heard (inbound RTP).
    pub audio_input: Audio,
    /// What the customer heard: the agent's microphone as Connect received it.
    pub audio_output: Audio,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worst_seconds: Vec<WorstSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_source: Option<StatsSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_meaning: Option<JitterMeaning>,
    /// Why that meaning: the `rtcJsVersion` it was read with, or the evidence it was told from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_meaning_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc_js_version: Option<String>,
}

/// One error the CCP logged, explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LogError {
    pub at: String,
    pub status: Status,
    pub reason: Reason,
    /// What kind of error (`ice_collection_timeout`, `heartbeat`, `api:getAgentSnapshot`, …).
    pub what: String,
    /// The log's words, with secrets and numbers replaced.
    pub text: String,
    pub cause: String,
    pub remedy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// For a failed API call: from its request to its failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Identical errors folded into this one within the same second.
    #[serde(default, skip_serializing_if = "is_one")]
    pub repeats: u64,
}

fn is_one(n: &u64) -> bool {
    *n <= 1
}

/// The workstation's clock from the agent snapshots: positive skew means the workstation is behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Clock {
    pub snapshots: u64,
    pub skew_median_ms: f64,
    pub skew_min_ms: f64,
    pub skew_max_ms: f64,
}

/// The endpoints the CCP used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Endpoints {
    /// The CCP's WebSocket transport hosts (`wss://` without path or query).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub websocket: BTreeSet<String>,
    /// The softphone's signalling endpoints (`wss://host/path`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub signalling: BTreeSet<String>,
    /// TURN URLs (`turn:host:3478?transport=udp`), never with their username or credential.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub turn: BTreeSet<String>,
    /// The instance's domains seen (`acme.my.connect.aws`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub instance: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub streams_version: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub rtc_js_version: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub browser: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub vdi_platform: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccp_v2: Option<bool>,
}
