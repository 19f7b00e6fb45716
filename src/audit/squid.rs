//! A squid configuration evaluated as squid evaluates it: for each required host, the `CONNECT
//! host:443` request an agent's browser sends, walked through the `http_access` lines in order
//! (every ACL of a line must match, the first matching line decides, and when none does the
//! answer is the opposite of the last line's), with the ACLs read as squid reads them.
//!
//! What the file cannot tell is said, never guessed: an ACL file that cannot be read, an
//! `include` that is not there, an ACL type that depends on the user, the time or an external
//! helper, and (without `--from`) where the agents are. A line whose match depends on such a
//! thing leaves the answer undetermined unless every way it can go ends the same.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::Findings;
use crate::allowlist::domains::{DomainList, Parsed, Pattern, parse_entry};
use crate::allowlist::{numbered_lines, strip_comment};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::input::read_list as read_text;
use crate::net::{PortRange, Protocol};
use crate::ranges::IpSet;
use crate::report::{Check, Kind, Reason, Status};

/// How deep squid follows `include` (its own limit).
const INCLUDE_DEPTH: usize = 16;

/// How many files the reader includes in all, so that a file including itself twice stays cheap.
const MAX_INCLUDED: usize = 256;

/// Where a directive sits: the file and line, and the line of the main file it comes from (the
/// `include` line for a directive of an included file).
#[derive(Clone, Debug)]
pub struct At {
    pub file: PathBuf,
    pub line: usize,
    pub main_line: usize,
}

impl At {
    pub(crate) fn label(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The ACL types the evaluation knows.
#[derive(Clone, Debug)]
enum AclKind {
    DstDomain(Vec<Pattern>),
    DstDomRegex(Vec<regex_lite::Regex>),
    Src(IpSet),
    Dst(IpSet),
    Port(Vec<(u16, u16)>),
    Method(Vec<String>),
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
    /// `transaction_initiator`: an agent's request is a `client` transaction.
    Initiator(Vec<String>),
    /// A type whose match depends on something the file does not say.
    Depends(String),
    /// A type that asks the browser to sign in (HTTP 407) when squid reaches it without
    /// credentials: the check stops there.
    SignIn(String),
}

#[derive(Clone, Debug)]
struct Acl {
    kind: AclKind,
    /// What the values could not tell: files that cannot be read, values not understood.
    unknown: Vec<String>,
    at: At,
}

/// One `http_access` line, or a place where lines may hide.
#[derive(Clone, Debug)]
pub enum Rule {
    Access {
        allow: bool,
        terms: Vec<(bool, String)>,
        at: At,
        text: String,
    },
    /// Lines that may be here but cannot be read: an `include` that is not there, a
    /// conditional block.
    Hidden { why: String, at: At },
}

impl Rule {
    fn at(&self) -> &At {
        match self {
            Self::Access { at, .. } | Self::Hidden { at, .. } => at,
        }
    }
}

/// A parsed configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    acls: HashMap<String, Acl>,
    pub rules: Vec<Rule>,
    /// Includes that could not be read: ACLs they would define are unknown.
    hidden_includes: Vec<String>,
    /// Files included so far.
    included: usize,
}

/// A three-valued match, and squid's fourth outcome: a sign-in challenge that ends the check.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    Maybe(Vec<String>),
    /// Reached without credentials, squid answers 407; with them, it depends on them.
    SignIn(Vec<String>),
}

impl Truth {
    fn not(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
            other @ (Self::Maybe(_) | Self::SignIn(_)) => other,
        }
    }

    /// Kleene AND, left to right as squid checks: a sign-in reached ends it.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::No, _) => Self::No,
            (Self::SignIn(mut a), Self::SignIn(b) | Self::Maybe(b)) => {
                merge(&mut a, b);
                Self::SignIn(a)
            }
            (s @ Self::SignIn(_), _) => s,
            (Self::Yes, x) => x,
            (Self::Maybe(mut a), Self::SignIn(b)) => {
                merge(&mut a, b);
                Self::SignIn(a)
            }
            (_, Self::No) => Self::No,
            (x, Self::Yes) => x,
            (Self::Maybe(mut a), Self::Maybe(b)) => {
                merge(&mut a, b);
                Self::Maybe(a)
            }
        }
    }

    /// Kleene OR (`any-of`, left to right: a sign-in reached ends it).
    fn or(self, other: Self) -> Self {
        match (self, other) {
            (Self::Yes, _) => Self::Yes,
            (s @ Self::SignIn(_), _) => s,
            (Self::No, x) => x,
            (Self::Maybe(mut a), Self::SignIn(b)) => {
                merge(&mut a, b);
                Self::SignIn(a)
            }
            (_, Self::Yes) => Self::Yes,
            (x, Self::No) => x,
            (Self::Maybe(mut a), Self::Maybe(b)) => {
                merge(&mut a, b);
                Self::Maybe(a)
            }
        }
    }
}

fn merge(into: &mut Vec<String>, more: Vec<String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// The request an agent's browser sends through the proxy for one required host.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The host name of the `CONNECT` (for a wildcard requirement, a name below it that no list
    /// names: the hosts change).
    pub host: &'a str,
    pub port: u16,
    /// Where the agents are; `None` when not given (any address).
    pub from: Option<&'a IpSet>,
}

/// What squid does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    Undetermined(Vec<String>),
}

