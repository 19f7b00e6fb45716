//! Domain allow-lists: one entry a line (`host`, `*.suffix`, squid's `.suffix`, or a URL such as
//! `https://acme.my.connect.aws/ccp-v2/*`), or a squid configuration whose `dstdomain` ACLs hold
//! the entries (inline or in a file the ACL names).
//!
//! This file holds the model and the matching (`Pattern`, `DomainEntry`, `DomainList`,
//! `NameIndex`); `entry.rs` reads and normalises one entry, `read.rs` the plain and squid
//! readers, `additions.rs` the lines that add what a list is missing in its syntax.

pub(crate) mod additions;
mod entry;
mod read;

use std::path::{Path, PathBuf};

use super::{Issue, Span, Strictness};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::error::Result;
use crate::input::read_list as read_text;
use crate::net::PortRange;
use crate::net::Protocol;

pub(crate) use additions::insert_after;
pub use entry::Parsed;
pub(crate) use entry::parse_entry;
pub(crate) use read::looks_like_squid;
pub use read::{parse_plain, parse_squid};

/// The syntax of a domain list, which decides how additions are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainSyntax {
    /// `host` and `*.suffix`.
    Plain,
    /// `https://host/*` and `https://*.suffix/*`.
    Url,
    /// squid `dstdomain`: `host` and `.suffix` (which also matches `suffix`).
    Squid,
}

/// What names one entry allows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// One name.
    Exact(String),
    /// `*.suffix`: every name below `suffix`, not `suffix` itself. An empty suffix is `*`.
    Below(String),
    /// squid's `.suffix`: `suffix` and every name below it.
    AtOrBelow(String),
    /// A `*` inside the name, as AWS writes `TurnNlb-*.elb.REGION.amazonaws.com`: the names that
    /// start with `head` and end with `tail`, the `*` matching any run of characters, dots
    /// included, as a PAC file's `shExpMatch` does. squid's `dstdomain` has no such form.
    Glob { head: String, tail: String },
}

/// Whether every name `head*tail` stands for starts with `h` and ends with `t` (and so is
/// `h*t` too).
pub(super) fn glob_within(head: &str, tail: &str, h: &str, t: &str) -> bool {
    head.starts_with(h) && tail.ends_with(t)
}

/// Whether `name` is strictly below `suffix` (`a.b.c` is below `b.c`; everything is below "").
pub(super) fn is_below(name: &str, suffix: &str) -> bool {
    if suffix.is_empty() {
        return !name.is_empty();
    }
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

impl Pattern {
    /// Whether this entry allows the concrete name `name` (normalised: lower case, no root dot).
    pub(crate) fn allows(&self, name: &str) -> bool {
        match self {
            Self::Exact(host) => host == name,
            Self::Below(suffix) => is_below(name, suffix),
            Self::AtOrBelow(suffix) => name == suffix || is_below(name, suffix),
            Self::Glob { head, tail } => {
                name.len() >= head.len() + tail.len()
                    && name.starts_with(head.as_str())
                    && name.ends_with(tail.as_str())
            }
        }
    }

    /// Whether this entry allows every name the requirement can stand for. A wildcard
    /// requirement (`*.transport.connect.R.amazonaws.com`) is covered only by a wildcard at or
    /// above its suffix: no list of exact names can cover names nobody knows in advance.
    pub(crate) fn covers(&self, required: &HostPattern) -> bool {
        match required {
            HostPattern::Exact(name) => self.allows(name),
            HostPattern::Wildcard(needed) => self.covers_below(needed),
            HostPattern::Label { head, tail } => match self {
                Self::Exact(_) => false,
                Self::Glob { head: h, tail: t } => glob_within(head, tail, h, t),
                // `head*x.rest` with something around the `*` is always strictly below `rest`.
                Self::Below(_) | Self::AtOrBelow(_) => match tail.split_once('.') {
                    Some((x, rest)) if !(head.is_empty() && x.is_empty()) => {
                        self.covers_below(rest)
                    }
                    _ => false,
                },
            },
        }
    }

    /// Whether this entry allows every name below `needed` (a wildcard requirement).
    pub(crate) fn covers_below(&self, needed: &str) -> bool {
        match self {
            Self::Exact(_) | Self::Glob { .. } => false,
            Self::Below(suffix) | Self::AtOrBelow(suffix) => {
                needed == suffix || is_below(needed, suffix)
            }
        }
    }

    /// Whether this entry allows everything `other` allows, as requirements go: the names an
    /// entry stands for are its name (`Exact`), the names below its suffix (`Below`), or both
    /// (`AtOrBelow`).
    pub(crate) fn covers_pattern(&self, other: &Self) -> bool {
        match other {
            Self::Exact(name) => self.allows(name),
            Self::Below(suffix) => self.covers_below(suffix),
            Self::AtOrBelow(suffix) => self.allows(suffix) && self.covers_below(suffix),
            Self::Glob { head, tail } => match self {
                Self::Glob { head: h, tail: t } => glob_within(head, tail, h, t),
                _ => self.covers(&HostPattern::Label {
                    head: head.clone(),
                    tail: tail.clone(),
                }),
            },
        }
    }

    /// The name or suffix the entry is written with.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Exact(h) | Self::Below(h) | Self::AtOrBelow(h) => h,
            // Indexed under the name after the wildcard's label.
            Self::Glob { tail, .. } => tail.split_once('.').map_or(tail.as_str(), |(_, r)| r),
        }
    }

    /// The suffix of a wildcard, if it is one.
    pub(crate) fn suffix(&self) -> Option<&str> {
        match self {
            Self::Exact(_) | Self::Glob { .. } => None,
            Self::Below(s) | Self::AtOrBelow(s) => Some(s),
        }
    }

    /// The entry as a plain list writes it.
    pub fn plain(&self) -> String {
        match self {
            Self::Exact(h) => h.clone(),
            Self::Below(s) if s.is_empty() => "*".to_owned(),
            Self::Below(s) => format!("*.{s}"),
            Self::AtOrBelow(s) => format!(".{s}"),
            Self::Glob { head, tail } => format!("{head}*{tail}"),
        }
    }
}

