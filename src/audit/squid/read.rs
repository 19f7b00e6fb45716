//! Reading squid.conf into a [`Config`]: continuation lines, `if`/`else` blocks, `include`s
//! (globs, depth and count limits), `http_access` lines and `acl` definitions with their values
//! (addresses, ports, domains, regexes, files of values), as squid reads them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::{Acl, AclKind, At, Config, Rule};
use crate::allowlist::domains::{Parsed, parse_entry};
use crate::allowlist::{numbered_lines, strip_comment};
use crate::input::read_list as read_text;
use crate::ranges::IpSet;

/// How deep squid follows `include` (its own limit).
const INCLUDE_DEPTH: usize = 16;

/// How many files the reader includes in all, so that a file including itself twice stays cheap.
const MAX_INCLUDED: usize = 256;

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
