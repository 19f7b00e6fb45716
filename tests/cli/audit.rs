//! `audit` against realistic exports in `tests/data/allowlists/`. Fully offline.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/allowlists")
        .join(name)
}

/// The binary with no user profile, cache or environment settings leaking in.
fn bin(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("connect-preflight").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("NO_COLOR", "1")
        .current_dir(home);
    cmd
}

fn audit(home: &Path) -> Command {
    let mut cmd = bin(home);
    cmd.args([
        "-q",
        "audit",
        "--region",
        "eu-central-1",
        "--instance",
        "acme",
    ]);
    cmd
}

fn json_of(output: &[u8]) -> Value {
    serde_json::from_slice(output).unwrap()
}

fn checks_with<'a>(report: &'a Value, reason: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"] == reason)
        .collect()
}

#[test]
fn endpoints_output_round_trips_to_a_clean_audit() {
    let home = tempfile::tempdir().unwrap();
    for (format, flag) in [
        ("cidrs", "--cidrs"),
        ("domains", "--domains"),
        ("csv", "--cidrs"),
    ] {
        let listing = bin(home.path())
            .args([
                "-q",
                "endpoints",
                "-r",
                "eu-central-1",
                "-i",
                "acme",
                "--stateless",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(listing.status.success());
        let file = home.path().join(format!("list.{format}"));
        std::fs::write(&file, &listing.stdout).unwrap();
        let out = audit(home.path())
            .args(["--stateless", flag])
            .arg(&file)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let report = json_of(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{format}: {report:#}");
        assert_eq!(report["verdict"], "ready");
        assert!(report.get("fixes").is_none(), "{format}");
    }
}

#[test]
fn a_plain_list_with_gaps_says_what_to_add() {
    let home = tempfile::tempdir().unwrap();
    let list = data("web-gateway-bypass.txt");
    let out = audit(home.path())
        .arg("--domains")
        .arg(&list)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out.stdout);
    assert_eq!(report["command"], "audit");
    assert_eq!(
        report["fixes"]["domains"],
        serde_json::json!([
            "*.static.connect.aws",
            "*.apps.signin.aws",
            "*.signin.aws",
            "*.threat-mitigation.aws.amazon.com",
            "*.s3.dualstack.us-east-1.amazonaws.com",
            "*.s3.dualstack.us-west-2.amazonaws.com",
            "*.s3.dualstack.eu-central-1.amazonaws.com",
            "*.transport.connect.eu-central-1.amazonaws.com"
        ])
    );
    let missing = checks_with(&report, "missing_domain");
    assert_eq!(missing.len(), 8);
    assert!(
        missing[7]["detail"]
            .as_str()
            .unwrap()
            .contains("web-gateway-bypass.txt:9")
    );
    let stale: Vec<&str> = checks_with(&report, "stale_entry")
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(stale.len(), 2, "{stale:?}");
    assert!(stale[0].ends_with("web-gateway-bypass.txt:11:1/legacy"));
    assert!(stale[1].ends_with("web-gateway-bypass.txt:12:1/stale"));
    // The TURN host was written in mixed case with a root dot: still a match.
    let turn = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["id"]
                .as_str()
                .unwrap()
                .starts_with("allowlist/domain/turn/")
        })
        .unwrap();
    assert_eq!(turn["status"], "pass");
    assert!(
        turn["evidence"]["covered_by"][0]
            .as_str()
            .unwrap()
            .contains("web-gateway-bypass.txt:10")
    );

    // Text ends with the lines to paste.
    audit(home.path())
        .arg("--domains")
        .arg(&list)
        .assert()
        .code(2)
        .stdout(predicate::str::ends_with(format!(
            "What to add to {} (paste as is):\n*.static.connect.aws\n*.apps.signin.aws\n*.signin.aws\n\
             *.threat-mitigation.aws.amazon.com\n*.s3.dualstack.us-east-1.amazonaws.com\n\
             *.s3.dualstack.us-west-2.amazonaws.com\n*.s3.dualstack.eu-central-1.amazonaws.com\n\
             *.transport.connect.eu-central-1.amazonaws.com\n",
            list.display()
        )));
}

#[test]
fn squid_fix_output_adds_an_allow_line_before_the_deny_and_leaves_the_input_alone() {
    let home = tempfile::tempdir().unwrap();
    let conf = data("squid.conf");
    let before = std::fs::read_to_string(&conf).unwrap();
    let fixed = home.path().join("squid.fixed.conf");
    audit(home.path())
        .arg("--domains")
        .arg(&conf)
        .args(["--from", "10.20.0.0/16", "--fix-output"])
        .arg(&fixed)
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "squid denies CONNECT *.transport.connect.eu-central-1.amazonaws.com:443",
        ))
        .stdout(predicate::str::contains(
            "squid.conf:19: http_access deny all decides",
        ))
        // Media is never a proxy's business.
        .stdout(predicate::str::contains("media, which no proxy carries"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), before);
    let after = std::fs::read_to_string(&fixed).unwrap();
    let deny_all = before.find("http_access deny all").unwrap();
    assert!(after.starts_with(&before[..deny_all]));
    assert!(after.ends_with(&before[deny_all..]));
    assert!(after.contains(
        "acl connect_preflight dstdomain .signin.aws .threat-mitigation.aws.amazon.com \
         .s3.dualstack.us-east-1.amazonaws.com .s3.dualstack.us-west-2.amazonaws.com \
         .s3.dualstack.eu-central-1.amazonaws.com .transport.connect.eu-central-1.amazonaws.com\n\
         acl connect_preflight_port port 443\nacl connect_preflight_connect method CONNECT\n\
         acl connect_preflight_agents src 10.20.0.0/16\n\
         http_access allow connect_preflight_connect connect_preflight_port connect_preflight connect_preflight_agents\n\
         http_access deny all"
    ), "{after}");
    // The fixed copy, next to the included file, audits clean for those agents.
    let beside = home.path().join("connect-domains.txt");
    std::fs::copy(data("connect-domains.txt"), beside).unwrap();
    audit(home.path())
        .arg("--domains")
        .arg(&fixed)
        .args(["--from", "10.20.0.0/16"])
        .assert()
        .code(0);
    // Agents elsewhere are refused by the file; without --from the answer depends on them.
    audit(home.path())
        .arg("--domains")
        .arg(&conf)
        .args(["--from", "192.0.2.0/24"])
        .assert()
        .code(2);
    audit(home.path())
        .arg("--domains")
        .arg(&fixed)
        .args(["--format", "json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"reason\": \"undetermined\""))
        .stdout(predicate::str::contains(
            "give --from with the agents' addresses",
        ));
}

