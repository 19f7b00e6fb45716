//! What a packet-filter ruleset does to Connect's traffic, the way netfilter walks it.
//!
//! The readers (`netfilter.rs` for iptables-save, `nft.rs` for nft) turn a file into a
//! [`Ruleset`]: chains of rules, each a list of conditions and a verdict, with the base chains
//! hooked at `output`, `forward` or `input` in priority order. The evaluator then follows one
//! flow (a protocol, a port, the agents' addresses, and a whole *set* of remote addresses at
//! once) through the chains: first match wins, jumps and gotos enter user chains, `return` and
//! the end of a user chain come back, the policy ends a base chain, and every base chain on the
//! hook must accept. The remote set is split as rules match parts of it, so one walk answers for
//! every address of a requirement.
//!
//! A condition the file alone cannot decide (an ipset, a mark, an interface the options did not
//! name, a rate limit) is *undetermined*: the walk follows both outcomes and keeps the answer only
//! where they agree; elsewhere the addresses are reported as undetermined, naming the condition.

use std::collections::HashMap;

use crate::allowlist::Span;
use crate::net::Direction;
use crate::net::Protocol;
use crate::ranges::IpSet;

/// Where in the stack a base chain sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub(crate) fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "prerouting" => Self::Prerouting,
            "input" => Self::Input,
            "forward" => Self::Forward,
            "output" => Self::Output,
            "postrouting" => Self::Postrouting,
            _ => return None,
        })
    }
}

/// Where the ruleset runs, seen from the agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Placement {
    /// On the agent's machine: its own traffic leaves through `output` (and comes in by `input`).
    Host,
    /// On a gateway between the agents and AWS: the traffic crosses `forward`.
    Gateway,
}

impl Placement {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Host => "output",
            Self::Gateway => "forward",
        }
    }

    /// The hooks a packet of `direction` crosses here, in order.
    pub(crate) fn hooks(self, direction: Direction) -> &'static [Hook] {
        match (self, direction) {
            (Self::Host, Direction::Outbound) => &[Hook::Output, Hook::Postrouting],
            (Self::Host, Direction::Inbound) => &[Hook::Prerouting, Hook::Input],
            (Self::Gateway, _) => &[Hook::Prerouting, Hook::Forward, Hook::Postrouting],
        }
    }
}

/// Which end of the flow an address or port condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Source,
    Destination,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfaceSide {
    In,
    Out,
}

/// Protocol numbers as a match sees them.
pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;

/// One condition of a rule.
#[derive(Clone, Debug)]
pub(crate) enum Cond {
    /// The address at `end` is in `set` (whose families are the ones it can match).
    Addr { end: End, set: IpSet, negate: bool },
    /// The layer-4 protocol is one of `protos`.
    Proto { protos: Vec<u8>, negate: bool },
    /// The port at `end` is in one of the ranges.
    Port {
        end: End,
        ranges: Vec<(u16, u16)>,
        negate: bool,
    },
    /// The interface name matches one of `names` (`eth+` and `eth*` are prefixes).
    Iface {
        side: IfaceSide,
        names: Vec<String>,
        negate: bool,
    },
    /// Connection-tracking state is one of `states` (lower case: new, established, ...).
    CtState { states: Vec<String>, negate: bool },
    /// The packet is of this family only (`meta nfproto`, an inet rule's `ip`/`ip6` selector).
    Family { v6: bool },
    /// A TCP SYN packet matches (`--syn`, `tcp flags syn`), when true; anything else, when false.
    Syn { matches_syn: bool },
    /// Any of the alternatives, each a list of conditions that must all hold (an nft
    /// concatenation matched against a set of tuples).
    AnyOf(Vec<Vec<Cond>>),
    /// Known outright for the flows the audit asks about.
    Const(bool),
    /// Cannot be told from the file: names what it depends on.
    Unknown(String),
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(String),
    Goto(String),
    /// Logging, counting, marking: the packet goes on to the next rule.
    Continue,
    /// The packet leaves the rules untracked (`NOTRACK`, `CT --notrack`, nft `notrack`).
    Notrack,
    /// Decided elsewhere (a userspace queue, a rewritten destination): names what.
    Unknown(String),
}

