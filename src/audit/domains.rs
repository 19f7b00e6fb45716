//! The domain allow-list against the domain requirements: one check per requirement (passing ones
//! name the covering lines), one per entry worth a remark (over-broad, stale, duplicate,
//! shadowed), and the entries to add in the list's own syntax.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::allowlist::domains::{DomainEntry, DomainList, FastHash, NameIndex, Pattern};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::report::{Check, Kind, Reason, Status};

pub(crate) fn audit_domains(list: &DomainList, requirements: &[DomainRequirement]) -> Findings {
    let mut out = Findings::default();
    let file = list.path.display().to_string();
    let mut added = BTreeSet::new();
    let index = NameIndex::new(list, requirements.iter().map(|r| &r.host));
    for req in requirements {
        let cover = list.cover_indexed(req, &index);
        let id = format!("allowlist/domain/{}", req.id);
        let port = req.ports.first().copied();
        let entry = list.entry_for(req);
        let mut check = if cover.is_covered() {
            let lines = lines_of(cover.by.iter().map(|e| (&e.span, e.text.as_str())));
            Check::new(
                id,
                Kind::Allowlist,
                Status::Pass,
                Reason::Ok,
                format!("{} is allowed by {}", req.host, named(&lines)),
            )
            .evidence("covered_by", &lines)
        } else {
            if added.insert(entry.clone()) {
                out.domains.push(entry.clone());
            }
            if !cover.by.is_empty() {
                let lines = lines_of(cover.by.iter().map(|e| (&e.span, e.text.as_str())));
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Fail,
                    Reason::MissingDomain,
                    format!(
                        "{} is allowed only for some paths ({}); {} are blocked",
                        req.host,
                        named(&lines),
                        cover.missing_paths.join(", ")
                    ),
                )
                .remedy(crate::remedy::add_to_list(
                    &entry,
                    &file,
                    Some(&format!("so every path of {} is allowed", req.host)),
                ))
                .evidence("covered_by", &lines)
                .evidence("missing_paths", &cover.missing_paths)
            } else if !cover.wrong_port.is_empty() {
                let lines = lines_of(cover.wrong_port.iter().map(|e| (&e.span, e.text.as_str())));
                let theirs: Vec<String> = cover
                    .wrong_port
                    .iter()
                    .filter_map(|e| e.port.map(|p| format!("tcp/{p}")))
                    .collect();
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Fail,
                    Reason::WrongPort,
                    format!(
                        "{} is allowed only on {} ({}), but it needs {}",
                        req.host,
                        theirs.join(", "),
                        named(&lines),
                        ports_label(&req.ports)
                    ),
                )
                .remedy(crate::remedy::add_to_list(
                    &entry,
                    &file,
                    Some(&format!("({})", ports_label(&req.ports))),
                ))
                .evidence("covered_by", &lines)
            } else {
                // Names under a wildcard requirement do not cover it: say so.
                let near: Vec<String> = match &req.host {
                    HostPattern::Wildcard(suffix) => {
                        let dotted = format!(".{suffix}");
                        lines_of(
                            list.entries
                                .iter()
                                .filter(|e| e.pattern.name().ends_with(&dotted))
                                .map(|e| (&e.span, e.text.as_str())),
                        )
                    }
                    HostPattern::Exact(_) | HostPattern::Label { .. } => Vec::new(),
                };
                let detail = if near.is_empty() {
                    format!("{} ({}) is not in {file}", req.host, req.purpose)
                } else {
                    format!(
                        "{} ({}) is not in {file}: {} name only some hosts under it, and the hosts change",
                        req.host,
                        req.purpose,
                        named(&near)
                    )
                };
                Check::new(id, Kind::Allowlist, Status::Fail, Reason::MissingDomain, detail)
                    .remedy(crate::remedy::add_to_list(&entry, &file, None))
                    .evidence("too_narrow", &near)
            }
            .evidence("add", &entry)
        };
        check = check.host(req.host.to_string());
        if let Some(port) = port {
            check = check.endpoint(port.first, port.proto);
        }
        out.checks.push(check.evidence("requirement", &req.id));
    }
    out.checks.extend(domain_entry_checks(list, requirements));
    out.checks.extend(list.issues.iter().map(issue_check));
    out
}

