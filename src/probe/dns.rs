//! DNS: A and AAAA through the system's resolvers or the ones given with `--dns-server`, the
//! CNAME chain as evidence, and every answer placed in AWS's published ranges.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;

use crate::plan::HostPlan;
use crate::ranges::Snapshot;
use crate::remedy;
use crate::report::facts::Contact;
use crate::report::{Check, Kind, Reason, Status};

/// A resolver and a description of it for messages (`the system's resolvers`, `127.0.0.1:5353`).
pub(crate) struct Resolver {
    inner: Option<TokioResolver>,
    /// Why the system configuration could not be read, if it could not.
    setup_error: Option<String>,
    pub describe: String,
}

impl Resolver {
    /// The system's configuration, or exactly `servers` when given. Timeouts are set so the
    /// resolver gives up before the probe's own deadline.
    pub(crate) fn new(servers: &[SocketAddr], per_probe: Duration) -> Self {
        let timeout = (per_probe / 3).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let configure = |opts: &mut ResolverOpts| {
            opts.timeout = timeout;
            opts.attempts = 2;
            opts.cache_size = 64;
            opts.preserve_intermediates = true;
        };
        if servers.is_empty() {
            let describe = "the system's resolvers".to_owned();
            return match TokioResolver::builder_tokio() {
                Ok(mut builder) => {
                    configure(builder.options_mut());
                    match builder.build() {
                        Ok(r) => Self {
                            inner: Some(r),
                            setup_error: None,
                            describe,
                        },
                        Err(e) => Self {
                            inner: None,
                            setup_error: Some(e.to_string()),
                            describe,
                        },
                    }
                }
                Err(e) => Self {
                    inner: None,
                    setup_error: Some(e.to_string()),
                    describe,
                },
            };
        }
        let name_servers = servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        configure(builder.options_mut());
        let list: Vec<String> = servers.iter().map(ToString::to_string).collect();
        let describe = format!("the DNS server {}", list.join(", "));
        match builder.build() {
            Ok(r) => Self {
                inner: Some(r),
                setup_error: None,
                describe,
            },
            Err(e) => Self {
                inner: None,
                setup_error: Some(e.to_string()),
                describe,
            },
        }
    }
}

/// Why one lookup gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    NxDomain,
    NoAnswer,
    ServFail,
    Refused,
    Timeout,
    /// An answer came that does not parse as DNS (or loops): not the resolver's SERVFAIL.
    BadResponse,
    /// The answer over UDP said it was truncated, and no complete answer came over TCP (the
    /// server refused TCP, or its answer was too large to take): not SERVFAIL either.
    Truncated,
    /// The resolver could not be reached at all (no route, no connection).
    Unreachable,
}

impl Failure {
    pub(crate) const fn reason(self) -> Reason {
        match self {
            Self::NxDomain => Reason::Nxdomain,
            Self::NoAnswer => Reason::NoAnswer,
            Self::ServFail => Reason::Servfail,
            Self::Refused => Reason::Refused,
            Self::Timeout => Reason::Timeout,
            Self::BadResponse | Self::Truncated => Reason::BadResponse,
            Self::Unreachable => Reason::Unreachable,
        }
    }
}

/// Classifies hickory's error from its types.
pub(crate) fn classify(error: &NetError) -> Failure {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => Failure::NxDomain,
            ResponseCode::Refused => Failure::Refused,
            ResponseCode::NoError => Failure::NoAnswer,
            _ => Failure::ServFail,
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => Failure::Refused,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => Failure::NxDomain,
        NetError::Dns(DnsError::ResponseCode(_)) => Failure::ServFail,
        NetError::Timeout => Failure::Timeout,
        NetError::Truncated => Failure::Truncated,
        NetError::Io(e) => match e.kind() {
            std::io::ErrorKind::TimedOut => Failure::Timeout,
            std::io::ErrorKind::ConnectionRefused => Failure::Refused,
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                Failure::BadResponse
            }
            _ => Failure::Unreachable,
        },
        // What came back is not DNS as it should be (it does not decode, a CNAME loops): the
        // resolver did not say SERVFAIL.
        NetError::Proto(_) | NetError::Message(_) | NetError::Msg(_) | NetError::ParseInt(_) => {
            Failure::BadResponse
        }
        NetError::NoConnections | NetError::Busy => Failure::Unreachable,
        _ => Failure::ServFail,
    }
}

/// One lookup's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Answer {
    pub addresses: Vec<IpAddr>,
    /// CNAME targets, in the order the answer gives them.
    pub cnames: Vec<String>,
}

