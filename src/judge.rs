//! Judging a run, after the probes: the checks about the snapshot in use, the live findings read
//! against the customer's lists (`--domains`, `--cidrs`), the check that says nothing was tested,
//! and the report's *What to fix*. Pure: no network, no clock (the time is handed in).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use time::OffsetDateTime;

use crate::allowlist::cidrs::CidrList;
use crate::allowlist::domains::DomainList;
use crate::catalog::{DomainRequirement, HostPattern};
use crate::error::{Error, Result};
use crate::plan;
use crate::probe::Published;
use crate::probe::http::Proxy;
use crate::ranges::{self, Snapshot};
use crate::remedy;
use crate::report::facts::ListKind;
use crate::report::{Check, CidrFix, Fixes, Kind, Proto, Reason, Report, Status};
use crate::route::Route;
use crate::run::Reached;

/// What `ranges update` asks for when the snapshot in use is past AWS's notice window.
pub(crate) fn stale_remedy(create_date: &str, age_days: i64) -> String {
    remedy::snapshot_stale(create_date, age_days, ranges::NOTICE_DAYS)
}

/// The check every report carries about the snapshot it used.
pub(crate) fn snapshot_check(snapshot: &Snapshot, at: OffsetDateTime) -> Check {
    let age = snapshot.age_days(at);
    let source = match snapshot.source.path() {
        Some(path) => format!("{} copy at {}", snapshot.source.label(), path.display()),
        None => "embedded copy".to_owned(),
    };
    let check = if age > ranges::NOTICE_DAYS {
        Check::new(
            "ranges/snapshot",
            Kind::Ranges,
            Status::Warn,
            Reason::SnapshotStale,
            format!(
                "the IP ranges in use ({source}) were published {}, {age} days ago",
                snapshot.create_date
            ),
        )
        .remedy(stale_remedy(&snapshot.create_date, age))
    } else {
        Check::new(
            "ranges/snapshot",
            Kind::Ranges,
            Status::Pass,
            Reason::Ok,
            format!(
                "the IP ranges in use ({source}) were published {}, {age} days ago",
                snapshot.create_date
            ),
        )
    };
    let v4 = snapshot
        .entries()
        .iter()
        .filter(|e| e.net.addr().is_ipv4())
        .count();
    check
        .evidence("create_date", &snapshot.create_date)
        .evidence("sync_token", &snapshot.sync_token)
        .evidence("age_days", age)
        .evidence("source", snapshot.source.label())
        .evidence("ipv4_prefixes", v4)
        .evidence("ipv6_prefixes", snapshot.entries().len() - v4)
}

/// The check that says nothing was carried out, when no host, relay or address was tested: such
/// a run is never ready.
pub(crate) fn nothing_tested(checks: &[Check]) -> Option<Check> {
    let measured = checks.iter().any(|c| {
        matches!(
            c.kind,
            Kind::Dns
                | Kind::Tcp
                | Kind::Tls
                | Kind::Https
                | Kind::Websocket
                | Kind::Stun
                | Kind::Turn
                | Kind::Media
        ) && matches!(c.status, Status::Pass | Status::Warn | Status::Fail)
    });
    (!measured).then(|| {
        Check::new(
            "system/nothing-tested",
            Kind::System,
            Status::Skip,
            Reason::NothingTested,
            "no host, relay or address was tested: the Region, instance and selection (--only, \
             --skip, --endpoints) left nothing concrete to test, or nothing could be reached by a \
             route this tool can test",
        )
        .remedy(remedy::widen_selection())
    })
}

/// `--domains` and `--cidrs`: the customer's lists, read as `audit` reads them, to match every
/// live host and every address reached against.
#[derive(Default)]
pub(crate) struct Lists {
    domains: Option<DomainList>,
    cidrs: Option<CidrList>,
}