/// The verdict and the line that gives it.
#[derive(Clone, Debug)]
pub struct Decision {
    pub verdict: Verdict,
    /// The deciding `http_access` line (index into [`Config::rules`]); `None` for squid's
    /// implicit last rule.
    pub rule: Option<usize>,
    /// For an undetermined answer, the lines whose match is in doubt.
    pub doubtful: Vec<usize>,
}

impl Config {
    /// Reads a configuration, following `include`s that are there.
    pub fn parse(text: &str, path: &Path) -> Self {
        let mut config = Self {
            path: path.to_owned(),
            acls: HashMap::new(),
            rules: Vec::new(),
            hidden_includes: Vec::new(),
            included: 0,
        };
        config.read_text(text, path, None, 0);
        config
    }

    fn folder(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    }

    fn resolve(&self, name: &str) -> PathBuf {
        let p = PathBuf::from(name);
        if p.is_absolute() {
            p
        } else {
            self.folder().join(p)
        }
    }

    fn read_text(&mut self, text: &str, file: &Path, main_line: Option<usize>, depth: usize) {
        // Joined continuation lines keep the number of their first line.
        let mut pending: Option<(usize, String)> = None;
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (number, line) in numbered_lines(text) {
            let (start, mut joined) = pending.take().unwrap_or((number, String::new()));
            joined.push_str(line);
            if joined.ends_with('\\') {
                joined.pop();
                joined.push(' ');
                pending = Some((start, joined));
            } else {
                lines.push((start, joined));
            }
        }
        if let Some(last) = pending {
            lines.push(last);
        }
        // Conditional blocks: `if true` / `if false` are read; any other condition hides its
        // lines.
        let mut conditions: Vec<Option<bool>> = Vec::new();
        for (number, line) in lines {
            let at = At {
                file: file.to_owned(),
                line: number,
                main_line: main_line.unwrap_or(number),
            };
            let words: Vec<&str> = strip_comment(&line).split_whitespace().collect();
            let Some(&directive) = words.first() else {
                continue;
            };
            match directive {
                "if" => {
                    let cond = match words.get(1..).unwrap_or_default() {
                        ["true"] => Some(true),
                        ["false"] => Some(false),
                        [a, "=", b] if a.parse::<i64>().is_ok() && b.parse::<i64>().is_ok() => {
                            Some(a == b)
                        }
                        _ => None,
                    };
                    conditions.push(cond);
                    continue;
                }
                "else" => {
                    if let Some(c) = conditions.last_mut() {
                        *c = c.map(|v| !v);
                    }
                    continue;
                }
                "endif" => {
                    conditions.pop();
                    continue;
                }
                _ => {}
            }
            if conditions.contains(&Some(false)) {
                continue;
            }
            if conditions.contains(&None) {
                if directive == "http_access" {
                    self.rules.push(Rule::Hidden {
                        why: format!(
                            "a conditional block at {} (squid decides its `if` at start-up)",
                            at.label()
                        ),
                        at,
                    });
                }
                continue;
            }
            match directive {
                "acl" => self.read_acl(&words, at),
                "http_access" => self.read_access(&words, &line, at),
                "include" if depth < INCLUDE_DEPTH => {
                    for name in &words[1..] {
                        self.include(name.trim_matches('"'), &at, depth);
                    }
                }
                _ => {}
            }
        }
    }

    fn include(&mut self, name: &str, at: &At, depth: usize) {
        let pattern = self.resolve(name);
        let files = expand_glob(&pattern);
        if files.is_empty() {
            let why = format!(
                "`include {name}` at {}, which is not here to read",
                at.label()
            );
            self.hidden_includes.push(why.clone());
            self.rules.push(Rule::Hidden {
                why,
                at: at.clone(),
            });
            return;
        }
        for file in files {
            self.included += 1;
            if self.included > MAX_INCLUDED {
                let why = format!(
                    "`include {}` at {}: more than {MAX_INCLUDED} files included",
                    file.display(),
                    at.label()
                );
                self.hidden_includes.push(why.clone());
                self.rules.push(Rule::Hidden {
                    why,
                    at: at.clone(),
                });
                return;
            }
            match read_text(&file) {
                Ok(text) => self.read_text(&text, &file, Some(at.main_line), depth + 1),
                Err(e) => {
                    let why = format!("`include {}` at {}: {e}", file.display(), at.label());
                    self.hidden_includes.push(why.clone());
                    self.rules.push(Rule::Hidden {
                        why,
                        at: at.clone(),
                    });
                }
            }
        }
    }

    fn read_access(&mut self, words: &[&str], line: &str, at: At) {
        let allow = match words.get(1).copied() {
            Some("allow") => true,
            Some("deny") => false,
            _ => {
                self.rules.push(Rule::Hidden {
                    why: format!(
                        "{}: `{}` is not `http_access allow|deny ACL...` (squid refuses it)",
                        at.label(),
                        line.trim()
                    ),
                    at,
                });
                return;
            }
        };
        if words.len() == 2 {
            // squid drops a line without an ACL ("aclParseAccessLine: missing ACL name").
            return;
        }
        let terms = words[2..]
            .iter()
            .map(|w| match w.strip_prefix('!') {
                Some(name) => (true, name.to_owned()),
                None => (false, (*w).to_owned()),
            })
            .collect();
        self.rules.push(Rule::Access {
            allow,
            terms,
            at,
            text: strip_comment(line).trim().to_owned(),
        });
    }

