//! The softphone's verdicts against real servers: loss graded like the field's references (coturn
//! behind an edge that drops a known share of the train), a dual-stack relay whose IPv6 the edge
//! black-holes, and the CCP's WebSocket (`--transport-url`) through a TLS-inspecting squid and
//! through a squid whose allow-list leaves out only the transport host.

use serde_json::Value;

use crate::net;
use crate::pki::Ca;
use crate::scenarios::{
    CATALOG, INSTANCE, PARTICIPANT, RTC, STATIC, Scenario, TURN, TURN_V4, World, counted, expect,
    find, host_passes, mentions, verdict,
};
use crate::servers::Site;

pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "softphone_loss_1_5_pct",
        run: softphone_loss_1_5_pct,
    },
    Scenario {
        name: "softphone_loss_6_pct",
        run: softphone_loss_6_pct,
    },
    Scenario {
        name: "softphone_turn_ipv6_blackholed",
        run: softphone_turn_ipv6_blackholed,
    },
    Scenario {
        name: "softphone_transport_tls_inspection",
        run: softphone_transport_tls_inspection,
    },
    Scenario {
        name: "softphone_transport_proxy_blocks_transport",
        run: softphone_transport_proxy_blocks_transport,
    },
    Scenario {
        name: "softphone_transport_direct",
        run: softphone_transport_direct,
    },
];

/// Drops `lost` of every `every` datagrams to the relay, the last ones of each period, so the
/// relay's first answers (Binding, Allocate) are not among them and a 4-second train of 200
/// requests loses exactly `lost * 200 / every`. Asserts the verdict and the quality check's
/// status, and returns the report, the quality check, the reported and the dropped loss.
fn lossy(lost: u32, every: u32, expected: (&str, i32, &str)) -> (Value, Value, f64, f64) {
    let mut w = World::new();
    w.media_seconds = 4;
    w.start();
    w.lab.net.firewall(&[
        &format!("ip daddr {TURN_V4} udp dport 3478 counter comment \"seen\""),
        &format!(
            "ip daddr {TURN_V4} udp dport 3478 numgen inc mod {every} >= {} counter drop comment \"lost\"",
            every - lost
        ),
    ]);
    let (code, report) = w.check(&["--timeout", "15s"]);
    let ruleset = w.lab.net.ruleset();
    w.lab.keep_if_asked("softphone_loss");
    let (seen, dropped) = (counted(&ruleset, "seen"), counted(&ruleset, "lost"));
    assert!(seen > 150, "the train passed the edge: {seen} datagrams");
    let dropped = 100.0 * dropped as f64 / seen as f64;
    let (verdict_name, exit, status) = expected;
    verdict(&report, code, verdict_name, exit);
    let q = expect(
        &report,
        &format!("media/{TURN}/{TURN_V4}"),
        status,
        "poor_quality",
    )
    .clone();
    let loss = q["evidence"]["loss_pct"].as_f64().expect("loss_pct");
    println!(
        "        reported loss {loss} %, dropped {dropped:.2} %, MOS {} ({})",
        q["evidence"]["mos"], q["evidence"]["mos_band"]
    );
    (report, q, loss, dropped)
}

/// 1.5 % loss on a clean path: past Twilio's and Microsoft's 1 %, a warning (degraded), where it
/// was a pass with a note before.
fn softphone_loss_1_5_pct() {
    let (report, q, loss, dropped) = lossy(3, 200, ("degraded", 1, "warn"));
    assert!(
        (1.0..5.0).contains(&loss) && (loss - dropped).abs() <= 1.0,
        "reported {loss} %, the edge dropped {dropped:.2} %"
    );
    mentions(
        &q,
        "detail",
        &[
            "Twilio warns at and Microsoft targets",
            "Judged against:",
            "MOS",
        ],
    );
    assert!(
        ["excellent", "great"].contains(&q["evidence"]["mos_band"].as_str().unwrap_or("")),
        "a clean lab path keeps a high MOS band: {q:#}"
    );
    mentions(&q, "remedy", &[TURN]);
    host_passes(&report, INSTANCE);
}

/// 6 % loss: at or past the 5 % where calls break up: a failure (not ready).
fn softphone_loss_6_pct() {
    let (report, q, loss, dropped) = lossy(3, 50, ("not_ready", 2, "fail"));
    assert!(
        loss >= 5.0 && (loss - dropped).abs() <= 1.5,
        "reported {loss} %, the edge dropped {dropped:.2} %"
    );
    mentions(&q, "detail", &["where calls break up", "5 % or more fails"]);
    // The relay still answers: the path is open, the STUN and TURN checks pass.
    expect(
        &report,
        &format!("turn/{TURN}/{TURN_V4}"),
        "pass",
        "auth_challenge",
    );
}

const TURN_V6: &str = "2001:db8:a3::30";