#[test]
fn a_squid_acl_file_that_is_not_there_leaves_its_requirements_undetermined() {
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("squid.conf");
    std::fs::write(
        &conf,
        "acl connect dstdomain \"/nonexistent/connect.txt\"\nacl blocked dstdomain .facebook.com .de\n\
         http_access deny blocked\nhttp_access allow connect\nhttp_access deny all\n",
    )
    .unwrap();
    let out = audit(home.path())
        .arg("--domains")
        .arg(&conf)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json_of(&out.stdout);
    let checks = report["checks"].as_array().unwrap();
    let tcp: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| {
            c["id"].as_str().unwrap().starts_with("allowlist/domain/") && c["proto"] == "tcp"
        })
        .collect();
    assert!(!tcp.is_empty());
    for c in &tcp {
        assert_eq!(c["reason"], "undetermined", "{c}");
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .contains("/nonexistent/connect.txt"),
            "{c}"
        );
    }
    // The ACL of blocked sites is no allow-list: no advice about its entries.
    assert!(
        !checks
            .iter()
            .any(|c| c["detail"].as_str().unwrap().contains(".de`"))
    );
}

#[test]
fn iptables_dump_is_walked_as_the_kernel_walks_it_and_fixed_before_commit() {
    let home = tempfile::tempdir().unwrap();
    let dump = data("iptables-save.rules");
    let fixed = home.path().join("rules.v4");
    let out = audit(home.path())
        .arg("--cidrs")
        .arg(&dump)
        .args(["--format", "json", "--fix-output"])
        .arg(&fixed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out.stdout);
    let media = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "allowlist/cidr/connect-media/eu-central-1/udp/3478")
        .unwrap();
    // 35.158.127.64/26 is accepted on tcp/443 only: UDP to it falls to the OUTPUT policy.
    assert_eq!(media["reason"], "partial_cidr");
    assert_eq!(
        media["evidence"]["missing"],
        serde_json::json!(["35.158.127.64/26"])
    );
    assert!(
        media["evidence"]["blocked_by"][0]
            .as_str()
            .unwrap()
            .contains("iptables-save.rules:13: policy drop"),
        "{media:#}"
    );
    // An iptables-save file says nothing of IPv6: undetermined, not missing.
    assert_eq!(
        media["evidence"]["undetermined_family"],
        serde_json::json!(["2600:f0f2:7100::/40"])
    );
    assert!(
        checks_with(&report, "undetermined")
            .iter()
            .any(|c| c["id"] == "allowlist/cidr/family/ipv6")
    );
    let text = std::fs::read_to_string(&fixed).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let commit = lines.iter().rposition(|l| *l == "COMMIT").unwrap();
    assert_eq!(
        lines[commit - 1],
        "-A OUTPUT -d 35.158.127.64/26 -p udp -m udp --dport 3478 -m comment --comment \"Amazon Connect\" -j ACCEPT"
    );
    assert_eq!(
        lines.last(),
        Some(&"# Completed on Tue Oct 14 09:12:44 2026")
    );
    // The fixed dump passes its own audit.
    let out = audit(home.path())
        .arg("--cidrs")
        .arg(&fixed)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn nft_ruleset_with_sets_passes_when_every_packet_is_accepted() {
    let home = tempfile::tempdir().unwrap();
    let out = audit(home.path())
        .arg("--cidrs")
        .arg(data("nft.ruleset"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out.stdout);
    assert_eq!(report["verdict"], "ready");
    let media = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "allowlist/cidr/connect-media/eu-central-1/udp/3478")
        .unwrap();
    assert_eq!(media["status"], "pass");
    assert_eq!(media["evidence"]["hook"], "output");
}

