//! nftables rulesets read into a [`Ruleset`]: the `nft -f` language people keep in
//! `/etc/nftables.conf` (`flush ruleset`, `define` and `$variables`, `include`, table blocks,
//! `add rule` commands) and what `nft list ruleset` prints (with its `# handle` comments).
//!
//! Tables of the ip, ip6 and inet families are evaluated; base chains carry their hook,
//! priority and policy; sets (named, anonymous, intervals, concatenations) and verdict maps
//! become conditions. A selector the audit knows but cannot decide from the file (a mark, a
//! rate, a dynamic set filled at run time) becomes an undetermined condition naming it; a word
//! nft itself would refuse is an error naming `file:line:column`.
//!
//! This file holds the entry point (`parse`) and the `Reader` of tables, chains, sets,
//! `define`s, `include`s and commands; `lexer.rs` the tokens, `rules.rs` one rule's statements
//! and verdict, `selectors.rs` the selectors and values translated into conditions.

mod lexer;
mod rules;
mod selectors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::firewall::{Base, Chain, Hook, Rule, Ruleset, Verdict, chain_key};
use crate::allowlist::{Issue, Issues, Span};
use crate::error::Result;

use lexer::{Element, Tk, Token, block, elements, statements, tokenize};

/// Whether the text looks like an nft ruleset.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        (t.starts_with("table ") && t.trim_end().ends_with('{'))
            || t.starts_with("flush ruleset")
            || t.starts_with("#!/usr/sbin/nft")
            || t.starts_with("#!/sbin/nft")
            || t.starts_with("add table ")
            || t.starts_with("add rule ")
    })
}

#[derive(Clone, Debug, Default)]
struct NamedSet {
    /// Elements: each a list of components (concatenation), each a list of tokens; for a map,
    /// the value after `:`.
    elements: Vec<Element>,
    /// Filled at run time (`flags dynamic`, `timeout`, or `add @set` in a rule).
    dynamic: bool,
}

struct Reader<'a> {
    files: Vec<Arc<Path>>,
    issues: &'a mut Issues,
    rules: Ruleset,
    defines: HashMap<String, Vec<Token>>,
    /// Sets per table key `family table`.
    sets: HashMap<String, NamedSet>,
    /// Sets that rules add to at run time.
    filled: Vec<String>,
    depth: usize,
}

type Fail = (usize, usize, usize, String, String);

fn fail(t: &Token, expected: impl Into<String>) -> Fail {
    (t.file, t.line, t.col, t.text(), expected.into())
}

/// The priority names nft knows, by family.
fn priority_base(name: &str) -> Option<i32> {
    Some(match name {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        "out" => 100,
        _ => return None,
    })
}

