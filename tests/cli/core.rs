//! `endpoints` and `ranges`: the offline commands, their outputs, errors and exit codes.

use std::io::{Read, Write};
use std::net::TcpListener;

use predicates::prelude::*;
use predicates::str::contains;

use crate::common::{Sandbox, newer_snapshot, repo_file, today};

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn help_and_version_succeed_and_unknown_flags_are_usage_errors() {
    let s = Sandbox::new();
    s.cmd()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(contains("endpoints"))
        .stdout(contains("ranges"));
    s.cmd()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(contains(env!("CARGO_PKG_VERSION")));
    s.cmd().args(["endpoints", "--bogus"]).assert().code(64);
    s.cmd().assert().code(64);
}

#[test]
fn domains_format_is_one_pasteable_entry_a_line() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args([
            "endpoints",
            "-r",
            "eu-central-1",
            "-i",
            "https://acme.my.connect.aws/ccp-v2/",
            "-f",
            "domains",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout_of(&out),
        "acme.my.connect.aws\n*.static.connect.aws\n*.cloudfront.net\n*.apps.signin.aws\n*.signin.aws\n\
         *.threat-mitigation.aws.amazon.com\n*.s3.dualstack.us-east-1.amazonaws.com\n\
         *.s3.dualstack.us-west-2.amazonaws.com\n*.s3.dualstack.eu-central-1.amazonaws.com\n\
         *.telemetry.connect.eu-central-1.amazonaws.com\n\
         participant.connect.eu-central-1.amazonaws.com\n*.transport.connect.eu-central-1.amazonaws.com\n\
         turnnlb-*.elb.eu-central-1.amazonaws.com\n"
    );
}

#[test]
fn cidrs_format_is_minimal_per_port() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(["endpoints", "-r", "us-east-1", "-f", "cidrs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout_of(&out);
    let udp: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.ends_with(" udp/3478"))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    // AMAZON_CONNECT GLOBAL and us-east-1: the /19 swallows the Region's /24; the legacy /27 stays.
    assert_eq!(
        udp,
        ["15.193.0.0/19", "52.55.191.224/27", "2600:f0f2:7100::/40"]
    );
    let tcp: Vec<ipnet::IpNet> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.ends_with(" tcp/443"))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(tcp.len() > 100, "{} CIDRs", tcp.len());
    // Minimal: sorted, no overlap, no two mergeable neighbours.
    let v4: Vec<ipnet::Ipv4Net> = tcp
        .iter()
        .filter_map(|n| {
            if let ipnet::IpNet::V4(n) = n {
                Some(*n)
            } else {
                None
            }
        })
        .collect();
    for w in v4.windows(2) {
        assert!(
            u32::from(w[0].broadcast()) < u32::from(w[1].network()),
            "{} then {}",
            w[0],
            w[1]
        );
        assert!(
            w[0].supernet() != w[1].supernet()
                || w[0].prefix_len() != w[1].prefix_len()
                || w[0] == w[1],
            "{} and {} merge",
            w[0],
            w[1]
        );
    }
    assert!(
        text.starts_with(
            "# outbound to EC2 us-east-1; CLOUDFRONT all Regions; S3 us-east-1 + us-west-2 on tcp/443\n"
        ),
        "{}",
        &text[..80]
    );
}

#[test]
fn stateless_adds_the_inbound_return_rules() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(["endpoints", "-r", "eu-west-2", "--stateless", "-f", "cidrs"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains("15.193.0.0/19 udp/49152-65535 inbound\n"),
        "{text}"
    );
    assert!(
        text.contains("15.193.0.0/19 udp/32768-61000 inbound\n"),
        "{text}"
    );
}

#[test]
fn json_and_csv_carry_sources_and_purposes() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args([
            "endpoints",
            "-r",
            "ap-southeast-2",
            "--with",
            "saml,video",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "connect-preflight/endpoints/v1");
    assert_eq!(json["ranges"]["sync_token"], "1787433425");
    let domains = json["domains"].as_array().unwrap();
    assert!(
        domains
            .iter()
            .all(|d| d["source"].as_str().unwrap().starts_with("https://")
                && !d["purpose"].as_str().unwrap().is_empty())
    );
    assert!(domains.iter().any(|d| d["host"] == "*.chime.aws"));
    assert!(
        domains
            .iter()
            .any(|d| d["host"] == "ap-southeast-2.signin.aws.amazon.com")
    );
    let chime = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "CHIME_MEETINGS")
        .unwrap();
    assert_eq!(chime["cidrs"][0], "99.77.128.0/18");

    let out = s
        .cmd()
        .args(["endpoints", "-r", "ap-southeast-2", "-f", "csv"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("kind,entry,proto,ports,direction,region,group,purpose,source")
    );
    assert!(text.contains(
        "domain,turnnlb-*.elb.ap-southeast-2.amazonaws.com,udp,3478,outbound,ap-southeast-2,core,"
    ));
    assert!(text.contains("cidr,15.193.0.0/19,udp,3478,outbound,ap-southeast-2,core,"));
}