impl Verdict {
    fn terminal_word(&self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Drop => "dropped",
            Self::Reject => "rejected",
            _ => "decided",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub span: Span,
    /// The rule as written, for findings.
    pub text: String,
    pub conds: Vec<Cond>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// `table/chain` for iptables, `family table chain` for nft: unique in a ruleset.
    pub key: String,
    /// The name as the file writes it.
    pub name: String,
    /// The table: (family, name) for nft, ("ip" or "ip6", table) for iptables.
    pub table: (String, String),
    pub rules: Vec<Rule>,
    /// Base chains: where, at which priority, and the policy (with the line that set it).
    pub base: Option<Base>,
    /// Where the chain is declared.
    pub span: Span,
    /// The line that ends it: an appended rule goes before it (the table's COMMIT for
    /// iptables, the chain's closing brace for nft).
    pub end_line: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Base {
    pub hook: Hook,
    pub priority: i32,
    pub policy: Verdict,
    pub policy_span: Span,
    /// `nat` chains see only the first packet of a connection and cannot drop by policy alone.
    pub nat: bool,
    /// Which families the chain sees.
    pub v4: bool,
    pub v6: bool,
}

/// A whole file, read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ruleset {
    pub chains: Vec<Chain>,
    /// Families the file decides: iptables-save is IPv4 only, ip6tables-save IPv6 only.
    pub v4: bool,
    pub v6: bool,
    /// What the reader could not take into account, each a sentence (unresolved includes ...).
    pub notes: Vec<String>,
    /// Conditions or rules the reader could not read (with `--lenient`): named, undetermined.
    pub unreadable: Vec<(Span, String)>,
    /// Included files that were not there to read: they may add any rule.
    pub unresolved: Vec<(Span, String)>,
}

impl Ruleset {
    pub(crate) fn chain_index(&self) -> HashMap<&str, usize> {
        self.chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.as_str(), i))
            .collect()
    }

    /// Whether the file filters anything at `hook`: a rule, or a policy other than accept.
    pub(crate) fn filters(&self, hook: Hook) -> bool {
        self.chains.iter().any(|c| {
            c.base.as_ref().is_some_and(|b| {
                b.hook == hook && (!c.rules.is_empty() || b.policy != Verdict::Accept)
            })
        })
    }

    /// User chains no base chain reaches through jumps and gotos.
    pub(crate) fn unreachable(&self) -> Vec<usize> {
        let index = self.chain_index();
        let mut seen = vec![false; self.chains.len()];
        let mut stack: Vec<usize> = (0..self.chains.len())
            .filter(|&i| self.chains[i].base.is_some())
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            for rule in &self.chains[i].rules {
                if let Verdict::Jump(t) | Verdict::Goto(t) = &rule.verdict {
                    if let Some(&j) = index.get(self.target_key(i, t).as_str()) {
                        stack.push(j);
                    }
                }
            }
        }
        (0..self.chains.len()).filter(|&i| !seen[i]).collect()
    }

    /// The key of the chain `name` jumped to from chain `from` (same table).
    pub(crate) fn target_key(&self, from: usize, name: &str) -> String {
        let c = &self.chains[from];
        chain_key(&c.table, name)
    }
}

pub(crate) fn chain_key(table: &(String, String), name: &str) -> String {
    format!("{} {} {}", table.0, table.1, name)
}

/// The flow asked about: one protocol and remote port, between the agents and a set of remote
/// addresses, in one direction.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    pub direction: Direction,
    pub proto: Protocol,
    /// The requirement's port range: the service's port going out, the agent's local ports
    /// for traffic coming back in.
    pub port: u16,
    pub last: u16,
}

/// What the options say about the agents' side.
#[derive(Clone, Debug, Default)]
pub(crate) struct Agents {
    /// `--from`: the agents' addresses; a family not named there is any address of it.
    pub from: Option<IpSet>,
    /// `--in-interface` / `--out-interface`: the interfaces the traffic crosses.
    pub in_iface: Option<String>,
    pub out_iface: Option<String>,
}

