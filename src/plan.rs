//! The catalog's requirements turned into the ordered list of checks a live run makes. Pure: no
//! network, no clock, so `check --list` can show it and tests can read it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::catalog::{Catalog, Direction, DomainRequirement, Requirements, Selection};
use crate::ranges::Snapshot;
use crate::report::{Check, Kind, Proto, Reason, Status};

/// The kinds of live check a run can be narrowed to: the values of `--only` and `--skip`, declared
/// here beside what uses them and reused by `cli`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum CheckKind {
    Dns,
    Tcp,
    Tls,
    Https,
    Websocket,
    Media,
}

/// One live check that will be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The check's id in the report.
    pub id: String,
    pub kind: Kind,
    /// The HTTP path of an `https` or `websocket` step.
    pub path: Option<String>,
}

/// Everything the run does for one concrete host, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPlan {
    pub host: String,
    pub port: u16,
    pub proto: Proto,
    /// The catalog requirement this host comes from.
    pub requirement: String,
    /// The allow-list line that covers the host.
    pub allowlist: String,
    pub purpose: String,
    /// The published address space the host should resolve into, for people.
    pub expected: String,
    pub steps: Vec<Step>,
}

impl HostPlan {
    /// A finding about this host and port, with the route taken and the allow-list line that covers
    /// the host as evidence.
    pub(crate) fn check(
        &self,
        id: String,
        kind: Kind,
        status: Status,
        reason: Reason,
        detail: String,
        via: &str,
    ) -> Check {
        Check::new(id, kind, status, reason, detail)
            .host(&self.host)
            .endpoint(self.port, self.proto)
            .evidence("via", via)
            .allowlist(&self.allowlist)
    }
}

/// A requirement the run reports without contacting anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Untested {
    pub id: String,
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub proto: Proto,
    pub allowlist: String,
    pub purpose: String,
    pub why: String,
}

/// `--survey`: one Region's telemetry host, timed to find the Region closest to the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SurveyTarget {
    pub id: String,
    pub region: String,
    pub region_name: String,
    pub host: String,
    pub port: u16,
    pub allowlist: String,
    /// The instance's own Region.
    pub home: bool,
}

/// A TURN relay host whose UDP media path the run tests (STUN Binding, TURN Allocate, quality).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MediaHost {
    /// The placeholder id, reported when the media test does not run.
    pub id: String,
    pub host: String,
    pub port: u16,
    pub allowlist: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub hosts: Vec<HostPlan>,
    pub media: Vec<MediaHost>,
    /// The outbound UDP address space of the media rules (`AMAZON_CONNECT`), named in remedies.
    pub media_ranges: Vec<String>,
    pub untested: Vec<Untested>,
    pub survey: Vec<SurveyTarget>,
}

impl Plan {
    /// How many checks the run reports, not counting the snapshot and clock checks.
    pub(crate) fn check_count(&self) -> usize {
        self.hosts.iter().map(|h| h.steps.len()).sum::<usize>()
            + self.media.len()
            + self.untested.len()
            + self.survey.len()
    }
}

/// The survey: every Region of the catalog whose telemetry host has a concrete name.
pub(crate) fn survey(catalog: &Catalog, home: &str) -> Vec<SurveyTarget> {
    let mut out = Vec::new();
    for region in catalog.regions() {
        let selection = Selection {
            region: region.code.clone(),
            ..Selection::default()
        };
        let Ok(requirements) = catalog.requirements(&selection) else {
            continue;
        };
        let telemetry = requirements
            .domains
            .iter()
            .filter(|d| d.id.starts_with("telemetry/"))
            .find_map(|d| {
                let port = d.ports.iter().find(|p| p.proto == Proto::Tcp)?.first;
                Some((d.concrete_host()?.to_owned(), port, d.allowlist.to_string()))
            });
        if let Some((host, port, allowlist)) = telemetry {
            out.push(SurveyTarget {
                id: format!("survey/{}", region.code),
                region: region.code.clone(),
                region_name: region.name.clone(),
                host,
                port,
                allowlist,
                home: region.code == home,
            });
        }
    }
    out
}

/// Which kinds `--only` and `--skip` leave in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected(BTreeSet<CheckKind>);

