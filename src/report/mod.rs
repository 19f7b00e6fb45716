//! The report: one model, many renderers.
//!
//! Every command that judges something (`check`, `audit`, `ranges info`) produces a [`Report`]. The
//! JSON form (`connect-preflight/report/v1`) is a contract for image pipelines: fields are
//! snake_case, numbers carry their unit in their name, and a [`Reason`] code is never renamed.

pub(crate) mod facts;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
#[cfg(test)]
pub(crate) mod samples;
pub mod schema;
pub(crate) mod text;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The `schema` field of every JSON report.
pub const SCHEMA: &str = "connect-preflight/report/v1";

/// What one check concluded. Ordered by severity, so the worst of a set is its `max()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A fact worth showing that is neither good nor bad.
    Info,
    /// The requirement is met.
    Pass,
    /// Not run: excluded by the user, or nothing concrete to test.
    Skip,
    /// Works, but something will bite later or under load.
    Warn,
    /// The CCP or the softphone will not work as it is.
    Fail,
}

impl Status {
    pub const fn label(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Pass => "PASS",
            Self::Skip => "SKIP",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// What kind of evidence a check rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Dns,
    Tcp,
    Tls,
    Https,
    Websocket,
    Stun,
    Turn,
    Media,
    Ranges,
    Allowlist,
    System,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Https => "https",
            Self::Websocket => "websocket",
            Self::Stun => "stun",
            Self::Turn => "turn",
            Self::Media => "media",
            Self::Ranges => "ranges",
            Self::Allowlist => "allowlist",
            Self::System => "system",
        }
    }
}

/// Transport protocol of a requirement or a probe (the vocabulary lives in [`crate::net`]).
pub use crate::net::Protocol as Proto;

macro_rules! reasons {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $code:literal ),+ $(,)?) => {
        /// Why a check has its status: a stable code, the same in every format.
        ///
        /// Codes are added as the tool learns new diagnoses and are never renamed; `docs/reasons.md`
        /// lists each with its meaning (a test keeps the two in step).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum Reason {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Reason {
            /// Every code, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The wire form of the code.
            pub const fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)+ }
            }

            /// One line on what the code means.
            pub fn meaning(self) -> &'static str {
                match self { $(Reason::$variant => concat!($($doc),+).trim(),)+ }
            }
        }
    };
}

