//! `audit` of rulesets as the kernel walks them: the shapes that a list of allow entries gets
//! wrong, bad input, and fixes that the engines' own checkers accept. Offline; the checkers
//! (`iptables-restore --test`, `nft -c`) run where they are installed and root is available.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

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

/// Audits `text` (written to `name`) with `extra` options; the exit code and the report.
fn audit(home: &Path, name: &str, text: &str, extra: &[&str]) -> (i32, Value, String) {
    let path = home.join(name);
    std::fs::write(&path, text).unwrap();
    let out = bin(home)
        .args([
            "-q",
            "audit",
            "--region",
            "eu-central-1",
            "--format",
            "json",
            "--cidrs",
        ])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

const MEDIA: &str = "allowlist/cidr/connect-media/eu-central-1/udp/3478";

#[test]
fn a_drop_before_a_later_accept_stops_the_media() {
    let home = tempfile::tempdir().unwrap();
    let (code, report, _) = audit(
        home.path(),
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p udp --dport 3478 -j DROP\n-A OUTPUT -j ACCEPT\nCOMMIT\n",
        &[],
    );
    assert_eq!(code, 2);
    let media = check(&report, MEDIA);
    assert_eq!(media["reason"], "missing_cidr");
    assert!(media["detail"].as_str().unwrap().contains("rules.v4:5"));
}

#[test]
fn a_policy_accept_chain_ending_in_reject_blocks_and_a_user_chain_nothing_reaches_is_named() {
    let home = tempfile::tempdir().unwrap();
    let (code, report, _) = audit(
        home.path(),
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:connect - [0:0]\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A OUTPUT -j REJECT --reject-with icmp-port-unreachable\n-A connect -d 15.193.0.0/19 -p udp -m udp --dport 3478 -j ACCEPT\nCOMMIT\n",
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(check(&report, MEDIA)["reason"], "missing_cidr");
    let unreachable = check(&report, "allowlist/chain/ip/filter/connect");
    assert_eq!(unreachable["reason"], "unreachable_chain");
}

#[test]
fn jumps_gotos_returns_multiport_and_negation_are_followed() {
    let home = tempfile::tempdir().unwrap();
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n:media - [0:0]\n:web - [0:0]\n\
        -A OUTPUT -p udp -j media\n-A OUTPUT -p tcp -m multiport --dports 80,443 -g web\n\
        -A media ! -d 15.193.0.0/16 -j RETURN\n-A media -j ACCEPT\n-A web -j ACCEPT\nCOMMIT\n";
    let (_, report, _) = audit(home.path(), "rules.v4", rules, &[]);
    let media = check(&report, MEDIA);
    // Only 15.193.0.0/19 is inside 15.193.0.0/16: the rest of the media space returns to the
    // policy.
    assert_eq!(media["reason"], "partial_cidr");
    assert_eq!(
        media["evidence"]["missing"],
        serde_json::json!(["18.184.2.128/25", "35.158.127.64/26"])
    );
    assert_eq!(
        check(&report, "allowlist/cidr/ec2-api/eu-central-1/tcp/443")["status"],
        "pass"
    );
}

#[test]
fn an_ipv4_dump_leaves_ipv6_undetermined_and_an_empty_one_is_a_notice() {
    let home = tempfile::tempdir().unwrap();
    let (code, report, _) = audit(home.path(), "empty.v4", "", &["--cidrs-format", "iptables"]);
    assert_eq!(code, 0, "{report:#}");
    let empty = check(&report, "allowlist/cidr/empty");
    assert!(
        empty["detail"]
            .as_str()
            .unwrap()
            .contains("filters nothing")
    );
    let family = check(&report, "allowlist/cidr/family/ipv6");
    assert_eq!(family["reason"], "undetermined");
    assert_eq!(family["status"], "info");
}

#[test]
fn bad_input_names_file_line_and_column_and_lenient_never_allows_everything() {
    let home = tempfile::tempdir().unwrap();
    for (text, place) in [
        ("*filtr\nCOMMIT\n", "rules.v4:1:2"),
        // A Cyrillic `а` in `--dport`.
        (
            "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p udp --dpоrt 3478 -j DROP\nCOMMIT\n",
            "rules.v4:3:",
        ),
        // `-0` typed for `-o`.
        (
            "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -0 eth0 -j DROP\nCOMMIT\n",
            "rules.v4:3:11",
        ),
    ] {
        let (code, _, stderr) = audit(home.path(), "rules.v4", text, &[]);
        assert_eq!(code, 65, "{text}: {stderr}");
        assert!(stderr.contains(place), "{place}: {stderr}");
    }
    // With --lenient the unreadable rule is undetermined: not an allow-all, not ignored.
    let (code, report, _) = audit(
        home.path(),
        "rules.v4",
        "*filter\n:OUTPUT DROP [0:0]\n-A OUTPUT -p udp --dpоrt 3478 -j ACCEPT\nCOMMIT\n",
        &["--lenient"],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, MEDIA)["reason"], "undetermined");
}

#[test]
fn nft_icmp_accept_is_not_media_and_defines_vmaps_and_includes_are_read() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("media.nft"),
        "add rule inet filter output ip daddr $media udp dport 3478 accept\n",
    )
    .unwrap();
    let conf = "#!/usr/sbin/nft -f\nflush ruleset\ndefine media = { 15.193.0.0/19, 18.184.2.128/25, 35.158.127.64/26 }\n\
        table inet filter {\n  chain output {\n    type filter hook output priority filter; policy drop;\n\
            ct state vmap { established : accept, related : accept, invalid : drop }\n\
            icmp type { echo-request, echo-reply } accept\n\
            meta l4proto . th dport vmap { tcp . 443 : accept, udp . 53 : accept }\n  }\n}\n\
        include \"media.nft\"\n";
    let (code, report, stderr) = audit(home.path(), "nftables.conf", conf, &[]);
    assert_eq!(code, 2, "{stderr}");
    let media = check(&report, MEDIA);
    // IPv4 media is accepted by the included rule; IPv6 media by nothing.
    assert_eq!(media["reason"], "partial_cidr", "{media:#}");
    assert_eq!(
        media["evidence"]["missing"],
        serde_json::json!(["2600:f0f2:7100::/40"])
    );
    assert_eq!(
        check(&report, "allowlist/cidr/ec2-api/eu-central-1/tcp/443")["status"],
        "pass"
    );
    // An include that is not there leaves what the file accepts undetermined.
    std::fs::remove_file(home.path().join("media.nft")).unwrap();
    let (_, report, _) = audit(home.path(), "nftables.conf", conf, &[]);
    let web = check(&report, "allowlist/cidr/ec2-api/eu-central-1/tcp/443");
    assert_eq!(web["reason"], "undetermined");
    assert!(web["detail"].as_str().unwrap().contains("media.nft"));
}