/// Where an address sits relative to the published ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Placed {
    pub address: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Private, loopback, link-local, shared (CGNAT), documentation or otherwise not global.
    pub special: bool,
}

/// Whether an address can never be a public AWS endpoint.
pub(crate) fn is_special(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
                || o[0] >= 240
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_special(IpAddr::V4(v4)))
        }
    }
}

pub(crate) fn place(snapshot: &Snapshot, address: IpAddr) -> Placed {
    let published = super::Published::of(snapshot, address);
    Placed {
        address,
        prefix: published.as_ref().map(|p| p.net.to_string()),
        service: published.as_ref().map(|p| p.service.clone()),
        region: published.map(|p| p.region),
        special: is_special(address),
    }
}

/// What the DNS step learnt: the addresses to connect to, and the check.
pub(crate) struct Outcome {
    pub addresses: Vec<IpAddr>,
    pub check: Check,
}

async fn lookup(resolver: &TokioResolver, name: &str, kind: RecordType) -> Result<Answer, Failure> {
    let lookup = resolver
        .lookup(name, kind)
        .await
        .map_err(|e| classify(&e))?;
    let mut answer = Answer::default();
    for record in lookup.answers() {
        match &record.data {
            RData::A(a) => answer.addresses.push(IpAddr::V4(a.0)),
            RData::AAAA(a) => answer.addresses.push(IpAddr::V6(a.0)),
            RData::CNAME(c) => answer.cnames.push(c.0.to_string()),
            _ => {}
        }
    }
    if answer.addresses.is_empty() {
        return Err(Failure::NoAnswer);
    }
    Ok(answer)
}

/// At most this many addresses of one name are judged and contacted.
pub(crate) const MAX_ADDRESSES: usize = 16;
/// At most this many CNAME targets are kept as evidence.
const MAX_CNAMES: usize = 16;

