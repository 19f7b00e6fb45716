//! `check --ccp-log FILE`: the endpoints a CCP log names, added to the live check's plan. The log
//! knows what the catalog cannot: the concrete WebSocket transport host of the agent's session,
//! its signalling endpoint and the TURN relays it was given. They are tested exactly, beside the
//! catalog's hosts, by the same probes (DNS, TCP, TLS and the WebSocket upgrade; STUN and TURN on
//! UDP 3478); the log's instance domain and Region stand in when the command line names none.

use std::path::PathBuf;

use crate::catalog::{DomainRequirement, Group, HostPattern, PortSpec, Proof, Requirements};
use crate::error::Result;
use crate::media::grade::Thresholds;
use crate::plan::{CheckKind, MediaHost, Plan, Selected};
use crate::ranges::Snapshot;
use crate::report::{Kind, Proto};
use crate::transport::{self, TransportUrl};

/// What a log contributes to a live check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FromLog {
    /// The CCP's WebSocket transport URLs (`createTransport`), their redacted query dropped.
    pub transport: Vec<TransportUrl>,
    /// The softphone's signalling endpoints (`signalingEndpoint`).
    pub signalling: Vec<TransportUrl>,
    /// (host, port) of each TURN relay over UDP.
    pub relays: Vec<(String, u16)>,
    /// The log's instance domain and Region, as logged: the configuration takes them where
    /// nothing else named an instance or a Region.
    pub instance: Option<String>,
    pub region: Option<String>,
}

/// `wss://HOST[:PORT]/PATH` of a logged URL, without its query (streams redacts it, and a used
/// session token is worth nothing anyway); `None` when it is not a WebSocket URL.
fn logged_url(url: &str) -> Option<TransportUrl> {
    let without_query = url.split('?').next().unwrap_or_default();
    TransportUrl::parse(without_query).ok()
}

impl FromLog {
    /// Reads the logs (none: nothing added).
    pub(crate) fn read(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Ok(Self::default());
        }
        let inputs = super::read_files(paths)?;
        let log = super::analyse(&inputs, &Thresholds::default())?;
        Ok(Self::of(&log.endpoints))
    }

    pub(crate) fn of(ep: &super::model::Endpoints) -> Self {
        let urls = |set: &std::collections::BTreeSet<String>| {
            let mut out: Vec<TransportUrl> = Vec::new();
            for url in set.iter().filter_map(|u| logged_url(u)) {
                if !out.contains(&url) {
                    out.push(url);
                }
            }
            out
        };
        let relays = ep
            .turn
            .iter()
            .filter(|u| u.starts_with("turn:") && !u.contains("transport=tcp"))
            .filter_map(|u| {
                let hostport = u.trim_start_matches("turn:").split('?').next()?;
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse().ok()?),
                    None => (hostport, 3478),
                };
                Some((host.to_owned(), port))
            })
            .collect();
        Self {
            transport: urls(&ep.websocket),
            signalling: urls(&ep.signalling),
            relays,
            instance: ep.instance.iter().next().cloned(),
            region: ep.region.clone(),
        }
    }

    /// Plans the CCP's WebSocket transport and adds the log's other endpoints to the plan.
    ///
    /// The transport goes through [`transport::apply`], the one path `--transport-url` takes:
    /// the URL given on the command line (or in the site profile) first, else the first transport
    /// URL of the log under the run's `*.transport…` wildcard. That host then stands in for the
    /// wildcard, whose untested entry goes, exactly as with `--transport-url`. A logged transport
    /// host the wildcard does not cover (a log of another Region) and the signalling endpoints are
    /// planned beside it by [`transport::session_host`], the same steps; hosts the catalog already
    /// plans get their missing WebSocket step only. The relays join the media test.
    pub(crate) fn plan(
        &self,
        plan: &mut Plan,
        requirements: &Requirements,
        snapshot: &Snapshot,
        selected: &Selected,
        flag: Option<&TransportUrl>,
    ) -> std::result::Result<(), String> {
        let covered = self
            .transport
            .iter()
            .find(|u| transport::covers(requirements, &u.host));
        let session = flag.or(covered);
        transport::apply(plan, requirements, snapshot, selected, session)?;
        if selected.has(CheckKind::Websocket) {
            let others = self
                .transport
                .iter()
                .filter(|u| session.is_none_or(|s| s.host != u.host))
                .map(|u| (u, "transport"))
                .chain(self.signalling.iter().map(|u| (u, "signalling")));
            for (url, what) in others {
                add_host(plan, requirements, snapshot, selected, url, what);
            }
        }
        if !selected.has(CheckKind::Media) {
            return Ok(());
        }
        for (host, port) in &self.relays {
            if plan
                .media
                .iter()
                .any(|m| &m.host == host && m.port == *port)
            {
                continue;
            }
            plan.media.push(MediaHost {
                id: format!("media/{host}:{port}"),
                host: host.clone(),
                port: *port,
                allowlist: host.clone(),
            });
        }
        Ok(())
    }
}