/// One entry of a domain list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainEntry {
    pub span: Span,
    /// The entry as written.
    pub text: String,
    pub pattern: Pattern,
    /// The TCP port a URL entry names (or its scheme implies); `None` allows any port.
    pub port: Option<u16>,
    /// The path prefix a URL entry is limited to; `None` allows every path.
    pub path: Option<String>,
    /// The squid ACL that holds the entry.
    pub acl: Option<String>,
}

impl DomainEntry {
    /// Whether the entry allows this port of a requirement.
    pub(crate) fn allows_port(&self, port: &PortRange) -> bool {
        self.port
            .is_none_or(|p| port.proto == Protocol::Tcp && port.first == p && port.last == p)
    }

    /// Whether the entry allows a request path (a prefix match, as proxies do).
    pub(crate) fn allows_path(&self, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| path.starts_with(p))
    }
}

/// A whole domain list.
#[derive(Clone, Debug)]
pub struct DomainList {
    pub path: PathBuf,
    pub syntax: DomainSyntax,
    pub entries: Vec<DomainEntry>,
    pub issues: Vec<Issue>,
    /// The first `dstdomain` ACL of a squid configuration: where additions go.
    pub acl: Option<String>,
    /// The line after which additions belong (the last `dstdomain` line of that ACL; for an
    /// evaluated squid configuration, the line before the one that denies).
    pub insert_after_line: Option<usize>,
    /// For a squid configuration: where the agents are (`--from`); the added `http_access` line
    /// is limited to them.
    pub agents: Vec<ipnet::IpNet>,
}

/// How a requirement fares against the list.
#[derive(Debug, Default)]
pub struct Cover<'a> {
    /// Entries that allow it, on its ports and paths.
    pub by: Vec<&'a DomainEntry>,
    /// Entries that allow the name, but not on a port it needs.
    pub wrong_port: Vec<&'a DomainEntry>,
    /// Required paths no entry allows, when some entry allows other paths of the host.
    pub missing_paths: Vec<String>,
}

impl Cover<'_> {
    pub(crate) fn is_covered(&self) -> bool {
        !self.by.is_empty() && self.missing_paths.is_empty()
    }
}

