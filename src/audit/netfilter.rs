//! `iptables-save` and `ip6tables-save` files (and the `iptables-restore` input people write by
//! hand) read into a [`Ruleset`], the way `iptables-restore` reads them: tables, chains with their
//! policies, and `-A` rules with their matches and target. What `iptables-restore` would refuse
//! (an unknown table, option, match or target, a chain never declared, a character that only
//! looks like ASCII) is an error naming `file:line:column`, or with `--lenient` an unreadable
//! rule whose effect is undetermined.

use std::path::Path;
use std::sync::Arc;

use super::firewall::{
    Base, Chain, Cond, End, Hook, IfaceSide, Rule, Ruleset, TCP, UDP, Verdict, chain_key,
};
use crate::allowlist::cidrs::parse_space;
use crate::allowlist::{Issue, Issues, Span};
use crate::error::Result;
use crate::ranges::IpSet;

/// Whether the text looks like iptables-save output (or restore input).
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("*filter")
            || t.starts_with("*nat")
            || t.starts_with("*mangle")
            || t.starts_with("*raw")
            || t.starts_with("-A ")
            || t.starts_with("--append ")
            || t.starts_with(":OUTPUT ")
            || t.starts_with(":INPUT ")
            || t == "COMMIT"
    })
}

/// The built-in chains of each table, with their hook and priority.
fn builtin(table: &str) -> Option<(i32, &'static [&'static str])> {
    Some(match table {
        "raw" => (-300, &["PREROUTING", "OUTPUT"]),
        "mangle" => (
            -150,
            &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        ),
        "nat" => (-100, &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        "filter" => (0, &["INPUT", "FORWARD", "OUTPUT"]),
        "security" => (50, &["INPUT", "FORWARD", "OUTPUT"]),
        _ => return None,
    })
}

/// A word of a line, with its column (counting characters from 1).
#[derive(Debug)]
struct Word {
    col: usize,
    text: String,
    /// Written inside quotes.
    quoted: bool,
}

/// Splits a line the way iptables-restore does: whitespace between words, double or single
/// quotes around words with spaces.
fn words(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut quoted = false;
    for (col, c) in line.chars().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                quoted = true;
                start.get_or_insert(col);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    out.push(Word {
                        col: s + 1,
                        text: std::mem::take(&mut current),
                        quoted,
                    });
                    quoted = false;
                }
            }
            (None, c) => {
                start.get_or_insert(col);
                current.push(c);
            }
        }
    }
    if let Some(s) = start {
        out.push(Word {
            col: s + 1,
            text: current,
            quoted,
        });
    }
    out
}

