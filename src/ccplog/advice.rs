//! What each CCP log error means and what to change: the wording of the `ccp-log` report, in one
//! voice with the live check's remedies. As there, a remedy names what to allow and where: the
//! allow-list line of the host the log names (from the catalog, so a session's transport host is
//! named by its `*.transport…` line, not by a name that changes each session), the Region's
//! ranges, the instance domain.

use std::collections::BTreeSet;

use super::model::Endpoints;
use super::parse::ErrorKind;
use crate::catalog::{Catalog, Group, Selection};
use crate::report::{Kind, Reason, Status};

/// How an error is judged and explained.
pub(crate) struct Advice {
    pub reason: Reason,
    pub kind: Kind,
    pub status: Status,
    /// A stable short name (`ice_collection_timeout`, `heartbeat`, `api:getAgentSnapshot`).
    pub what: String,
    pub cause: String,
    pub remedy: String,
}

/// The allow-list lines a remedy names, from the endpoints the log shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Names {
    /// The CCP's WebSocket transport (`*.transport.connect.REGION.amazonaws.com`).
    pub transport: String,
    /// The softphone's signalling WebSocket.
    pub signalling: String,
    /// The TURN relays.
    pub relays: String,
    /// The instance domain.
    pub instance: String,
}

impl Default for Names {
    fn default() -> Self {
        Self::of(&Endpoints::default())
    }
}

impl Names {
    pub(crate) fn of(ep: &Endpoints) -> Self {
        let region = ep.region.as_deref();
        let requirements = region.and_then(|r| {
            Catalog::embedded()
                .requirements(&Selection {
                    region: r.to_owned(),
                    features: BTreeSet::from([Group::CcpV1]),
                    ..Selection::default()
                })
                .ok()
        });
        // The catalog's allow-list line that covers `host`, else the host itself.
        let line = |host: &str| -> String {
            requirements
                .as_ref()
                .and_then(|req| {
                    req.domains
                        .iter()
                        .find(|d| d.host.matches(host) || d.allowlist.matches(host))
                })
                .map_or_else(|| host.to_owned(), |d| d.allowlist.to_string())
        };
        let lines = |urls: &BTreeSet<String>, fallback: String| -> String {
            let mut out: Vec<String> = Vec::new();
            for url in urls {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let rest = rest.strip_prefix("turn:").unwrap_or(rest);
                let host = rest
                    .split(['/', '?', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if host.is_empty() {
                    continue;
                }
                let l = line(&host);
                if !out.contains(&l) {
                    out.push(l);
                }
            }
            if out.is_empty() {
                fallback
            } else {
                out.join(" and ")
            }
        };
        let r = region.unwrap_or("REGION");
        let udp: BTreeSet<String> = ep
            .turn
            .iter()
            .filter(|u| !u.contains("transport=tcp"))
            .cloned()
            .collect();
        Self {
            transport: lines(
                &ep.websocket,
                format!("*.transport.connect.{r}.amazonaws.com"),
            ),
            signalling: lines(&ep.signalling, "the softphone's signalling host".to_owned()),
            relays: lines(&udp, format!("turnnlb-*.elb.{r}.amazonaws.com")),
            // The instance's own domain, as the live check names its host.
            instance: if ep.instance.is_empty() {
                "the instance domain".to_owned()
            } else {
                ep.instance
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" and ")
            },
        }
    }

    /// The live media check's words (`media::where_to`), naming the log's relays.
    fn udp(&self) -> String {
        format!(
            "allow outbound UDP 3478 to {} and the AMAZON_CONNECT ranges of the Region \
             (`connect-preflight endpoints --format cidrs`), with the replies let back in, and \
             keep softphone audio off VPNs and proxies; `connect-preflight check --ccp-log` tests \
             exactly those relays",
            self.relays
        )
    }
}

pub(crate) fn of(kind: &ErrorKind, names: &Names) -> Advice {
    let advice = |reason, kind, status, what: &str, cause: &str, remedy: String| Advice {
        reason,
        kind,
        status,
        what: what.to_owned(),
        cause: cause.to_owned(),
        remedy,
    };
    match kind {
        ErrorKind::Softphone(t) => softphone(t, names),
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
            names.udp(),
        ),
        ErrorKind::Signalling(what) => advice(
            Reason::SignallingFailed,
            Kind::Websocket,
            Status::Fail,
            what,
            "the softphone could not open or complete its signalling WebSocket to Connect",
            format!(
                "allow WebSocket (HTTP Upgrade) for {} on TCP 443 through the proxy and exempt it \
                 from TLS inspection and proxy idle timeouts",
                names.signalling
            ),
        ),
        ErrorKind::WebSocket(what) => advice(
            Reason::WebsocketLost,
            Kind::Websocket,
            Status::Warn,
            what,
            "the CCP's WebSocket to Connect dropped or could not be opened: agent state and \
             contact events stop until it reconnects",
            format!(
                "allow WebSocket (HTTP Upgrade) for {} on TCP 443 through the proxy, exempt it from \
                 TLS inspection, and raise proxy or firewall idle timeouts above 60 s",
                names.transport
            ),
        ),
        ErrorKind::Heartbeat => advice(
            Reason::WebsocketLost,
            Kind::Websocket,
            Status::Warn,
            "heartbeat",
            "a WebSocket heartbeat (every 10 s) got no answer: the connection stalled, often a \
             proxy or firewall dropping idle or long-lived connections, or a saturated link",
            format!(
                "exempt {} from TLS inspection and proxy buffering, raise idle timeouts above \
                 60 s, and check the link for congestion",
                names.transport
            ),
        ),
        ErrorKind::Api(name) => advice(
            Reason::ApiFailed,
            Kind::Https,
            Status::Warn,
            &format!("api:{name}"),
            "a Connect API request from the CCP failed or timed out",
            format!(
                "allow HTTPS to {} through the proxy and exempt it from TLS inspection; if \
                 failures repeat for one API, open a case with AWS Support quoting the time",
                names.instance
            ),
        ),
        ErrorKind::ApiRefused(name) => advice(
            Reason::ApiFailed,
            Kind::Https,
            Status::Warn,
            &format!("api:{name}"),
            "Connect answered the request with an error (its message says why): a refusal of the \
             action, not a network fault",
            "nothing to change on the network; check the action the agent took (number format, \
             quick connect, permissions in the security profile) or the instance's configuration"
                .to_owned(),
        ),
        ErrorKind::Auth(what) => advice(
            Reason::AuthFailed,
            Kind::Https,
            Status::Warn,
            what,
            "the CCP's session was refused or its authentication expired",
            format!(
                "sign the agent in again; if it recurs, allow third-party cookies for {} and \
                 check the identity provider's session length",
                names.instance
            ),
        ),
    }
}