    fn read_acl(&mut self, words: &[&str], at: At) {
        let (Some(&name), Some(&kind)) = (words.get(1), words.get(2)) else {
            return;
        };
        let mut values: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        let mut case_insensitive = false;
        let mut regexes: Vec<(bool, String)> = Vec::new();
        let mut options_done = false;
        for &word in &words[3..] {
            if !options_done && kind != "port" {
                match word {
                    "-i" => {
                        case_insensitive = true;
                        continue;
                    }
                    "+i" => {
                        case_insensitive = false;
                        continue;
                    }
                    "-n" => continue,
                    "--" => {
                        options_done = true;
                        continue;
                    }
                    w if w.starts_with("-m") => continue,
                    _ => {}
                }
            }
            let file = word
                .strip_prefix("parameters(\"")
                .and_then(|w| w.strip_suffix("\")"))
                .or_else(|| {
                    word.strip_prefix('"')
                        .and_then(|w| w.strip_suffix('"'))
                        .filter(|w| !w.is_empty())
                });
            match file {
                Some(file) => {
                    let full = self.resolve(file);
                    // Only regular files: a device or a pipe could block the audit.
                    let read = if full.is_file() {
                        read_text(&full)
                    } else {
                        Err(crate::error::Error::bad_input(
                            crate::error::Location::file(&full),
                            "not a regular file",
                        ))
                    };
                    match read {
                        Ok(text) => {
                            for (_, line) in numbered_lines(&text) {
                                for value in strip_comment(line).split_whitespace() {
                                    values.push(value.to_owned());
                                    regexes.push((case_insensitive, value.to_owned()));
                                }
                            }
                        }
                        Err(_) => unknown.push(format!(
                            "the ACL file {} (named at {}), which cannot be read here",
                            full.display(),
                            at.label()
                        )),
                    }
                }
                None => {
                    values.push(word.to_owned());
                    regexes.push((case_insensitive, word.to_owned()));
                }
            }
        }
        let parsed = match kind {
            "dstdomain" => {
                let mut patterns = Vec::new();
                for v in &values {
                    match parse_entry(v) {
                        Ok(Parsed::Entry { pattern, .. }) => patterns.push(pattern),
                        // An address never equals a host name; an unreadable value matches
                        // nothing squid would compare a name with.
                        Ok(Parsed::Address(_)) | Err(_) => {}
                    }
                }
                AclKind::DstDomain(patterns)
            }
            "dstdom_regex" => {
                let mut compiled = Vec::new();
                for (insensitive, v) in &regexes {
                    match regex_lite::RegexBuilder::new(v)
                        .case_insensitive(*insensitive)
                        .build()
                    {
                        Ok(r) => compiled.push(r),
                        Err(_) => unknown.push(format!(
                            "the regular expression {v:?} at {}, which this reader does not take as squid (POSIX) would",
                            at.label()
                        )),
                    }
                }
                AclKind::DstDomRegex(compiled)
            }
            "src" | "dst" => {
                let mut ranges = Vec::new();
                for v in &values {
                    match address_range(v) {
                        Some(r) => ranges.extend(r),
                        None => unknown.push(format!(
                            "the {kind} value {v:?} at {}, a name squid looks up at start-up",
                            at.label()
                        )),
                    }
                }
                let set = IpSet::from_ranges(ranges);
                if kind == "src" {
                    AclKind::Src(set)
                } else {
                    AclKind::Dst(set)
                }
            }
            "port" => {
                let mut ports = Vec::new();
                for v in &values {
                    match port_range(v) {
                        Some(r) => ports.push(r),
                        None => unknown.push(format!("the port {v:?} at {}", at.label())),
                    }
                }
                AclKind::Port(ports)
            }
            "method" => AclKind::Method(values.iter().map(|v| v.to_ascii_uppercase()).collect()),
            "any-of" => AclKind::AnyOf(values),
            "all-of" => AclKind::AllOf(values),
            "transaction_initiator" => AclKind::Initiator(values),
            "proxy_auth" | "proxy_auth_regex" | "max_user_ip" | "external" => {
                AclKind::SignIn(depends_on(kind, name, &at))
            }
            other => AclKind::Depends(depends_on(other, name, &at)),
        };
        match self.acls.get_mut(name) {
            Some(acl) => {
                match (&mut acl.kind, parsed) {
                    (AclKind::DstDomain(a), AclKind::DstDomain(b)) => a.extend(b),
                    (AclKind::DstDomRegex(a), AclKind::DstDomRegex(b)) => a.extend(b),
                    (AclKind::Src(a), AclKind::Src(b)) | (AclKind::Dst(a), AclKind::Dst(b)) => {
                        *a = a.union(&b);
                    }
                    (AclKind::Port(a), AclKind::Port(b)) => a.extend(b),
                    (AclKind::Method(a), AclKind::Method(b))
                    | (AclKind::AnyOf(a), AclKind::AnyOf(b))
                    | (AclKind::AllOf(a), AclKind::AllOf(b))
                    | (AclKind::Initiator(a), AclKind::Initiator(b)) => a.extend(b),
                    (AclKind::Depends(_) | AclKind::SignIn(_), _) => {}
                    (_, _) => acl.unknown.push(format!(
                        "ACL {name} is given two types (again at {}); squid refuses that",
                        at.label()
                    )),
                }
                acl.unknown.extend(unknown);
            }
            None => {
                self.acls.insert(
                    name.to_owned(),
                    Acl {
                        kind: parsed,
                        unknown,
                        at,
                    },
                );
            }
        }
    }