/// Options of each match module and how many arguments each takes.
const MATCH_OPTIONS: &[(&str, &[(&str, u8)])] = &[
    (
        "tcp",
        &[
            ("--dport", 1),
            ("--destination-port", 1),
            ("--sport", 1),
            ("--source-port", 1),
            ("--tcp-flags", 2),
            ("--syn", 0),
            ("--tcp-option", 1),
        ],
    ),
    (
        "udp",
        &[
            ("--dport", 1),
            ("--destination-port", 1),
            ("--sport", 1),
            ("--source-port", 1),
        ],
    ),
    (
        "multiport",
        &[
            ("--dports", 1),
            ("--destination-ports", 1),
            ("--sports", 1),
            ("--source-ports", 1),
            ("--ports", 1),
        ],
    ),
    (
        "conntrack",
        &[
            ("--ctstate", 1),
            ("--ctproto", 1),
            ("--ctorigsrc", 1),
            ("--ctorigdst", 1),
            ("--ctreplsrc", 1),
            ("--ctrepldst", 1),
            ("--ctorigsrcport", 1),
            ("--ctorigdstport", 1),
            ("--ctreplsrcport", 1),
            ("--ctrepldstport", 1),
            ("--ctstatus", 1),
            ("--ctexpire", 1),
            ("--ctdir", 1),
        ],
    ),
    ("state", &[("--state", 1)]),
    ("comment", &[("--comment", 1)]),
    ("icmp", &[("--icmp-type", 1)]),
    ("icmp6", &[("--icmpv6-type", 1)]),
    ("iprange", &[("--src-range", 1), ("--dst-range", 1)]),
    (
        "addrtype",
        &[
            ("--src-type", 1),
            ("--dst-type", 1),
            ("--limit-iface-in", 0),
            ("--limit-iface-out", 0),
        ],
    ),
    ("limit", &[("--limit", 1), ("--limit-burst", 1)]),
    (
        "hashlimit",
        &[
            ("--hashlimit", 1),
            ("--hashlimit-upto", 1),
            ("--hashlimit-above", 1),
            ("--hashlimit-burst", 1),
            ("--hashlimit-mode", 1),
            ("--hashlimit-srcmask", 1),
            ("--hashlimit-dstmask", 1),
            ("--hashlimit-name", 1),
            ("--hashlimit-htable-size", 1),
            ("--hashlimit-htable-max", 1),
            ("--hashlimit-htable-expire", 1),
            ("--hashlimit-htable-gcinterval", 1),
        ],
    ),
    (
        "recent",
        &[
            ("--set", 0),
            ("--rcheck", 0),
            ("--update", 0),
            ("--remove", 0),
            ("--seconds", 1),
            ("--reap", 0),
            ("--hitcount", 1),
            ("--rttl", 0),
            ("--name", 1),
            ("--mask", 1),
            ("--rsource", 0),
            ("--rdest", 0),
        ],
    ),
    (
        "set",
        &[
            ("--match-set", 2),
            ("--set", 2),
            ("--return-nomatch", 0),
            ("--update-counters", 0),
            ("--update-subcounters", 0),
            ("--packets-eq", 1),
            ("--packets-lt", 1),
            ("--packets-gt", 1),
            ("--bytes-eq", 1),
            ("--bytes-lt", 1),
            ("--bytes-gt", 1),
        ],
    ),
    ("mark", &[("--mark", 1)]),
    ("connmark", &[("--mark", 1)]),
    (
        "owner",
        &[
            ("--uid-owner", 1),
            ("--gid-owner", 1),
            ("--socket-exists", 0),
            ("--suppl-groups", 0),
        ],
    ),
    ("length", &[("--length", 1)]),
    ("ttl", &[("--ttl-eq", 1), ("--ttl-gt", 1), ("--ttl-lt", 1)]),
    ("hl", &[("--hl-eq", 1), ("--hl-gt", 1), ("--hl-lt", 1)]),
    ("pkttype", &[("--pkt-type", 1)]),
    ("mac", &[("--mac-source", 1)]),
    (
        "connlimit",
        &[
            ("--connlimit-upto", 1),
            ("--connlimit-above", 1),
            ("--connlimit-mask", 1),
            ("--connlimit-saddr", 0),
            ("--connlimit-daddr", 0),
        ],
    ),
    (
        "physdev",
        &[
            ("--physdev-in", 1),
            ("--physdev-out", 1),
            ("--physdev-is-in", 0),
            ("--physdev-is-out", 0),
            ("--physdev-is-bridged", 0),
        ],
    ),
    (
        "time",
        &[
            ("--timestart", 1),
            ("--timestop", 1),
            ("--datestart", 1),
            ("--datestop", 1),
            ("--weekdays", 1),
            ("--monthdays", 1),
            ("--kerneltz", 0),
            ("--utc", 0),
            ("--contiguous", 0),
        ],
    ),
    (
        "statistic",
        &[
            ("--mode", 1),
            ("--probability", 1),
            ("--every", 1),
            ("--packet", 1),
        ],
    ),
    ("dscp", &[("--dscp", 1), ("--dscp-class", 1)]),
    ("tos", &[("--tos", 1)]),
    (
        "policy",
        &[
            ("--dir", 1),
            ("--pol", 1),
            ("--strict", 0),
            ("--reqid", 1),
            ("--spi", 1),
            ("--proto", 1),
            ("--mode", 1),
            ("--tunnel-src", 1),
            ("--tunnel-dst", 1),
            ("--next", 0),
        ],
    ),
    (
        "string",
        &[
            ("--algo", 1),
            ("--from", 1),
            ("--to", 1),
            ("--string", 1),
            ("--hex-string", 1),
            ("--icase", 0),
        ],
    ),
    ("u32", &[("--u32", 1)]),
    ("helper", &[("--helper", 1)]),
    ("devgroup", &[("--src-group", 1), ("--dst-group", 1)]),
    (
        "socket",
        &[
            ("--transparent", 0),
            ("--nowildcard", 0),
            ("--restore-skmark", 0),
        ],
    ),
    ("cgroup", &[("--path", 1), ("--cgroup", 1)]),
    (
        "rpfilter",
        &[
            ("--loose", 0),
            ("--validmark", 0),
            ("--accept-local", 0),
            ("--invert", 0),
        ],
    ),
    (
        "frag",
        &[
            ("--fragid", 1),
            ("--fraglen", 1),
            ("--fragres", 0),
            ("--fragfirst", 0),
            ("--fragmore", 0),
            ("--fraglast", 0),
        ],
    ),
    ("udplite", &[]),
    (
        "sctp",
        &[
            ("--dport", 1),
            ("--sport", 1),
            ("--destination-port", 1),
            ("--source-port", 1),
            ("--chunk-types", 2),
        ],
    ),
    ("esp", &[("--espspi", 1)]),
    ("ah", &[("--ahspi", 1)]),
    (
        "geoip",
        &[
            ("--src-cc", 1),
            ("--dst-cc", 1),
            ("--source-country", 1),
            ("--destination-country", 1),
        ],
    ),
    ("tcpmss", &[("--mss", 1)]),
    (
        "ecn",
        &[
            ("--ecn-tcp-cwr", 0),
            ("--ecn-tcp-ece", 0),
            ("--ecn-ip-ect", 1),
        ],
    ),
    ("quota", &[("--quota", 1)]),
    ("bpf", &[("--bytecode", 1), ("--object-pinned", 1)]),
    ("realm", &[("--realm", 1)]),
    ("ipv6header", &[("--header", 1), ("--soft", 0)]),
    (
        "rt",
        &[
            ("--rt-type", 1),
            ("--rt-segsleft", 1),
            ("--rt-len", 1),
            ("--rt-0-res", 0),
            ("--rt-0-addrs", 1),
            ("--rt-0-not-strict", 0),
        ],
    ),
    ("hbh", &[("--hbh-len", 1), ("--hbh-opts", 1)]),
    ("dst", &[("--dst-len", 1), ("--dst-opts", 1)]),
    ("eui64", &[]),
];

