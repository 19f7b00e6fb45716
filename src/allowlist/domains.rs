//! Domain allow-lists: one entry a line (`host`, `*.suffix`, squid's `.suffix`, or a URL such as
//! `https://acme.my.connect.aws/ccp-v2/*`), or a squid configuration whose `dstdomain` ACLs hold
//! the entries (inline or in a file the ACL names).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Issue, Issues, Span, Strictness, numbered_lines, strip_comment, tokens};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::error::Result;
use crate::input::read_list as read_text;
use crate::net::PortRange;
use crate::net::Protocol;

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
fn glob_within(head: &str, tail: &str, h: &str, t: &str) -> bool {
    head.starts_with(h) && tail.ends_with(t)
}

/// Whether `name` is strictly below `suffix` (`a.b.c` is below `b.c`; everything is below "").
fn is_below(name: &str, suffix: &str) -> bool {
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

    /// The line that adds a requirement, in this list's syntax.
    pub(crate) fn entry_for(&self, req: &DomainRequirement) -> String {
        let tcp = req.ports.iter().all(|p| p.proto == Protocol::Tcp);
        match (self.syntax, &req.allowlist) {
            (DomainSyntax::Squid, HostPattern::Wildcard(s)) => format!(".{s}"),
            // squid's dstdomain cannot say `TurnNlb-*.elb...`: the concrete host, else the
            // narrowest suffix that holds every name the wildcard stands for.
            (DomainSyntax::Squid, HostPattern::Label { .. }) => match &req.host {
                HostPattern::Exact(h) => h.clone(),
                other => format!(".{}", other.name()),
            },
            (DomainSyntax::Url, host) if tcp => format!("https://{host}/*"),
            (_, host) => host.to_string(),
        }
    }

    /// The lines to append (or insert) to add `entries` (as given by [`Self::entry_for`]).
    pub(crate) fn addition_lines(&self, entries: &[String]) -> Vec<String> {
        if entries.is_empty() {
            return Vec::new();
        }
        match self.syntax {
            DomainSyntax::Squid => squid_allow_block(entries, &self.agents),
            DomainSyntax::Plain | DomainSyntax::Url => entries.to_vec(),
        }
    }

    /// A copy of `original` with the additions placed where the syntax wants them.
    pub(crate) fn with_additions(&self, original: &str, entries: &[String]) -> String {
        let lines = self.addition_lines(entries);
        if lines.is_empty() {
            return original.to_owned();
        }
        let block = format!(
            "# Added by connect-preflight audit: entries Amazon Connect needs\n{}\n",
            lines.join("\n")
        );
        insert_after(original, self.insert_after_line, &block)
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

fn host_name(host: &HostPattern) -> &str {
    host.name()
}

/// A name, each suffix after one of its dots, and "" (what `*` is written with).
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest))
        .chain((!name.is_empty()).then_some(""))
}

/// The squid lines that let the agents' `CONNECT` to `domains` on port 443 through: their own
/// ACLs and one `http_access allow` line, so that they work wherever they are put.
pub(crate) fn squid_allow_block(domains: &[String], agents: &[ipnet::IpNet]) -> Vec<String> {
    const ACL: &str = "connect_preflight";
    let domains = squid_minimal(domains);
    let mut lines = vec![
        format!("acl {ACL} dstdomain {}", domains.join(" ")),
        format!("acl {ACL}_port port 443"),
        format!("acl {ACL}_connect method CONNECT"),
    ];
    let mut access = format!("http_access allow {ACL}_connect {ACL}_port {ACL}");
    if !agents.is_empty() {
        let nets: Vec<String> = agents.iter().map(ToString::to_string).collect();
        lines.push(format!("acl {ACL}_agents src {}", nets.join(" ")));
        access.push_str(&format!(" {ACL}_agents"));
    }
    lines.push(access);
    lines
}

