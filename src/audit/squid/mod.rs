//! A squid configuration evaluated as squid evaluates it: for each required host, the `CONNECT
//! host:443` request an agent's browser sends, walked through the `http_access` lines in order
//! (every ACL of a line must match, the first matching line decides, and when none does the
//! answer is the opposite of the last line's), with the ACLs read as squid reads them.
//!
//! What the file cannot tell is said, never guessed: an ACL file that cannot be read, an
//! `include` that is not there, an ACL type that depends on the user, the time or an external
//! helper, and (without `--from`) where the agents are. A line whose match depends on such a
//! thing leaves the answer undetermined unless every way it can go ends the same.
//!
//! This file holds the model (ACLs, `http_access` lines, the configuration) and the decision for
//! one request; `read.rs` reads squid.conf and its includes into it, `audit.rs` runs the
//! decision over Connect's requirements and writes the checks and the fix.

mod audit;
mod read;

pub(crate) use audit::audit;

use std::collections::HashMap;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::allowlist::domains::Pattern;
use crate::ranges::IpSet;

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

#[cfg(test)]
mod tests {
    use std::path::Path;

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
