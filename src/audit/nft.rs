//! nftables rulesets read into a [`Ruleset`]: the `nft -f` language people keep in
//! `/etc/nftables.conf` (`flush ruleset`, `define` and `$variables`, `include`, table blocks,
//! `add rule` commands) and what `nft list ruleset` prints (with its `# handle` comments).
//!
//! Tables of the ip, ip6 and inet families are evaluated; base chains carry their hook,
//! priority and policy; sets (named, anonymous, intervals, concatenations) and verdict maps
//! become conditions. A selector the audit knows but cannot decide from the file (a mark, a
//! rate, a dynamic set filled at run time) becomes an undetermined condition naming it; a word
//! nft itself would refuse is an error naming `file:line:column`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::firewall::{
    Base, Chain, Cond, End, Hook, IfaceSide, Rule, Ruleset, TCP, UDP, Verdict, chain_key,
};
use super::netfilter::{port_number, proto_number};
use crate::allowlist::cidrs::parse_space;
use crate::allowlist::{Issue, Issues, Span};
use crate::error::Result;
use crate::ranges::IpSet;

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

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tk {
    Word(String),
    Str(String),
    Punct(&'static str),
    Newline,
}

#[derive(Clone, Debug)]
struct Token {
    tk: Tk,
    file: usize,
    line: usize,
    col: usize,
}

impl Token {
    fn word(&self) -> Option<&str> {
        match &self.tk {
            Tk::Word(w) => Some(w),
            _ => None,
        }
    }

    fn text(&self) -> String {
        match &self.tk {
            Tk::Word(w) => w.clone(),
            Tk::Str(s) => format!("\"{s}\""),
            Tk::Punct(p) => (*p).to_owned(),
            Tk::Newline => "end of line".to_owned(),
        }
    }

    fn is(&self, p: &str) -> bool {
        matches!(&self.tk, Tk::Punct(q) if *q == p) || self.word() == Some(p)
    }

    /// A word or a quoted string, as a value.
    fn value(&self) -> Option<&str> {
        match &self.tk {
            Tk::Word(w) | Tk::Str(w) => Some(w),
            _ => None,
        }
    }
}

const PUNCT: &[&str] = &[
    "!=", "==", "<=", ">=", "{", "}", "(", ")", "[", "]", ";", ",", "=", "<", ">", "!", "&", "|",
    "^",
];

/// Splits text into tokens, dropping comments and joining `\`-continued lines.
fn tokenize(text: &str, file: usize) -> std::result::Result<Vec<Token>, (usize, usize, String)> {
    let mut out = Vec::new();
    for (ln, raw) in text.split('\n').enumerate() {
        let line_no = ln + 1;
        let comment_at = raw.find('#').unwrap_or(usize::MAX);
        let raw = if raw.find('\r').is_some_and(|cr| cr > comment_at) {
            raw.trim_end_matches('\r')
        } else {
            raw
        };
        if let Some(at) = raw.find('\r') {
            return Err((
                line_no,
                raw[..at].chars().count() + 1,
                "a line ending without a carriage return: the file has Windows (CRLF) line endings, which nft refuses".to_owned(),
            ));
        }
        let chars: Vec<char> = raw.chars().collect();
        let mut i = 0;
        let mut continued = false;
        while i < chars.len() {
            let c = chars[i];
            let col = i + 1;
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '\\' && chars[i + 1..].iter().all(|c| c.is_whitespace()) {
                continued = true;
                break;
            }
            if c == '"' {
                let mut s = String::new();
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '"' {
                    s.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err((line_no, col, "a closing \" on the same line".to_owned()));
                }
                out.push(Token {
                    tk: Tk::Str(s),
                    file,
                    line: line_no,
                    col,
                });
                i = j + 1;
                continue;
            }
            if let Some(p) = PUNCT.iter().find(|p| {
                let pc: Vec<char> = p.chars().collect();
                chars[i..].starts_with(&pc)
            }) {
                out.push(Token {
                    tk: Tk::Punct(p),
                    file,
                    line: line_no,
                    col,
                });
                i += p.chars().count();
                continue;
            }
            if !c.is_ascii() {
                return Err((
                    line_no,
                    col,
                    format!(
                        "ASCII: U+{:04X} {c:?} only looks like an ASCII character (nft refuses it)",
                        u32::from(c)
                    ),
                ));
            }
            let mut j = i;
            while j < chars.len() {
                let d = chars[j];
                if d.is_whitespace()
                    || d == '#'
                    || d == '"'
                    || PUNCT.iter().any(|p| p.starts_with(d))
                {
                    break;
                }
                if !d.is_ascii() {
                    return Err((
                        line_no,
                        j + 1,
                        format!(
                            "ASCII: U+{:04X} {d:?} only looks like an ASCII character (nft refuses it)",
                            u32::from(d)
                        ),
                    ));
                }
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            // `established:accept` and `key:` are a key, a colon and a value; IPv6 addresses
            // and `:port` keep their colons.
            push_word(&mut out, word, file, line_no, col);
            i = j;
        }
        if !continued {
            out.push(Token {
                tk: Tk::Newline,
                file,
                line: line_no,
                col: chars.len() + 1,
            });
        }
    }
    Ok(out)
}

fn push_word(out: &mut Vec<Token>, word: String, file: usize, line: usize, col: usize) {
    let colon_split = word.contains(':')
        && word.parse::<std::net::Ipv6Addr>().is_err()
        && !word.contains("::")
        && !word.starts_with(':')
        && word
            .split('/')
            .next()
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_err())
        && !word
            .split('-')
            .all(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    if colon_split {
        let mut c = col;
        for (k, part) in word.split(':').enumerate() {
            if k > 0 {
                out.push(Token {
                    tk: Tk::Punct(":"),
                    file,
                    line,
                    col: c - 1,
                });
            }
            if !part.is_empty() {
                out.push(Token {
                    tk: Tk::Word(part.to_owned()),
                    file,
                    line,
                    col: c,
                });
            }
            c += part.len() + 1;
        }
        return;
    }
    // A lone `:` between a key and a value.
    if word == ":" {
        out.push(Token {
            tk: Tk::Punct(":"),
            file,
            line,
            col,
        });
        return;
    }
    out.push(Token {
        tk: Tk::Word(word),
        file,
        line,
        col,
    });
}

/// One element of a set or map: its components (a concatenation), each a list of tokens, and
/// for a map the value after `:`.
type Element = (Vec<Vec<Token>>, Option<Vec<Token>>);

/// A verdict map's entry: its key's components and its verdict.
type MapEntry = (Vec<Vec<Token>>, Vec<Token>);

/// A named set or map, as written.
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

struct Cursor<'t> {
    toks: &'t [Token],
    at: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.at);
        self.at += 1;
        t
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(p)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn last_or<'a>(&self, fallback: &'a Token) -> &'a Token
    where
        't: 'a,
    {
        self.toks.last().unwrap_or(fallback)
    }
}

