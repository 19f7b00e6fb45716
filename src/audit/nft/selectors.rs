//! The selectors of a rule (`ip saddr`, `tcp dport`, `meta l4proto`, `ct state`, `tcp flags`,
//! `fib`, ...) and the values they are matched against (literals, `$variables`, anonymous and
//! named sets, verdict maps) translated into the audit's conditions.

use super::super::firewall::{Cond, End, IfaceSide, TCP, UDP};
use super::super::netfilter::{port_number, proto_number};
use crate::allowlist::cidrs::parse_space;
use crate::ranges::IpSet;

use super::lexer::{Cursor, Element, Token, block, elements};
use super::{Fail, Reader, fail};

/// A verdict map's entry: its key's components and its verdict.
type MapEntry = (Vec<Vec<Token>>, Vec<Token>);

/// What a selector reads, for the conditions it makes.
#[derive(Clone, Debug)]
pub(super) enum Sel {
    Addr {
        end: End,
        v6: bool,
    },
    Port {
        end: End,
        protos: Vec<u8>,
    },
    Proto {
        family: Option<bool>,
    },
    Family,
    Iface(IfaceSide),
    Ct,
    TcpFlags,
    /// An ICMP field: never a TCP or UDP packet.
    Icmp(u8),
    Fib,
    PktType,
    CtDirection,
    /// Known, not decidable from the file: names it.
    Opaque(String),
    /// A header field of a protocol (`ip ttl`) that depends on the packet.
    Field {
        family: Option<bool>,
        proto: Option<u8>,
        what: String,
    },
}

