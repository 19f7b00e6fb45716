//! The lab of one scenario: its namespaces, its temporary folder, and the real servers started in
//! them from configuration files written there. Everything is stopped and removed on drop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::net::{self, Netns, Topology};

/// How long a server may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(15);

/// The user coturn grants relays to, for the authenticated media scenarios.
pub(crate) const TURN_USER: &str = "lab-agent";
pub(crate) const TURN_PASSWORD: &str = "Lab-Turn-Secret-42";

pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn program(name: &str) -> String {
    find_program(name)
        .unwrap_or_else(|| panic!("{name} is not installed"))
        .to_string_lossy()
        .into_owned()
}

/// A server process, killed (by its pid) when dropped.
pub(crate) struct Server {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Server {
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Agent,
    Edge,
    Aws,
}

/// One scenario's lab. Dropping it stops the servers, then deletes the namespaces (ending any
/// process left in them) and the folder.
pub(crate) struct Lab {
    pub net: Topology,
    pub dir: tempfile::TempDir,
    servers: Vec<Server>,
    /// A folder put first on `check`'s PATH: stand-ins for the OS's own tools (`gsettings`).
    pub path_prefix: Option<PathBuf>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Servers first, then (as the fields drop) the namespaces and the folder.
        self.servers.clear();
    }
}

impl Lab {
    pub(crate) fn new() -> Self {
        let net = Topology::new();
        let dir = tempfile::Builder::new()
            .prefix("connect-preflight-lab-")
            .tempdir()
            .expect("a temporary folder");
        // squid drops to its own user, which must reach its files here.
        set_mode(dir.path(), 0o755);
        if let Ok(mut dirs) = net::LAB_DIRS.lock() {
            dirs.push(dir.path().to_owned());
        }
        Self {
            net,
            dir,
            servers: Vec::new(),
            path_prefix: None,
        }
    }

