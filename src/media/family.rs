//! Both address families as the browser sees them. A TURN host with A and AAAA records is tested
//! at each address; Chrome's ICE does the same and uses whichever relay answers: WebRTC's
//! `BasicPortAllocator` makes a TURN port per local network, and each network is one address
//! family; the port resolves the relay's name for its own family (`TurnPort::ResolveTurnAddress`
//! in WebRTC's `p2p/base/turn_port.cc`: `resolver_->Start(address, Network()->family(), …)`,
//! then `GetResolvedAddress(Network()->GetBestIP().family(), …)`). A family that cannot reach
//! the relay only loses its own relay candidate: the call goes out over the other.
//!
//! So a relay host passes when one family gives a working relay. The failures of the other family
//! become warnings that name it ("IPv6 to TURN is black-holed; the softphone uses IPv4"): the
//! verdict is degraded, not not-ready. This holds for the STUN Binding, the TURN Allocate and the
//! quality sample alike.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::report::facts::{RelayStep, RelayTarget};
use crate::report::{Check, Reason, Status};

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// The relay address of a check this rule looks at: the STUN Binding, the TURN Allocate and the
/// quality sample, each made once per address.
fn per_address(check: &Check) -> Option<&RelayTarget> {
    check.facts.relay.as_ref().filter(|r| {
        matches!(
            r.step,
            RelayStep::Stun | RelayStep::Turn | RelayStep::Quality
        )
    })
}

/// Whether the relay at one address works for the softphone: its Allocate was answered (a 401
/// challenge or a grant) and its quality sample, when there is one, did not fail.
fn works(checks: &[Check], host: &str, ip: IpAddr) -> bool {
    let mut allocated = false;
    for c in checks {
        let Some(r) = per_address(c).filter(|r| r.host == host && r.ip == ip) else {
            continue;
        };
        match r.step {
            RelayStep::Turn => allocated = c.status == Status::Pass,
            RelayStep::Quality if c.status == Status::Fail => return false,
            _ => {}
        }
    }
    allocated
}

/// What a failure says about the path, for the warning's first words.
fn what_happened(check: &Check) -> &'static str {
    match check.reason {
        Reason::Timeout => "is black-holed",
        Reason::Unreachable => "is refused (ICMP unreachable)",
        Reason::BadResponse => "is answered by something other than the relay",
        _ => "does not work",
    }
}