impl Reader<'_> {
    pub(super) fn selectors(
        &self,
        c: &mut Cursor<'_>,
    ) -> std::result::Result<Vec<(Sel, Token)>, Fail> {
        let mut out = Vec::new();
        loop {
            let Some(t) = c.next() else {
                let t = c.last_or(&c.toks[0]).clone();
                return Err(fail(&t, "a selector"));
            };
            let sel = selector(c, t)?;
            out.push((sel, t.clone()));
            if c.peek().is_some_and(|t| t.word() == Some(".")) {
                c.next();
                continue;
            }
            return Ok(out);
        }
    }

    /// The entries of `{ k : v, ... }` or of a named map `@m`.
    pub(super) fn map_entries(
        &self,
        table: &(String, String),
        c: &mut Cursor<'_>,
        at: &Token,
    ) -> std::result::Result<Vec<MapEntry>, Fail> {
        let Some(t) = c.peek() else {
            return Err(fail(at, "{ key : verdict, ... } or @map after vmap"));
        };
        if let Some(name) = t.word().and_then(|w| w.strip_prefix('@')) {
            c.next();
            let key = format!("{} {} {}", table.0, table.1, name);
            let Some(set) = self.sets.get(&key) else {
                return Err(fail(
                    t,
                    format!("a map declared in table {} {}", table.0, table.1),
                ));
            };
            return Ok(set
                .elements
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect());
        }
        if !t.is("{") {
            return Err(fail(t, "{ key : verdict, ... } or @map after vmap"));
        }
        let start = c.at;
        let Some((inner, end)) = block(c.toks, start) else {
            return Err(fail(t, "a } closing the map"));
        };
        c.at = end;
        let mut out = Vec::new();
        for (k, v) in elements(inner) {
            let Some(v) = v else {
                return Err(fail(
                    k.first().and_then(|c| c.first()).unwrap_or(t),
                    "key : verdict",
                ));
            };
            out.push((k, v));
        }
        Ok(out)
    }

    /// The conditions one element (a concatenation of values) sets for the selectors.
    pub(super) fn element_conds(
        &self,
        sels: &[(Sel, Token)],
        key: &[Vec<Token>],
        at: &Token,
    ) -> std::result::Result<Vec<Cond>, Fail> {
        if key.len() != sels.len() {
            return Err(fail(
                key.first().and_then(|k| k.first()).unwrap_or(at),
                format!("{} values joined by \" . \", one per selector", sels.len()),
            ));
        }
        let mut out = Vec::new();
        for ((sel, st), value) in sels.iter().zip(key) {
            let words: Vec<&Token> = value.iter().collect();
            out.extend(sel_conds(sel, st, &words, false)?);
        }
        Ok(out)
    }

    /// The conditions of `selectors [op] value`, for a value, a `{ set }`, or `@set`.
    pub(super) fn match_value(
        &self,
        table: &(String, String),
        sels: &[(Sel, Token)],
        c: &mut Cursor<'_>,
        negate: bool,
        at: &Token,
    ) -> std::result::Result<Vec<Cond>, Fail> {
        let Some(t) = c.peek() else {
            // `tcp flags syn`-less forms such as `ct state` alone are not valid nft.
            return Err(fail(at, "a value after the selector"));
        };
        // Relational operators on ports: `tcp dport < 1024`.
        if let Some(op) = ["<", ">", "<=", ">=", "lt", "gt", "le", "ge"]
            .iter()
            .find(|o| t.is(o))
        {
            c.next();
            let Some(v) = c.next() else {
                return Err(fail(t, "a value"));
            };
            let n = v
                .value()
                .and_then(port_number)
                .ok_or_else(|| fail(v, "a number"))?;
            let range = match *op {
                "<" | "lt" => (0, n.saturating_sub(1)),
                ">" | "gt" => (n.saturating_add(1), 65535),
                "<=" | "le" => (0, n),
                _ => (n, 65535),
            };
            let Some((Sel::Port { end, protos }, _)) = sels.first() else {
                return Ok(vec![Cond::Unknown(format!(
                    "a comparison on {}",
                    sels[0].1.text()
                ))]);
            };
            let mut out = proto_conds(protos);
            out.push(Cond::Port {
                end: *end,
                ranges: vec![range],
                negate,
            });
            return Ok(out);
        }
        let elements_list: Vec<Element>;
        if let Some(name) = t.word().and_then(|w| w.strip_prefix('@')) {
            c.next();
            let key = format!("{} {} {}", table.0, table.1, name);
            let Some(set) = self.sets.get(&key) else {
                return Err(fail(
                    t,
                    format!("a set declared in table {} {}", table.0, table.1),
                ));
            };
            if set.dynamic || self.filled.contains(&key) {
                let mut out: Vec<Cond> = family_conds(sels);
                out.push(Cond::Unknown(format!(
                    "the set @{name}, which is filled while the firewall runs"
                )));
                return Ok(out);
            }
            elements_list = set.elements.clone();
        } else if t.is("{") {
            let start = c.at;
            let Some((inner, end)) = block(c.toks, start) else {
                return Err(fail(t, "a } closing the set"));
            };
            c.at = end;
            elements_list = elements(inner);
        } else {
            // A single value, or a comma list (`ct state established,related`), or flags with
            // a mask (`tcp flags & (syn|ack) == syn`).
            if matches!(sels.first(), Some((Sel::TcpFlags, _))) {
                return Ok(tcp_flags(c, negate));
            }
            let mut list: Vec<Element> = Vec::new();
            let mut comps: Vec<Vec<Token>> = vec![Vec::new()];
            while let Some(v) = c.peek() {
                if v.value().is_none() {
                    break;
                }
                if is_keyword_start(v) && !comps.last().is_some_and(Vec::is_empty) {
                    break;
                }
                c.next();
                comps.last_mut().expect("never empty").push(v.clone());
                // `"00:00"-"06:00"`: a range written as two values.
                if c.peek().is_some_and(|n| n.word() == Some("-")) {
                    c.next();
                    if let Some(n) = c.next() {
                        comps.last_mut().expect("never empty").push(n.clone());
                    }
                }
                if c.peek().is_some_and(|n| n.word() == Some(".")) && sels.len() > comps.len() {
                    c.next();
                    comps.push(Vec::new());
                    continue;
                }
                if c.eat(",") {
                    list.push((std::mem::replace(&mut comps, vec![Vec::new()]), None));
                    continue;
                }
                break;
            }
            if comps.iter().any(|x| !x.is_empty()) {
                list.push((comps, None));
            }
            if list.is_empty() {
                return Err(fail(t, "a value after the selector"));
            }
            elements_list = list;
        }
        // One selector: one condition over all values. Several: any of the elements.
        if sels.len() == 1 {
            let words: Vec<&Token> = elements_list
                .iter()
                .flat_map(|(k, _)| k.iter().flatten())
                .collect();
            return sel_conds(&sels[0].0, &sels[0].1, &words, negate);
        }
        let mut any = Vec::new();
        for (k, _) in &elements_list {
            any.push(self.element_conds(sels, k, at)?);
        }
        let mut out = family_conds(sels);
        let cond = Cond::AnyOf(any);
        out.push(if negate {
            Cond::Unknown("a negated concatenation".to_owned())
        } else {
            cond
        });
        Ok(out)
    }
}