/// The entries no other entry of the list already covers, in their order: squid refuses a
/// `dstdomain` ACL that names `.apps.signin.aws` beside `.signin.aws` (`squid -k parse` stops
/// on it), and the narrower entry adds nothing.
fn squid_minimal(domains: &[String]) -> Vec<String> {
    // squid's `.suffix` covers `suffix` and every name below it; a plain name covers itself.
    let covers = |wide: &str, narrow: &str| {
        let narrow = narrow.trim_start_matches('.');
        wide.strip_prefix('.').is_some_and(|suffix| {
            narrow.eq_ignore_ascii_case(suffix)
                || (narrow.len() > suffix.len()
                    && narrow.as_bytes()[narrow.len() - suffix.len() - 1] == b'.'
                    && narrow[narrow.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
        })
    };
    let mut out: Vec<String> = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let covered = domains
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && covers(other, d) && !(covers(d, other) && j > i));
        let repeated = out.iter().any(|o| o.eq_ignore_ascii_case(d));
        if !covered && !repeated {
            out.push(d.clone());
        }
    }
    out
}

/// Inserts `block` after line `after` (1-based; 0 puts it first), or at the end.
pub(crate) fn insert_after(original: &str, after: Option<usize>, block: &str) -> String {
    let mut out = String::with_capacity(original.len() + block.len() + 1);
    if after == Some(0) {
        out.push_str(block);
        out.push_str(original);
        return out;
    }
    match after {
        Some(n) => {
            let mut inserted = false;
            for (i, line) in original.split_inclusive('\n').enumerate() {
                out.push_str(line);
                if i + 1 == n {
                    if !line.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(block);
                    inserted = true;
                }
            }
            if !inserted {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(block);
            }
        }
        None => {
            out.push_str(original);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(block);
        }
    }
    out
}

pub(crate) fn looks_like_squid(text: &str) -> bool {
    // A text where no keyword ends a word (before a blank, a comment, a non-ASCII character,
    // which may be Unicode space, or the end) has no line that starts with one: one search of
    // the whole text is cheaper than reading every line.
    let keywords = ["acl", "http_access", "http_port", "cache_peer"];
    let bytes = text.as_bytes();
    let mentions = keywords.iter().any(|k| {
        memchr::memmem::find_iter(bytes, k).any(|at| match bytes.get(at + k.len()) {
            None => true,
            Some(&b) => {
                matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'#') || !b.is_ascii()
            }
        })
    });
    if !mentions {
        return false;
    }
    numbered_lines(text).any(|(_, line)| {
        let first = match first_word(line) {
            Some(word) => word,
            None => strip_comment(line).split_whitespace().next().unwrap_or(""),
        };
        matches!(first, "acl" | "http_access" | "http_port" | "cache_peer")
    })
}

/// The first word of an ASCII line, up to whitespace or `#`, as `strip_comment` and
/// `split_whitespace` find it for a squid keyword; `None` when non-ASCII text comes first.
fn first_word(line: &str) -> Option<&str> {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let bytes = line.as_bytes();
    let mut start = 0;
    while start < bytes.len() && space(bytes[start]) {
        start += 1;
    }
    let mut end = start;
    while end < bytes.len() && !space(bytes[end]) && bytes[end] != b'#' {
        if !bytes[end].is_ascii() {
            return None;
        }
        end += 1;
    }
    Some(&line[start..end])
}

const EXPECTED: &str = "a host name (acme.my.connect.aws), a wildcard (*.cloudfront.net or .cloudfront.net) or a URL (https://acme.my.connect.aws/ccp-v2/*)";

/// What one written entry means, before it gets a place in a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Entry {
        pattern: Pattern,
        port: Option<u16>,
        path: Option<String>,
    },
    /// An IP literal: not a domain.
    Address(IpAddr),
}