/// The end of one walk for a part of the remote set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Accepted by every base chain on the way.
    Allowed,
    /// Dropped or rejected at `span` (a rule or a policy).
    Blocked {
        span: Span,
        text: String,
        how: String,
    },
    /// Cannot be told: what it depends on, and where.
    Undetermined { why: String, span: Option<Span> },
}

/// How a walk through one chain ended, for a part of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exit {
    Accept,
    Blocked {
        span: Span,
        text: String,
        how: String,
    },
    Return,
    Undetermined {
        why: String,
        span: Option<Span>,
    },
}

impl Exit {
    fn class(&self) -> u8 {
        match self {
            Self::Accept => 0,
            Self::Blocked { .. } => 1,
            Self::Return => 2,
            Self::Undetermined { .. } => 3,
        }
    }
}

type Pieces = Vec<(IpSet, Exit)>;

/// The most forks (undecidable rules met by a part of the set) a walk follows before it calls
/// the rest undetermined: keeps a file full of ipsets from taking exponential time.
const FORK_BUDGET: u32 = 4096;
const MAX_DEPTH: u32 = 64;

/// Tri-state split of a set by a condition: the part that surely matches, the part that may.
struct Split {
    sure: IpSet,
    maybe: IpSet,
    why: Vec<String>,
}

struct Walker<'a> {
    rules: &'a Ruleset,
    index: HashMap<&'a str, usize>,
    flow: &'a Flow,
    agents: &'a Agents,
    hook: Hook,
    /// The connection-tracking state: `new`, `untracked`, or unknown (with why).
    ct: Result<&'static str, String>,
    budget: u32,
}

/// The ephemeral ports a client may use: a source-port condition that covers them all matches,
/// one that covers none of them does not, anything else depends on the port the agent picked.
const EPHEMERAL: (u16, u16) = (1024, 65535);