reasons! {
    /// The requirement is met.
    Ok = "ok",
    /// The name does not exist (DNS NXDOMAIN).
    Nxdomain = "nxdomain",
    /// The name exists but has no address of the asked type.
    NoAnswer = "no_answer",
    /// The resolver failed to answer (SERVFAIL).
    Servfail = "servfail",
    /// Nothing answered within the time allowed.
    Timeout = "timeout",
    /// The peer or the resolver actively refused (TCP RST, DNS REFUSED).
    Refused = "refused",
    /// The network said there is no route (ICMP unreachable).
    Unreachable = "unreachable",
    /// A DNS answer lies outside every published AWS range: a sinkhole, block page or hijack.
    OutsideRanges = "outside_ranges",
    /// A DNS answer is a private or special-use address: split-horizon DNS.
    PrivateAddress = "private_address",
    /// The TLS chain verifies only against the OS store: a TLS-inspection proxy.
    Intercepted = "intercepted",
    /// The TLS chain verifies against no trusted root.
    UntrustedCertificate = "untrusted_certificate",
    /// The certificate does not name the host.
    HostnameMismatch = "hostname_mismatch",
    /// The certificate is expired or not yet valid.
    ExpiredCertificate = "expired_certificate",
    /// The server offers only TLS 1.1 or older; Connect requires TLS 1.2.
    OldTls = "old_tls",
    /// The proxy refused the request (HTTP 403 or a CONNECT failure).
    ProxyDenied = "proxy_denied",
    /// The proxy asks for credentials (HTTP 407).
    ProxyAuthRequired = "proxy_auth_required",
    /// The server answered with a status that does not prove the service.
    HttpError = "http_error",
    /// The WebSocket upgrade was refused or stripped.
    WebsocketRejected = "websocket_rejected",
    /// A TURN server answered 401 with a realm and nonce: the UDP path works both ways.
    AuthChallenge = "auth_challenge",
    /// A TURN allocation failed with an error code.
    AllocationFailed = "allocation_failed",
    /// Something answered, but not with a valid message of its protocol (DNS, STUN, TURN, HTTP), or with one past the size allowed.
    BadResponse = "bad_response",
    /// Round-trip time, jitter, loss or the estimated MOS is past the references (AWS, Twilio, Microsoft): a warning, or a failure from 5 % loss or a MOS of 3.0 or below.
    PoorQuality = "poor_quality",
    /// The local clock differs from the server's.
    ClockSkew = "clock_skew",
    /// A required domain is not covered by the allow-list.
    MissingDomain = "missing_domain",
    /// Required address space is not covered by the whitelist.
    MissingCidr = "missing_cidr",
    /// Part of the required address space is covered, part is not.
    PartialCidr = "partial_cidr",
    /// The address space is covered, but not for the protocol or port needed.
    WrongPort = "wrong_port",
    /// An entry opens far more than Connect needs.
    OverbroadEntry = "overbroad_entry",
    /// An entry is no longer needed: unpublished space, a retired name, a duplicate.
    StaleEntry = "stale_entry",
    /// The IP-ranges snapshot in use is older than AWS's 30-day notice window.
    SnapshotStale = "snapshot_stale",
    /// The check did not run: nothing concrete to test, or the run was stopped first.
    NotTested = "not_tested",
    /// The TLS handshake was cut off or refused by an alert: often a firewall filtering by server name (SNI).
    HandshakeFailed = "handshake_failed",
    /// An allow-list line was not used: unreadable (with `--lenient`), not a domain, or a rule whose effect cannot be told.
    SkippedEntry = "skipped_entry",
    /// The relay-only WebRTC call did not carry audio although the relay allocated: ICE, DTLS-SRTP or the media failed.
    CallFailed = "call_failed",
    /// The run's deadline (`--timeout`) came before the check could be carried out: nothing was measured.
    Deadline = "deadline",
    /// The run was interrupted (Ctrl-C) before the check could be carried out: nothing was measured.
    Interrupted = "interrupted",
    /// The route to the host (a PAC script's answer) is one this tool cannot test, so nothing was measured.
    UnsupportedRoute = "unsupported_route",
    /// Nothing the verdict needs was carried out: no host, relay or address was tested.
    NothingTested = "nothing_tested",
    /// The connection opened, then the peer stopped answering partway: during the TLS handshake, the HTTP head or the proxy's reply.
    Stalled = "stalled",
    /// The audit cannot tell whether the requirement is allowed: the answer depends on something the file does not say (where the agents are, an interface, an ipset or mark, a file not there, the other address family), which the check names.
    Undetermined = "undetermined",
    /// The PAC script sends the host through a proxy whose own allow-list decides.
    DecidedByProxy = "decided_by_proxy",
    /// The PAC script sends the host to a proxy that cannot work: 0.0.0.0, loopback, an unfilled placeholder or a name that never resolves.
    UnusableProxy = "unusable_proxy",
    /// A softphone call found no media path: no ICE candidate, or the ICE or peer connection failed (CCP log).
    IceFailed = "ice_failed",
    /// The softphone could not connect or complete its signalling with Connect (CCP log).
    SignallingFailed = "signalling_failed",
    /// The CCP's softphone reported an error: microphone, browser, VDI or another failure (CCP log).
    SoftphoneError = "softphone_error",
    /// One side of a call heard nothing while the other way flowed (CCP log).
    OneWayAudio = "one_way_audio",
    /// The CCP's WebSocket to Connect dropped, missed heartbeats or could not open (CCP log).
    WebsocketLost = "websocket_lost",
    /// A Connect API request from the CCP failed (CCP log).
    ApiFailed = "api_failed",
    /// The CCP's session was refused or its authentication expired (CCP log).
    AuthFailed = "auth_failed",
    /// Some elements of a CCP log were not log entries and were skipped (counted in the evidence).
    UnreadEntries = "unread_entries",
    /// A firewall chain that no hooked chain reaches: its rules apply to nothing.
    UnreachableChain = "unreachable_chain",
    /// The rules to add do not fit the security group's rules quota.
    QuotaExceeded = "quota_exceeded",
}