pub(super) fn domain_entry_checks(
    list: &DomainList,
    requirements: &[DomainRequirement],
) -> Vec<Check> {
    let mut checks = Vec::new();
    let needs_awsapps = requirements.iter().any(|r| {
        let host = r.host.name();
        host == "awsapps.com" || host.ends_with(".awsapps.com")
    });
    let mut first_seen: HashMap<(&Pattern, Option<u16>, Option<&str>), &DomainEntry, FastHash> =
        HashMap::with_capacity_and_hasher(list.entries.len(), FastHash::default());
    // Remarks (and "remove" advice) only on entries that let Connect's traffic through, or name
    // one of its hosts: the list's other entries are none of the audit's business.
    let related = |entry: &DomainEntry| {
        requirements.iter().any(|r| {
            entry.pattern.covers(&r.host)
                || match &r.host {
                    HostPattern::Exact(h) => entry.pattern.allows(h),
                    HostPattern::Wildcard(s) => {
                        let name = entry.pattern.name();
                        name == s || name.ends_with(&format!(".{s}"))
                    }
                    HostPattern::Label { head, tail } => {
                        let name = entry.pattern.name();
                        name.starts_with(head.as_str()) && name.ends_with(tail.as_str())
                    }
                }
        })
    };
    for entry in &list.entries {
        let named_host = entry.pattern.name();
        let retired = RETIRED_SUFFIXES.iter().any(|(s, _)| {
            named_host == *s
                || named_host
                    .strip_suffix(s)
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        let legacy_name = match &entry.pattern {
            Pattern::Exact(h) | Pattern::Glob { tail: h, .. } => h.ends_with(".awsapps.com"),
            Pattern::Below(s) | Pattern::AtOrBelow(s) => {
                s == "awsapps.com" || s.ends_with(".awsapps.com")
            }
        };
        if !related(entry) && !retired && !legacy_name {
            continue;
        }
        let id = |what: &str| format!("allowlist/entry/{}/{what}", entry.span);
        let at = || entry.span.at_line();
        let suffix = entry.pattern.suffix();
        // How many labels the suffix has, as far as it matters: none, one, or more.
        let labels = suffix.map_or(usize::MAX, |s| {
            if s.is_empty() {
                0
            } else if s.contains('.') {
                2
            } else {
                1
            }
        });
        let broad = BROAD_SUFFIXES
            .iter()
            .find(|(s, _)| suffix == Some(*s))
            .map(|(_, what)| (*what).to_owned())
            .or_else(|| match labels {
                0 => Some("every name on the internet".to_owned()),
                1 => Some(format!(
                    "every name under the .{} top-level domain",
                    suffix.unwrap_or("")
                )),
                _ => None,
            });
        if let Some(what) = broad {
            let at = at();
            let inside: Vec<String> = requirements
                .iter()
                .filter(|r| entry.pattern.covers(&r.host))
                .map(|r| list.entry_for(r))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let remedy = crate::remedy::overbroad_domain(&entry.text, &at, &inside);
            checks.push(
                Check::new(
                    id("overbroad"),
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::OverbroadEntry,
                    format!(
                        "`{}` at {at} opens {what}, far more than Connect needs",
                        entry.text
                    ),
                )
                .remedy(remedy)
                .evidence("line", &at)
                .evidence("replace_with", &inside),
            );
        }
        let named_host = entry.pattern.name();
        if let Some((retired, why)) = RETIRED_SUFFIXES.iter().find(|(s, _)| {
            named_host == *s
                || named_host
                    .strip_suffix(s)
                    .is_some_and(|rest| rest.ends_with('.'))
        }) {
            let at = at();
            checks.push(
                Check::new(
                    id("stale"),
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::StaleEntry,
                    format!("`{}` at {at} is a retired name: {why}", entry.text),
                )
                .remedy(crate::remedy::remove_unless_needed(
                    &entry.text,
                    &at,
                    &format!("*.{retired}"),
                ))
                .evidence("line", &at),
            );
        }
        let legacy = match &entry.pattern {
            Pattern::Exact(h) | Pattern::Glob { tail: h, .. } => h.ends_with(".awsapps.com"),
            Pattern::Below(s) | Pattern::AtOrBelow(s) => {
                s == "awsapps.com" || s.ends_with(".awsapps.com")
            }
        };
        if legacy && !needs_awsapps {
            let at = at();
            checks.push(
                Check::new(
                    id("legacy"),
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::StaleEntry,
                    format!(
                        "`{}` at {at} is the legacy awsapps.com domain AWS is retiring; this instance uses *.my.connect.aws",
                        entry.text
                    ),
                )
                .remedy(crate::remedy::legacy_awsapps(
                    &entry.text,
                    &list.path.display().to_string(),
                ))
                .evidence("line", &at),
            );
        }
        let key = (&entry.pattern, entry.port, entry.path.as_deref());
        if let Some(first) = first_seen.get(&key) {
            let at = at();
            checks.push(
                Check::new(
                    id("duplicate"),
                    Kind::Allowlist,
                    Status::Info,
                    Reason::StaleEntry,
                    format!(
                        "`{}` at {at} repeats {} (`{}`)",
                        entry.text,
                        first.span.at_line(),
                        first.text
                    ),
                )
                .remedy(crate::remedy::remove_entry(&entry.text, &at))
                .evidence("line", &at)
                .evidence("duplicate_of", first.span.at_line()),
            );
            continue;
        }
        first_seen.insert(key, entry);
    }
    // Shadowed: an entry another (narrower than over-broad) wildcard already allows. Wildcards
    // are indexed by suffix, so each entry looks up only the suffixes of its own name.
    // Entries with the same suffix are chained in list order (`next`), so that the index
    // holds one number per suffix rather than a vector.
    let mut wildcards: HashMap<&str, (usize, usize), FastHash> = HashMap::default();
    let mut next: Vec<usize> = vec![usize::MAX; list.entries.len()];
    for (i, other) in list.entries.iter().enumerate() {
        if let Some(s) = other.pattern.suffix() {
            if s.contains('.') && !BROAD_SUFFIXES.iter().any(|(b, _)| *b == s) {
                let chain = wildcards.entry(s).or_insert((i, i));
                if chain.1 != i {
                    next[chain.1] = i;
                    chain.1 = i;
                }
            }
        }
    }
    for entry in list.entries.iter().filter(|e| related(e)) {
        let name = entry.pattern.name();
        let suffixes =
            std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest));
        let shadow = suffixes
            .filter_map(|suffix| wildcards.get(suffix))
            .flat_map(|&(first, _)| {
                std::iter::successors(Some(first), |&i| Some(next[i]).filter(|&n| n != usize::MAX))
            })
            .map(|i| &list.entries[i])
            .find(|other| {
                other.pattern != entry.pattern
                    && other.port.is_none_or(|p| entry.port == Some(p))
                    && other
                        .path
                        .as_deref()
                        .is_none_or(|p| entry.path.as_deref().is_some_and(|q| q.starts_with(p)))
                    && other.pattern.covers_pattern(&entry.pattern)
            });
        if let Some(other) = shadow {
            let at = entry.span.at_line();
            checks.push(
                Check::new(
                    format!("allowlist/entry/{}/shadowed", entry.span),
                    Kind::Allowlist,
                    Status::Info,
                    Reason::StaleEntry,
                    format!(
                        "`{}` at {at} is already allowed by `{}` at {}",
                        entry.text,
                        other.text,
                        other.span.at_line()
                    ),
                )
                .remedy(crate::remedy::remove_entry(&entry.text, &at))
                .evidence("line", &at)
                .evidence("shadowed_by", other.span.at_line()),
            );
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowlist::domains::parse_plain;

    use std::path::Path;

    use crate::allowlist::Strictness;
    use crate::audit::testing::{by_reason, requirements};

    #[test]
    fn domain_gaps_name_the_entry_to_add_in_the_list_syntax() {
        let req = requirements();
        let text = "acme.my.connect.aws\n*.cloudfront.net\n*.static.connect.aws\n*.telemetry.connect.eu-central-1.amazonaws.com\nparticipant.connect.eu-central-1.amazonaws.com\n*.transport.connect.eu-central-1.amazonaws.com\nhttps://turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com/\nd1n9s7btyr4f0n.cloudfront.net\n*.aws\nacme.my.connect.aws\n*.threat-mitigation.aws.amazon.com\n*.s3.dualstack.us-east-1.amazonaws.com\n*.s3.dualstack.us-west-2.amazonaws.com\n*.s3.dualstack.eu-central-1.amazonaws.com\n";
        let list = parse_plain(text, Path::new("allow.txt"), Strictness::Strict).unwrap();
        let found = audit_domains(&list, &req.domains);
        let missing = by_reason(&found.checks, Reason::MissingDomain);
        // Everything is listed, but TURN only for HTTPS.
        assert!(missing.is_empty(), "{missing:#?}");
        let wrong = by_reason(&found.checks, Reason::WrongPort);
        assert_eq!(wrong.len(), 1);
        assert!(
            wrong[0].detail.contains("tcp/443") && wrong[0].detail.contains("udp/3478"),
            "{}",
            wrong[0].detail
        );
        assert_eq!(found.domains, ["turnnlb-*.elb.eu-central-1.amazonaws.com"]);
        let broad = by_reason(&found.checks, Reason::OverbroadEntry);
        assert_eq!(broad.len(), 1, "{:#?}", found.checks);
        assert!(broad[0].detail.contains("allow.txt:9"));
        let stale = by_reason(&found.checks, Reason::StaleEntry);
        let ids: Vec<&str> = stale.iter().map(|c| c.id.as_str()).collect();
        assert!(
            ids.iter().any(|i| i.ends_with("allow.txt:10:1/duplicate")),
            "{ids:?}"
        );
        assert!(
            ids.iter().any(|i| i.ends_with("allow.txt:8:1/shadowed")),
            "{ids:?}"
        );
        // The remedies name the entry and its line, as the CIDR list's do.
        let remedies: Vec<&str> = stale.iter().filter_map(|c| c.remedy.as_deref()).collect();
        assert!(
            remedies.contains(&"remove `acme.my.connect.aws` from allow.txt:10"),
            "{remedies:?}"
        );
        assert!(
            remedies.contains(&"remove `d1n9s7btyr4f0n.cloudfront.net` from allow.txt:8"),
            "{remedies:?}"
        );
        let pass = found
            .checks
            .iter()
            .find(|c| c.id == "allowlist/domain/participant/eu-central-1")
            .unwrap();
        assert_eq!(pass.status, Status::Pass);
        assert!(pass.detail.contains("allow.txt:5"), "{}", pass.detail);
    }

    #[test]
    fn wildcard_requirements_are_not_met_by_one_name_and_squid_gets_dot_suffix() {
        let req = requirements();
        let text = "acl connect dstdomain abc.transport.connect.eu-central-1.amazonaws.com\n";
        let list = crate::allowlist::domains::parse_squid(
            text,
            Path::new("squid.conf"),
            Strictness::Strict,
        )
        .unwrap();
        let found = audit_domains(&list, &req.domains);
        let transport = found
            .checks
            .iter()
            .find(|c| c.id == "allowlist/domain/transport/eu-central-1")
            .unwrap();
        assert_eq!(transport.reason, Reason::MissingDomain);
        assert_eq!(
            transport.remedy.as_deref(),
            Some("add `.transport.connect.eu-central-1.amazonaws.com` to squid.conf")
        );
        assert!(
            found
                .domains
                .contains(&".telemetry.connect.eu-central-1.amazonaws.com".to_owned())
        );
        assert_eq!(
            list.addition_lines(&found.domains[..1])[0],
            "acl connect_preflight dstdomain acme.my.connect.aws"
        );
    }

    #[test]
    fn url_entries_cover_only_their_paths_and_ports() {
        let req = requirements();
        let instance = |text: &str| {
            let list = parse_plain(text, Path::new("u.txt"), Strictness::Strict).unwrap();
            let found = audit_domains(&list, &req.domains);
            found
                .checks
                .into_iter()
                .find(|c| c.id == "allowlist/domain/instance/eu-central-1")
                .unwrap()
        };
        let only_ccp = instance("https://acme.my.connect.aws/ccp-v2/*\n");
        assert_eq!(only_ccp.reason, Reason::MissingDomain);
        assert_eq!(
            only_ccp.evidence["missing_paths"],
            // The sign-in page is needed too, unless the agents sign in through SAML.
            serde_json::json!(["/api", "/auth/authorize", "/login"])
        );
        assert_eq!(
            only_ccp.remedy.as_deref(),
            Some(
                "add `https://acme.my.connect.aws/*` to u.txt so every path of acme.my.connect.aws is allowed"
            )
        );
        let all_three = instance(
            "https://acme.my.connect.aws/ccp-v2/*\nhttps://acme.my.connect.aws/api\nhttps://acme.my.connect.aws/auth/authorize\nhttps://acme.my.connect.aws/login\n",
        );
        assert_eq!(all_three.status, Status::Pass, "{all_three:#?}");
        assert_eq!(
            instance("https://acme.my.connect.aws/\n").status,
            Status::Pass
        );
        let other_port = instance("https://acme.my.connect.aws:8443/\n");
        assert_eq!(other_port.reason, Reason::WrongPort);
        assert!(
            other_port.detail.contains("tcp/8443"),
            "{}",
            other_port.detail
        );
    }

    #[test]
    fn retired_and_legacy_names_are_stale() {
        let req = requirements();
        let list = parse_plain(
            "*.awsglobalaccelerator.com\nacme.awsapps.com\n",
            Path::new("a"),
            Strictness::Strict,
        )
        .unwrap();
        let found = audit_domains(&list, &req.domains);
        let stale: Vec<&str> = by_reason(&found.checks, Reason::StaleEntry)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            stale,
            [
                "allowlist/entry/a:1:1/stale",
                "allowlist/entry/a:2:1/legacy"
            ]
        );
    }
}
