//! The firewall audit against the kernel: every ruleset of a corpus (real files people
//! published, in `tests/data/real/firewall/`, and rulesets generated at random) is loaded into a
//! namespace's netfilter where it is meant to run (the agent's own output, or the edge's
//! forward), real UDP 3478 and TCP 443 packets go from the agent to sampled addresses of every
//! required prefix (first, last, random), routed into the AWS-side namespace, which records what
//! arrives; then each address's fate is compared with what `audit` claims for it. Every
//! disagreement fails the scenario; undetermined claims are counted, never compared.
//!
//! The required AWS prefixes are routed inside the lab's namespaces only: the agent's and the
//! edge's default routes lead to the AWS-side namespace, which is joined to nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::net::{self, AGENT_V4, AGENT_V6, AWS_LINK_V4, AWS_LINK_V6, Netns, Topology};
use crate::scenarios::Scenario;

pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "firewall_real_rulesets_agree_with_the_kernel",
        run: real_rulesets,
    },
    Scenario {
        name: "firewall_generated_rulesets_agree_with_the_kernel",
        run: generated_rulesets,
    },
    Scenario {
        name: "firewall_fixes_load_and_pass_in_the_kernel",
        run: fixes_load_and_pass,
    },
];

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real/firewall")
}

/// Which tool loads a file, from its name and contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loader {
    Iptables,
    Ip6tables,
    Nft,
}

fn loader_of(path: &Path, text: &str) -> Loader {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if name.contains("nft") {
        Loader::Nft
    } else if name.ends_with(".v6") || text.contains("ip6tables-save") {
        Loader::Ip6tables
    } else {
        Loader::Iptables
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Output,
    Forward,
}

impl Place {
    const fn hook(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Forward => "forward",
        }
    }
}

/// One probe: a protocol, an address and a port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    proto: &'static str,
    addr: IpAddr,
    port: u16,
}

/// The required space per port, from the binary's own catalog (`endpoints --format cidrs`).
fn required() -> Vec<(ipnet::IpNet, &'static str, u16)> {
    let out = Command::new(env!("CARGO_BIN_EXE_connect-preflight"))
        .args(["endpoints", "--region", "eu-central-1", "--format", "cidrs"])
        .env("HOME", std::env::temp_dir())
        .stderr(Stdio::null())
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut list = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(net), Some(port)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(net) = net.parse::<ipnet::IpNet>() else {
            continue;
        };
        let (proto, port) = match port {
            "udp/3478" => ("udp", 3478),
            "tcp/443" => ("tcp", 443),
            _ => continue,
        };
        list.push((net, proto, port));
    }
    assert!(
        list.len() > 100,
        "the catalog lists the required space: {text}"
    );
    list
}