#[test]
fn unknown_or_missing_region_is_a_usage_error_listing_regions() {
    let s = Sandbox::new();
    s.cmd()
        .args(["endpoints", "-r", "eu-central-9"])
        .assert()
        .code(64)
        .stderr(contains("unknown Region \"eu-central-9\""))
        .stderr(contains("us-gov-west-1"));
    s.cmd()
        .args(["endpoints"])
        .assert()
        .code(64)
        .stderr(contains("--region"));
    s.cmd()
        .args(["endpoints", "-r", "us-east-1", "-i", "acme.example.com"])
        .assert()
        .code(64)
        .stderr(contains(".my.connect.aws"));
}

#[test]
fn region_can_come_from_the_environment_or_a_profile() {
    let s = Sandbox::new();
    s.cmd()
        .args(["endpoints", "-f", "domains"])
        .env("CONNECT_PREFLIGHT_REGION", "ca-central-1")
        .assert()
        .code(0)
        .stdout(contains("participant.connect.ca-central-1.amazonaws.com"));
    let profile = s.write(
        "site.toml",
        "site = \"Leeds\"\nregion = \"eu-west-2\"\ninstance = \"leeds-cc\"\n",
    );
    s.cmd()
        .args([
            "--profile",
            profile.to_str().unwrap(),
            "endpoints",
            "-f",
            "domains",
        ])
        .assert()
        .code(0)
        .stdout(contains("leeds-cc.my.connect.aws\n"));
    // A profile in the user's config folder is found without --profile.
    std::fs::create_dir_all(s.path("config/connect-preflight")).unwrap();
    std::fs::copy(&profile, s.path("config/connect-preflight/profile.toml")).unwrap();
    s.cmd()
        .args(["endpoints", "-f", "domains"])
        .assert()
        .code(0)
        .stdout(contains("leeds-cc.my.connect.aws\n"));
}

#[test]
fn a_bad_profile_is_bad_input_naming_line_and_column() {
    let s = Sandbox::new();
    let profile = s.write(
        "site.toml",
        "region = \"eu-west-2\"\nwith = [\"saml\", \"telepathy\"]\n",
    );
    s.cmd()
        .args(["--profile", profile.to_str().unwrap(), "endpoints"])
        .assert()
        .code(65)
        .stderr(
            predicate::str::is_match(
                r"site\.toml:2:\d+: in the site profile: unknown variant `telepathy`",
            )
            .unwrap(),
        );
    s.cmd()
        .args(["--profile", "missing.toml", "endpoints"])
        .assert()
        .code(65)
        .stderr(contains("missing.toml"));
}

#[test]
fn a_malformed_ranges_file_is_bad_input_and_leaves_no_output_file() {
    let s = Sandbox::new();
    let bad = s.write("ranges.json", "{\n  \"syncToken\": \"1\",\n  \"createDate\": \"2026-08-22-21-17-05\",\n  \"prefixes\": [\n    {\"ip_prefix\": \"15.193.0.0/33\", \"region\": \"GLOBAL\", \"service\": \"AMAZON\", \"network_border_group\": \"GLOBAL\"}\n  ],\n  \"ipv6_prefixes\": []\n}\n");
    let out = s.path("out.txt");
    s.cmd()
        .args(["--ip-ranges", bad.to_str().unwrap(), "--output", out.to_str().unwrap(), "endpoints", "-r", "eu-west-2"])
        .assert()
        .code(65)
        .stderr(predicate::str::is_match(r"ranges\.json:5:\d+: not a valid ip-ranges\.json: prefix length of .15\.193\.0\.0/33. is not 0 to 32").unwrap());
    assert!(!out.exists());
    let truncated = s.write("cut.json", "{\"syncToken\": \"1\", \"prefixes\": [");
    s.cmd()
        .args(["--ip-ranges", truncated.to_str().unwrap(), "ranges", "info"])
        .assert()
        .code(65)
        .stderr(contains("cut.json:1:"));
}