/// Options of each target and how many arguments each takes; `None` for a target that takes
/// the packet out of the chain with a verdict the file cannot show.
const TARGET_OPTIONS: &[(&str, &[(&str, u8)])] = &[
    ("ACCEPT", &[]),
    ("DROP", &[]),
    ("RETURN", &[]),
    ("REJECT", &[("--reject-with", 1)]),
    (
        "LOG",
        &[
            ("--log-prefix", 1),
            ("--log-level", 1),
            ("--log-tcp-sequence", 0),
            ("--log-tcp-options", 0),
            ("--log-ip-options", 0),
            ("--log-uid", 0),
            ("--log-macdecode", 0),
        ],
    ),
    (
        "NFLOG",
        &[
            ("--nflog-group", 1),
            ("--nflog-prefix", 1),
            ("--nflog-range", 1),
            ("--nflog-size", 1),
            ("--nflog-threshold", 1),
        ],
    ),
    (
        "ULOG",
        &[
            ("--ulog-nlgroup", 1),
            ("--ulog-prefix", 1),
            ("--ulog-cprange", 1),
            ("--ulog-qthreshold", 1),
        ],
    ),
    (
        "MARK",
        &[
            ("--set-mark", 1),
            ("--set-xmark", 1),
            ("--and-mark", 1),
            ("--or-mark", 1),
            ("--xor-mark", 1),
        ],
    ),
    (
        "CONNMARK",
        &[
            ("--set-mark", 1),
            ("--set-xmark", 1),
            ("--save-mark", 0),
            ("--restore-mark", 0),
            ("--and-mark", 1),
            ("--or-mark", 1),
            ("--xor-mark", 1),
            ("--mask", 1),
            ("--nfmask", 1),
            ("--ctmask", 1),
        ],
    ),
    ("NOTRACK", &[]),
    (
        "CT",
        &[
            ("--notrack", 0),
            ("--helper", 1),
            ("--ctevents", 1),
            ("--expevents", 1),
            ("--zone", 1),
            ("--zone-orig", 1),
            ("--zone-reply", 1),
            ("--timeout", 1),
        ],
    ),
    (
        "MASQUERADE",
        &[("--to-ports", 1), ("--random", 0), ("--random-fully", 0)],
    ),
    (
        "SNAT",
        &[
            ("--to-source", 1),
            ("--to", 1),
            ("--random", 0),
            ("--random-fully", 0),
            ("--persistent", 0),
        ],
    ),
    (
        "DNAT",
        &[
            ("--to-destination", 1),
            ("--to", 1),
            ("--random", 0),
            ("--persistent", 0),
        ],
    ),
    ("REDIRECT", &[("--to-ports", 1), ("--random", 0)]),
    ("NETMAP", &[("--to", 1)]),
    ("TCPMSS", &[("--set-mss", 1), ("--clamp-mss-to-pmtu", 0)]),
    ("DSCP", &[("--set-dscp", 1), ("--set-dscp-class", 1)]),
    (
        "TOS",
        &[
            ("--set-tos", 1),
            ("--and-tos", 1),
            ("--or-tos", 1),
            ("--xor-tos", 1),
        ],
    ),
    (
        "TTL",
        &[("--ttl-set", 1), ("--ttl-dec", 1), ("--ttl-inc", 1)],
    ),
    ("HL", &[("--hl-set", 1), ("--hl-dec", 1), ("--hl-inc", 1)]),
    ("CLASSIFY", &[("--set-class", 1)]),
    (
        "NFQUEUE",
        &[
            ("--queue-num", 1),
            ("--queue-balance", 1),
            ("--queue-bypass", 0),
            ("--queue-cpu-fanout", 0),
        ],
    ),
    ("QUEUE", &[]),
    (
        "TPROXY",
        &[("--on-port", 1), ("--on-ip", 1), ("--tproxy-mark", 1)],
    ),
    ("CHECKSUM", &[("--checksum-fill", 0)]),
    (
        "SET",
        &[
            ("--add-set", 2),
            ("--del-set", 2),
            ("--map-set", 2),
            ("--exist", 0),
            ("--timeout", 1),
        ],
    ),
    ("AUDIT", &[("--type", 1)]),
    ("TRACE", &[]),
    ("SECMARK", &[("--selctx", 1)]),
    ("CONNSECMARK", &[("--save", 0), ("--restore", 0)]),
    ("TEE", &[("--gateway", 1)]),
    (
        "SYNPROXY",
        &[
            ("--mss", 1),
            ("--wscale", 1),
            ("--sack-perm", 0),
            ("--timestamp", 0),
            ("--ecn", 0),
        ],
    ),
    ("IDLETIMER", &[("--timeout", 1), ("--label", 1)]),
    (
        "LED",
        &[
            ("--led-trigger-id", 1),
            ("--led-delay", 1),
            ("--led-always-blink", 0),
        ],
    ),
];

fn arity(table: &[(&str, &[(&str, u8)])], module: &str, option: &str) -> Option<u8> {
    table
        .iter()
        .find(|(m, _)| *m == module)
        .and_then(|(_, opts)| opts.iter().find(|(o, _)| *o == option).map(|(_, n)| *n))
}

/// Well-known service names iptables resolves from /etc/services.
fn service_port(name: &str) -> Option<u16> {
    Some(match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "http" | "www" => 80,
        "pop3" => 110,
        "sunrpc" => 111,
        "auth" | "ident" => 113,
        "ntp" => 123,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ssn" => 139,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "snmp-trap" => 162,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "isakmp" => 500,
        "submissions" | "smtps" => 465,
        "syslog" => 514,
        "submission" => 587,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "openvpn" => 1194,
        "mysql" => 3306,
        "ms-wbt-server" => 3389,
        "stun" => 3478,
        "postgresql" => 5432,
        "http-alt" | "webcache" => 8080,
        _ => return None,
    })
}

pub(crate) fn port_number(word: &str) -> Option<u16> {
    word.parse::<u16>().ok().or_else(|| service_port(word))
}

