//! Reports, including the binary's own, validate against the committed `docs/report.schema.json`,
//! with an independent validator (boon), as a pipeline would check them.

use connect_preflight::report::{
    self, Check, CidrFix, Fixes, Kind, Proto, Reason, Report, Status, Target,
};

use crate::common::{Sandbox, newer_snapshot, repo_file, today};

struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new() -> Self {
        let text = std::fs::read_to_string(repo_file(report::schema::PATH)).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:connect-preflight/report/v1", schema)
            .unwrap();
        let index = compiler
            .compile("urn:connect-preflight/report/v1", &mut schemas)
            .unwrap();
        Self { schemas, index }
    }

    fn check(&self, json: &serde_json::Value) -> Result<(), String> {
        self.schemas
            .validate(json, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

fn every_status() -> Report {
    let checks = vec![
        Check::new("dns/a", Kind::Dns, Status::Pass, Reason::Ok, "resolves").host("a.example"),
        Check::new(
            "tls/a",
            Kind::Tls,
            Status::Fail,
            Reason::Intercepted,
            "inspected",
        )
        .host("a.example")
        .endpoint(443, Proto::Tcp)
        .remedy("exempt a.example")
        .evidence("issuer", "CN=Proxy CA"),
        Check::new(
            "media/t",
            Kind::Media,
            Status::Warn,
            Reason::PoorQuality,
            "lossy",
        )
        .endpoint(3478, Proto::Udp)
        .evidence("rtt_ms", 42.5)
        .evidence("samples_rtt_ms", serde_json::json!([40.0, null, 45.5])),
        Check::new(
            "ws/*",
            Kind::Websocket,
            Status::Skip,
            Reason::NotTested,
            "wildcard",
        ),
        Check::new(
            "system/vdi",
            Kind::System,
            Status::Info,
            Reason::Ok,
            "Citrix session",
        ),
    ];
    let mut report = Report::new(
        "check",
        Target {
            instance: Some("acme".into()),
            region: Some("eu-central-1".into()),
            partner_region: Some("eu-west-2".into()),
            features: vec!["saml".into()],
            site: Some("Leeds".into()),
        },
        "2026-11-24T09:30:00Z".into(),
        checks,
    );
    report.fixes = Fixes {
        domains: vec!["a.example".into()],
        cidrs: vec![CidrFix {
            cidr: "15.193.0.0/19".into(),
            proto: Proto::Udp,
            port: "3478".into(),
        }],
        notes: vec!["note".into()],
    };
    report
}

#[test]
fn reports_of_the_binary_and_of_the_model_validate() {
    let validator = Validator::new();
    let s = Sandbox::new();
    let fresh = s.write("fresh.json", &newer_snapshot(1_999_999_999, &today()));
    let runs: [&[&str]; 2] = [
        &["ranges", "info", "-f", "json"],
        &[
            "--ip-ranges",
            fresh.to_str().unwrap(),
            "ranges",
            "info",
            "-f",
            "json",
        ],
    ];
    for args in runs {
        let out = s.cmd().args(args).output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        validator.check(&json).unwrap();
    }
    let minimal = Report::new(
        "audit",
        Target::default(),
        "2026-11-24T00:00:00Z".into(),
        vec![],
    );
    for report in [every_status(), minimal] {
        validator
            .check(&serde_json::to_value(&report).unwrap())
            .unwrap();
    }
}

#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let validator = Validator::new();
    let good = serde_json::to_value(every_status()).unwrap();
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = good.clone();
        edit(&mut json);
        json
    };
    let cases = [
        broken(&|j| j["checks"][0]["reason"] = "bad_vibes".into()),
        broken(&|j| j["schema"] = "connect-preflight/report/v2".into()),
        broken(&|j| j["checks"][1]["status"] = "FAIL".into()),
        broken(&|j| j["checks"][1]["port"] = 70_000.into()),
        broken(&|j| {
            j.as_object_mut().unwrap().remove("verdict");
        }),
        broken(&|j| j["fixes"]["cidrs"][0]["proto"] = "icmp".into()),
    ];
    for case in &cases {
        assert!(validator.check(case).is_err(), "accepted {case}");
    }
}