#[test]
fn security_groups_get_an_authorize_command_and_a_fixed_json() {
    let home = tempfile::tempdir().unwrap();
    let sg = data("security-groups.json");
    let fixed = home.path().join("sg.json");
    audit(home.path())
        .arg("--cidrs")
        .arg(&sg)
        .arg("--fix-output")
        .arg(&fixed)
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "aws ec2 authorize-security-group-egress --group-id sg-0a1b2c3d4e5f67890 --ip-permissions '[{\"FromPort\":3478",
        ))
        .stdout(predicate::str::contains("`0.0.0.0/0` at ").and(predicate::str::contains("security-groups.json:45 opens every address")));
    // With the additions, only the over-broad warnings remain.
    audit(home.path())
        .arg("--cidrs")
        .arg(&fixed)
        .assert()
        .code(1);
}

#[test]
fn csv_output_has_one_row_per_check() {
    let home = tempfile::tempdir().unwrap();
    let json = audit(home.path())
        .arg("--cidrs")
        .arg(data("firewall-export.csv"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report = json_of(&json.stdout);
    let out = audit(home.path())
        .arg("--cidrs")
        .arg(data("firewall-export.csv"))
        .args(["--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id", "kind", "status", "reason", "host", "proto", "port", "detail", "remedy",
            "evidence"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), report["checks"].as_array().unwrap().len());
    // The row about the catalog in use aside, one row per finding.
    let rows: Vec<csv::StringRecord> = rows
        .into_iter()
        .filter(|r| &r[0] != "catalog/provenance")
        .collect();
    assert_eq!(
        &rows[0][0],
        "allowlist/cidr/connect-media/eu-central-1/udp/3478"
    );
    assert_eq!(&rows[0][2], "pass");
    assert_eq!(&rows[1][3], "partial_cidr");
}

#[test]
fn a_bad_line_is_exit_65_with_its_place_unless_lenient() {
    let home = tempfile::tempdir().unwrap();
    let list = home.path().join("fw.txt");
    std::fs::write(
        &list,
        "15.193.0.0/19 udp/3478\n  15.193.300.0/24 udp/3478\n",
    )
    .unwrap();
    audit(home.path())
        .arg("--cidrs")
        .arg(&list)
        .assert()
        .code(65)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "{}:2:3: cannot read \"15.193.300.0/24\": expected an address, a CIDR",
            list.display()
        )));
    let out = audit(home.path())
        .arg("--cidrs")
        .arg(&list)
        .args(["--lenient", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out.stdout);
    let skipped = checks_with(&report, "skipped_entry");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["status"], "warn");
    assert_eq!(
        skipped[0]["evidence"]["line"],
        format!("{}:2", list.display())
    );
}

#[test]
fn binary_files_and_missing_lists_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let blob = home.path().join("blob.bin");
    std::fs::write(&blob, b"\x7fELF\x02\x01\x01\0\0\0").unwrap();
    audit(home.path())
        .arg("--domains")
        .arg(&blob)
        .assert()
        .code(65)
        .stderr(predicate::str::contains("binary file"));
    audit(home.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("--domains FILE"));
    audit(home.path())
        .arg("--cidrs")
        .arg(home.path().join("absent.txt"))
        .assert()
        .code(65);
    // The list audited is never the --fix-output target.
    let list = home.path().join("d.txt");
    std::fs::write(&list, "acme.my.connect.aws\n").unwrap();
    audit(home.path())
        .arg("--domains")
        .arg(&list)
        .arg("--fix-output")
        .arg(&list)
        .assert()
        .code(64);
    assert_eq!(
        std::fs::read_to_string(&list).unwrap(),
        "acme.my.connect.aws\n"
    );
}