    /// Whether ACL `name` matches the request.
    fn acl_matches(&self, name: &str, req: &Request<'_>, depth: usize) -> Truth {
        let Some(acl) = self.acls.get(name) else {
            return match builtin(name, req) {
                Some(t) => t,
                None if !self.hidden_includes.is_empty() => Truth::Maybe(vec![format!(
                    "ACL {name}, not defined in what could be read ({})",
                    self.hidden_includes.join("; ")
                )]),
                None => Truth::Maybe(vec![format!(
                    "ACL {name}, which {} never defines (squid refuses to start)",
                    self.path.display()
                )]),
            };
        };
        let doubt = || Truth::Maybe(acl.unknown.clone());
        let found = match &acl.kind {
            AclKind::DstDomain(patterns) => patterns.iter().any(|p| p.allows(req.host)),
            AclKind::DstDomRegex(res) => res.iter().any(|r| r.is_match(req.host)),
            AclKind::Src(set) => {
                let from = req.from.cloned().unwrap_or_else(everywhere);
                if set.is_superset(&from) {
                    true
                } else if set.intersection(&from).is_empty() {
                    if acl.unknown.is_empty() {
                        return Truth::No;
                    }
                    return doubt();
                } else {
                    let mut why = vec![format!(
                        "where the agents are: ACL {name} ({}) takes only some addresses; give --from with the agents' addresses",
                        acl.at.label()
                    )];
                    if req.from.is_some() {
                        why = vec![format!(
                            "which of the --from addresses an agent has: ACL {name} ({}) takes only some of them",
                            acl.at.label()
                        )];
                    }
                    merge(&mut why, acl.unknown.clone());
                    return Truth::Maybe(why);
                }
            }
            AclKind::Dst(set) => {
                if set.is_superset(&everywhere()) {
                    true
                } else if set.difference(&non_global()).is_empty() {
                    // Connect's hosts resolve into AWS's public ranges: no private, loopback
                    // or link-local address.
                    false
                } else {
                    return Truth::Maybe(vec![format!(
                        "the addresses {} resolves to: ACL {name} ({}) matches by destination address",
                        req.host,
                        acl.at.label()
                    )]);
                }
            }
            AclKind::Port(ports) => ports
                .iter()
                .any(|&(lo, hi)| lo <= req.port && req.port <= hi),
            AclKind::Method(methods) => methods.iter().any(|m| m == "CONNECT"),
            AclKind::Initiator(values) => values.iter().any(|v| v == "client" || v == "all"),
            AclKind::AnyOf(names) | AclKind::AllOf(names) => {
                if depth > 32 {
                    return Truth::Maybe(vec![format!("ACL {name} refers to itself")]);
                }
                let any = matches!(acl.kind, AclKind::AnyOf(_));
                let mut t = if any { Truth::No } else { Truth::Yes };
                for n in names {
                    let m = self.acl_matches(n, req, depth + 1);
                    t = if any { t.or(m) } else { t.and(m) };
                }
                return t;
            }
            AclKind::Depends(why) => return Truth::Maybe(vec![why.clone()]),
            AclKind::SignIn(why) => return Truth::SignIn(vec![why.clone()]),
        };
        if found {
            Truth::Yes
        } else if acl.unknown.is_empty() {
            Truth::No
        } else {
            doubt()
        }
    }

    fn rule_matches(&self, terms: &[(bool, String)], req: &Request<'_>) -> Truth {
        let mut t = Truth::Yes;
        for (negated, name) in terms {
            let m = self.acl_matches(name, req, 0);
            t = t.and(if *negated { m.not() } else { m });
            if matches!(t, Truth::No | Truth::SignIn(_)) {
                break;
            }
        }
        t
    }