fn is_keyword_start(t: &Token) -> bool {
    matches!(
        t.word(),
        Some(
            "accept"
                | "drop"
                | "reject"
                | "return"
                | "jump"
                | "goto"
                | "counter"
                | "log"
                | "limit"
                | "comment"
                | "queue"
                | "continue"
                | "notrack"
                | "masquerade"
                | "snat"
                | "dnat"
                | "redirect"
                | "ip"
                | "ip6"
                | "tcp"
                | "udp"
                | "th"
                | "meta"
                | "ct"
                | "iif"
                | "oif"
                | "iifname"
                | "oifname"
                | "icmp"
                | "icmpv6"
                | "mark"
                | "vmap"
                | "quota"
                | "fib"
                | "l4proto"
        )
    )
}

/// Reads a selector whose first word is `t` (consuming its other words).
pub(super) fn selector(c: &mut Cursor<'_>, t: &Token) -> std::result::Result<Sel, Fail> {
    let w = t.word().unwrap_or("");
    let field = |c: &mut Cursor<'_>| c.next().and_then(Token::word).unwrap_or("").to_owned();
    let end_of = |f: &str| {
        if f == "saddr" || f == "sport" {
            End::Source
        } else {
            End::Destination
        }
    };
    Ok(match w {
        "ip" | "ip6" => {
            let v6 = w == "ip6";
            let f = field(c);
            match f.as_str() {
                "saddr" | "daddr" => Sel::Addr {
                    end: end_of(&f),
                    v6,
                },
                "protocol" | "nexthdr" => Sel::Proto { family: Some(v6) },
                "version" => Sel::Family,
                "" => return Err(fail(t, "a field after ip: saddr, daddr, protocol, ...")),
                other => Sel::Field {
                    family: Some(v6),
                    proto: None,
                    what: format!("the packet's {w} {other}"),
                },
            }
        }
        "tcp" | "udp" | "th" | "sctp" | "udplite" | "dccp" => {
            let f = field(c);
            let protos = match w {
                "tcp" => vec![TCP],
                "udp" => vec![UDP],
                "sctp" => vec![132],
                "udplite" => vec![136],
                "dccp" => vec![33],
                _ => vec![TCP, UDP, 132, 136, 33],
            };
            match f.as_str() {
                "dport" | "sport" => Sel::Port {
                    end: end_of(&f),
                    protos,
                },
                "flags" if w == "tcp" => Sel::TcpFlags,
                "option" => {
                    // `tcp option maxseg size set rt mtu`: a statement, or an option match.
                    Sel::Field {
                        family: None,
                        proto: Some(TCP),
                        what: "the TCP options".to_owned(),
                    }
                }
                "" => return Err(fail(t, format!("a field after {w}: dport, sport, ..."))),
                other => Sel::Field {
                    family: None,
                    proto: protos.first().copied().filter(|_| protos.len() == 1),
                    what: format!("the packet's {w} {other}"),
                },
            }
        }
        "icmp" | "icmpv6" | "icmpx" | "igmp" => {
            field(c);
            Sel::Icmp(if w == "icmpv6" {
                58
            } else if w == "igmp" {
                2
            } else {
                1
            })
        }
        "meta" => {
            let f = field(c);
            meta_selector(&f, t)?
        }
        "l4proto" | "nfproto" | "iif" | "oif" | "iifname" | "oifname" | "mark" | "skuid"
        | "skgid" | "pkttype" | "iiftype" | "oiftype" | "cpu" | "cgroup" | "priority"
        | "length" | "iifgroup" | "oifgroup" | "rtclassid" | "secmark" | "time" | "day"
        | "hour" | "ibrname" | "obrname" => meta_selector(w, t)?,
        "ct" => {
            let f = field(c);
            match f.as_str() {
                "state" => Sel::Ct,
                "direction" => Sel::CtDirection,
                "original" | "reply" => {
                    field(c);
                    Sel::Opaque("the connection's tracked addresses".to_owned())
                }
                "" => return Err(fail(t, "a field after ct: state, status, mark, ...")),
                other => Sel::Opaque(format!("the connection's ct {other}")),
            }
        }
        "fib" => {
            // `fib daddr type`, `fib saddr . iif oif`.
            while let Some(n) = c.peek() {
                if n.word()
                    .is_some_and(|w| matches!(w, "saddr" | "daddr" | "mark" | "iif" | "oif" | "."))
                {
                    c.next();
                } else {
                    break;
                }
            }
            let result = field(c);
            if result == "type" {
                Sel::Fib
            } else {
                Sel::Opaque(format!("the routing lookup (fib ... {result})"))
            }
        }
        "ether" | "vlan" | "arp" | "ah" | "esp" | "comp" | "rt" | "hbh" | "frag" | "dst" | "mh"
        | "srh" | "exthdr" | "socket" | "osf" | "ipsec" | "tunnel" | "numgen" | "jhash"
        | "symhash" | "dscp" | "rt0" => {
            // Read their field words.
            while c.peek().and_then(Token::word).is_some_and(|w| {
                !is_keyword_start_word(w)
                    && w.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch == '-' || ch.is_ascii_digit())
                    && !matches!(w, "set")
            }) {
                let n = c.peek().and_then(Token::word).unwrap_or("");
                if [
                    "saddr",
                    "daddr",
                    "type",
                    "id",
                    "spi",
                    "wildcard",
                    "transparent",
                    "name",
                    "random",
                    "mod",
                    "offset",
                    "seqno",
                    "hdrlength",
                    "nexthdr",
                    "reserved",
                    "more-fragments",
                    "frag-off",
                    "flags",
                    "hoplimit",
                    "exists",
                    "missing",
                    "mark",
                    "cgroupv2",
                    "level",
                    "ttl",
                    "version",
                    "in",
                    "out",
                    "reqid",
                    "sport",
                    "dport",
                    "prio",
                    "cfi",
                    "pcp",
                    "htype",
                    "ptype",
                    "hlen",
                    "plen",
                    "operation",
                    "classid",
                    "nexthop",
                    "mtu",
                    "ipsec",
                    "tcpmss",
                    "code",
                ]
                .contains(&n)
                {
                    c.next();
                } else {
                    break;
                }
            }
            Sel::Opaque(format!("the packet's {w} header or socket"))
        }
        _ => {
            return Err(fail(
                t,
                "a match nft knows (ip, ip6, tcp, udp, th, meta, ct, iifname, ...), a statement or a verdict",
            ));
        }
    })
}

