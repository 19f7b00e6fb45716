//! `audit`: the requirements of a Region and instance against the customer's allow-lists, fully
//! offline. One check per requirement (passing ones name the covering lines) and one per entry
//! worth a remark (over-broad, stale, duplicate, unreadable), plus the entries to add.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use ipnet::IpNet;

pub mod csvrules;
pub mod firewall;
pub mod netfilter;
pub mod nft;
pub mod ruleset;
pub mod sg_quota;

use crate::allowlist::cidrs::{Addition, CidrFormat, CidrList, Entries, SpaceRef};
use crate::allowlist::domains::{DomainEntry, DomainList, FastHash, NameIndex, Pattern};
use crate::allowlist::{Issue, IssueKind, Strictness};
use crate::catalog::{Direction, DomainRequirement, HostPattern, PortSpec, RangeRequirement};
use crate::cli::{AuditArgs, AuditFormat, CidrsFormat, DomainsFormat};
use crate::config::Config;
use crate::error::{Error, ExitCode, Result};
use crate::ranges::{self, IpSet, Snapshot};
use crate::report::{self, Check, CidrFix, Kind, Reason, Report, Status, Target};

/// How many covering lines or CIDRs a sentence names before "and N more".
const NAMED: usize = 5;

/// Names that open far more than Connect when allowed with a wildcard.
const BROAD_SUFFIXES: &[(&str, &str)] = &[
    (
        "amazonaws.com",
        "every AWS service endpoint and every S3 bucket in every Region, including content anyone can publish",
    ),
    ("amazon.com", "every Amazon site and service"),
    ("aws", "every name under the .aws top-level domain"),
    ("api.aws", "every dual-stack AWS API endpoint"),
];

/// Names AWS no longer lists for Connect.
const RETIRED_SUFFIXES: &[(&str, &str)] = &[(
    "awsglobalaccelerator.com",
    "AWS removed Global Accelerator from Connect's network requirements (it was listed until 2023)",
)];

/// What the audit found: checks, and what to add to each list.
#[derive(Debug, Default)]
pub struct Findings {
    pub checks: Vec<Check>,
    /// Domain entries to add, in the list's syntax, in requirement order.
    pub domains: Vec<String>,
    /// Address space to add per direction and port.
    pub additions: Vec<Addition>,
}

/// `file:line: text` for each entry, as findings name them.
pub(crate) fn lines_of<'a>(
    spans: impl IntoIterator<Item = (&'a crate::allowlist::Span, &'a str)>,
) -> Vec<String> {
    spans
        .into_iter()
        .map(|(span, text)| format!("{}: {text}", span.at_line()))
        .collect()
}

/// `a, b, c and 4 more`.
pub(crate) fn named(items: &[String]) -> String {
    if items.len() <= NAMED {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..NAMED].join(", "),
        items.len() - NAMED
    )
}