    pub(crate) fn ns(&self, side: Side) -> &Netns {
        match side {
            Side::Agent => &self.net.agent,
            Side::Edge => &self.net.edge,
            Side::Aws => &self.net.aws,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("writing a lab file");
        path
    }

    /// Starts `program args` inside `ns`, its output going to `NAME.log` in the lab folder.
    pub(crate) fn spawn(&mut self, side: Side, name: &str, program_name: &str, args: &[String]) {
        let log = self.path(&format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("a log file");
        let err = out.try_clone().expect("a log file");
        let path = if program_name.contains('/') {
            program_name.to_owned()
        } else {
            program(program_name)
        };
        let child = self
            .ns(side)
            .command(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program_name}: {e}"));
        self.servers.push(Server {
            name: name.to_owned(),
            child,
            log,
        });
    }

    /// Waits (bounded) until something accepts TCP connections on `addr` inside `ns`, failing
    /// early with the server's log if the server `name` exits.
    pub(crate) fn wait_tcp(&mut self, side: Side, addr: &str, name: &str) {
        let exe = std::env::current_exe().expect("the lab's own path");
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ok = self
                .ns(side)
                .command(&exe.to_string_lossy())
                .args(["wait-tcp", addr, "300"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if let Some(server) = self.servers.iter_mut().find(|s| s.name == name) {
                if let Some(status) = server.exited() {
                    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                    panic!("{name} exited ({status}) before listening on {addr}:\n{log}");
                }
            }
            if Instant::now() > deadline {
                let log = self
                    .servers
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| std::fs::read_to_string(&s.log).ok())
                    .unwrap_or_default();
                panic!("{name} did not listen on {addr} within {START_LIMIT:?}:\n{log}");
            }
        }
    }

    /// dnsmasq on the edge, the agent's only resolver: exactly `answers` (`--address=/NAME/IP`,
    /// or NXDOMAIN for an empty IP), nothing forwarded anywhere.
    pub(crate) fn dnsmasq(&mut self, answers: &[(&str, &str)]) {
        let mut conf = String::new();
        for line in [
            "no-resolv",
            "no-hosts",
            "no-poll",
            "bind-interfaces",
            "keep-in-foreground",
            "log-queries",
            "log-facility=-",
            "pid-file=",
            "user=root",
            "cache-size=0",
        ] {
            conf.push_str(line);
            conf.push('\n');
        }
        let _ = writeln!(conf, "listen-address={}", net::EDGE_INSIDE_V4);
        for (name, ip) in answers {
            let _ = writeln!(conf, "address=/{name}/{ip}");
        }
        let path = self.write("dnsmasq.conf", &conf);
        let args = vec![format!("--conf-file={}", path.display())];
        self.spawn(Side::Edge, "dnsmasq", "dnsmasq", &args);
        self.wait_tcp(
            Side::Edge,
            &format!("{}:53", net::EDGE_INSIDE_V4),
            "dnsmasq",
        );
    }

    /// nginx on the AWS side with one TLS server per site; `clock` runs it under libfaketime with
    /// that offset (`+10m`), so its `Date` header is off by as much.
    pub(crate) fn nginx(&mut self, sites: &[Site], clock: Option<&str>) {
        let dir = self.dir.path().display().to_string();
        let mut conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log {dir}/nginx-access.log;\n  client_body_temp_path {dir}/nginx-body;\n\
             proxy_temp_path {dir}/nginx-proxy;\n  fastcgi_temp_path {dir}/nginx-fastcgi;\n\
             uwsgi_temp_path {dir}/nginx-uwsgi;\n  scgi_temp_path {dir}/nginx-scgi;\n"
        );
        for site in sites {
            conf.push_str("  server {\n");
            for addr in &site.listen {
                let _ = writeln!(conf, "    listen {addr}:443 ssl;");
            }
            let _ = write!(
                conf,
                "    server_name _;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    ssl_protocols {};\n",
                site.cert.display(),
                site.key.display(),
                site.protocols
            );
            if let Some(ciphers) = &site.ciphers {
                let _ = writeln!(conf, "    ssl_ciphers {ciphers};");
            }
            if site.websocket {
                conf.push_str(
                    "    location / {\n      proxy_pass http://127.0.0.1:8080;\n      \
                     proxy_http_version 1.1;\n      proxy_set_header Upgrade $http_upgrade;\n      \
                     proxy_set_header Connection \"upgrade\";\n      proxy_set_header Host $host;\n    }\n  }\n",
                );
            } else {
                let _ = write!(
                    conf,
                    "    location / {{ return {} \"lab\\n\"; }}\n  }}\n",
                    site.status
                );
            }
        }
        conf.push_str("}\n");
        let path = self.write("nginx.conf", &conf);
        if sites.iter().any(|s| s.websocket) {
            let exe = std::env::current_exe().expect("the lab's own path");
            let args = vec!["ws-backend".to_owned(), "127.0.0.1:8080".to_owned()];
            self.spawn(Side::Aws, "ws-backend", &exe.to_string_lossy(), &args);
            self.wait_tcp(Side::Aws, "127.0.0.1:8080", "ws-backend");
        }
        let mut args = vec![
            "-e".to_owned(),
            format!("{dir}/nginx-error.log"),
            "-p".to_owned(),
            dir.clone(),
            "-c".to_owned(),
            path.display().to_string(),
        ];
        match clock {
            Some(offset) => {
                args.splice(0..0, ["-f".to_owned(), offset.to_owned(), program("nginx")]);
                self.spawn(Side::Aws, "nginx", "faketime", &args);
            }
            None => self.spawn(Side::Aws, "nginx", "nginx", &args),
        }
        for site in sites {
            for addr in &site.listen {
                self.wait_tcp(Side::Aws, &format!("{addr}:443"), "nginx");
            }
        }
    }

    /// squid on the edge as the explicit proxy `198.51.100.1:3128`, letting `CONNECT` through to
    /// port 443 of the `allowed` domains only (squid's `dstdomain` syntax), resolving names with
    /// the lab's resolver. `extra` is added to the configuration before the access rules.
    pub(crate) fn squid(&mut self, allowed: &[&str], extra: &str) {
        let dir = self.path("squid");
        std::fs::create_dir_all(&dir).expect("a squid folder");
        set_mode(&dir, 0o777);
        let d = dir.display();
        let conf = format!(
            "http_port {edge}:3128\nvisible_hostname lab-proxy\npid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\naccess_log stdio:{d}/access.log\ncache deny all\n\
             cache_mem 4 MB\ncoredump_dir {d}\ncache_effective_user proxy\n\
             shutdown_lifetime 0 seconds\npinger_enable off\nlogfile_rotate 0\n\
             dns_nameservers {dns}\n{extra}\n\
             acl allowed dstdomain {allowed}\nacl SSL_ports port 443\nacl CONNECT method CONNECT\n\
             http_access deny CONNECT !SSL_ports\nhttp_access allow CONNECT allowed\n\
             http_access deny all\n",
            edge = net::EDGE_OUTSIDE_V4,
            dns = net::EDGE_INSIDE_V4,
            allowed = allowed.join(" "),
        );
        let path = self.write("squid.conf", &conf);
        let args = vec![
            "-N".to_owned(),
            "-d".to_owned(),
            "1".to_owned(),
            "-f".to_owned(),
            path.display().to_string(),
        ];
        self.spawn(Side::Edge, "squid", "squid", &args);
        self.wait_tcp(
            Side::Edge,
            &format!("{}:3128", net::EDGE_OUTSIDE_V4),
            "squid",
        );
    }

    /// squid on the edge as a transparent TLS-inspecting proxy on port 3129 (the edge redirects
    /// the agent's TCP 443 there): it bumps every TLS connection with certificates it makes with
    /// `ca` (cert and key files), except the `splice` server names, which pass untouched. It trusts
    /// `upstream_ca` towards the servers.
    pub(crate) fn squid_bump(&mut self, ca: (&Path, &Path), upstream_ca: &Path, splice: &[&str]) {
        let dir = self.path("squid");
        std::fs::create_dir_all(&dir).expect("a squid folder");
        set_mode(&dir, 0o777);
        let db = dir.join("ssl_db");
        let certgen = "/usr/lib/squid/security_file_certgen";
        let db_text = db.display().to_string();
        net::run(certgen, &["-c", "-s", &db_text, "-M", "4MB"]);
        net::run("chown", &["-R", "proxy:proxy", &db_text]);
        let d = dir.display();
        let conf = format!(
            "http_port {edge}:3128\n\
             https_port {inside}:3129 intercept ssl-bump tls-cert={cert} tls-key={key} \
             generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n\
             sslcrtd_program {certgen} -s {db_text} -M 4MB\nsslcrtd_children 2 startup=1 idle=1\n\
             tls_outgoing_options cafile={upstream}\n\
             visible_hostname lab-inspector\npid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\naccess_log stdio:{d}/access.log\ncache deny all\n\
             cache_mem 4 MB\ncoredump_dir {d}\ncache_effective_user proxy\n\
             shutdown_lifetime 0 seconds\npinger_enable off\nlogfile_rotate 0\n\
             dns_nameservers {inside}\n\
             acl step1 at_step SslBump1\nacl spliced ssl::server_name {splice}\n\
             ssl_bump peek step1\nssl_bump splice spliced\nssl_bump bump all\n\
             acl lab_agents src 192.0.2.0/24\nhttp_access allow lab_agents\nhttp_access deny all\n",
            edge = net::EDGE_OUTSIDE_V4,
            inside = net::EDGE_INSIDE_V4,
            cert = ca.0.display(),
            key = ca.1.display(),
            upstream = upstream_ca.display(),
            splice = splice.join(" "),
        );
        let path = self.write("squid.conf", &conf);
        let args = vec![
            "-N".to_owned(),
            "-d".to_owned(),
            "1".to_owned(),
            "-f".to_owned(),
            path.display().to_string(),
        ];
        self.spawn(Side::Edge, "squid", "squid", &args);
        // A connection to the intercepting port that was not redirected makes squid 5 stop
        // accepting there, so readiness is read from the socket table instead.
        self.wait_tcp(
            Side::Edge,
            &format!("{}:3128", net::EDGE_OUTSIDE_V4),
            "squid",
        );
        let deadline = Instant::now() + START_LIMIT;
        while !self
            .net
            .edge
            .exec("ss", &["-Hltn", "sport = :3129"])
            .contains("3129")
        {
            assert!(Instant::now() < deadline, "squid does not listen on 3129");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.net.intercept(3129);
    }

    /// coturn on the AWS side at `addr`, port 3478: long-term credentials, so an Allocate without
    /// them gets a 401 challenge; with [`TURN_USER`] and [`TURN_PASSWORD`] it grants a relay.
    /// `extra` arguments go last (e.g. `--stale-nonce=1`).
    pub(crate) fn coturn_with(&mut self, addr: &str, extra: &[&str]) {
        let d = self.dir.path().display().to_string();
        let mut args: Vec<String> = [
            "-n",
            "--listening-port=3478",
            &format!("--listening-ip={addr}"),
            &format!("--relay-ip={addr}"),
            "--lt-cred-mech",
            "--user=u:p",
            // The authenticated media scenarios' user.
            &format!("--user={TURN_USER}:{TURN_PASSWORD}"),
            "--realm=lab.example",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file=stdout",
            "--simple-log",
            &format!("--pidfile={d}/turnserver.pid"),
            "--min-port=49152",
            "--max-port=49407",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        self.spawn(Side::Aws, "coturn", "turnserver", &args);
        self.wait_tcp(Side::Aws, &format!("{addr}:3478"), "coturn");
    }

    /// The delay line on the edge: listens on `listen` (an address it adds to the edge), forwards
    /// to `upstream`; returns the path of its log of holds.
    pub(crate) fn delay_line(
        &mut self,
        listen: &str,
        upstream: &str,
        delay_ms: u64,
        jitter_ms: u64,
    ) -> PathBuf {
        let ip = listen.rsplit_once(':').map_or(listen, |(ip, _)| ip);
        self.net
            .edge
            .ip(&["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
        let log = self.path("delay-line.holds");
        let exe = std::env::current_exe().expect("the lab's own path");
        let args = vec![
            "delay-line".to_owned(),
            listen.to_owned(),
            upstream.to_owned(),
            delay_ms.to_string(),
            jitter_ms.to_string(),
            log.display().to_string(),
        ];
        self.spawn(Side::Edge, "delay-line", &exe.to_string_lossy(), &args);
        // It logs its start once the socket is bound.
        let deadline = Instant::now() + START_LIMIT;
        let started = self.path("delay-line.log");
        while !std::fs::read_to_string(&started).is_ok_and(|t| t.contains("->")) {
            assert!(Instant::now() < deadline, "the delay line did not start");
            if let Some(server) = self.servers.iter_mut().find(|s| s.name == "delay-line") {
                if let Some(status) = server.exited() {
                    panic!("the delay line exited ({status})");
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        log
    }

    /// The PATH `check` runs with: the lab's own, after [`Lab::path_prefix`].
    fn check_path(&self) -> std::ffi::OsString {
        let mut path = std::ffi::OsString::new();
        if let Some(prefix) = &self.path_prefix {
            path.push(prefix);
            path.push(":");
        }
        path.push(std::env::var_os("PATH").unwrap_or_default());
        path
    }

    /// The built binary's `check` inside the agent namespace, with a scrubbed environment whose
    /// certificate store is `os_store` (empty: nothing is trusted there). Returns the exit code
    /// and the JSON report.
    pub(crate) fn check(&self, args: &[&str], os_store: &str, limit: Duration) -> (i32, Value) {
        let home = self.path("home");
        std::fs::create_dir_all(home.join("certs")).expect("a home folder");
        let store = self.write("os-store.pem", os_store);
        let mut cmd = self
            .ns(Side::Agent)
            .command(env!("CARGO_BIN_EXE_connect-preflight"));
        cmd.arg("check")
            .args(args)
            .env_clear()
            .env("PATH", self.check_path())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("CONNECT_PREFLIGHT_CACHE_DIR", home.join("cache"))
            .env("SSL_CERT_FILE", &store)
            .env("SSL_CERT_DIR", home.join("certs"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let (code, stdout, stderr) = run_bounded(cmd, limit);
        let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("check printed no JSON report ({e}), exit {code}:\n{stdout}\nstderr:\n{stderr}")
        });
        (code, report)
    }

    /// Keeps the lab up for poking when `LAB_KEEP` is set: prints how to reach it and waits for
    /// Enter (at most an hour).
    pub(crate) fn keep_if_asked(&self, scenario: &str) {
        if std::env::var_os("LAB_KEEP").is_none() {
            return;
        }
        eprintln!(
            "\nLAB_KEEP: scenario {scenario} is up.\n  agent namespace: {}\n  edge namespace:  {}\n  \
             aws namespace:   {}\n  files: {dir}\n  \
             try: ip netns exec {agent} curl -v --cacert {dir}/lab-ca.pem \
             --resolve acme.my.connect.aws:443:203.0.113.10 https://acme.my.connect.aws/\n  \
             press Enter to tear it down",
            self.net.agent.name,
            self.net.edge.name,
            self.net.aws.name,
            dir = self.dir.path().display(),
            agent = self.net.agent.name,
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_secs(3600));
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The scenario now running, for the names of the reports `LAB_KEEP_REPORTS` keeps.
pub(crate) static SCENARIO: std::sync::Mutex<&'static str> = std::sync::Mutex::new("");

/// With `LAB_KEEP_REPORTS=DIR`, keeps what the built binary printed on stdout as
/// `DIR/<scenario>-<n>.out`, numbered in the order the scenario ran it, so two builds' reports
/// can be compared.
fn keep_report(cmd: &Command, stdout: &str) {
    static COUNT: std::sync::Mutex<(&str, u32)> = std::sync::Mutex::new(("", 0));
    let Some(dir) = std::env::var_os("LAB_KEEP_REPORTS") else {
        return;
    };
    let binary = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_connect-preflight"));
    if cmd.get_program() != binary && !cmd.get_args().any(|a| a == binary) {
        return;
    }
    let scenario = *SCENARIO.lock().unwrap_or_else(|e| e.into_inner());
    let mut count = COUNT.lock().unwrap_or_else(|e| e.into_inner());
    if count.0 != scenario {
        *count = (scenario, 0);
    }
    count.1 += 1;
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{scenario}-{:02}.out", count.1)), stdout);
}

/// Runs `cmd` to completion within `limit` (killed past it), returning its exit code, stdout
/// and stderr.
pub(crate) fn run_bounded(mut cmd: Command, limit: Duration) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let mut child = cmd.spawn().expect("the command starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command ran past {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let stdout = read(&out_path);
    keep_report(&cmd, &stdout);
    (status.code().unwrap_or(-1), stdout, read(&err_path))
}

/// One TLS front end on the AWS side.
pub(crate) struct Site {
    /// Addresses (IPv6 in brackets) it listens on, port 443.
    pub listen: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub protocols: String,
    pub ciphers: Option<String>,
    pub status: u16,
    /// Passes requests to the lab's WebSocket backend, which accepts upgrades.
    pub websocket: bool,
}

impl Site {
    pub(crate) fn new(listen: &[&str], pair: &crate::pki::Pair) -> Self {
        Self {
            listen: listen.iter().map(|s| (*s).to_owned()).collect(),
            cert: pair.cert.clone(),
            key: pair.key.clone(),
            protocols: "TLSv1.2 TLSv1.3".to_owned(),
            ciphers: None,
            status: 200,
            websocket: false,
        }
    }
}
