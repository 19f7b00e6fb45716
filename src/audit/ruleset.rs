//! The audit of a packet-filter ruleset: for every requirement, port and place in the network
//! (the agent's own `output`, a gateway's `forward`), what the ruleset does to the traffic, as
//! checks; and the rules that would let it through, placed in the chain the traffic walks
//! before the rule that stops it, in the file's own syntax, proven by auditing the fixed file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use ipnet::IpNet;

use super::firewall::{
    Agents, Fate, Flow, Hook, Placement, Ruleset, Verdict, any_v4, any_v6, evaluate, only_family,
};
use super::{csvrules, netfilter, nft, nothing_published};
use crate::allowlist::cidrs::CidrFormat;
use crate::allowlist::{Issues, Span, Strictness};
use crate::catalog::RangeRequirement;
use crate::error::Result;
use crate::net::{Direction, PortRange};
use crate::ranges::{IpSet, Snapshot};
use crate::report::{Check, CidrFix, Kind, Reason, Status};

/// The syntax of the file, for the rules a fix writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    Iptables,
    Nft,
    /// CSV with an action column.
    Csv,
}

impl Syntax {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Iptables => "iptables-save",
            Self::Nft => "nft",
            Self::Csv => "CSV",
        }
    }
}

/// What the options say: where the agents are, and where the file runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub agents: Agents,
    /// `--hook`: the file's place; `None` detects it from what the file filters.
    pub placement: Option<Placement>,
}

/// Which ruleset syntax `path` holds: the one named by `--cidrs-format`, else detected from
/// the start of the file; with its text. `None` for the other list formats.
pub(crate) fn syntax_of(
    path: &Path,
    format: Option<CidrFormat>,
) -> Result<Option<(Syntax, String)>> {
    let syntax = match format {
        Some(CidrFormat::Iptables) => Some(Syntax::Iptables),
        Some(CidrFormat::Nft) => Some(Syntax::Nft),
        Some(CidrFormat::Csv) => {
            let text = crate::input::read_list(path)?;
            return Ok(csvrules::looks_like(&text).then_some((Syntax::Csv, text)));
        }
        Some(_) => None,
        None => {
            // The start is enough to tell, and a long plain list is not read twice.
            let mut head = Vec::new();
            if let Ok(f) = std::fs::File::open(path) {
                let _ = f.take(64 * 1024).read_to_end(&mut head);
            }
            let head = String::from_utf8_lossy(&head);
            if nft::looks_like(&head) {
                Some(Syntax::Nft)
            } else if netfilter::looks_like(&head) {
                Some(Syntax::Iptables)
            } else if csvrules::looks_like(&head) {
                Some(Syntax::Csv)
            } else {
                None
            }
        }
    };
    match syntax {
        Some(s) => Ok(Some((s, crate::input::read_list(path)?))),
        None => Ok(None),
    }
}

/// Reads a ruleset in `syntax`.
pub(crate) fn read(
    text: &str,
    path: &Path,
    syntax: Syntax,
    strictness: Strictness,
) -> Result<Ruleset> {
    let mut issues = Issues::new(strictness);
    match syntax {
        Syntax::Iptables => netfilter::parse(text, path, &mut issues),
        Syntax::Nft => nft::parse(text, path, &mut issues),
        Syntax::Csv => csvrules::parse(text, path, &mut issues),
    }
}

/// The options of `--from`, `--hook` and the interfaces.
pub(crate) fn options(args: &super::Firewall) -> Result<Options> {
    let from = (!args.from.is_empty()).then(|| IpSet::from_nets(&args.from));
    Ok(Options {
        agents: Agents {
            from,
            in_iface: args.in_interface.clone(),
            out_iface: args.out_interface.clone(),
        },
        placement: args.placement,
    })
}