    /// What squid does with the request.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        // Lines whose match is in doubt, with their action, until a line surely matches.
        let mut doubtful: Vec<(usize, bool, Vec<String>)> = Vec::new();
        let mut outcome: Option<(bool, Option<usize>)> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            match rule {
                Rule::Hidden { why, .. } => {
                    let mut deps = vec![why.clone()];
                    let mut lines = Vec::new();
                    for (j, _, d) in doubtful {
                        merge(&mut deps, d);
                        lines.push(j);
                    }
                    lines.push(i);
                    return Decision {
                        verdict: Verdict::Undetermined(deps),
                        rule: None,
                        doubtful: lines,
                    };
                }
                Rule::Access { allow, terms, .. } => match self.rule_matches(terms, req) {
                    Truth::Yes => {
                        outcome = Some((*allow, Some(i)));
                        break;
                    }
                    Truth::No => {}
                    Truth::Maybe(why) => doubtful.push((i, *allow, why)),
                    Truth::SignIn(why) => {
                        // Without credentials squid answers 407 here; with them, the answer
                        // depends on them.
                        let mut deps = why;
                        let mut lines = Vec::new();
                        for (j, _, d) in doubtful {
                            merge(&mut deps, d);
                            lines.push(j);
                        }
                        lines.push(i);
                        return Decision {
                            verdict: Verdict::Undetermined(deps),
                            rule: Some(i),
                            doubtful: lines,
                        };
                    }
                },
            }
        }
        let (allow, rule) = outcome.unwrap_or_else(|| {
            // squid: with no http_access line every request is denied; when none matches, the
            // answer is the opposite of the last line's.
            let last = self.rules.iter().rev().find_map(|r| match r {
                Rule::Access { allow, .. } => Some(*allow),
                Rule::Hidden { .. } => None,
            });
            (last.is_some_and(|a| !a), None)
        });
        let against: Vec<&(usize, bool, Vec<String>)> =
            doubtful.iter().filter(|(_, a, _)| *a != allow).collect();
        if against.is_empty() {
            return Decision {
                verdict: if allow {
                    Verdict::Allowed
                } else {
                    Verdict::Denied
                },
                rule,
                doubtful: Vec::new(),
            };
        }
        let mut deps = Vec::new();
        for (_, _, d) in &against {
            merge(&mut deps, d.clone());
        }
        Decision {
            verdict: Verdict::Undetermined(deps),
            rule,
            doubtful: against.iter().map(|(j, _, _)| *j).collect(),
        }
    }

    /// `file:line: http_access ...` of a rule, or squid's implicit last rule.
    pub(crate) fn describe(&self, rule: Option<usize>) -> String {
        match rule.and_then(|i| self.rules.get(i)) {
            Some(Rule::Access { at, text, .. }) => format!("{}: {text}", at.label()),
            Some(Rule::Hidden { why, .. }) => why.clone(),
            None if self.rules.iter().any(|r| matches!(r, Rule::Access { .. })) => {
                "squid's implicit last rule (the opposite of the last http_access line)".to_owned()
            }
            None => "squid's default with no http_access line: deny everything".to_owned(),
        }
    }

    /// The main-file line before which an allow line must go to decide before `rule` (after
    /// the last `http_access` line for the implicit rule).
    pub(crate) fn insert_before(&self, rule: Option<usize>) -> Option<usize> {
        match rule.and_then(|i| self.rules.get(i)) {
            Some(r) => Some(r.at().main_line),
            None => self.rules.last().map(|r| r.at().main_line + 1),
        }
    }

    /// Whether some `http_access allow` line names a `dstdomain`/`dstdom_regex` ACL matching
    /// the host: the name is listed, something else stops it.
    pub(crate) fn names_host(&self, host: &str) -> bool {
        self.rules.iter().any(|r| match r {
            Rule::Access {
                allow: true, terms, ..
            } => terms.iter().any(|(neg, name)| {
                !neg && self.acls.get(name).is_some_and(|a| match &a.kind {
                    AclKind::DstDomain(p) => p.iter().any(|p| p.allows(host)),
                    AclKind::DstDomRegex(r) => r.iter().any(|r| r.is_match(host)),
                    _ => false,
                })
            }),
            _ => false,
        })
    }

    /// The ACL names used, not negated, in `http_access allow` lines.
    pub(crate) fn allowing_acls(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for r in &self.rules {
            if let Rule::Access {
                allow: true, terms, ..
            } = r
            {
                for (neg, name) in terms {
                    if !neg && !out.contains(&name.as_str()) {
                        out.push(name.as_str());
                    }
                }
            }
        }
        out
    }
}

/// The name a wildcard requirement is tested with: one below it that no list names (the hosts
/// under it change, so only an entry for the whole suffix lets them all through).
pub(crate) fn request_host(req: &DomainRequirement) -> String {
    match &req.host {
        HostPattern::Exact(h) => h.clone(),
        HostPattern::Wildcard(suffix) => format!("cp-probe-1.{suffix}"),
        HostPattern::Label { head, tail } => format!("{head}cp-probe-1{tail}"),
    }
}