impl DomainList {
    /// Reads a list, detecting squid configurations unless `squid` says.
    pub fn read(path: &Path, squid: Option<bool>, strictness: Strictness) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse(&text, path, squid, strictness)
    }

    /// [`Self::read`] on text already read.
    pub(crate) fn parse(
        text: &str,
        path: &Path,
        squid: Option<bool>,
        strictness: Strictness,
    ) -> Result<Self> {
        let squid = squid.unwrap_or_else(|| looks_like_squid(text));
        if squid {
            parse_squid(text, path, strictness)
        } else {
            parse_plain(text, path, strictness)
        }
    }

    /// The coverage of one requirement.
    pub(crate) fn cover(&self, req: &DomainRequirement) -> Cover<'_> {
        let named: Vec<&DomainEntry> = self
            .entries
            .iter()
            .filter(|e| e.pattern.covers(&req.host))
            .collect();
        self.cover_by(req, named)
    }

    /// [`Self::cover`] with the entries naming the requirement's host found through `index`.
    pub(crate) fn cover_indexed(
        &self,
        req: &DomainRequirement,
        index: &NameIndex<'_>,
    ) -> Cover<'_> {
        let named = index
            .covering(&req.host)
            .into_iter()
            .map(|i| &self.entries[i])
            .collect();
        self.cover_by(req, named)
    }

    fn cover_by<'a>(&'a self, req: &DomainRequirement, named: Vec<&'a DomainEntry>) -> Cover<'a> {
        let mut cover = Cover::default();
        for entry in &named {
            if req.ports.iter().all(|p| entry.allows_port(p)) {
                cover.by.push(entry);
            } else {
                cover.wrong_port.push(entry);
            }
        }
        if cover.by.iter().any(|e| e.path.is_some()) {
            let paths: Vec<&str> = if req.paths.is_empty() {
                vec!["/"]
            } else {
                req.paths.iter().map(String::as_str).collect()
            };
            cover.missing_paths = paths
                .into_iter()
                .filter(|p| !cover.by.iter().any(|e| e.allows_path(p)))
                .map(str::to_owned)
                .collect();
            // Keep only the entries that allow some needed path.
            let needed = if req.paths.is_empty() {
                vec!["/".to_owned()]
            } else {
                req.paths.clone()
            };
            cover
                .by
                .retain(|e| needed.iter().any(|p| e.allows_path(p)) || e.path.is_none());
        }
        cover
    }
}

/// The entries of a list by the name they are written with, to find those covering a name
/// without testing every entry: a name is covered only by entries written with it or with one
/// of its suffixes.
#[derive(Debug, Default)]
pub struct NameIndex<'a> {
    entries: &'a [DomainEntry],
    by_name: std::collections::HashMap<&'a str, Vec<usize>, FastHash>,
}

/// A fast hasher for maps keyed by the text of a list: the list is the user's own file, not
/// input an attacker could shape into collisions that matter. foldhash (already in the tree)
/// replaced a hand-written copy of rustc's Fx hash: `cargo bench --bench ranges` measured a map
/// of 200,000 list names built and every suffix looked up in 31-35 ms with foldhash against
/// 57-63 ms with Fx (release build, median of 21 runs, two runs on a quiet moment of a shared
/// 2-core machine; foldhash was ahead in all five runs, loaded or not).
pub type FastHash = foldhash::fast::FixedState;

impl<'a> NameIndex<'a> {
    /// The entries of `list` written with the names of `hosts` or their suffixes: the only ones
    /// that can cover those hosts (one pass, looking up each entry among a few dozen names).
    pub(crate) fn new(
        list: &'a DomainList,
        hosts: impl IntoIterator<Item = &'a HostPattern>,
    ) -> Self {
        let mut by_name: std::collections::HashMap<&'a str, Vec<usize>, FastHash> =
            std::collections::HashMap::default();
        for host in hosts {
            for suffix in suffixes(host_name(host)) {
                by_name.entry(suffix).or_default();
            }
        }
        for (i, entry) in list.entries.iter().enumerate() {
            if let Some(found) = by_name.get_mut(entry.pattern.name()) {
                found.push(i);
            }
        }
        Self {
            entries: &list.entries,
            by_name,
        }
    }