/// Reads one entry: `host`, `host:port`, `*.suffix`, `.suffix`, or a URL.
pub(crate) fn parse_entry(text: &str) -> Result<Parsed, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    let default_port = match scheme.as_deref() {
        None => None,
        Some("https" | "wss") => Some(443),
        Some("http" | "ws") => Some(80),
        Some(other) => {
            return Err(format!(
                "{EXPECTED}; the scheme {other:?} is not one a browser uses (https, http, wss, ws)"
            ));
        }
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // A bracketed IPv6 literal, with or without a port.
    if let Some(inner) = authority.strip_prefix('[') {
        let addr = inner.split(']').next().unwrap_or_default();
        return addr
            .parse::<IpAddr>()
            .map(Parsed::Address)
            .map_err(|_| EXPECTED.to_owned());
    }
    // Only text of hex digits, dots and colons can be an address; names rarely are.
    let maybe_address = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    };
    if maybe_address(authority) {
        if let Ok(addr) = authority.parse::<IpAddr>() {
            return Ok(Parsed::Address(addr));
        }
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{EXPECTED}; {port:?} is not a port number"))?;
            (host, Some(port))
        }
        None => (authority, default_port),
    };
    if maybe_address(host) {
        if let Ok(addr) = host.parse::<IpAddr>() {
            return Ok(Parsed::Address(addr));
        }
    }
    let path = path
        .map(|p| p.split(['?', '#']).next().unwrap_or_default())
        .map(|p| p.trim_end_matches('*'))
        .filter(|p| !p.is_empty() && *p != "/")
        .map(str::to_owned);
    let pattern = if host == "*" {
        Pattern::Below(String::new())
    } else if let Some(suffix) = host.strip_prefix("*.") {
        Pattern::Below(normalize(suffix)?)
    } else if let Some(glob) = label_wildcard(host)? {
        glob
    } else if let Some(suffix) = host.strip_prefix('.') {
        Pattern::AtOrBelow(normalize(suffix)?)
    } else {
        Pattern::Exact(normalize(host)?)
    };
    Ok(Parsed::Entry {
        pattern,
        port,
        path,
    })
}

/// AWS's wildcard at the end of a first label (`TurnNlb-*.elb.us-east-1.amazonaws.com`,
/// `rtc*.connect-telecom.us-east-1.amazonaws.com`): `head*.rest`, the head not empty. `None` for
/// a name without `*`; any other place for a `*` is refused.
fn label_wildcard(host: &str) -> Result<Option<Pattern>, String> {
    let Some((head, tail)) = host.split_once('*') else {
        return Ok(None);
    };
    let Some(rest) = tail.strip_prefix('.') else {
        return Err(format!(
            "{EXPECTED}; a \"*\" inside a name must end its first label, as in TurnNlb-*.elb.us-east-1.amazonaws.com"
        ));
    };
    let head_is_a_label_start = !head.is_empty()
        && !head.starts_with('-')
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !head_is_a_label_start || rest.contains('*') {
        return Err(format!(
            "{EXPECTED}; a \"*\" inside a name must end its first label, after at least one character, as in TurnNlb-*.elb.us-east-1.amazonaws.com"
        ));
    }
    let rest = normalize(rest)?;
    Ok(Some(Pattern::Glob {
        head: head.to_ascii_lowercase(),
        tail: format!(".{rest}"),
    }))
}

/// Lower case, no root dot, internationalised names in their `xn--` form.
pub(crate) fn normalize(host: &str) -> Result<String, String> {
    let trimmed = super::without_last(host, b'.');
    if trimmed.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    if let Some(plain) = plain_ascii_name(trimmed) {
        return Ok(plain);
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| format!("{EXPECTED}; {host:?} is not a valid internationalised name"))?;
    if ascii.len() > 253 {
        return Err(format!(
            "{EXPECTED}; the name is longer than 253 characters"
        ));
    }
    for label in ascii.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!("{EXPECTED}; {label:?} is not a valid label"));
        }
    }
    Ok(ascii)
}

/// A name of ASCII letters, digits, `-` and `_` in valid labels, none of them `xn--` (whose
/// Punycode IDNA must check): IDNA gives it back in lower case and nothing else, so it is read
/// without IDNA. `None` for any other name, which takes the whole way.
fn plain_ascii_name(name: &str) -> Option<String> {
    if name.len() > 253 {
        return None;
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let fine = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            && !bytes
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"));
        if !fine {
            return None;
        }
    }
    Some(name.to_ascii_lowercase())
}

fn push_entry(
    list: &mut DomainList,
    issues: &mut Issues,
    span: Span,
    text: &str,
    acl: Option<&str>,
) -> Result<()> {
    match parse_entry(text) {
        Ok(Parsed::Entry {
            pattern,
            port,
            path,
        }) => {
            list.entries.push(DomainEntry {
                span,
                text: text.to_owned(),
                pattern,
                port,
                path,
                acl: acl.map(str::to_owned),
            });
            Ok(())
        }
        Ok(Parsed::Address(addr)) => issues.push(Issue::unusable(
            span,
            text,
            format!("{addr} is an IP address, not a domain: a domain allow-list cannot match it; put addresses in the CIDR whitelist (--cidrs)"),
        )),
        Err(expected) => issues.push(Issue::malformed(span, text, expected)),
    }
}