/// The relay has A and AAAA records, coturn listens on both, and the edge black-holes IPv6 to it:
/// the browser relays over IPv4, so the IPv6 failures are warnings naming the family.
fn softphone_turn_ipv6_blackholed() {
    let mut w = World::new();
    w.lab.net.aws.ip(&[
        "addr",
        "add",
        &format!("{TURN_V6}/128"),
        "dev",
        "lo",
        "nodad",
    ]);
    w.dns.push((TURN.to_owned(), TURN_V6.to_owned()));
    w.coturn_args = vec!["--listening-ip=2001:db8:a3::30"];
    w.start();
    w.lab
        .net
        .firewall(&[&format!("ip6 daddr {TURN_V6} udp dport 3478 counter drop")]);
    let (code, report) = w.check(&["--timeout", "15s"]);
    w.lab.keep_if_asked("softphone_turn_ipv6_blackholed");
    verdict(&report, code, "degraded", 1);
    expect(
        &report,
        &format!("turn/{TURN}/{TURN_V4}"),
        "pass",
        "auth_challenge",
    );
    expect(&report, &format!("media/{TURN}/{TURN_V4}"), "pass", "ok");
    let turn6 = expect(
        &report,
        &format!("turn/{TURN}/{TURN_V6}"),
        "warn",
        "timeout",
    );
    mentions(
        turn6,
        "detail",
        &[
            "IPv6 to TURN is black-holed",
            "the softphone uses IPv4",
            TURN_V4,
        ],
    );
    assert_eq!(turn6["evidence"]["family"], "ipv6", "{turn6:#}");
    mentions(turn6, "remedy", &["Calls work over IPv4 today", "UDP 3478"]);
    let stun6 = expect(
        &report,
        &format!("stun/{TURN}/{TURN_V6}"),
        "warn",
        "timeout",
    );
    mentions(stun6, "detail", &["IPv6 to STUN is black-holed"]);
}

const TRANSPORT: &str = "abc123.transport.connect.eu-central-1.amazonaws.com";
const TRANSPORT_V4: &str = "203.0.113.13";
/// The session URL's query: a credential the report must never repeat.
const SECRET: &str = "AuthToken=lab-secret-7f3a";

/// The lab with the CCP's WebSocket wildcard in its catalog and one session host behind it that
/// accepts WebSocket upgrades.
fn with_transport() -> World {
    let mut w = World::new();
    let catalog = format!(
        "{CATALOG}\n[[endpoint]]\nid = \"transport\"\ngroup = \"core\"\n\
         host = \"*.transport.connect.{{region}}.amazonaws.com\"\nports = [\"tcp/443\"]\n\
         websocket = true\npurpose = \"The CCP's WebSocket\"\nsource = \"lab\"\n"
    );
    w.catalog = w.lab.write("catalog.toml", &catalog);
    w.answer(TRANSPORT, TRANSPORT_V4);
    let pair =
        w.ca.leaf(w.lab.dir.path(), "transport", &[TRANSPORT], false);
    let mut site = Site::new(&[TRANSPORT_V4], &pair);
    site.websocket = true;
    w.sites.push(site);
    w
}

fn url() -> String {
    format!("wss://{TRANSPORT}/?{SECRET}")
}

fn never_shows_the_secret(report: &Value) {
    let text = report.to_string();
    assert!(
        !text.contains("lab-secret"),
        "the session URL's query is in the report"
    );
}

/// A transparent TLS-inspecting squid on the edge: the WebSocket to the session URL is bumped,
/// and squid does not pass the Upgrade: TLS intercepted (warning) and the upgrade refused
/// (failure: the CCP cannot open its WebSocket), not ready.
fn softphone_transport_tls_inspection() {
    let mut w = with_transport();
    w.start();
    let inspection = Ca::new("Lab Inspection CA", "Edge Security Appliance");
    let cert = inspection.write(&w.lab.path("inspection-ca.pem"));
    let key = inspection.write_key(&w.lab.path("inspection-ca.key"));
    let upstream = w.ca_file.clone();
    w.lab.squid_bump((&cert, &key), &upstream, &[STATIC]);
    let url = url();
    let (code, report) = w.check_with_store(&["--transport-url", &url], &inspection.pem);
    w.lab.keep_if_asked("softphone_transport_tls_inspection");
    verdict(&report, code, "not_ready", 2);
    expect(&report, &format!("dns/{TRANSPORT}"), "pass", "ok");
    let tls = expect(
        &report,
        &format!("tls/{TRANSPORT}:443"),
        "warn",
        "intercepted",
    );
    mentions(tls, "detail", &["Lab Inspection CA"]);
    let ws = expect(
        &report,
        &format!("websocket/{TRANSPORT}:443/"),
        "fail",
        "websocket_rejected",
    );
    mentions(ws, "detail", &["TLS-inspecting proxy", "(query not shown)"]);
    mentions(
        ws,
        "remedy",
        &["*.transport.connect.eu-central-1.amazonaws.com"],
    );
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["id"] != "untested/transport/eu-central-1"),
        "the wildcard is tested through the session's host"
    );
    never_shows_the_secret(&report);

    // Without the URL: the route is direct, the same route refused the upgrade to the RTC host
    // and inspects TLS, and the report says what that implies and what stays untested.
    let (_, report) = w.check_with_store(&[], &inspection.pem);
    let route = expect(
        &report,
        "websocket/route/*.transport.connect.eu-central-1.amazonaws.com",
        "info",
        "not_tested",
    );
    mentions(
        route,
        "detail",
        &[
            "go direct",
            &format!("did not let the WebSocket upgrade to {RTC} through"),
            "TLS on this route is inspected",
            "Not tested without a session's URL",
        ],
    );
}

