//! What each CCP log error means and what to change: the causes of the `ccp-log` report, and the
//! names its remedies (in `remedy.rs`, one voice with the live check's) give. As there, a remedy
//! names what to allow and where: the allow-list line of the host the log names (from the catalog,
//! so a session's transport host is named by its `*.transport…` line, not by a name that changes
//! each session), the Region's ranges, the instance domain.

use std::collections::BTreeSet;

use super::model::Endpoints;
use super::parse::ErrorKind;
use crate::catalog::{Catalog, Group, Selection};
use crate::remedy;
use crate::report::{Reason, Status};

/// How an error is judged and explained.
pub(crate) struct Advice {
    pub reason: Reason,
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

    /// The live media check's words (`remedy::turn_path`), naming the log's relays.
    fn udp(&self) -> String {
        remedy::ccp_media_path(&self.relays)
    }
}

pub(crate) fn of(kind: &ErrorKind, names: &Names) -> Advice {
    // The remedy is given by name in each arm (`remedy: remedy::…`), where a scan finds it.
    let advice = |reason, status, what: &str, cause: &str| Advice {
        reason,
        status,
        what: what.to_owned(),
        cause: cause.to_owned(),
        remedy: String::new(),
    };
    match kind {
        ErrorKind::Softphone(t) => softphone(t, names),
        ErrorKind::Ice(what) => Advice {
            remedy: names.udp(),
            ..advice(
                Reason::IceFailed,
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
            )
        },
        ErrorKind::Signalling(what) => Advice {
            remedy: remedy::ccp_signalling(&names.signalling),
            ..advice(
                Reason::SignallingFailed,
                Status::Fail,
                what,
                "the softphone could not open or complete its signalling WebSocket to Connect",
            )
        },
        ErrorKind::WebSocket(what) => Advice {
            remedy: remedy::ccp_websocket_lost(&names.transport),
            ..advice(
                Reason::WebsocketLost,
                Status::Warn,
                what,
                "the CCP's WebSocket to Connect dropped or could not be opened: agent state and \
                 contact events stop until it reconnects",
            )
        },
        ErrorKind::Heartbeat => Advice {
            remedy: remedy::ccp_heartbeat(&names.transport),
            ..advice(
                Reason::WebsocketLost,
                Status::Warn,
                "heartbeat",
                "a WebSocket heartbeat (every 10 s) got no answer: the connection stalled, often a \
                 proxy or firewall dropping idle or long-lived connections, or a saturated link",
            )
        },
        ErrorKind::Api(name) => Advice {
            remedy: remedy::ccp_api_failed(&names.instance),
            ..advice(
                Reason::ApiFailed,
                Status::Warn,
                &format!("api:{name}"),
                "a Connect API request from the CCP failed or timed out",
            )
        },
        ErrorKind::ApiRefused(name) => Advice {
            remedy: remedy::ccp_api_refused(),
            ..advice(
                Reason::ApiFailed,
                Status::Warn,
                &format!("api:{name}"),
                "Connect answered the request with an error (its message says why): a refusal of the \
                 action, not a network fault",
            )
        },
        ErrorKind::Auth(what) => Advice {
            remedy: remedy::ccp_auth(&names.instance),
            ..advice(
                Reason::AuthFailed,
                Status::Warn,
                what,
                "the CCP's session was refused or its authentication expired",
            )
        },
    }
}

/// Softphone error types (streams softphone.js `SoftphoneErrorTypes`).
fn softphone(t: &str, names: &Names) -> Advice {
    let advice = |reason, cause: &str| Advice {
        reason,
        status: Status::Fail,
        what: t.to_owned(),
        cause: cause.to_owned(),
        remedy: String::new(),
    };
    match t {
        "ice_collection_timeout" => Advice {
            remedy: names.udp(),
            ..advice(
                Reason::IceFailed,
                "no relay candidate was gathered before the timeout: UDP 3478 to the TURN relays is blocked or slow",
            )
        },
        "signalling_connection_failure" | "signalling_handshake_failure" => Advice {
            remedy: remedy::ccp_signalling(&names.signalling),
            ..advice(
                Reason::SignallingFailed,
                "the softphone could not reach or complete the handshake with its signalling endpoint",
            )
        },
        "microphone_not_shared" => Advice {
            remedy: remedy::ccp_microphone(&names.instance),
            ..advice(
                Reason::SoftphoneError,
                "the browser did not give the CCP the microphone",
            )
        },
        "unsupported_browser" => Advice {
            remedy: remedy::ccp_browser(),
            ..advice(
                Reason::SoftphoneError,
                "the browser is not one the CCP supports",
            )
        },
        "user_busy_error" | "multiple_softphone_active_sessions" => Advice {
            remedy: remedy::ccp_one_window(),
            ..advice(
                Reason::SoftphoneError,
                "the CCP is open in more than one window or tab",
            )
        },
        t if t.starts_with("vdi") => Advice {
            remedy: remedy::ccp_vdi(),
            ..advice(Reason::SoftphoneError, "the VDI media redirection failed")
        },
        _ => Advice {
            remedy: remedy::ccp_softphone_other(),
            ..advice(
                Reason::SoftphoneError,
                "the softphone failed to set up or keep the call",
            )
        },
    }
}

/// Remedy of a call on which one side heard nothing.
pub(crate) fn one_way(direction_heard_nothing: &str, names: &Names) -> String {
    remedy::ccp_one_way(direction_heard_nothing, &names.relays)
}

/// The live check's words for a poor sample (calls through a relay "will sound poor"), in the
/// past tense of calls that did.
pub(crate) fn poor_quality(names: &Names) -> String {
    remedy::ccp_poor_quality(&names.relays)
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
