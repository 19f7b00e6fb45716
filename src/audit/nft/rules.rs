//! One rule of a chain read into conditions and a verdict: the statements it may hold
//! (counters, logging, NAT, marks) skipped, the verdict (or verdict map) kept, and a rule the
//! reader cannot follow recorded as unreadable where it stands.

use super::super::firewall::{Cond, Rule, Verdict};
use crate::allowlist::Span;

use super::lexer::{Cursor, Tk, Token, block};
use super::{Fail, Reader, fail};

impl Reader<'_> {
    pub(super) fn rule_in(&mut self, chain: usize, st: &[Token]) -> std::result::Result<(), Fail> {
        let toks: Vec<Token> = st.iter().filter(|t| t.tk != Tk::Newline).cloned().collect();
        if toks.is_empty() {
            return Ok(());
        }
        let span = self.span(&toks[0]);
        let text = rule_text(&toks);
        let table = self.rules.chains[chain].table.clone();
        let expanded = match self.expand(&toks) {
            Ok(e) => e,
            Err(f) => {
                self.unreadable_rule(chain, span, &f);
                return Err(f);
            }
        };
        match self.parse_rule(&table, &expanded) {
            Ok(rules) => {
                for (conds, verdict) in rules {
                    self.rules.chains[chain].rules.push(Rule {
                        span: span.clone(),
                        text: text.clone(),
                        conds,
                        verdict,
                    });
                }
                Ok(())
            }
            Err(f) => {
                self.unreadable_rule(chain, span, &f);
                Err(f)
            }
        }
    }

    fn unreadable_rule(&mut self, chain: usize, span: Span, f: &Fail) {
        let why = format!(
            "the rule at {}, which could not be read ({:?}: expected {})",
            span.at_line(),
            f.3,
            f.4
        );
        self.rules.chains[chain].rules.push(Rule {
            span,
            text: String::new(),
            conds: vec![Cond::Unknown(why.clone())],
            verdict: Verdict::Unknown(why),
        });
    }

    /// A rule's tokens as conditions and a verdict; a verdict map makes one rule per element.
    #[allow(clippy::too_many_lines)]
    fn parse_rule(
        &mut self,
        table: &(String, String),
        toks: &[Token],
    ) -> std::result::Result<Vec<(Vec<Cond>, Verdict)>, Fail> {
        let mut c = Cursor { toks, at: 0 };
        let mut conds: Vec<Cond> = Vec::new();
        let mut verdict = Verdict::Continue;
        let mut vmap: Option<Vec<(Vec<Cond>, Verdict)>> = None;
        while let Some(t) = c.next() {
            let Some(w) = t.word() else {
                if t.is(";") {
                    continue;
                }
                return Err(fail(t, "a match, a statement or a verdict"));
            };
            match w {
                "accept" => verdict = Verdict::Accept,
                "drop" => verdict = Verdict::Drop,
                "continue" => verdict = Verdict::Continue,
                "return" => verdict = Verdict::Return,
                "reject" => {
                    verdict = Verdict::Reject;
                    if c.eat("with") {
                        // `with icmp type X`, `with icmpx X`, `with tcp reset`.
                        while c.peek().and_then(Token::word).is_some_and(|w| {
                            matches!(w, "icmp" | "icmpv6" | "icmpx" | "tcp" | "reset" | "type")
                                || w.contains('-')
                                || w.parse::<u8>().is_ok()
                                || [
                                    "port-unreachable",
                                    "admin-prohibited",
                                    "host-unreachable",
                                    "net-unreachable",
                                    "prot-unreachable",
                                    "no-route",
                                ]
                                .contains(&w)
                        }) {
                            c.next();
                        }
                    }
                }
                "jump" | "goto" => {
                    let Some(target) = c.next().and_then(Token::value) else {
                        return Err(fail(t, "a chain name after it"));
                    };
                    verdict = if w == "jump" {
                        Verdict::Jump(target.to_owned())
                    } else {
                        Verdict::Goto(target.to_owned())
                    };
                }
                "queue" => {
                    verdict = Verdict::Unknown(
                        "the program reading the nfqueue, which decides the packet's fate"
                            .to_owned(),
                    );
                    while c.peek().and_then(Token::word).is_some_and(|w| {
                        matches!(w, "num" | "bypass" | "fanout" | "flags" | "to")
                            || w.parse::<u32>().is_ok()
                            || w.contains('-')
                    }) {
                        c.next();
                    }
                }
                "counter" => {
                    while let Some(k) = c.peek().and_then(Token::word) {
                        if matches!(k, "packets" | "bytes" | "name") {
                            c.next();
                            c.next();
                        } else {
                            break;
                        }
                    }
                }
                "log" => {
                    while let Some(k) = c.peek().and_then(Token::word) {
                        match k {
                            "prefix" | "level" | "group" | "snaplen" | "queue-threshold" => {
                                c.next();
                                c.next();
                            }
                            "flags" => {
                                c.next();
                                c.next();
                                while c.eat(",") {
                                    c.next();
                                }
                            }
                            _ => break,
                        }
                    }
                }
                "comment" => {
                    c.next();
                }
                "notrack" => verdict = Verdict::Notrack,
                "limit" => {
                    // `limit rate [over] N/unit [burst N packets]` or `limit name X`.
                    let mut words = Vec::new();
                    while let Some(k) = c.peek().and_then(Token::value) {
                        if matches!(
                            k,
                            "rate" | "over" | "until" | "burst" | "packets" | "bytes" | "name"
                        ) || k.contains('/')
                            || k.parse::<u64>().is_ok()
                            || k.ends_with("bytes")
                            || c.peek().is_some_and(|t| matches!(t.tk, Tk::Str(_)))
                        {
                            words.push(k.to_owned());
                            c.next();
                        } else {
                            break;
                        }
                    }
                    conds.push(Cond::Unknown(format!(
                        "the packet rate (limit {})",
                        words.join(" ")
                    )));
                }
                "quota" => {
                    while c.peek().and_then(Token::value).is_some_and(|k| {
                        matches!(k, "over" | "until" | "used" | "name")
                            || k.parse::<u64>().is_ok()
                            || k.ends_with("bytes")
                    }) {
                        c.next();
                    }
                    conds.push(Cond::Unknown("the traffic quota".to_owned()));
                }
                "masquerade" | "snat" => {
                    verdict = Verdict::Accept;
                    skip_rest_of_nat(&mut c);
                }
                "dnat" | "redirect" | "tproxy" => {
                    verdict = Verdict::Unknown(format!(
                        "where the packet goes after {w} rewrites its destination"
                    ));
                    skip_rest_of_nat(&mut c);
                }
                "dup" | "fwd" => {
                    c.eat("to");
                    c.next();
                    if w == "fwd" {
                        verdict =
                            Verdict::Unknown("fwd, which sends the packet elsewhere".to_owned());
                    }
                }
                "add" | "update" | "delete"
                    if c.peek()
                        .and_then(Token::word)
                        .is_some_and(|w| w.starts_with('@')) =>
                {
                    let name = c
                        .next()
                        .and_then(Token::word)
                        .unwrap_or("")
                        .trim_start_matches('@')
                        .to_owned();
                    self.filled
                        .push(format!("{} {} {}", table.0, table.1, name));
                    if c.peek().is_some_and(|t| t.is("{")) {
                        let start = c.at;
                        if let Some((_, end)) = block(toks, start) {
                            c.at = end;
                        }
                    }
                }
                "flow" => {
                    // `flow add @ft` / `flow offload @ft`: a fast path for established flows.
                    c.next();
                    c.next();
                }
                "set"
                    if c.peek()
                        .and_then(Token::word)
                        .is_some_and(|w| matches!(w, "add" | "update" | "delete")) =>
                {
                    // `set update ip saddr @name`: adds to a set at run time.
                    while let Some(n) = c.next() {
                        if let Some(name) = n.word().and_then(|w| w.strip_prefix('@')) {
                            self.filled
                                .push(format!("{} {} {}", table.0, table.1, name));
                            break;
                        }
                    }
                }
                "set" => {
                    return Err(fail(t, "a match, a statement or a verdict"));
                }
                "meter" => {
                    // `meter NAME [size N] { key limit rate ... }`: a rate per key.
                    let name = c.next().and_then(Token::value).unwrap_or("").to_owned();
                    if c.eat("size") {
                        c.next();
                    }
                    if c.peek().is_some_and(|t| t.is("{")) {
                        let start = c.at;
                        if let Some((_, end)) = block(toks, start) {
                            c.at = end;
                        }
                    }
                    conds.push(Cond::Unknown(format!(
                        "the packet rate per key (meter {name})"
                    )));
                }
                "vmap" => {
                    return Err(fail(t, "a selector before vmap"));
                }
                _ => {
                    // A selector (possibly a concatenation), then a value, a set or a map.
                    c.at -= 1;
                    let sels = self.selectors(&mut c)?;
                    // `meta mark set 1`, `ct mark set ...`: statements, not matches.
                    if c.peek().is_some_and(|t| t.is("set")) {
                        c.next();
                        skip_value(&mut c);
                        continue;
                    }
                    let negate = if c.eat("!=") {
                        true
                    } else {
                        c.eat("==");
                        c.eat("eq");
                        false
                    };
                    let at = c.peek().cloned().unwrap_or_else(|| t.clone());
                    if c.eat("vmap") {
                        let entries = self.map_entries(table, &mut c, &at)?;
                        let mut rules = Vec::new();
                        for (key, value) in entries {
                            let v = parse_verdict(&value, &at)?;
                            let mut cs = conds.clone();
                            cs.extend(self.element_conds(&sels, &key, &at)?);
                            rules.push((cs, v));
                        }
                        vmap = Some(rules);
                        continue;
                    }
                    let cond = self.match_value(table, &sels, &mut c, negate, &at)?;
                    conds.extend(cond);
                }
            }
        }
        if let Some(rules) = vmap {
            // Statements after the map (rare) apply to every element; the map's verdict wins.
            return Ok(rules);
        }
        Ok(vec![(conds, verdict)])
    }
}

