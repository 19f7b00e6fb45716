//! The squid audit over Connect's requirements: each required host's `CONNECT` decided by the
//! configuration, the checks that say what squid does with it and why, the block to add and the
//! line it goes before, and the remarks on the entries of the ACLs that allow.

use std::fmt::Write as _;
use std::path::Path;

use ipnet::IpNet;

use super::{Config, Decision, Request, Verdict};
use crate::allowlist::domains::DomainList;
use crate::audit::{Findings, domains, issue_check};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::net::{PortRange, Protocol};
use crate::ranges::IpSet;
use crate::report::{Check, Kind, Reason, Status};

/// The name a wildcard requirement is tested with: one below it that no list names (the hosts
/// under it change, so only an entry for the whole suffix lets them all through).
pub(crate) fn request_host(req: &DomainRequirement) -> String {
    match &req.host {
        HostPattern::Exact(h) => h.clone(),
        HostPattern::Wildcard(suffix) => format!("cp-probe-1.{suffix}"),
        HostPattern::Label { head, tail } => format!("{head}cp-probe-1{tail}"),
    }
}

/// Each requirement's verdict from the configuration, the entries to add and where, and the
/// remarks on the entries of the ACLs that allow.
pub(crate) fn audit(
    text: &str,
    path: &Path,
    list: &mut DomainList,
    requirements: &[DomainRequirement],
    from: &[IpNet],
) -> Findings {
    let config = Config::parse(text, path);
    let file = path.display().to_string();
    let from_set = (!from.is_empty()).then(|| IpSet::from_nets(from));
    let mut out = Findings::default();
    // First every decision, so that the remedy can name the one block to add and its place.
    let mut decided = Vec::new();
    let mut insert_before: Option<usize> = None;
    for req in requirements {
        let host = request_host(req);
        let tcp: Vec<&PortRange> = req
            .ports
            .iter()
            .filter(|p| p.proto == Protocol::Tcp)
            .collect();
        let decisions: Vec<(u16, Decision)> = tcp
            .iter()
            .map(|p| {
                let d = config.decide(&Request {
                    host: &host,
                    port: p.first,
                    from: from_set.as_ref(),
                });
                (p.first, d)
            })
            .collect();
        if decisions.iter().any(|(_, d)| d.verdict == Verdict::Denied) {
            let entry = list.entry_for(req);
            if !out.domains.contains(&entry) {
                out.domains.push(entry);
            }
            for (_, d) in &decisions {
                if d.verdict == Verdict::Denied {
                    if let Some(line) = config.insert_before(d.rule) {
                        insert_before = Some(insert_before.map_or(line, |l: usize| l.min(line)));
                    }
                }
            }
        }
        decided.push((req, host, decisions));
    }
    list.agents = from.to_vec();
    list.insert_after_line = insert_before.map(|l| l.saturating_sub(1));
    let place = match insert_before {
        Some(line) => format!("before line {line} of {file}"),
        None => format!("to {file}"),
    };
    for (req, host, decisions) in decided {
        let id = format!("allowlist/domain/{}", req.id);
        let stand_in = if host == req.host.to_string() {
            String::new()
        } else {
            format!(" (as {host}, a name below it)")
        };
        let udp: Vec<String> = req
            .ports
            .iter()
            .filter(|p| p.proto == Protocol::Udp)
            .map(ToString::to_string)
            .collect();
        let mut check = if decisions.is_empty() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Info,
                Reason::NotTested,
                format!(
                    "{} carries {} media, which no proxy carries: squid has no say in it; the firewall must pass it (audit the firewall with --cidrs)",
                    req.host,
                    udp.join(",")
                ),
            )
        } else {
            let denied: Vec<&(u16, Decision)> = decisions
                .iter()
                .filter(|(_, d)| d.verdict == Verdict::Denied)
                .collect();
            let undetermined: Vec<&(u16, Decision)> = decisions
                .iter()
                .filter(|(_, d)| matches!(d.verdict, Verdict::Undetermined(_)))
                .collect();
            let ports: Vec<String> = decisions.iter().map(|(p, _)| p.to_string()).collect();
            let ports = ports.join(",");
            if let Some((_, d)) = denied.first() {
                let by = config.describe(d.rule);
                let named = config.names_host(&host);
                let (reason, why) = if named {
                    (
                        Reason::ProxyDenied,
                        format!("its name is allowed, but {by} decides first"),
                    )
                } else {
                    (
                        Reason::MissingDomain,
                        format!("no http_access allow line that reaches it names it; {by} decides"),
                    )
                };
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Fail,
                    reason,
                    format!("squid denies CONNECT {}:{ports}{stand_in}: {why}", req.host),
                )
                .remedy(crate::remedy::squid_allow_connect(
                    &place,
                    &out.domains.join(" "),
                    !from.is_empty(),
                ))
                .evidence("decided_by", &by)
                .evidence("add", list.entry_for(req))
            } else if let Some((_, d)) = undetermined.first() {
                let Verdict::Undetermined(deps) = &d.verdict else {
                    unreachable!("filtered above")
                };
                let lines: Vec<String> = d
                    .doubtful
                    .iter()
                    .map(|&i| config.describe(Some(i)))
                    .collect();
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::Undetermined,
                    format!(
                        "whether squid lets CONNECT {}:{ports}{stand_in} through is undetermined: it depends on {}",
                        req.host,
                        deps.join("; ")
                    ),
                )
                .remedy(crate::remedy::squid_undetermined())
                .evidence("depends_on", deps)
                .evidence("lines", &lines)
            } else {
                let by: Vec<String> = decisions
                    .iter()
                    .map(|(_, d)| config.describe(d.rule))
                    .collect();
                let mut detail = format!(
                    "squid lets CONNECT {}:{ports}{stand_in} through: {}",
                    req.host, by[0]
                );
                if !udp.is_empty() {
                    let _ = write!(
                        detail,
                        "; its {} media is not carried by a proxy: the firewall must pass it",
                        udp.join(",")
                    );
                }
                Check::new(id, Kind::Allowlist, Status::Pass, Reason::Ok, detail)
                    .evidence("decided_by", &by[0])
            }
        };
        check = check.host(req.host.to_string());
        if let Some(port) = req.ports.first() {
            check = check.endpoint(port.first, port.proto);
        }
        if req.ports.iter().any(|p| p.proto == Protocol::Tcp) {
            check = check.evidence("tested_host", &host);
        }
        out.checks.push(check.evidence("requirement", &req.id));
    }
    // Remarks only on the entries of ACLs that allow: a list of blocked sites is no allow-list.
    let allowing = config.allowing_acls();
    let mut allowed = list.clone();
    allowed
        .entries
        .retain(|e| e.acl.as_deref().is_some_and(|a| allowing.contains(&a)));
    out.checks
        .extend(domains::domain_entry_checks(&allowed, requirements));
    out.checks.extend(list.issues.iter().map(issue_check));
    out
}