fn ports_label(ports: &[PortSpec]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn issue_check(issue: &Issue) -> Check {
    let detail = match issue.kind {
        IssueKind::Malformed => format!(
            "{}: {:?} could not be read (expected {}); it was skipped",
            issue.span, issue.text, issue.expected
        ),
        IssueKind::Unusable => format!(
            "{}: {:?} was not used: {}",
            issue.span, issue.text, issue.expected
        ),
    };
    Check::new(
        format!("allowlist/line/{}", issue.span),
        Kind::Allowlist,
        Status::Warn,
        Reason::SkippedEntry,
        detail,
    )
    .remedy(format!(
        "fix or remove line {} of {}",
        issue.span.line,
        issue.span.path.display()
    ))
    .evidence("line", issue.span.at_line())
    .evidence("text", &issue.text)
}

// ---------------------------------------------------------------------------------------------
// Domains

pub fn audit_domains(list: &DomainList, requirements: &[DomainRequirement]) -> Findings {
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
                .remedy(format!(
                    "add `{entry}` to {file} so every path of {} is allowed",
                    req.host
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
                .remedy(format!(
                    "add `{entry}` to {file} ({})",
                    ports_label(&req.ports)
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
                    .remedy(format!("add `{entry}` to {file}"))
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

fn domain_entry_checks(list: &DomainList, requirements: &[DomainRequirement]) -> Vec<Check> {
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
            let remedy = if inside.is_empty() {
                format!(
                    "Connect needs none of what `{}` at {at} opens; whether anything else does is for you to judge",
                    entry.text
                )
            } else {
                format!(
                    "replace `{}` at {at} with the {} entries Connect needs: {}",
                    entry.text,
                    inside.len(),
                    inside.join(" ")
                )
            };
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
                .remedy(format!(
                    "remove `{}` from {at} unless something other than Connect needs *.{retired}",
                    entry.text
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
                .remedy(format!(
                    "keep `{}` only while agents still open https://ALIAS.awsapps.com links, and make sure the my.connect.aws entries are in {}",
                    entry.text,
                    list.path.display()
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
                .remedy(format!(
                    "remove line {} of {}",
                    entry.span.line,
                    entry.span.path.display()
                ))
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
                .remedy(format!(
                    "remove line {} of {}",
                    entry.span.line,
                    entry.span.path.display()
                ))
                .evidence("line", &at)
                .evidence("shadowed_by", other.span.at_line()),
            );
        }
    }
    checks
}

// ---------------------------------------------------------------------------------------------
// PAC scripts and squid configurations: evaluated in their own files

mod pac;
pub mod squid;

pub use pac::audit_pac;

// ---------------------------------------------------------------------------------------------
// CIDRs

fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Outbound => "outbound to",
        Direction::Inbound => "inbound from",
    }
}

/// The union of many entries' spaces in one pass (folding unions would be quadratic).
fn union_of(entries: &Entries, which: &[usize]) -> IpSet {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for &i in which {
        let space = entries.space(i);
        v4.extend_from_slice(space.v4());
        v6.extend_from_slice(space.v6());
    }
    IpSet {
        v4: crate::ranges::set::Intervals::from_spans(v4),
        v6: crate::ranges::set::Intervals::from_spans(v6),
    }
}

/// The lowest and highest address of a space, per family, for cheap containment pre-checks.
fn bounds(space: SpaceRef<'_>) -> [Option<(u128, u128)>; 2] {
    let v4 = space.v4();
    let v6 = space.v6();
    [
        v4.first()
            .zip(v4.last())
            .map(|(a, b)| (u128::from(a.0), u128::from(b.1))),
        v6.first().zip(v6.last()).map(|(a, b)| (a.0, b.1)),
    ]
}

fn within(inner: &[Option<(u128, u128)>; 2], outer: &[Option<(u128, u128)>; 2]) -> bool {
    inner.iter().zip(outer).all(|(i, o)| match (i, o) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(i), Some(o)) => o.0 <= i.0 && i.1 <= o.1,
    })
}

/// Whether a space shares an address with a set, without building their intersection: each
/// span of the (usually one-span) space is looked up in the set by binary search.
fn intersects(a: SpaceRef<'_>, b: &IpSet) -> bool {
    fn spans_meet<T: Ord + Copy>(a: &[(T, T)], b: &[(T, T)]) -> bool {
        a.iter().any(|&(lo, hi)| {
            let i = b.partition_point(|&(_, end)| end < lo);
            b.get(i).is_some_and(|&(start, _)| start <= hi)
        })
    }
    spans_meet(a.v4(), b.v4.spans()) || spans_meet(a.v6(), b.v6.spans())
}

/// [`intersects`] for one set and many single spans, in about one step each: per family and for
/// every value of an address's top 12 bits, the first span of the set that ends at or after the
/// block of addresses with those bits, so that only the spans around one block are searched (the
/// tables are small enough to stay in the cache).
struct Meets<'a> {
    set: &'a IpSet,
    v4_first: Vec<u32>,
    v6_first: Vec<u32>,
}

/// The address bits that pick a block in [`Meets`].
const BLOCK_BITS: u32 = 12;

impl<'a> Meets<'a> {
    fn new(set: &'a IpSet) -> Self {
        fn firsts<T: Copy + Ord>(spans: &[(T, T)], block_start: impl Fn(u32) -> T) -> Vec<u32> {
            let mut out = Vec::with_capacity((1 << BLOCK_BITS) + 1);
            let mut i = 0;
            for block in 0..1u32 << BLOCK_BITS {
                let start = block_start(block);
                while i < spans.len() && spans[i].1 < start {
                    i += 1;
                }
                out.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
            out.push(u32::try_from(spans.len()).unwrap_or(u32::MAX));
            out
        }
        Self {
            set,
            v4_first: firsts(set.v4.spans(), |b| b << (32 - BLOCK_BITS)),
            v6_first: firsts(set.v6.spans(), |b| u128::from(b) << (128 - BLOCK_BITS)),
        }
    }

    /// Whether `lo..=hi`, starting in `block`, meets the spans. The first span ending at or after
    /// `lo` is at or after the block's first, and no later than the next block's.
    fn span<T: Copy + Ord>(spans: &[(T, T)], firsts: &[u32], block: usize, lo: T, hi: T) -> bool {
        let mut i = firsts[block] as usize;
        let to = (firsts[block + 1] as usize + 1).min(spans.len());
        if to - i > 8 {
            i += spans[i..to].partition_point(|&(_, end)| end < lo);
        } else {
            while i < to && spans[i].1 < lo {
                i += 1;
            }
        }
        i < spans.len() && spans[i].0 <= hi
    }

    fn space(&self, space: SpaceRef<'_>) -> bool {
        match space {
            SpaceRef::V4(&(lo, hi)) => {
                let block = (lo >> (32 - BLOCK_BITS)) as usize;
                Self::span(self.set.v4.spans(), &self.v4_first, block, lo, hi)
            }
            SpaceRef::V6(&(lo, hi)) => {
                let block = (lo >> (128 - BLOCK_BITS)) as usize;
                Self::span(self.set.v6.spans(), &self.v6_first, block, lo, hi)
            }
            SpaceRef::Set(_) => intersects(space, self.set),
        }
    }
}

fn cidr_strings(set: &IpSet) -> Vec<String> {
    set.to_cidrs().iter().map(ToString::to_string).collect()
}

/// `file:line: text` of entries, for the covering lines a check names.
fn entry_lines(entries: &Entries, which: &[usize]) -> Vec<String> {
    which
        .iter()
        .map(|&i| format!("{}: {}", entries.at_line(i), entries.text(i)))
        .collect()
}

/// `udp/3478`, `tcp/443,udp/3478` or `any port`, as
/// [`crate::allowlist::cidrs::CidrEntry::ports_label`].
fn entry_ports_label(entries: &Entries, i: usize) -> String {
    if any_port(entries.ports(i)) {
        return "any port".to_owned();
    }
    ports_label(entries.ports(i))
}

fn any_port(ports: &[PortSpec]) -> bool {
    crate::allowlist::cidrs::all_ports()
        .iter()
        .all(|p| ports.iter().any(|q| q.contains(p)))
}

pub fn audit_cidrs(list: &CidrList, rules: &[RangeRequirement], snapshot: &Snapshot) -> Findings {
    let mut out = Findings::default();
    let file = list.path.display().to_string();
    let entries = &list.entries;
    let needs: Vec<IpSet> = rules.iter().map(|r| r.space(snapshot)).collect();
    let all_needed = needs.iter().fold(IpSet::new(), |acc, n| acc.union(n));
    // Only entries that share an address with some rule's space can cover it, or allow part of
    // it on another port: one lookup per entry finds them (in the pass that judges every entry),
    // and the checks of every rule and port look at those alone (a handful, out of a whitelist
    // of any size).
    let scan = scan_entries(list, rules, snapshot, &all_needed);
    let hits = &scan.hits;
    let mut missing_by_port: BTreeMap<(u8, PortSpec), IpSet> = BTreeMap::new();
    for (rule, needed) in rules.iter().zip(&needs) {
        let from = rule.describe(snapshot);
        for port in &rule.ports {
            let same_dir = |i: &usize| entries.direction(*i) == rule.direction;
            let covering: Vec<usize> = hits
                .iter()
                .copied()
                .filter(|i| same_dir(i) && entries.allows(*i, port))
                .filter(|&i| intersects(entries.space(i), needed))
                .collect();
            // Entries that miss the needed space change nothing in it.
            let missing = needed.difference(&union_of(entries, &covering));
            let covering_lines = entry_lines(entries, &covering);
            let id = format!("allowlist/cidr/{}/{}", rule.id, port);
            let needed_count = needed.to_cidrs().len();
            let what = format!("{} {from} on {port}", direction_word(rule.direction));
            let check = if needed.is_empty() {
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Skip,
                    Reason::NotTested,
                    format!(
                        "{what}: the IP ranges of {} publish no address for it, so there is nothing to allow",
                        snapshot.create_date
                    ),
                )
            } else if missing.is_empty() {
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Pass,
                    Reason::Ok,
                    format!(
                        "{what}: all {needed_count} CIDRs are allowed by {}",
                        named(&covering_lines)
                    ),
                )
                .evidence("covered_by", &covering_lines)
            } else {
                let missing_cidrs = cidr_strings(&missing);
                let slot = missing_by_port
                    .entry((u8::from(rule.direction == Direction::Inbound), *port))
                    .or_default();
                *slot = slot.union(&missing);
                // The missing space is inside the needed one: only hits can allow any of it.
                let wrong: Vec<usize> = hits
                    .iter()
                    .copied()
                    .filter(|i| same_dir(i) && !entries.allows(*i, port))
                    .filter(|&i| intersects(entries.space(i), &missing))
                    .collect();
                let add = format!(
                    "add {port} {} {} in {file}",
                    direction_word(rule.direction),
                    named(&missing_cidrs)
                );
                let mut add = add;
                let check = if covering.is_empty() && !wrong.is_empty() {
                    let lines = entry_lines(entries, &wrong);
                    let at: Vec<String> = wrong.iter().map(|&i| entries.at_line(i)).collect();
                    add = format!("{add} (or extend the rule at {} to {port})", named(&at));
                    let theirs: BTreeSet<String> = wrong
                        .iter()
                        .map(|&i| entry_ports_label(entries, i))
                        .collect();
                    Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Fail,
                        Reason::WrongPort,
                        format!(
                            "{what}: the space is allowed only on {} ({}), not on {port}",
                            theirs.into_iter().collect::<Vec<_>>().join(", "),
                            named(&lines)
                        ),
                    )
                    .evidence("allowed_on_other_ports_by", &lines)
                } else if covering.is_empty() {
                    Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Fail,
                        Reason::MissingCidr,
                        format!("{what}: none of its {needed_count} CIDRs is allowed in {file}"),
                    )
                } else {
                    Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Fail,
                        Reason::PartialCidr,
                        format!(
                            "{what}: partly allowed by {}; not allowed: {}",
                            named(&covering_lines),
                            named(&missing_cidrs)
                        ),
                    )
                    .evidence("covered_by", &covering_lines)
                };
                check.remedy(add).evidence("missing", &missing_cidrs)
            };
            out.checks.push(
                check
                    .endpoint(port.first, port.proto)
                    .evidence("requirement", &rule.id)
                    .evidence("direction", rule.direction),
            );
        }
    }
    for ((inbound, port), set) in missing_by_port {
        out.additions.push(Addition {
            direction: if inbound == 1 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            port,
            nets: set.to_cidrs(),
        });
    }
    out.checks.extend(scan.checks);
    out.checks
        .extend(repeat_checks(entries, &scan.repeats, &scan.overbroad));
    out.checks.extend(list.issues.iter().map(issue_check));
    out
}