#[test]
fn the_profile_names_the_lists_when_flags_do_not() {
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(data("nft.ruleset"), home.path().join("fw.nft")).unwrap();
    let profile = home.path().join("site.toml");
    std::fs::write(
        &profile,
        "region = \"eu-central-1\"\ninstance = \"acme\"\ncidrs = \"fw.nft\"\n",
    )
    .unwrap();
    bin(home.path())
        .arg("--profile")
        .arg(&profile)
        .args(["-q", "audit", "--cidrs-format", "nft"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("READY"));
}

#[test]
fn a_pac_script_says_direct_or_proxy_per_host_without_dns() {
    let home = tempfile::tempdir().unwrap();
    let out = audit(home.path())
        .arg("--domains")
        .arg(data("proxy.pac"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    // Its proxies are documentation names (cc.example.net), which never resolve.
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out.stdout);
    let check = |report: &serde_json::Value, id: &str| -> serde_json::Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    let instance = check(&report, "allowlist/pac/instance/eu-central-1");
    assert_eq!(instance["evidence"]["pac_result"], "DIRECT");
    assert_eq!(instance["status"], "pass");
    let participant = check(&report, "allowlist/pac/participant/eu-central-1");
    assert_eq!(
        participant["evidence"]["pac_result"],
        "PROXY proxy01.cc.example.net:3128; PROXY proxy02.cc.example.net:3128"
    );
    assert_eq!(participant["status"], "fail");
    assert_eq!(participant["reason"], "unusable_proxy");
    // A real proxy decides for itself: not ready to call, so degraded.
    let pac = home.path().join("real.pac");
    std::fs::write(
        &pac,
        "function FindProxyForURL(url, host) {\n  if (shExpMatch(host, \"*.my.connect.aws\")) return \"DIRECT\";\n  return \"PROXY proxy01.acme-corp.net:3128; DIRECT\";\n}\n",
    )
    .unwrap();
    let out = audit(home.path())
        .arg("--domains")
        .arg(&pac)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out.stdout);
    let participant = check(&report, "allowlist/pac/participant/eu-central-1");
    assert_eq!(participant["status"], "warn");
    assert_eq!(participant["reason"], "decided_by_proxy");
    // A black hole for everything, or a template never filled in: the browser cannot reach.
    for answer in [
        "PROXY 0.0.0.0:3128",
        "PROXY ${PROXY_HOST}:${PROXY_PORT}",
        "PROXY 127.0.0.1:9",
    ] {
        std::fs::write(
            &pac,
            format!("function FindProxyForURL(url, host) {{ return \"{answer}\"; }}\n"),
        )
        .unwrap();
        let out = audit(home.path())
            .arg("--domains")
            .arg(&pac)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{answer}");
        let report = json_of(&out.stdout);
        let instance = check(&report, "allowlist/pac/instance/eu-central-1");
        assert_eq!(instance["reason"], "unusable_proxy", "{answer}");
    }
    audit(home.path())
        .arg("--domains")
        .arg(data("proxy.pac"))
        .arg("--fix-output")
        .arg(home.path().join("x.pac"))
        .assert()
        .code(64);
    let broken = home.path().join("broken.pac");
    std::fs::write(
        &broken,
        "function FindProxyForURL(url, host) {\n  return \"DIRECT\"\n  if (\n}\n",
    )
    .unwrap();
    audit(home.path())
        .arg("--domains")
        .arg(&broken)
        .assert()
        .code(65)
        .stderr(predicate::str::contains(format!("{}:4", broken.display())));
}

#[test]
fn html_and_junit_reports_carry_the_findings() {
    let home = tempfile::tempdir().unwrap();
    audit(home.path())
        .arg("--domains")
        .arg(data("web-gateway-bypass.txt"))
        .args(["--format", "junit"])
        .assert()
        .code(2)
        .stdout(predicate::str::starts_with("<?xml"))
        .stdout(predicate::str::contains("missing_domain"));
    audit(home.path())
        .arg("--domains")
        .arg(data("web-gateway-bypass.txt"))
        .args(["--format", "html"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("*.static.connect.aws"));
}