impl Reader<'_> {
    fn span(&self, t: &Token) -> Span {
        Span::in_file(&self.files[t.file], t.line, t.col)
    }

    fn report(&mut self, f: Fail) -> Result<()> {
        let span = Span::in_file(&self.files[f.0], f.1, f.2);
        self.issues
            .push(Issue::malformed(span.clone(), &f.3, f.4.clone()))?;
        self.rules.unreadable.push((
            span,
            format!("{:?} could not be read (expected {})", f.3, f.4),
        ));
        Ok(())
    }

    /// Replaces `$name` words with their definitions.
    fn expand(&self, toks: &[Token]) -> std::result::Result<Vec<Token>, Fail> {
        let mut out = Vec::with_capacity(toks.len());
        for t in toks {
            if let Some(name) = t.word().and_then(|w| w.strip_prefix('$')) {
                let Some(def) = self.defines.get(name) else {
                    return Err(fail(
                        t,
                        format!("a variable defined above (define {name} = ...)"),
                    ));
                };
                for d in def {
                    let mut d = d.clone();
                    d.file = t.file;
                    d.line = t.line;
                    d.col = t.col;
                    out.push(d);
                }
            } else {
                out.push(t.clone());
            }
        }
        Ok(out)
    }

    fn file(&mut self, text: &str, path: &Path) -> Result<()> {
        let index = self.files.len();
        self.files.push(Arc::from(path));
        let toks = match tokenize(text, index) {
            Ok(t) => t,
            Err((line, col, expected)) => {
                let span = Span::in_file(&self.files[index], line, col);
                let shown: String = text
                    .lines()
                    .nth(line - 1)
                    .unwrap_or("")
                    .chars()
                    .skip(col - 1)
                    .take(20)
                    .collect();
                self.issues
                    .push(Issue::malformed(span.clone(), &shown, expected.clone()))?;
                self.rules.unreadable.push((
                    span,
                    format!("the file could not be read from here (expected {expected})"),
                ));
                return Ok(());
            }
        };
        for st in statements(&toks) {
            if let Err(f) = self.top(st, path) {
                self.report(f)?;
            }
        }
        Ok(())
    }

    fn top(&mut self, st: &[Token], path: &Path) -> std::result::Result<(), Fail> {
        let first = &st[0];
        let Some(word) = first.word() else {
            return Err(fail(
                first,
                "a statement: table, define, include, flush, add",
            ));
        };
        match word {
            "flush" if st.get(1).is_some_and(|t| t.is("ruleset")) => {
                self.rules.chains.clear();
                self.sets.clear();
                Ok(())
            }
            "define" | "redefine" => {
                let (Some(name), Some(eq)) = (st.get(1).and_then(Token::word), st.get(2)) else {
                    return Err(fail(first, "define NAME = VALUE"));
                };
                if !eq.is("=") {
                    return Err(fail(eq, "= after the variable's name"));
                }
                let value = self.expand(&st[3..])?;
                let value: Vec<Token> = value.into_iter().filter(|t| t.tk != Tk::Newline).collect();
                self.defines.insert(name.to_owned(), value);
                Ok(())
            }
            "undefine" => {
                if let Some(name) = st.get(1).and_then(Token::word) {
                    self.defines.remove(name);
                }
                Ok(())
            }
            "include" => {
                let Some(target) = st.get(1).and_then(|t| match &t.tk {
                    Tk::Str(s) => Some(s.clone()),
                    _ => None,
                }) else {
                    return Err(fail(first, "include \"FILE\""));
                };
                self.include(&target, first, path)
            }
            "table" => {
                let (family, name, open) = self.table_head(st, 1)?;
                let Some((body, _)) = block(st, open) else {
                    return Err(fail(st.last().unwrap_or(first), "a } closing the table"));
                };
                self.table(&family, &name, body)
            }
            "add" | "create" | "insert" => self.command(st),
            "flush" | "delete" | "destroy" => {
                // flush/delete of a table or chain written in the file.
                let what = st.get(1).and_then(Token::word).unwrap_or("");
                match what {
                    "table" => {
                        let (family, name, _) = self.table_head(st, 2)?;
                        let key = (family, name);
                        if word == "flush" {
                            for c in &mut self.rules.chains {
                                if c.table == key {
                                    c.rules.clear();
                                }
                            }
                        } else {
                            self.rules.chains.retain(|c| c.table != key);
                        }
                        Ok(())
                    }
                    "chain" => {
                        let (family, table, at) = self.table_head(st, 2)?;
                        let Some(name) = st.get(at).and_then(Token::value) else {
                            return Err(fail(first, "a chain name"));
                        };
                        let key = chain_key(&(family, table), name);
                        if word == "flush" {
                            for c in &mut self.rules.chains {
                                if c.key == key {
                                    c.rules.clear();
                                }
                            }
                        } else {
                            self.rules.chains.retain(|c| c.key != key);
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
            "list" | "reset" | "monitor" | "describe" | "export" | "import" => Ok(()),
            _ => Err(fail(
                first,
                "a statement nft reads: table, define, include, flush, add, insert",
            )),
        }
    }

    /// `[family] name` from `at`; returns the family, the name, and the index after them.
    fn table_head(
        &self,
        st: &[Token],
        at: usize,
    ) -> std::result::Result<(String, String, usize), Fail> {
        let a = st.get(at).and_then(Token::value);
        let b = st.get(at + 1);
        let families = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];
        match (a, b) {
            (Some(f), Some(n)) if families.contains(&f) && n.value().is_some() => Ok((
                f.to_owned(),
                n.value().unwrap_or_default().to_owned(),
                at + 2,
            )),
            (Some(n), _) => Ok(("ip".to_owned(), n.to_owned(), at + 1)),
            _ => Err(fail(
                st.get(at).unwrap_or(&st[0]),
                "a table: [ip|ip6|inet|arp|bridge|netdev] NAME",
            )),
        }
    }

    fn include(&mut self, target: &str, at: &Token, path: &Path) -> std::result::Result<(), Fail> {
        if self.depth > 16 {
            return Err(fail(at, "includes nested at most 16 deep"));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let candidate = if Path::new(target).is_absolute() {
            PathBuf::from(target)
        } else {
            dir.join(target)
        };
        let files: Vec<PathBuf> = if target.contains('*') || target.contains('?') {
            let parent = candidate
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let pattern = candidate
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let list = crate::input::matching_files(&parent, &pattern).unwrap_or_default();
            // A wildcard that matches nothing is no error for nft: nothing is included.
            if list.is_empty() && !parent.is_dir() {
                self.unresolved(target, at);
            }
            list
        } else if candidate.is_file() {
            vec![candidate]
        } else {
            self.unresolved(target, at);
            Vec::new()
        };
        for file in files {
            let Ok(text) = crate::input::read_list(&file) else {
                self.unresolved(&file.display().to_string(), at);
                continue;
            };
            self.depth += 1;
            let r = self.file(&text, &file);
            self.depth -= 1;
            if let Err(e) = r {
                return Err(fail(at, format!("a readable included file: {e}")));
            }
        }
        Ok(())
    }

    fn unresolved(&mut self, target: &str, at: &Token) {
        let span = self.span(at);
        self.rules.unresolved.push((
            span.clone(),
            format!(
                "the rules of include \"{target}\" ({}), which is not there to read",
                span.at_line()
            ),
        ));
    }

    fn table(&mut self, family: &str, name: &str, body: &[Token]) -> std::result::Result<(), Fail> {
        let table = (family.to_owned(), name.to_owned());
        let mut i = 0;
        let sts = statements(body);
        let _ = &mut i;
        for st in sts {
            let first = &st[0];
            let Some(word) = first.word() else {
                return Err(fail(first, "chain, set, map or another table item"));
            };
            match word {
                "chain" => {
                    let Some(cname) = st.get(1).and_then(Token::value) else {
                        return Err(fail(first, "a chain name"));
                    };
                    let cname = cname.to_owned();
                    let open = 2;
                    if !st.get(open).is_some_and(|t| t.is("{")) {
                        return Err(fail(
                            st.get(open).unwrap_or(first),
                            "{ after the chain's name",
                        ));
                    }
                    let Some((cbody, end)) = block(st, open) else {
                        return Err(fail(first, "a } closing the chain"));
                    };
                    let close = &st[end - 1];
                    self.chain(&table, &cname, first, close, cbody)?;
                }
                "set" | "map" => {
                    let Some(sname) = st.get(1).and_then(Token::value) else {
                        return Err(fail(first, "a set name"));
                    };
                    let sname = sname.to_owned();
                    let Some((sbody, _)) = block(st, 2) else {
                        return Err(fail(first, "{ ... } after the set's name"));
                    };
                    self.set(&table, &sname, sbody)?;
                }
                "flags" | "comment" => {}
                "counter" | "quota" | "limit" | "ct" | "flowtable" | "secmark" | "synproxy" => {}
                _ => {
                    return Err(fail(
                        first,
                        "chain, set, map, flowtable, counter or another table item",
                    ));
                }
            }
        }
        Ok(())
    }

    fn set(
        &mut self,
        table: &(String, String),
        name: &str,
        body: &[Token],
    ) -> std::result::Result<(), Fail> {
        let key = format!("{} {} {}", table.0, table.1, name);
        let mut set = self.sets.remove(&key).unwrap_or_default();
        for st in statements(body) {
            let first = &st[0];
            match first.word() {
                Some("elements") => {
                    let st = self.expand(st)?;
                    let Some(open) = st.iter().position(|t| t.is("{")) else {
                        return Err(fail(first, "elements = { ... }"));
                    };
                    let Some((inner, _)) = block(&st, open) else {
                        return Err(fail(first, "a } closing the elements"));
                    };
                    set.elements.extend(elements(inner));
                }
                Some("flags") => {
                    if st
                        .iter()
                        .any(|t| matches!(t.word(), Some("dynamic" | "timeout")))
                    {
                        set.dynamic = true;
                    }
                }
                Some("timeout") => set.dynamic = true,
                Some(
                    "type" | "typeof" | "size" | "policy" | "auto-merge" | "counter" | "comment"
                    | "gc-interval",
                ) => {}
                _ => return Err(fail(first, "type, flags, elements or another set property")),
            }
        }
        self.sets.insert(key, set);
        Ok(())
    }

    fn find_chain(&mut self, table: &(String, String), name: &str, at: &Token) -> usize {
        let key = chain_key(table, name);
        if let Some(i) = self.rules.chains.iter().position(|c| c.key == key) {
            return i;
        }
        let span = self.span(at);
        self.rules.chains.push(Chain {
            key,
            name: name.to_owned(),
            table: table.clone(),
            rules: Vec::new(),
            base: None,
            span,
            end_line: 0,
        });
        self.rules.chains.len() - 1
    }

    fn chain(
        &mut self,
        table: &(String, String),
        name: &str,
        at: &Token,
        close: &Token,
        body: &[Token],
    ) -> std::result::Result<(), Fail> {
        let index = self.find_chain(table, name, at);
        // The closing brace, if it is in the main file: where a rule is appended.
        self.rules.chains[index].end_line = if close.file == 0 { close.line } else { 0 };
        self.rules.chains[index].span = self.span(at);
        for st in statements(body) {
            let first = &st[0];
            match first.word() {
                Some("type") => self.chain_type(index, table, st)?,
                Some("policy") => {
                    let v = st.get(1).and_then(Token::word).unwrap_or("");
                    let policy = match v {
                        "accept" => Verdict::Accept,
                        "drop" => Verdict::Drop,
                        _ => return Err(fail(st.get(1).unwrap_or(first), "accept or drop")),
                    };
                    let span = self.span(first);
                    if let Some(b) = self.rules.chains[index].base.as_mut() {
                        b.policy = policy;
                        b.policy_span = span;
                    }
                }
                Some("comment" | "devices" | "device") => {}
                _ => self.rule_in(index, st)?,
            }
        }
        Ok(())
    }

    fn chain_type(
        &mut self,
        index: usize,
        table: &(String, String),
        st: &[Token],
    ) -> std::result::Result<(), Fail> {
        let kind = st.get(1).and_then(Token::word).unwrap_or("");
        if !["filter", "nat", "route"].contains(&kind) {
            return Err(fail(
                st.get(1).unwrap_or(&st[0]),
                "a chain type: filter, nat or route",
            ));
        }
        if !st.get(2).is_some_and(|t| t.is("hook")) {
            return Err(fail(
                st.get(2).unwrap_or(&st[0]),
                "hook NAME after the chain type",
            ));
        }
        let hook_word = st.get(3).and_then(Token::word).unwrap_or("");
        let hook = Hook::parse(hook_word);
        let mut priority = 0i32;
        let mut k = 4;
        while k < st.len() {
            let t = &st[k];
            match t.word() {
                Some("priority") => {
                    let Some(p) = st.get(k + 1) else {
                        return Err(fail(t, "a priority"));
                    };
                    let p = self.expand(std::slice::from_ref(p))?;
                    let p = &p[0];
                    let pw = p.value().unwrap_or("");
                    let mut value = if let Some(v) = priority_base(pw) {
                        v
                    } else if let Ok(n) = pw.parse::<i32>() {
                        n
                    } else if let Some(n) = pw.strip_prefix('-').and_then(|n| n.parse::<i32>().ok())
                    {
                        -n
                    } else {
                        return Err(fail(
                            p,
                            "a priority: a number or raw, mangle, dstnat, filter, security, srcnat",
                        ));
                    };
                    k += 2;
                    // `filter - 10`, `filter + 5`.
                    if let (Some(op), Some(n)) = (st.get(k).and_then(Token::word), st.get(k + 1)) {
                        if op == "-" || op == "+" {
                            if let Some(n) = n.word().and_then(|n| n.parse::<i32>().ok()) {
                                value += if op == "-" { -n } else { n };
                                k += 2;
                            }
                        }
                    } else if let Some(w) = st.get(k).and_then(Token::word) {
                        if let Some(n) = w.strip_prefix('-').and_then(|n| n.parse::<i32>().ok()) {
                            value -= n;
                            k += 1;
                        } else if let Some(n) =
                            w.strip_prefix('+').and_then(|n| n.parse::<i32>().ok())
                        {
                            value += n;
                            k += 1;
                        }
                    }
                    priority = value;
                }
                Some("policy") => {
                    let v = st.get(k + 1).and_then(Token::word).unwrap_or("");
                    let policy = match v {
                        "accept" => Verdict::Accept,
                        "drop" => Verdict::Drop,
                        _ => return Err(fail(st.get(k + 1).unwrap_or(t), "accept or drop")),
                    };
                    let span = self.span(t);
                    self.set_base(index, table, hook, priority, kind);
                    if let Some(b) = self.rules.chains[index].base.as_mut() {
                        b.policy = policy;
                        b.policy_span = span;
                    }
                    k += 2;
                }
                Some("device" | "devices") => {
                    k += 2;
                    while k < st.len() && !st[k].is(";") && st[k].word() != Some("priority") {
                        k += 1;
                    }
                }
                _ => k += 1,
            }
        }
        self.set_base(index, table, hook, priority, kind);
        Ok(())
    }

    fn set_base(
        &mut self,
        index: usize,
        table: &(String, String),
        hook: Option<Hook>,
        priority: i32,
        kind: &str,
    ) {
        let (v4, v6) = match table.0.as_str() {
            "ip" => (true, false),
            "ip6" => (false, true),
            "inet" => (true, true),
            _ => (false, false),
        };
        let Some(hook) = hook else { return };
        if !v4 && !v6 {
            return;
        }
        let span = self.rules.chains[index].span.clone();
        let chain = &mut self.rules.chains[index];
        match chain.base.as_mut() {
            Some(b) => {
                b.hook = hook;
                b.priority = priority;
                b.nat = kind == "nat";
            }
            None => {
                chain.base = Some(Base {
                    hook,
                    priority,
                    policy: Verdict::Accept,
                    policy_span: span,
                    nat: kind == "nat",
                    v4,
                    v6,
                });
            }
        }
    }

    /// `add rule`, `insert rule`, `add chain`, `add table`, `add set`, `add element`.
    fn command(&mut self, st: &[Token]) -> std::result::Result<(), Fail> {
        let verb = st[0].word().unwrap_or("");
        let what = st.get(1).and_then(Token::word).unwrap_or("");
        match what {
            "table" => Ok(()),
            "chain" => {
                let (family, table, at) = self.table_head(st, 2)?;
                let Some(name) = st.get(at).and_then(Token::value) else {
                    return Err(fail(&st[0], "a chain name"));
                };
                let table = (family, table);
                let name = name.to_owned();
                let index = self.find_chain(&table, &name, &st[0]);
                if let Some(open) = st.iter().position(|t| t.is("{")) {
                    if let Some((body, _)) = block(st, open) {
                        for inner in statements(body) {
                            if inner[0].word() == Some("type") {
                                self.chain_type(index, &table, inner)?;
                            } else if inner[0].word() == Some("policy") {
                                let v = inner.get(1).and_then(Token::word).unwrap_or("");
                                let span = self.span(&inner[0]);
                                if let Some(b) = self.rules.chains[index].base.as_mut() {
                                    b.policy = if v == "drop" {
                                        Verdict::Drop
                                    } else {
                                        Verdict::Accept
                                    };
                                    b.policy_span = span;
                                }
                            }
                        }
                    }
                }
                Ok(())
            }
            "rule" => {
                let (family, table, at) = self.table_head(st, 2)?;
                let Some(name) = st.get(at).and_then(Token::value) else {
                    return Err(fail(&st[0], "a chain name"));
                };
                let table = (family, table);
                let name = name.to_owned();
                let index = self.find_chain(&table, &name, &st[0]);
                let mut rest = at + 1;
                // `position N`, `handle N`, `index N`: kept in file order here.
                if matches!(
                    st.get(rest).and_then(Token::word),
                    Some("position" | "handle" | "index")
                ) {
                    rest += 2;
                }
                let before = self.rules.chains[index].rules.len();
                self.rule_in(index, &st[rest..])?;
                if verb == "insert" && self.rules.chains[index].rules.len() > before {
                    let added: Vec<Rule> = self.rules.chains[index].rules.drain(before..).collect();
                    for (k, r) in added.into_iter().enumerate() {
                        self.rules.chains[index].rules.insert(k, r);
                    }
                }
                Ok(())
            }
            "set" | "map" => {
                let (family, table, at) = self.table_head(st, 2)?;
                let Some(name) = st.get(at).and_then(Token::value) else {
                    return Err(fail(&st[0], "a set name"));
                };
                let name = name.to_owned();
                if let Some(open) = st.iter().position(|t| t.is("{")) {
                    if let Some((body, _)) = block(st, open) {
                        self.set(&(family, table), &name, body)?;
                    }
                }
                Ok(())
            }
            "element" => {
                let (family, table, at) = self.table_head(st, 2)?;
                let Some(name) = st.get(at).and_then(Token::value) else {
                    return Err(fail(&st[0], "a set name"));
                };
                let key = format!("{family} {table} {name}");
                let st = self.expand(st)?;
                if let Some(open) = st.iter().position(|t| t.is("{")) {
                    if let Some((body, _)) = block(&st, open) {
                        self.sets
                            .entry(key)
                            .or_default()
                            .elements
                            .extend(elements(body));
                    }
                }
                Ok(())
            }
            _ => Err(fail(
                st.get(1).unwrap_or(&st[0]),
                "table, chain, rule, set, map or element",
            )),
        }
    }
}

/// Reads an nft ruleset (and what it includes).
pub(crate) fn parse(text: &str, path: &Path, issues: &mut Issues) -> Result<Ruleset> {
    let mut reader = Reader {
        files: Vec::new(),
        issues,
        rules: Ruleset {
            v4: true,
            v6: true,
            ..Ruleset::default()
        },
        defines: HashMap::new(),
        sets: HashMap::new(),
        filled: Vec::new(),
        depth: 0,
    };
    let text = text.trim_start_matches('\u{feff}');
    reader.file(text, path)?;
    let mut rules = reader.rules;
    // Which families the file filters at all: an ip-only ruleset leaves IPv6 unfiltered,
    // which is what the kernel does too (no chain sees those packets): both families stay
    // decided.
    for c in &rules.chains {
        if let Some(b) = &c.base {
            let _ = b;
        }
    }
    rules.notes.extend(
        reader
            .sets
            .iter()
            .filter(|(_, s)| s.dynamic && !s.elements.is_empty())
            .map(|(k, _)| {
                format!(
                    "set {k} is also filled while the firewall runs: matches on it are undetermined"
                )
            }),
    );
    Ok(rules)
}