/// `16777216` as `16,777,216`.
fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether a prefix is short enough to call over-broad on its own.
fn too_short(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() <= 8,
        IpNet::V6(n) => n.prefix_len() <= 16,
    }
}

/// What a port list allows, worked out once per distinct list rather than once per entry.
struct PortFacts {
    any_port: bool,
    has_tcp: bool,
}

/// What one pass over the entries finds.
struct Scan {
    /// Entries that share an address with some rule's space, in file order.
    hits: Vec<usize>,
    /// Over-broad and stale entries, in file order.
    checks: Vec<Check>,
    /// Entries repeating an earlier one (the entry, the earlier one), in file order.
    repeats: Vec<(usize, usize)>,
    overbroad: BTreeSet<usize>,
}

/// One pass over a list of any size: which entries meet the rules' space, which are over-broad
/// or stale, which repeat an earlier entry. Each entry's slot and span are read once.
fn scan_entries(
    list: &CidrList,
    rules: &[RangeRequirement],
    snapshot: &Snapshot,
    all_needed: &IpSet,
) -> Scan {
    let entries = &list.entries;
    let mut scan = Scan {
        hits: Vec::new(),
        checks: Vec::new(),
        repeats: Vec::new(),
        overbroad: BTreeSet::new(),
    };
    let directions: BTreeSet<u8> = rules
        .iter()
        .map(|r| u8::from(r.direction == Direction::Inbound))
        .collect();
    let checked = [Direction::Outbound, Direction::Inbound]
        .map(|d| directions.contains(&u8::from(d == Direction::Inbound)));
    let facts: Vec<PortFacts> = entries
        .port_sets()
        .iter()
        .map(|ports| PortFacts {
            any_port: any_port(ports),
            has_tcp: ports.iter().any(|p| p.proto == crate::report::Proto::Tcp),
        })
        .collect();
    // UDP ports Connect's rules use: entries limited to them are media rules, whose space must be
    // published for the rules' services (in any Region).
    let mut media: Vec<(PortSpec, Direction, IpSet, String)> = Vec::new();
    for rule in rules {
        for port in rule
            .ports
            .iter()
            .filter(|p| p.proto == crate::report::Proto::Udp)
        {
            let everywhere = RangeRequirement {
                regions: vec!["*".to_owned()],
                ..rule.clone()
            };
            media.push((
                *port,
                rule.direction,
                everywhere.space(snapshot),
                rule.service.clone(),
            ));
        }
    }
    let meets = Meets::new(all_needed);
    scan.repeats = SeenTable::repeats(entries);
    for i in 0..entries.len() {
        let space = entries.space(i);
        if meets.space(space) {
            scan.hits.push(i);
        }
        let direction = entries.direction(i);
        if !checked[usize::from(direction == Direction::Inbound)] {
            continue;
        }
        let fact = &facts[entries.ports_id(i)];
        // Only a span of at least a /8 (a /16 of IPv6) can hold a prefix that short.
        let wide = space.v4().iter().any(|(a, b)| b - a >= (1 << 24) - 1)
            || space.v6().iter().any(|(a, b)| b - a >= (1 << 112) - 1);
        if !wide && (fact.any_port || fact.has_tcp) {
            continue;
        }
        let nets = if wide {
            space.to_set().to_cidrs()
        } else {
            Vec::new()
        };
        if nets.iter().any(too_short) {
            let at = entries.at_line(i);
            let text = entries.text(i);
            scan.overbroad.insert(i);
            let count: u128 = nets
                .iter()
                .map(|n| match n {
                    IpNet::V4(n) => 1u128 << (32 - n.prefix_len()),
                    IpNet::V6(n) => 1u128
                        .checked_shl(u32::from(128 - n.prefix_len()))
                        .unwrap_or(u128::MAX),
                })
                .fold(0u128, u128::saturating_add);
            let needed_here = cidr_strings(&space.to_set().intersection(all_needed));
            let opens = if nets.iter().any(|n| n.prefix_len() == 0) {
                "every address".to_owned()
            } else {
                format!("{} addresses", grouped(count))
            };
            scan.checks.push(
                Check::new(
                    format!("allowlist/entry/{}/overbroad", entries.span(i)),
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::OverbroadEntry,
                    format!(
                        "`{text}` at {at} opens {opens} on {} ({}), where Connect needs {} CIDRs",
                        entry_ports_label(entries, i),
                        direction_word(direction).trim_end_matches(" to").trim_end_matches(" from"),
                        needed_here.len()
                    ),
                )
                .remedy(format!(
                    "replace `{text}` at {at} with the CIDRs `connect-preflight endpoints --format cidrs` lists for these ports"
                ))
                .evidence("line", &at),
            );
            continue;
        }
        if fact.any_port || fact.has_tcp {
            continue;
        }
        for (port, media_direction, published, service) in &media {
            if direction != *media_direction || !entries.allows(i, port) {
                continue;
            }
            // Most entries lie inside one published span: no set to build for those.
            let inside = space
                .v4()
                .iter()
                .all(|&(lo, hi)| published.v4.covers(lo, hi))
                && space
                    .v6()
                    .iter()
                    .all(|&(lo, hi)| published.v6.covers(lo, hi));
            if inside {
                continue;
            }
            let unpublished = space.to_set().difference(published);
            if unpublished.is_empty() {
                continue;
            }
            let at = entries.at_line(i);
            let gone = cidr_strings(&unpublished);
            scan.checks.push(
                Check::new(
                    format!("allowlist/entry/{}/stale", entries.span(i)),
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::StaleEntry,
                    format!(
                        "`{}` {} at {at}: {} is not published for {service} in the IP ranges of {}",
                        entries.text(i),
                        entry_ports_label(entries, i),
                        named(&gone),
                        snapshot.create_date
                    ),
                )
                .remedy(format!(
                    "remove {} from {at}: AWS no longer publishes it for {service}",
                    named(&gone)
                ))
                .evidence("line", &at)
                .evidence("unpublished", &gone),
            );
            break;
        }
    }
    scan
}