#[test]
fn output_files_are_written_whole_or_not_at_all() {
    let s = Sandbox::new();
    let out = s.path("domains.txt");
    s.cmd()
        .args([
            "-o",
            out.to_str().unwrap(),
            "endpoints",
            "-r",
            "eu-west-2",
            "-f",
            "domains",
        ])
        .assert()
        .code(0)
        .stdout("");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("participant.connect.eu-west-2.amazonaws.com")
    );
    let nowhere = s.path("no/such/folder/out.txt");
    s.cmd()
        .args([
            "-o",
            nowhere.to_str().unwrap(),
            "endpoints",
            "-r",
            "eu-west-2",
        ])
        .assert()
        .code(70)
        .stderr(contains("writing"));
    assert!(!nowhere.exists());
}

#[test]
fn ranges_info_warns_when_the_snapshot_is_past_the_notice_window() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(["ranges", "info", "-f", "json"])
        .output()
        .unwrap();
    // The embedded copy is from 2026-08-22; tests run after its 30-day window closed.
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "connect-preflight/report/v1");
    assert_eq!(json["verdict"], "degraded");
    assert_eq!(json["checks"][0]["reason"], "snapshot_stale");
    assert_eq!(json["checks"][0]["evidence"]["ipv4_prefixes"], 10_666);
    assert_eq!(json["ranges"]["source"], "embedded");

    let fresh = s.write("fresh.json", &newer_snapshot(1_999_999_999, &today()));
    let out = s
        .cmd()
        .args([
            "--ip-ranges",
            fresh.to_str().unwrap(),
            "ranges",
            "info",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            json["checks"][0]["reason"].as_str(),
            json["ranges"]["source"].as_str()
        ),
        (Some("ok"), Some("file"))
    );
}