/// Each requirement's verdict from the configuration, the entries to add and where, and the
/// remarks on the entries of the ACLs that allow.
pub(crate) fn audit(
    text: &str,
    path: &Path,
    list: &mut DomainList,
    requirements: &[DomainRequirement],
    from: &[IpNet],
) -> Findings {
    let config = Config::parse(text, path);
    let file = path.display().to_string();
    let from_set = (!from.is_empty()).then(|| IpSet::from_nets(from));
    let mut out = Findings::default();
    // First every decision, so that the remedy can name the one block to add and its place.
    let mut decided = Vec::new();
    let mut insert_before: Option<usize> = None;
    for req in requirements {
        let host = request_host(req);
        let tcp: Vec<&PortRange> = req
            .ports
            .iter()
            .filter(|p| p.proto == Protocol::Tcp)
            .collect();
        let decisions: Vec<(u16, Decision)> = tcp
            .iter()
            .map(|p| {
                let d = config.decide(&Request {
                    host: &host,
                    port: p.first,
                    from: from_set.as_ref(),
                });
                (p.first, d)
            })
            .collect();
        if decisions.iter().any(|(_, d)| d.verdict == Verdict::Denied) {
            let entry = list.entry_for(req);
            if !out.domains.contains(&entry) {
                out.domains.push(entry);
            }
            for (_, d) in &decisions {
                if d.verdict == Verdict::Denied {
                    if let Some(line) = config.insert_before(d.rule) {
                        insert_before = Some(insert_before.map_or(line, |l: usize| l.min(line)));
                    }
                }
            }
        }
        decided.push((req, host, decisions));
    }
    list.agents = from.to_vec();
    list.insert_after_line = insert_before.map(|l| l.saturating_sub(1));
    let place = match insert_before {
        Some(line) => format!("before line {line} of {file}"),
        None => format!("to {file}"),
    };
    for (req, host, decisions) in decided {
        let id = format!("allowlist/domain/{}", req.id);
        let stand_in = if host == req.host.to_string() {
            String::new()
        } else {
            format!(" (as {host}, a name below it)")
        };
        let udp: Vec<String> = req
            .ports
            .iter()
            .filter(|p| p.proto == Protocol::Udp)
            .map(ToString::to_string)
            .collect();
        let mut check = if decisions.is_empty() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Info,
                Reason::NotTested,
                format!(
                    "{} carries {} media, which no proxy carries: squid has no say in it; the firewall must pass it (audit the firewall with --cidrs)",
                    req.host,
                    udp.join(",")
                ),
            )
        } else {
            let denied: Vec<&(u16, Decision)> = decisions
                .iter()
                .filter(|(_, d)| d.verdict == Verdict::Denied)
                .collect();
            let undetermined: Vec<&(u16, Decision)> = decisions
                .iter()
                .filter(|(_, d)| matches!(d.verdict, Verdict::Undetermined(_)))
                .collect();
            let ports: Vec<String> = decisions.iter().map(|(p, _)| p.to_string()).collect();
            let ports = ports.join(",");
            if let Some((_, d)) = denied.first() {
                let by = config.describe(d.rule);
                let named = config.names_host(&host);
                let (reason, why) = if named {
                    (
                        Reason::ProxyDenied,
                        format!("its name is allowed, but {by} decides first"),
                    )
                } else {
                    (
                        Reason::MissingDomain,
                        format!("no http_access allow line that reaches it names it; {by} decides"),
                    )
                };
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Fail,
                    reason,
                    format!("squid denies CONNECT {}:{ports}{stand_in}: {why}", req.host),
                )
                .remedy(crate::remedy::squid_allow_connect(
                    &place,
                    &out.domains.join(" "),
                    !from.is_empty(),
                ))
                .evidence("decided_by", &by)
                .evidence("add", list.entry_for(req))
            } else if let Some((_, d)) = undetermined.first() {
                let Verdict::Undetermined(deps) = &d.verdict else {
                    unreachable!("filtered above")
                };
                let lines: Vec<String> = d
                    .doubtful
                    .iter()
                    .map(|&i| config.describe(Some(i)))
                    .collect();
                Check::new(
                    id,
                    Kind::Allowlist,
                    Status::Warn,
                    Reason::Undetermined,
                    format!(
                        "whether squid lets CONNECT {}:{ports}{stand_in} through is undetermined: it depends on {}",
                        req.host,
                        deps.join("; ")
                    ),
                )
                .remedy(crate::remedy::squid_undetermined())
                .evidence("depends_on", deps)
                .evidence("lines", &lines)
            } else {
                let by: Vec<String> = decisions
                    .iter()
                    .map(|(_, d)| config.describe(d.rule))
                    .collect();
                let mut detail = format!(
                    "squid lets CONNECT {}:{ports}{stand_in} through: {}",
                    req.host, by[0]
                );
                if !udp.is_empty() {
                    let _ = write!(
                        detail,
                        "; its {} media is not carried by a proxy: the firewall must pass it",
                        udp.join(",")
                    );
                }
                Check::new(id, Kind::Allowlist, Status::Pass, Reason::Ok, detail)
                    .evidence("decided_by", &by[0])
            }
        };
        check = check.host(req.host.to_string());
        if let Some(port) = req.ports.first() {
            check = check.endpoint(port.first, port.proto);
        }
        if req.ports.iter().any(|p| p.proto == Protocol::Tcp) {
            check = check.evidence("tested_host", &host);
        }
        out.checks.push(check.evidence("requirement", &req.id));
    }
    // Remarks only on the entries of ACLs that allow: a list of blocked sites is no allow-list.
    let allowing = config.allowing_acls();
    let mut allowed = list.clone();
    allowed
        .entries
        .retain(|e| e.acl.as_deref().is_some_and(|a| allowing.contains(&a)));
    out.checks
        .extend(super::domains::domain_entry_checks(&allowed, requirements));
    out.checks
        .extend(list.issues.iter().map(super::issue_check));
    out
}

fn everywhere() -> IpSet {
    IpSet::from_nets(&[
        "0.0.0.0/0".parse::<IpNet>().expect("valid"),
        "::/0".parse::<IpNet>().expect("valid"),
    ])
}

/// Private, loopback, link-local, shared (CGN), unspecified and multicast space: addresses no
/// public AWS endpoint has.
fn non_global() -> IpSet {
    let nets: Vec<IpNet> = [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
        "::/127",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|n| n.parse().expect("valid"))
    .collect();
    IpSet::from_nets(&nets)
}

/// squid's predefined ACLs.
fn builtin(name: &str, req: &Request<'_>) -> Option<Truth> {
    Some(match name {
        "all" => Truth::Yes,
        // cache_object:// and squid-internal-mgr URLs: never a CONNECT.
        "manager" => Truth::No,
        "CONNECT" => Truth::Yes,
        "localhost" => {
            let set = IpSet::from_nets(&[
                "127.0.0.1/32".parse::<IpNet>().expect("valid"),
                "::1/128".parse::<IpNet>().expect("valid"),
            ]);
            match req.from {
                Some(from) if set.is_superset(from) => Truth::Yes,
                Some(from) if set.intersection(from).is_empty() => Truth::No,
                // Agents reach the proxy over the network, not from the proxy itself.
                None => Truth::No,
                Some(_) => Truth::Maybe(vec![
                    "which --from address an agent has: `localhost` is the proxy itself".to_owned(),
                ]),
            }
        }
        "to_localhost" | "to_linklocal" => Truth::No,
        _ => return None,
    })
}