/// A small deterministic generator (xorshift), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// First, last and a random address of every prefix, of the families asked for.
fn samples(
    required: &[(ipnet::IpNet, &'static str, u16)],
    v4: bool,
    v6: bool,
    rng: &mut Rng,
) -> Vec<Probe> {
    let mut out = BTreeSet::new();
    for (net, proto, port) in required {
        match net {
            ipnet::IpNet::V4(n) if v4 => {
                let first = u32::from(n.network());
                let last = u32::from(n.broadcast());
                let random =
                    first + u32::try_from(rng.below(u64::from(last - first) + 1)).unwrap_or(0);
                for a in [first, last, random] {
                    out.insert(Probe {
                        proto,
                        addr: IpAddr::V4(a.into()),
                        port: *port,
                    });
                }
            }
            ipnet::IpNet::V6(n) if v6 => {
                let first = u128::from(n.network());
                let last = u128::from(n.broadcast());
                let span = last - first;
                let random =
                    first + (u128::from(rng.next()) | (u128::from(rng.next()) << 64)) % span.max(1);
                for a in [first, last, random] {
                    out.insert(Probe {
                        proto,
                        addr: IpAddr::V6(a.into()),
                        port: *port,
                    });
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

/// The lab helper that sends the probes listed in a file: `send-probes FILE`.
pub(crate) fn send_probes(args: &[String]) -> ExitCode {
    let Some(list) = args.first().and_then(|p| std::fs::read_to_string(p).ok()) else {
        eprintln!("usage: send-probes FILE");
        return ExitCode::from(64);
    };
    let udp4 = UdpSocket::bind("0.0.0.0:0").ok();
    let udp6 = UdpSocket::bind("[::]:0").ok();
    for line in list.lines().take(100_000) {
        let mut w = line.split_whitespace();
        let (Some(proto), Some(addr), Some(port)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let (Ok(addr), Ok(port)) = (addr.parse::<IpAddr>(), port.parse::<u16>()) else {
            continue;
        };
        let to = SocketAddr::new(addr, port);
        if proto == "udp" {
            // A fresh source port per probe: each is the first packet of its own flow.
            let socket = if addr.is_ipv4() {
                UdpSocket::bind("0.0.0.0:0")
                    .ok()
                    .or_else(|| udp4.as_ref().and_then(|s| s.try_clone().ok()))
            } else {
                UdpSocket::bind("[::]:0")
                    .ok()
                    .or_else(|| udp6.as_ref().and_then(|s| s.try_clone().ok()))
            };
            if let Some(s) = socket {
                let _ = s.send_to(b"connect-preflight lab probe", to);
            }
        } else {
            // The SYN leaves when the connection starts; nothing waits for an answer.
            let _ = TcpStream::connect_timeout(&to, Duration::from_millis(2));
        }
    }
    ExitCode::SUCCESS
}

/// The far side: records every (address, protocol, port) that arrives.
fn recorder(aws: &Netns) {
    let text = "table inet labseen {\n\
        set v4 { type ipv4_addr . inet_proto . inet_service; size 262144; flags dynamic; }\n\
        set v6 { type ipv6_addr . inet_proto . inet_service; size 262144; flags dynamic; }\n\
        chain pre { type filter hook prerouting priority -400; policy accept;\n\
          meta l4proto { tcp, udp } th dport { 443, 3478 } ip version 4 add @v4 { ip daddr . meta l4proto . th dport }\n\
          meta l4proto { tcp, udp } th dport { 443, 3478 } meta nfproto ipv6 add @v6 { ip6 daddr . meta l4proto . th dport }\n\
        }\n}\n";
    load(aws, "nft", &["-f", "-"], text).expect("the recorder loads");
}

fn arrived(aws: &Netns) -> BTreeSet<Probe> {
    let mut out = BTreeSet::new();
    for set in ["v4", "v6"] {
        let json = aws.exec("nft", &["-j", "list", "set", "inet", "labseen", set]);
        let v: Value = serde_json::from_str(&json).expect("nft -j prints JSON");
        let elems = v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["set"]["elem"].as_array())
            .flatten();
        for e in elems {
            let concat = e["concat"]
                .as_array()
                .or_else(|| e["elem"]["val"]["concat"].as_array());
            let Some(c) = concat else { continue };
            let addr = c
                .first()
                .and_then(Value::as_str)
                .and_then(|a| a.parse::<IpAddr>().ok());
            let proto = match c.get(1).and_then(Value::as_str) {
                Some("tcp") => "tcp",
                Some("udp") => "udp",
                _ => continue,
            };
            let port = c
                .get(2)
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok());
            if let (Some(addr), Some(port)) = (addr, port) {
                out.insert(Probe { proto, addr, port });
            }
        }
    }
    out
}

/// Runs `program args` in `ns` with `input` on stdin.
fn load(ns: &Netns, program: &str, args: &[&str], input: &str) -> Result<(), String> {
    let mut child = ns
        .command(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// A fresh topology with the AWS side reachable for every address.
fn world() -> Topology {
    let t = Topology::new();
    t.edge.ip(&["route", "add", "default", "via", AWS_LINK_V4]);
    t.edge
        .ip(&["-6", "route", "add", "default", "via", AWS_LINK_V6]);
    // Neighbours fixed in advance: a ruleset that drops ICMPv6 must not stop neighbour
    // discovery, which the audit does not model.
    for (ns, dev, peer_ns, peer_dev, v4, v6) in [
        (
            &t.agent,
            "a0",
            &t.edge,
            "e0",
            net::EDGE_INSIDE_V4,
            net::EDGE_INSIDE_V6,
        ),
        (&t.edge, "e1", &t.aws, "w0", AWS_LINK_V4, AWS_LINK_V6),
    ] {
        let mac = peer_ns.exec("cat", &[&format!("/sys/class/net/{peer_dev}/address")]);
        let mac = mac.trim();
        ns.ip(&[
            "neigh",
            "replace",
            v4,
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
        ns.ip(&[
            "-6",
            "neigh",
            "replace",
            v6,
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }
    recorder(&t.aws);
    t
}

/// Interfaces (unconnected veth ends) an nft file names with `iif`/`oif` (nft resolves those when loading).
fn dummies_for(ns: &Netns, text: &str) {
    let mut names = BTreeSet::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for w in words.windows(2) {
        if matches!(w[0], "iif" | "oif" | "meta iif") {
            let n = w[1].trim_matches(|c| c == '"' || c == ';' || c == '{' || c == '}');
            if !n.is_empty()
                && n != "lo"
                && n.len() < 15
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                && !n.starts_with('$')
            {
                names.insert(n.to_owned());
            }
        }
    }
    for n in names {
        let _ = Command::new("ip")
            .args([
                "-n",
                &ns.name,
                "link",
                "add",
                &n,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{n}-peer"),
            ])
            .stderr(Stdio::null())
            .status();
    }
}

/// The audit's claim per address: blocked, undetermined, or allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    Allowed,
    Blocked,
    Undetermined,
}

fn audit(path: &Path, place: Place) -> (i32, Value) {
    audit_with(path, place, &[])
}

/// The audit of `path` as the lab runs it (the agent's addresses and interfaces), with `extra`.
fn audit_with(path: &Path, place: Place, extra: &[&std::ffi::OsStr]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_connect-preflight"))
        .args([
            "audit",
            "--region",
            "eu-central-1",
            "--format",
            "json",
            "--hook",
            place.hook(),
        ])
        .arg("--cidrs")
        .arg(path)
        .args(["--from", &format!("{AGENT_V4}/32,{AGENT_V6}/128")])
        .args(match place {
            Place::Output => vec!["--out-interface", "a0"],
            Place::Forward => vec!["--in-interface", "e0", "--out-interface", "e1"],
        })
        .args(extra)
        .env("HOME", std::env::temp_dir())
        .stderr(Stdio::piped())
        .output()
        .expect("the binary runs");
    let code = out.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, report)
}

fn claims(report: &Value) -> BTreeMap<&'static str, Vec<(ipnet::IpNet, Claim)>> {
    let mut out: BTreeMap<&'static str, Vec<(ipnet::IpNet, Claim)>> = BTreeMap::new();
    for c in report["checks"].as_array().into_iter().flatten() {
        let id = c["id"].as_str().unwrap_or("");
        if !id.starts_with("allowlist/cidr/") {
            continue;
        }
        let proto = match c["proto"].as_str() {
            Some("udp") => "udp",
            Some("tcp") => "tcp",
            _ => continue,
        };
        let list = out.entry(proto).or_default();
        for (key, claim) in [
            ("missing", Claim::Blocked),
            ("undetermined", Claim::Undetermined),
            ("undetermined_family", Claim::Undetermined),
        ] {
            for v in c["evidence"][key].as_array().into_iter().flatten() {
                if let Some(n) = v.as_str().and_then(|s| s.parse().ok()) {
                    list.push((n, claim));
                }
            }
        }
        if c["status"] == "warn"
            && c["reason"] == "undetermined"
            && c["evidence"]["undetermined"].is_null()
        {
            list.push(("0.0.0.0/0".parse().expect("literal"), Claim::Undetermined));
            list.push(("::/0".parse().expect("literal"), Claim::Undetermined));
        }
    }
    out
}

fn claim_for(claims: &BTreeMap<&'static str, Vec<(ipnet::IpNet, Claim)>>, p: &Probe) -> Claim {
    let list = claims.get(p.proto).map(Vec::as_slice).unwrap_or_default();
    if list
        .iter()
        .any(|(n, c)| *c == Claim::Undetermined && n.contains(&p.addr))
    {
        return Claim::Undetermined;
    }
    if list
        .iter()
        .any(|(n, c)| *c == Claim::Blocked && n.contains(&p.addr))
    {
        return Claim::Blocked;
    }
    Claim::Allowed
}

/// Figures of one comparison.
#[derive(Default)]
struct Tally {
    agreed: usize,
    undetermined: usize,
    disagreements: Vec<String>,
    files: usize,
    skipped: Vec<String>,
}

/// Loads `path` where `place` says, probes, and compares with the audit.
fn compare(
    path: &Path,
    place: Place,
    required: &[(ipnet::IpNet, &'static str, u16)],
    rng: &mut Rng,
    tally: &mut Tally,
) {
    let text = std::fs::read_to_string(path).expect("readable");
    let loader = loader_of(path, &text);
    let w = world();
    let ns = match place {
        Place::Output => &w.agent,
        Place::Forward => &w.edge,
    };
    let loaded = match loader {
        Loader::Iptables => load(ns, "iptables-restore", &[], &text),
        Loader::Ip6tables => load(ns, "ip6tables-restore", &[], &text),
        Loader::Nft => {
            dummies_for(ns, &text);
            // Relative includes are read from the file's own folder, as the audit reads them.
            let dir = path.parent().unwrap_or(Path::new("."));
            load(
                ns,
                "nft",
                &["-I", &dir.to_string_lossy(), "-f", &path.to_string_lossy()],
                "",
            )
        }
    };
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let (code, report) = audit(path, place);
    if let Err(e) = loaded {
        let unresolved = report["checks"].as_array().into_iter().flatten().any(|c| {
            c["reason"] == "undetermined"
                && c["detail"].as_str().is_some_and(|d| d.contains("include"))
        });
        if unresolved {
            // An include that is not here: nft cannot load the file, the audit names it.
            tally.skipped.push(format!(
                "{name} ({}): an included file is missing; the audit says undetermined",
                place.hook()
            ));
            return;
        }
        // The kernel refuses the file: so must the audit (exit 65).
        if code == 65 {
            tally.agreed += 1;
            tally.skipped.push(format!(
                "{name}: refused by both ({})",
                e.lines().next().unwrap_or("")
            ));
        } else {
            tally.disagreements.push(format!(
                "{name} ({}): the kernel refuses it ({e}) but the audit read it (exit {code})",
                place.hook()
            ));
        }
        return;
    }
    if code == 65 {
        tally.disagreements.push(format!(
            "{name} ({}): the kernel loads it but the audit refused it",
            place.hook()
        ));
        return;
    }
    if report.is_null() {
        tally.disagreements.push(format!(
            "{name} ({}): the audit printed no report (exit {code})",
            place.hook()
        ));
        return;
    }
    tally.files += 1;
    let (v4, v6) = match loader {
        Loader::Iptables => (true, false),
        Loader::Ip6tables => (false, true),
        Loader::Nft => (true, true),
    };
    let probes = samples(required, v4, v6, rng);
    let list = std::env::temp_dir().join(format!("{}-probes.txt", w.agent.name));
    std::fs::write(
        &list,
        probes
            .iter()
            .map(|p| format!("{} {} {}\n", p.proto, p.addr, p.port))
            .collect::<String>(),
    )
    .expect("writing the probe list");
    let exe = std::env::current_exe().expect("the lab's own path");
    let status = w
        .agent
        .command(&exe.to_string_lossy())
        .arg("send-probes")
        .arg(&list)
        .stdout(Stdio::null())
        .status()
        .expect("the sender runs");
    let _ = std::fs::remove_file(&list);
    assert!(status.success(), "the sender failed");
    std::thread::sleep(Duration::from_millis(300));
    let seen = arrived(&w.aws);
    let claims = claims(&report);
    let before = (tally.agreed, tally.disagreements.len(), tally.undetermined);
    for p in &probes {
        let claim = claim_for(&claims, p);
        let got = seen.contains(p);
        match (claim, got) {
            (Claim::Undetermined, _) => tally.undetermined += 1,
            (Claim::Allowed, true) | (Claim::Blocked, false) => tally.agreed += 1,
            (claim, got) => tally.disagreements.push(format!(
                "{name} ({}): {} {}:{} claimed {claim:?}, the kernel {}",
                place.hook(),
                p.proto,
                p.addr,
                p.port,
                if got {
                    "delivered it"
                } else {
                    "did not deliver it"
                }
            )),
        }
    }
    println!(
        "firewall:   {name} at {}: {} probes, {} arrived; {} agree, {} disagree, {} undetermined",
        place.hook(),
        probes.len(),
        seen.len(),
        tally.agreed - before.0,
        tally.disagreements.len() - before.1,
        tally.undetermined - before.2
    );
}

fn report_tally(what: &str, tally: &Tally) {
    let decided = tally.agreed + tally.disagreements.len();
    println!(
        "firewall: {what}: {} rulesets, {} decided probes, {} agree ({:.1} %), {} undetermined",
        tally.files,
        decided,
        tally.agreed,
        if decided == 0 {
            100.0
        } else {
            100.0 * tally.agreed as f64 / decided as f64
        },
        tally.undetermined
    );
    for s in &tally.skipped {
        println!("firewall:   {s}");
    }
    assert!(
        tally.disagreements.is_empty(),
        "{} disagreements with the kernel:\n{}",
        tally.disagreements.len(),
        tally
            .disagreements
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn real_rulesets() {
    let required = required();
    let mut rng = Rng(0x5eed_f1e1_d00d_0001);
    let mut tally = Tally::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .expect("the corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus holds {} files", files.len());
    for path in &files {
        for place in [Place::Output, Place::Forward] {
            compare(path, place, &required, &mut rng, &mut tally);
        }
    }
    report_tally("real rulesets", &tally);
}

// ---------------------------------------------------------------------------------------------
// Generated rulesets

/// A random iptables-save ruleset over a few user chains, with jumps, gotos, returns, the
/// verdicts, negations, multiport, conntrack and address matches cut from the required space.
fn generate_iptables(rng: &mut Rng, required: &[(ipnet::IpNet, &'static str, u16)]) -> String {
    let nets: Vec<String> = (0..6)
        .map(|_| {
            let (n, _, _) =
                required[usize::try_from(rng.below(required.len() as u64)).unwrap_or(0)];
            match n {
                ipnet::IpNet::V4(n) => {
                    // A part of the prefix, or the prefix, or a wider one around it.
                    let len =
                        i64::from(n.prefix_len()) + i64::try_from(rng.below(5)).unwrap_or(0) - 2;
                    let len = u8::try_from(len.clamp(8, 32)).unwrap_or(24);
                    let base = u32::from(n.network())
                        + u32::try_from(rng.below(
                            u64::from(u32::from(n.broadcast()) - u32::from(n.network())) + 1,
                        ))
                        .unwrap_or(0);
                    ipnet::Ipv4Net::new(base.into(), len)
                        .map(|n| n.trunc().to_string())
                        .unwrap_or_default()
                }
                ipnet::IpNet::V6(_) => "10.0.0.0/8".to_owned(),
            }
        })
        .collect();
    let chains = ["c1", "c2", "c3"];
    let pick = |rng: &mut Rng, items: &[&str]| {
        items[usize::try_from(rng.below(items.len() as u64)).unwrap_or(0)].to_owned()
    };
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n");
    let policy = pick(rng, &["ACCEPT", "DROP"]);
    text.push_str(&format!(":OUTPUT {policy} [0:0]\n"));
    for c in chains {
        text.push_str(&format!(":{c} - [0:0]\n"));
    }
    for (ci, chain) in ["OUTPUT", "c1", "c2", "c3"].iter().enumerate() {
        let n = rng.below(6) + 1;
        for _ in 0..n {
            let mut rule = format!("-A {chain}");
            if rng.below(2) == 0 {
                let neg = if rng.below(4) == 0 { "! " } else { "" };
                let net = &nets[usize::try_from(rng.below(nets.len() as u64)).unwrap_or(0)];
                rule.push_str(&format!(" {neg}-d {net}"));
            }
            match rng.below(5) {
                0 => rule.push_str(" -p udp -m udp --dport 3478"),
                1 => rule.push_str(" -p tcp -m tcp --dport 443"),
                2 => rule.push_str(" -p tcp -m multiport --dports 80,443,8443"),
                3 => rule.push_str(" -p udp -m multiport ! --dports 53,123"),
                _ => {}
            }
            match rng.below(6) {
                0 => rule.push_str(" -m conntrack --ctstate ESTABLISHED,RELATED"),
                1 => rule.push_str(" -m conntrack --ctstate NEW"),
                2 => rule.push_str(" -m state ! --state INVALID"),
                3 => rule.push_str(&format!(" -s {AGENT_V4}/32")),
                4 => rule.push_str(" ! -s 198.51.100.0/24"),
                _ => {}
            }
            // Jumps only go to later chains: no loops.
            let later: Vec<&str> = chains.iter().skip(ci).copied().collect();
            let target = match rng.below(8) {
                0 | 1 => "ACCEPT".to_owned(),
                2 => "DROP".to_owned(),
                3 => "REJECT".to_owned(),
                4 if ci > 0 => "RETURN".to_owned(),
                5 => "LOG --log-prefix \"lab \"".to_owned(),
                6 if !later.is_empty() => format!(
                    "{} {}",
                    if rng.below(3) == 0 { "-g" } else { "-j" },
                    pick(rng, &later)
                )
                .replacen("-j -j", "-j", 1),
                _ => "ACCEPT".to_owned(),
            };
            if target.starts_with("-g ") || target.starts_with("-j ") {
                rule.push_str(&format!(" {target}"));
            } else {
                rule.push_str(&format!(" -j {target}"));
            }
            text.push_str(&rule);
            text.push('\n');
        }
    }
    text.push_str("COMMIT\n");
    text
}

/// A random nft ruleset: an inet table with sets, a verdict map, several base chains on
/// output at different priorities, and jumps.
fn generate_nft(rng: &mut Rng, required: &[(ipnet::IpNet, &'static str, u16)]) -> String {
    let mut nets4 = Vec::new();
    let mut nets6 = Vec::new();
    for _ in 0..8 {
        let (n, _, _) = required[usize::try_from(rng.below(required.len() as u64)).unwrap_or(0)];
        match n {
            ipnet::IpNet::V4(_) => nets4.push(n.to_string()),
            ipnet::IpNet::V6(_) => nets6.push(n.to_string()),
        }
    }
    if nets4.is_empty() {
        nets4.push("10.0.0.0/8".to_owned());
    }
    if nets6.is_empty() {
        nets6.push("fd00::/8".to_owned());
    }
    let pick = |rng: &mut Rng, items: &[&str]| {
        items[usize::try_from(rng.below(items.len() as u64)).unwrap_or(0)].to_owned()
    };
    let mut text = String::from("flush ruleset\n");
    text.push_str(&format!("define media = {{ {} }}\n", nets4.join(", ")));
    text.push_str("table inet gen {\n");
    text.push_str(&format!(
        "  set v6 {{ type ipv6_addr; flags interval; elements = {{ {} }} }}\n",
        nets6.join(", ")
    ));
    text.push_str("  set svc { type inet_proto . inet_service; elements = { udp . 3478, tcp . 443, tcp . 8443 } }\n");
    let chains = ["u1", "u2"];
    let bases = 1 + rng.below(2);
    for b in 0..bases {
        let policy = pick(rng, &["accept", "drop"]);
        text.push_str(&format!(
            "  chain out{b} {{\n    type filter hook output priority {}; policy {policy};\n",
            i64::try_from(b).unwrap_or(0) * 10 - 5
        ));
        text.push_str(&gen_nft_rules(rng, &chains, 0));
        text.push_str("  }\n");
    }
    for (i, c) in chains.iter().enumerate() {
        text.push_str(&format!("  chain {c} {{\n"));
        text.push_str(&gen_nft_rules(rng, &chains, i + 1));
        text.push_str("  }\n");
    }
    text.push_str("}\n");
    text
}

fn gen_nft_rules(rng: &mut Rng, chains: &[&str], from: usize) -> String {
    let mut out = String::new();
    for _ in 0..(1 + rng.below(5)) {
        let mut rule = String::from("    ");
        match rng.below(7) {
            0 => rule.push_str("ip daddr $media "),
            1 => rule.push_str("ip daddr != $media "),
            2 => rule.push_str("ip6 daddr @v6 "),
            3 => rule.push_str("meta l4proto . th dport @svc "),
            4 => rule.push_str("meta nfproto ipv4 "),
            _ => {}
        }
        match rng.below(6) {
            0 => rule.push_str("udp dport 3478 "),
            1 => rule.push_str("tcp dport { 80, 443 } "),
            2 => rule.push_str("th dport 1-1024 "),
            3 => rule.push_str("ct state established,related "),
            4 => rule.push_str("ct state new "),
            _ => {}
        }
        let later: Vec<&str> = chains.iter().skip(from).copied().collect();
        let verdict = match rng.below(8) {
            0 | 1 => "accept".to_owned(),
            2 => "drop".to_owned(),
            3 => "reject".to_owned(),
            4 if from > 0 => "return".to_owned(),
            5 if !later.is_empty() => format!(
                "jump {}",
                later[usize::try_from(rng.below(later.len() as u64)).unwrap_or(0)]
            ),
            6 if !later.is_empty() => format!(
                "goto {}",
                later[usize::try_from(rng.below(later.len() as u64)).unwrap_or(0)]
            ),
            7 => "meta l4proto vmap { udp : accept, tcp : drop }".to_owned(),
            _ => "counter".to_owned(),
        };
        rule.push_str(&verdict);
        out.push_str(&rule);
        out.push('\n');
    }
    out
}

/// Removes rules one at a time while the disagreement stays: the smallest failing ruleset.
fn shrink(text: &str, fails: &dyn Fn(&str) -> bool) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut i = 0;
    let mut budget = 60;
    while i < lines.len() && budget > 0 {
        let l = lines[i].trim_start();
        if !(l.starts_with("-A ")
            || (!l.contains('{')
                && !l.contains('}')
                && !l.starts_with("type")
                && !l.starts_with("define")
                && !l.starts_with("flush")
                && !l.is_empty()))
        {
            i += 1;
            continue;
        }
        let mut candidate = lines.clone();
        candidate.remove(i);
        budget -= 1;
        if fails(&candidate.join("\n")) {
            lines = candidate;
        } else {
            i += 1;
        }
    }
    lines.join("\n")
}

fn generated_rulesets() {
    let required = required();
    let seed = std::env::var("LAB_FIREWALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1ab_f1e1_u64);
    let cases: u64 = std::env::var("LAB_FIREWALL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut tally = Tally::default();
    let mut rng = Rng(seed);
    // Fewer prefixes per generated case: the rules are cut from a sample of them.
    let sample: Vec<(ipnet::IpNet, &'static str, u16)> =
        required.iter().step_by(7).cloned().collect();
    for case in 0..cases {
        let nft = case % 2 == 1;
        let text = if nft {
            generate_nft(&mut rng, &sample)
        } else {
            generate_iptables(&mut rng, &sample)
        };
        let path = dir.path().join(if nft {
            format!("gen{case}.nft")
        } else {
            format!("gen{case}.rules.v4")
        });
        std::fs::write(&path, &text).expect("writing the ruleset");
        let mut one = Tally::default();
        compare(
            &path,
            Place::Output,
            &sample,
            &mut Rng(seed ^ case),
            &mut one,
        );
        tally.agreed += one.agreed;
        tally.undetermined += one.undetermined;
        tally.files += one.files;
        if !one.disagreements.is_empty() {
            let fails = |t: &str| {
                std::fs::write(&path, t).is_ok() && {
                    let mut again = Tally::default();
                    compare(
                        &path,
                        Place::Output,
                        &sample,
                        &mut Rng(seed ^ case),
                        &mut again,
                    );
                    !again.disagreements.is_empty()
                }
            };
            let small = shrink(&text, &fails);
            tally.disagreements.push(format!(
                "case {case} (LAB_FIREWALL_SEED={seed}): {}\nsmallest failing ruleset:\n{small}",
                one.disagreements.first().cloned().unwrap_or_default()
            ));
        }
    }
    report_tally("generated rulesets", &tally);
}

// ---------------------------------------------------------------------------------------------
// Fixes

/// Every real file the audit fixes: the fixed file loads (iptables-restore --test, nft -c),
/// its audit passes, and in the kernel every sampled address then arrives.
fn fixes_load_and_pass() {
    let required = required();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut fixed_files = 0;
    let mut tally = Tally::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .expect("the corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in &files {
        for place in [Place::Output, Place::Forward] {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let fixed = dir.path().join(format!("{}-{name}", place.hook()));
            let (code, report) =
                audit_with(path, place, &["--fix-output".as_ref(), fixed.as_os_str()]);
            if code != 2 || !fixed.exists() {
                continue;
            }
            let had_blocks = report["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["status"] == "fail");
            if !had_blocks {
                continue;
            }
            fixed_files += 1;
            // The kernel's own syntax check.
            let text = std::fs::read_to_string(&fixed).expect("the fixed file");
            let probe_ns = Netns::new(format!("{}fix{fixed_files}", net::run_prefix()));
            let check = match loader_of(path, &text) {
                Loader::Iptables => load(&probe_ns, "iptables-restore", &["--test"], &text),
                Loader::Ip6tables => load(&probe_ns, "ip6tables-restore", &["--test"], &text),
                Loader::Nft => {
                    dummies_for(&probe_ns, &text);
                    let d = path.parent().unwrap_or(Path::new("."));
                    load(
                        &probe_ns,
                        "nft",
                        &[
                            "-I",
                            &d.to_string_lossy(),
                            "-c",
                            "-f",
                            &fixed.to_string_lossy(),
                        ],
                        "",
                    )
                }
            };
            drop(probe_ns);
            if let Err(e) = check {
                tally.disagreements.push(format!(
                    "{name} ({}): the fixed file does not load: {e}\n{text}",
                    place.hook()
                ));
                continue;
            }
            // The audit of the fixed file: no requirement blocked any more.
            let (_, again) = audit(&fixed, place);
            let still: Vec<String> = again["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["status"] == "fail")
                .map(|c| c["detail"].as_str().unwrap_or("").to_owned())
                .collect();
            if !still.is_empty() {
                tally.disagreements.push(format!(
                    "{name} ({}): the fixed file still fails: {}",
                    place.hook(),
                    still.join("; ")
                ));
                continue;
            }
            // And the kernel agrees with that audit.
            compare(&fixed, place, &required, &mut Rng(7), &mut tally);
        }
    }
    assert!(
        fixed_files >= 5,
        "only {fixed_files} real files needed a fix"
    );
    println!("firewall: {fixed_files} fixed files load, pass their audit, and pass in the kernel");
    report_tally("fixed files", &tally);
}