impl Lists {
    /// The lists `config` names (flags, then the site profile). Malformed lines stop the run
    /// (exit 65), as in `audit`.
    pub(crate) fn read(domains: Option<&Path>, cidrs: Option<&Path>) -> Result<Self> {
        let mut lists = Self::default();
        let strict = crate::allowlist::Strictness::Strict;
        if let Some(path) = domains {
            let text = crate::allowlist::read_text(path)?;
            if crate::allowlist::pac::looks_like_pac(&text) {
                return Err(Error::usage(format!(
                    "{} is a PAC script, which routes hosts rather than allowing them: give it with --pac",
                    path.display()
                )));
            }
            lists.domains = Some(DomainList::parse(&text, path, None, strict)?);
        }
        if let Some(path) = cidrs {
            lists.cidrs = Some(CidrList::read(path, None, strict)?);
        }
        Ok(lists)
    }

    /// One check per live host against the domain list, one per address reached against the CIDR
    /// whitelist. `reached` holds the addresses the run met ([`crate::run::Outcome::reached`]).
    pub(crate) fn checks(
        &self,
        plan: &plan::Plan,
        requirements: &crate::catalog::Requirements,
        route: &Route,
        reached: &[Reached],
    ) -> Vec<Check> {
        let mut out = Vec::new();
        if self.domains.is_none() && self.cidrs.is_none() {
            return out;
        }
        // Linear in the catalog, however large: requirements by id.
        let by_id: HashMap<&str, &DomainRequirement> = requirements
            .domains
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        // Every live host: (host, port, proto, its requirement, the catalog's allow-list line).
        let mut live: Vec<Live<'_>> = Vec::new();
        for h in &plan.hosts {
            let req = by_id.get(h.requirement.as_str()).copied();
            live.push((&h.host, h.port, h.proto, req, &h.allowlist));
        }
        for m in &plan.media {
            let req = requirements.domains.iter().find(|r| {
                r.concrete_host() == Some(m.host.as_str())
                    && r.ports.iter().any(|p| p.proto == Proto::Udp)
            });
            live.push((&m.host, m.port, Proto::Udp, req, &m.allowlist));
        }
        if let Some(list) = &self.domains {
            for &(host, port, proto, req, allowlist) in &live {
                out.push(domain_check(list, host, port, proto, req, allowlist));
            }
        }
        if let Some(list) = &self.cidrs {
            // Linear in the addresses reached too: the plan's entries by host.
            let mut by_host: HashMap<&str, Vec<&Live<'_>>> = HashMap::new();
            for l in &live {
                by_host.entry(l.0).or_default().push(l);
            }
            for (r, port) in addresses_reached(reached, &by_host) {
                let allowlist = by_host
                    .get(r.host.as_str())
                    .and_then(|ls| ls.first())
                    .map_or("", |l| l.4);
                let proxy = (r.proto == Proto::Tcp)
                    .then(|| route.proxy_for(&r.host))
                    .flatten();
                out.push(cidr_check(
                    list,
                    r.prefix.as_ref(),
                    &r.host,
                    r.ip,
                    port,
                    r.proto,
                    allowlist,
                    proxy,
                ));
            }
        }
        out
    }
}

/// A live host of the plan: (host, port, proto, its requirement, the catalog's allow-list line).
type Live<'a> = (&'a str, u16, Proto, Option<&'a DomainRequirement>, &'a str);

/// The addresses the run resolved, connected to or heard from, each with its port: a resolved
/// address at every TCP port the plan has for its host, a connected or relay address at its own.
/// Each (host, address, port, protocol) once, in the order the run met them.
fn addresses_reached<'a>(
    reached: &'a [Reached],
    by_host: &HashMap<&str, Vec<&Live<'_>>>,
) -> Vec<(&'a Reached, u16)> {
    let mut out: Vec<(&Reached, u16)> = Vec::new();
    let mut seen: HashSet<(&str, IpAddr, Proto, u16)> = HashSet::new();
    let mut add = |r: &'a Reached, port: u16| {
        if seen.insert((r.host.as_str(), r.ip, r.proto, port)) {
            out.push((r, port));
        }
    };
    for r in reached {
        match r.port {
            Some(port) => add(r, port),
            None => {
                let plans = by_host.get(r.host.as_str()).into_iter().flatten();
                for l in plans.filter(|l| l.2 == r.proto) {
                    add(r, l.1);
                }
            }
        }
    }
    out
}

