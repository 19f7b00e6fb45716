//! Reports for the renderers' tests: one representative of every status, and one full of hostile
//! text in every string field.

use super::{Check, CidrFix, Fixes, Kind, Proto, RangesProvenance, Reason, Report, Status, Target};

pub(crate) fn sample() -> Report {
    let samples: Vec<Option<f64>> = (0..60)
        .map(|i| {
            if i == 17 || i == 41 || i == 42 {
                None
            } else {
                Some(38.0 + f64::from(i % 7) * 3.5 + if i > 50 { 40.0 } else { 0.0 })
            }
        })
        .collect();
    let checks = vec![
        Check::new(
            "ranges/snapshot",
            Kind::Ranges,
            Status::Pass,
            Reason::Ok,
            "the IP ranges in use (embedded copy) were published 2026-11-20-10-00-00, 4 days ago",
        )
        .evidence("create_date", "2026-11-20-10-00-00")
        .evidence("age_days", 4),
        Check::new(
            "dns/acme.my.connect.aws",
            Kind::Dns,
            Status::Pass,
            Reason::Ok,
            "acme.my.connect.aws resolves to 3.120.9.14, inside EC2 eu-central-1",
        )
        .host("acme.my.connect.aws")
        .evidence("addresses", ["3.120.9.14"]),
        Check::new(
            "tls/acme.my.connect.aws",
            Kind::Tls,
            Status::Fail,
            Reason::Intercepted,
            "the certificate of acme.my.connect.aws was issued by Contoso Inspection CA, which only the OS trusts",
        )
        .host("acme.my.connect.aws")
        .endpoint(443, Proto::Tcp)
        .remedy("exempt *.my.connect.aws from TLS inspection on the proxy")
        .evidence("issuer", "CN=Contoso Inspection CA"),
        Check::new(
            "turn/turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
            Kind::Turn,
            Status::Pass,
            Reason::AuthChallenge,
            "the TURN relay answered 401 with a realm: UDP 3478 works both ways",
        )
        .host("turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com")
        .endpoint(3478, Proto::Udp),
        Check::new(
            "media/turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
            Kind::Media,
            Status::Warn,
            Reason::PoorQuality,
            "loss of 5.0% over 60 packets is past the 1% guidance",
        )
        .host("turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com")
        .endpoint(3478, Proto::Udp)
        .remedy("look for a congested or wireless link between the workstation and the internet")
        .evidence("rtt_ms", 52.4)
        .evidence("rtt_p95_ms", 88.0)
        .evidence("jitter_ms", 6.2)
        .evidence("loss_pct", 5.0)
        .evidence("mos", 3.9)
        .evidence("samples_rtt_ms", samples),
        Check::new(
            "websocket/*.transport.connect.eu-central-1.amazonaws.com",
            Kind::Websocket,
            Status::Skip,
            Reason::NotTested,
            "a wildcard has no concrete host to test",
        )
        .host("*.transport.connect.eu-central-1.amazonaws.com"),
    ];
    let mut report = Report::new(
        "check",
        Target {
            instance: Some("acme".into()),
            region: Some("eu-central-1".into()),
            site: Some("Leeds contact centre".into()),
            ..Target::default()
        },
        "2026-11-24T09:30:00Z".into(),
        checks,
    );
    report.duration_ms = 8_412;
    report.tool.version = "0.1.0".into();
    report.ranges = Some(RangesProvenance {
        source: "embedded".into(),
        path: None,
        create_date: "2026-11-20-10-00-00".into(),
        sync_token: "1795000000".into(),
        age_days: 4,
    });
    report.fixes = Fixes {
        domains: vec![
            "*.transport.connect.eu-central-1.amazonaws.com".into(),
            "participant.connect.eu-central-1.amazonaws.com".into(),
        ],
        cidrs: vec![
            CidrFix {
                cidr: "15.193.0.0/19".into(),
                proto: Proto::Udp,
                port: "3478".into(),
            },
            CidrFix {
                cidr: "3.120.0.0/14".into(),
                proto: Proto::Tcp,
                port: "443".into(),
            },
        ],
        notes: vec!["The softphone has no TCP fallback: UDP 3478 must be open.".into()],
    };
    report
}

pub(crate) fn hostile() -> Report {
    let evil =
        "<script>alert(1)</script></style>\u{1b}[31m\u{202E}gnp.exe\u{0}\"'&javascript:alert(2)";
    let check = Check::new(
        format!("dns/{evil}"),
        Kind::Media,
        Status::Fail,
        Reason::Nxdomain,
        evil,
    )
    .host(evil)
    .endpoint(443, Proto::Tcp)
    .remedy(evil)
    .evidence(evil, evil)
    .evidence("link", "javascript:alert(3)")
    .evidence(
        "samples_rtt_ms",
        serde_json::json!([1, "<script>", null, -5, 1e308]),
    )
    .evidence("rtt_ms", 12);
    let mut report = Report::new(
        evil,
        Target {
            instance: Some(evil.into()),
            region: Some(evil.into()),
            partner_region: Some(evil.into()),
            features: vec![evil.into()],
            site: Some(evil.into()),
        },
        evil.into(),
        vec![check],
    );
    report.tool.version = evil.into();
    report.tool.name = evil.into();
    report.schema = evil.into();
    report.ranges = Some(RangesProvenance {
        source: evil.into(),
        path: Some(evil.into()),
        create_date: evil.into(),
        sync_token: evil.into(),
        age_days: -1,
    });
    report.fixes = Fixes {
        domains: vec![evil.into()],
        cidrs: vec![CidrFix {
            cidr: evil.into(),
            proto: Proto::Tcp,
            port: evil.into(),
        }],
        notes: vec![evil.into()],
    };
    report
}