impl Walker<'_> {
    fn split(&self, rule: &Rule, set: &IpSet) -> Split {
        self.split_conds(&rule.conds, set)
    }

    fn split_conds(&self, conds: &[Cond], set: &IpSet) -> Split {
        let mut sure = set.clone();
        let mut possible = set.clone();
        let mut why = Vec::new();
        for cond in conds {
            let (s, p, w) = self.cond(cond, &possible);
            sure = sure.intersection(&s);
            possible = p;
            if let Some(w) = w {
                why.push(w);
            }
            if possible.is_empty() {
                break;
            }
        }
        let sure = sure.intersection(&possible);
        let maybe = possible.difference(&sure);
        Split { sure, maybe, why }
    }

    fn all(set: &IpSet, yes: bool) -> (IpSet, IpSet, Option<String>) {
        if yes {
            (set.clone(), set.clone(), None)
        } else {
            (IpSet::new(), IpSet::new(), None)
        }
    }

    fn unknown(set: &IpSet, why: String) -> (IpSet, IpSet, Option<String>) {
        (IpSet::new(), set.clone(), Some(why))
    }

    /// (sure, possible, why-when-unsure) for one condition over `set` (remote addresses).
    fn cond(&self, cond: &Cond, set: &IpSet) -> (IpSet, IpSet, Option<String>) {
        let remote_end = match self.flow.direction {
            Direction::Outbound => End::Destination,
            Direction::Inbound => End::Source,
        };
        match cond {
            Cond::Const(b) => Self::all(set, *b),
            Cond::Unknown(why) => Self::unknown(set, why.clone()),
            Cond::AnyOf(alternatives) => {
                let mut sure = IpSet::new();
                let mut possible = IpSet::new();
                let mut why = Vec::new();
                for alt in alternatives {
                    let s = self.split_conds(alt, set);
                    sure = sure.union(&s.sure);
                    possible = possible.union(&s.sure).union(&s.maybe);
                    why.extend(s.why);
                }
                let unsure = possible.difference(&sure);
                let why = (!unsure.is_empty() && !why.is_empty()).then(|| why.join("; "));
                (sure, possible, why)
            }
            Cond::Family { v6 } => {
                let part = only_family(set, *v6);
                (part.clone(), part, None)
            }
            Cond::Addr {
                end,
                set: s,
                negate,
            } if *end == remote_end => {
                // The family a selector implies is a condition of its own (`Family`).
                let hit = if *negate {
                    set.difference(s)
                } else {
                    set.intersection(s)
                };
                (hit.clone(), hit, None)
            }
            Cond::Addr { set: s, negate, .. } => {
                // The agents' end: compare the agents' addresses of each family with the set.
                let mut sure = IpSet::new();
                let mut possible = IpSet::new();
                let mut why = None;
                for v6 in [false, true] {
                    let part = only_family(set, v6);
                    if part.is_empty() {
                        continue;
                    }
                    let agents = self.agents_of(v6);
                    let inside = only_family(s, v6);
                    let all_in = inside.is_superset(&agents);
                    let none_in = inside.intersection(&agents).is_empty();
                    let (all_in, none_in) = if *negate {
                        (none_in, all_in)
                    } else {
                        (all_in, none_in)
                    };
                    if all_in {
                        sure = sure.union(&part);
                        possible = possible.union(&part);
                    } else if !none_in {
                        possible = possible.union(&part);
                        why = Some(format!(
                            "the agents' addresses: the rule matches {} {}, which covers some agent addresses and not others (give --from)",
                            if *negate { "all but" } else { "only" },
                            short_set(s)
                        ));
                    }
                }
                (sure, possible, why)
            }
            Cond::Proto { protos, negate } => {
                let n = match self.flow.proto {
                    Protocol::Tcp => TCP,
                    Protocol::Udp => UDP,
                };
                Self::all(set, protos.contains(&n) != *negate)
            }
            Cond::Port {
                end,
                ranges,
                negate,
            } => {
                // The destination port is the requirement's range (the service's port going
                // out, the agent's local ports coming back in); the source port is a client's
                // ephemeral one going out, and the remote's (any) coming in.
                let (lo, hi, which) = match (self.flow.direction, end) {
                    (_, End::Destination) => (
                        self.flow.port,
                        self.flow.last.max(self.flow.port),
                        "destination port",
                    ),
                    (Direction::Outbound, End::Source) => {
                        (EPHEMERAL.0, EPHEMERAL.1, "agent's source port")
                    }
                    (Direction::Inbound, End::Source) => (1, 65535, "remote's source port"),
                };
                let covered: u32 = ranges
                    .iter()
                    .map(|&(a, b)| {
                        let (a, b) = (a.max(lo), b.min(hi));
                        if a <= b { u32::from(b - a) + 1 } else { 0 }
                    })
                    .sum();
                let total = u32::from(hi - lo) + 1;
                let all_in = covered >= total;
                let none_in = covered == 0;
                let (all_in, none_in) = if *negate {
                    (none_in, all_in)
                } else {
                    (all_in, none_in)
                };
                if all_in {
                    Self::all(set, true)
                } else if none_in {
                    Self::all(set, false)
                } else {
                    Self::unknown(
                        set,
                        format!(
                            "the {which}: the rule matches some of the possible ports and not others"
                        ),
                    )
                }
            }
            Cond::Iface {
                side,
                names,
                negate,
            } => {
                // No input interface on output and postrouting, no output one before routing.
                let present = !matches!(
                    (side, self.hook),
                    (IfaceSide::In, Hook::Output | Hook::Postrouting)
                        | (IfaceSide::Out, Hook::Prerouting | Hook::Input)
                );
                if !present {
                    // No such interface at this hook: nothing matches it (and `!` matches all).
                    return Self::all(set, *negate);
                }
                let given = match side {
                    IfaceSide::In => self.agents.in_iface.as_deref(),
                    IfaceSide::Out => self.agents.out_iface.as_deref(),
                };
                // Connect's traffic never crosses the loopback interface.
                let is_lo = |n: &str| n == "lo";
                let hit = |iface: &str| names.iter().any(|n| iface_matches(n, iface));
                match given {
                    Some(iface) => Self::all(set, hit(iface) != *negate),
                    None if names.iter().all(|n| is_lo(n)) => Self::all(set, *negate),
                    None => Self::unknown(
                        set,
                        format!(
                            "the {} interface: the rule matches {}{} (give --{}-interface)",
                            match side {
                                IfaceSide::In => "input",
                                IfaceSide::Out => "output",
                            },
                            if *negate { "all but " } else { "" },
                            names.join(", "),
                            match side {
                                IfaceSide::In => "in",
                                IfaceSide::Out => "out",
                            }
                        ),
                    ),
                }
            }
            Cond::CtState { states, negate } => match &self.ct {
                Ok(state) => Self::all(set, states.iter().any(|s| s == state) != *negate),
                Err(why) => Self::unknown(set, why.clone()),
            },
            Cond::Syn { matches_syn } => {
                // The first packet of a TCP connection is a SYN; other protocols never match.
                Self::all(set, self.flow.proto == Protocol::Tcp && *matches_syn)
            }
        }
    }

    fn agents_of(&self, v6: bool) -> IpSet {
        let any = if v6 { any_v6() } else { any_v4() };
        match &self.agents.from {
            Some(from) => {
                let part = only_family(from, v6);
                if part.is_empty() { any } else { part }
            }
            None => any,
        }
    }

    /// Walks `chain` from rule `start` for `set`.
    fn walk(&mut self, chain: usize, start: usize, set: IpSet, depth: u32) -> Pieces {
        let mut out: Pieces = Vec::new();
        if depth > MAX_DEPTH {
            out.push((
                set,
                Exit::Undetermined {
                    why: format!("chains jump more than {MAX_DEPTH} deep (a loop?)"),
                    span: Some(self.rules.chains[chain].span.clone()),
                },
            ));
            return out;
        }
        let mut pending = set;
        let rules = &self.rules.chains[chain].rules;
        for (idx, rule) in rules.iter().enumerate().skip(start) {
            if pending.is_empty() {
                break;
            }
            if matches!(rule.verdict, Verdict::Continue) {
                continue;
            }
            let split = self.split(rule, &pending);
            if !split.sure.is_empty() {
                pending = pending.difference(&split.sure);
                let (exits, goes_on) = self.apply(chain, rule, split.sure, depth);
                out.extend(exits);
                pending = pending.union(&goes_on);
            }
            if !split.maybe.is_empty() {
                pending = pending.difference(&split.maybe);
                let why = split.why.join("; ");
                if self.budget == 0 {
                    out.push((
                        split.maybe,
                        Exit::Undetermined {
                            why: format!("{why} (and too many other undecidable rules to follow)"),
                            span: Some(rule.span.clone()),
                        },
                    ));
                    continue;
                }
                self.budget -= 1;
                // Matched: the verdict, then the rest of the chain for what goes on.
                let (mut matched, goes_on) = self.apply(chain, rule, split.maybe.clone(), depth);
                if !goes_on.is_empty() {
                    matched.extend(self.walk(chain, idx + 1, goes_on, depth));
                }
                // Not matched: the rest of the chain.
                let unmatched = self.walk(chain, idx + 1, split.maybe, depth);
                out.extend(merge(&matched, &unmatched, &why, &rule.span));
            }
        }
        if !pending.is_empty() {
            out.push((pending, Exit::Return));
        }
        out
    }

    /// The verdict of `rule` on `set`: how parts of it end, and the part that goes on.
    fn apply(&mut self, chain: usize, rule: &Rule, set: IpSet, depth: u32) -> (Pieces, IpSet) {
        let blocked = |how: &str| Exit::Blocked {
            span: rule.span.clone(),
            text: rule.text.clone(),
            how: how.to_owned(),
        };
        match &rule.verdict {
            Verdict::Accept => (vec![(set, Exit::Accept)], IpSet::new()),
            Verdict::Drop => (vec![(set, blocked("dropped"))], IpSet::new()),
            Verdict::Reject => (vec![(set, blocked("rejected"))], IpSet::new()),
            Verdict::Return => (vec![(set, Exit::Return)], IpSet::new()),
            Verdict::Continue | Verdict::Notrack => (Vec::new(), set),
            Verdict::Unknown(why) => (
                vec![(
                    set,
                    Exit::Undetermined {
                        why: why.clone(),
                        span: Some(rule.span.clone()),
                    },
                )],
                IpSet::new(),
            ),
            Verdict::Jump(target) | Verdict::Goto(target) => {
                let key = self.rules.target_key(chain, target);
                let Some(&next) = self.index.get(key.as_str()) else {
                    return (
                        vec![(
                            set,
                            Exit::Undetermined {
                                why: format!("chain {target}, which the file does not define"),
                                span: Some(rule.span.clone()),
                            },
                        )],
                        IpSet::new(),
                    );
                };
                let pieces = self.walk(next, 0, set, depth + 1);
                let goto = matches!(rule.verdict, Verdict::Goto(_));
                let mut exits = Vec::new();
                let mut goes_on = IpSet::new();
                for (part, exit) in pieces {
                    if exit == Exit::Return && !goto {
                        goes_on = goes_on.union(&part);
                    } else {
                        exits.push((part, exit));
                    }
                }
                (exits, goes_on)
            }
        }
    }
}