fn domain_check(
    list: &DomainList,
    host: &str,
    port: u16,
    proto: Proto,
    req: Option<&DomainRequirement>,
    allowlist: &str,
) -> Check {
    let file = list.path.display().to_string();
    let spec = crate::catalog::PortSpec::single(proto, port);
    // The live host with its requirement's ports and paths; the requirement itself when it is a
    // wildcard, whose other hosts no list of names can cover.
    let as_host = DomainRequirement {
        host: HostPattern::Exact(host.to_owned()),
        ..req.cloned().unwrap_or_else(|| DomainRequirement {
            id: host.to_owned(),
            group: crate::catalog::Group::Core,
            region: String::new(),
            host: HostPattern::Exact(host.to_owned()),
            allowlist: HostPattern::Exact(host.to_owned()),
            probe: None,
            ports: vec![spec],
            paths: Vec::new(),
            websocket: false,
            legacy: false,
            purpose: String::new(),
            source: String::new(),
            proof: crate::catalog::Proof::default(),
        })
    };
    let req = req.unwrap_or(&as_host);
    let entry = list.entry_for(req);
    let cover = list.cover(&as_host);
    let lines = |entries: &[&crate::allowlist::domains::DomainEntry]| {
        crate::audit::lines_of(entries.iter().map(|e| (&e.span, e.text.as_str())))
    };
    let what = host.to_owned();
    let id = format!("allowlist/domain/{host}:{port}/{proto}");
    let check = if cover.is_covered() {
        let by = lines(&cover.by);
        let wide = list.cover(req);
        if matches!(req.host, HostPattern::Wildcard(_)) && !wide.is_covered() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Warn,
                Reason::MissingDomain,
                format!(
                    "{what} is allowed by {}, but only by name: the other hosts under {} change, and {file} does not allow them",
                    crate::audit::named(&by),
                    req.host
                ),
            )
            .remedy(remedy::add_to_list(&entry, &file, None))
            .evidence("add", &entry)
        } else {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Pass,
                Reason::Ok,
                format!("{what} is allowed by {}", crate::audit::named(&by)),
            )
        }
        .evidence("covered_by", &by)
    } else if !cover.by.is_empty() {
        let by = lines(&cover.by);
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::MissingDomain,
            format!(
                "{what} is allowed only for some paths ({}); {} are blocked",
                crate::audit::named(&by),
                cover.missing_paths.join(", ")
            ),
        )
        .remedy(remedy::add_to_list(
            &entry,
            &file,
            Some(&format!("so every path of {host} is allowed")),
        ))
        .evidence("covered_by", &by)
        .evidence("add", &entry)
    } else if !cover.wrong_port.is_empty() {
        let by = lines(&cover.wrong_port);
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::WrongPort,
            format!(
                "{what} is allowed only on other ports ({})",
                crate::audit::named(&by)
            ),
        )
        .remedy(remedy::add_to_list(
            &entry,
            &file,
            Some(&format!("({spec})")),
        ))
        .evidence("covered_by", &by)
        .evidence("add", &entry)
    } else {
        let purpose = if req.purpose.is_empty() {
            String::new()
        } else {
            format!(", {}", req.purpose)
        };
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::MissingDomain,
            format!("{what}{purpose} is not in {file}"),
        )
        .remedy(remedy::add_to_list(&entry, &file, None))
        .evidence("add", &entry)
    };
    check
        .host(host)
        .endpoint(port, proto)
        .evidence("requirement", &req.id)
        .allowlist(allowlist)
        .evidence("list", &file)
        .list(ListKind::Domains)
}