/// Turns the failures of a family that cannot reach a relay into warnings, when the relay's other
/// family works. Checks of hosts with one family, or with no working family, are left alone.
pub(crate) fn apply(checks: &mut [Check]) {
    // Per host: the families that work, and the address of each that works.
    let mut working: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    let mut addresses: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for c in checks.iter() {
        if let Some(r) = per_address(c) {
            let list = addresses.entry(r.host.clone()).or_default();
            if !list.contains(&r.ip) {
                list.push(r.ip);
            }
        }
    }
    for (host, ips) in &addresses {
        for ip in ips {
            if works(checks, host, *ip) {
                working.entry(host.clone()).or_default().push(*ip);
            }
        }
    }
    for c in checks.iter_mut() {
        // A path failure only: a relay that answers but sounds poor is a verdict on the call.
        if c.status != Status::Fail
            || !matches!(
                c.reason,
                Reason::Timeout | Reason::Unreachable | Reason::BadResponse
            )
        {
            continue;
        }
        let Some(RelayTarget { step, host, ip }) = per_address(c).cloned() else {
            continue;
        };
        let Some(good) = working.get(&host) else {
            continue;
        };
        let broken = family(ip);
        let Some(other) = good.iter().find(|g| family(**g) != broken) else {
            continue;
        };
        // Only a family none of whose addresses works is "broken".
        if good.iter().any(|g| family(*g) == broken) {
            continue;
        }
        let used = family(*other);
        let what = match step {
            RelayStep::Stun => "STUN",
            RelayStep::Turn => "TURN",
            _ => "the relay (quality sample)",
        };
        c.status = Status::Warn;
        c.detail = format!(
            "{broken} to {what} {} ({ip}); the softphone uses {used} ({other} answered): {}",
            what_happened(c),
            c.detail
        );
        if let Some(remedy) = c.remedy.take() {
            c.remedy = Some(crate::remedy::other_family_works(used, broken, &remedy));
        }
        let note = c.clone();
        *c = note
            .evidence("family", broken.to_ascii_lowercase())
            .evidence("family_in_use", used.to_ascii_lowercase())
            .evidence("working_address", other.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Kind;

    /// A per-address check made as the media test makes it, written `STEP/HOST/ADDRESS` here.
    fn check(at: &str, kind: Kind, status: Status, reason: Reason) -> Check {
        let mut parts = at.splitn(3, '/');
        let step = match parts.next().unwrap() {
            "stun" => RelayStep::Stun,
            "turn" => RelayStep::Turn,
            "media" => RelayStep::Quality,
            other => panic!("no step {other}"),
        };
        let host = parts.next().unwrap();
        let ip: IpAddr = parts.next().unwrap().parse().unwrap();
        let target = crate::media::relay::Target {
            host: host.to_owned(),
            addr: std::net::SocketAddr::new(ip, 3478),
        };
        let c = crate::media::relay_check(
            step,
            &target,
            kind,
            status,
            reason,
            "original detail".into(),
        )
        .remedy("Allow UDP 3478.");
        assert_eq!(c.id, at);
        c
    }

    #[test]
    fn the_rule_reads_the_typed_relay_not_the_id() {
        // The same checks with their ids only (as read back from a JSON report): nothing to go on.
        let mut bare: Vec<Check> = dual_stack(Status::Fail, Reason::Timeout)
            .into_iter()
            .map(|mut c| {
                c.facts = crate::report::facts::Facts::default();
                c
            })
            .collect();
        apply(&mut bare);
        assert_eq!(bare[4].status, Status::Fail);
        // The typed target decides, whatever the id says.
        let mut renamed = dual_stack(Status::Fail, Reason::Timeout);
        for c in &mut renamed {
            c.id = "x".to_owned();
        }
        apply(&mut renamed);
        assert_eq!(renamed[4].status, Status::Warn);
    }

    fn dual_stack(v6_turn: Status, v6_reason: Reason) -> Vec<Check> {
        vec![
            check(
                "stun/turn.example/192.0.2.10",
                Kind::Stun,
                Status::Pass,
                Reason::Ok,
            ),
            check(
                "turn/turn.example/192.0.2.10",
                Kind::Turn,
                Status::Pass,
                Reason::AuthChallenge,
            ),
            check(
                "media/turn.example/192.0.2.10",
                Kind::Media,
                Status::Pass,
                Reason::Ok,
            ),
            check(
                "stun/turn.example/2001:db8::10",
                Kind::Stun,
                v6_turn,
                v6_reason,
            ),
            check(
                "turn/turn.example/2001:db8::10",
                Kind::Turn,
                v6_turn,
                v6_reason,
            ),
        ]
    }

    #[test]
    fn a_black_holed_family_is_a_warning_naming_it_when_the_other_works() {
        let mut checks = dual_stack(Status::Fail, Reason::Timeout);
        apply(&mut checks);
        let turn6 = &checks[4];
        assert_eq!(
            (turn6.status, turn6.reason),
            (Status::Warn, Reason::Timeout)
        );
        assert!(
            turn6.detail.starts_with(
                "IPv6 to TURN is black-holed (2001:db8::10); the softphone uses IPv4 (192.0.2.10 answered): original detail"
            ),
            "{}",
            turn6.detail
        );
        assert!(
            turn6
                .remedy
                .as_deref()
                .unwrap()
                .starts_with("Calls work over IPv4 today")
        );
        assert_eq!(turn6.evidence["family"], "ipv6");
        assert_eq!(checks[3].status, Status::Warn);
        assert!(checks[3].detail.starts_with("IPv6 to STUN is black-holed"));
        // The working family is untouched.
        assert_eq!(checks[1].status, Status::Pass);
    }

    #[test]
    fn an_unreachable_ipv4_with_working_ipv6_is_named_the_other_way_round() {
        let mut checks = vec![
            check(
                "turn/t/192.0.2.10",
                Kind::Turn,
                Status::Fail,
                Reason::Unreachable,
            ),
            check(
                "turn/t/2001:db8::10",
                Kind::Turn,
                Status::Pass,
                Reason::AuthChallenge,
            ),
        ];
        apply(&mut checks);
        assert_eq!(checks[0].status, Status::Warn);
        assert!(
            checks[0]
                .detail
                .starts_with("IPv4 to TURN is refused (ICMP unreachable)")
        );
    }

    #[test]
    fn both_families_failing_or_one_family_only_stay_failures() {
        let mut both = vec![
            check(
                "turn/t/192.0.2.10",
                Kind::Turn,
                Status::Fail,
                Reason::Timeout,
            ),
            check(
                "turn/t/2001:db8::10",
                Kind::Turn,
                Status::Fail,
                Reason::Timeout,
            ),
        ];
        apply(&mut both);
        assert!(both.iter().all(|c| c.status == Status::Fail));
        let mut one = vec![
            check(
                "turn/t/192.0.2.10",
                Kind::Turn,
                Status::Pass,
                Reason::AuthChallenge,
            ),
            check(
                "turn/t/192.0.2.11",
                Kind::Turn,
                Status::Fail,
                Reason::Timeout,
            ),
        ];
        apply(&mut one);
        assert_eq!(
            one[1].status,
            Status::Fail,
            "a second IPv4 address is not another family"
        );
        // Another host's working IPv4 does not excuse this host's IPv6.
        let mut other_host = vec![
            check(
                "turn/a/192.0.2.10",
                Kind::Turn,
                Status::Pass,
                Reason::AuthChallenge,
            ),
            check(
                "turn/b/2001:db8::10",
                Kind::Turn,
                Status::Fail,
                Reason::Timeout,
            ),
        ];
        apply(&mut other_host);
        assert_eq!(other_host[1].status, Status::Fail);
    }

    #[test]
    fn a_family_whose_quality_sample_failed_does_not_count_as_working() {
        let mut checks = dual_stack(Status::Fail, Reason::Timeout);
        checks[2].status = Status::Fail;
        checks[2].reason = Reason::Timeout;
        apply(&mut checks);
        assert!(
            checks
                .iter()
                .filter(|c| c.facts.relay.as_ref().is_some_and(|r| r.ip.is_ipv6()))
                .all(|c| c.status == Status::Fail)
        );
    }
}
