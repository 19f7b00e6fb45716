//! The catalog against AWS's pages, entry by entry, as `endpoints` prints it (text, json,
//! domains, cidrs) for the Regions each correction touches; `catalog info`, the administrator's
//! catalog in the config folder, and the audit of a list that predates the 2026 sign-in.

use crate::common::{Sandbox, repo_file};

fn run(s: &Sandbox, args: &[&str]) -> String {
    let out = s.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn domains(s: &Sandbox, args: &[&str]) -> Vec<String> {
    let mut all = vec!["endpoints", "-f", "domains"];
    all.extend_from_slice(args);
    run(s, &all).lines().map(str::to_owned).collect()
}

fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["endpoints", "-f", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&run(s, &all)).unwrap()
}

fn requirement<'a>(listing: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    listing["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no requirement {id}"))
}

const SIGNIN: [&str; 3] = [
    "*.apps.signin.aws",
    "*.signin.aws",
    "*.threat-mitigation.aws.amazon.com",
];
const GOV_SIGNIN: [&str; 3] = [
    "*.signin-fips.amazonaws-us-gov.com",
    "*.apps.signin-fips.aws-us-gov.com",
    "*.apps.signin.aws-us-gov.com",
];

#[test]
fn the_2026_sign_in_is_required_unless_the_agents_use_saml() {
    let s = Sandbox::new();
    let list = domains(&s, &["-r", "eu-central-1"]);
    for host in SIGNIN {
        assert!(list.iter().any(|l| l == host), "{host}: {list:?}");
    }
    for region in ["us-east-1", "us-west-2", "eu-central-1"] {
        let line = format!("*.s3.dualstack.{region}.amazonaws.com");
        assert!(list.contains(&line), "{line}: {list:?}");
    }
    assert!(!list.iter().any(|l| l.contains("aws-us-gov")), "{list:?}");
    // In us-east-1 the three Regions are two.
    let list = domains(&s, &["-r", "us-east-1"]);
    assert_eq!(
        list.iter()
            .filter(|l| l.starts_with("*.s3.dualstack."))
            .count(),
        2,
        "{list:?}"
    );

    // SAML takes the group out, from the flag or from the site profile.
    let profile = s.write(
        "profile.toml",
        "region = \"eu-central-1\"\nwith = [\"saml\"]\n",
    );
    let by_flag = domains(&s, &["-r", "eu-central-1", "--with", "saml"]);
    let by_profile = domains(&s, &["--profile", profile.to_str().unwrap()]);
    for list in [&by_flag, &by_profile] {
        assert!(
            !list
                .iter()
                .any(|l| l.ends_with(".signin.aws") || l.contains("s3.dualstack")),
            "{list:?}"
        );
        assert!(
            list.iter()
                .any(|l| l == "eu-central-1.signin.aws.amazon.com")
        );
    }
    assert_eq!(by_flag, by_profile);

    // Every sign-in entry says where it comes from; the probes say where their names come from.
    let listing = json(&s, &["-r", "eu-central-1"]);
    let signin = requirement(&listing, "signin/eu-central-1");
    assert_eq!(
        signin["source"],
        "https://docs.aws.amazon.com/connect/latest/adminguide/new-signin-experience.html"
    );
    assert!(signin["quote"].as_str().unwrap().contains("*.signin.aws"));
    assert_eq!(signin["probe"], "us-east-1.oauth.signin.aws");
    assert!(signin["probe_source"].as_str().unwrap().contains("aws-sdk"));
    let threat = requirement(&listing, "threat-mitigation/eu-central-1");
    assert_eq!(
        threat["probe"],
        "us-east-1.threat-mitigation.aws.amazon.com"
    );
    assert!(
        threat["probe_quote"]
            .as_str()
            .unwrap()
            .contains("us-east-1.threat-mitigation")
    );
    // A name is known under the us-east-1 bucket wildcard only; the others are not tested.
    let s3_east = requirement(&listing, "signin-s3/eu-central-1/us-east-1");
    assert_eq!(
        s3_east["probe"],
        "amcs-captcha-prod-us-east-1.s3.dualstack.us-east-1.amazonaws.com"
    );
    assert!(
        requirement(&listing, "signin-s3/eu-central-1")
            .get("probe")
            .is_none()
    );
    assert!(
        requirement(&listing, "signin-apps/eu-central-1")
            .get("probe")
            .is_none()
    );
    let text = run(&s, &["endpoints", "-r", "eu-central-1"]);
    assert!(
        text.contains("*.apps.signin.aws") && text.contains("not tested"),
        "{text}"
    );
}

