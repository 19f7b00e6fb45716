//! Network namespaces and the veth pairs that join them to each other and to nothing else.
//!
//! ```text
//!  agent 192.0.2.10 ── 192.0.2.1  edge  198.51.100.1 ── 198.51.100.2  aws (203.0.113.0/24 on lo)
//!        2001:db8:a::10  2001:db8:a::1   2001:db8:e::1   2001:db8:e::2      (2001:db8:a3::/64 on lo)
//! ```
//! The agent's only route leads to the edge, the edge forwards (under its nftables rules) between
//! the agent and the AWS side, and the AWS side routes back through the edge. No interface of the
//! root namespace or of the machine is ever part of it.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub(crate) const AGENT_V4: &str = "192.0.2.10";
pub(crate) const EDGE_INSIDE_V4: &str = "192.0.2.1";
pub(crate) const EDGE_OUTSIDE_V4: &str = "198.51.100.1";
pub(crate) const AWS_LINK_V4: &str = "198.51.100.2";
pub(crate) const AGENT_V6: &str = "2001:db8:a::10";
pub(crate) const EDGE_INSIDE_V6: &str = "2001:db8:a::1";
pub(crate) const EDGE_OUTSIDE_V6: &str = "2001:db8:e::1";
pub(crate) const AWS_LINK_V6: &str = "2001:db8:e::2";

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// Runs `ip ARGS`, panicking with its error output when it fails.
pub(crate) fn ip(args: &[&str]) {
    run("ip", args);
}

pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One namespace, deleted (after its remaining processes are ended) when dropped.
pub(crate) struct Netns {
    pub name: String,
}

