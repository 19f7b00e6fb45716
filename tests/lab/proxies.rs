//! The squid half of the audit against squid itself: every squid configuration of the corpus is
//! started in real squid, inside a namespace with nothing but its loopback, and asked for a
//! `CONNECT host:443` of every required host from each agent address; what squid answers (403
//! `ERR_ACCESS_DENIED`, or anything else: let through) is compared with the audit's claim for that
//! requirement with `--from` that address. Every disagreement fails; undetermined claims are
//! counted and printed.
//!
//! A configuration is adapted only where it must be to run here: its listening ports, pid and log
//! files, cache directory, error pages and helper paths are replaced, the required hosts resolve
//! (through squid's `hosts_file`) to an address with no route, and the ACL files it names are
//! taken from the corpus. The audit reads the same adapted file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::net::{self, Netns};
use crate::scenarios::Scenario;
use crate::servers::{find_program, run_bounded};

pub(crate) const ALL: &[Scenario] = &[Scenario {
    name: "squid_differential",
    run: squid_differential,
}];

/// The agents' addresses the requests come from: a documentation address, and one in each
/// private range the corpus's `src` ACLs name (on the loopback of a namespace joined to nothing).
const AGENTS: &[&str] = &["192.0.2.10", "10.20.1.5", "172.16.5.6", "192.168.1.2"];

/// Where the required hosts resolve for squid: no route leads there, so a request squid lets
/// through fails at once with its own error, never 403.
const NOWHERE: &str = "203.0.113.99";

/// Directives replaced or dropped: what makes squid listen, write or start helpers elsewhere.
const DROPPED: &[&str] = &[
    "http_port",
    "https_port",
    "pid_filename",
    "cache_log",
    "access_log",
    "cache_store_log",
    "cache_dir",
    "coredump_dir",
    "cache_effective_user",
    "cache_effective_group",
    "error_directory",
    "deny_info",
    "url_rewrite_program",
    "url_rewrite_children",
    "url_rewrite_access",
    "workers",
    "dns_nameservers",
    "hosts_file",
    "logformat",
    "logfile_rotate",
    "debug_options",
    "sslcrtd_program",
    "cache_mem",
    "visible_hostname",
];

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/data/real/proxy"))
        .expect("the squid corpus")
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".conf"))
        .collect();
    files.sort();
    files.push(root.join("tests/data/allowlists/squid.conf"));
    files
}

/// The configuration adapted to run here, in `dir`.
fn adapt(original: &Path, dir: &Path, hosts: &[String]) -> PathBuf {
    let text = std::fs::read_to_string(original).expect("a corpus file");
    let stem = original
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .trim_end_matches(".squid.conf")
        .trim_end_matches(".conf")
        .to_owned();
    let corpus_dir = original.parent().expect("a folder");
    let d = dir.display();
    let mut out = String::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if DROPPED.contains(&first) {
            let _ = writeln!(out, "# (dropped to run in the lab) {line}");
            continue;
        }
        if first == "auth_param" && line.split_whitespace().nth(2) == Some("program") {
            // The helper's path differs between distributions: Debian's, with an empty file.
            let scheme = line.split_whitespace().nth(1).unwrap_or("basic");
            let _ = writeln!(
                out,
                "auth_param {scheme} program /usr/lib/squid/basic_ncsa_auth {d}/passwd"
            );
            continue;
        }
        // ACL files: the corpus copy (`STEM.NAME` beside the configuration), else as written.
        let mut adapted = line.to_owned();
        if first == "acl" {
            for word in line.split_whitespace() {
                if let Some(path) = word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
                    let base = Path::new(path)
                        .file_name()
                        .map(|b| b.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let candidate = corpus_dir.join(format!("{stem}.{base}"));
                    let local = corpus_dir.join(path);
                    let found = if candidate.is_file() {
                        Some(candidate)
                    } else if local.is_file() {
                        Some(local)
                    } else {
                        None
                    };
                    if let Some(found) = found {
                        let copy = dir.join(&base);
                        std::fs::copy(&found, &copy).expect("copying an ACL file");
                        adapted = adapted.replace(word, &format!("\"{}\"", copy.display()));
                    }
                }
            }
        }
        let _ = writeln!(out, "{adapted}");
    }
    let _ = write!(
        out,
        "\n# Added to run in the lab\nhttp_port 3128\nvisible_hostname lab-proxy\n\
         pid_filename {d}/squid.pid\ncache_log {d}/cache.log\naccess_log stdio:{d}/access.log\n\
         cache deny all\ncache_mem 4 MB\ncoredump_dir {d}\ncache_effective_user proxy\n\
         shutdown_lifetime 0 seconds\npinger_enable off\nlogfile_rotate 0\n\
         dns_nameservers 127.0.0.1\nhosts_file {d}/hosts\nconnect_timeout 2 seconds\n"
    );
    let mut hosts_file = String::new();
    for h in hosts {
        let _ = writeln!(hosts_file, "{NOWHERE} {h}");
    }
    std::fs::write(dir.join("hosts"), hosts_file).expect("a hosts file");
    std::fs::write(dir.join("passwd"), "").expect("a password file");
    let path = dir.join("squid.conf");
    std::fs::write(&path, out).expect("the adapted configuration");
    path
}