/// A plain list: one entry a line, `#` comments.
pub fn parse_plain(text: &str, path: &Path, strictness: Strictness) -> Result<DomainList> {
    let file: Arc<Path> = Arc::from(path);
    let mut issues = Issues::new(strictness);
    let mut list = DomainList {
        path: path.to_owned(),
        syntax: DomainSyntax::Plain,
        entries: Vec::new(),
        issues: Vec::new(),
        acl: None,
        insert_after_line: None,
        agents: Vec::new(),
    };
    list.entries
        .reserve(text.bytes().filter(|&b| b == b'\n').count() + 1);
    for (number, line) in numbered_lines(text) {
        let (column, word) = match only_word(line) {
            Some(Some(found)) => found,
            Some(None) => continue,
            None => {
                let line = strip_comment(line);
                let words = tokens(line);
                let Some(&(column, word)) = words.first() else {
                    continue;
                };
                if let Some(&(extra_col, extra)) = words.get(1) {
                    issues.push(Issue::malformed(
                        Span::in_file(&file, number, extra_col),
                        extra,
                        "one entry a line (a host name, a wildcard or a URL), then an optional # comment",
                    ))?;
                    continue;
                }
                (column, word)
            }
        };
        push_entry(
            &mut list,
            &mut issues,
            Span::in_file(&file, number, column),
            word,
            None,
        )?;
    }
    let urls = list
        .entries
        .iter()
        .filter(|e| e.text.contains("://"))
        .count();
    if urls * 2 > list.entries.len() {
        list.syntax = DomainSyntax::Url;
    }
    list.issues = issues.list;
    Ok(list)
}

/// The one word of an ASCII line without quotes, with its column, as [`tokens`] after
/// [`strip_comment`] would find it: `Some(None)` for a line without a word, `None` when the
/// line needs the general way (non-ASCII text, quotes, more than one word).
fn only_word(line: &str) -> Option<Option<(usize, &str)>> {
    let bytes = line.as_bytes();
    let separator = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' | b',');
    let mut start = 0;
    while start < bytes.len() && separator(bytes[start]) {
        start += 1;
    }
    let mut end = start;
    while end < bytes.len() && !separator(bytes[end]) && bytes[end] != b'#' {
        if bytes[end] >= 0x80 || bytes[end] == b'"' {
            return None;
        }
        end += 1;
    }
    let mut rest = end;
    while rest < bytes.len() && separator(bytes[rest]) {
        rest += 1;
    }
    if rest < bytes.len() && bytes[rest] != b'#' {
        return None;
    }
    Some((start < end).then(|| (start + 1, &line[start..end])))
}

/// A squid configuration: the entries of every `acl NAME dstdomain` line, inline or from the
/// quoted file it names. Other directives are not domain entries and are skipped.
pub fn parse_squid(text: &str, path: &Path, strictness: Strictness) -> Result<DomainList> {
    let file: Arc<Path> = Arc::from(path);
    let mut issues = Issues::new(strictness);
    let mut list = DomainList {
        path: path.to_owned(),
        syntax: DomainSyntax::Squid,
        entries: Vec::new(),
        issues: Vec::new(),
        acl: None,
        insert_after_line: None,
        agents: Vec::new(),
    };
    for (number, line) in numbered_lines(text) {
        let words = tokens_by_space(strip_comment(line));
        if words.first().map(|w| w.1) != Some("acl") {
            continue;
        }
        let Some(&(_, name)) = words.get(1) else {
            issues.push(Issue::malformed(
                Span::in_file(&file, number, 1),
                line.trim(),
                "acl NAME TYPE VALUE...",
            ))?;
            continue;
        };
        match words.get(2).map(|w| w.1) {
            Some("dstdomain") => {}
            Some(kind @ ("ssl::server_name" | "ssl::server_name_regex")) => {
                issues.push(Issue::unusable(
                    Span::in_file(&file, number, words[2].0),
                    line.trim(),
                    format!(
                        "{kind} ACLs match only in TLS inspection steps; they are not evaluated"
                    ),
                ))?;
                continue;
            }
            _ => continue,
        }
        if list.acl.is_none() {
            list.acl = Some(name.to_owned());
        }
        if list.acl.as_deref() == Some(name) {
            list.insert_after_line = Some(number);
        }
        let values = &words[3..];
        if values.is_empty() {
            issues.push(Issue::malformed(
                Span::in_file(&file, number, line.chars().count() + 1),
                line.trim(),
                "at least one domain after dstdomain",
            ))?;
        }
        for &(column, value) in values {
            let span = Span::in_file(&file, number, column);
            if value.starts_with('-') {
                // Options such as -i (case-insensitive) and -n (no reverse lookup).
                continue;
            }
            if let Some(file) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                read_referenced(&mut list, &mut issues, path, span, value, file, name)?;
                continue;
            }
            push_entry(&mut list, &mut issues, span, value, Some(name))?;
        }
    }
    list.issues = issues.list;
    Ok(list)
}