/// Duplicates, and (in lists of up to 20,000 entries) entries inside another entry with the
/// same or more ports, in file order.
fn repeat_checks(
    entries: &Entries,
    repeats: &[(usize, usize)],
    overbroad: &BTreeSet<usize>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let duplicate = |i: usize, first: usize| {
        let at = entries.at_line(i);
        let text = entries.text(i);
        Check::new(
            format!("allowlist/entry/{}/duplicate", entries.span(i)),
            Kind::Allowlist,
            Status::Info,
            Reason::StaleEntry,
            format!(
                "`{text}` at {at} repeats {} (`{}`)",
                entries.at_line(first),
                entries.text(first)
            ),
        )
        .remedy(format!("remove `{text}` from {at}"))
        .evidence("line", &at)
        .evidence("duplicate_of", entries.at_line(first))
    };
    if entries.len() > 20_000 {
        checks.extend(repeats.iter().map(|&(i, first)| duplicate(i, first)));
        return checks;
    }
    let shadows = Shadows::new(entries);
    let mut repeats = repeats.iter().peekable();
    for i in 0..entries.len() {
        if let Some(&(_, first)) = repeats.next_if(|(r, _)| *r == i) {
            checks.push(duplicate(i, first));
            continue;
        }
        if overbroad.contains(&i) {
            continue;
        }
        if let Some(other) = shadows.first_container(entries, i, overbroad) {
            let at = entries.at_line(i);
            let text = entries.text(i);
            checks.push(
                Check::new(
                    format!("allowlist/entry/{}/shadowed", entries.span(i)),
                    Kind::Allowlist,
                    Status::Info,
                    Reason::StaleEntry,
                    format!(
                        "`{text}` ({}) at {at} is already allowed by `{}` ({}) at {}",
                        entry_ports_label(entries, i),
                        entries.text(other),
                        entry_ports_label(entries, other),
                        entries.at_line(other)
                    ),
                )
                .remedy(format!("remove `{text}` from {at}"))
                .evidence("line", &at)
                .evidence("shadowed_by", entries.at_line(other)),
            );
        }
    }
    checks
}

/// Whether entry `j` shadows entry `i`: same direction, every port of `i` allowed by one of `j`'s,
/// its space a superset of `i`'s, and not the same entry again (same space and ports both ways).
fn shadows_entry(entries: &Entries, i: usize, j: usize) -> bool {
    let (a, b) = (entries.space(i), entries.space(j));
    j != i
        && entries.direction(j) == entries.direction(i)
        && entries.ports(i).iter().all(|p| entries.allows(j, p))
        && b.is_superset(a)
        && !(a.is_superset(b) && entries.ports(j).iter().all(|p| entries.allows(i, p)))
}

/// Finds, for an entry, the first entry (in file order) whose space contains it and that
/// shadows it. Single spans are sorted by start, with a tree of the largest end below each
/// node, so the entries containing a span are found without looking at the others; the rare
/// entries of several spans are checked one by one.
#[derive(Default)]
struct Shadows {
    v4: SpanTree<u32>,
    v6: SpanTree<u128>,
    sets: Vec<usize>,
}

impl Shadows {
    fn new(entries: &Entries) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut sets = Vec::new();
        for i in 0..entries.len() {
            match entries.space(i) {
                SpaceRef::V4(&span) => v4.push((span, i)),
                SpaceRef::V6(&span) => v6.push((span, i)),
                SpaceRef::Set(_) => sets.push(i),
            }
        }
        Self {
            v4: SpanTree::new(v4),
            v6: SpanTree::new(v6),
            sets,
        }
    }

    fn first_container(
        &self,
        entries: &Entries,
        i: usize,
        overbroad: &BTreeSet<usize>,
    ) -> Option<usize> {
        let space = entries.space(i);
        let fits = |j: usize| !overbroad.contains(&j) && shadows_entry(entries, i, j);
        let mut best: Option<usize> = None;
        let mut consider = |j: usize| {
            if best.is_none_or(|b| j < b) && fits(j) {
                best = Some(j);
            }
        };
        match space {
            SpaceRef::V4(&(lo, hi)) => {
                self.v4.containing(lo, hi, &mut consider);
                self.sets.iter().for_each(|&j| consider(j));
            }
            SpaceRef::V6(&(lo, hi)) => {
                self.v6.containing(lo, hi, &mut consider);
                self.sets.iter().for_each(|&j| consider(j));
            }
            SpaceRef::Set(_) => {
                // As before: every entry whose bounds hold this one's.
                let inner = bounds(space);
                for j in 0..entries.len() {
                    if within(&inner, &bounds(entries.space(j))) {
                        consider(j);
                    }
                }
            }
        }
        best
    }
}

/// Spans sorted by start, with the largest end of every subtree of an implicit binary tree over
/// them: the spans holding `lo..=hi` are those starting at or before `lo` whose end reaches
/// `hi`, and subtrees that end too early are skipped whole.
struct SpanTree<T> {
    spans: Vec<((T, T), usize)>,
    max_end: Vec<T>,
}

impl<T> Default for SpanTree<T> {
    fn default() -> Self {
        Self {
            spans: Vec::new(),
            max_end: Vec::new(),
        }
    }
}

impl<T: Ord + Copy> SpanTree<T> {
    fn new(mut spans: Vec<((T, T), usize)>) -> Self {
        spans.sort_unstable();
        let mut max_end = Vec::new();
        if !spans.is_empty() {
            // Halving ranges make a tree of depth ceil(log2 n): nodes below 2 * 2^depth.
            max_end.resize(spans.len().next_power_of_two() * 2, spans[0].0.1);
            Self::build(&spans, &mut max_end, 1, 0, spans.len());
        }
        Self { spans, max_end }
    }