#[test]
fn lookup_names_every_containing_prefix_and_connect_use() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args([
            "ranges",
            "lookup",
            "15.193.4.10",
            "192.0.2.1",
            "-r",
            "eu-central-1",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &json[0];
    let prefixes: Vec<&str> = first["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        [
            "15.193.4.0/24",
            "15.193.4.0/24",
            "15.193.4.0/24",
            "15.193.0.0/19",
            "15.193.0.0/19"
        ]
    );
    assert!(
        first["matches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["service"] == "AMAZON_CONNECT" && m["region"] == "eu-central-1")
    );
    assert_eq!(
        first["connect"][0],
        "udp/3478 AMAZON_CONNECT GLOBAL + eu-central-1"
    );
    assert_eq!(json[1]["matches"], serde_json::json!([]));
    assert_eq!(json[1]["connect"], serde_json::json!([]));
}

#[test]
fn lookup_reads_files_and_stdin_and_names_bad_lines() {
    let s = Sandbox::new();
    let list = s.write(
        "addrs.txt",
        "# from the proxy log\n52.55.191.230\n2600:f0f2:7101::9\n",
    );
    let out = s
        .cmd()
        .args([
            "ranges",
            "lookup",
            "--file",
            list.to_str().unwrap(),
            "-f",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout_of(&out);
    assert!(text.starts_with("address,prefix,service,region,network_border_group,connect\n"));
    assert!(
        text.contains("52.55.191.230,52.55.191.224/27,AMAZON_CONNECT,us-east-1,us-east-1,\n"),
        "{text}"
    );
    s.cmd()
        .args(["ranges", "lookup", "--file", "-"])
        .write_stdin("2600:f0f2:7101::9\n")
        .assert()
        .code(0)
        .stdout(contains("2600:f0f2:7101::/48"));
    // Streamed: a bad line stops the run; --output then writes no file at all.
    let bad = s.write("bad.txt", "15.193.4.10\n\n999.1.1.1\n");
    let out = s.path("out.csv");
    s.cmd()
        .args([
            "-o",
            out.to_str().unwrap(),
            "ranges",
            "lookup",
            "--file",
            bad.to_str().unwrap(),
        ])
        .assert()
        .code(65)
        .stderr(contains(
            "bad.txt:3:1: expected an IPv4 or IPv6 address, found \"999.1.1.1\"",
        ));
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with(".connect-preflight-")),
        "{left:?}"
    );
    s.cmd()
        .args(["ranges", "lookup", "15.193.4.300"])
        .assert()
        .code(64)
        .stderr(contains("15.193.4.300"));
    s.cmd().args(["ranges", "lookup"]).assert().code(64);
}

#[test]
fn diff_of_the_two_real_snapshots_for_a_region() {
    let s = Sandbox::new();
    let old = repo_file("tests/data/ip-ranges-2026-06-25.json");
    let new = repo_file("ranges/ip-ranges.json");
    let out = s
        .cmd()
        .args([
            "ranges",
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "-r",
            "eu-central-1",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rule = |id: &str| {
        json["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        rule("connect-media/eu-central-1")["add"],
        serde_json::json!([])
    );
    let ec2_add = rule("ec2-api/eu-central-1")["add"].clone();
    assert!(
        ec2_add
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("51.0.64.0/18")),
        "{ec2_add}"
    );
    assert!(
        rule("ec2-api/eu-central-1")["remove"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("35.96.48.0/21"))
    );
    // Only entries the Region's rules use are listed.
    for e in json["added"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["removed"].as_array().unwrap())
    {
        let ok = (e["service"] == "EC2" && e["region"] == "eu-central-1")
            || (e["service"] == "S3"
                && ["us-east-1", "us-west-2", "eu-central-1"]
                    .contains(&e["region"].as_str().unwrap()))
            || e["service"] == "CLOUDFRONT"
            || e["service"] == "AMAZON_CONNECT";
        assert!(ok, "{e}");
    }
    let out = s
        .cmd()
        .args([
            "ranges",
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(stdout_of(&out).contains("Entries: 930 added, 330 removed"));
}

#[test]
fn update_from_a_file_caches_a_newer_copy_that_later_commands_use() {
    let s = Sandbox::new();
    let newer = s.write(
        "newer.json",
        &newer_snapshot(1_799_999_999, "2026-09-01-00-00-00"),
    );
    s.cmd()
        .args(["ranges", "update", "--from", newer.to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(contains(
            "cached the IP ranges published 2026-09-01-00-00-00",
        ));
    let cached = s.cache_dir().join("ip-ranges.json");
    assert_eq!(
        std::fs::read_to_string(&cached).unwrap(),
        std::fs::read_to_string(&newer).unwrap()
    );
    let out = s
        .cmd()
        .args(["ranges", "info", "-f", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ranges"]["source"], "cache");
    assert_eq!(json["ranges"]["sync_token"], "1799999999");
    s.cmd()
        .args(["ranges", "lookup", "15.193.12.1"])
        .assert()
        .code(0)
        .stdout(contains("15.193.12.0/24"));
    // The same copy again changes nothing; an older one is refused and the cache is untouched.
    s.cmd()
        .args(["ranges", "update", "--from", newer.to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(contains("already up to date"));
    let old = repo_file("tests/data/ip-ranges-2026-06-25.json");
    s.cmd()
        .args(["ranges", "update", "--from", old.to_str().unwrap()])
        .assert()
        .code(65)
        .stderr(contains("older than the snapshot in use"));
    assert_eq!(
        std::fs::read_to_string(&cached).unwrap(),
        std::fs::read_to_string(&newer).unwrap()
    );
    // A corrupt cache is ignored with a warning, never fatal.
    std::fs::write(&cached, "{").unwrap();
    s.cmd()
        .args(["ranges", "info", "-f", "json"])
        .assert()
        .code(1)
        .stdout(contains("\"embedded\""))
        .stderr(contains("ignoring the cached IP ranges"));
}

#[test]
fn update_rejects_a_malformed_download_and_keeps_the_cache() {
    let s = Sandbox::new();
    let bad = s.write("bad.json", "{\"syncToken\": \"1899999999\", \"createDate\": \"2026-09-01-00-00-00\", \"prefixes\": [{\"ip_prefix\": \"nope\"}], \"ipv6_prefixes\": []}");
    s.cmd()
        .args(["ranges", "update", "--from", bad.to_str().unwrap()])
        .assert()
        .code(65)
        .stderr(contains("bad.json:1:"));
    assert!(!s.cache_dir().join("ip-ranges.json").exists());
}

/// Serves `body` once over HTTP on loopback, answering `status`.
fn serve_once(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    format!("http://{addr}/ip-ranges.json")
}

#[test]
fn update_downloads_over_http() {
    let s = Sandbox::new();
    let url = serve_once(
        "200 OK",
        newer_snapshot(1_800_000_000, "2026-09-02-00-00-00"),
    );
    s.cmd()
        .args(["ranges", "update", "--from", &url])
        .assert()
        .code(0)
        .stdout(contains("syncToken 1800000000"))
        .stderr(contains("plain HTTP"));
    assert!(s.cache_dir().join("ip-ranges.json").exists());
    let url = serve_once("404 Not Found", "gone".to_owned());
    s.cmd()
        .args(["ranges", "update", "--from", &url])
        .assert()
        .code(70)
        .stderr(contains("404"));
}