/// Tokens separated by whitespace only (squid values may hold commas in quoted paths).
fn tokens_by_space(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (i, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((s, scol)) = start.take() {
                out.push((scol + 1, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some((i, col));
        }
    }
    if let Some((s, scol)) = start {
        out.push((scol + 1, &line[s..]));
    }
    out
}

/// The entries of a file a `dstdomain` ACL names, one a line. A relative name is taken from the
/// configuration's folder.
fn read_referenced(
    list: &mut DomainList,
    issues: &mut Issues,
    conf: &Path,
    span: Span,
    value: &str,
    file: &str,
    acl: &str,
) -> Result<()> {
    let file_path = {
        let p = PathBuf::from(file);
        if p.is_relative() {
            conf.parent().unwrap_or_else(|| Path::new(".")).join(p)
        } else {
            p
        }
    };
    let text = match read_text(&file_path) {
        Ok(text) => text,
        Err(crate::error::Error::Read { source, .. }) => {
            return issues.push(Issue::unusable(
                span,
                value,
                format!("the file it names cannot be read ({source}); its entries are not audited"),
            ));
        }
        Err(other) => return Err(other),
    };
    for (number, line) in numbered_lines(&text) {
        for (column, word) in tokens_by_space(strip_comment(line)) {
            push_entry(
                list,
                issues,
                Span::new(&file_path, number, column),
                word,
                Some(acl),
            )?;
        }
    }
    Ok(())
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
    fn squid_configurations_are_told_from_lists_by_their_first_words() {
        let reference = |text: &str| {
            numbered_lines(text).any(|(_, line)| {
                let first = strip_comment(line).split_whitespace().next().unwrap_or("");
                matches!(first, "acl" | "http_access" | "http_port" | "cache_peer")
            })
        };
        for (text, squid) in [
            ("oracle.com\n*.macle.example\n# the acl list\n", false),
            ("acl connect dstdomain .connect.aws\n", true),
            ("  http_access allow connect\n", true),
            ("host.example\nacl", true),
            ("host.example\nacl# trailing comment\n", true),
            ("acl\u{3000}connect dstdomain .connect.aws\n", true),
            ("cache_peers.example\nhttp_portal.example\n", false),
            ("", false),
        ] {
            assert_eq!(looks_like_squid(text), squid, "{text:?}");
            assert_eq!(reference(text), squid, "{text:?}");
        }
    }

    #[test]
    fn entry_forms() {
        let table: &[(&str, Pattern, Option<u16>, Option<&str>)] = &[
            (
                "acme.my.connect.aws",
                Pattern::Exact("acme.my.connect.aws".into()),
                None,
                None,
            ),
            (
                "ACME.My.Connect.AWS.",
                Pattern::Exact("acme.my.connect.aws".into()),
                None,
                None,
            ),
            (
                "*.cloudfront.net",
                Pattern::Below("cloudfront.net".into()),
                None,
                None,
            ),
            (
                ".cloudfront.net",
                Pattern::AtOrBelow("cloudfront.net".into()),
                None,
                None,
            ),
            ("*", Pattern::Below(String::new()), None, None),
            (
                "https://acme.my.connect.aws/ccp-v2/*",
                Pattern::Exact("acme.my.connect.aws".into()),
                Some(443),
                Some("/ccp-v2/"),
            ),
            (
                "https://*.transport.connect.eu-central-1.amazonaws.com/",
                Pattern::Below("transport.connect.eu-central-1.amazonaws.com".into()),
                Some(443),
                None,
            ),
            (
                "http://a.example:8080",
                Pattern::Exact("a.example".into()),
                Some(8080),
                None,
            ),
            (
                "wss://a.example/x?y=1",
                Pattern::Exact("a.example".into()),
                Some(443),
                Some("/x"),
            ),
            (
                "a.example:443",
                Pattern::Exact("a.example".into()),
                Some(443),
                None,
            ),
            (
                "bücher.example",
                Pattern::Exact("xn--bcher-kva.example".into()),
                None,
                None,
            ),
            (
                "*.BÜCHER.example.",
                Pattern::Below("xn--bcher-kva.example".into()),
                None,
                None,
            ),
            (
                "_sip.example",
                Pattern::Exact("_sip.example".into()),
                None,
                None,
            ),
        ];
        for (text, pattern, port, path) in table {
            assert_eq!(
                entry(text),
                Parsed::Entry {
                    pattern: pattern.clone(),
                    port: *port,
                    path: path.map(str::to_owned)
                },
                "{text}"
            );
        }
    }

    #[test]
    fn addresses_are_not_domains_and_junk_is_refused() {
        assert_eq!(
            entry("15.193.0.1"),
            Parsed::Address("15.193.0.1".parse().unwrap())
        );
        assert_eq!(
            entry("https://[2600:f0f2::1]:443/"),
            Parsed::Address("2600:f0f2::1".parse().unwrap())
        );
        assert_eq!(
            entry("10.0.0.1:443"),
            Parsed::Address("10.0.0.1".parse().unwrap())
        );
        for bad in [
            "a..b",
            "a b",
            "ftp://a.example",
            "a.example:http",
            "*a.example",
            "a.*.example",
            ".",
            "-",
            "a.example:0",
            "exa$mple.com",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad}");
        }
        assert!(
            parse_entry("ftp://a.example")
                .unwrap_err()
                .contains("scheme")
        );
    }

    #[test]
    fn plain_lists_name_line_and_column() {
        let text = "# proxy bypass\n\nacme.my.connect.aws\n  *.cloudfront.net   # static\nhttps://x.example/a\n";
        let list = parse_plain(text, Path::new("l.txt"), Strictness::Strict).unwrap();
        let at: Vec<(String, String)> = list
            .entries
            .iter()
            .map(|e| (e.span.to_string(), e.pattern.plain()))
            .collect();
        assert_eq!(
            at,
            [
                ("l.txt:3:1".to_owned(), "acme.my.connect.aws".to_owned()),
                ("l.txt:4:3".to_owned(), "*.cloudfront.net".to_owned()),
                ("l.txt:5:1".to_owned(), "x.example".to_owned()),
            ]
        );
        assert_eq!(list.syntax, DomainSyntax::Plain);
        let err = parse_plain(
            "a.example\n  b..example\n",
            Path::new("l.txt"),
            Strictness::Strict,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("l.txt:2:3: cannot read \"b..example\": expected a host name"),
            "{err}"
        );
        let err = parse_plain(
            "a.example b.example\n",
            Path::new("l.txt"),
            Strictness::Strict,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("l.txt:1:11"), "{err}");
        let list = parse_plain(
            "b..example\n10.1.1.1\nok.example\n",
            Path::new("l.txt"),
            Strictness::Lenient,
        )
        .unwrap();
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.issues.len(), 2);
        assert_eq!(list.issues[1].kind, super::super::IssueKind::Unusable);
    }

    #[test]
    fn squid_acls_inline_and_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("connect.txt"),
            "# Connect\n.cloudfront.net\nparticipant.connect.eu-central-1.amazonaws.com\n",
        )
        .unwrap();
        let conf = dir.path().join("squid.conf");
        let text = "http_port 3128\nacl localnet src 10.0.0.0/8\nacl connect dstdomain -i .my.connect.aws .Transport.connect.eu-central-1.amazonaws.com\nacl connect dstdomain \"connect.txt\"\nhttp_access allow localnet connect\n";
        std::fs::write(&conf, text).unwrap();
        let list = DomainList::read(&conf, None, Strictness::Strict).unwrap();
        assert_eq!(list.syntax, DomainSyntax::Squid);
        assert_eq!(list.acl.as_deref(), Some("connect"));
        assert_eq!(list.insert_after_line, Some(4));
        let got: Vec<(usize, usize, String)> = list
            .entries
            .iter()
            .map(|e| (e.span.line, e.span.column, e.pattern.plain()))
            .collect();
        assert_eq!(
            got,
            [
                (3, 26, ".my.connect.aws".to_owned()),
                (
                    3,
                    42,
                    ".transport.connect.eu-central-1.amazonaws.com".to_owned()
                ),
                (2, 1, ".cloudfront.net".to_owned()),
                (
                    3,
                    1,
                    "participant.connect.eu-central-1.amazonaws.com".to_owned()
                ),
            ]
        );
        assert!(list.entries[2].span.path.ends_with("connect.txt"));
        let fixed = list.with_additions(text, &[".static.connect.aws".into()]);
        let lines: Vec<&str> = fixed.lines().collect();
        assert_eq!(
            lines[5],
            "acl connect_preflight dstdomain .static.connect.aws"
        );
        assert_eq!(
            lines[8],
            "http_access allow connect_preflight_connect connect_preflight_port connect_preflight"
        );
        assert_eq!(lines[9], "http_access allow localnet connect");
        // ACLs of TLS-inspection steps are not evaluated: said, not ignored.
        let list = parse_squid(
            "acl c ssl::server_name .connect.aws\n",
            &conf,
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(list.issues.len(), 1);
        assert!(list.issues[0].expected.contains("ssl::server_name"));
        // A missing referenced file is reported, not fatal.
        let list = parse_squid(
            "acl c dstdomain \"/nonexistent/x\"\n",
            &conf,
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(list.issues.len(), 1);
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
        /// Plain ASCII names read without IDNA come out as IDNA gives them.
        #[test]
        fn plain_ascii_names_are_what_idna_gives(
            labels in proptest::collection::vec("(xn--|XN--|-|_)?[a-zA-Z0-9_-]{0,6}(-)?", 1..5),
        ) {
            let name = labels.join(".");
            if let Some(plain) = plain_ascii_name(&name) {
                let idna = idna::domain_to_ascii(&name);
                proptest::prop_assert_eq!(Ok(plain), idna.map_err(|_| ()), "{}", name);
            }
        }

        /// The first word of a line is what the squid detection took it to be.
        #[test]
        fn first_words_are_those_of_split_whitespace(line in "[ \t\x0b#\"acl_é\u{a0}]{0,10}") {
            if let Some(word) = first_word(&line) {
                let general = strip_comment(&line).split_whitespace().next().unwrap_or("");
                let keyword = |w: &str| matches!(w, "acl" | "http_access" | "http_port" | "cache_peer");
                proptest::prop_assert_eq!(keyword(word), keyword(general), "{:?}", line);
            }
        }

        /// A line with one word is read as the general tokenizer reads it.
        #[test]
        fn one_word_lines_split_as_tokens_do(line in "[ ,\t#\"a.é*/:-]{0,12}") {
            if let Some(found) = only_word(&line) {
                let words = tokens(strip_comment(&line));
                proptest::prop_assert!(words.len() <= 1, "{:?}", line);
                proptest::prop_assert_eq!(found, words.first().copied(), "{:?}", line);
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

    #[test]
    fn a_squid_addition_names_no_entry_another_one_covers() {
        let entries: Vec<String> = [
            ".apps.signin.aws",
            ".signin.aws",
            "turnnlb-1.elb.eu-central-1.amazonaws.com",
            ".elb.eu-central-1.amazonaws.com",
            ".SIGNIN.aws",
            ".threat-mitigation.aws.amazon.com",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            squid_minimal(&entries),
            [
                ".signin.aws",
                ".elb.eu-central-1.amazonaws.com",
                ".threat-mitigation.aws.amazon.com"
            ]
        );
        // A name that only ends in the same letters is not below the suffix.
        let apart: Vec<String> = vec![".signin.aws".into(), "xsignin.aws".into()];
        assert_eq!(squid_minimal(&apart), apart);
    }
}