    fn build(
        spans: &[((T, T), usize)],
        max_end: &mut [T],
        node: usize,
        from: usize,
        to: usize,
    ) -> T {
        let end = if to - from == 1 {
            spans[from].0.1
        } else {
            let mid = from + (to - from) / 2;
            let left = Self::build(spans, max_end, node * 2, from, mid);
            let right = Self::build(spans, max_end, node * 2 + 1, mid, to);
            left.max(right)
        };
        max_end[node] = end;
        end
    }

    /// Calls `found` with the index of every span holding `lo..=hi`.
    fn containing(&self, lo: T, hi: T, found: &mut impl FnMut(usize)) {
        let upto = self.spans.partition_point(|((start, _), _)| *start <= lo);
        if upto > 0 {
            self.visit(1, 0, self.spans.len(), upto, hi, found);
        }
    }

    fn visit(
        &self,
        node: usize,
        from: usize,
        to: usize,
        upto: usize,
        hi: T,
        found: &mut impl FnMut(usize),
    ) {
        if from >= upto || self.max_end[node] < hi {
            return;
        }
        if to - from == 1 {
            found(self.spans[from].1);
            return;
        }
        let mid = from + (to - from) / 2;
        self.visit(node * 2, from, mid, upto, hi, found);
        self.visit(node * 2 + 1, mid, to, upto, hi, found);
    }
}

/// The first entry with the same space, ports and direction as each entry: an open-addressing
/// table of entry numbers with a 32-bit fingerprint each, so that a probe rarely touches an
/// entry (a map of owned keys cost three allocations and a hash of every span per line).
struct SeenTable {
    slots: Vec<u64>,
    mask: usize,
}

impl SeenTable {
    fn new(n: usize) -> Self {
        let size = (n + n / 4 + 1).next_power_of_two().max(16);
        Self {
            slots: vec![0; size],
            mask: size - 1,
        }
    }

    fn hash(entries: &Entries, i: usize) -> u64 {
        // Independent multiplications of the key's words, then a final mix: a few cycles, and
        // good enough for a table whose keys could at worst be made to collide into slower
        // probing.
        const K: [u64; 4] = [
            0x9e37_79b9_7f4a_7c15,
            0xc2b2_ae3d_27d4_eb4f,
            0x1656_67b1_9e37_79f9,
            0xd6e8_feb8_6659_fd93,
        ];
        let tag = (entries.ports_id(i) as u64) << 2
            | u64::from(entries.direction(i) == Direction::Inbound) << 1;
        let (a, b, c) = match entries.space(i) {
            SpaceRef::V4(&(lo, hi)) => (u64::from(lo) << 32 | u64::from(hi), 0, tag),
            SpaceRef::V6(&(lo, hi)) => (
                lo as u64 ^ ((lo >> 64) as u64).rotate_left(29),
                hi as u64 ^ ((hi >> 64) as u64).rotate_left(37),
                tag | 1,
            ),
            SpaceRef::Set(set) => {
                let mut h = 0u64;
                for &(lo, hi) in set.v4.spans() {
                    h = (h ^ (u64::from(lo) << 32 | u64::from(hi))).wrapping_mul(K[0]);
                }
                for &(lo, hi) in set.v6.spans() {
                    h = (h ^ lo as u64 ^ (lo >> 64) as u64).wrapping_mul(K[1]);
                    h = (h ^ hi as u64 ^ (hi >> 64) as u64).wrapping_mul(K[2]);
                }
                (h, h.rotate_left(31), tag | 1 << 63)
            }
        };
        let mut h = a.wrapping_mul(K[0]) ^ b.wrapping_mul(K[1]) ^ c.wrapping_mul(K[2]);
        h ^= h >> 32;
        h = h.wrapping_mul(K[3]);
        h ^= h >> 29;
        h
    }

    fn same(entries: &Entries, i: usize, j: usize) -> bool {
        let (a, b) = (entries.space(i), entries.space(j));
        entries.ports_id(i) == entries.ports_id(j)
            && entries.direction(i) == entries.direction(j)
            && a.v4() == b.v4()
            && a.v6() == b.v6()
    }

    /// Every entry repeating an earlier one, with the first of its kind, in file order.
    fn repeats(entries: &Entries) -> Vec<(usize, usize)> {
        // Hashing a batch of entries before probing for any of them keeps the (independent)
        // hash computations apart from the probes' cache misses: measurably faster than
        // hashing and probing entry by entry.
        const BATCH: usize = 16;
        let mut table = Self::new(entries.len());
        let mut out = Vec::new();
        let mut hashes = [0u64; BATCH];
        for start in (0..entries.len()).step_by(BATCH) {
            let end = (start + BATCH).min(entries.len());
            for (k, i) in (start..end).enumerate() {
                hashes[k] = Self::hash(entries, i);
            }
            for (k, i) in (start..end).enumerate() {
                if let Some(first) = table.first_of(entries, i, hashes[k]) {
                    out.push((i, first));
                }
            }
        }
        out
    }