/// Softphone error types (streams softphone.js `SoftphoneErrorTypes`).
fn softphone(t: &str, names: &Names) -> Advice {
    let (reason, kind, cause, remedy): (Reason, Kind, &str, String) = match t {
        "ice_collection_timeout" => (
            Reason::IceFailed,
            Kind::Media,
            "no relay candidate was gathered before the timeout: UDP 3478 to the TURN relays is blocked or slow",
            names.udp(),
        ),
        "signalling_connection_failure" | "signalling_handshake_failure" => (
            Reason::SignallingFailed,
            Kind::Websocket,
            "the softphone could not reach or complete the handshake with its signalling endpoint",
            format!(
                "allow WebSocket (HTTP Upgrade) for {} on TCP 443 through the proxy and exempt it \
                 from TLS inspection",
                names.signalling
            ),
        ),
        "microphone_not_shared" => (
            Reason::SoftphoneError,
            Kind::System,
            "the browser did not give the CCP the microphone",
            format!(
                "allow the microphone for {} in the browser (and in the VDI's device \
                 redirection), and check no other program holds it",
                names.instance
            ),
        ),
        "unsupported_browser" => (
            Reason::SoftphoneError,
            Kind::System,
            "the browser is not one the CCP supports",
            "use a current Chrome, Edge or Firefox".to_owned(),
        ),
        "user_busy_error" | "multiple_softphone_active_sessions" => (
            Reason::SoftphoneError,
            Kind::System,
            "the CCP is open in more than one window or tab",
            "keep one CCP window open per agent".to_owned(),
        ),
        t if t.starts_with("vdi") => (
            Reason::SoftphoneError,
            Kind::System,
            "the VDI media redirection failed",
            "check the VDI platform's WebRTC redirection (Citrix HDX, Omnissa, AVD) is installed \
             and allowed for the CCP"
                .to_owned(),
        ),
        _ => (
            Reason::SoftphoneError,
            Kind::Media,
            "the softphone failed to set up or keep the call",
            "place a test call; if it fails again, run `connect-preflight check --ccp-log` on \
             this log to test the relays and transport it names"
                .to_owned(),
        ),
    };
    Advice {
        reason,
        kind,
        status: Status::Fail,
        what: t.to_owned(),
        cause: cause.to_owned(),
        remedy,
    }
}