#[test]
fn a_csv_deny_row_is_a_deny_and_order_decides() {
    let home = tempfile::tempdir().unwrap();
    let csv = "Name,Priority,Destination,Protocol,Port,Action\n\
        allow-media,20,15.193.0.0/19,UDP,3478,allow\n\
        block-media,10,15.193.0.0/19,UDP,3478,deny\n";
    let (code, report, _) = audit(home.path(), "fw.csv", csv, &[]);
    assert_eq!(code, 2);
    let media = check(&report, MEDIA);
    assert_eq!(media["reason"], "missing_cidr");
    assert!(media["detail"].as_str().unwrap().contains("fw.csv:3"));
}

#[test]
fn security_group_additions_beyond_the_quota_say_how_many_and_what_else() {
    let home = tempfile::tempdir().unwrap();
    let ranges: Vec<String> = (0..59)
        .map(|i| format!("{{\"CidrIp\": \"10.{i}.0.0/16\"}}"))
        .collect();
    let json = format!(
        "{{\"SecurityGroups\": [{{\"GroupId\": \"sg-1\", \"IpPermissions\": [], \"IpPermissionsEgress\": [{{\"IpProtocol\": \"tcp\", \"FromPort\": 22, \"ToPort\": 22, \"IpRanges\": [{}]}}]}}]}}",
        ranges.join(",")
    );
    let (code, report, _) = audit(home.path(), "sg.json", &json, &[]);
    assert_eq!(code, 2);
    let quota = check(&report, "allowlist/sg-quota/outbound/ipv4");
    assert_eq!(quota["reason"], "quota_exceeded");
    assert_eq!(quota["evidence"]["rules_now"], 59);
    assert!(quota["evidence"]["rules_to_add"].as_u64().unwrap() > 1);
    assert!(quota["remedy"].as_str().unwrap().contains("prefix list"));
}