#[allow(clippy::too_many_arguments)]
fn cidr_check(
    list: &CidrList,
    prefix: Option<&Published>,
    host: &str,
    ip: IpAddr,
    port: u16,
    proto: Proto,
    allowlist: &str,
    proxy: Option<&Proxy>,
) -> Check {
    let file = list.path.display().to_string();
    let spec = crate::catalog::PortSpec::single(proto, port);
    // Only the entries holding the address are built out of the list's compact tables.
    let entries = &list.entries;
    let holding: Vec<crate::allowlist::cidrs::CidrEntry> = (0..entries.len())
        .filter(|&i| {
            entries.direction(i) == crate::catalog::Direction::Outbound
                && entries.space(i).contains(ip)
        })
        .map(|i| entries.get(i))
        .collect();
    type Entry<'a> = &'a crate::allowlist::cidrs::CidrEntry;
    let (on_port, other_ports): (Vec<Entry<'_>>, Vec<Entry<'_>>) =
        holding.iter().partition(|e| e.allows(&spec));
    let add = prefix
        .map_or_else(|| ipnet::IpNet::from(ip), |p| p.net)
        .to_string();
    let what = format!("{ip} ({host}) on {spec}");
    let id = format!("allowlist/cidr/{host}/{proto}/{port}/{ip}");
    let mut check = if !on_port.is_empty() {
        let by = crate::audit::lines_of(on_port.iter().map(|e| (&e.span, e.text.as_str())));
        Check::new(
            id,
            Kind::Allowlist,
            Status::Pass,
            Reason::Ok,
            format!("{what} is allowed by {}", crate::audit::named(&by)),
        )
        .evidence("covered_by", &by)
    } else {
        let published =
            prefix.map_or_else(String::new, |p| format!(" (published as {})", p.named()));
        let c = if other_ports.is_empty() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Fail,
                Reason::MissingCidr,
                format!("{what} is not allowed by {file}{published}"),
            )
            .remedy(remedy::add_cidr(
                &spec.to_string(),
                crate::catalog::Direction::Outbound,
                &add,
                &file,
                None,
            ))
        } else {
            let by = crate::audit::lines_of(other_ports.iter().map(|e| (&e.span, e.text.as_str())));
            let at: Vec<String> = other_ports.iter().map(|e| e.span.at_line()).collect();
            Check::new(
                id,
                Kind::Allowlist,
                Status::Fail,
                Reason::WrongPort,
                format!(
                    "{what}: the address is allowed only on {} ({}), not on {spec}",
                    other_ports
                        .iter()
                        .map(|e| e.ports_label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::audit::named(&by)
                ),
            )
            .remedy(remedy::add_cidr(
                &spec.to_string(),
                crate::catalog::Direction::Outbound,
                &add,
                &file,
                Some(&crate::audit::named(&at)),
            ))
            .evidence("allowed_on_other_ports_by", &by)
        };
        c.evidence("missing", &add).prefix(prefix.map(|p| p.net))
    };
    if let Some(p) = proxy {
        // The proxy, not this workstation, opens this connection: a fact for the proxy's firewall.
        check.status = Status::Info;
        check.detail = format!(
            "{}; this workstation reaches {host} through the proxy {p}, so only the proxy's own traffic needs it",
            check.detail
        );
        check.remedy = None;
    }
    check
        .host(host)
        .endpoint(port, proto)
        .evidence("address", ip.to_string())
        .allowlist(allowlist)
        .evidence("list", &file)
        .list(ListKind::Cidrs)
}