    /// The earlier entry `i` repeats, or `None` after recording `i` as the first of its kind.
    fn first_of(&mut self, entries: &Entries, i: usize, h: u64) -> Option<usize> {
        let fingerprint = h >> 32;
        let mut at = (h as usize) & self.mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                self.slots[at] = fingerprint << 32 | (i as u64 + 1);
                return None;
            }
            let j = (slot & 0xffff_ffff) as usize - 1;
            if slot >> 32 == fingerprint && Self::same(entries, i, j) {
                return Some(j);
            }
            at = (at + 1) & self.mask;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The command

/// Everything one run read and decided, for the renderers.
pub struct Outcome {
    pub report: Report,
    pub domains: Option<(DomainList, Vec<String>)>,
    pub cidrs: Option<(CidrList, Vec<Addition>)>,
    /// A ruleset evaluated as the kernel walks it, with its fixes.
    pub ruleset: Option<(std::path::PathBuf, ruleset::Syntax, ruleset::Audited)>,
}

/// Reads the lists, audits them, and builds the report. Pure but for reading the named files.
pub fn audit(
    config: &Config,
    args: &AuditArgs,
    snapshot: &Snapshot,
    started_at: String,
) -> Result<Outcome> {
    let domains_path = args
        .domains
        .clone()
        .or_else(|| config.profile.domains.clone());
    let cidrs_path = args.cidrs.clone().or_else(|| config.profile.cidrs.clone());
    if domains_path.is_none() && cidrs_path.is_none() {
        return Err(Error::usage(
            "give the list to audit: --domains FILE (the domain allow-list) and/or --cidrs FILE (the firewall whitelist), or put domains/cidrs in the site profile",
        ));
    }
    if args.fix_output.is_some() && domains_path.is_some() && cidrs_path.is_some() {
        return Err(Error::usage(
            "--fix-output writes a copy of one list: give --domains or --cidrs alone with it",
        ));
    }
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let strictness = if args.lenient {
        Strictness::Lenient
    } else {
        Strictness::Strict
    };
    let mut checks = Vec::new();
    let mut fixes = report::Fixes::default();
    let domains = match &domains_path {
        Some(path) => {
            let text = crate::allowlist::read_text(path)?;
            let format = args.domains_format.unwrap_or_else(|| {
                if crate::allowlist::pac::looks_like_pac(&text) {
                    DomainsFormat::Pac
                } else if crate::allowlist::domains::looks_like_squid(&text) {
                    DomainsFormat::Squid
                } else {
                    DomainsFormat::Plain
                }
            });
            if format == DomainsFormat::Pac {
                if args.fix_output.is_some() {
                    return Err(Error::usage(
                        "--fix-output cannot edit a PAC script: it is a program, not a list",
                    ));
                }
                checks.extend(audit_pac(&text, path, &requirements.domains)?);
                None
            } else {
                let squid = format == DomainsFormat::Squid;
                let mut list = DomainList::parse(&text, path, Some(squid), strictness)?;
                let found = if squid {
                    squid::audit(
                        &text,
                        path,
                        &mut list,
                        &requirements.domains,
                        &args.firewall.from,
                    )
                } else {
                    audit_domains(&list, &requirements.domains)
                };
                checks.extend(found.checks);
                fixes.domains.clone_from(&found.domains);
                Some((list, found.domains))
            }
        }
        None => None,
    };
    let mut rules_found = None;
    let cidrs = match &cidrs_path {
        Some(path) => match ruleset::syntax_of(path, args.cidrs_format)? {
            Some((syntax, text)) => {
                let options = ruleset::options(&args.firewall)?;
                let rules = ruleset::read(&text, path, syntax, strictness)?;
                let reread = |t: &str| ruleset::read(t, path, syntax, Strictness::Lenient).ok();
                let found = ruleset::audit(
                    &rules,
                    syntax,
                    &text,
                    path,
                    &requirements.rules,
                    snapshot,
                    &options,
                    &reread,
                );
                checks.extend(found.checks.iter().cloned());
                fixes.cidrs.extend(found.fixes.iter().cloned());
                fixes.notes.extend(found.notes.iter().cloned());
                rules_found = Some((path.clone(), syntax, found));
                None
            }
            None => {
                let format = args.cidrs_format.map(|f| match f {
                    CidrsFormat::Plain => CidrFormat::Plain,
                    CidrsFormat::Csv => CidrFormat::Csv,
                    CidrsFormat::Iptables => CidrFormat::Iptables,
                    CidrsFormat::Nft => CidrFormat::Nft,
                    CidrsFormat::AwsSg => CidrFormat::AwsSg,
                });
                let list = CidrList::read(path, format, strictness)?;
                let found = audit_cidrs(&list, &requirements.rules, snapshot);
                checks.extend(found.checks);
                if list.format == CidrFormat::AwsSg {
                    let text = crate::allowlist::read_text(path)?;
                    checks.extend(sg_quota::checks(&text, path, &found.additions));
                }
                for a in &found.additions {
                    for net in &a.nets {
                        fixes.cidrs.push(CidrFix {
                            cidr: net.to_string(),
                            proto: a.port.proto,
                            port: a.port.ports(),
                        });
                    }
                }
                let v6 = found
                    .additions
                    .iter()
                    .flat_map(|a| &a.nets)
                    .filter(|n| n.addr().is_ipv6())
                    .count();
                let v6_elsewhere = match list.format {
                    CidrFormat::Iptables => !list.layout.ipv6,
                    CidrFormat::Nft => list
                        .layout
                        .nft_table
                        .as_ref()
                        .is_some_and(|(f, _)| f == "ip"),
                    _ => false,
                };
                if v6 > 0 && v6_elsewhere {
                    fixes.notes.push(format!(
                    "{v6} of the CIDRs to add are IPv6, which {} does not filter: they are written as comments; add them to the IPv6 rules (ip6tables, or an ip6/inet nft table)",
                    path.display()
                ));
                }
                Some((list, found.additions))
            }
        },
        None => None,
    };
    let target = Target {
        instance: requirements.instance.clone(),
        region: Some(requirements.region.clone()),
        partner_region: requirements.partner_region.clone(),
        features: selection
            .features
            .iter()
            .map(|g| g.name().to_owned())
            .collect(),
        site: config.site.clone(),
    };
    let mut report = Report::new("audit", target, started_at, checks);
    report.fixes = fixes;
    Ok(Outcome {
        report,
        domains,
        cidrs,
        ruleset: rules_found,
    })
}

/// The block that ends the text output: the lines to paste into each list, in its syntax.
pub fn what_to_add(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some((list, entries)) = &outcome.domains {
        let lines = list.addition_lines(entries);
        if !lines.is_empty() {
            let place = match (list.syntax, list.insert_after_line) {
                (crate::allowlist::domains::DomainSyntax::Squid, Some(after)) => {
                    format!(", before line {}", after + 1)
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "\nWhat to add to {}{place} (paste as is):",
                list.path.display()
            );
            for line in lines {
                let _ = writeln!(out, "{}", crate::sanitize::for_terminal(&line, 4096));
            }
        }
    }
    if let Some((path, syntax, found)) = &outcome.ruleset {
        out.push_str(&ruleset::what_to_add(found, path, *syntax));
    }
    if let Some((list, additions)) = &outcome.cidrs {
        let lines = list.addition_lines(additions);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "\nWhat to add to {} ({} syntax, paste as is):",
                list.path.display(),
                list.format.name()
            );
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// The text report, whose generic "What to fix" block gives way to the lines to paste in each
/// list's own syntax.
pub fn text(outcome: &Outcome, palette: report::text::Palette) -> String {
    let mut shown = outcome.report.clone();
    shown.fixes = report::Fixes {
        notes: outcome.report.fixes.notes.clone(),
        ..report::Fixes::default()
    };
    let mut out = report::text::render(&shown, palette);
    out.push_str(&what_to_add(outcome));
    out
}

/// One row per check.
pub fn csv(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "id", "kind", "status", "reason", "host", "proto", "port", "detail", "remedy", "evidence",
    ]);
    for c in &report.checks {
        let evidence = serde_json::to_string(&c.evidence).unwrap_or_default();
        let _ = w.write_record([
            c.id.as_str(),
            c.kind.as_str(),
            &format!("{:?}", c.status).to_ascii_lowercase(),
            c.reason.code(),
            c.host.as_deref().unwrap_or(""),
            c.proto.map_or("", |p| p.as_str()),
            &c.port.map(|p| p.to_string()).unwrap_or_default(),
            &c.detail,
            c.remedy.as_deref().unwrap_or(""),
            &evidence,
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A copy of the one list audited, with the additions, for `--fix-output`.
pub fn fixed_copy(outcome: &Outcome) -> Result<String> {
    if let Some((list, entries)) = &outcome.domains {
        let original = crate::allowlist::read_text(&list.path)?;
        return Ok(list.with_additions(&original, entries));
    }
    if let Some((list, additions)) = &outcome.cidrs {
        let original = crate::allowlist::read_text(&list.path)?;
        return Ok(list.with_additions(&original, additions));
    }
    if let Some((path, _, found)) = &outcome.ruleset {
        return match &found.fixed {
            Some(fixed) => Ok(fixed.clone()),
            None => crate::allowlist::read_text(path),
        };
    }
    Ok(String::new())
}

pub fn run(config: &Config, args: &AuditArgs, warnings: &mut Vec<String>) -> Result<ExitCode> {
    let started = crate::clock::now();
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let provenance = snapshot.provenance(started);
    if provenance.age_days > ranges::NOTICE_DAYS {
        warnings.push(format!(
            "the IP ranges in use were published {}, {} days ago: the audit cannot see ranges AWS added since; run `connect-preflight ranges update` (or pass --ip-ranges with a current ip-ranges.json)",
            provenance.create_date, provenance.age_days
        ));
    }
    let mut outcome = audit(config, args, &snapshot, crate::clock::rfc3339(started))?;
    outcome.report.ranges = Some(provenance);
    // What the audit was measured against: the catalog's origin and age.
    outcome
        .report
        .checks
        .push(crate::catalog_info::provenance_check(
            &config.catalog()?,
            started,
        ));
    outcome.report.counts = report::Counts::of(&outcome.report.checks);
    outcome.report.duration_ms =
        u64::try_from((crate::clock::now() - started).whole_milliseconds()).unwrap_or(0);
    if let Some(path) = &args.fix_output {
        if same_file(path, outcome.domains.as_ref().map(|d| d.0.path.as_path()))
            || same_file(path, outcome.cidrs.as_ref().map(|c| c.0.path.as_path()))
            || same_file(path, outcome.ruleset.as_ref().map(|r| r.0.as_path()))
        {
            return Err(Error::usage(
                "--fix-output must name a new file: the list audited is never modified",
            ));
        }
        let copy = fixed_copy(&outcome)?;
        crate::output::write_atomically(path, copy.as_bytes())?;
    }
    let text = match args.format {
        AuditFormat::Json => report::json::render(&outcome.report),
        AuditFormat::Csv => csv(&outcome.report),
        AuditFormat::Html => report::html::render(&outcome.report),
        AuditFormat::Junit => report::junit::render(&outcome.report),
        AuditFormat::Text => {
            let color = config.output.is_none() && config.color.for_stdout();
            text(&outcome, report::text::Palette::new(color))
        }
    };
    crate::output::emit(config.output.as_deref(), &text)?;
    Ok(outcome.report.verdict.into())
}

fn same_file(a: &Path, b: Option<&Path>) -> bool {
    let Some(b) = b else { return false };
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowlist::domains::parse_plain;
    use crate::catalog::{Catalog, Instance, Selection};

    fn requirements() -> crate::catalog::Requirements {
        Catalog::embedded()
            .requirements(&Selection {
                region: "eu-central-1".into(),
                instance: Some(Instance::parse("acme").unwrap()),
                ..Selection::default()
            })
            .unwrap()
    }

    fn by_reason(checks: &[Check], reason: Reason) -> Vec<&Check> {
        checks.iter().filter(|c| c.reason == reason).collect()
    }

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
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(16_777_216), "16,777,216");
        assert_eq!(grouped(4_294_967_296), "4,294,967,296");
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

    fn cidr_list(text: &str) -> CidrList {
        CidrList::parse(text, Path::new("fw.txt"), None, Strictness::Strict).unwrap()
    }

    #[test]
    fn cidr_gaps_are_minimal_and_per_port() {
        let req = requirements();
        let snapshot = Snapshot::embedded();
        let media = req
            .rules
            .iter()
            .find(|r| r.service == "AMAZON_CONNECT")
            .cloned()
            .unwrap();
        // Half of the /19 and one regional block; the /40 not at all.
        let list =
            cidr_list("15.193.0.0/20 udp/3478\n15.193.16.0/20 tcp/443\n18.184.2.128/25 udp/3478\n");
        let found = audit_cidrs(&list, std::slice::from_ref(&media), &snapshot);
        let check = &found.checks[0];
        assert_eq!(check.reason, Reason::PartialCidr);
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.evidence["missing"],
            serde_json::json!(["15.193.16.0/20", "35.158.127.64/26", "2600:f0f2:7100::/40"])
        );
        assert!(
            check.detail.contains("fw.txt:1") && check.detail.contains("fw.txt:3"),
            "{}",
            check.detail
        );
        assert_eq!(found.additions.len(), 1);
        assert_eq!(
            found.additions[0].port,
            PortSpec::single(crate::report::Proto::Udp, 3478)
        );
        assert_eq!(found.additions[0].nets.len(), 3);
        // Only TCP for the whole space: wrong port.
        let list = cidr_list(
            "15.193.0.0/19 tcp/443\n18.184.2.128/25 tcp/443\n35.158.127.64/26 tcp/443\n2600:f0f2:7100::/40 tcp/443\n",
        );
        let found = audit_cidrs(&list, std::slice::from_ref(&media), &snapshot);
        assert_eq!(found.checks[0].reason, Reason::WrongPort);
        assert!(
            found.checks[0].detail.contains("only on tcp/443"),
            "{}",
            found.checks[0].detail
        );
        let remedy = found.checks[0].remedy.as_deref().unwrap();
        assert!(
            remedy.starts_with("add udp/3478 outbound to 15.193.0.0/19")
                && remedy.ends_with(
                    "(or extend the rule at fw.txt:1, fw.txt:2, fw.txt:3, fw.txt:4 to udp/3478)"
                ),
            "{remedy}"
        );
        // Nothing: missing.
        let list = cidr_list("10.0.0.0/8 tcp/443\n");
        let found = audit_cidrs(&list, std::slice::from_ref(&media), &snapshot);
        assert_eq!(found.checks[0].reason, Reason::MissingCidr);
    }

    #[test]
    fn overbroad_stale_duplicate_and_shadowed_cidrs() {
        let req = requirements();
        let snapshot = Snapshot::embedded();
        let list = cidr_list(
            "0.0.0.0/0 tcp/443\n::/0 tcp/443\n15.193.0.0/19 udp/3478\n15.193.4.0/24 udp/3478\n15.193.0.0/19 udp/3478\n15.194.0.0/24 udp/3478\n",
        );
        let found = audit_cidrs(&list, &req.rules, &snapshot);
        let find = |suffix: &str| {
            found
                .checks
                .iter()
                .find(|c| c.id.ends_with(suffix))
                .unwrap_or_else(|| panic!("{suffix}: {:#?}", found.checks))
        };
        let broad = find("fw.txt:1:1/overbroad");
        assert_eq!(broad.reason, Reason::OverbroadEntry);
        assert!(broad.detail.contains("every address"), "{}", broad.detail);
        assert_eq!(find("fw.txt:4:1/shadowed").status, Status::Info);
        assert_eq!(find("fw.txt:5:1/duplicate").reason, Reason::StaleEntry);
        let stale = find("fw.txt:6:1/stale");
        assert_eq!(stale.status, Status::Warn);
        assert!(
            stale.detail.contains("15.194.0.0/24") && stale.detail.contains("AMAZON_CONNECT"),
            "{}",
            stale.detail
        );
        // 0.0.0.0/0 on tcp/443 covers EC2 and CloudFront.
        assert!(
            found
                .checks
                .iter()
                .filter(|c| c.id.starts_with("allowlist/cidr/")
                    && c.proto == Some(crate::report::Proto::Tcp))
                .all(|c| c.status == Status::Pass)
        );
    }

    #[test]
    fn text_report_ends_with_lines_to_paste() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("bypass.txt");
        std::fs::write(
            &list,
            "acme.my.connect.aws\n*.cloudfront.net\n*.amazonaws.com\n10.0.0.1\n*.awsglobalaccelerator.com\n",
        )
        .unwrap();
        let config = Config {
            region: Some("eu-central-1".into()),
            instance: Some(Instance::parse("acme").unwrap()),
            ..Config::default()
        };
        let args = AuditArgs {
            target: crate::cli::TargetArgs::default(),
            domains: Some(list),
            cidrs: None,
            domains_format: None,
            cidrs_format: None,
            lenient: false,
            fix_output: None,
            firewall: crate::cli::FirewallArgs::default(),
            format: AuditFormat::Text,
        };
        let outcome = audit(
            &config,
            &args,
            &Snapshot::embedded(),
            "2026-11-24T00:00:00Z".into(),
        )
        .unwrap();
        let text = text(&outcome, report::text::Palette::plain())
            .replace(&dir.path().display().to_string(), "<dir>");
        insta::assert_snapshot!(text);
    }

    proptest::proptest! {
        /// The CIDRs to add are exactly the needed space minus what entries on the right port allow.
        #[test]
        fn additions_are_the_uncovered_space(
            rows in proptest::collection::vec((0u32..64, 19u8..=28, proptest::prelude::any::<bool>()), 0..12)
        ) {
            static MEDIA: std::sync::OnceLock<(Snapshot, RangeRequirement)> = std::sync::OnceLock::new();
            let (snapshot, media) = MEDIA.get_or_init(|| {
                let media = requirements().rules.into_iter().find(|r| r.service == "AMAZON_CONNECT").unwrap();
                (Snapshot::embedded(), media)
            });
            let needed = media.space(snapshot);
            // Networks in and around 15.193.0.0/19, some on the right port and some not.
            let mut text = String::new();
            let mut allowed = IpSet::new();
            for (block, len, udp) in rows {
                let addr = std::net::Ipv4Addr::from(0x0fc1_0000 + (block << 10));
                let net = IpNet::new(std::net::IpAddr::V4(addr), len).unwrap().trunc();
                let port = if udp { "udp/3478" } else { "tcp/3478" };
                text.push_str(&format!("{net} {port}\n"));
                if udp {
                    allowed = allowed.union(&IpSet::from_nets(&[net]));
                }
            }
            let list = CidrList::parse(&text, Path::new("p"), None, Strictness::Strict).unwrap();
            let found = audit_cidrs(&list, std::slice::from_ref(media), snapshot);
            let expected = needed.difference(&allowed).to_cidrs();
            let got: Vec<IpNet> = found.additions.iter().flat_map(|a| a.nets.clone()).collect();
            proptest::prop_assert_eq!(got, expected.clone());
            let check = &found.checks[0];
            proptest::prop_assert_eq!(check.status == Status::Pass, expected.is_empty());
        }

        #[test]
        fn meets_agrees_with_intersects(
            set in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..1 << 20), 0..40),
            spans in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..1 << 18), 1..40),
        ) {
            let set = IpSet {
                v4: crate::ranges::set::Intervals::from_spans(set.iter().map(|&(lo, len)| (lo, lo.saturating_add(len)))),
                v6: crate::ranges::set::Intervals::from_spans(set.iter().map(|&(lo, len)| {
                    let lo = u128::from(lo) << 96;
                    (lo, lo.saturating_add(u128::from(len) << 90))
                })),
            };
            let meets = Meets::new(&set);
            for &(lo, len) in &spans {
                let v4 = (lo, lo.saturating_add(len));
                proptest::prop_assert_eq!(meets.space(SpaceRef::V4(&v4)), intersects(SpaceRef::V4(&v4), &set));
                let lo6 = u128::from(lo) << 96;
                let v6 = (lo6, lo6.saturating_add(u128::from(len) << 88));
                proptest::prop_assert_eq!(meets.space(SpaceRef::V6(&v6)), intersects(SpaceRef::V6(&v6), &set));
            }
        }

        #[test]
        fn intersects_agrees_with_the_intersection(
            a in proptest::collection::vec((0u32..4096, 0u32..64), 0..6),
            b in proptest::collection::vec((0u32..4096, 0u32..64), 0..6),
        ) {
            let set = |spans: &[(u32, u32)]| IpSet {
                v4: crate::ranges::set::Intervals::from_spans(spans.iter().map(|&(lo, len)| (lo, lo + len))),
                v6: crate::ranges::set::Intervals::default(),
            };
            let (a, b) = (set(&a), set(&b));
            proptest::prop_assert_eq!(intersects(SpaceRef::Set(&a), &b), !a.intersection(&b).is_empty());
        }
    }

    #[test]
    fn endpoints_output_audits_clean() {
        let req = requirements();
        let snapshot = Snapshot::embedded();
        let listing = crate::endpoints::Listing::new(
            &req,
            None,
            &snapshot,
            snapshot.provenance(crate::clock::now()),
            crate::catalog::Catalog::embedded().provenance(crate::clock::now()),
        );
        let text = crate::endpoints::cidrs(&listing);
        let list = cidr_list(&text);
        let found = audit_cidrs(&list, &req.rules, &snapshot);
        assert!(
            found.checks.iter().all(|c| c.status == Status::Pass),
            "{:#?}",
            found
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass)
                .collect::<Vec<_>>()
        );
        assert!(found.additions.is_empty());
        let domains = crate::endpoints::domains(&listing);
        let list = parse_plain(&domains, Path::new("d"), Strictness::Strict).unwrap();
        let found = audit_domains(&list, &req.domains);
        // AWS lists *.apps.signin.aws beside *.signin.aws, which covers it: information only.
        assert!(
            found
                .checks
                .iter()
                .all(|c| c.status == Status::Pass || c.status == Status::Info),
            "{:#?}",
            found.checks
        );
    }
}