    /// The entries that cover `host`, in list order: exactly those [`Pattern::covers`] accepts.
    /// `host` must be one of those the index was built for.
    pub(crate) fn covering(&self, host: &HostPattern) -> Vec<usize> {
        let mut found: Vec<usize> = suffixes(host_name(host))
            .filter_map(|suffix| self.by_name.get(suffix))
            .flatten()
            .copied()
            .filter(|&i| self.entries[i].pattern.covers(host))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

pub(super) fn host_name(host: &HostPattern) -> &str {
    host.name()
}

/// A name, each suffix after one of its dots, and "" (what `*` is written with).
pub(super) fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest))
        .chain((!name.is_empty()).then_some(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(text: &str) -> Parsed {
        parse_entry(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn pat(text: &str) -> Pattern {
        match entry(text) {
            Parsed::Entry { pattern, .. } => pattern,
            Parsed::Address(a) => panic!("{a}"),
        }
    }

    #[test]
    fn wildcard_requirements_need_a_wildcard_at_or_above() {
        let req = HostPattern::parse("*.transport.connect.eu-central-1.amazonaws.com");
        assert!(pat("*.transport.connect.eu-central-1.amazonaws.com").covers(&req));
        assert!(pat(".transport.connect.eu-central-1.amazonaws.com").covers(&req));
        assert!(pat("*.amazonaws.com").covers(&req));
        assert!(!pat("x.transport.connect.eu-central-1.amazonaws.com").covers(&req));
        assert!(!pat("*.x.transport.connect.eu-central-1.amazonaws.com").covers(&req));
        let exact = HostPattern::parse("participant.connect.eu-central-1.amazonaws.com");
        assert!(pat(".participant.connect.eu-central-1.amazonaws.com").covers(&exact));
        assert!(!pat("*.participant.connect.eu-central-1.amazonaws.com").covers(&exact));
    }

    #[test]
    fn aws_label_wildcards_are_read_and_matched_as_shexpmatch_does() {
        let turn = pat("TurnNlb-*.elb.us-east-1.amazonaws.com");
        assert_eq!(
            turn,
            Pattern::Glob {
                head: "turnnlb-".into(),
                tail: ".elb.us-east-1.amazonaws.com".into()
            }
        );
        assert_eq!(turn.plain(), "turnnlb-*.elb.us-east-1.amazonaws.com");
        let pinned = HostPattern::parse("TurnNlb-d76454ac48d20c1e.elb.us-east-1.amazonaws.com");
        assert!(turn.covers(&pinned));
        assert!(turn.allows("turnnlb-a.b.elb.us-east-1.amazonaws.com"));
        assert!(!turn.allows("turnnlb-1.elb.us-west-2.amazonaws.com"));
        assert!(!turn.allows("elb.us-east-1.amazonaws.com"));
        let wildcard = HostPattern::parse("TurnNlb-*.elb.ap-northeast-3.amazonaws.com");
        assert!(pat("turnnlb-*.elb.ap-northeast-3.amazonaws.com").covers(&wildcard));
        assert!(pat("*.elb.ap-northeast-3.amazonaws.com").covers(&wildcard));
        assert!(pat(".amazonaws.com").covers(&wildcard));
        assert!(!pat("turnnlb-1.elb.ap-northeast-3.amazonaws.com").covers(&wildcard));
        assert!(!pat("turnnlb-*.elb.us-east-1.amazonaws.com").covers(&wildcard));
        let rtc = pat("rtc*.connect-telecom.eu-west-2.amazonaws.com");
        assert!(rtc.covers(&HostPattern::parse(
            "rtc.connect-telecom.eu-west-2.amazonaws.com"
        )));
        assert!(
            pat("*.connect-telecom.eu-west-2.amazonaws.com").covers(&HostPattern::parse(
                "rtc*.connect-telecom.eu-west-2.amazonaws.com"
            ))
        );
        // A list with the pinned host alone covers that host, not AWS's wildcard.
        assert!(pat("turnnlb-d76454ac48d20c1e.elb.us-east-1.amazonaws.com").covers(&pinned));
        for bad in ["turnnlb-*", "a.b*.c", "a*b*.c", "*x*.c", "tu rn*.x"] {
            assert!(parse_entry(bad).is_err(), "{bad}: {:?}", parse_entry(bad));
        }
    }

    // The matcher against a brute-force reference over a small universe of names.
    const LABELS: &[&str] = &["a", "b", "c"];

    fn name_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(LABELS), 1..4).prop_map(|l| l.join("."))
    }

    fn universe(depth: usize) -> Vec<String> {
        let mut all: Vec<String> = LABELS.iter().map(|l| (*l).to_owned()).collect();
        let mut frontier = all.clone();
        for _ in 1..depth {
            frontier = frontier
                .iter()
                .flat_map(|n| LABELS.iter().map(move |l| format!("{l}.{n}")))
                .collect();
            all.extend(frontier.iter().cloned());
        }
        all
    }

    fn reference_allows(entry: &Pattern, name: &str) -> bool {
        let labels: Vec<&str> = name.split('.').collect();
        match entry {
            Pattern::Exact(h) => h == name,
            Pattern::Below(s) | Pattern::AtOrBelow(s) => {
                let suffix: Vec<&str> = if s.is_empty() {
                    Vec::new()
                } else {
                    s.split('.').collect()
                };
                let below = labels.len() > suffix.len()
                    && labels[labels.len() - suffix.len()..] == suffix[..];
                below || (matches!(entry, Pattern::AtOrBelow(_)) && labels == suffix)
            }
            // shExpMatch's `*`: any run of characters.
            Pattern::Glob { head, tail } => (0..=name.len()).any(|i| {
                (i..=name.len()).any(|j| {
                    name.is_char_boundary(i)
                        && name.is_char_boundary(j)
                        && format!("{head}{}{tail}", &name[i..j]) == name
                })
            }),
        }
    }

    /// The requirements a domain entry itself stands for.
    fn as_requirements(pattern: &Pattern) -> Vec<HostPattern> {
        match pattern {
            Pattern::Exact(h) => vec![HostPattern::Exact(h.clone())],
            Pattern::Below(s) => vec![HostPattern::Wildcard(s.clone())],
            Pattern::AtOrBelow(s) => vec![
                HostPattern::Exact(s.clone()),
                HostPattern::Wildcard(s.clone()),
            ],
            Pattern::Glob { head, tail } => vec![HostPattern::Label {
                head: head.clone(),
                tail: tail.clone(),
            }],
        }
    }

    fn patterns() -> Vec<Pattern> {
        let mut out = vec![Pattern::Below(String::new())];
        for name in universe(3) {
            out.push(Pattern::Exact(name.clone()));
            out.push(Pattern::Below(name.clone()));
            out.push(Pattern::AtOrBelow(name));
        }
        for name in universe(2) {
            out.push(Pattern::Glob {
                head: "a".into(),
                tail: format!(".{name}"),
            });
            out.push(Pattern::Glob {
                head: "b".into(),
                tail: format!(".{name}"),
            });
        }
        out
    }

    /// Whatever an entry is said to cover, it allows every name of the requirement.
    #[test]
    fn coverage_is_sound_against_the_brute_force_reference() {
        let names = universe(4);
        let hosts: Vec<HostPattern> = patterns().iter().flat_map(as_requirements).collect();
        for entry in patterns() {
            for name in &names {
                assert_eq!(
                    entry.allows(name),
                    reference_allows(&entry, name),
                    "{entry:?} {name}"
                );
            }
            for host in &hosts {
                if entry.covers(host) {
                    for name in names.iter().filter(|n| host.matches(n)) {
                        assert!(entry.allows(name), "{entry:?} covers {host} but not {name}");
                    }
                }
            }
        }
    }

    #[test]
    fn patterns_cover_patterns_as_their_requirements_say() {
        let all = patterns();
        for a in &all {
            for b in &all {
                let reference = as_requirements(b).iter().all(|r| a.covers(r));
                assert_eq!(a.covers_pattern(b), reference, "{a:?} over {b:?}");
            }
        }
    }

    #[test]
    fn the_name_index_finds_exactly_the_covering_entries() {
        let all = patterns();
        let text: String = all.iter().map(|p| format!("{}\n", p.plain())).collect();
        let list = parse_plain(&text, Path::new("l"), Strictness::Strict).unwrap();
        let hosts: Vec<HostPattern> = universe(4)
            .into_iter()
            .flat_map(|name| {
                [
                    HostPattern::Exact(name.clone()),
                    HostPattern::Label {
                        head: "a".into(),
                        tail: format!(".{name}"),
                    },
                    HostPattern::Wildcard(name),
                ]
            })
            .collect();
        let index = NameIndex::new(&list, &hosts);
        for host in &hosts {
            {
                let expected: Vec<usize> = (0..list.entries.len())
                    .filter(|&i| list.entries[i].pattern.covers(host))
                    .collect();
                assert_eq!(index.covering(host), expected, "{host}");
            }
        }
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_brute_force(
            kind in 0u8..3,
            entry_name in name_strategy(),
            wildcard in any::<bool>(),
            req_name in name_strategy(),
        ) {
            let entry = match kind {
                0 => Pattern::Exact(entry_name),
                1 => Pattern::Below(entry_name),
                _ => Pattern::AtOrBelow(entry_name),
            };
            let names = universe(5);
            let req = if wildcard {
                HostPattern::Wildcard(req_name.clone())
            } else {
                HostPattern::Exact(req_name.clone())
            };
            // A wildcard requirement is covered when every name below its suffix is allowed.
            let expected = if wildcard {
                names.iter().filter(|n| is_below(n, &req_name)).all(|n| reference_allows(&entry, n))
            } else {
                reference_allows(&entry, &req_name)
            };
            prop_assert_eq!(entry.covers(&req), expected);
            for n in &names {
                prop_assert_eq!(entry.allows(n), reference_allows(&entry, n));
            }
        }
    }
}