#[test]
fn the_sign_in_s3_rule_is_in_the_cidrs_and_the_json() {
    let s = Sandbox::new();
    for (region, named) in [
        ("eu-central-1", "S3 us-east-1 + us-west-2 + eu-central-1"),
        ("ca-central-1", "S3 us-east-1 + us-west-2 + ca-central-1"),
        ("us-east-1", "S3 us-east-1 + us-west-2"),
    ] {
        let cidrs = run(&s, &["endpoints", "-r", region, "-f", "cidrs"]);
        let header = cidrs
            .lines()
            .find(|l| l.starts_with("# outbound") && l.ends_with("on tcp/443"))
            .unwrap();
        assert!(header.contains(named), "{region}: {header}");
        let listing = json(&s, &["-r", region]);
        let rule = listing["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == format!("signin-s3/{region}"))
            .unwrap();
        assert_eq!(rule["service"], "S3");
        assert!(!rule["cidrs"].as_array().unwrap().is_empty());
        assert!(rule["quote"].as_str().unwrap().contains("S3 IP ranges"));
        let text = run(&s, &["endpoints", "-r", region]);
        assert!(text.contains(named), "{text}");
    }
    let cidrs = run(
        &s,
        &[
            "endpoints",
            "-r",
            "eu-central-1",
            "--with",
            "saml",
            "-f",
            "cidrs",
        ],
    );
    assert!(!cidrs.contains("S3 "), "{cidrs}");
}

#[test]
fn govcloud_has_its_sign_in_hosts_and_saml_in_its_own_partition() {
    let s = Sandbox::new();
    let list = domains(&s, &["-r", "us-gov-west-1", "-i", "acme"]);
    for host in GOV_SIGNIN.iter().chain(&SIGNIN) {
        assert!(list.iter().any(|l| l == host), "{host}: {list:?}");
    }
    assert!(list.contains(&"*.cloudfront.net".to_owned()), "{list:?}");
    let listing = json(&s, &["-r", "us-gov-west-1"]);
    let fips = requirement(&listing, "signin-fips-gov/us-gov-west-1");
    assert_eq!(
        fips["probe"],
        "us-gov-west-1.signin-fips.amazonaws-us-gov.com"
    );
    let assets = listing["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["group"] == "login")
        .unwrap();
    assert_eq!(assets["host"], "s3-us-gov-west-1.amazonaws.com");
    assert_eq!(
        assets["paths"][0],
        "/warp-drive-console-static-content-prod-pdt/"
    );

    let saml = domains(&s, &["-r", "us-gov-west-1", "--with", "saml"]);
    assert!(saml.contains(&"us-gov-west-1.signin.amazonaws-us-gov.com".to_owned()));
    assert!(saml.contains(&"console.amazonaws-us-gov.com".to_owned()));
    assert!(
        !saml.iter().any(|l| l.ends_with(".aws.amazon.com")),
        "commercial sign-in names in GovCloud: {saml:?}"
    );
    // And no GovCloud name in a commercial Region.
    let saml = domains(&s, &["-r", "us-east-1", "--with", "saml"]);
    assert!(!saml.iter().any(|l| l.contains("us-gov")), "{saml:?}");
}

#[test]
fn the_turn_line_is_aws_s_wildcard_and_the_pinned_hosts_are_tested() {
    let s = Sandbox::new();
    let list = domains(&s, &["-r", "us-east-1"]);
    let turn: Vec<&String> = list.iter().filter(|l| l.starts_with("turnnlb-")).collect();
    assert_eq!(turn, ["turnnlb-*.elb.us-east-1.amazonaws.com"]);
    let listing = json(&s, &["-r", "us-east-1"]);
    let pinned: Vec<&serde_json::Value> = listing["domains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"].as_str().unwrap().starts_with("turn/"))
        .collect();
    assert_eq!(pinned.len(), 3);
    for d in &pinned {
        assert_eq!(d["allowlist"], "turnnlb-*.elb.us-east-1.amazonaws.com");
        assert!(d["host"].as_str().unwrap().starts_with("turnnlb-"));
        assert!(!d["host"].as_str().unwrap().contains('*'));
        assert_eq!(d["ports"][0], "udp/3478");
        // "No TCP fallback" is what AWS's code shows, and the entry says so.
        assert!(d["purpose"].as_str().unwrap().contains("AWS's code shows"));
        assert!(
            d["code_source"]
                .as_str()
                .unwrap()
                .contains("connect-rtc-js")
        );
    }
    let text = run(&s, &["endpoints", "-r", "us-east-1"]);
    assert!(
        text.contains("turnnlb-*.elb.us-east-1.amazonaws.com")
            && text.contains("turnnlb-d76454ac48d20c1e.elb.us-east-1.amazonaws.com"),
        "{text}"
    );
    // The live check tests the pinned hosts.
    let plan = run(&s, &["check", "-r", "us-east-1", "--list"]);
    assert!(
        plan.contains("turnnlb-7a9b8e750cec315a.elb.us-east-1.amazonaws.com"),
        "{plan}"
    );
}

#[test]
fn cloudfront_is_in_the_minimum_list_of_every_region() {
    let s = Sandbox::new();
    for (region, probe) in [
        ("eu-central-1", Some("d1n9s7btyr4f0n.cloudfront.net")),
        ("ca-central-1", Some("d2wfbsypmqjmog.cloudfront.net")),
        ("af-south-1", None),
        ("us-gov-west-1", None),
    ] {
        let list = domains(&s, &["-r", region]);
        assert!(
            list.contains(&"*.cloudfront.net".to_owned()),
            "{region}: {list:?}"
        );
        assert!(
            !list
                .iter()
                .any(|l| l.ends_with(".cloudfront.net") && l != "*.cloudfront.net"),
            "{region}: the Region's hosts are the narrower option, not extra lines: {list:?}"
        );
        let listing = json(&s, &["-r", region]);
        let cloudfront = requirement(&listing, &format!("cloudfront/{region}"));
        assert_eq!(cloudfront["probe"].as_str(), probe, "{region}");
        assert!(
            cloudfront["quote"]
                .as_str()
                .unwrap()
                .contains("minimum allowlist")
        );
    }
    let text = run(&s, &["endpoints", "-r", "eu-central-1"]);
    assert!(text.contains("narrower option") && text.contains("d3tqoc05lsydd3.cloudfront.net"));
}

#[test]
fn global_resiliency_hosts_belong_to_the_source_region_only() {
    let s = Sandbox::new();
    let args = [
        "-r",
        "ap-northeast-1",
        "--with",
        "gr",
        "--instance-id",
        "1111-2222",
    ];
    let list = domains(&s, &args);
    assert!(list.contains(&"1111-2222.ap-northeast-1.sign-in.connect.aws".to_owned()));
    assert!(list.contains(&"*.ap-northeast-1.region-discovery.connect.aws".to_owned()));
    assert!(
        !list.iter().any(|l| l.contains("ap-northeast-3.sign-in")
            || l.contains("ap-northeast-3.region-discovery")),
        "{list:?}"
    );
    // Osaka has no pinned TURN host: the wildcard is its line, and it is not tested.
    assert!(list.contains(&"turnnlb-*.elb.ap-northeast-3.amazonaws.com".to_owned()));
    let listing = json(&s, &args);
    let osaka = requirement(&listing, "turn/ap-northeast-3");
    assert_eq!(osaka["host"], "turnnlb-*.elb.ap-northeast-3.amazonaws.com");
    assert!(osaka.get("probe").is_none());
    let cidrs = run(
        &s,
        &[
            "endpoints",
            "-f",
            "cidrs",
            "-r",
            "ap-northeast-1",
            "--with",
            "gr",
        ],
    );
    assert!(
        cidrs.contains("AMAZON_CONNECT GLOBAL + ap-northeast-3"),
        "{cidrs}"
    );
    let text = run(&s, &["endpoints", "-r", "ap-northeast-1", "--with", "gr"]);
    assert!(text.contains("source Region, ap-northeast-1"), "{text}");
    // Osaka is only ever a replica: named as the Region, its source is Tokyo.
    let list = domains(&s, &["-r", "ap-northeast-3", "--with", "gr"]);
    assert!(list.contains(&"*.ap-northeast-1.region-discovery.connect.aws".to_owned()));
    assert!(
        !list
            .iter()
            .any(|l| l.contains("ap-northeast-3.region-discovery"))
    );
}

#[test]
fn the_ccp_v1_row_is_aws_s_rtc_wildcard() {
    let s = Sandbox::new();
    let list = domains(&s, &["-r", "ca-central-1", "--with", "ccp-v1"]);
    assert!(list.contains(&"rtc*.connect-telecom.ca-central-1.amazonaws.com".to_owned()));
    assert!(!list.contains(&"*.connect-telecom.ca-central-1.amazonaws.com".to_owned()));
    let listing = json(&s, &["-r", "ca-central-1", "--with", "ccp-v1"]);
    let rtc = requirement(&listing, "rtc/ca-central-1");
    assert_eq!(
        rtc["host"],
        "rtc.connect-telecom.ca-central-1.amazonaws.com"
    );
    assert!(rtc["quote"].as_str().unwrap().contains("ccp# (v1)"));
}

#[test]
fn an_instance_still_on_awsapps_needs_both_domains() {
    let s = Sandbox::new();
    let list = domains(
        &s,
        &[
            "-r",
            "eu-central-1",
            "-i",
            "https://acme.awsapps.com/connect/ccp-v2",
        ],
    );
    assert!(list.contains(&"acme.awsapps.com".to_owned()), "{list:?}");
    assert!(list.contains(&"acme.my.connect.aws".to_owned()), "{list:?}");
    let list = domains(&s, &["-r", "eu-central-1", "-i", "acme"]);
    assert!(!list.iter().any(|l| l.contains("awsapps")), "{list:?}");
}

#[test]
fn every_entry_carries_its_source_quote_and_date_and_the_listing_its_age() {
    let s = Sandbox::new();
    for args in [
        &[
            "-r",
            "us-east-1",
            "--with",
            "saml,video,attachments,scheduling,ccp-v1",
        ][..],
        &["-r", "eu-central-1"],
        &["-r", "af-south-1"],
        &["-r", "ap-northeast-1", "--with", "gr"],
        &["-r", "us-gov-west-1", "--with", "saml"],
        &["-r", "ca-central-1", "--stateless"],
    ] {
        let listing = json(&s, args);
        assert_eq!(listing["catalog"]["source"], "built-in");
        assert!(listing["catalog"]["age_days"].as_i64().unwrap() >= 0);
        for entry in listing["domains"]
            .as_array()
            .unwrap()
            .iter()
            .chain(listing["rules"].as_array().unwrap())
        {
            assert!(
                entry["source"].as_str().unwrap().starts_with("https://"),
                "{entry}"
            );
            assert!(!entry["quote"].as_str().unwrap_or("").is_empty(), "{entry}");
            let day = entry["checked"].as_str().unwrap();
            assert_eq!(day.len(), 10, "{entry}");
        }
        let text = run(&s, &[&["endpoints"][..], args].concat());
        assert!(
            text.contains("Catalog: built-in, last compared with AWS's pages on"),
            "{text}"
        );
    }
}

#[test]
fn catalog_info_names_the_catalog_in_use_and_which_one_wins() {
    let s = Sandbox::new();
    let text = run(&s, &["catalog", "info"]);
    assert!(text.starts_with("Catalog in use: built-in\n"), "{text}");
    assert!(text.contains("new-signin-experience.html"), "{text}");
    let info: serde_json::Value =
        serde_json::from_str(&run(&s, &["catalog", "info", "-f", "json"])).unwrap();
    assert_eq!(info["source"], "built-in");
    assert!(info["entries"].as_u64().unwrap() > 30);

    // An administrator's catalog in the config folder replaces the built-in one everywhere.
    let built_in = std::fs::read_to_string(repo_file("ranges/catalog.toml")).unwrap();
    let folder = s.path("config").join("connect-preflight");
    std::fs::create_dir_all(&folder).unwrap();
    let admin = built_in
        .replace(
            "checked = \"2026-12-04\"\n\n[[region]]",
            "checked = \"2027-01-15\"\n\n[[region]]",
        )
        .replace("TurnNlb-ea5316ebe2759cbc", "TurnNlb-0000000000000001");
    assert_ne!(admin, built_in);
    std::fs::write(folder.join("catalog.toml"), &admin).unwrap();
    let text = run(&s, &["catalog", "info"]);
    assert!(text.contains("Catalog in use: config folder"), "{text}");
    assert!(text.contains("2027-01-15"), "{text}");
    let listing = json(&s, &["-r", "eu-central-1"]).to_string();
    assert!(listing.contains("turnnlb-0000000000000001"), "{listing}");
    let text = run(&s, &["endpoints", "-r", "eu-central-1"]);
    assert!(text.contains("Catalog: config folder"), "{text}");

    // --endpoints wins over the config folder.
    let text = run(
        &s,
        &[
            "catalog",
            "info",
            "--endpoints",
            repo_file("ranges/catalog.toml").to_str().unwrap(),
        ],
    );
    assert!(text.contains("Catalog in use: file"), "{text}");
    let listing = json(
        &s,
        &[
            "-r",
            "eu-central-1",
            "--endpoints",
            repo_file("ranges/catalog.toml").to_str().unwrap(),
        ],
    )
    .to_string();
    assert!(!listing.contains("turnnlb-0000000000000001"));

    // A broken administrator's catalog is bad input naming its line.
    std::fs::write(
        folder.join("catalog.toml"),
        "version = 1\n[[region]]\ncode = 7\n",
    )
    .unwrap();
    let out = s
        .cmd()
        .args(["endpoints", "-r", "eu-central-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog.toml:3:"));
}

#[test]
fn an_audit_of_a_list_from_before_the_new_sign_in_names_what_to_add() {
    let s = Sandbox::new();
    // The allow-list AWS's pages gave before 2026, with AWS's own TURN line copied verbatim.
    let list = s.write(
        "allow.txt",
        "acme.my.connect.aws\n*.static.connect.aws\n*.cloudfront.net\n\
         *.telemetry.connect.eu-central-1.amazonaws.com\nparticipant.connect.eu-central-1.amazonaws.com\n\
         *.transport.connect.eu-central-1.amazonaws.com\nTurnNlb-*.elb.eu-central-1.amazonaws.com\n",
    );
    let out = s
        .cmd()
        .args(["audit", "-r", "eu-central-1", "-i", "acme", "--domains"])
        .arg(&list)
        .args(["-f", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"] == "missing_domain")
        .filter_map(|c| c["evidence"]["add"].as_str())
        .collect();
    for host in SIGNIN {
        assert!(missing.contains(&host), "{host}: {missing:?}");
    }
    assert!(
        missing.contains(&"*.s3.dualstack.us-west-2.amazonaws.com"),
        "{missing:?}"
    );
    assert!(
        !missing.iter().any(|m| m.contains("turnnlb")),
        "{missing:?}"
    );
    assert!(
        !missing.iter().any(|m| m.contains("cloudfront")),
        "{missing:?}"
    );
    let catalog = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "catalog/provenance")
        .unwrap();
    assert_eq!(catalog["evidence"]["source"], "built-in");
    // The text report's "What to fix" block lists them.
    let out = s
        .cmd()
        .args(["audit", "-r", "eu-central-1", "-i", "acme", "--domains"])
        .arg(&list)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let fix = &text[text
        .find("What to add to")
        .expect("a block of lines to add")..];
    assert!(fix.contains("*.apps.signin.aws"), "{fix}");
    // With SAML, the same list lacks nothing.
    let out = s
        .cmd()
        .args([
            "audit",
            "-r",
            "eu-central-1",
            "-i",
            "acme",
            "--with",
            "saml",
            "--domains",
        ])
        .arg(&list)
        .args(["-f", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"] == "missing_domain")
        .filter(|c| {
            let add = c["evidence"]["add"].as_str().unwrap_or("");
            add.ends_with(".signin.aws")
                || add.contains("threat-mitigation")
                || add.contains("s3.dualstack")
        })
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn the_s3_rule_reaches_the_cidr_audit_and_its_fix() {
    let s = Sandbox::new();
    // The IP rules AWS's network page gave before the new sign-in: no S3.
    let saml = run(
        &s,
        &[
            "endpoints",
            "-r",
            "eu-central-1",
            "--with",
            "saml",
            "-f",
            "cidrs",
        ],
    );
    let list = s.write("cidrs.txt", &saml);
    let out = s
        .cmd()
        .args(["audit", "-r", "eu-central-1", "--cidrs"])
        .arg(&list)
        .args(["-f", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    assert!(
        text.contains("S3 us-east-1 + us-west-2 + eu-central-1"),
        "{report:#}"
    );
}

#[test]
fn lookup_has_a_one_line_per_address_form() {
    let s = Sandbox::new();
    let file = s.write("addrs.txt", "15.193.4.10\n192.0.2.1\n");
    let out = run(
        &s,
        &[
            "ranges",
            "lookup",
            "--file",
            file.to_str().unwrap(),
            "-f",
            "line",
        ],
    );
    assert_eq!(
        out,
        "15.193.4.10 15.193.4.0/24 AMAZON_CONNECT eu-central-1\n192.0.2.1 - - -\n"
    );
    let out = run(
        &s,
        &[
            "ranges",
            "lookup",
            "15.193.4.10",
            "-f",
            "line",
            "-r",
            "eu-central-1",
        ],
    );
    assert_eq!(
        out,
        "15.193.4.10 15.193.4.0/24 AMAZON_CONNECT eu-central-1 connect\n"
    );
}