impl Netns {
    pub(crate) fn new(name: String) -> Self {
        ip(&["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS`.
    pub(crate) fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command that runs `program` inside this namespace.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program ARGS` inside the namespace to completion.
    pub(crate) fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// The processes still running inside the namespace: only ones the lab started.
    fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Servers are stopped by their own guards first; anything left is ended here, by pid.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether this machine lets the lab create a namespace with a veth pair in it (a container may
/// refuse even to root).
pub(crate) fn can_create_namespaces() -> bool {
    let name = format!("{}probe", run_prefix());
    let ok = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&["netns", "add", &name]) {
        return false;
    }
    let veth = ok(&[
        "-n", &name, "link", "add", "p0", "type", "veth", "peer", "name", "p1",
    ]);
    let _ = ok(&["netns", "del", &name]);
    veth
}

/// The lab folders of this run, removed on an interruption too.
pub(crate) static LAB_DIRS: std::sync::Mutex<Vec<std::path::PathBuf>> =
    std::sync::Mutex::new(Vec::new());

/// The prefix of every namespace this run creates.
pub(crate) fn run_prefix() -> String {
    format!("cpl-{}-", std::process::id())
}

/// Removes every namespace this run created (and the processes left in them): for an
/// interrupted run, whose guards never get to run.
pub(crate) fn remove_all_of_this_run() {
    let prefix = run_prefix();
    let list = Command::new("ip")
        .args(["netns", "list"])
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for name in list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
    {
        drop(Netns {
            name: name.to_owned(),
        });
    }
}

/// On SIGINT or SIGTERM, removes this run's namespaces and exits with 130.
pub(crate) fn clean_up_on_signal() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("lab: interrupted, removing this run's namespaces");
        remove_all_of_this_run();
        for dir in LAB_DIRS.lock().map(|d| d.clone()).unwrap_or_default() {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    });
}

/// The three namespaces of one scenario, wired up.
pub(crate) struct Topology {
    pub agent: Netns,
    pub edge: Netns,
    pub aws: Netns,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Addresses the AWS side serves from (on its loopback, routed through the edge).
pub(crate) const AWS_ADDRESSES: &[&str] = &[
    "203.0.113.10/32",
    "203.0.113.11/32",
    "203.0.113.12/32",
    "203.0.113.13/32",
    "203.0.113.20/32",
    "203.0.113.30/32",
    "2001:db8:a3::10/128",
];

impl Topology {
    pub(crate) fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("{}{n}", run_prefix());
        let agent = Netns::new(format!("{prefix}-agent"));
        let edge = Netns::new(format!("{prefix}-edge"));
        let aws = Netns::new(format!("{prefix}-aws"));
        // The veth ends are created inside their namespaces: never in the root namespace.
        ip(&[
            "link",
            "add",
            "a0",
            "netns",
            &agent.name,
            "type",
            "veth",
            "peer",
            "name",
            "e0",
            "netns",
            &edge.name,
        ]);
        ip(&[
            "link", "add", "e1", "netns", &edge.name, "type", "veth", "peer", "name", "w0",
            "netns", &aws.name,
        ]);
        for (ns, dev, v4, v6) in [
            (&agent, "a0", AGENT_V4, AGENT_V6),
            (&edge, "e0", EDGE_INSIDE_V4, EDGE_INSIDE_V6),
            (&edge, "e1", EDGE_OUTSIDE_V4, EDGE_OUTSIDE_V6),
            (&aws, "w0", AWS_LINK_V4, AWS_LINK_V6),
        ] {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        for addr in AWS_ADDRESSES {
            let mut args = vec!["addr", "add", addr, "dev", "lo"];
            if addr.contains(':') {
                args.push("nodad");
            }
            aws.ip(&args);
        }
        agent.ip(&["route", "add", "default", "via", EDGE_INSIDE_V4]);
        agent.ip(&["-6", "route", "add", "default", "via", EDGE_INSIDE_V6]);
        edge.ip(&["route", "add", "203.0.113.0/24", "via", AWS_LINK_V4]);
        edge.ip(&["-6", "route", "add", "2001:db8:a3::/64", "via", AWS_LINK_V6]);
        aws.ip(&["route", "add", "192.0.2.0/24", "via", EDGE_OUTSIDE_V4]);
        aws.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:a::/64",
            "via",
            EDGE_OUTSIDE_V6,
        ]);
        edge.exec(
            "sysctl",
            &[
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        );
        Self { agent, edge, aws }
    }

    /// Replaces the edge's firewall: `rules` go in a forward chain that accepts by default.
    pub(crate) fn firewall(&self, rules: &[&str]) {
        self.edge_table("lab", "filter hook forward priority 0", rules);
    }

    /// Rules for what reaches the edge itself (its resolver and proxy), in an input chain that
    /// accepts by default.
    pub(crate) fn edge_input(&self, rules: &[&str]) {
        self.edge_table("labinput", "filter hook input priority 0", rules);
    }

    /// Source NAT of the agent's traffic towards the AWS side, as a corporate edge does;
    /// `options` such as `fully-random` give a different mapping per destination.
    pub(crate) fn masquerade(&self, options: &str) {
        let rule = format!("ip saddr {AGENT_V4} oifname \"e1\" masquerade {options}");
        self.edge_table("labsnat", "nat hook postrouting priority srcnat", &[&rule]);
    }

    fn edge_table(&self, table: &str, hook: &str, rules: &[&str]) {
        let mut text =
            format!("table inet {table} {{\n  chain c {{\n    type {hook}; policy accept;\n");
        for rule in rules {
            text.push_str("    ");
            text.push_str(rule);
            text.push('\n');
        }
        text.push_str("  }\n}\n");
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.edge.name,
                "nft",
                "delete",
                "table",
                "inet",
                table,
            ])
            .stderr(Stdio::null())
            .status();
        let mut child = self
            .edge
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft runs");
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(text.as_bytes())
                .expect("writing the ruleset");
        }
        let output = child.wait_with_output().expect("nft ends");
        assert!(
            output.status.success(),
            "nft rejected the ruleset: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Redirects the agent's TCP 443 arriving at the edge to `port` on the edge (a transparent
    /// proxy), as a TLS-inspecting firewall does.
    pub(crate) fn intercept(&self, port: u16) {
        let text = format!(
            "table ip labnat {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
             iifname \"e0\" ip saddr {AGENT_V4} tcp dport 443 redirect to :{port}\n  }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{}-nat.nft", self.edge.name));
        std::fs::write(&path, &text).expect("writing the NAT rules");
        let result = self.edge.exec("nft", &["-f", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        drop(result);
    }

    /// The edge's ruleset with counters, as nft prints it.
    pub(crate) fn ruleset(&self) -> String {
        self.edge.exec("nft", &["list", "ruleset"])
    }
}
