//! The 2026 sign-in in the lab: its hosts served under their wildcards by the lab's resolver
//! (dnsmasq answers every name below `signin.aws`, `threat-mitigation.aws.amazon.com` and
//! `s3.dualstack.us-east-1.amazonaws.com`) and by one TLS front end with a wildcard certificate;
//! the check probes the concrete names the catalog gives for them, through the proxy.

use crate::net;
use crate::scenarios::{
    CATALOG, INSTANCE, Scenario, World, expect, find, host_passes, mentions, verdict,
};
use crate::servers::Site;

pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "signin_proxy_allows",
        run: signin_proxy_allows,
    },
    Scenario {
        name: "signin_proxy_lacks",
        run: signin_proxy_lacks,
    },
];

/// The address of the sign-in front end (inside the lab's EC2 range, as AWS says EC2 covers
/// these hosts).
const SIGNIN_V4: &str = "203.0.113.13";
const OAUTH: &str = "us-east-1.oauth.signin.aws";
const THREAT: &str = "us-east-1.threat-mitigation.aws.amazon.com";
const BUCKET: &str = "amcs-captcha-prod-us-east-1.s3.dualstack.us-east-1.amazonaws.com";

/// The sign-in entries as the built-in catalog writes them, with its probes.
const SIGNIN_ENDPOINTS: &str = r#"
[[endpoint]]
id = "signin-apps"
group = "signin"
host = "*.apps.signin.aws"
ports = ["tcp/443"]
purpose = "The 2026 sign-in experience"
source = "lab"

[[endpoint]]
id = "signin"
group = "signin"
host = "*.signin.aws"
probe = "us-east-1.oauth.signin.aws"
ports = ["tcp/443"]
purpose = "The 2026 sign-in experience: AWS sign-in's own domain"
source = "lab"

[[endpoint]]
id = "threat-mitigation"
group = "signin"
host = "*.threat-mitigation.aws.amazon.com"
probe = "us-east-1.threat-mitigation.aws.amazon.com"
ports = ["tcp/443"]
purpose = "The 2026 sign-in experience: bot protection"
source = "lab"

[[endpoint]]
id = "signin-s3"
group = "signin"
host = "*.s3.dualstack.{region}.amazonaws.com"
regions = ["us-east-1"]
probe = "amcs-captcha-prod-us-east-1.s3.dualstack.us-east-1.amazonaws.com"
ports = ["tcp/443"]
purpose = "The 2026 sign-in experience: its S3 content"
source = "lab"
"#;

/// The healthy lab with the sign-in hosts: DNS for every name under each wildcard, and one TLS
/// server whose certificate names the wildcards.
fn world() -> World {
    let mut w = World::new();
    w.catalog = w
        .lab
        .write("catalog.toml", &format!("{CATALOG}{SIGNIN_ENDPOINTS}"));
    for suffix in [
        "signin.aws",
        "threat-mitigation.aws.amazon.com",
        "s3.dualstack.us-east-1.amazonaws.com",
    ] {
        w.answer(suffix, SIGNIN_V4);
    }
    let pair = w.ca.leaf(
        w.lab.dir.path(),
        "signin",
        &[
            "*.signin.aws",
            "*.oauth.signin.aws",
            "*.threat-mitigation.aws.amazon.com",
            "*.s3.dualstack.us-east-1.amazonaws.com",
        ],
        false,
    );
    w.sites.push(Site::new(&[SIGNIN_V4], &pair));
    w
}

/// Blocks direct HTTPS from the agent: only the proxy reaches the AWS side.
fn only_the_proxy(w: &mut World) -> String {
    w.lab.net.firewall(&[&format!(
        "ip saddr {} tcp dport 443 counter reject with tcp reset",
        net::AGENT_V4
    )]);
    format!("http://{}:3128", net::EDGE_OUTSIDE_V4)
}

const OLD_LIST: [&str; 5] = [
    INSTANCE,
    ".cloudfront.net",
    ".connect-telecom.eu-central-1.amazonaws.com",
    ".participant.connect.eu-central-1.amazonaws.com",
    "participant.connect.eu-central-1.amazonaws.com",
];

fn signin_proxy_allows() {
    let mut w = world();
    w.start();
    let mut allowed = OLD_LIST.to_vec();
    allowed.extend([
        ".signin.aws",
        ".threat-mitigation.aws.amazon.com",
        ".s3.dualstack.us-east-1.amazonaws.com",
    ]);
    allowed.retain(|e| *e != ".participant.connect.eu-central-1.amazonaws.com");
    w.lab.squid(&allowed, "");
    let proxy = only_the_proxy(&mut w);
    let (code, report) = w.check(&["--proxy", &proxy]);
    w.lab.keep_if_asked("signin_proxy_allows");
    // Every sign-in name resolves under its wildcard, passes TLS against the wildcard
    // certificate and answers HTTPS through the proxy.
    for host in [OAUTH, THREAT, BUCKET] {
        expect(&report, &format!("dns/{host}"), "pass", "ok");
        expect(&report, &format!("tls/{host}:443"), "pass", "ok");
        host_passes(&report, host);
        let tcp = find(&report, &format!("tcp/{host}:443"));
        mentions(tcp, "detail", &[&proxy]);
    }
    // The one wildcard without a known name is said to be untested, not passed.
    let untested = find(&report, "untested/signin-apps/eu-central-1");
    assert_eq!(untested["reason"], "not_tested", "{untested}");
    verdict(&report, code, "ready", 0);
}

fn signin_proxy_lacks() {
    let mut w = world();
    w.start();
    let mut allowed = OLD_LIST.to_vec();
    allowed.retain(|e| *e != ".participant.connect.eu-central-1.amazonaws.com");
    w.lab.squid(&allowed, "");
    let proxy = only_the_proxy(&mut w);
    let (code, report) = w.check(&["--proxy", &proxy]);
    w.lab.keep_if_asked("signin_proxy_lacks");
    verdict(&report, code, "not_ready", 2);
    // The CCP itself passes; the sign-in is refused, naming the line to add for each host.
    host_passes(&report, INSTANCE);
    for (host, entry) in [
        (OAUTH, "*.signin.aws"),
        (THREAT, "*.threat-mitigation.aws.amazon.com"),
        (BUCKET, "*.s3.dualstack.us-east-1.amazonaws.com"),
    ] {
        let tcp = expect(&report, &format!("tcp/{host}:443"), "fail", "proxy_denied");
        mentions(tcp, "detail", &[&proxy]);
        mentions(tcp, "remedy", &[entry]);
    }
    // With SAML, the same proxy is fine: the new sign-in is not used.
    let (code, report) = w.check(&["--proxy", &proxy, "--with", "saml"]);
    assert!(
        !report.to_string().contains(OAUTH),
        "the SAML check still probes the new sign-in"
    );
    verdict(&report, code, "ready", 0);
}