/// Where two walks of the same set agree, their answer; elsewhere, undetermined.
fn merge(a: &Pieces, b: &Pieces, why: &str, span: &Span) -> Pieces {
    let mut out = Vec::new();
    for (pa, ea) in a {
        for (pb, eb) in b {
            let both = pa.intersection(pb);
            if both.is_empty() {
                continue;
            }
            if ea.class() == eb.class() && ea.class() != 3 {
                out.push((both, ea.clone()));
            } else if let Exit::Undetermined { .. } = ea {
                out.push((both, ea.clone()));
            } else if let Exit::Undetermined { .. } = eb {
                out.push((both, eb.clone()));
            } else {
                out.push((
                    both,
                    Exit::Undetermined {
                        why: why.to_owned(),
                        span: Some(span.clone()),
                    },
                ));
            }
        }
    }
    out
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern
        .strip_suffix('+')
        .or_else(|| pattern.strip_suffix('*'))
    {
        name.starts_with(prefix)
    } else {
        pattern == name
    }
}

pub(crate) fn any_v4() -> IpSet {
    IpSet::from_ranges([(
        std::net::Ipv4Addr::UNSPECIFIED.into(),
        std::net::Ipv4Addr::BROADCAST.into(),
    )])
}

pub(crate) fn any_v6() -> IpSet {
    IpSet::from_ranges([(
        std::net::Ipv6Addr::UNSPECIFIED.into(),
        std::net::Ipv6Addr::from(u128::MAX).into(),
    )])
}

