//! `check` by the Windows build against the CLI tests' loopback servers (DNS, TLS, WebSocket, a
//! CONNECT proxy, a TURN relay), with the route the Windows way: the proxy settings are written to
//! Wine's registry with `wine reg add`, and read back by the program through `reg query`, as on
//! Windows. Each setting is asserted in the report's route and port facts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{self, Ca, Endpoint, Lab, Site};
use crate::prefix::{self, Prefix, win};
use crate::serve;

const USER_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings";
const MACHINE_KEY: &str = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Internet Settings";
const GPO_KEY: &str = r"HKLM\Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings";
const CHROME_KEY: &str = r"HKLM\SOFTWARE\Policies\Google\Chrome";
const EDGE_KEY: &str = r"HKCU\SOFTWARE\Policies\Microsoft\Edge";

/// The loopback servers of one run and the files that point the program at them.
struct Servers {
    lab: Lab,
    catalog: PathBuf,
    ranges: PathBuf,
    ca: PathBuf,
    dns: SocketAddr,
    good: u16,
    ws: u16,
    direct: u16,
    proxy: u16,
    other_proxy: u16,
}

fn servers() -> Servers {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    // No Date header: a site's is fixed when it is made, and runs under Wine take longer than the
    // clock check's 5 s (the clock check is the Linux tests').
    let ok = || Site {
        status: 200,
        date: None,
    };
    let (chain, key) = public.leaf(&["good.lab.test"], false);
    let good = lab.tls_site(chain, key, ok());
    let (chain, key) = public.leaf(&["ws.lab.test"], false);
    let ws = lab.websocket_site(chain, key);
    let (chain, key) = public.leaf(&["direct.lab.test"], false);
    let direct = lab.tls_site(chain, key, ok());
    let relay = lab.turn_relay();
    let proxy = lab.proxy(&[], &[]);
    let other_proxy = lab.proxy(&[], &[]);
    let dns = lab.dns(lab::loopback_zone(&[
        "good.lab.test",
        "ws.lab.test",
        "direct.lab.test",
        "relay.lab.test",
    ]));
    let mut ws_endpoint = Endpoint::new("ws", "ws.lab.test", ws);
    ws_endpoint.websocket = true;
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[
            Endpoint::new("good", "good.lab.test", good),
            ws_endpoint,
            Endpoint::new("direct", "direct.lab.test", direct),
        ],
    );
    let mut text = std::fs::read_to_string(&catalog).unwrap();
    text.push_str(&format!(
        "\n[[rule]]\nid = \"connect-media\"\ngroup = \"core\"\nservice = \"EC2\"\nregions = [\"lab-1\"]\nports = [\"udp/1-65535\"]\npurpose = \"lab\"\nsource = \"lab\"\n\
         \n[[endpoint]]\nid = \"relay\"\ngroup = \"core\"\nhost = \"relay.lab.test\"\nports = [\"udp/{relay}\"]\npurpose = \"lab relay\"\nsource = \"lab\"\n"
    ));
    std::fs::write(&catalog, text).unwrap();
    let ranges = lab::ranges_file(lab.dir.path());
    let ca = lab.write("public-ca.pem", &public.pem);
    Servers {
        lab,
        catalog,
        ranges,
        ca,
        dns,
        good,
        ws,
        direct,
        proxy,
        other_proxy,
    }
}

/// `check … --format json` by the Windows build: exit code, report and how long it took.
fn check(prefix: &Prefix, exe: &Path, s: &Servers, extra: &[&str]) -> (i32, Value, Duration) {
    let mut cmd = prefix.cmd(s.lab.dir.path());
    cmd.arg(exe)
        .args(["check", "--region", "lab-1", "--format", "json"])
        .args(["--endpoints", &win(&s.catalog)])
        .args(["--ip-ranges", &win(&s.ranges)])
        .args(["--ca-file", &win(&s.ca)])
        .args(["--dns-server", &s.dns.to_string()])
        .args(["--timeout", "20s", "--media-seconds", "1", "--no-progress"])
        .args(extra);
    let started = Instant::now();
    let out = prefix::run(&mut cmd, Duration::from_secs(120));
    let took = started.elapsed();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report, took)
}