fn is_keyword_start_word(w: &str) -> bool {
    matches!(
        w,
        "accept"
            | "drop"
            | "reject"
            | "return"
            | "jump"
            | "goto"
            | "counter"
            | "log"
            | "limit"
            | "comment"
            | "vmap"
    )
}

fn meta_selector(f: &str, t: &Token) -> std::result::Result<Sel, Fail> {
    Ok(match f {
        "l4proto" | "protocol" if f == "l4proto" => Sel::Proto { family: None },
        "protocol" => Sel::Opaque("the link-layer protocol (meta protocol)".to_owned()),
        "nfproto" => Sel::Family,
        "iif" | "iifname" => Sel::Iface(IfaceSide::In),
        "oif" | "oifname" => Sel::Iface(IfaceSide::Out),
        "pkttype" => Sel::PktType,
        "mark" => Sel::Opaque("the packet mark, set outside what this rule shows".to_owned()),
        "skuid" | "skgid" => Sel::Opaque("which local user sends the packet".to_owned()),
        "" => {
            return Err(fail(
                t,
                "a field after meta: l4proto, nfproto, iifname, oifname, mark, ...",
            ));
        }
        other => Sel::Opaque(format!("the packet's meta {other}")),
    })
}

fn proto_conds(protos: &[u8]) -> Vec<Cond> {
    vec![Cond::Proto {
        protos: protos.to_vec(),
        negate: false,
    }]
}