/// Resolves the host of `plan` (A and AAAA at once) and judges the answers.
pub(crate) async fn resolve(resolver: &Resolver, snapshot: &Snapshot, plan: &HostPlan) -> Outcome {
    let host = &plan.host;
    let id = format!("dns/{host}");
    let Some(inner) = &resolver.inner else {
        let detail = format!(
            "cannot read this workstation's DNS configuration: {}",
            resolver.setup_error.as_deref().unwrap_or("unknown error")
        );
        return Outcome {
            addresses: Vec::new(),
            check: Check::new(id, Kind::Dns, Status::Fail, Reason::Servfail, detail)
                .host(host)
                .remedy(crate::remedy::dns_setup_unreadable())
                .allowlist(&plan.allowlist),
        };
    };
    let fqdn = format!("{}.", host.trim_end_matches('.'));
    let (v4, v6) = tokio::join!(
        lookup(inner, &fqdn, RecordType::A),
        lookup(inner, &fqdn, RecordType::AAAA)
    );
    let mut addresses = Vec::new();
    let mut cnames = Vec::new();
    for answer in [&v4, &v6].into_iter().flatten() {
        addresses.extend(answer.addresses.iter().copied());
        for c in &answer.cnames {
            if cnames.len() < MAX_CNAMES && !cnames.contains(c) {
                cnames.push(c.clone());
            }
        }
    }
    // An answer of thousands of records is not what any real name has: the first few are
    // judged and contacted, and the report says how many came.
    let mut seen = std::collections::HashSet::new();
    addresses.retain(|a| seen.insert(*a));
    addresses.truncate(MAX_ADDRESSES);
    let code = |r: &Result<Answer, Failure>| match r {
        Ok(_) => Reason::Ok.code(),
        Err(f) => f.reason().code(),
    };
    let base = |status, reason, detail: String| {
        Check::new(id.clone(), Kind::Dns, status, reason, detail)
            .host(host)
            .evidence("resolver", &resolver.describe)
            .evidence("a", code(&v4))
            .evidence("aaaa", code(&v6))
            .evidence("cname_chain", &cnames)
            .allowlist(&plan.allowlist)
    };
    if addresses.is_empty() {
        // Both failed: the A lookup's reason speaks for the name, unless it merely had no answer.
        let failure = match (&v4, &v6) {
            (Err(Failure::NoAnswer), Err(f)) | (Err(f), _) => *f,
            (Ok(_), _) => Failure::NoAnswer,
        };
        let servers = &resolver.describe;
        let (detail, fix) = match failure {
            Failure::NxDomain => (
                format!("{servers} says {host} does not exist (NXDOMAIN)"),
                remedy::dns_nxdomain(host, &plan.allowlist, servers),
            ),
            Failure::NoAnswer => (
                format!("{servers} returns no A or AAAA record for {host}"),
                remedy::dns_no_answer(host, &plan.allowlist, servers),
            ),
            Failure::ServFail => (
                format!("{servers} failed to resolve {host} (SERVFAIL)"),
                remedy::dns_servfail(host, &plan.allowlist, servers),
            ),
            Failure::Refused => (
                format!("{servers} refused to resolve {host} (REFUSED)"),
                remedy::dns_refused(host, &plan.allowlist, servers),
            ),
            Failure::Timeout => (
                format!("no answer from {servers} for {host}"),
                remedy::dns_timeout(host, &plan.allowlist, servers),
            ),
            Failure::BadResponse => (
                format!(
                    "{servers} answered for {host}, but not with a valid DNS answer (it does not decode, or its CNAME chain loops)"
                ),
                remedy::dns_bad_response(host, &plan.allowlist, servers),
            ),
            Failure::Truncated => (
                format!(
                    "{servers} answered for {host} with a truncated answer over UDP, and no complete answer came over TCP port 53 (refused, or too large to take: no Amazon Connect name has such an answer)"
                ),
                remedy::dns_bad_response(host, &plan.allowlist, servers),
            ),
            Failure::Unreachable => (
                format!("{servers} could not be reached to resolve {host}"),
                remedy::dns_timeout(host, &plan.allowlist, servers),
            ),
        };
        return Outcome {
            addresses,
            check: base(Status::Fail, failure.reason(), detail).remedy(fix),
        };
    }
    let placed: Vec<Placed> = addresses.iter().map(|a| place(snapshot, *a)).collect();
    let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    let listed = listed.join(", ");
    let check =
        if let Some(p) = placed.iter().find(|p| p.prefix.is_none() && p.special) {
            base(
                Status::Fail,
                Reason::PrivateAddress,
                format!(
                    "{host} resolves to the private or special address {} ({listed}); expected {}",
                    p.address, plan.expected
                ),
            )
            .remedy(remedy::private_address(
                host,
                &plan.allowlist,
                p.address,
                &plan.expected,
            ))
            .evidence("expected", &plan.expected)
        } else if let Some(p) = placed.iter().find(|p| p.prefix.is_none()) {
            base(
            Status::Fail,
            Reason::OutsideRanges,
            format!(
                "{host} resolves to {}, outside every published AWS range ({listed}); expected {}",
                p.address, plan.expected
            ),
        )
        .remedy(remedy::outside_ranges(host, &plan.allowlist, p.address, &plan.expected))
        .evidence("expected", &plan.expected)
        } else {
            let first = &placed[0];
            base(
                Status::Pass,
                Reason::Ok,
                format!(
                    "{host} resolves to {listed} ({} {})",
                    first.service.as_deref().unwrap_or(""),
                    first.region.as_deref().unwrap_or("")
                ),
            )
        };
    let check = check
        .evidence("addresses", &placed)
        .contacts(addresses.iter().copied().map(Contact::Resolved));
    Outcome { addresses, check }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::net::NoRecords;
    use hickory_resolver::proto::op::Query;
    use hickory_resolver::proto::rr::Name;

    fn no_records(code: ResponseCode) -> NetError {
        let query = Query::query(Name::from_ascii("x.example.").unwrap(), RecordType::A);
        NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(query, code)))
    }

    #[test]
    fn failures_are_classified_from_types() {
        let table = [
            (no_records(ResponseCode::NXDomain), Failure::NxDomain),
            (no_records(ResponseCode::NoError), Failure::NoAnswer),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)),
                Failure::ServFail,
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
                Failure::Refused,
            ),
            (NetError::Timeout, Failure::Timeout),
            (
                NetError::Proto(hickory_resolver::proto::ProtoError::from("bad label")),
                Failure::BadResponse,
            ),
            (NetError::NoConnections, Failure::Unreachable),
            // Truncated over UDP and nothing whole over TCP: the server did not say SERVFAIL.
            (NetError::Truncated, Failure::Truncated),
        ];
        for (error, expected) in table {
            assert_eq!(classify(&error), expected, "{error}");
        }
    }

    #[test]
    fn special_addresses() {
        for a in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_special(a.parse().unwrap()), "{a}");
        }
        for a in ["15.193.4.10", "52.94.1.1", "2600:1f18::1"] {
            assert!(!is_special(a.parse().unwrap()), "{a}");
        }
    }
}