/// `443`, `1024:65535`, `:1023`, `1024:`.
fn port_range(word: &str) -> Option<(u16, u16)> {
    match word.split_once(':') {
        Some((a, b)) => {
            let a = if a.is_empty() { 0 } else { port_number(a)? };
            let b = if b.is_empty() { 65535 } else { port_number(b)? };
            Some((a.min(b), a.max(b)))
        }
        None => port_number(word).map(|p| (p, p)),
    }
}

fn port_list(word: &str) -> Option<Vec<(u16, u16)>> {
    word.split(',').map(port_range).collect()
}

/// Protocol names as `-p` and nft take them.
pub(crate) fn proto_number(word: &str) -> Option<Option<u8>> {
    let w = word.to_ascii_lowercase();
    Some(Some(match w.as_str() {
        "all" | "0" => return Some(None),
        "tcp" => TCP,
        "udp" => UDP,
        "icmp" => 1,
        "igmp" => 2,
        "ipencap" | "ipip" => 4,
        "egp" => 8,
        "gre" => 47,
        "esp" | "ipv6-crypt" => 50,
        "ah" | "ipv6-auth" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "ospf" | "ospfigp" => 89,
        "pim" => 103,
        "vrrp" => 112,
        "l2tp" => 115,
        "sctp" => 132,
        "udplite" => 136,
        "mh" | "ipv6-mh" => 135,
        n => return n.parse::<u8>().ok().map(Some),
    }))
}

/// A character outside ASCII where iptables expects an option, name or address: usually a
/// look-alike letter pasted from a document.
fn lookalike(line: &str) -> Option<(usize, char)> {
    let mut quote = None;
    for (i, c) in line.chars().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if !c.is_ascii() => return Some((i + 1, c)),
            _ => {}
        }
    }
    None
}

struct Reader<'a> {
    path: Arc<Path>,
    issues: &'a mut Issues,
    rules: Ruleset,
    ipv6: bool,
    table: Option<(String, usize)>,
}