pub(crate) fn only_family(set: &IpSet, v6: bool) -> IpSet {
    if v6 {
        set.intersection(&any_v6())
    } else {
        set.intersection(&any_v4())
    }
}

fn restrict(set: &IpSet, (v4, v6): (bool, bool)) -> IpSet {
    let mut out = IpSet::new();
    if v4 {
        out = out.union(&only_family(set, false));
    }
    if v6 {
        out = out.union(&only_family(set, true));
    }
    out
}

fn short_set(set: &IpSet) -> String {
    let cidrs = set.to_cidrs();
    let shown: Vec<String> = cidrs.iter().take(3).map(ToString::to_string).collect();
    if cidrs.len() > 3 {
        format!("{} and {} more", shown.join(", "), cidrs.len() - 3)
    } else {
        shown.join(", ")
    }
}

/// The connection-tracking state the first packet has at `hook`: untracked when a raw-priority
/// chain before it sends every packet past conntrack, unknown when it does so for some.
fn ct_state(rules: &Ruleset, hooks: &[Hook], flow: &Flow) -> Result<&'static str, String> {
    for chain in &rules.chains {
        let Some(base) = &chain.base else { continue };
        if !hooks.contains(&base.hook) || base.priority > -200 {
            continue;
        }
        for rule in &chain.rules {
            if rule.verdict != Verdict::Notrack {
                continue;
            }
            let unconditional = rule.conds.iter().all(|c| match c {
                Cond::Const(b) => *b,
                Cond::Proto { protos, negate } => {
                    let n = if flow.proto == Protocol::Tcp {
                        TCP
                    } else {
                        UDP
                    };
                    protos.contains(&n) != *negate
                }
                _ => false,
            });
            if unconditional {
                return Ok("untracked");
            }
            return Err(format!(
                "the connection-tracking state: {} exempts some packets from tracking",
                rule.span.at_line()
            ));
        }
    }
    // Traffic coming back in answers the agent's own connections: conntrack sees it as
    // established.
    Ok(match flow.direction {
        Direction::Outbound => "new",
        Direction::Inbound => "established",
    })
}