/// The audit's claims: per tested host (the one the request names), `pass`, `fail` or `warn`.
fn audit(conf: &Path, from: &str) -> BTreeMap<String, (String, String)> {
    audit_with(conf, from, &[])
}

fn audit_with(conf: &Path, from: &str, extra: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_connect-preflight"));
    cmd.args(extra);
    cmd.args([
        "audit",
        "--region",
        "eu-central-1",
        "--instance",
        "acme",
        "--domains-format",
        "squid",
        "--lenient",
        "--format",
        "json",
        "--from",
        from,
        "--domains",
    ])
    .arg(conf)
    .env_clear()
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(30));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("audit printed no JSON ({e}), exit {code}: {stdout}\n{stderr}"));
    let mut claims = BTreeMap::new();
    for check in report["checks"].as_array().expect("checks") {
        let id = check["id"].as_str().unwrap_or_default();
        if !id.starts_with("allowlist/domain/") || check["proto"] != "tcp" {
            continue;
        }
        let Some(host) = check["evidence"]["tested_host"].as_str() else {
            continue;
        };
        claims.insert(
            host.to_owned(),
            (
                check["status"].as_str().unwrap_or_default().to_owned(),
                check["detail"].as_str().unwrap_or_default().to_owned(),
            ),
        );
    }
    claims
}

const CLIENT: &str = r#"
import socket, sys, json
src, hosts = sys.argv[1], json.loads(sys.argv[2])
out = {}
for h in hosts:
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect((src, 3128))
    s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (h, h)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = head[0].split(" ")[1] if len(head[0].split(" ")) > 1 else "?"
    error = ""
    for l in head[1:]:
        if l.lower().startswith("x-squid-error:"):
            error = l.split(":", 1)[1].strip().split(" ")[0]
    out[h] = [status, error]
print(json.dumps(out))
"#;

/// squid's answers to CONNECT HOST:443 from `src`: (status, X-Squid-Error).
fn ask_squid(ns: &Netns, src: &str, hosts: &[String]) -> BTreeMap<String, (String, String)> {
    let list = serde_json::to_string(hosts).expect("json");
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.args(["-c", CLIENT, src, &list]).stdin(Stdio::null());
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(code, 0, "the CONNECT client failed: {stderr}");
    let answers: BTreeMap<String, (String, String)> =
        serde_json::from_str(&stdout).expect("the client's JSON");
    answers
}