fn skip_rest_of_nat(c: &mut Cursor<'_>) {
    while let Some(t) = c.peek() {
        if matches!(t.word(), Some("comment" | "counter" | "log")) {
            break;
        }
        c.next();
    }
}

fn skip_value(c: &mut Cursor<'_>) {
    if let Some(t) = c.next() {
        if t.is("{") || t.is("(") {
            let close = if t.is("{") { "}" } else { ")" };
            while let Some(t) = c.next() {
                if t.is(close) {
                    break;
                }
            }
            return;
        }
        // `mark set mark and 0xff00 or 0x1`, `ct mark set meta mark`.
        while c.peek().and_then(Token::word).is_some_and(|w| {
            matches!(
                w,
                "and" | "or" | "xor" | "<<" | ">>" | "mark" | "meta" | "ct" | "map"
            ) || w.starts_with("0x")
                || w.parse::<u64>().is_ok()
        }) {
            c.next();
        }
    }
}

fn rule_text(toks: &[Token]) -> String {
    let mut out = String::new();
    for t in toks {
        if !out.is_empty() && !matches!(t.tk, Tk::Punct(",")) {
            out.push(' ');
        }
        out.push_str(&t.text());
    }
    out
}

fn parse_verdict(value: &[Token], at: &Token) -> std::result::Result<Verdict, Fail> {
    let w = value.first().and_then(Token::word).unwrap_or("");
    Ok(match w {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        "return" => Verdict::Return,
        "continue" => Verdict::Continue,
        "jump" | "goto" => {
            let Some(t) = value.get(1).and_then(Token::value) else {
                return Err(fail(value.first().unwrap_or(at), "a chain name"));
            };
            if w == "jump" {
                Verdict::Jump(t.to_owned())
            } else {
                Verdict::Goto(t.to_owned())
            }
        }
        _ => {
            return Err(fail(
                value.first().unwrap_or(at),
                "a verdict: accept, drop, jump CHAIN, ...",
            ));
        }
    })
}