/// The fate of every part of `remote` for `flow` through the base chains of `hooks`.
pub(crate) fn evaluate(
    rules: &Ruleset,
    placement: Placement,
    flow: &Flow,
    agents: &Agents,
    remote: &IpSet,
) -> Vec<(IpSet, Fate)> {
    let hooks = placement.hooks(flow.direction);
    let ct = ct_state(rules, hooks, flow);
    let mut bases: Vec<(usize, usize)> = Vec::new();
    for &hook in hooks {
        let mut on_hook: Vec<usize> = (0..rules.chains.len())
            .filter(|&i| {
                rules.chains[i]
                    .base
                    .as_ref()
                    .is_some_and(|b| b.hook == hook)
            })
            .collect();
        on_hook.sort_by_key(|&i| rules.chains[i].base.as_ref().map_or(0, |b| b.priority));
        bases.extend(
            on_hook
                .into_iter()
                .map(|i| (i, hooks.iter().position(|h| *h == hook).unwrap_or(0))),
        );
    }
    let mut walker = Walker {
        rules,
        index: rules.chain_index(),
        flow,
        agents,
        hook: hooks[0],
        ct,
        budget: FORK_BUDGET,
    };
    let mut out: Vec<(IpSet, Fate)> = Vec::new();
    let mut pending = remote.clone();
    for (chain, hook_at) in bases {
        if pending.is_empty() {
            break;
        }
        let base = rules.chains[chain].base.clone().expect("a base chain");
        // A chain of one family does not see the other's packets.
        let seen = restrict(&pending, (base.v4, base.v6));
        if seen.is_empty() {
            continue;
        }
        walker.hook = hooks[hook_at];
        let pieces = walker.walk(chain, 0, seen.clone(), 0);
        pending = pending.difference(&seen);
        for (part, exit) in pieces {
            let exit = if exit == Exit::Return {
                match &base.policy {
                    Verdict::Accept => Exit::Accept,
                    Verdict::Drop | Verdict::Reject => Exit::Blocked {
                        span: base.policy_span.clone(),
                        text: format!(
                            "policy {}",
                            if base.policy == Verdict::Drop {
                                "drop"
                            } else {
                                "reject"
                            }
                        ),
                        how: format!("{} by the chain's policy", base.policy.terminal_word()),
                    },
                    other => Exit::Undetermined {
                        why: format!("the chain's policy {other:?}"),
                        span: Some(base.policy_span.clone()),
                    },
                }
            } else {
                exit
            };
            match exit {
                Exit::Accept => pending = pending.union(&part),
                Exit::Return => {}
                Exit::Blocked { span, text, how } => {
                    out.push((part, Fate::Blocked { span, text, how }));
                }
                Exit::Undetermined { why, span } => {
                    out.push((part, Fate::Undetermined { why, span }));
                }
            }
        }
    }
    if !pending.is_empty() {
        out.push((pending, Fate::Allowed));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn span(line: usize) -> Span {
        Span::new(Path::new("t"), line, 1)
    }

    fn net(s: &str) -> IpSet {
        IpSet::from_nets(&[s.parse().unwrap()])
    }

    fn rule(line: usize, conds: Vec<Cond>, verdict: Verdict) -> Rule {
        Rule {
            span: span(line),
            text: format!("rule {line}"),
            conds,
            verdict,
        }
    }

    fn output(rules: Vec<Rule>, policy: Verdict) -> Ruleset {
        let table = ("ip".to_owned(), "filter".to_owned());
        Ruleset {
            chains: vec![Chain {
                key: chain_key(&table, "OUTPUT"),
                name: "OUTPUT".to_owned(),
                table,
                rules,
                base: Some(Base {
                    hook: Hook::Output,
                    priority: 0,
                    policy,
                    policy_span: span(1),
                    nat: false,
                    v4: true,
                    v6: false,
                }),
                span: span(1),
                end_line: 9,
            }],
            v4: true,
            v6: false,
            ..Ruleset::default()
        }
    }

    fn udp3478() -> Flow {
        Flow {
            direction: Direction::Outbound,
            proto: Protocol::Udp,
            port: 3478,
            last: 3478,
        }
    }

    #[test]
    fn first_match_wins_over_a_later_accept() {
        let rules = output(
            vec![
                rule(
                    2,
                    vec![
                        Cond::Proto {
                            protos: vec![UDP],
                            negate: false,
                        },
                        Cond::Port {
                            end: End::Destination,
                            ranges: vec![(3478, 3478)],
                            negate: false,
                        },
                    ],
                    Verdict::Drop,
                ),
                rule(3, vec![], Verdict::Accept),
            ],
            Verdict::Accept,
        );
        let out = evaluate(
            &rules,
            Placement::Host,
            &udp3478(),
            &Agents::default(),
            &net("15.193.0.0/19"),
        );
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0].1, Fate::Blocked { span, .. } if span.line == 2));
    }

    #[test]
    fn an_unknown_condition_is_undetermined_only_where_outcomes_differ() {
        let rules = output(
            vec![
                rule(2, vec![Cond::Unknown("ipset x".into())], Verdict::Drop),
                rule(
                    3,
                    vec![Cond::Addr {
                        end: End::Destination,
                        set: net("15.193.0.0/20"),
                        negate: false,
                    }],
                    Verdict::Drop,
                ),
            ],
            Verdict::Accept,
        );
        let out = evaluate(
            &rules,
            Placement::Host,
            &udp3478(),
            &Agents::default(),
            &net("15.193.0.0/19"),
        );
        let blocked: Vec<_> = out
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Blocked { .. }))
            .collect();
        let undetermined: Vec<_> = out
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Undetermined { .. }))
            .collect();
        assert_eq!(blocked[0].0, net("15.193.0.0/20"));
        assert_eq!(undetermined[0].0, net("15.193.16.0/20"));
    }

    #[test]
    fn jumps_return_and_policy() {
        let table = ("ip".to_owned(), "filter".to_owned());
        let mut rules = output(
            vec![rule(2, vec![], Verdict::Jump("allowed".into()))],
            Verdict::Drop,
        );
        rules.chains.push(Chain {
            key: chain_key(&table, "allowed"),
            name: "allowed".into(),
            table,
            rules: vec![
                rule(
                    5,
                    vec![Cond::Addr {
                        end: End::Destination,
                        set: net("15.193.0.0/20"),
                        negate: false,
                    }],
                    Verdict::Return,
                ),
                rule(6, vec![], Verdict::Accept),
            ],
            base: None,
            span: span(4),
            end_line: 9,
        });
        let out = evaluate(
            &rules,
            Placement::Host,
            &udp3478(),
            &Agents::default(),
            &net("15.193.0.0/19"),
        );
        for (part, fate) in out {
            if part == net("15.193.0.0/20") {
                assert!(matches!(fate, Fate::Blocked { .. }));
            } else {
                assert_eq!(part, net("15.193.16.0/20"));
                assert_eq!(fate, Fate::Allowed);
            }
        }
    }
}