impl Reason {
    /// A skipped check with this reason is a requirement that was not carried out: the verdict
    /// cannot be ready while one remains.
    pub const fn leaves_untested(self) -> bool {
        matches!(
            self,
            Self::Deadline | Self::Interrupted | Self::UnsupportedRoute | Self::NothingTested
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Check {
    /// Stable within a report, e.g. `dns/acme.my.connect.aws` or `allowlist/domain/participant...`.
    pub id: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<Proto>,
    pub status: Status,
    pub reason: Reason,
    /// One human sentence saying what was found.
    pub detail: String,
    /// What to change, present whenever the check does not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    #[serde(default)]
    pub duration_ms: u64,
    /// Typed facts behind the verdict (addresses, issuer, figures, covering lines).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, serde_json::Value>,
    /// What later stages read, typed ([`facts`]); never in the JSON.
    #[serde(skip)]
    pub facts: facts::Facts,
}

impl Check {
    pub fn new(
        id: impl Into<String>,
        kind: Kind,
        status: Status,
        reason: Reason,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            host: None,
            port: None,
            proto: None,
            status,
            reason,
            detail: detail.into(),
            remedy: None,
            duration_ms: 0,
            evidence: BTreeMap::new(),
            facts: facts::Facts::default(),
        }
    }

    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    #[must_use]
    pub fn endpoint(mut self, port: u16, proto: Proto) -> Self {
        self.port = Some(port);
        self.proto = Some(proto);
        self
    }

    #[must_use]
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    #[must_use]
    pub fn evidence(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.evidence.insert(key.to_owned(), value);
        self
    }
}

/// The overall answer. Ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every required check was carried out and passed.
    Ready,
    /// Every required check was carried out; some raised warnings.
    Degraded,
    /// Nothing failed, but something required was not carried out (the deadline, Ctrl-C, a
    /// route this tool cannot test, or nothing to test at all): readiness is not known.
    Incomplete,
    /// At least one check failed.
    NotReady,
}

impl Verdict {
    /// Any failure is not ready; then any requirement not carried out is incomplete; then any
    /// warning is degraded.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Self {
        let mut verdict = Self::Ready;
        for check in checks {
            let this = match check.status {
                Status::Fail => Self::NotReady,
                Status::Skip if check.reason.leaves_untested() => Self::Incomplete,
                Status::Warn => Self::Degraded,
                _ => Self::Ready,
            };
            verdict = verdict.max(this);
        }
        verdict
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Ready => "READY",
            Self::Degraded => "DEGRADED",
            Self::Incomplete => "INCOMPLETE",
            Self::NotReady => "NOT READY",
        }
    }
}