/// Runs `program args` as root in a fresh network namespace, when that is possible here.
#[allow(clippy::print_stderr)]
fn engine_check(program: &str, args: &[&str], input: Option<&str>) -> Option<(bool, String)> {
    let is_root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    });
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !is_root || !found {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{program} and root are needed to check the fixed files"
        );
        // Shown with the test's output, like the lab's SKIP lines.
        eprintln!(
            "SKIP: {program} or root is missing; the fixed file's syntax was not checked by the engine"
        );
        return None;
    }
    let ns = format!("cplfix{}", std::process::id());
    let mut full = vec!["netns", "exec", ns.as_str(), program];
    full.extend_from_slice(args);
    let _ = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status();
    let mut child = std::process::Command::new("ip")
        .args(&full)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    if let Some(text) = input {
        use std::io::Write as _;
        let _ = child.stdin.take()?.write_all(text.as_bytes());
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().ok()?;
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .status();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn fixes_go_before_the_drop_in_the_files_own_chains_and_the_engines_accept_them() {
    let home = tempfile::tempdir().unwrap();
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:egress - [0:0]\n-A OUTPUT -j egress\n-A egress -o lo -j ACCEPT\n-A egress -p udp --dport 3478 -j DROP\n-A egress -j ACCEPT\nCOMMIT\n";
    let fixed = home.path().join("fixed.v4");
    let (code, _, _) = audit(
        home.path(),
        "rules.v4",
        rules,
        &["--fix-output", fixed.to_str().unwrap()],
    );
    assert_eq!(code, 2);
    let text = std::fs::read_to_string(&fixed).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let drop_at = lines.iter().position(|l| l.contains("-j DROP")).unwrap();
    assert!(lines[drop_at - 1].starts_with("-A egress -d "), "{text}");
    let (code, report, _) = audit(home.path(), "again.v4", &text, &[]);
    assert_eq!(code, 0, "{report:#}");
    if let Some((ok, err)) = engine_check("iptables-restore", &["--test"], Some(&text)) {
        assert!(ok, "iptables-restore refuses the fixed file: {err}\n{text}");
    }

    let conf = "table ip fw {\n\tchain out {\n\t\ttype filter hook output priority 0; policy drop;\n\t\toifname \"lo\" accept\n\t}\n}\n";
    let fixed = home.path().join("fixed.nft");
    let (code, _, _) = audit(
        home.path(),
        "fw.nft",
        conf,
        &["--fix-output", fixed.to_str().unwrap()],
    );
    assert_eq!(code, 2);
    let text = std::fs::read_to_string(&fixed).unwrap();
    assert!(text.contains("\t\tip daddr { 15.193.0.0/19"), "{text}");
    // IPv6 cannot go in an ip table: said so, not written there.
    assert!(!text.contains("ip6 daddr"), "{text}");
    let (_, report, _) = audit(home.path(), "again.nft", &text, &[]);
    assert_eq!(check(&report, MEDIA)["status"], "pass", "{report:#}");
    let path = fixed.to_str().unwrap().to_owned();
    if let Some((ok, err)) = engine_check("nft", &["-c", "-f", &path], None) {
        assert!(ok, "nft -c refuses the fixed file: {err}\n{text}");
    }
}
