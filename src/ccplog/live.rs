//! `check --ccp-log FILE`: the endpoints a CCP log names, added to the live check's plan. The log
//! knows what the catalog cannot: the concrete WebSocket transport host of the agent's session,
//! its signalling endpoint and the TURN relays it was given. They are tested exactly, beside the
//! catalog's hosts, by the same probes (DNS, TCP, TLS and the WebSocket upgrade; STUN and TURN on
//! UDP 3478); the log's instance domain and Region stand in when the command line names none.

use std::path::PathBuf;

use crate::catalog::Instance;
use crate::config::{Config, Thresholds};
use crate::error::Result;
use crate::plan::{CheckKind, HostPlan, MediaHost, Plan, Selected, Step};
use crate::report::{Kind, Proto};

/// What a log contributes to a live check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FromLog {
    /// (host, path) of each WebSocket: the transport (`/`) and the signalling endpoint.
    pub websockets: Vec<(String, String)>,
    /// (host, port) of each TURN relay over UDP.
    pub relays: Vec<(String, u16)>,
    pub instance: Option<String>,
    pub region: Option<String>,
}

impl FromLog {
    /// Reads the logs (none: nothing added).
    pub fn read(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Ok(Self::default());
        }
        let inputs = super::read_files(paths)?;
        let log = super::analyse(&inputs, &Thresholds::default())?;
        Ok(Self::of(&log.endpoints))
    }

    pub fn of(ep: &super::model::Endpoints) -> Self {
        let mut websockets = Vec::new();
        for url in ep.websocket.iter().chain(&ep.signalling) {
            let Some(rest) = url.strip_prefix("wss://") else {
                continue;
            };
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host.split(':').next().unwrap_or(host).to_owned();
            let entry = (host, format!("/{path}"));
            if !websockets.contains(&entry) {
                websockets.push(entry);
            }
        }
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
            websockets,
            relays,
            instance: ep.instance.iter().next().cloned(),
            region: ep.region.clone(),
        }
    }

    /// The configuration with the log's instance and Region where the command line gave none.
    pub fn fill(&self, config: &Config) -> Config {
        let mut config = config.clone();
        if config.instance.is_none() {
            config.instance = self
                .instance
                .as_deref()
                .and_then(|i| Instance::parse(i).ok());
        }
        if config.region.is_none() {
            config.region.clone_from(&self.region);
        }
        config
    }

    /// Adds the log's hosts to the plan: a WebSocket upgrade on each (after DNS, TCP and TLS),
    /// the media test on each relay. Hosts the catalog already plans get the missing steps only.
    pub fn extend(&self, plan: &mut Plan, selected: &Selected) {
        for (host, path) in &self.websockets {
            let ws_step = Step {
                id: format!("websocket/{host}:443{path}"),
                kind: Kind::Websocket,
                path: Some(path.clone()),
            };
            if let Some(existing) = plan
                .hosts
                .iter_mut()
                .find(|h| &h.host == host && h.port == 443)
            {
                if selected.has(CheckKind::Websocket) && !existing.steps.contains(&ws_step) {
                    existing.steps.push(ws_step);
                }
                continue;
            }
            let mut steps = Vec::new();
            for (kind, check, id) in [
                (Kind::Dns, CheckKind::Dns, format!("dns/{host}")),
                (Kind::Tcp, CheckKind::Tcp, format!("tcp/{host}:443")),
                (Kind::Tls, CheckKind::Tls, format!("tls/{host}:443")),
            ] {
                if selected.has(check) {
                    steps.push(Step {
                        id,
                        kind,
                        path: None,
                    });
                }
            }
            if selected.has(CheckKind::Websocket) {
                steps.push(ws_step);
            }
            if steps.is_empty() {
                continue;
            }
            plan.hosts.push(HostPlan {
                host: host.clone(),
                port: 443,
                proto: Proto::Tcp,
                requirement: "ccp-log".to_owned(),
                allowlist: host.clone(),
                purpose: if path == "/" {
                    "the CCP's WebSocket transport, named in the CCP log".to_owned()
                } else {
                    "the softphone's signalling WebSocket, named in the CCP log".to_owned()
                },
                expected: "a published AWS range".to_owned(),
                steps,
            });
        }
        if !selected.has(CheckKind::Media) {
            return;
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccplog::model::Endpoints;

    fn from_log() -> FromLog {
        let mut ep = Endpoints::default();
        ep.websocket
            .insert("wss://abc.transport.example".to_owned());
        ep.signalling.insert("wss://rtc.example/LilyRTC".to_owned());
        ep.turn
            .insert("turn:relay.example:3478?transport=udp".to_owned());
        ep.turn
            .insert("turn:relay.example:443?transport=tcp".to_owned());
        ep.instance.insert("acme.my.connect.aws".to_owned());
        ep.region = Some("eu-central-1".to_owned());
        FromLog::of(&ep)
    }

    #[test]
    fn the_logs_hosts_join_the_plan_once() {
        let log = from_log();
        assert_eq!(log.relays, [("relay.example".to_owned(), 3478)]);
        let mut plan = Plan::default();
        log.extend(&mut plan, &Selected::default());
        log.extend(&mut plan, &Selected::default());
        let ids: Vec<&str> = plan
            .hosts
            .iter()
            .flat_map(|h| h.steps.iter().map(|s| s.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                "dns/abc.transport.example",
                "tcp/abc.transport.example:443",
                "tls/abc.transport.example:443",
                "websocket/abc.transport.example:443/",
                "dns/rtc.example",
                "tcp/rtc.example:443",
                "tls/rtc.example:443",
                "websocket/rtc.example:443/LilyRTC",
            ]
        );
        assert_eq!(plan.media.len(), 1);
        let config = log.fill(&Config::default());
        assert_eq!(config.region.as_deref(), Some("eu-central-1"));
        assert_eq!(config.instance.unwrap().alias, "acme");
    }
}
