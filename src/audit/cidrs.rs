//! The CIDR whitelist (plain lines, CSV, security groups) against the published address space
//! Connect needs: one check per range requirement, per direction and port, the minimal CIDRs to
//! add, and one check per entry worth a remark (over-broad, stale, duplicate, shadowed).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::*;
use crate::allowlist::cidrs::{Addition, CidrList, Entries, SpaceRef};
use crate::catalog::RangeRequirement;
use crate::net::{Direction, PortRange};
use crate::ranges::span_tree::SpanTree;
use crate::ranges::{IpSet, Snapshot};
use crate::report::{Check, Kind, Reason, Status};

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

fn any_port(ports: &[PortRange]) -> bool {
    crate::allowlist::cidrs::all_ports()
        .iter()
        .all(|p| ports.iter().any(|q| q.contains(p)))
}

pub(crate) fn audit_cidrs(
    list: &CidrList,
    rules: &[RangeRequirement],
    snapshot: &Snapshot,
) -> Findings {
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
    let mut missing_by_port: BTreeMap<(u8, PortRange), IpSet> = BTreeMap::new();
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
                nothing_published(id, &what, snapshot)
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
                let mut extend_at = None;
                let check = if covering.is_empty() && !wrong.is_empty() {
                    let lines = entry_lines(entries, &wrong);
                    let at: Vec<String> = wrong.iter().map(|&i| entries.at_line(i)).collect();
                    extend_at = Some(named(&at));
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
                let add = crate::remedy::add_cidr(
                    &port.to_string(),
                    rule.direction,
                    &named(&missing_cidrs),
                    &file,
                    extend_at.as_deref(),
                );
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
            has_tcp: ports.iter().any(|p| p.proto == crate::net::Protocol::Tcp),
        })
        .collect();
    // UDP ports Connect's rules use: entries limited to them are media rules, whose space must be
    // published for the rules' services (in any Region).
    let mut media: Vec<(PortRange, Direction, IpSet, String)> = Vec::new();
    for rule in rules {
        for port in rule
            .ports
            .iter()
            .filter(|p| p.proto == crate::net::Protocol::Udp)
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
                        direction_word(direction)
                            .trim_end_matches(" to")
                            .trim_end_matches(" from"),
                        needed_here.len()
                    ),
                )
                .remedy(crate::remedy::overbroad_cidr(&text, &at))
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
                .remedy(crate::remedy::unpublished(&named(&gone), &at, service))
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
        .remedy(crate::remedy::remove_entry(&text, &at))
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
                .remedy(crate::remedy::remove_entry(&text, &at))
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

/// The first entry with the same space, ports and direction as each entry: a
/// `hashbrown::HashTable` of entry numbers, hashed and compared through the entries' compact
/// tables (a map of owned keys cost three allocations and a hash of every span per line).
/// `cargo bench --bench ranges` measured it faster than the open-addressing table written here
/// before, on 1,000,000 keys with the same hashes: 24-26 ms against 28-29 ms (release build,
/// median of 21 runs, two runs on a quiet moment of a shared 2-core machine; 64 against 173 ms
/// under load), so the crate does the job. (Two earlier runs under heavy load had the hand-made
/// table about 8 % ahead; the quiet runs decide.)
struct SeenTable;

impl SeenTable {
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
        let mut table: hashbrown::HashTable<u32> =
            hashbrown::HashTable::with_capacity(entries.len());
        let mut out = Vec::new();
        let mut hashes = [0u64; BATCH];
        for start in (0..entries.len()).step_by(BATCH) {
            let end = (start + BATCH).min(entries.len());
            for (k, i) in (start..end).enumerate() {
                hashes[k] = Self::hash(entries, i);
            }
            for (k, i) in (start..end).enumerate() {
                // Entry numbers fit in 32 bits: the entry tables index them so (cidrs::INDEX_MASK).
                let seen = table.find(hashes[k], |&j| Self::same(entries, i, j as usize));
                match seen {
                    Some(&first) => out.push((i, first as usize)),
                    None => {
                        table.insert_unique(hashes[k], i as u32, |&j| {
                            Self::hash(entries, j as usize)
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    use crate::allowlist::Strictness;
    use crate::audit::testing::requirements;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(16_777_216), "16,777,216");
        assert_eq!(grouped(4_294_967_296), "4,294,967,296");
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
            PortRange::single(crate::net::Protocol::Udp, 3478)
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
        // The remedies name the entry and its line, as the domain list's do.
        assert_eq!(
            find("fw.txt:4:1/shadowed").remedy.as_deref(),
            Some("remove `15.193.4.0/24` from fw.txt:4")
        );
        assert_eq!(
            find("fw.txt:5:1/duplicate").remedy.as_deref(),
            Some("remove `15.193.0.0/19` from fw.txt:5")
        );
        let stale = find("fw.txt:6:1/stale");
        assert_eq!(stale.status, Status::Warn);
        assert!(
            stale.detail.contains("15.194.0.0/24") && stale.detail.contains("AMAZON_CONNECT"),
            "{}",
            stale.detail
        );
        assert_eq!(
            stale.remedy.as_deref(),
            Some(
                "15.194.0.0/24 is no longer published for AMAZON_CONNECT in AWS's IP ranges: \
                 remove it from fw.txt:6"
            )
        );
        // 0.0.0.0/0 on tcp/443 covers EC2 and CloudFront.
        assert!(
            found
                .checks
                .iter()
                .filter(|c| c.id.starts_with("allowlist/cidr/")
                    && c.proto == Some(crate::net::Protocol::Tcp))
                .all(|c| c.status == Status::Pass)
        );
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
}