impl Selected {
    pub fn new(only: &[CheckKind], skip: &[CheckKind]) -> Self {
        let all = [
            CheckKind::Dns,
            CheckKind::Tcp,
            CheckKind::Tls,
            CheckKind::Https,
            CheckKind::Websocket,
            CheckKind::Media,
        ];
        let mut set: BTreeSet<CheckKind> = if only.is_empty() {
            all.into_iter().collect()
        } else {
            only.iter().copied().collect()
        };
        for kind in skip {
            set.remove(kind);
        }
        Self(set)
    }

    pub fn has(&self, kind: CheckKind) -> bool {
        self.0.contains(&kind)
    }
}

impl Default for Selected {
    fn default() -> Self {
        Self::new(&[], &[])
    }
}

/// The address space a requirement on `port`/`proto` should resolve into, from the outbound
/// IP-range rules that serve that port: `EC2 eu-central-1 or CLOUDFRONT all Regions`.
fn expected_space(
    requirements: &Requirements,
    port: u16,
    proto: Proto,
    snapshot: &Snapshot,
) -> String {
    let mut names: Vec<String> = Vec::new();
    for rule in &requirements.rules {
        let serves = rule.direction == Direction::Outbound
            && rule
                .ports
                .iter()
                .any(|p| p.proto == proto && p.first <= port && port <= p.last);
        let name = rule.describe(snapshot);
        if serves && !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        "a published AWS range".to_owned()
    } else {
        names.join(" or ")
    }
}

pub(crate) fn host_plan(
    requirements: &Requirements,
    req: &DomainRequirement,
    host: &str,
    snapshot: &Snapshot,
    selected: &Selected,
) -> HostPlan {
    let tcp = req.ports.iter().find(|p| p.proto == Proto::Tcp);
    let (port, proto) = match tcp {
        Some(p) => (p.first, Proto::Tcp),
        None => req
            .ports
            .first()
            .map_or((443, Proto::Tcp), |p| (p.first, p.proto)),
    };
    let mut steps = Vec::new();
    if selected.has(CheckKind::Dns) {
        steps.push(Step {
            id: format!("dns/{host}"),
            kind: Kind::Dns,
            path: None,
        });
    }
    if proto == Proto::Tcp {
        if selected.has(CheckKind::Tcp) {
            steps.push(Step {
                id: format!("tcp/{host}:{port}"),
                kind: Kind::Tcp,
                path: None,
            });
        }
        if selected.has(CheckKind::Tls) {
            steps.push(Step {
                id: format!("tls/{host}:{port}"),
                kind: Kind::Tls,
                path: None,
            });
        }
        if selected.has(CheckKind::Https) {
            let paths: Vec<String> = if req.paths.is_empty() {
                vec!["/".to_owned()]
            } else {
                req.paths.clone()
            };
            for path in paths {
                steps.push(Step {
                    id: format!("https/{host}:{port}{path}"),
                    kind: Kind::Https,
                    path: Some(path),
                });
            }
        }
        if req.websocket && selected.has(CheckKind::Websocket) {
            steps.push(Step {
                id: format!("websocket/{host}:{port}/"),
                kind: Kind::Websocket,
                path: Some("/".to_owned()),
            });
        }
    }
    HostPlan {
        host: host.to_owned(),
        port,
        proto,
        requirement: req.id.clone(),
        allowlist: req.allowlist.to_string(),
        purpose: req.purpose.clone(),
        expected: expected_space(requirements, port, proto, snapshot),
        steps,
    }
}