fn depends_on(kind: &str, name: &str, at: &At) -> String {
    let what = match kind {
        "proxy_auth" | "proxy_auth_regex" | "ident" | "ident_regex" | "ext_user"
        | "ext_user_regex" | "max_user_ip" | "user_cert" => {
            "the agent's proxy sign-in (squid asks for it with HTTP 407 here)"
        }
        "external" => "an external ACL helper's answer (which may ask for a sign-in)",
        "time" => "the time of day",
        "myip" | "myport" | "myportname" | "localip" | "localport" => {
            "which proxy address or port the agents use"
        }
        "browser" | "req_header" | "referer_regex" => "the browser's request headers",
        "ssl::server_name" | "ssl::server_name_regex" | "at_step" | "ssl_error" => {
            "TLS inspection (ssl_bump) steps"
        }
        "url_regex" | "urlpath_regex" | "urllogin" | "proto" => "how squid writes a CONNECT's URL",
        "srcdomain" | "srcdom_regex" => "the reverse DNS name of the agent's address",
        "dst_as" | "src_as" => "an AS number lookup",
        "arp" | "eui64" => "the agent's hardware address",
        "note" | "annotate_transaction" | "annotate_client" | "tag" => {
            "annotations other directives set"
        }
        "maxconn" | "random" => "how many connections or chance",
        _ => "a match this reader does not evaluate",
    };
    format!(
        "ACL {name} ({kind}, at {}): {what}",
        at.file.display().to_string() + ":" + &at.line.to_string()
    )
}

/// A squid `src`/`dst` value: an address, `addr/len`, `addr/mask`, `a-b`, `a-b/mask`, `all`.
fn address_range(value: &str) -> Option<Vec<(IpAddr, IpAddr)>> {
    if value == "all" {
        return Some(vec![
            ("0.0.0.0".parse().ok()?, "255.255.255.255".parse().ok()?),
            (
                "::".parse().ok()?,
                IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)),
            ),
        ]);
    }
    let (range, mask) = match value.split_once('/') {
        Some((r, m)) => (r, Some(m)),
        None => (value, None),
    };
    let (first, last) = match range.split_once('-') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<IpAddr>().ok()?)),
        None => (range.parse::<IpAddr>().ok()?, None),
    };
    let prefix = |addr: IpAddr| -> Option<u8> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match mask {
            None => Some(max),
            Some(m) => match m.parse::<u8>() {
                Ok(l) if l <= max => Some(l),
                Ok(_) => None,
                Err(_) => {
                    let bits = match m.parse::<IpAddr>().ok()? {
                        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
                        IpAddr::V6(a) => u128::from(a),
                    };
                    let ones = bits.leading_ones();
                    (bits.count_ones() == ones).then_some(u8::try_from(ones).ok()?)
                }
            },
        }
    };
    let net = |addr: IpAddr| -> Option<(IpAddr, IpAddr)> {
        let n = IpNet::new(addr, prefix(addr)?).ok()?;
        Some((n.network(), n.broadcast()))
    };
    match last {
        None => Some(vec![net(first)?]),
        Some(last) => {
            if first.is_ipv4() != last.is_ipv4() {
                return None;
            }
            let (a, _) = net(first)?;
            let (_, b) = net(last)?;
            Some(vec![(a, b)])
        }
    }
}

fn port_range(value: &str) -> Option<(u16, u16)> {
    match value.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => {
            let p = value.parse().ok()?;
            Some((p, p))
        }
    }
}