impl Reader<'_> {
    fn span(&self, line: usize, col: usize) -> Span {
        Span::in_file(&self.path, line, col)
    }

    fn bad(
        &mut self,
        line: usize,
        col: usize,
        text: &str,
        expected: impl Into<String>,
    ) -> Result<()> {
        let span = self.span(line, col);
        let expected = expected.into();
        self.issues
            .push(Issue::malformed(span.clone(), text, expected.clone()))?;
        self.rules.unreadable.push((
            span,
            format!("{text:?} could not be read (expected {expected})"),
        ));
        Ok(())
    }

    /// A rule that could not be read: with `--lenient` it stays in its chain, its effect
    /// undetermined, so nothing after it is taken for granted.
    fn bad_rule(
        &mut self,
        chain: &str,
        line: usize,
        col: usize,
        text: &str,
        expected: impl Into<String>,
    ) -> Result<()> {
        let expected = expected.into();
        self.bad(line, col, text, expected.clone())?;
        let why = format!(
            "the rule at {}:{line}, which could not be read ({text:?}: expected {expected})",
            self.path.display()
        );
        let span = self.span(line, col);
        if let Some(chain) = self.chain_mut(chain) {
            chain.rules.push(Rule {
                span,
                text: text.to_owned(),
                conds: vec![Cond::Unknown(why.clone())],
                verdict: Verdict::Unknown(why),
            });
        }
        Ok(())
    }

    fn table_name(&self) -> (String, String) {
        let family = if self.ipv6 { "ip6" } else { "ip" };
        (
            family.to_owned(),
            self.table
                .as_ref()
                .map_or("filter", |t| t.0.as_str())
                .to_owned(),
        )
    }

    fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        let key = chain_key(&self.table_name(), name);
        self.rules.chains.iter_mut().find(|c| c.key == key)
    }

    fn start_table(&mut self, name: &str, line: usize) {
        self.table = Some((name.to_owned(), line));
        let Some((priority, chains)) = builtin(name) else {
            return;
        };
        let table = self.table_name();
        for chain in chains {
            let key = chain_key(&table, chain);
            if self.rules.chains.iter().any(|c| c.key == key) {
                continue;
            }
            let hook = Hook::parse(chain).expect("built-in chains are hooks");
            // nat INPUT and POSTROUTING run after filter (srcnat, 100).
            let priority = if name == "nat" && matches!(hook, Hook::Input | Hook::Postrouting) {
                100
            } else {
                priority
            };
            self.rules.chains.push(Chain {
                key,
                name: (*chain).to_owned(),
                table: table.clone(),
                rules: Vec::new(),
                base: Some(Base {
                    hook,
                    priority,
                    policy: Verdict::Accept,
                    policy_span: self.span(line, 1),
                    nat: name == "nat",
                    v4: !self.ipv6,
                    v6: self.ipv6,
                }),
                span: self.span(line, 1),
                end_line: 0,
            });
        }
    }

    fn line(&mut self, n: usize, raw: &str) -> Result<()> {
        let line = raw.trim_end_matches(['\r', '\n']);
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            return Ok(());
        }
        if let Some((col, c)) = lookalike(line) {
            let expected = format!(
                "ASCII: U+{:04X} {c:?} only looks like an ASCII character (iptables-restore refuses it)",
                u32::from(c)
            );
            // In a rule, the rule stays (with --lenient) as one whose effect is undetermined.
            let ws = words(t);
            let chain = match ws.first().map(|w| w.text.as_str()) {
                Some("-A" | "--append" | "-I" | "--insert") => ws.get(1).map(|w| w.text.clone()),
                _ => None,
            };
            if let Some(chain) = chain.filter(|c| self.chain_mut(c).is_some()) {
                return self.bad_rule(&chain, n, col, line.trim(), expected);
            }
            return self.bad(n, col, line.trim(), expected);
        }
        let indent = line.len() - t.len() + 1;
        if let Some(name) = t.strip_prefix('*') {
            let name = name.trim();
            if builtin(name).is_none() {
                return self.bad(
                    n,
                    indent + 1,
                    name,
                    "a table: filter, nat, mangle, raw or security",
                );
            }
            self.start_table(name, n);
            return Ok(());
        }
        if t == "COMMIT" {
            if self.table.is_none() {
                return self.bad(n, indent, t, "COMMIT only after a *table line");
            }
            let table = self.table_name();
            for chain in &mut self.rules.chains {
                if chain.table == table && chain.end_line == 0 {
                    chain.end_line = n;
                }
            }
            self.table = None;
            return Ok(());
        }
        if self.table.is_none() {
            return self.bad(
                n,
                indent,
                t,
                "a *table line (such as *filter) before any chain or rule",
            );
        }
        if let Some(rest) = t.strip_prefix(':') {
            let ws = words(rest);
            let (Some(name), Some(policy)) = (ws.first(), ws.get(1)) else {
                return self.bad(n, indent, t, ":CHAIN POLICY [packets:bytes]");
            };
            let policy_verdict = match policy.text.as_str() {
                "ACCEPT" => Some(Verdict::Accept),
                "DROP" => Some(Verdict::Drop),
                "-" => None,
                other => {
                    let col = indent + 1 + policy.col - 1;
                    return self.bad(
                        n,
                        col,
                        other,
                        "a policy: ACCEPT, DROP, or - for a user chain",
                    );
                }
            };
            let span = self.span(n, indent);
            let name = name.text.clone();
            match self.chain_mut(&name) {
                Some(chain) => {
                    if let (Some(base), Some(p)) = (chain.base.as_mut(), policy_verdict) {
                        base.policy = p;
                        base.policy_span = span.clone();
                    }
                    chain.span = span;
                }
                None => {
                    if policy_verdict.is_some() {
                        return self.bad(
                            n,
                            indent + 1,
                            &name,
                            "a built-in chain of this table, or `-` as the policy of a user chain",
                        );
                    }
                    let table = self.table_name();
                    self.rules.chains.push(Chain {
                        key: chain_key(&table, &name),
                        name,
                        table,
                        rules: Vec::new(),
                        base: None,
                        span,
                        end_line: 0,
                    });
                }
            }
            return Ok(());
        }
        let mut ws = words(t);
        for w in &mut ws {
            w.col += indent - 1;
        }
        // Counters saved with -c: `[packets:bytes] -A ...`.
        if ws.first().is_some_and(|w| w.text.starts_with('[')) {
            ws.remove(0);
        }
        let Some(command) = ws.first() else {
            return Ok(());
        };
        match command.text.as_str() {
            "-A" | "--append" | "-I" | "--insert" => self.rule(n, t, &ws),
            "-N" | "--new-chain" => {
                let Some(name) = ws.get(1) else {
                    return self.bad(n, command.col, t, "-N CHAIN");
                };
                let table = self.table_name();
                let name = name.text.clone();
                if self.chain_mut(&name).is_none() {
                    self.rules.chains.push(Chain {
                        key: chain_key(&table, &name),
                        name,
                        table,
                        rules: Vec::new(),
                        base: None,
                        span: self.span(n, command.col),
                        end_line: 0,
                    });
                }
                Ok(())
            }
            other => {
                let col = command.col;
                self.bad(
                    n,
                    col,
                    other,
                    "a rule (-A CHAIN ...), a chain (:CHAIN POLICY), COMMIT or a *table line",
                )
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn rule(&mut self, n: usize, line: &str, ws: &[Word]) -> Result<()> {
        let insert = matches!(ws[0].text.as_str(), "-I" | "--insert");
        let Some(chain_word) = ws.get(1) else {
            return self.bad(n, ws[0].col, line, "a chain name after -A");
        };
        let chain_name = chain_word.text.clone();
        if self.chain_mut(&chain_name).is_none() {
            return self.bad(
                n,
                chain_word.col,
                &chain_name,
                "a chain declared above (:NAME - [0:0]) or built into this table",
            );
        }
        let mut i = 2;
        let mut position = None;
        if insert {
            if let Some(p) = ws.get(2).and_then(|w| w.text.parse::<usize>().ok()) {
                position = Some(p);
                i = 3;
            }
        }
        let mut conds = Vec::new();
        let mut negate = false;
        let mut modules: Vec<String> = Vec::new();
        let mut proto: Option<u8> = None;
        let mut target: Option<String> = None;
        let mut goto = false;
        let mut target_opts: Vec<(String, Vec<String>)> = Vec::new();
        while i < ws.len() {
            let w = &ws[i];
            let word = w.text.as_str();
            let arg = |k: usize| ws.get(i + k).map(|w| w.text.clone());
            if word == "!" && !w.quoted {
                negate = true;
                i += 1;
                continue;
            }
            if target.is_some() {
                let t = target.clone().unwrap_or_default();
                let known_target = TARGET_OPTIONS.iter().any(|(name, _)| *name == t);
                match arity(TARGET_OPTIONS, &t, word) {
                    Some(k) => {
                        let args: Vec<String> = (1..=usize::from(k)).filter_map(arg).collect();
                        if args.len() < usize::from(k) {
                            return self.bad_rule(
                                &chain_name,
                                n,
                                w.col,
                                word,
                                format!("{k} value(s) after {word}"),
                            );
                        }
                        target_opts.push((word.to_owned(), args));
                        i += 1 + usize::from(k);
                        continue;
                    }
                    None if !known_target => {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            word,
                            format!("nothing after the jump to user chain {t}"),
                        );
                    }
                    None => {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            word,
                            format!("an option of the {t} target"),
                        );
                    }
                }
            }
            let neg = std::mem::take(&mut negate);
            match word {
                "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                    let Some(value) = arg(1) else {
                        return self.bad_rule(&chain_name, n, w.col, word, "an address after it");
                    };
                    let mut set = IpSet::new();
                    for part in value.split(',') {
                        let padded = abbreviated_v4(part);
                        match parse_space(padded.as_deref().unwrap_or(part)) {
                            Ok(s) => set = set.union(&s),
                            Err(e) => return self.bad_rule(&chain_name, n, ws[i + 1].col, part, e),
                        }
                    }
                    if (self.ipv6 && !set.v4.is_empty()) || (!self.ipv6 && !set.v6.is_empty()) {
                        return self.bad(
                            n,
                            ws[i + 1].col,
                            &value,
                            if self.ipv6 {
                                "an IPv6 address (this is an ip6tables-save file)"
                            } else {
                                "an IPv4 address (this is an iptables-save file; IPv6 goes in ip6tables-save)"
                            },
                        );
                    }
                    let end = if word.starts_with("-s") || word.starts_with("--s") {
                        End::Source
                    } else {
                        End::Destination
                    };
                    conds.push(Cond::Addr {
                        end,
                        set,
                        negate: neg,
                    });
                    i += 2;
                }
                "-p" | "--protocol" => {
                    let Some(value) = arg(1) else {
                        return self.bad_rule(&chain_name, n, w.col, word, "a protocol after it");
                    };
                    let Some(p) = proto_number(&value) else {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            ws[i + 1].col,
                            &value,
                            "a protocol: tcp, udp, icmp, all or a number",
                        );
                    };
                    match p {
                        Some(p) => {
                            proto = if neg { None } else { Some(p) };
                            conds.push(Cond::Proto {
                                protos: vec![p],
                                negate: neg,
                            });
                            if !neg && (p == TCP || p == UDP) {
                                modules.push(if p == TCP { "tcp" } else { "udp" }.to_owned());
                            }
                            if !neg && p == 1 {
                                modules.push("icmp".to_owned());
                            }
                            if !neg && p == 58 {
                                modules.push("icmp6".to_owned());
                            }
                        }
                        None => {
                            if neg {
                                conds.push(Cond::Const(false));
                            }
                        }
                    }
                    i += 2;
                }
                "-i" | "--in-interface" | "-o" | "--out-interface" => {
                    let Some(value) = arg(1) else {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            word,
                            "an interface name after it",
                        );
                    };
                    let side = if word.starts_with("-i") || word.starts_with("--in") {
                        IfaceSide::In
                    } else {
                        IfaceSide::Out
                    };
                    conds.push(Cond::Iface {
                        side,
                        names: vec![value],
                        negate: neg,
                    });
                    i += 2;
                }
                "-f" | "--fragment" => {
                    // Only second and later fragments match: never a connection's first packet.
                    conds.push(Cond::Const(neg));
                    i += 1;
                }
                "-m" | "--match" => {
                    let Some(value) = arg(1) else {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            word,
                            "a match module after it",
                        );
                    };
                    if !MATCH_OPTIONS.iter().any(|(m, _)| *m == value) {
                        return self.bad_rule(&chain_name, n, ws[i + 1].col, &value, "a match module iptables knows (tcp, udp, multiport, conntrack, state, comment, ...)");
                    }
                    modules.push(value);
                    i += 2;
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    let Some(value) = arg(1) else {
                        return self.bad_rule(&chain_name, n, w.col, word, "a target after it");
                    };
                    goto = word == "-g" || word == "--goto";
                    let builtin_target = TARGET_OPTIONS.iter().any(|(t, _)| *t == value);
                    if !builtin_target && self.chain_mut(&value).is_none() {
                        return self.bad_rule(&chain_name, n, ws[i + 1].col, &value, "a target (ACCEPT, DROP, REJECT, RETURN, LOG, ...) or a chain declared in this table");
                    }
                    target = Some(value);
                    i += 2;
                }
                "-c" | "--set-counters" => i += 3,
                option if option.starts_with('-') => {
                    // An option of a loaded match module (the latest that knows it).
                    let Some(module) = modules
                        .iter()
                        .rev()
                        .find(|m| arity(MATCH_OPTIONS, m, option).is_some())
                        .cloned()
                    else {
                        let loaded = if modules.is_empty() {
                            "no match module is loaded (-m NAME)".to_owned()
                        } else {
                            format!("loaded: {}", modules.join(", "))
                        };
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            option,
                            format!("an option iptables knows here ({loaded})"),
                        );
                    };
                    let k = usize::from(arity(MATCH_OPTIONS, &module, option).unwrap_or(0));
                    let args: Vec<String> = (1..=k).filter_map(arg).collect();
                    if args.len() < k {
                        return self.bad_rule(
                            &chain_name,
                            n,
                            w.col,
                            option,
                            format!("{k} value(s) after {option}"),
                        );
                    }
                    let cond = match self.match_cond(&module, option, &args, neg, proto) {
                        Ok(c) => c,
                        Err(expected) => {
                            let col = ws.get(i + 1).map_or(w.col, |w| w.col);
                            return self.bad_rule(&chain_name, n, col, &args.join(" "), expected);
                        }
                    };
                    if let Some(c) = cond {
                        conds.push(c);
                    }
                    i += 1 + k;
                }
                other => {
                    return self.bad_rule(
                        &chain_name,
                        n,
                        w.col,
                        other,
                        "an option (-s, -d, -p, -m, -j, ...)",
                    );
                }
            }
        }
        let verdict = match target.as_deref() {
            None => Verdict::Continue,
            Some("ACCEPT") => Verdict::Accept,
            Some("DROP") => Verdict::Drop,
            Some("REJECT") => Verdict::Reject,
            Some("RETURN") => Verdict::Return,
            Some("NOTRACK") => Verdict::Notrack,
            Some("CT") if target_opts.iter().any(|(o, _)| o == "--notrack") => Verdict::Notrack,
            Some("MASQUERADE" | "SNAT") => Verdict::Accept,
            Some(t @ ("DNAT" | "REDIRECT" | "NETMAP" | "TPROXY")) => Verdict::Unknown(format!(
                "where the packet goes after {t} at {}:{n} rewrites its destination",
                self.path.display()
            )),
            Some(t @ ("NFQUEUE" | "QUEUE")) => Verdict::Unknown(format!(
                "the program reading the {t} queue at {}:{n}, which decides the packet's fate",
                self.path.display()
            )),
            Some("SYNPROXY") => Verdict::Unknown("the SYNPROXY target".to_owned()),
            Some(t) if TARGET_OPTIONS.iter().any(|(name, _)| *name == t) => Verdict::Continue,
            Some(chain) if goto => Verdict::Goto(chain.to_owned()),
            Some(chain) => Verdict::Jump(chain.to_owned()),
        };
        let rule = Rule {
            span: self.span(n, ws[0].col),
            text: line.trim().to_owned(),
            conds,
            verdict,
        };
        let chain = self.chain_mut(&chain_name).expect("checked above");
        match position {
            Some(p) if p >= 1 && p <= chain.rules.len() + 1 => chain.rules.insert(p - 1, rule),
            _ if insert => chain.rules.insert(0, rule),
            _ => chain.rules.push(rule),
        }
        Ok(())
    }

    /// The condition a match option sets, `None` when it constrains nothing the audit asks
    /// about (a comment), or what was expected when its value does not read.
    fn match_cond(
        &self,
        module: &str,
        option: &str,
        args: &[String],
        negate: bool,
        proto: Option<u8>,
    ) -> std::result::Result<Option<Cond>, String> {
        let a0 = args.first().map_or("", String::as_str);
        let unknown = |what: &str| {
            Ok(Some(Cond::Unknown(format!(
                "{what} (-m {module} {option}{}{})",
                if args.is_empty() { "" } else { " " },
                args.join(" ")
            ))))
        };
        match (module, option) {
            ("comment", _) => Ok(None),
            (
                "tcp" | "udp" | "sctp",
                "--dport" | "--destination-port" | "--sport" | "--source-port",
            ) => {
                let ranges = port_range(a0)
                    .map(|r| vec![r])
                    .ok_or("a port or range (1024:65535)")?;
                let end =
                    if option.contains('d') && !option.contains("source") && option != "--sport" {
                        End::Destination
                    } else {
                        End::Source
                    };
                Ok(Some(Cond::Port {
                    end,
                    ranges,
                    negate,
                }))
            }
            ("multiport", _) => {
                let ranges = port_list(a0).ok_or("a comma-separated list of ports or ranges")?;
                match option {
                    "--dports" | "--destination-ports" => Ok(Some(Cond::Port {
                        end: End::Destination,
                        ranges,
                        negate,
                    })),
                    "--sports" | "--source-ports" => Ok(Some(Cond::Port {
                        end: End::Source,
                        ranges,
                        negate,
                    })),
                    _ => unknown("which of the two ports --ports matches"),
                }
            }
            ("tcp", "--syn") => Ok(Some(Cond::Syn {
                matches_syn: !negate,
            })),
            ("tcp", "--tcp-flags") => {
                let flags = |s: &str| -> std::result::Result<Vec<String>, String> {
                    s.split(',')
                        .map(|f| {
                            let f = f.to_ascii_uppercase();
                            if [
                                "SYN", "ACK", "FIN", "RST", "URG", "PSH", "ALL", "NONE", "ECE",
                                "CWR",
                            ]
                            .contains(&f.as_str())
                            {
                                Ok(f)
                            } else {
                                Err("TCP flags: SYN,ACK,FIN,RST,URG,PSH,ALL,NONE".to_owned())
                            }
                        })
                        .collect()
                };
                let mask = flags(a0)?;
                let comp = flags(args.get(1).map_or("", String::as_str))?;
                let has = |set: &[String], f: &str| set.iter().any(|x| x == f || x == "ALL");
                // A SYN: of the flags in the mask, exactly SYN is set.
                let syn_matches = ["SYN", "ACK", "FIN", "RST", "URG", "PSH", "ECE", "CWR"]
                    .iter()
                    .filter(|f| has(&mask, f))
                    .all(|f| has(&comp, f) == (*f == "SYN"));
                Ok(Some(Cond::Syn {
                    matches_syn: syn_matches != negate,
                }))
            }
            ("tcp", "--tcp-option") => unknown("the TCP options of the SYN"),
            ("conntrack", "--ctstate") | ("state", "--state") => {
                let states: Vec<String> = a0.split(',').map(str::to_ascii_lowercase).collect();
                if states.iter().any(|s| {
                    ![
                        "new",
                        "established",
                        "related",
                        "invalid",
                        "untracked",
                        "snat",
                        "dnat",
                    ]
                    .contains(&s.as_str())
                }) {
                    return Err(
                        "states: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED, SNAT, DNAT"
                            .to_owned(),
                    );
                }
                // SNAT and DNAT are statuses of a connection, not of its first packet here.
                Ok(Some(Cond::CtState { states, negate }))
            }
            ("conntrack", "--ctproto") => match proto_number(a0) {
                Some(Some(p)) => Ok(Some(Cond::Proto {
                    protos: vec![p],
                    negate,
                })),
                Some(None) => Ok(None),
                None => Err("a protocol".to_owned()),
            },
            ("conntrack", "--ctdir") => Ok(Some(Cond::Const(
                a0.eq_ignore_ascii_case("ORIGINAL") != negate,
            ))),
            ("conntrack", _) => unknown("the connection's tracked addresses or status"),
            ("icmp", _) | ("icmp6", _) => {
                // An ICMP type never matches a TCP or UDP packet.
                let icmp = proto.is_some_and(|p| p == 1 || p == 58);
                if icmp {
                    Ok(Some(Cond::Const(false)))
                } else {
                    Ok(Some(Cond::Proto {
                        protos: vec![1, 58],
                        negate: false,
                    }))
                }
            }
            ("iprange", _) => {
                let set = parse_space(a0).map_err(|e| e.to_string())?;
                let end = if option == "--src-range" {
                    End::Source
                } else {
                    End::Destination
                };
                Ok(Some(Cond::Addr { end, set, negate }))
            }
            ("addrtype", "--src-type" | "--dst-type") => {
                let types: Vec<String> = a0.split(',').map(str::to_ascii_uppercase).collect();
                // Connect's addresses and the agents' are unicast; whether one is LOCAL depends
                // on the machine the rules run on.
                if types.iter().any(|t| t == "LOCAL") {
                    return Ok(Some(Cond::Unknown(format!(
                        "whether the address is local to the machine (-m addrtype {option} {a0})"
                    ))));
                }
                let hit = types.iter().any(|t| t == "UNICAST");
                Ok(Some(Cond::Const(hit != negate)))
            }
            ("addrtype", _) => Ok(None),
            ("pkttype", _) => Ok(Some(Cond::Const(
                a0.eq_ignore_ascii_case("unicast") != negate,
            ))),
            ("limit", _) | ("hashlimit", _) => unknown("the packet rate"),
            ("recent", _) => unknown("what the recent list holds"),
            ("set", _) => unknown(&format!(
                "the ipset {a0}, whose members the file does not show"
            )),
            ("mark", _) | ("connmark", _) => {
                unknown("the packet mark, set outside what this rule shows")
            }
            ("owner", _) => unknown("which local user or process sends the packet"),
            ("length", _) => unknown("the packet length"),
            ("ttl", _) | ("hl", _) => unknown("the packet's TTL"),
            ("mac", _) => unknown("the sender's MAC address"),
            ("connlimit", _) => unknown("how many connections are open"),
            ("physdev", _) => unknown("the bridge port"),
            ("time", _) => unknown("the time of day"),
            ("statistic", _) => unknown("a random or every-nth sample"),
            ("dscp", _) | ("tos", _) | ("ecn", _) => unknown("the packet's DSCP/TOS bits"),
            ("policy", _) => unknown("the IPsec policy"),
            ("string", _) | ("u32", _) | ("bpf", _) => unknown("the packet's contents"),
            ("geoip", _) => unknown("the country of the address"),
            ("frag", _) | ("ipv6header", _) | ("rt", _) | ("hbh", _) | ("dst", _) => {
                unknown("IPv6 extension headers")
            }
            _ => unknown("a match the audit does not evaluate"),
        }
    }
}