/// The evaluation, with what unresolved includes leave open: they may add any rule, so what
/// the file accepts is undetermined (what it blocks stays blocked: another chain cannot undo
/// a drop).
fn fates(rules: &Ruleset, place: Placement, flow: &Flow, agents: &Agents, space: &IpSet) -> Answer {
    let mut out = evaluate(rules, place, flow, agents, space);
    if let Some((span, _)) = rules.unresolved.first() {
        let why = rules
            .unresolved
            .iter()
            .map(|(_, w)| w.clone())
            .collect::<Vec<_>>()
            .join("; ");
        for (_, fate) in &mut out {
            if *fate == Fate::Allowed {
                *fate = Fate::Undetermined {
                    why: why.clone(),
                    span: Some(span.clone()),
                };
            }
        }
    }
    answer(out)
}

/// One requirement's answer at one place.
struct Answer {
    allowed: IpSet,
    blocked: Vec<(IpSet, Span, String, String)>,
    undetermined: Vec<(IpSet, String, Option<Span>)>,
}

fn answer(fates: Vec<(IpSet, Fate)>) -> Answer {
    let mut a = Answer {
        allowed: IpSet::new(),
        blocked: Vec::new(),
        undetermined: Vec::new(),
    };
    for (set, fate) in fates {
        match fate {
            Fate::Allowed => a.allowed = a.allowed.union(&set),
            Fate::Blocked { span, text, how } => {
                if let Some(slot) = a.blocked.iter_mut().find(|b| b.1 == span) {
                    slot.0 = slot.0.union(&set);
                } else {
                    a.blocked.push((set, span, text, how));
                }
            }
            Fate::Undetermined { why, span } => {
                if let Some(slot) = a.undetermined.iter_mut().find(|u| u.1 == why) {
                    slot.0 = slot.0.union(&set);
                } else {
                    a.undetermined.push((set, why, span));
                }
            }
        }
    }
    a.blocked.sort_by(|x, y| x.1.cmp(&y.1));
    a
}

/// The places to report: the one asked for, else the ones the file filters, else the agent's
/// own output.
pub(crate) fn placements(rules: &Ruleset, options: &Options) -> Vec<Placement> {
    if let Some(p) = options.placement {
        return vec![p];
    }
    let host = rules.filters(Hook::Output);
    // A forward chain with a policy and no rule is how a machine that routes nothing is
    // written: only rules there say the file is a gateway's.
    let gateway = rules
        .chains
        .iter()
        .any(|c| c.base.as_ref().is_some_and(|b| b.hook == Hook::Forward) && !c.rules.is_empty());
    match (host, gateway) {
        (false, true) => vec![Placement::Gateway],
        (true, true) => vec![Placement::Host, Placement::Gateway],
        _ => vec![Placement::Host],
    }
}

fn cidrs(set: &IpSet) -> Vec<String> {
    set.to_cidrs().iter().map(ToString::to_string).collect()
}

fn named(items: &[String]) -> String {
    super::named(items)
}

/// A rule to add: where, and what.
#[derive(Clone, Debug)]
pub(crate) struct Insertion {
    /// Inserted before this line (1-based); 0: appended to the file as commands of their own.
    pub before: usize,
    /// The chain, for people.
    pub chain: String,
    pub lines: Vec<String>,
}

/// What the audit of one ruleset found.
#[derive(Debug, Default)]
pub(crate) struct Audited {
    pub checks: Vec<Check>,
    pub fixes: Vec<CidrFix>,
    pub insertions: Vec<Insertion>,
    pub notes: Vec<String>,
    /// The file with the insertions, when there are any.
    pub fixed: Option<String>,
}