fn find<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn passes(report: &Value, id: &str) {
    let c = find(report, id);
    assert_eq!(c["status"], "pass", "{id}: {c:#}");
}

fn route<'a>(report: &'a Value, id: &str) -> &'a str {
    find(report, id)["evidence"]["route"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} has no route: {report:#}"))
}

fn source(report: &Value) -> String {
    find(report, "system/proxy")["evidence"]["route_source"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn detail(report: &Value, id: &str) -> String {
    find(report, id)["detail"].as_str().unwrap().to_owned()
}

fn return_ports(report: &Value) -> String {
    find(report, "system/webrtc-udp-ports")["evidence"]["return_ports"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn clear(prefix: &Prefix) {
    for key in [USER_KEY, MACHINE_KEY] {
        for name in [
            "ProxyEnable",
            "ProxyServer",
            "ProxyOverride",
            "AutoConfigURL",
        ] {
            let _ = prefix::run(
                prefix
                    .cmd(Path::new("/"))
                    .args(["reg", "delete", key, "/v", name, "/f"]),
                Duration::from_secs(60),
            );
        }
    }
    for key in [GPO_KEY, CHROME_KEY, EDGE_KEY] {
        prefix.reg_delete(key);
    }
}

#[test]
fn check_follows_the_windows_proxy_settings_read_from_the_registry() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let s = servers();
    let exe = &tools.exe;
    let https = |port: u16, host: &str| format!("https/{host}:{port}/");
    let tls = |port: u16, host: &str| format!("tls/{host}:{port}");
    let proxy = format!("127.0.0.1:{}", s.proxy);
    let other = format!("127.0.0.1:{}", s.other_proxy);

    // Nothing set: direct, and the OS's ephemeral ports for returning media.
    let (code, report, took) = check(&prefix, exe, &s, &[]);
    eprintln!(
        "check (no settings) under Wine: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "ready");
    passes(&report, &https(s.good, "good.lab.test"));
    passes(&report, &format!("websocket/ws.lab.test:{}/", s.ws));
    passes(&report, "stun/relay.lab.test/127.0.0.1");
    let turn = find(&report, "turn/relay.lab.test/127.0.0.1");
    assert_eq!(turn["reason"], "auth_challenge", "{turn:#}");
    assert_eq!(route(&report, &tls(s.good, "good.lab.test")), "DIRECT");
    assert_eq!(return_ports(&report), "49152-65535");
    assert!(
        detail(&report, "system/webrtc-udp-ports").contains("Windows ephemeral range"),
        "{report:#}"
    );

    // The user's proxy, bypassed for one host and for plain names (<local>).
    prefix.reg_add(USER_KEY, "ProxyEnable", "REG_DWORD", "1");
    prefix.reg_add(USER_KEY, "ProxyServer", "REG_SZ", &proxy);
    prefix.reg_add(
        USER_KEY,
        "ProxyOverride",
        "REG_SZ",
        "direct.lab.test;<local>",
    );
    let (code, report, _) = check(&prefix, exe, &s, &[]);
    assert_eq!(code, 0, "{report:#}");
    let route_check = find(&report, "system/proxy");
    assert!(source(&report).contains("ProxyServer"), "{route_check:#}");
    assert_eq!(route_check["evidence"]["proxy"], format!("http://{proxy}"));
    let bypass = route_check["evidence"]["bypass"].to_string();
    assert!(
        bypass.contains("direct.lab.test") && bypass.contains("<local>"),
        "{route_check:#}"
    );
    assert_eq!(
        route(&report, &tls(s.good, "good.lab.test")),
        format!("PROXY {proxy}")
    );
    passes(&report, &https(s.good, "good.lab.test"));
    passes(&report, &format!("websocket/ws.lab.test:{}/", s.ws));
    assert!(
        route(&report, &tls(s.direct, "direct.lab.test")).starts_with("DIRECT"),
        "{report:#}"
    );
    passes(&report, &https(s.direct, "direct.lab.test"));

    // The per-protocol form: HTTPS takes the https= entry.
    prefix.reg_add(
        USER_KEY,
        "ProxyServer",
        "REG_SZ",
        &format!("http={other};https={proxy}"),
    );
    prefix.reg_add(USER_KEY, "ProxyOverride", "REG_SZ", "<local>");
    let (_, report, _) = check(&prefix, exe, &s, &[]);
    assert_eq!(
        find(&report, "system/proxy")["evidence"]["proxy"],
        format!("http://{proxy}"),
        "{report:#}"
    );
    assert_eq!(
        route(&report, &tls(s.direct, "direct.lab.test")),
        format!("PROXY {proxy}")
    );
    passes(&report, &https(s.direct, "direct.lab.test"));

    // A PAC script's URL (AutoConfigURL) comes before the proxy: served on loopback.
    let pac = format!(
        "function FindProxyForURL(url, host) {{\n  if (host == \"good.lab.test\") return \"PROXY {other}\";\n  return \"DIRECT\";\n}}\n"
    );
    let pac_url = serve::http(&pac);
    prefix.reg_add(USER_KEY, "AutoConfigURL", "REG_SZ", &pac_url);
    let (code, report, _) = check(&prefix, exe, &s, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(source(&report).contains("AutoConfigURL"), "{report:#}");
    assert_eq!(find(&report, "system/proxy")["evidence"]["pac"], pac_url);
    assert_eq!(
        route(&report, &tls(s.good, "good.lab.test")),
        format!("PROXY {other}")
    );
    assert_eq!(route(&report, &tls(s.direct, "direct.lab.test")), "DIRECT");
    passes(&report, &https(s.good, "good.lab.test"));

    // Group Policy makes the settings per-machine: the machine's key decides, not the user's.
    prefix.reg_add(GPO_KEY, "ProxySettingsPerUser", "REG_DWORD", "0");
    prefix.reg_add(MACHINE_KEY, "ProxyEnable", "REG_DWORD", "1");
    prefix.reg_add(MACHINE_KEY, "ProxyServer", "REG_SZ", &other);
    let (_, report, _) = check(&prefix, exe, &s, &[]);
    let route_check = find(&report, "system/proxy");
    assert_eq!(
        route_check["evidence"]["proxy"],
        format!("http://{other}"),
        "{route_check:#}"
    );
    assert!(source(&report).contains("HKLM"), "{route_check:#}");
    assert!(
        route_check["detail"]
            .as_str()
            .unwrap()
            .contains("ProxySettingsPerUser 0"),
        "{route_check:#}"
    );
    assert_eq!(
        route(&report, &tls(s.direct, "direct.lab.test")),
        format!("PROXY {other}")
    );
    passes(&report, &https(s.direct, "direct.lab.test"));
    clear(&prefix);

    // Chrome's machine policy overrides the OS settings, and pins WebRTC's UDP ports; Edge's
    // user policy that routes otherwise is named.
    prefix.reg_add(USER_KEY, "ProxyEnable", "REG_DWORD", "1");
    prefix.reg_add(USER_KEY, "ProxyServer", "REG_SZ", &other);
    prefix.reg_add(CHROME_KEY, "ProxyMode", "REG_SZ", "fixed_servers");
    prefix.reg_add(CHROME_KEY, "ProxyServer", "REG_SZ", &proxy);
    prefix.reg_add(CHROME_KEY, "ProxyBypassList", "REG_SZ", "direct.lab.test");
    prefix.reg_add(CHROME_KEY, "WebRtcUdpPortRange", "REG_SZ", "10000-11999");
    prefix.reg_add(EDGE_KEY, "ProxyMode", "REG_SZ", "direct");
    prefix.reg_add(EDGE_KEY, "WebRtcUdpPortRange", "REG_SZ", "20000-29999");
    let (code, report, _) = check(&prefix, exe, &s, &[]);
    assert_eq!(code, 0, "{report:#}");
    let route_check = find(&report, "system/proxy");
    assert!(
        source(&report).starts_with("Google Chrome's proxy policy"),
        "{route_check:#}"
    );
    assert_eq!(route_check["evidence"]["proxy"], format!("http://{proxy}"));
    assert!(
        route_check["detail"]
            .as_str()
            .unwrap()
            .contains("Microsoft Edge's proxy policy"),
        "{route_check:#}"
    );
    assert_eq!(
        route(&report, &tls(s.good, "good.lab.test")),
        format!("PROXY {proxy}")
    );
    assert!(route(&report, &tls(s.direct, "direct.lab.test")).starts_with("DIRECT"));
    assert_eq!(return_ports(&report), "10000-11999");
    let ports = find(&report, "system/webrtc-udp-ports");
    assert!(
        ports["detail"].as_str().unwrap().contains("Google Chrome")
            && ports["evidence"]["policies"].to_string().contains("20000"),
        "{ports:#}"
    );

    // Edge's policy alone: its proxy and its port range.
    prefix.reg_delete(CHROME_KEY);
    prefix.reg_add(EDGE_KEY, "ProxyMode", "REG_SZ", "fixed_servers");
    prefix.reg_add(EDGE_KEY, "ProxyServer", "REG_SZ", &proxy);
    let (_, report, _) = check(&prefix, exe, &s, &[]);
    assert!(
        source(&report).starts_with("Microsoft Edge's proxy policy"),
        "{report:#}"
    );
    assert_eq!(
        route(&report, &tls(s.direct, "direct.lab.test")),
        format!("PROXY {proxy}")
    );
    assert_eq!(return_ports(&report), "20000-29999");
    assert!(
        detail(&report, "system/webrtc-udp-ports").contains("Microsoft Edge"),
        "{report:#}"
    );

    // --no-proxy still wins over every setting.
    let (_, report, _) = check(&prefix, exe, &s, &["--no-proxy"]);
    assert_eq!(route(&report, &tls(s.good, "good.lab.test")), "DIRECT");
}

/// Automatic detection on (the "Automatically detect settings" flag): the program asks DHCP
/// through WinHTTP (`WinHttpDetectAutoProxyConfigUrl`), which Wine answers with nothing, and
/// goes on without a script, within its bound. Run in a network namespace of its own with only
/// loopback, so that looking for wpad.DOMAIN cannot leave the machine.
#[test]
fn wpad_by_dhcp_under_wine_is_bounded_and_finds_nothing() {
    let Some(tools) = prefix::tools() else { return };
    if !prefix::can_isolate() {
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            panic!("the WPAD test needs root for a network namespace");
        }
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIP: the WPAD test needs root (unshare --net)\n",
        );
        return;
    }
    let mut prefix = Prefix::new(tools);
    prefix.isolated = true;
    // DefaultConnectionSettings: version, counter, then flags 0x09 (direct + auto-detect).
    prefix.reg_add(
        &format!(r"{USER_KEY}\Connections"),
        "DefaultConnectionSettings",
        "REG_BINARY",
        "460000000200000009000000000000000000000000000000",
    );
    let dir = tempfile::tempdir().unwrap();
    // The lab's servers live outside the namespace: only DNS on loopback inside it, at a closed port.
    let catalog = lab::catalog_file(dir.path(), &[Endpoint::new("good", "good.lab.test", 443)]);
    let ranges = lab::ranges_file(dir.path());
    let mut cmd = prefix.cmd(dir.path());
    cmd.arg(&tools.exe)
        .args([
            "check", "--region", "lab-1", "--format", "json", "--only", "dns",
        ])
        .args(["--endpoints", &win(&catalog)])
        .args(["--ip-ranges", &win(&ranges)])
        .args(["--dns-server", "127.0.0.1:9", "--timeout", "5s"]);
    let started = Instant::now();
    let out = prefix::run(&mut cmd, Duration::from_secs(90));
    let took = started.elapsed();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let route_check = find(&report, "system/proxy");
    let text = route_check["detail"].as_str().unwrap();
    eprintln!("WPAD under Wine: {:.1} s: {text}", took.as_secs_f64());
    assert!(text.contains("WPAD"), "{route_check:#}");
    assert!(
        text.contains("DHCP offered no PAC script URL") || text.contains("DHCP did not answer"),
        "{route_check:#}"
    );
    assert!(route_check["evidence"]["pac"].is_null(), "{route_check:#}");
    // DHCP's bound plus the DNS attempts' bound, plus Wine's start.
    assert!(took < Duration::from_secs(40), "{took:?}");
}
