//! The addresses a run reached, typed, for the judge's reading against the customer's CIDR
//! whitelist: gathered from the facts the probes put on their checks (the DNS answers, the TCP
//! connections tried, the relays that answered over UDP), each with the published range that
//! holds it. The checks' evidence shows the same addresses to people and is never read back.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::net::Protocol;
use crate::probe::Published;
use crate::ranges::Snapshot;
use crate::report::Check;
use crate::report::facts::Contact;

/// One address a host of the run was reached at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reached {
    pub host: String,
    pub ip: IpAddr,
    /// The port connected to or heard from; `None` for an address only resolved, whose ports are
    /// the plan's for the host.
    pub port: Option<u16>,
    /// TCP for a resolved or connected address, UDP for a relay.
    pub proto: Protocol,
    /// The published range holding the address, if any.
    pub prefix: Option<Published>,
}

/// The addresses met by `checks` (the run's, in report order), each once, in the order met.
pub(super) fn gather(checks: &[Check], snapshot: &Snapshot) -> Vec<Reached> {
    let mut out: Vec<Reached> = Vec::new();
    // Linear however many hosts the catalog has: each (host, address, port, protocol) once.
    let mut seen: HashSet<(&str, IpAddr, Option<u16>, Protocol)> = HashSet::new();
    for check in checks {
        let Some(host) = check.host.as_deref() else {
            continue;
        };
        for contact in &check.facts.contacts {
            let (ip, port, proto) = match *contact {
                Contact::Resolved(ip) => (ip, None, Protocol::Tcp),
                Contact::Tcp(addr) => (addr.ip(), Some(addr.port()), Protocol::Tcp),
                Contact::Udp(addr) => (addr.ip(), Some(addr.port()), Protocol::Udp),
            };
            if !seen.insert((host, ip, port, proto)) {
                continue;
            }
            out.push(Reached {
                host: host.to_owned(),
                ip,
                port,
                proto,
                prefix: Published::of(snapshot, ip),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Kind, Reason, Status};

    #[test]
    fn the_addresses_come_from_the_typed_facts_in_order_each_once() {
        let snapshot = Snapshot::embedded();
        let ip: IpAddr = "15.193.1.1".parse().unwrap();
        let dns = Check::new("dns/h", Kind::Dns, Status::Pass, Reason::Ok, "")
            .host("h")
            .contacts([Contact::Resolved(ip)]);
        let tcp = Check::new("tcp/h:443", Kind::Tcp, Status::Fail, Reason::Timeout, "")
            .host("h")
            .contacts([
                Contact::Tcp((ip, 443).into()),
                Contact::Tcp((ip, 443).into()),
            ]);
        // Evidence alone, as in a report read back from JSON, is not a fact.
        let read_back = Check::new("turn/r/192.0.2.1", Kind::Turn, Status::Pass, Reason::Ok, "")
            .host("r")
            .evidence("address", "192.0.2.1:3478");
        let relay = Check::new("stun/r/192.0.2.2", Kind::Stun, Status::Pass, Reason::Ok, "")
            .host("r")
            .contacts([Contact::Udp("192.0.2.2:3478".parse().unwrap())]);
        let reached = gather(&[dns, tcp, read_back, relay], &snapshot);
        let seen: Vec<(&str, String, Option<u16>, Protocol)> = reached
            .iter()
            .map(|r| (r.host.as_str(), r.ip.to_string(), r.port, r.proto))
            .collect();
        assert_eq!(
            seen,
            [
                ("h", "15.193.1.1".to_owned(), None, Protocol::Tcp),
                ("h", "15.193.1.1".to_owned(), Some(443), Protocol::Tcp),
                ("r", "192.0.2.2".to_owned(), Some(3478), Protocol::Udp),
            ]
        );
        assert!(reached[0].prefix.is_some(), "15.193.1.1 is published");
        assert!(
            reached[2].prefix.is_none(),
            "192.0.2.2 is documentation space"
        );
    }
}