/// A flow that must pass, and the space it must reach.
struct Need<'a> {
    rule: &'a RangeRequirement,
    port: PortRange,
    space: IpSet,
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
pub(crate) fn audit(
    rules: &Ruleset,
    syntax: Syntax,
    text: &str,
    path: &Path,
    requirements: &[RangeRequirement],
    snapshot: &Snapshot,
    options: &Options,
    reread: &dyn Fn(&str) -> Option<Ruleset>,
) -> Audited {
    let mut out = Audited::default();
    let file = path.display().to_string();
    let places = placements(rules, options);
    let needs: Vec<Need<'_>> = requirements
        .iter()
        .flat_map(|r| {
            let space = r.space(snapshot);
            r.ports.iter().map(move |p| Need {
                rule: r,
                port: *p,
                space: space.clone(),
            })
        })
        .collect();
    let covered = {
        let mut s = IpSet::new();
        if rules.v4 {
            s = s.union(&any_v4());
        }
        if rules.v6 {
            s = s.union(&any_v6());
        }
        s
    };
    let mut to_open: Vec<(Placement, Direction, PortRange, IpSet, Span)> = Vec::new();
    for need in &needs {
        for &place in &places {
            let id = if places.len() > 1 {
                format!(
                    "allowlist/cidr/{}/{}/{}",
                    need.rule.id,
                    need.port,
                    place.name()
                )
            } else {
                format!("allowlist/cidr/{}/{}", need.rule.id, need.port)
            };
            let what = format!(
                "{} {} on {}{}",
                match need.rule.direction {
                    Direction::Outbound => "outbound to",
                    Direction::Inbound => "inbound from",
                },
                need.rule.describe(snapshot),
                need.port,
                if places.len() > 1 {
                    format!(" through the {} chains", place.name())
                } else {
                    String::new()
                }
            );
            let in_file = need.space.intersection(&covered);
            let elsewhere = need.space.difference(&covered);
            let check = if need.space.is_empty() {
                nothing_published(id, &what, snapshot)
            } else {
                let flow = Flow {
                    direction: need.rule.direction,
                    proto: need.port.proto,
                    port: need.port.first,
                    last: need.port.last,
                };
                let a = fates(rules, place, &flow, &options.agents, &in_file);
                let mut check = judge(&id, &what, &a, &file, need, &in_file);
                for (set, span, _, _) in &a.blocked {
                    to_open.push((
                        place,
                        need.rule.direction,
                        need.port,
                        set.clone(),
                        span.clone(),
                    ));
                }
                if !elsewhere.is_empty() {
                    let fam = if rules.v4 { "IPv6" } else { "IPv4" };
                    check.detail.push_str(&format!(
                        "; its {fam} space ({} CIDRs) is not filtered by this file (an {} file holds {} rules only): undetermined here",
                        elsewhere.to_cidrs().len(),
                        syntax.name(),
                        if rules.v4 { "IPv4" } else { "IPv6" }
                    ));
                    check = check.evidence("undetermined_family", cidrs(&elsewhere));
                }
                check
            };
            out.checks.push(
                check
                    .endpoint(need.port.first, need.port.proto)
                    .evidence("requirement", &need.rule.id)
                    .evidence("direction", need.rule.direction)
                    .evidence("hook", place.name()),
            );
        }
    }
    if rules.v4 != rules.v6 {
        let (has, lacks, tool) = if rules.v4 {
            ("IPv4", "IPv6", "ip6tables-save")
        } else {
            ("IPv6", "IPv4", "iptables-save")
        };
        out.checks.push(
            Check::new(
                format!("allowlist/cidr/family/{}", lacks.to_ascii_lowercase()),
                Kind::Allowlist,
                Status::Info,
                Reason::Undetermined,
                format!(
                    "{file} holds {has} rules only: whether {lacks} traffic to Connect passes is decided by rules this file does not hold; audit the {tool} output too"
                ),
            )
            .evidence("family", lacks),
        );
    }
    for i in rules.unreachable() {
        let chain = &rules.chains[i];
        if chain.rules.is_empty() {
            continue;
        }
        out.checks.push(
            Check::new(
                format!("allowlist/chain/{}", chain.key.replace(' ', "/")),
                Kind::Allowlist,
                Status::Info,
                Reason::UnreachableChain,
                format!(
                    "chain {} ({}) is reached by no jump or goto from a hooked chain: its {} rules apply to no packet, and were not counted",
                    chain.name,
                    chain.span.at_line(),
                    chain.rules.len()
                ),
            )
            .evidence("line", chain.span.at_line()),
        );
    }
    for (span, why) in &rules.unreadable {
        out.checks.push(
            Check::new(
                format!("allowlist/line/{span}"),
                Kind::Allowlist,
                Status::Warn,
                Reason::SkippedEntry,
                format!("{span}: {why}; what it does is undetermined"),
            )
            .remedy(crate::remedy::unreadable_rule(
                span.line,
                &span.path.display().to_string(),
            ))
            .evidence("line", span.at_line()),
        );
    }
    for note in &rules.notes {
        out.notes.push(note.clone());
    }
    if rules.unresolved.is_empty()
        && rules.chains.iter().all(|c| c.rules.is_empty())
        && rules
            .chains
            .iter()
            .filter_map(|c| c.base.as_ref())
            .all(|b| b.policy == Verdict::Accept)
    {
        out.checks.push(Check::new(
            "allowlist/cidr/empty",
            Kind::Allowlist,
            Status::Info,
            Reason::Ok,
            format!(
                "{file} holds no rule and no dropping policy: an empty {} ruleset filters nothing, so it lets every packet through",
                syntax.name()
            ),
        ));
    }
    // The fixes: rules accepting exactly the blocked space, before what blocks it.
    let (insertions, fixes, notes) =
        plan_fixes(rules, syntax, path, text, &to_open, &options.agents);
    out.fixes = fixes;
    out.notes.extend(notes);
    if !insertions.is_empty() {
        let mut fixed = apply(text, &insertions, syntax != Syntax::Csv);
        let mut all = insertions;
        // A fix in one chain can meet another chain that also blocks (a second table on the
        // hook): audit the fixed file and fix again, a few rounds at most.
        for _ in 0..3 {
            let Some(again) = reread(&fixed) else { break };
            let mut more = Vec::new();
            for need in &needs {
                for &place in &places {
                    let flow = Flow {
                        direction: need.rule.direction,
                        proto: need.port.proto,
                        port: need.port.first,
                        last: need.port.last,
                    };
                    let in_file = need.space.intersection(&covered);
                    let a = fates(&again, place, &flow, &options.agents, &in_file);
                    for (set, span, _, _) in a.blocked {
                        more.push((place, need.rule.direction, need.port, set, span));
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            let (ins, _, _) = plan_fixes(&again, syntax, path, &fixed, &more, &options.agents);
            if ins.is_empty() {
                break;
            }
            fixed = apply(&fixed, &ins, syntax != Syntax::Csv);
            all.extend(ins);
        }
        out.fixed = Some(fixed);
        out.insertions = all;
    }
    out
}

fn to_from(need: &Need<'_>) -> &'static str {
    match need.rule.direction {
        Direction::Outbound => "to",
        Direction::Inbound => "from",
    }
}

fn judge(id: &str, what: &str, a: &Answer, file: &str, need: &Need<'_>, space: &IpSet) -> Check {
    let total = space.to_cidrs().len();
    let blocked: IpSet = a
        .blocked
        .iter()
        .fold(IpSet::new(), |acc, b| acc.union(&b.0));
    let undetermined: IpSet = a
        .undetermined
        .iter()
        .fold(IpSet::new(), |acc, u| acc.union(&u.0));
    let blocked_by: Vec<String> = a
        .blocked
        .iter()
        .map(|(_, span, text, how)| format!("{}: {text} ({how})", span.at_line()))
        .collect();
    let depends: Vec<String> = a
        .undetermined
        .iter()
        .map(|(_, why, span)| match span {
            Some(s) => format!("{} ({})", why, s.at_line()),
            None => why.clone(),
        })
        .collect();
    if space.is_empty() {
        return Check::new(
            id,
            Kind::Allowlist,
            Status::Pass,
            Reason::Ok,
            format!("{what}: nothing of it is filtered by {file}"),
        );
    }
    if !blocked.is_empty() {
        let reason = if a.allowed.is_empty() && undetermined.is_empty() {
            Reason::MissingCidr
        } else {
            Reason::PartialCidr
        };
        let missing = cidrs(&blocked);
        let mut detail = if reason == Reason::MissingCidr {
            format!(
                "{what}: every packet to its {total} CIDRs is stopped: {}",
                named(&blocked_by)
            )
        } else {
            format!(
                "{what}: {} of its address space is stopped ({}): {}",
                named(&missing),
                missing.len(),
                named(&blocked_by)
            )
        };
        if !undetermined.is_empty() {
            let _ = write!(
                detail,
                "; undetermined elsewhere: depends on {}",
                named(&depends)
            );
        }
        let mut c = Check::new(id, Kind::Allowlist, Status::Fail, reason, detail)
            .remedy(crate::remedy::accept_before(
                &need.port.to_string(),
                need.rule.direction,
                &named(&missing),
                &named(&a.blocked.iter().map(|b| b.1.at_line()).collect::<Vec<_>>()),
                file,
            ))
            .evidence("missing", &missing)
            .evidence("blocked_by", &blocked_by);
        if !undetermined.is_empty() {
            c = c
                .evidence("undetermined", cidrs(&undetermined))
                .evidence("depends_on", &depends);
        }
        return c;
    }
    if !undetermined.is_empty() {
        return Check::new(
            id,
            Kind::Allowlist,
            Status::Warn,
            Reason::Undetermined,
            format!(
                "{what}: {} of its {total} CIDRs cannot be decided from {file}: it depends on {}",
                undetermined.to_cidrs().len(),
                named(&depends)
            ),
        )
        .remedy(crate::remedy::ruleset_undetermined(&named(&depends)))
        .evidence("undetermined", cidrs(&undetermined))
        .evidence("depends_on", &depends);
    }
    Check::new(
        id,
        Kind::Allowlist,
        Status::Pass,
        Reason::Ok,
        format!(
            "{what}: every packet {} its {total} CIDRs is accepted by {file}",
            to_from(need)
        ),
    )
}

/// Where the chain that blocks at `span` is, and whether `span` is its policy.
fn blocking_chain(rules: &Ruleset, span: &Span) -> Option<(usize, bool)> {
    for (i, c) in rules.chains.iter().enumerate() {
        if c.rules.iter().any(|r| &r.span == span) {
            return Some((i, false));
        }
        if c.base.as_ref().is_some_and(|b| &b.policy_span == span) {
            return Some((i, true));
        }
    }
    None
}

type Plan = (Vec<Insertion>, Vec<CidrFix>, Vec<String>);

fn plan_fixes(
    rules: &Ruleset,
    syntax: Syntax,
    path: &Path,
    text: &str,
    blocked: &[(Placement, Direction, PortRange, IpSet, Span)],
    agents: &Agents,
) -> Plan {
    // (line, chain) -> (direction, port) -> space
    let mut at: BTreeMap<(usize, usize), BTreeMap<(u8, PortRange), IpSet>> = BTreeMap::new();
    let mut fixes = Vec::new();
    let mut notes = Vec::new();
    for (_, direction, port, set, span) in blocked {
        let Some((chain, policy)) = blocking_chain(rules, span) else {
            continue;
        };
        let c = &rules.chains[chain];
        let line_text = |n: usize| text.lines().nth(n.wrapping_sub(1)).unwrap_or("").trim();
        let line = if policy {
            // Before the chain's end: its closing brace (nft) or its table's COMMIT.
            let end = c.end_line;
            let own_line = match syntax {
                Syntax::Iptables => line_text(end) == "COMMIT",
                Syntax::Nft => line_text(end).starts_with('}'),
                Syntax::Csv => false,
            };
            if end > 0 && own_line && *c.span.path == *path {
                end
            } else {
                0
            }
        } else if *span.path == *path
            && (syntax == Syntax::Iptables || !line_text(span.line).contains('{'))
        {
            span.line
        } else {
            0
        };
        if line == 0 && syntax == Syntax::Iptables {
            continue;
        }
        let line = if syntax == Syntax::Csv && policy {
            0
        } else {
            line
        };
        let slot = at
            .entry((line, chain))
            .or_default()
            .entry((u8::from(*direction == Direction::Inbound), *port))
            .or_default();
        *slot = slot.union(set);
    }
    let mut insertions = Vec::new();
    for ((line, chain), flows) in at {
        let c = &rules.chains[chain];
        let mut lines = Vec::new();
        for ((inbound, port), set) in flows {
            let direction = if inbound == 1 {
                Direction::Inbound
            } else {
                Direction::Outbound
            };
            for net in set.to_cidrs() {
                fixes.push(CidrFix {
                    cidr: net.to_string(),
                    proto: port.proto,
                    port: port.ports(),
                });
            }
            match syntax {
                Syntax::Iptables => {
                    for net in set.to_cidrs() {
                        lines.push(iptables_rule(&c.name, direction, port, &net, agents));
                    }
                }
                Syntax::Csv => {
                    let header = csvrules::header(text);
                    // Before the row that denies, with its order value; after every row, with
                    // one past the highest.
                    let order = if line == 0 {
                        csvrules::max_order(text).map(|m| (m + 1).to_string())
                    } else {
                        csvrules::order_at(text, line)
                    };
                    for net in set.to_cidrs() {
                        lines.push(csvrules::row(
                            &header,
                            direction == Direction::Inbound,
                            port.proto,
                            &port.ports(),
                            &net.to_string(),
                            order.as_deref(),
                        ));
                    }
                }
                Syntax::Nft => {
                    // Appended as commands: `add` for a policy (the end of the chain),
                    // `insert` (the chain's top) before a rule in another file.
                    let command = if line == 0 {
                        let verb = if c.base.as_ref().is_some_and(|b| b.policy_span.line != 0)
                            && blocked
                                .iter()
                                .any(|b| blocking_chain(rules, &b.4) == Some((chain, true)))
                        {
                            "add"
                        } else {
                            "insert"
                        };
                        format!("{verb} rule {} {} {} ", c.table.0, c.table.1, c.name)
                    } else {
                        String::new()
                    };
                    for v6 in [false, true] {
                        let part = only_family(&set, v6);
                        if part.is_empty() {
                            continue;
                        }
                        let fits = match c.table.0.as_str() {
                            "inet" => true,
                            "ip" => !v6,
                            "ip6" => v6,
                            _ => false,
                        };
                        if !fits {
                            notes.push(crate::remedy::wrong_table_family(
                                part.to_cidrs().len(),
                                &port.to_string(),
                                v6,
                                &c.name,
                                &c.table.0,
                            ));
                            continue;
                        }
                        lines.push(format!(
                            "{command}{}",
                            nft_rule(direction, port, &part, v6, agents)
                        ));
                    }
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        insertions.push(Insertion {
            before: line,
            chain: format!("{} ({} {})", c.name, c.table.0, c.table.1),
            lines,
        });
    }
    fixes.sort();
    fixes.dedup();
    (insertions, fixes, notes)
}

fn iptables_rule(
    chain: &str,
    direction: Direction,
    port: PortRange,
    net: &IpNet,
    agents: &Agents,
) -> String {
    let p = port.proto.as_str();
    let ports = if port.first == port.last {
        port.first.to_string()
    } else {
        format!("{}:{}", port.first, port.last)
    };
    let v6 = net.addr().is_ipv6();
    let from = agents
        .from
        .as_ref()
        .map(|f| only_family(f, v6))
        .filter(|f| !f.is_empty())
        .map(|f| cidrs(&f).join(","));
    match direction {
        Direction::Outbound => {
            let src = from.map(|f| format!(" -s {f}")).unwrap_or_default();
            format!(
                "-A {chain}{src} -d {net} -p {p} -m {p} --dport {ports} -m comment --comment \"Amazon Connect\" -j ACCEPT"
            )
        }
        Direction::Inbound => {
            let dst = from.map(|f| format!(" -d {f}")).unwrap_or_default();
            format!(
                "-A {chain} -s {net}{dst} -p {p} -m {p} --sport {ports} -m comment --comment \"Amazon Connect\" -j ACCEPT"
            )
        }
    }
}

fn nft_rule(
    direction: Direction,
    port: PortRange,
    set: &IpSet,
    v6: bool,
    agents: &Agents,
) -> String {
    let fam = if v6 { "ip6" } else { "ip" };
    let nets = cidrs(set).join(", ");
    let ports = port.ports();
    let p = port.proto.as_str();
    let from = agents
        .from
        .as_ref()
        .map(|f| only_family(f, v6))
        .filter(|f| !f.is_empty())
        .map(|f| format!("{{ {} }}", cidrs(&f).join(", ")));
    match direction {
        Direction::Outbound => {
            let src = from
                .map(|f| format!("{fam} saddr {f} "))
                .unwrap_or_default();
            format!(
                "{src}{fam} daddr {{ {nets} }} {p} dport {ports} accept comment \"Amazon Connect\""
            )
        }
        Direction::Inbound => {
            let dst = from
                .map(|f| format!("{fam} daddr {f} "))
                .unwrap_or_default();
            format!(
                "{fam} saddr {{ {nets} }} {dst}{p} sport {ports} accept comment \"Amazon Connect\""
            )
        }
    }
}

/// `text` with each insertion's lines before its line, indented like that line.
pub(crate) fn apply(text: &str, insertions: &[Insertion], comment: bool) -> String {
    let mut by_line: BTreeMap<usize, Vec<&Insertion>> = BTreeMap::new();
    for ins in insertions {
        by_line.entry(ins.before).or_default().push(ins);
    }
    let mut out = String::with_capacity(text.len() + 256);
    for (i, line) in text
        .split_inclusive('\n')
        .enumerate()
        .chain(std::iter::once((usize::MAX - 1, "")))
    {
        if i == usize::MAX - 1 {
            if let Some(list) = by_line.get(&0) {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                for ins in list {
                    if comment {
                        let _ = writeln!(
                            out,
                            "# Added by connect-preflight audit: Amazon Connect traffic chain {} stopped",
                            ins.chain
                        );
                    }
                    for l in &ins.lines {
                        let _ = writeln!(out, "{l}");
                    }
                }
            }
            break;
        }
        if let Some(list) = by_line.get(&(i + 1)) {
            let indent: String = line
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            // A closing brace is indented one level less than the rules it closes.
            let indent = if line.trim_start().starts_with('}') {
                format!("{indent}\t")
            } else {
                indent
            };
            for ins in list {
                if comment {
                    let _ = writeln!(
                        out,
                        "{indent}# Added by connect-preflight audit: Amazon Connect traffic this chain stopped"
                    );
                }
                for l in &ins.lines {
                    let _ = writeln!(out, "{indent}{l}");
                }
            }
        }
        out.push_str(line);
    }
    out
}

/// The lines to paste, grouped by where they go, for the text report.
pub(crate) fn what_to_add(audited: &Audited, path: &Path, syntax: Syntax) -> String {
    let mut out = String::new();
    if audited.insertions.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nWhat to add to {} ({} syntax, paste as is):",
        path.display(),
        syntax.name()
    );
    for ins in &audited.insertions {
        if ins.before == 0 {
            let _ = writeln!(out, "# at the end of the file (chain {}):", ins.chain);
        } else {
            let _ = writeln!(out, "# in chain {}, before line {}:", ins.chain, ins.before);
        }
        for l in &ins.lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}
