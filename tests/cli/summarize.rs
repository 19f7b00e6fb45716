//! `summarize`: a folder of reports from many machines becomes one view.

use connect_preflight::report::{
    Check, CidrFix, Fixes, Kind, Proto, Reason, Report, Status, Target,
};
use predicates::str::contains;

use crate::common::Sandbox;

/// A machine's report: media figures always, an intercepted TLS check when `broken`.
fn report(site: Option<&str>, broken: bool, rtt: f64) -> String {
    let mut checks = vec![
        Check::new("media/turn", Kind::Media, Status::Pass, Reason::Ok, "good")
            .evidence("rtt_ms", rtt)
            .evidence("jitter_ms", 2.0)
            .evidence("loss_pct", 0.0),
    ];
    let mut fixes = Fixes::default();
    if broken {
        checks.push(
            Check::new(
                "tls/acme.my.connect.aws",
                Kind::Tls,
                Status::Fail,
                Reason::Intercepted,
                "inspected",
            )
            .host("acme.my.connect.aws"),
        );
        fixes.domains.push("acme.my.connect.aws".into());
        fixes.cidrs.push(CidrFix {
            cidr: "15.193.0.0/19".into(),
            proto: Proto::Udp,
            port: "3478".into(),
        });
    }
    let mut report = Report::new(
        "check",
        Target {
            site: site.map(str::to_owned),
            ..Target::default()
        },
        "2026-11-24T09:00:00Z".into(),
        checks,
    );
    report.fixes = fixes;
    serde_json::to_string(&report).unwrap()
}

fn fleet(s: &Sandbox) -> std::path::PathBuf {
    let root = s.path("reports");
    for dir in ["leeds", "york/floor2", "misc"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for i in 0..6 {
        std::fs::write(
            root.join(format!("leeds/pc{i}.json")),
            report(None, i < 2, 40.0 + f64::from(i)),
        )
        .unwrap();
    }
    for i in 0..3 {
        std::fs::write(
            root.join(format!("york/floor2/pc{i}.json")),
            report(None, true, 120.0),
        )
        .unwrap();
    }
    // The profile's site wins over the folder's name.
    std::fs::write(
        root.join("misc/laptop.json"),
        report(Some("Head office"), false, 10.0),
    )
    .unwrap();
    std::fs::write(
        root.join("misc/broken.json"),
        &report(None, true, 1.0)[..40],
    )
    .unwrap();
    std::fs::write(
        root.join("misc/foreign.json"),
        r#"{"schema": "connect-preflight/endpoints/v1", "region": "eu-central-1"}"#,
    )
    .unwrap();
    std::fs::write(root.join("misc/notes.txt"), "not a report").unwrap();
    root
}

#[test]
fn a_folder_of_reports_becomes_one_view_and_bad_files_are_skipped_by_name() {
    let s = Sandbox::new();
    let root = fleet(&s);
    // A report the binary wrote itself counts too.
    s.cmd()
        .args(["ranges", "info", "-f", "json", "-o"])
        .arg(root.join("misc/ranges.json"))
        .assert()
        .code(1);
    let out = s
        .cmd()
        .arg("summarize")
        .arg(&root)
        .args(["-f", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("broken.json: is not a valid report"),
        "{stderr}"
    );
    assert!(
        stderr.contains("foreign.json: is not a connect-preflight/report/v1 report (its schema is connect-preflight/endpoints/v1)"),
        "{stderr}"
    );
    assert!(!stderr.contains("notes.txt"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "connect-preflight/summary/v1");
    assert_eq!(json["reports"], 11);
    assert_eq!(json["skipped_files"], 2);
    assert_eq!(json["verdicts"]["ready"], 5);
    assert_eq!(json["verdicts"]["degraded"], 1);
    assert_eq!(json["verdicts"]["not_ready"], 5);
    let top = &json["problems"][0];
    assert_eq!(top["check_id"], "tls/acme.my.connect.aws");
    assert_eq!(top["reason"], "intercepted");
    assert_eq!(top["machines"], 5);
    assert_eq!(
        top["sites"],
        serde_json::json!([{"site": "floor2", "machines": 3}, {"site": "leeds", "machines": 2}])
    );
    assert_eq!(
        json["change_list"]["domains"],
        serde_json::json!(["acme.my.connect.aws"])
    );
    let sites: Vec<&str> = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert_eq!(sites, ["Head office", "floor2", "leeds", "misc"]);
    let leeds = &json["sites"][2];
    assert_eq!(leeds["reports"], 6);
    assert_eq!(leeds["rtt_ms"]["samples"], 6);
    assert_eq!(leeds["rtt_ms"]["p50"], 42.0);
    assert_eq!(leeds["rtt_ms"]["p95"], 45.0);
}

#[test]
fn every_format_and_an_atomic_output_file() {
    let s = Sandbox::new();
    let root = fleet(&s);
    s.cmd()
        .arg("summarize")
        .arg(&root)
        .assert()
        .code(0)
        .stdout(contains(
            "Fleet summary: 10 reports from 3 sites (2 files skipped)",
        ))
        .stdout(contains("    acme.my.connect.aws\n"))
        .stdout(contains("15.193.0.0/19        udp/3478"));
    let out = s
        .cmd()
        .arg("summarize")
        .arg(&root)
        .args(["-f", "csv", "-q"])
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "--quiet silences the warnings");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "check_id,kind,reason,status,site,machines\n\
         tls/acme.my.connect.aws,tls,intercepted,fail,floor2,3\n\
         tls/acme.my.connect.aws,tls,intercepted,fail,leeds,2\n"
    );
    let page = s.path("fleet.html");
    s.cmd()
        .arg("summarize")
        .arg(root.join("leeds"))
        .arg(root.join("misc/laptop.json"))
        .args(["-f", "html", "-o"])
        .arg(&page)
        .assert()
        .code(0)
        .stdout("");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("7 reports from 2 sites"));
    assert!(!html.contains("<script"));
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".connect-preflight-")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn no_report_at_all_is_bad_input() {
    let s = Sandbox::new();
    let only = s.write("foreign.json", r#"{"schema": "something/else"}"#);
    s.cmd()
        .arg("summarize")
        .arg(&only)
        .arg(s.path("missing-folder"))
        .assert()
        .code(65)
        .stderr(contains(
            "foreign.json: is not a connect-preflight/report/v1 report",
        ))
        .stderr(contains("missing-folder: cannot be read"))
        .stderr(contains("no connect-preflight/report/v1 report found"));
    s.cmd().arg("summarize").assert().code(64);
}