/// The family a selector implies (`ip daddr` only matches IPv4), for concatenations.
fn family_conds(sels: &[(Sel, Token)]) -> Vec<Cond> {
    let mut out = Vec::new();
    for (sel, _) in sels {
        match sel {
            Sel::Addr { v6, .. } => out.push(Cond::Family { v6: *v6 }),
            Sel::Proto { family: Some(v6) } => out.push(Cond::Family { v6: *v6 }),
            Sel::Port { protos, .. } => out.extend(proto_conds(protos)),
            _ => {}
        }
    }
    out
}

/// The conditions for one selector matched against `values` (any of them).
fn sel_conds(
    sel: &Sel,
    at: &Token,
    values: &[&Token],
    negate: bool,
) -> std::result::Result<Vec<Cond>, Fail> {
    let first = values.first().copied().unwrap_or(at);
    Ok(match sel {
        Sel::Addr { end, v6 } => {
            let mut set = IpSet::new();
            for v in values {
                let text = v.value().unwrap_or("");
                let s = parse_space(text).map_err(|e| fail(v, e))?;
                if (*v6 && !s.v4.is_empty()) || (!*v6 && !s.v6.is_empty()) {
                    return Err(fail(
                        v,
                        if *v6 {
                            "an IPv6 address after ip6"
                        } else {
                            "an IPv4 address after ip"
                        },
                    ));
                }
                set = set.union(&s);
            }
            vec![
                Cond::Family { v6: *v6 },
                Cond::Addr {
                    end: *end,
                    set,
                    negate,
                },
            ]
        }
        Sel::Port { end, protos } => {
            let mut ranges = Vec::new();
            for v in values {
                let text = v.value().unwrap_or("");
                let r = port_number(text).map(|p| (p, p)).or_else(|| {
                    text.split_once('-')
                        .and_then(|(a, b)| port_number(a).zip(port_number(b)))
                });
                ranges.push(
                    r.ok_or_else(|| fail(v, "a port, a range (1024-65535) or a service name"))?,
                );
            }
            let mut out = proto_conds(protos);
            out.push(Cond::Port {
                end: *end,
                ranges,
                negate,
            });
            out
        }
        Sel::Proto { family } => {
            let mut protos = Vec::new();
            for v in values {
                match proto_number(v.value().unwrap_or("")) {
                    Some(Some(p)) => protos.push(p),
                    _ => return Err(fail(v, "a protocol: tcp, udp, icmp, ... or a number")),
                }
            }
            let mut out = Vec::new();
            if let Some(v6) = family {
                out.push(Cond::Family { v6: *v6 });
            }
            out.push(Cond::Proto { protos, negate });
            out
        }
        Sel::Family => {
            let mut v4 = false;
            let mut v6 = false;
            for v in values {
                match v.value().unwrap_or("") {
                    "ipv4" | "4" => v4 = true,
                    "ipv6" | "6" => v6 = true,
                    _ => return Err(fail(v, "ipv4 or ipv6")),
                }
            }
            let (v4, v6) = if negate { (!v4, !v6) } else { (v4, v6) };
            match (v4, v6) {
                (true, true) => vec![],
                (true, false) => vec![Cond::Family { v6: false }],
                (false, true) => vec![Cond::Family { v6: true }],
                (false, false) => vec![Cond::Const(false)],
            }
        }
        Sel::Iface(side) => {
            let names: Vec<String> = values
                .iter()
                .map(|v| v.value().unwrap_or("").to_owned())
                .collect();
            vec![Cond::Iface {
                side: *side,
                names,
                negate,
            }]
        }
        Sel::Ct => {
            let mut states = Vec::new();
            for v in values {
                let s = v.value().unwrap_or("").to_ascii_lowercase();
                if !["new", "established", "related", "invalid", "untracked"].contains(&s.as_str())
                {
                    return Err(fail(
                        v,
                        "a state: new, established, related, invalid, untracked",
                    ));
                }
                states.push(s);
            }
            vec![Cond::CtState { states, negate }]
        }
        Sel::CtDirection => {
            let original = values.iter().any(|v| v.value() == Some("original"));
            vec![Cond::Const(original != negate)]
        }
        Sel::TcpFlags => {
            // In a set: any of the listed exact flag combinations; a SYN alone is `syn`.
            let syn = values.iter().any(|v| v.value() == Some("syn"));
            vec![
                Cond::Proto {
                    protos: vec![TCP],
                    negate: false,
                },
                Cond::Syn {
                    matches_syn: syn != negate,
                },
            ]
        }
        Sel::Icmp(p) => vec![Cond::Proto {
            protos: vec![*p],
            negate: false,
        }],
        Sel::PktType => {
            let unicast = values
                .iter()
                .any(|v| v.value() == Some("host") || v.value() == Some("unicast"));
            vec![Cond::Const(unicast != negate)]
        }
        Sel::Fib => {
            let types: Vec<&str> = values.iter().filter_map(|v| v.value()).collect();
            if types.iter().all(|t| {
                [
                    "broadcast",
                    "multicast",
                    "anycast",
                    "blackhole",
                    "unreachable",
                    "prohibit",
                ]
                .contains(t)
            }) {
                vec![Cond::Const(negate)]
            } else if types.iter().all(|t| *t == "unicast") {
                vec![Cond::Const(!negate)]
            } else {
                vec![Cond::Unknown(format!(
                    "whether the address is local to the machine (fib ... type {})",
                    types.join(",")
                ))]
            }
        }
        Sel::Opaque(what) => vec![Cond::Unknown(format!("{what} ({})", first.text()))],
        Sel::Field {
            family,
            proto,
            what,
        } => {
            let mut out = Vec::new();
            if let Some(v6) = family {
                out.push(Cond::Family { v6: *v6 });
            }
            if let Some(p) = proto {
                out.push(Cond::Proto {
                    protos: vec![*p],
                    negate: false,
                });
            }
            out.push(Cond::Unknown(what.clone()));
            out
        }
    })
}

