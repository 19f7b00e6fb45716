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

use crate::report::{Check, Reason, Status};

/// The checks this rule looks at, by the first part of their id (`KIND/HOST/ADDRESS`).
const PER_ADDRESS: &[&str] = &["stun", "turn", "media"];

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// `(kind, host, address)` of a per-address media check.
fn parts(id: &str) -> Option<(&str, &str, IpAddr)> {
    let (kind, rest) = id.split_once('/')?;
    let (host, ip) = rest.rsplit_once('/')?;
    if !PER_ADDRESS.contains(&kind) {
        return None;
    }
    Some((kind, host, ip.parse().ok()?))
}

/// Whether the relay at one address works for the softphone: its Allocate was answered (a 401
/// challenge or a grant) and its quality sample, when there is one, did not fail.
fn works(checks: &[Check], host: &str, ip: IpAddr) -> bool {
    let mut allocated = false;
    for c in checks {
        match parts(&c.id) {
            Some(("turn", h, a)) if h == host && a == ip => {
                allocated = c.status == Status::Pass;
            }
            Some(("media", h, a)) if h == host && a == ip && c.status == Status::Fail => {
                return false;
            }
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
        if let Some((_, host, ip)) = parts(&c.id) {
            let list = addresses.entry(host.to_owned()).or_default();
            if !list.contains(&ip) {
                list.push(ip);
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
        let Some((kind, host, ip)) = parts(&c.id) else {
            continue;
        };
        let Some(good) = working.get(host) else {
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
        let what = match kind {
            "stun" => "STUN",
            "turn" => "TURN",
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

    fn check(id: &str, kind: Kind, status: Status, reason: Reason) -> Check {
        Check::new(id, kind, status, reason, "original detail").remedy("Allow UDP 3478.")
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
                .filter(|c| c.id.contains("2001"))
                .all(|c| c.status == Status::Fail)
        );
    }
}
