//! What each CCP log error means and what to change: the wording of the `ccp-log` report, in one
//! voice with the live check's remedies.

use super::parse::ErrorKind;
use crate::report::{Kind, Reason, Status};

/// How an error is judged and explained.
pub struct Advice {
    pub reason: Reason,
    pub kind: Kind,
    pub status: Status,
    /// A stable short name (`ice_collection_timeout`, `heartbeat`, `api:getAgentSnapshot`).
    pub what: String,
    pub cause: String,
    pub remedy: String,
}

const UDP: &str = "allow outbound UDP 3478 (and the replies) to the Region's AMAZON_CONNECT ranges \
                   and the TURN hosts this report lists, keep softphone audio off VPNs and proxies; \
                   `connect-preflight check --ccp-log` tests exactly those relays";

pub fn of(kind: &ErrorKind) -> Advice {
    let advice = |reason, kind, status, what: &str, cause: &str, remedy: &str| Advice {
        reason,
        kind,
        status,
        what: what.to_owned(),
        cause: cause.to_owned(),
        remedy: remedy.to_owned(),
    };
    match kind {
        ErrorKind::Softphone(t) => softphone(t),
        ErrorKind::Ice(what) => advice(
            Reason::IceFailed,
            Kind::Media,
            // A collection that timed out still goes on with what it gathered, and a lost
            // connection may come back: only a call left without a path fails.
            if matches!(
                *what,
                "no_ice_candidate" | "ice_connection_failed" | "peer_connection_failed"
            ) {
                Status::Fail
            } else {
                Status::Warn
            },
            what,
            "the softphone found no working media path: no relay candidate was gathered in time, \
             or the connection to the relay was lost during the call",
            UDP,
        ),
        ErrorKind::Signalling(what) => advice(
            Reason::SignallingFailed,
            Kind::Websocket,
            Status::Fail,
            what,
            "the softphone could not open or complete its signalling WebSocket to Connect",
            "allow WebSocket (HTTP Upgrade) on TCP 443 to the signalling host this report lists, \
             exempt it from TLS inspection and proxy idle timeouts",
        ),
        ErrorKind::WebSocket(what) => advice(
            Reason::WebsocketLost,
            Kind::Websocket,
            Status::Warn,
            what,
            "the CCP's WebSocket to Connect dropped or could not be opened: agent state and \
             contact events stop until it reconnects",
            "allow WebSocket (HTTP Upgrade) on TCP 443 to the transport host this report lists, \
             exempt it from TLS inspection, and raise proxy or firewall idle timeouts above 60 s",
        ),
        ErrorKind::Heartbeat => advice(
            Reason::WebsocketLost,
            Kind::Websocket,
            Status::Warn,
            "heartbeat",
            "a WebSocket heartbeat (every 10 s) got no answer: the connection stalled, often a \
             proxy or firewall dropping idle or long-lived connections, or a saturated link",
            "exempt the transport host from TLS inspection and proxy buffering, raise idle \
             timeouts above 60 s, and check the link for congestion",
        ),
        ErrorKind::Api(name) => advice(
            Reason::ApiFailed,
            Kind::Https,
            Status::Warn,
            &format!("api:{name}"),
            "a Connect API request from the CCP failed or timed out",
            "allow HTTPS to the instance domain and its API hosts through the proxy without TLS \
             inspection; if failures repeat for one API, open a case with AWS support quoting the time",
        ),
        ErrorKind::ApiRefused(name) => advice(
            Reason::ApiFailed,
            Kind::Https,
            Status::Warn,
            &format!("api:{name}"),
            "Connect answered the request with an error (its message says why): a refusal of the \
             action, not a network fault",
            "nothing to change on the network; check the action the agent took (number format, \
             quick connect, permissions in the security profile) or the instance's configuration",
        ),
        ErrorKind::Auth(what) => advice(
            Reason::AuthFailed,
            Kind::Https,
            Status::Warn,
            what,
            "the CCP's session was refused or its authentication expired",
            "sign the agent in again; if it recurs, allow third-party cookies for the instance \
             domain and check the identity provider's session length",
        ),
    }
}

/// Softphone error types (streams softphone.js `SoftphoneErrorTypes`).
fn softphone(t: &str) -> Advice {
    let (reason, kind, cause, remedy): (Reason, Kind, &str, &str) = match t {
        "ice_collection_timeout" => (
            Reason::IceFailed,
            Kind::Media,
            "no relay candidate was gathered before the timeout: UDP 3478 to the TURN relays is blocked or slow",
            UDP,
        ),
        "signalling_connection_failure" | "signalling_handshake_failure" => (
            Reason::SignallingFailed,
            Kind::Websocket,
            "the softphone could not reach or complete the handshake with its signalling endpoint",
            "allow WebSocket (HTTP Upgrade) on TCP 443 to the signalling host this report lists, \
             exempt it from TLS inspection",
        ),
        "microphone_not_shared" => (
            Reason::SoftphoneError,
            Kind::System,
            "the browser did not give the CCP the microphone",
            "allow the microphone for the instance domain in the browser (and in the VDI's device \
             redirection), and check no other program holds it",
        ),
        "unsupported_browser" => (
            Reason::SoftphoneError,
            Kind::System,
            "the browser is not one the CCP supports",
            "use a current Chrome, Edge or Firefox",
        ),
        "user_busy_error" | "multiple_softphone_active_sessions" => (
            Reason::SoftphoneError,
            Kind::System,
            "the CCP is open in more than one window or tab",
            "keep one CCP window open per agent",
        ),
        t if t.starts_with("vdi") => (
            Reason::SoftphoneError,
            Kind::System,
            "the VDI media redirection failed",
            "check the VDI platform's WebRTC redirection (Citrix HDX, Omnissa, AVD) is installed \
             and allowed for the CCP",
        ),
        _ => (
            Reason::SoftphoneError,
            Kind::Media,
            "the softphone failed to set up or keep the call",
            "place a test call; if it fails again, run `connect-preflight check --ccp-log` on \
             this log to test the relays and transport it names",
        ),
    };
    Advice {
        reason,
        kind,
        status: Status::Fail,
        what: t.to_owned(),
        cause: cause.to_owned(),
        remedy: remedy.to_owned(),
    }
}

/// Remedy of a call on which one side heard nothing.
pub fn one_way(direction_heard_nothing: &str) -> String {
    format!(
        "{direction_heard_nothing} received no audio while the other way flowed: a firewall or NAT \
         passes UDP 3478 one way only, or a VPN or VDI redirection drops the return path; allow UDP \
         3478 both ways to the TURN relays this report lists"
    )
}

pub fn poor_quality() -> String {
    "The calls sounded poor: keep softphone audio off VPNs (split-tunnel UDP 3478 to the \
     AMAZON_CONNECT ranges), prefer a wired connection, and look for congestion on the path"
        .to_owned()
}