/// Splits tokens into statements at newlines and `;` outside braces; a `{ ... }` block stays
/// with its statement.
fn statements(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match &t.tk {
            Tk::Punct("{") => depth += 1,
            Tk::Punct("}") => depth -= 1,
            Tk::Newline | Tk::Punct(";") if depth <= 0 => {
                if i > start {
                    out.push(&toks[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        out.push(&toks[start..]);
    }
    out
}

/// Statements inside a block whose `{` is at `open`; returns them and the index after `}`.
fn block(toks: &[Token], open: usize) -> Option<(&[Token], usize)> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match &t.tk {
            Tk::Punct("{") => depth += 1,
            Tk::Punct("}") => {
                depth -= 1;
                if depth == 0 {
                    return Some((&toks[open + 1..i], i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// Elements of a `{ a, b . c, d : v }` list (without the braces), newlines ignored.
fn elements(toks: &[Token]) -> Vec<Element> {
    let mut out = Vec::new();
    let mut comps: Vec<Vec<Token>> = vec![Vec::new()];
    let mut value: Option<Vec<Token>> = None;
    let mut depth = 0;
    let mut flush = |comps: &mut Vec<Vec<Token>>, value: &mut Option<Vec<Token>>| {
        if comps.iter().any(|c| !c.is_empty()) {
            out.push((std::mem::replace(comps, vec![Vec::new()]), value.take()));
        } else {
            *comps = vec![Vec::new()];
            *value = None;
        }
    };
    for t in toks {
        match &t.tk {
            Tk::Newline => {}
            Tk::Punct(",") if depth == 0 => flush(&mut comps, &mut value),
            Tk::Punct(":") if depth == 0 && value.is_none() => value = Some(Vec::new()),
            Tk::Word(w) if w == "." && depth == 0 && value.is_none() => comps.push(Vec::new()),
            _ => {
                if t.is("{") {
                    depth += 1;
                }
                if t.is("}") {
                    depth -= 1;
                }
                match value.as_mut() {
                    Some(v) => v.push(t.clone()),
                    None => comps.last_mut().expect("never empty").push(t.clone()),
                }
            }
        }
    }
    flush(&mut comps, &mut value);
    out
}

/// What a selector reads, for the conditions it makes.
#[derive(Clone, Debug)]
enum Sel {
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

    fn rule_in(&mut self, chain: usize, st: &[Token]) -> std::result::Result<(), Fail> {
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

    /// One or more selectors joined by ` . `.
    fn selectors(&self, c: &mut Cursor<'_>) -> std::result::Result<Vec<(Sel, Token)>, Fail> {
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
    fn map_entries(
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
    fn element_conds(
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
    fn match_value(
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

/// Reads a selector whose first word is `t` (consuming its other words).
fn selector(c: &mut Cursor<'_>, t: &Token) -> std::result::Result<Sel, Fail> {
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