/// What the network team must change, gathered from the checks that did not pass: allow-list
/// lines and prefixes to add, and per action the hosts it concerns.
pub(crate) fn fixes(report: &Report) -> Fixes {
    let mut fixes = Fixes::default();
    let mut actions: Vec<(&'static str, Vec<String>)> = Vec::new();
    for check in &report.checks {
        if !matches!(check.status, Status::Fail | Status::Warn) {
            continue;
        }
        let Some(line) = check.facts.allowlist.as_deref() else {
            continue;
        };
        // As the report shows it: its strings are made safe when it is built.
        let line = crate::sanitize::for_report(line);
        let line: &str = &line;
        let action = match check.reason {
            Reason::Nxdomain
            | Reason::NoAnswer
            | Reason::Refused
            | Reason::Timeout
            | Reason::Unreachable
            | Reason::ProxyDenied
            | Reason::HandshakeFailed
            | Reason::MissingDomain => {
                if !fixes.domains.iter().any(|d| d == line) {
                    fixes.domains.push(line.to_owned());
                }
                None
            }
            Reason::OutsideRanges | Reason::PrivateAddress => {
                Some("make these resolve to AWS's public addresses (remove DNS overrides)")
            }
            Reason::Intercepted
            | Reason::UntrustedCertificate
            | Reason::HostnameMismatch
            | Reason::ExpiredCertificate
            | Reason::HttpError => Some("exempt from TLS inspection and redirection"),
            Reason::OldTls => Some("allow TLS 1.2 and 1.3 on the device that terminates TLS"),
            Reason::ProxyAuthRequired => Some("exempt from proxy authentication"),
            Reason::WebsocketRejected => Some("let WebSocket upgrades through the proxy"),
            Reason::WrongPort if check.facts.list == Some(ListKind::Domains) => {
                Some("allow these on the port the check names (the list limits them to others)")
            }
            _ => None,
        };
        if let Some(action) = action {
            match actions.iter_mut().find(|(a, _)| *a == action) {
                Some((_, lines)) if !lines.iter().any(|l| l == line) => lines.push(line.to_owned()),
                Some(_) => {}
                None => actions.push((action, vec![line.to_owned()])),
            }
        }
        if let (Some(prefix), Some(port)) = (check.facts.prefix, check.port) {
            let fix = CidrFix {
                cidr: prefix.to_string(),
                proto: check.proto.unwrap_or(Proto::Tcp),
                port: port.to_string(),
            };
            if !fixes.cidrs.contains(&fix) {
                fixes.cidrs.push(fix);
            }
        }
    }
    fixes.notes = actions
        .into_iter()
        .map(|(action, lines)| format!("{action}: {}", lines.join(", ")))
        .collect();
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_name_the_line_and_a_wildcard_needs_a_wildcard() {
        use crate::allowlist::Strictness;
        use crate::catalog::{Group, PortSpec};
        let path = std::path::Path::new("allow.txt");
        let list = DomainList::parse(
            "x.transport.connect.eu-central-1.amazonaws.com\n*.my.connect.aws\n",
            path,
            None,
            Strictness::Strict,
        )
        .unwrap();
        let wildcard = DomainRequirement {
            id: "transport/eu-central-1".to_owned(),
            group: Group::Core,
            region: "eu-central-1".to_owned(),
            host: HostPattern::Wildcard("transport.connect.eu-central-1.amazonaws.com".to_owned()),
            allowlist: HostPattern::Wildcard(
                "transport.connect.eu-central-1.amazonaws.com".to_owned(),
            ),
            probe: Some("x.transport.connect.eu-central-1.amazonaws.com".to_owned()),
            ports: vec![PortSpec::single(Proto::Tcp, 443)],
            paths: Vec::new(),
            websocket: true,
            legacy: false,
            purpose: "the CCP's WebSocket".to_owned(),
            source: String::new(),
            proof: crate::catalog::Proof::default(),
        };
        let host = "x.transport.connect.eu-central-1.amazonaws.com";
        let c = domain_check(&list, host, 443, Proto::Tcp, Some(&wildcard), "*.transport");
        assert_eq!((c.status, c.reason), (Status::Warn, Reason::MissingDomain));
        assert!(
            c.detail.contains("allow.txt:1") && c.detail.contains("only by name"),
            "{}",
            c.detail
        );
        assert_eq!(
            c.evidence["add"],
            "*.transport.connect.eu-central-1.amazonaws.com"
        );
        let c = domain_check(&list, "acme.my.connect.aws", 443, Proto::Tcp, None, "acme");
        assert_eq!((c.status, c.reason), (Status::Pass, Reason::Ok));
        assert!(
            c.detail.contains("allow.txt:2: *.my.connect.aws"),
            "{}",
            c.detail
        );

        let cidrs = CidrList::parse(
            "15.193.0.0/19 udp/3478\n3.64.0.0/12 tcp/443\n",
            std::path::Path::new("fw.txt"),
            None,
            Strictness::Strict,
        )
        .unwrap();
        let snapshot = ranges::Snapshot::embedded();
        let at = |ip| Published::of(&snapshot, ip);
        let ip: IpAddr = "3.65.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, at(ip).as_ref(), "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Pass, Reason::Ok));
        assert!(c.detail.contains("fw.txt:2: 3.64.0.0/12"), "{}", c.detail);
        let ip: IpAddr = "15.193.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, at(ip).as_ref(), "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Fail, Reason::WrongPort));
        let ip: IpAddr = "52.1.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, at(ip).as_ref(), "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Fail, Reason::MissingCidr));
        assert!(c.remedy.unwrap().contains("fw.txt"));
        // Through a proxy, the workstation's firewall never sees the address: information only.
        let proxy = Proxy::parse("http://p.example:3128").unwrap();
        let c = cidr_check(
            &cidrs,
            at(ip).as_ref(),
            "h",
            ip,
            443,
            Proto::Tcp,
            "h",
            Some(&proxy),
        );
        assert_eq!((c.status, c.reason), (Status::Info, Reason::MissingCidr));
        assert!(c.detail.contains("through the proxy"), "{}", c.detail);
    }

    #[test]
    fn fixes_split_allow_list_additions_from_other_actions() {
        use crate::report::{Check, Kind, Target};
        let finding = |id: &str, status, reason, line: &str| {
            Check::new(id, Kind::Tls, status, reason, "").allowlist(line)
        };
        let checks = vec![
            finding("tcp/a", Status::Fail, Reason::Timeout, "a.example")
                .endpoint(443, Proto::Tcp)
                .prefix(Some("15.193.4.0/24".parse().unwrap())),
            finding("tls/b", Status::Warn, Reason::Intercepted, "b.example"),
            finding("tls/c", Status::Fail, Reason::HostnameMismatch, "c.example"),
            finding("dns/d", Status::Fail, Reason::PrivateAddress, "d.example"),
            finding("tls/ok", Status::Pass, Reason::Ok, "ok.example"),
        ];
        // The same findings with their evidence only (as read back from a JSON report): the
        // fixes come from the typed facts, so there is nothing to add.
        let read_back: Vec<Check> = checks
            .iter()
            .cloned()
            .map(|mut c| {
                c.facts = crate::report::facts::Facts::default();
                c
            })
            .collect();
        let bare = fixes(&Report::new(
            "check",
            Target::default(),
            String::new(),
            read_back,
        ));
        assert!(bare.is_empty(), "{bare:?}");
        let report = Report::new("check", Target::default(), String::new(), checks);
        let f = fixes(&report);
        assert_eq!(f.domains, ["a.example"]);
        assert_eq!(f.cidrs.len(), 1);
        assert_eq!(
            (f.cidrs[0].cidr.as_str(), f.cidrs[0].port.as_str()),
            ("15.193.4.0/24", "443")
        );
        assert_eq!(
            f.notes,
            [
                "exempt from TLS inspection and redirection: b.example, c.example",
                "make these resolve to AWS's public addresses (remove DNS overrides): d.example",
            ]
        );
    }
}