/// Builds the plan: each concrete host gets DNS, then TCP, TLS, HTTPS (one per path the CCP uses)
/// and WebSocket where the requirement has them; UDP hosts (the TURN relays) get the media test;
/// wildcards without a concrete name are listed as not tested.
pub(crate) fn build(requirements: &Requirements, snapshot: &Snapshot, selected: &Selected) -> Plan {
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    for req in &requirements.domains {
        let udp = req.ports.iter().find(|p| p.proto == Proto::Udp);
        match req.concrete_host() {
            Some(host) => {
                if seen.insert(host.to_owned()) {
                    let host_plan = host_plan(requirements, req, host, snapshot, selected);
                    if !host_plan.steps.is_empty() {
                        plan.hosts.push(host_plan);
                    }
                }
                if let (Some(udp), true) = (udp, selected.has(CheckKind::Media)) {
                    let id = format!("media/{host}:{}", udp.first);
                    if !plan.media.iter().any(|m| m.id == id) {
                        plan.media.push(MediaHost {
                            id,
                            host: host.to_owned(),
                            port: udp.first,
                            allowlist: req.allowlist.to_string(),
                        });
                    }
                }
            }
            None => {
                let tcp = req.ports.iter().any(|p| p.proto == Proto::Tcp);
                let wanted = (tcp
                    && [
                        CheckKind::Dns,
                        CheckKind::Tcp,
                        CheckKind::Tls,
                        CheckKind::Https,
                    ]
                    .into_iter()
                    .any(|k| selected.has(k)))
                    || (udp.is_some() && selected.has(CheckKind::Media));
                if !wanted {
                    continue;
                }
                let first = req.ports.first();
                plan.untested.push(Untested {
                    id: format!("untested/{}", req.id),
                    kind: if tcp { Kind::Dns } else { Kind::Turn },
                    host: req.host.to_string(),
                    port: first.map_or(443, |p| p.first),
                    proto: first.map_or(Proto::Tcp, |p| p.proto),
                    allowlist: req.allowlist.to_string(),
                    purpose: req.purpose.clone(),
                    why: "a wildcard with no concrete name known to test".to_owned(),
                });
            }
        }
    }
    if !plan.media.is_empty() {
        plan.media_ranges = media_ranges(requirements, snapshot);
    }
    plan
}

/// The CIDRs of the outbound UDP rules (the softphone's relays), for remedies.
fn media_ranges(requirements: &Requirements, snapshot: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for rule in &requirements.rules {
        let udp = rule.ports.iter().any(|p| p.proto == Proto::Udp);
        if rule.direction != Direction::Outbound || !udp {
            continue;
        }
        let space = rule.space(snapshot);
        for (net, len) in space.v4.to_blocks() {
            let cidr = format!("{}/{len}", std::net::Ipv4Addr::from(net));
            if !out.contains(&cidr) {
                out.push(cidr);
            }
        }
        for (net, len) in space.v6.to_blocks() {
            let cidr = format!("{}/{len}", std::net::Ipv6Addr::from(net));
            if !out.contains(&cidr) {
                out.push(cidr);
            }
        }
    }
    out
}