/// iptables reads `172.16.0/24` as `172.16.0.0/24`: missing octets are zeros.
fn abbreviated_v4(text: &str) -> Option<String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() >= 4
        || octets.len() < 2
        || !octets
            .iter()
            .all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut full = octets.join(".");
    for _ in octets.len()..4 {
        full.push_str(".0");
    }
    Some(match len {
        Some(l) => format!("{full}/{l}"),
        None => full,
    })
}

/// Reads an iptables-save (`ipv6` false) or ip6tables-save (`ipv6` true) file.
pub(crate) fn parse(text: &str, path: &Path, issues: &mut Issues) -> Result<Ruleset> {
    let ipv6 = detect_ipv6(text);
    let mut reader = Reader {
        path: Arc::from(path),
        issues,
        rules: Ruleset {
            v4: !ipv6,
            v6: ipv6,
            ..Ruleset::default()
        },
        ipv6,
        table: None,
    };
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        last = i + 1;
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        reader.line(i + 1, line)?;
    }
    if let Some((table, line)) = reader.table.take() {
        let span = reader.span(line, 1);
        reader.issues.push(Issue::malformed(
            span,
            &format!("*{table}"),
            format!("a COMMIT line closing the table before the end of the file (line {last})"),
        ))?;
    }
    Ok(reader.rules)
}

/// ip6tables-save says so in its header; a hand-written file says it by its addresses.
pub(crate) fn detect_ipv6(text: &str) -> bool {
    if text.contains("ip6tables-save") {
        return true;
    }
    if text.contains("# Generated by iptables-save") {
        return false;
    }
    text.lines().any(|l| {
        let ws = words(l);
        ws.windows(2).any(|w| {
            matches!(
                w[0].text.as_str(),
                "-d" | "-s" | "--source" | "--destination"
            ) && w[1].text.contains(':')
        }) || l.contains("icmpv6")
            || l.contains("ipv6-icmp")
    })
}