/// The files a squid `include` pattern names: `*` and `?` in the last component only.
fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_owned()]
        } else {
            Vec::new()
        };
    }
    let Some(dir) = pattern.parent() else {
        return Vec::new();
    };
    crate::input::matching_files(dir, &name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(conf: &str, host: &str, from: Option<&str>) -> Verdict {
        let config = Config::parse(conf, Path::new("/nonexistent/squid.conf"));
        let from_set = from.map(|f| IpSet::from_nets(&[f.parse::<IpNet>().unwrap()]));
        config
            .decide(&Request {
                host,
                port: 443,
                from: from_set.as_ref(),
            })
            .verdict
    }

    const HOST: &str = "acme.my.connect.aws";

    #[test]
    fn first_match_wins_and_the_implicit_rule_is_the_opposite_of_the_last() {
        let conf = "acl c dstdomain .my.connect.aws\nhttp_access deny c\nhttp_access allow all\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Denied);
        assert_eq!(decide(conf, "x.example", None), Verdict::Allowed);
        let conf = "acl c dstdomain .my.connect.aws\nhttp_access allow c\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Allowed);
        assert_eq!(decide(conf, "x.example", None), Verdict::Denied);
        let conf = "acl c dstdomain .example\nhttp_access deny c\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Allowed);
        assert_eq!(decide("http_port 3128\n", HOST, None), Verdict::Denied);
    }

    #[test]
    fn acls_of_a_line_must_all_match_and_negation_flips() {
        let conf = "acl SSL_ports port 443\nacl c dstdomain .my.connect.aws\nacl lan src 10.0.0.0/8\n\
                    http_access deny CONNECT !SSL_ports\nhttp_access allow lan c\nhttp_access deny all\n";
        assert_eq!(decide(conf, HOST, Some("10.1.0.0/16")), Verdict::Allowed);
        assert_eq!(decide(conf, HOST, Some("192.0.2.0/24")), Verdict::Denied);
        // Without --from, the answer depends on where the agents are: said.
        let Verdict::Undetermined(why) = decide(conf, HOST, None) else {
            panic!()
        };
        assert!(why[0].contains("--from"), "{why:?}");
        // A line that is in doubt but agrees with what follows decides nothing.
        let conf = "acl lan src 10.0.0.0/8\nhttp_access deny lan\nhttp_access deny all\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Denied);
    }

    #[test]
    fn unreadable_acl_files_and_includes_leave_the_answer_undetermined() {
        let conf = "acl c dstdomain \"/nonexistent/connect.txt\"\nhttp_access allow c\nhttp_access deny all\n";
        let Verdict::Undetermined(why) = decide(conf, HOST, None) else {
            panic!()
        };
        assert!(why[0].contains("/nonexistent/connect.txt"), "{why:?}");
        // The file does not matter when an earlier line decides.
        let conf = format!("acl d dstdomain .my.connect.aws\nhttp_access allow d\n{conf}");
        assert_eq!(decide(&conf, HOST, None), Verdict::Allowed);
        let conf =
            "http_access deny manager\ninclude /nonexistent/conf.d/*.conf\nhttp_access allow all\n";
        let Verdict::Undetermined(why) = decide(conf, HOST, None) else {
            panic!()
        };
        assert!(why[0].contains("include"), "{why:?}");
    }

    #[test]
    fn regexes_ports_methods_and_builtins() {
        let conf = "acl r dstdom_regex -i \\.MY\\.connect\\.aws$\nhttp_access allow r\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Allowed);
        let conf = "acl r dstdom_regex \\.MY\\.connect\\.aws$\nhttp_access allow r\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Denied);
        let conf = "acl p port 8443 1-442\nhttp_access deny !p\nhttp_access allow all\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Denied);
        let conf = "acl p port 80 1025-65535 443\nhttp_access deny !p\nhttp_access deny to_localhost\nhttp_access deny manager\nhttp_access allow all\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Allowed);
        let conf = "acl a proxy_auth REQUIRED\nhttp_access allow a\nhttp_access allow all\n";
        assert!(matches!(decide(conf, HOST, None), Verdict::Undetermined(_)));
        let conf = "acl lan src 10.0.0.0/255.0.0.0 172.16.0.1-172.16.0.9\nhttp_access allow lan\n";
        assert_eq!(decide(conf, HOST, Some("10.2.3.4/32")), Verdict::Allowed);
        assert_eq!(decide(conf, HOST, Some("172.16.0.5/32")), Verdict::Allowed);
        assert_eq!(decide(conf, HOST, Some("172.16.0.10/32")), Verdict::Denied);
        let conf = "acl x any-of lan c\nacl lan src 10.0.0.0/8\nacl c dstdomain .aws\nhttp_access allow x\n";
        assert_eq!(decide(conf, HOST, Some("192.0.2.1/32")), Verdict::Allowed);
    }

    #[test]
    fn the_added_block_lets_the_requests_through() {
        let conf = "acl lan src 10.0.0.0/8\nacl b dstdomain .aws\nhttp_access deny b\nhttp_access allow lan\n";
        let config = Config::parse(conf, Path::new("s.conf"));
        let from = IpSet::from_nets(&["10.0.0.0/24".parse::<IpNet>().unwrap()]);
        let req = Request {
            host: HOST,
            port: 443,
            from: Some(&from),
        };
        let d = config.decide(&req);
        assert_eq!(d.verdict, Verdict::Denied);
        let before = config.insert_before(d.rule).unwrap();
        assert_eq!(before, 3);
        let block = crate::allowlist::domains::additions::squid_allow_block(
            &[".my.connect.aws".to_owned()],
            &["10.0.0.0/24".parse().unwrap()],
        )
        .join("\n");
        let fixed =
            crate::allowlist::domains::insert_after(conf, Some(before - 1), &format!("{block}\n"));
        let config = Config::parse(&fixed, Path::new("s.conf"));
        assert_eq!(config.decide(&req).verdict, Verdict::Allowed);
    }

    #[test]
    fn a_line_without_acls_is_dropped_as_squid_drops_it() {
        let conf = "acl c dstdomain .example\nhttp_access allow c\nhttp_access deny\n";
        // The last line squid keeps allows: the implicit rule denies.
        assert_eq!(decide(conf, HOST, None), Verdict::Denied);
        let conf = "acl c dstdomain .example\nhttp_access deny c\nhttp_access allow\n";
        assert_eq!(decide(conf, HOST, None), Verdict::Allowed);
    }

    #[test]
    fn globs() {
        assert!(crate::input::shell_match("*.conf", "debian.conf"));
        assert!(!crate::input::shell_match("*.conf", "debian.conf.bak"));
        assert!(crate::input::shell_match("*", "x"));
        assert!(!crate::input::shell_match("*", ".hidden"));
    }
}