/// `tcp flags syn`, `tcp flags == syn`, `tcp flags & (fin|syn|rst|ack) == syn`,
/// `tcp flags syn / fin,syn,rst,ack`: whether a SYN (the first packet) matches.
fn tcp_flags(c: &mut Cursor<'_>, negate: bool) -> Vec<Cond> {
    const SYN: u8 = 0x02;
    let bit = |w: &str| -> u8 {
        match w {
            "fin" => 0x01,
            "syn" => 0x02,
            "rst" => 0x04,
            "psh" => 0x08,
            "ack" => 0x10,
            "urg" => 0x20,
            "ecn" => 0x40,
            "cwr" => 0x80,
            _ => 0,
        }
    };
    let read_flags = |c: &mut Cursor<'_>| -> u8 {
        let mut v = 0;
        let paren = c.eat("(");
        while let Some(t) = c.peek() {
            if let Some(w) = t.word() {
                let b = bit(w);
                if b == 0 {
                    break;
                }
                v |= b;
                c.next();
                if c.eat("|") || c.eat(",") {
                    continue;
                }
                if paren {
                    continue;
                }
                break;
            } else if paren && t.is(")") {
                c.next();
                break;
            } else {
                break;
            }
        }
        v
    };
    let mut negate = negate;
    let (mask, value, exact);
    if c.eat("&") {
        mask = read_flags(c);
        if c.eat("!=") {
            negate = !negate;
        } else {
            c.eat("==");
        }
        value = read_flags(c);
        exact = true;
    } else {
        value = read_flags(c);
        if c.peek().is_some_and(|t| t.word() == Some("/")) {
            c.next();
            mask = read_flags(c);
            exact = true;
        } else {
            mask = value;
            exact = false;
        }
    }
    let hit = if exact {
        SYN & mask == value
    } else {
        // `tcp flags syn`: the bits given are set.
        SYN & value == value && value != 0
    };
    vec![
        Cond::Proto {
            protos: vec![TCP],
            negate: false,
        },
        Cond::Syn {
            matches_syn: hit != negate,
        },
    ]
}