/// One sentence on what was left untested, for the top of every rendering; `None` when every
/// required check was carried out.
pub fn untested_summary(checks: &[Check]) -> Option<String> {
    let counts = untested(checks);
    if counts.is_empty() {
        return None;
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let why: Vec<String> = counts
        .iter()
        .map(|(reason, n)| {
            let cause = match reason {
                Reason::Deadline => "cut by the deadline (--timeout)",
                Reason::Interrupted => "stopped by Ctrl-C",
                Reason::UnsupportedRoute => "on a route this tool cannot test",
                _ => "nothing to test",
            };
            format!("{n} {cause}")
        })
        .collect();
    let run = if counts.iter().any(|(r, _)| *r == Reason::Interrupted) {
        "The run was interrupted: "
    } else if counts.iter().any(|(r, _)| *r == Reason::Deadline) {
        "The run was cut by its deadline: "
    } else {
        ""
    };
    Some(format!(
        "{run}{total} required {} not carried out ({}), so readiness is not known.",
        if total == 1 {
            "check was"
        } else {
            "checks were"
        },
        why.join(", ")
    ))
}

/// How many required checks were not carried out, and why: the report's own account of a cut run.
pub fn untested(checks: &[Check]) -> Vec<(Reason, usize)> {
    let mut counts: BTreeMap<Reason, usize> = BTreeMap::new();
    for check in checks {
        if check.status == Status::Skip && check.reason.leaves_untested() {
            *counts.entry(check.reason).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_region: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Where the IP ranges in use came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RangesProvenance {
    /// `embedded`, `cache` or `file`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub create_date: String,
    pub sync_token: String,
    pub age_days: i64,
}

/// The entries the network team must add, gathered from every check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Fixes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<CidrFix>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Fixes {
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.cidrs.is_empty() && self.notes.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CidrFix {
    pub cidr: String,
    pub proto: Proto,
    pub port: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub info: usize,
}

impl Counts {
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Self {
        let mut counts = Self::default();
        for check in checks {
            match check.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
                Status::Skip => counts.skip += 1,
                Status::Info => counts.info += 1,
            }
        }
        counts
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Report {
    /// Always `connect-preflight/report/v1` for this version of the contract.
    #[cfg_attr(test, schemars(extend("const" = "connect-preflight/report/v1")))]
    pub schema: String,
    pub tool: Tool,
    /// The command that produced it: `check`, `audit`, `ranges info`.
    pub command: String,
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<RangesProvenance>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub verdict: Verdict,
    pub counts: Counts,
    pub checks: Vec<Check>,
    #[serde(default, skip_serializing_if = "Fixes::is_empty")]
    pub fixes: Fixes,
}

/// Every string of a check (id, host, detail, remedy, evidence at any depth) through
/// [`sanitize::for_report`](crate::sanitize::for_report): done once, when a report is made, so no renderer can miss one.
fn clean_strings(check: &mut Check) {
    fn clean(text: &mut String) {
        if let std::borrow::Cow::Owned(clean) = crate::sanitize::for_report(text) {
            *text = clean;
        }
    }
    fn value(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => clean(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(value),
            serde_json::Value::Object(map) => {
                // Keys too: a header name is a key in some evidence.
                let dirty: Vec<String> = map
                    .keys()
                    .filter(|k| k.chars().any(crate::sanitize::needs_escape))
                    .cloned()
                    .collect();
                for key in dirty {
                    if let Some(v) = map.remove(&key) {
                        map.insert(crate::sanitize::for_report(&key).into_owned(), v);
                    }
                }
                map.values_mut().for_each(value);
            }
            _ => {}
        }
    }
    clean(&mut check.id);
    clean(&mut check.detail);
    if let Some(host) = &mut check.host {
        clean(host);
    }
    if let Some(remedy) = &mut check.remedy {
        clean(remedy);
    }
    check.evidence.values_mut().for_each(value);
}

impl Report {
    /// Builds a report; the verdict and counts follow from the checks. Every string of the
    /// checks is cleaned of controls and bidirectional overrides here, before any renderer.
    pub fn new(command: &str, target: Target, started_at: String, mut checks: Vec<Check>) -> Self {
        checks.iter_mut().for_each(clean_strings);
        Self {
            schema: SCHEMA.to_owned(),
            tool: Tool::default(),
            command: command.to_owned(),
            target,
            ranges: None,
            started_at,
            duration_ms: 0,
            verdict: Verdict::of(&checks),
            counts: Counts::of(&checks),
            checks,
            fixes: Fixes::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_of_a_check_is_cleaned_at_any_depth() {
        let mut c = Check::new(
            "turn/x\u{202E}",
            Kind::Turn,
            Status::Fail,
            Reason::AllocationFailed,
            "error 400 (Bad\u{202E}txet)",
        )
        .remedy("a\x1b[2Jb")
        .evidence(
            "headers",
            serde_json::json!([["x-\u{1b}", "v\u{7}"], {"k\u{202e}": "line\nbreak"}]),
        );
        clean_strings(&mut c);
        let json = serde_json::to_string(&c).unwrap();
        for bad in ['\u{202E}', '\u{1b}', '\u{7}'] {
            assert!(!json.contains(bad), "{json}");
        }
        assert!(c.detail.contains("\\u{202e}"), "{}", c.detail);
        assert!(json.contains("line\\nbreak"), "{json}");
    }

    #[test]
    fn verdict_is_the_worst_status() {
        let check = |status| Check::new("x", Kind::Dns, status, Reason::Ok, "");
        assert_eq!(Verdict::of(&[]), Verdict::Ready);
        assert_eq!(
            Verdict::of(&[
                check(Status::Pass),
                check(Status::Info),
                check(Status::Skip)
            ]),
            Verdict::Ready
        );
        assert_eq!(
            Verdict::of(&[check(Status::Pass), check(Status::Warn)]),
            Verdict::Degraded
        );
        assert_eq!(
            Verdict::of(&[
                check(Status::Warn),
                check(Status::Fail),
                check(Status::Pass)
            ]),
            Verdict::NotReady
        );
    }

    #[test]
    fn a_requirement_not_carried_out_is_incomplete_unless_something_failed() {
        let check = |status, reason| Check::new("x", Kind::Tls, status, reason, "");
        let cut = check(Status::Skip, Reason::Deadline);
        assert_eq!(
            Verdict::of(&[check(Status::Pass, Reason::Ok), cut.clone()]),
            Verdict::Incomplete
        );
        assert_eq!(
            Verdict::of(&[check(Status::Warn, Reason::PoorQuality), cut.clone()]),
            Verdict::Incomplete
        );
        assert_eq!(
            Verdict::of(&[cut.clone(), check(Status::Fail, Reason::Refused)]),
            Verdict::NotReady
        );
        for reason in [
            Reason::Interrupted,
            Reason::UnsupportedRoute,
            Reason::NothingTested,
        ] {
            assert_eq!(
                Verdict::of(&[check(Status::Skip, reason)]),
                Verdict::Incomplete
            );
        }
        // A skip that is not a requirement left untested (a wildcard, an option not chosen) and
        // an informational fact do not hold the verdict back.
        assert_eq!(
            Verdict::of(&[
                check(Status::Skip, Reason::NotTested),
                check(Status::Info, Reason::Deadline)
            ]),
            Verdict::Ready
        );
        assert_eq!(
            untested(&[cut.clone(), cut, check(Status::Skip, Reason::Interrupted)]),
            vec![(Reason::Deadline, 2), (Reason::Interrupted, 1)]
        );
    }

    #[test]
    fn reason_codes_are_snake_case_on_the_wire_and_match_code() {
        for reason in Reason::ALL {
            let wire = serde_json::to_value(reason).unwrap();
            assert_eq!(wire, serde_json::Value::String(reason.code().to_owned()));
            assert!(
                reason
                    .code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{reason:?}"
            );
            assert!(!reason.meaning().is_empty());
        }
    }

    #[test]
    fn report_round_trips_through_json() {
        let checks = vec![
            Check::new(
                "dns/a.example",
                Kind::Dns,
                Status::Fail,
                Reason::Nxdomain,
                "a.example does not exist",
            )
            .host("a.example")
            .endpoint(443, Proto::Tcp)
            .remedy("fix it")
            .evidence("rtt_ms", 12.5),
        ];
        let report = Report::new(
            "check",
            Target::default(),
            "2026-11-24T00:00:00Z".into(),
            checks,
        );
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.verdict, Verdict::NotReady);
        assert_eq!(back.counts.fail, 1);
    }
}