/// An explicit squid whose allow-list has every host but the transport wildcard, and a firewall
/// that allows only the proxy. With the session URL: the proxy refuses the CONNECT to the
/// transport host (proxy_denied), everything else passes. Without it: the route of names under
/// the wildcard, and what the same proxy did with the WebSocket upgrade to the RTC host.
fn softphone_transport_proxy_blocks_transport() {
    let mut w = with_transport();
    w.start();
    w.lab.squid(
        &[
            INSTANCE,
            PARTICIPANT,
            ".cloudfront.net",
            ".connect-telecom.eu-central-1.amazonaws.com",
        ],
        "",
    );
    w.lab.net.firewall(&[&format!(
        "ip saddr {} tcp dport 443 counter reject with tcp reset",
        net::AGENT_V4
    )]);
    let proxy = format!("http://{}:3128", net::EDGE_OUTSIDE_V4);
    let url = url();
    let (code, report) = w.check(&["--proxy", &proxy, "--transport-url", &url]);
    w.lab
        .keep_if_asked("softphone_transport_proxy_blocks_transport");
    verdict(&report, code, "not_ready", 2);
    let tcp = expect(
        &report,
        &format!("tcp/{TRANSPORT}:443"),
        "fail",
        "proxy_denied",
    );
    mentions(tcp, "remedy", &[TRANSPORT]);
    let ws = find(&report, &format!("websocket/{TRANSPORT}:443/"));
    assert_ne!(ws["status"], "pass", "{ws:#}");
    for host in [INSTANCE, PARTICIPANT, STATIC, RTC] {
        host_passes(&report, host);
    }
    never_shows_the_secret(&report);

    let (code, report) = w.check(&["--proxy", &proxy]);
    verdict(&report, code, "ready", 0);
    let route = expect(
        &report,
        "websocket/route/*.transport.connect.eu-central-1.amazonaws.com",
        "info",
        "not_tested",
    );
    mentions(
        route,
        "detail",
        &[
            "198.51.100.1:3128",
            &format!("let the WebSocket upgrade to {RTC} through"),
            "Not tested without a session's URL",
        ],
    );
    let untested = expect(
        &report,
        "untested/transport/eu-central-1",
        "skip",
        "not_tested",
    );
    mentions(untested, "detail", &["--transport-url"]);
}

/// A second session host whose server refuses every upgrade with 403, as AWS does for an expired
/// or used session URL.
const EXPIRED: &str = "old456.transport.connect.eu-central-1.amazonaws.com";
const EXPIRED_V4: &str = "203.0.113.14";

/// Direct to the session hosts: the server answers 101 (the WebSocket passes, ready), and another
/// answers 403 through an untouched path (a warning naming the server: the path works).
fn softphone_transport_direct() {
    let mut w = with_transport();
    w.lab
        .net
        .aws
        .ip(&["addr", "add", &format!("{EXPIRED_V4}/32"), "dev", "lo"]);
    w.answer(EXPIRED, EXPIRED_V4);
    let pair = w.ca.leaf(w.lab.dir.path(), "expired", &[EXPIRED], false);
    let mut site = Site::new(&[EXPIRED_V4], &pair);
    site.status = 403;
    w.sites.push(site);
    w.start();
    let good = url();
    let (code, report) = w.check(&["--transport-url", &good]);
    w.lab.keep_if_asked("softphone_transport_direct");
    verdict(&report, code, "ready", 0);
    let ws = expect(
        &report,
        &format!("websocket/{TRANSPORT}:443/"),
        "pass",
        "ok",
    );
    assert_eq!(ws["evidence"]["status"], 101, "{ws:#}");
    host_passes(&report, TRANSPORT);
    never_shows_the_secret(&report);

    let expired = format!("wss://{EXPIRED}/?{SECRET}");
    let (code, report) = w.check(&["--transport-url", &expired]);
    verdict(&report, code, "degraded", 1);
    expect(&report, &format!("tls/{EXPIRED}:443"), "pass", "ok");
    let ws = expect(
        &report,
        &format!("websocket/{EXPIRED}:443/"),
        "warn",
        "websocket_rejected",
    );
    assert_eq!(ws["evidence"]["status"], 403, "{ws:#}");
    assert_eq!(ws["evidence"]["rejected_by"], "the server", "{ws:#}");
    never_shows_the_secret(&report);
}