/// `check --list`: what would be contacted, and why.
pub(crate) fn describe(plan: &Plan, resolver: &str, path: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} checks: {} hosts to contact, {} requirements not tested",
        plan.check_count(),
        plan.hosts.len(),
        plan.untested.len()
    );
    let _ = writeln!(out, "DNS: {resolver}");
    let _ = writeln!(out, "path: {path}");
    for host in &plan.hosts {
        let _ = writeln!(
            out,
            "\n{} {}/{} ({}; allow-list line {}; expected in {})",
            host.host, host.proto, host.port, host.purpose, host.allowlist, host.expected
        );
        for step in &host.steps {
            let _ = writeln!(out, "  {:<10} {}", step.kind.as_str(), step.id);
        }
    }
    if !plan.media.is_empty() {
        let _ = writeln!(
            out,
            "\nmedia (STUN Binding, TURN Allocate and a quality sample over UDP):"
        );
        for m in &plan.media {
            let _ = writeln!(out, "  {} udp/{} ({})", m.host, m.port, m.id);
        }
    }
    if !plan.survey.is_empty() {
        let _ = writeln!(
            out,
            "\nsurvey (TLS connect time to each Region's telemetry host):"
        );
        for t in &plan.survey {
            let _ = writeln!(out, "  {:<16} {} tcp/{}", t.region, t.host, t.port);
        }
    }
    if !plan.untested.is_empty() {
        let _ = writeln!(out, "\nnot tested:");
        for u in &plan.untested {
            let _ = writeln!(
                out,
                "  {} {}/{}: {} ({})",
                u.host, u.proto, u.port, u.why, u.purpose
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Instance, Selection};

    fn requirements(instance: Option<&str>) -> Requirements {
        let catalog = Catalog::embedded();
        let selection = Selection {
            region: "eu-central-1".to_owned(),
            instance: instance.map(|i| Instance::parse(i).unwrap()),
            ..Selection::default()
        };
        catalog.requirements(&selection).unwrap()
    }

    #[test]
    fn concrete_hosts_get_every_step_in_order_and_wildcards_are_not_tested() {
        let snapshot = Snapshot::embedded();
        let plan = build(&requirements(Some("acme")), &snapshot, &Selected::default());
        let instance = plan
            .hosts
            .iter()
            .find(|h| h.host == "acme.my.connect.aws")
            .unwrap();
        let ids: Vec<&str> = instance.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "dns/acme.my.connect.aws",
                "tcp/acme.my.connect.aws:443",
                "tls/acme.my.connect.aws:443",
                "https/acme.my.connect.aws:443/ccp-v2/",
                "https/acme.my.connect.aws:443/api",
                "https/acme.my.connect.aws:443/auth/authorize",
                "https/acme.my.connect.aws:443/login",
            ]
        );
        assert!(
            instance.expected.contains("EC2 eu-central-1"),
            "{}",
            instance.expected
        );
        // The WebSocket host is a wildcard with no known name: listed, never passing.
        let transport = plan
            .untested
            .iter()
            .find(|u| u.host.contains("transport"))
            .unwrap();
        assert_eq!(
            transport.allowlist,
            "*.transport.connect.eu-central-1.amazonaws.com"
        );
        // TURN hosts get DNS as hosts, and the media test with the Region's media ranges.
        let turn = plan.hosts.iter().find(|h| h.proto == Proto::Udp).unwrap();
        assert_eq!(turn.steps.len(), 1);
        assert_eq!(turn.steps[0].kind, Kind::Dns);
        assert!(
            turn.expected.contains("AMAZON_CONNECT"),
            "{}",
            turn.expected
        );
        assert!(
            plan.media
                .iter()
                .any(|m| m.host == turn.host && m.port == 3478)
        );
        assert!(
            plan.media_ranges.iter().any(|c| c.starts_with("15.193.")),
            "{:?}",
            plan.media_ranges
        );
    }

    #[test]
    fn only_and_skip_select_kinds() {
        let snapshot = Snapshot::embedded();
        let reqs = requirements(Some("acme"));
        let plan = build(&reqs, &snapshot, &Selected::new(&[CheckKind::Dns], &[]));
        assert!(
            plan.hosts
                .iter()
                .all(|h| h.steps.iter().all(|s| s.kind == Kind::Dns))
        );
        assert!(plan.untested.iter().all(|u| u.proto == Proto::Tcp));
        assert!(plan.media.is_empty());
        let plan = build(
            &reqs,
            &snapshot,
            &Selected::new(&[], &[CheckKind::Https, CheckKind::Media]),
        );
        assert!(
            plan.hosts
                .iter()
                .all(|h| h.steps.iter().all(|s| s.kind != Kind::Https))
        );
        assert!(plan.untested.iter().all(|u| u.proto == Proto::Tcp));
        assert!(plan.media.is_empty());
    }

    #[test]
    fn without_an_instance_the_instance_domain_is_a_wildcard() {
        let snapshot = Snapshot::embedded();
        let plan = build(&requirements(None), &snapshot, &Selected::default());
        assert!(
            plan.untested
                .iter()
                .any(|u| u.allowlist == "*.my.connect.aws")
        );
        assert!(
            !plan
                .hosts
                .iter()
                .any(|h| h.host.ends_with("my.connect.aws"))
        );
        let text = describe(&plan, "system", "direct");
        assert!(
            text.contains("participant.connect.eu-central-1.amazonaws.com tcp/443"),
            "{text}"
        );
    }

    #[test]
    fn the_survey_times_every_regions_telemetry_host() {
        let targets = survey(&Catalog::embedded(), "eu-central-1");
        let home: Vec<&SurveyTarget> = targets.iter().filter(|t| t.home).collect();
        assert_eq!(home.len(), 1);
        assert_eq!(
            home[0].host,
            "ieluqbvv.telemetry.connect.eu-central-1.amazonaws.com"
        );
        assert!(targets.len() >= 10, "{}", targets.len());
        assert!(targets.iter().all(|t| t.port == 443));
    }
}