/// Remedy of a call on which one side heard nothing.
pub(crate) fn one_way(direction_heard_nothing: &str, names: &Names) -> String {
    format!(
        "{direction_heard_nothing} received no audio while the other way flowed: a firewall or NAT \
         passes UDP 3478 one way only, or a VPN or VDI redirection drops the return path; allow UDP \
         3478 both ways to {} and the AMAZON_CONNECT ranges of the Region",
        names.relays
    )
}

/// The live check's words for a poor sample (calls through a relay "will sound poor"), in the
/// past tense of calls that did.
pub(crate) fn poor_quality(names: &Names) -> String {
    format!(
        "Calls through {} sounded poor: keep softphone audio off VPNs (split-tunnel UDP 3478 to \
         the AMAZON_CONNECT ranges), prefer a wired connection, and look for congestion on the path",
        names.relays
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remedies_name_the_allowlist_lines_of_the_hosts_the_log_shows() {
        let mut ep = Endpoints::default();
        ep.websocket
            .insert("wss://a1b2c3.transport.connect.eu-central-1.amazonaws.com".to_owned());
        ep.signalling
            .insert("wss://rtc.connect-telecom.eu-central-1.amazonaws.com/LilyRTC".to_owned());
        ep.turn.insert(
            "turn:turnnlb-0123abcd.elb.eu-central-1.amazonaws.com:3478?transport=udp".to_owned(),
        );
        ep.turn.insert(
            "turn:turnnlb-0123abcd.elb.eu-central-1.amazonaws.com:443?transport=tcp".to_owned(),
        );
        ep.instance.insert("acme.my.connect.aws".to_owned());
        ep.region = Some("eu-central-1".to_owned());
        let names = Names::of(&ep);
        assert_eq!(
            names,
            Names {
                // A session's host changes every session: its allow-list line is the wildcard.
                transport: "*.transport.connect.eu-central-1.amazonaws.com".to_owned(),
                signalling: "rtc*.connect-telecom.eu-central-1.amazonaws.com".to_owned(),
                // As the catalog's line prints it in the live check's remedies.
                relays: "turnnlb-*.elb.eu-central-1.amazonaws.com".to_owned(),
                instance: "acme.my.connect.aws".to_owned(),
            }
        );
        let ws = of(&ErrorKind::WebSocket("websocket_error"), &names).remedy;
        assert!(
            ws.starts_with(
                "allow WebSocket (HTTP Upgrade) for *.transport.connect.eu-central-1.amazonaws.com"
            ),
            "{ws}"
        );
        assert!(!ws.contains("a1b2c3"), "{ws}");
        let ice = of(
            &ErrorKind::Softphone("ice_collection_timeout".to_owned()),
            &names,
        )
        .remedy;
        assert!(
            ice.contains(
                "allow outbound UDP 3478 to turnnlb-*.elb.eu-central-1.amazonaws.com and the \
                 AMAZON_CONNECT ranges of the Region"
            ),
            "{ice}"
        );
        // Nothing in the log: the lines the catalog would give, with the Region unknown.
        let bare = Names::default();
        assert_eq!(bare.transport, "*.transport.connect.REGION.amazonaws.com");
        assert_eq!(bare.relays, "turnnlb-*.elb.REGION.amazonaws.com");
        assert_eq!(bare.instance, "the instance domain");
    }
}