/// One logged WebSocket endpoint beside the catalog's: its own host plan, or only its
/// WebSocket step where the catalog already plans the host.
fn add_host(
    plan: &mut Plan,
    requirements: &Requirements,
    snapshot: &Snapshot,
    selected: &Selected,
    url: &TransportUrl,
    what: &str,
) {
    let purpose = match (what, transport::sample_name(requirements)) {
        ("transport", Some(_)) if !transport::covers(requirements, &url.host) => format!(
            "the CCP's WebSocket transport, named in the CCP log: not under this run's wildcard \
             (a session of another Region than {})",
            requirements.region
        ),
        ("transport", _) => "the CCP's WebSocket transport, named in the CCP log".to_owned(),
        _ => "the softphone's signalling WebSocket, named in the CCP log".to_owned(),
    };
    let req = DomainRequirement {
        id: "ccp-log".to_owned(),
        group: Group::Core,
        region: requirements.region.clone(),
        host: HostPattern::Exact(url.host.clone()),
        allowlist: HostPattern::Exact(url.host.clone()),
        probe: None,
        ports: vec![PortSpec::single(Proto::Tcp, url.port)],
        paths: Vec::new(),
        websocket: true,
        legacy: false,
        purpose,
        source: "the CCP log".to_owned(),
        proof: Proof::default(),
    };
    let host = transport::session_host(requirements, &req, url, snapshot, selected);
    if let Some(existing) = plan
        .hosts
        .iter_mut()
        .find(|h| h.host == url.host && h.port == url.port)
    {
        for step in host.steps.into_iter().filter(|s| s.kind == Kind::Websocket) {
            if !existing.steps.contains(&step) {
                existing.steps.push(step);
            }
        }
    } else if !host.steps.is_empty() {
        plan.hosts.push(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccplog::model::Endpoints;

    const TRANSPORT: &str = "abc.transport.connect.eu-central-1.amazonaws.com";
    const SIGNALLING: &str = "rtc.connect-telecom.eu-central-1.amazonaws.com";

    fn from_log() -> FromLog {
        let mut ep = Endpoints::default();
        ep.websocket
            .insert(format!("wss://{TRANSPORT}/?AuthToken=[redacted]"));
        ep.signalling.insert(format!("wss://{SIGNALLING}/LilyRTC"));
        ep.turn
            .insert("turn:relay.example:3478?transport=udp".to_owned());
        ep.turn
            .insert("turn:relay.example:443?transport=tcp".to_owned());
        ep.instance.insert("acme.my.connect.aws".to_owned());
        ep.region = Some("eu-central-1".to_owned());
        FromLog::of(&ep)
    }

    fn requirements(region: &str) -> Requirements {
        let catalog = crate::catalog::Catalog::embedded();
        let selection = crate::catalog::Selection {
            region: region.to_owned(),
            ..crate::catalog::Selection::default()
        };
        catalog.requirements(&selection).unwrap()
    }

    fn planned(log: &FromLog, region: &str, flag: Option<&TransportUrl>) -> Plan {
        let req = requirements(region);
        let snapshot = Snapshot::embedded();
        let selected = Selected::default();
        let mut plan = crate::plan::build(&req, &snapshot, &selected);
        log.plan(&mut plan, &req, &snapshot, &selected, flag)
            .unwrap();
        log.plan(&mut plan, &req, &snapshot, &selected, flag)
            .unwrap();
        plan
    }

    fn steps_of<'a>(plan: &'a Plan, host: &str) -> Vec<&'a str> {
        plan.hosts
            .iter()
            .filter(|h| h.host == host)
            .flat_map(|h| h.steps.iter().map(|s| s.id.as_str()))
            .collect()
    }

    #[test]
    fn the_logs_transport_stands_in_for_the_wildcard_as_a_session_url_does() {
        let log = from_log();
        assert_eq!(log.relays, [("relay.example".to_owned(), 3478)]);
        // The redacted query is dropped: nothing of it is sent or shown.
        assert_eq!(log.transport[0].request_target, "/");
        let plan = planned(&log, "eu-central-1", None);
        assert_eq!(
            steps_of(&plan, TRANSPORT),
            [
                format!("dns/{TRANSPORT}"),
                format!("tcp/{TRANSPORT}:443"),
                format!("tls/{TRANSPORT}:443"),
                format!("websocket/{TRANSPORT}:443/"),
            ]
        );
        assert!(
            plan.untested.iter().all(|u| !u.id.contains("transport")),
            "{:?}",
            plan.untested
        );
        // The very plan `--transport-url` gives for the same URL.
        let mut by_flag = planned(&FromLog::default(), "eu-central-1", log.transport.first());
        let mut by_log = plan.clone();
        by_flag.hosts.retain(|h| h.host == TRANSPORT);
        by_log.hosts.retain(|h| h.host == TRANSPORT);
        assert_eq!(by_log.hosts, by_flag.hosts);
        assert_eq!(
            steps_of(&plan, SIGNALLING),
            [
                format!("dns/{SIGNALLING}"),
                format!("tcp/{SIGNALLING}:443"),
                format!("tls/{SIGNALLING}:443"),
                format!("websocket/{SIGNALLING}:443/LilyRTC"),
            ]
        );
        assert_eq!(
            plan.media
                .iter()
                .filter(|m| m.host == "relay.example")
                .count(),
            1
        );
        assert_eq!(log.region.as_deref(), Some("eu-central-1"));
        assert_eq!(log.instance.as_deref(), Some("acme.my.connect.aws"));
    }

    #[test]
    fn a_session_url_on_the_command_line_wins_and_the_logs_host_is_tested_beside_it() {
        let log = from_log();
        let flag =
            TransportUrl::parse("wss://flag.transport.connect.eu-central-1.amazonaws.com/?t=1")
                .unwrap();
        let plan = planned(&log, "eu-central-1", Some(&flag));
        assert_eq!(
            steps_of(&plan, &flag.host).last().copied(),
            Some("websocket/flag.transport.connect.eu-central-1.amazonaws.com:443/")
        );
        assert_eq!(steps_of(&plan, TRANSPORT).len(), 4);
        assert!(plan.untested.iter().all(|u| !u.id.contains("transport")));
    }

    #[test]
    fn a_log_of_another_region_leaves_the_runs_wildcard_untested_and_says_why() {
        let log = from_log();
        let plan = planned(&log, "us-east-1", None);
        let host = plan.hosts.iter().find(|h| h.host == TRANSPORT).unwrap();
        assert!(
            host.purpose.contains("not under this run's wildcard"),
            "{}",
            host.purpose
        );
        assert_eq!(host.steps.len(), 4);
        let untested = plan
            .untested
            .iter()
            .find(|u| u.id == "untested/transport/us-east-1")
            .unwrap();
        assert!(untested.why.contains("--transport-url"), "{}", untested.why);
    }
}
