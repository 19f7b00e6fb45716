//! AWS security groups hold at most 60 inbound and 60 outbound rules each by default, counted
//! separately for IPv4 and IPv6; a rule that references a prefix list counts as that list's
//! maximum number of entries (Amazon VPC quotas,
//! <https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html>). The additions
//! the audit proposes go into one group: when they cannot fit, it says so, with the number
//! needed and what the customer can do instead.

use std::path::Path;

use crate::allowlist::cidrs::Addition;
use crate::net::Direction;
use crate::report::{Check, Kind, Reason, Status};

/// The default quota of rules per security group, per direction and per family.
pub(crate) const RULES_PER_GROUP: usize = 60;

/// The rules of the first group (where the additions go), per direction and family:
/// (IPv4, IPv6, prefix-list references whose size the file does not show).
fn counts(group: &serde_json::Value, field: &str) -> (usize, usize, usize) {
    let mut v4 = 0;
    let mut v6 = 0;
    let mut lists = 0;
    for perm in group[field].as_array().into_iter().flatten() {
        let len = |k: &str| perm[k].as_array().map_or(0, Vec::len);
        v4 += len("IpRanges");
        v6 += len("Ipv6Ranges");
        // A referenced group counts as one rule for each family.
        v4 += len("UserIdGroupPairs");
        v6 += len("UserIdGroupPairs");
        lists += len("PrefixListIds");
    }
    (v4, v6, lists)
}

fn first_group(doc: &serde_json::Value) -> Option<&serde_json::Value> {
    match doc {
        serde_json::Value::Object(map) if map.contains_key("SecurityGroups") => map
            .get("SecurityGroups")
            .and_then(|g| g.as_array())
            .and_then(|g| g.first()),
        serde_json::Value::Array(groups) => groups.first(),
        other => Some(other),
    }
}

/// A check per direction and family whose additions do not fit the default quota.
pub(crate) fn checks(text: &str, path: &Path, additions: &[Addition]) -> Vec<Check> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}'))
    else {
        return Vec::new();
    };
    let Some(group) = first_group(&doc) else {
        return Vec::new();
    };
    let id = group["GroupId"].as_str().unwrap_or("the group");
    let mut out = Vec::new();
    for (direction, field, word) in [
        (Direction::Outbound, "IpPermissionsEgress", "outbound"),
        (Direction::Inbound, "IpPermissions", "inbound"),
    ] {
        let (v4, v6, lists) = counts(group, field);
        for (v6_family, have) in [(false, v4), (true, v6)] {
            let adding = additions
                .iter()
                .filter(|a| a.direction == direction)
                .flat_map(|a| &a.nets)
                .filter(|n| n.addr().is_ipv6() == v6_family)
                .count();
            if adding == 0 {
                continue;
            }
            let family = if v6_family { "IPv6" } else { "IPv4" };
            let total = have + adding;
            let lists_note = if lists > 0 {
                format!(
                    "; its {lists} prefix-list references count as their lists' maximum entries, which this file does not show, so even fewer fit"
                )
            } else {
                String::new()
            };
            if total <= RULES_PER_GROUP && lists == 0 {
                continue;
            }
            let (status, detail) = if total > RULES_PER_GROUP {
                (
                    Status::Fail,
                    format!(
                        "{id} in {} has {have} {word} {family} rules; the {adding} to add make {total}, over AWS's default quota of {RULES_PER_GROUP} {word} {family} rules per security group{lists_note}",
                        path.display()
                    ),
                )
            } else {
                (
                    Status::Warn,
                    format!(
                        "{id} in {} has {have} {word} {family} rules and {adding} to add ({total} of {RULES_PER_GROUP}){lists_note}",
                        path.display()
                    ),
                )
            };
            out.push(
                Check::new(
                    format!("allowlist/sg-quota/{word}/{}", family.to_ascii_lowercase()),
                    Kind::Allowlist,
                    status,
                    Reason::QuotaExceeded,
                    detail,
                )
                .remedy(crate::remedy::security_group_quota(
                    adding,
                    total.div_ceil(RULES_PER_GROUP),
                ))
                .evidence("rules_now", have)
                .evidence("rules_to_add", adding)
                .evidence("quota", RULES_PER_GROUP),
            );
        }
    }
    out
}