fn squid_differential() {
    let squid = find_program("squid").expect("squid");
    let ns = Netns::new(format!("{}squid", net::run_prefix()));
    for agent in AGENTS {
        ns.ip(&["addr", "add", &format!("{agent}/32"), "dev", "lo"]);
    }
    let root = tempfile::Builder::new()
        .prefix("connect-preflight-squid-")
        .tempdir()
        .expect("a folder");
    if let Ok(mut dirs) = net::LAB_DIRS.lock() {
        dirs.push(root.path().to_owned());
    }
    // The hosts the audit tests: from a first audit of an empty configuration.
    let probe = root.path().join("probe.conf");
    std::fs::write(&probe, "http_access deny all\n").expect("a probe configuration");
    let hosts: Vec<String> = audit(&probe, AGENTS[0]).into_keys().collect();
    assert!(hosts.len() >= 5, "{hosts:?}");
    let mut compared = 0;
    let mut allowed = 0;
    let mut undetermined = 0;
    let mut excluded = Vec::new();
    let mut disagreements = Vec::new();
    let mut configs = 0;
    let mut summaries = Vec::new();
    let mut fixes_proven = 0;
    let generated_dir = root.path().join("generated");
    std::fs::create_dir_all(&generated_dir).expect("a folder");
    let mut files = corpus();
    let real = files.len();
    for seed in 1..=GENERATED {
        let path = generated_dir.join(format!("generated-{seed:02}.squid.conf"));
        std::fs::write(&path, generate(seed, &hosts)).expect("a generated configuration");
        files.push(path);
    }
    // Decided claims compared, and those allowed, for the published and the generated files.
    let mut figures = [[0usize; 2]; 2];
    for (n, original) in files.iter().enumerate() {
        let generated = n >= real;
        let name = original
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let dir = root.path().join(format!("c{n}"));
        std::fs::create_dir_all(&dir).expect("a folder");
        set_mode(root.path(), 0o755);
        set_mode(&dir, 0o777);
        let conf = adapt(original, &dir, &hosts);
        let parse = std::process::Command::new(&squid)
            .args(["-k", "parse", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .output()
            .expect("squid -k parse");
        if !parse.status.success() {
            let why = String::from_utf8_lossy(&parse.stderr);
            let fatal = why
                .lines()
                .find(|l| l.contains("FATAL") || l.contains("ERROR"))
                .unwrap_or("refused")
                .to_owned();
            excluded.push(format!("{name}: squid refuses the configuration: {fatal}"));
            continue;
        }
        let Some(mut child) = start_squid(&ns, &squid, &conf, &dir) else {
            let log = std::fs::read_to_string(dir.join("squid.out")).unwrap_or_default();
            excluded.push(format!(
                "{name}: squid did not start: {}",
                log.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
            ));
            continue;
        };
        configs += 1;
        let mut tally = [0usize; 3];
        let mut first_doubt = String::new();
        let mut to_fix: Option<&str> = None;
        for agent in AGENTS {
            let claims = audit(&conf, &format!("{agent}/32"));
            if to_fix.is_none() && claims.values().any(|(s, _)| s == "fail") {
                to_fix = Some(agent);
            }
            let answers = ask_squid(&ns, agent, &hosts);
            for (host, (status, detail)) in &claims {
                let Some((code, error)) = answers.get(host) else {
                    continue;
                };
                let denied = code == "403" && error == "ERR_ACCESS_DENIED";
                match status.as_str() {
                    "warn" => {
                        undetermined += 1;
                        tally[2] += 1;
                        if first_doubt.is_empty() {
                            first_doubt = detail
                                .split_once("depends on ")
                                .map_or(detail.as_str(), |(_, d)| d)
                                .to_owned();
                        }
                    }
                    "pass" | "fail" => {
                        tally[usize::from(status == "fail")] += 1;
                        compared += 1;
                        figures[usize::from(generated)][0] += 1;
                        if status == "pass" {
                            allowed += 1;
                            figures[usize::from(generated)][1] += 1;
                        }
                        let claim_denied = status == "fail";
                        if claim_denied != denied || (!denied && code == "407") {
                            let shown = if generated {
                                format!(
                                    "\n{}",
                                    std::fs::read_to_string(original).unwrap_or_default()
                                )
                            } else {
                                String::new()
                            };
                            disagreements.push(format!(
                                "{name} from {agent}, {host}: audit {status} ({detail}); squid {code} {error}{shown}"
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        // The fix, proven: the audit of the fixed file finds nothing denied, and squid lets
        // every request through that the audit says it now allows.
        if let Some(agent) = to_fix {
            let fixed = dir.join("fixed.conf");
            let from = format!("{agent}/32");
            let fixed_arg = fixed.display().to_string();
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_connect-preflight"));
            cmd.args([
                "audit",
                "--region",
                "eu-central-1",
                "--instance",
                "acme",
                "--domains-format",
                "squid",
                "--lenient",
                "--quiet",
                "--from",
                &from,
                "--fix-output",
                &fixed_arg,
                "--domains",
            ])
            .arg(&conf)
            .env_clear()
            .stdin(Stdio::null());
            let _ = run_bounded(cmd, Duration::from_secs(30));
            assert!(fixed.is_file(), "{name}: no fixed file written");
            let after = audit(&fixed, &from);
            let still: Vec<&String> = after
                .iter()
                .filter(|(_, (s, _))| s == "fail")
                .map(|(h, _)| h)
                .collect();
            assert!(
                still.is_empty(),
                "{name}: the fixed file still denies {still:?}"
            );
            match start_squid(&ns, &squid, &fixed, &dir) {
                Some(mut child) => {
                    let answers = ask_squid(&ns, agent, &hosts);
                    for (host, (status, _)) in &after {
                        if status == "pass" {
                            let (code, error) = &answers[host];
                            if code == "403" && error == "ERR_ACCESS_DENIED" {
                                disagreements.push(format!(
                                    "{name} fixed, from {agent}, {host}: audit pass; squid {code} {error}"
                                ));
                            }
                        }
                    }
                    fixes_proven += 1;
                    let _ = child.kill();
                    let _ = child.wait();
                }
                None => disagreements.push(format!("{name}: squid refuses the fixed file")),
            }
        }
        if generated {
            continue;
        }
        summaries.push(format!(
            "{name}: {} allowed, {} denied, {} undetermined{}",
            tally[0],
            tally[1],
            tally[2],
            if first_doubt.is_empty() {
                String::new()
            } else {
                format!(" (e.g. on {first_doubt})")
            }
        ));
    }
    println!(
        "squid differential: {configs} configurations run, {compared} decided claims compared ({allowed} allowed), {} disagreements, {undetermined} undetermined; {fixes_proven} fixed files accepted by squid and the audit",
        disagreements.len()
    );
    println!(
        "  published: {} decided claims ({} allowed); generated ({GENERATED} files): {} decided claims ({} allowed)",
        figures[0][0], figures[0][1], figures[1][0], figures[1][1]
    );
    for s in &summaries {
        println!("  {s}");
    }
    for e in &excluded {
        println!("  not run: {e}");
    }
    assert!(
        disagreements.is_empty(),
        "the audit and squid disagree:\n{}",
        disagreements.join("\n")
    );
    assert!(configs >= 5, "only {configs} configurations ran");
    assert!(allowed > 0 && compared > allowed, "{allowed} of {compared}");
}

/// How many configurations are generated beside the published ones.
const GENERATED: u64 = 40;

/// A small deterministic generator (xorshift), so that a failing configuration can be named by
/// its seed and made again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("small")
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A configuration of random ACLs (dstdomain, dstdom_regex, src, port, method, any-of) over the
/// required hosts and the agents' ranges, and random `http_access` lines over them and squid's
/// predefined ACLs, with negations.
fn generate(seed: u64, hosts: &[String]) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut domains: Vec<String> = Vec::new();
    for h in hosts {
        domains.push(h.clone());
        if let Some((_, parent)) = h.split_once('.') {
            domains.push(format!(".{parent}"));
        }
    }
    for extra in [
        ".amazonaws.com",
        ".aws",
        ".cloudfront.net",
        ".connect.aws",
        ".example.org",
    ] {
        domains.push(extra.to_owned());
    }
    let sources = [
        "10.20.0.0/16",
        "10.0.0.0/8",
        "192.0.2.0/24",
        "172.16.0.0/12",
        "192.168.1.2",
        "all",
        "198.51.100.0/24",
        "10.20.1.0-10.20.1.9",
        "192.168.0.0/255.255.0.0",
    ];
    let ports = ["443", "80", "1-1024", "8443", "1025-65535", "443 8443"];
    let regexes = [
        "\\.amazonaws\\.com$",
        "^acme\\.",
        "connect",
        "-i CONNECT",
        "CONNECT",
        "cloudfront",
        "^[a-z0-9-]+\\.my\\.connect\\.aws$",
    ];
    let mut out = String::from("# generated\n");
    let mut names: Vec<String> = vec![
        "all".into(),
        "CONNECT".into(),
        "localhost".into(),
        "to_localhost".into(),
        "manager".into(),
    ];
    for i in 0..(2 + rng.below(5)) {
        let name = format!("a{i}");
        let line = match rng.below(6) {
            0 | 1 => {
                // squid refuses an ACL holding a name and a suffix above it: none generated.
                let n = 1 + rng.below(4);
                let mut values: Vec<String> = Vec::new();
                for _ in 0..n {
                    let v = domains[rng.below(domains.len())].clone();
                    let nested =
                        |a: &str, b: &str| b.starts_with('.') && (a.ends_with(b) || a == &b[1..]);
                    if !values
                        .iter()
                        .any(|w| w == &v || nested(&v, w) || nested(w, &v))
                    {
                        values.push(v);
                    }
                }
                format!("acl {name} dstdomain {}", values.join(" "))
            }
            2 => format!("acl {name} dstdom_regex {}", rng.pick(&regexes)),
            3 => format!(
                "acl {name} src {} {}",
                rng.pick(&sources),
                rng.pick(&sources)
            ),
            4 => format!("acl {name} port {}", rng.pick(&ports)),
            _ => {
                if names.len() > 6 && rng.below(2) == 0 {
                    let a = names[5 + rng.below(names.len() - 5)].clone();
                    let b = names[5 + rng.below(names.len() - 5)].clone();
                    format!("acl {name} any-of {a} {b}")
                } else {
                    format!(
                        "acl {name} method {}",
                        rng.pick(&["CONNECT", "GET", "GET POST"])
                    )
                }
            }
        };
        out.push_str(&line);
        out.push('\n');
        names.push(name);
    }
    for _ in 0..(1 + rng.below(6)) {
        let action = if rng.below(2) == 0 { "allow" } else { "deny" };
        let mut line = format!("http_access {action}");
        for _ in 0..rng.below(4) {
            let negate = if rng.below(3) == 0 { "!" } else { "" };
            line.push_str(&format!(" {negate}{}", names[rng.below(names.len())]));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Starts squid with `conf` in the namespace; `None` when it does not come up.
fn start_squid(ns: &Netns, squid: &Path, conf: &Path, dir: &Path) -> Option<std::process::Child> {
    let log = std::fs::File::create(dir.join("squid.out")).expect("a log");
    let mut child = ns
        .command(&squid.to_string_lossy())
        .args(["-N", "-d", "1", "-f"])
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log"))
        .stderr(log)
        .spawn()
        .expect("squid starts");
    if wait_listening(ns, AGENTS[0]) {
        Some(child)
    } else {
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

/// Waits (bounded) until squid accepts connections.
fn wait_listening(ns: &Netns, addr: &str) -> bool {
    for _ in 0..100 {
        let ok = ns
            .command("/usr/bin/python3")
            .args([
                "-c",
                "import socket,sys; socket.create_connection((sys.argv[1], 3128), 1).close()",
                addr,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
