//! The JUnit XML renderer, for pipelines that already show test results.
//!
//! One test suite per report and one test case per check: the class name is the check's kind, the
//! name its id. A failed check is a `<failure>` whose `type` is the reason code, whose message is
//! the detail and whose body adds the remedy and the evidence; a skipped check is `<skipped>`; a
//! warning passes (JUnit has no warning) but says so in `<system-out>` and in the case's
//! properties. Strings are made visible with [`crate::sanitize`] before quick-junit escapes them,
//! so a control character is shown rather than silently dropped. Pure: the report in, a string out.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::{Check, Report, Status};
use crate::sanitize::for_terminal;

const MAX_FIELD: usize = 4000;

fn clean(text: &str) -> String {
    for_terminal(text, MAX_FIELD)
}

pub(crate) fn render(report: &Report) -> String {
    let mut suite_name = format!("connect-preflight {}", report.command);
    for part in [&report.target.instance, &report.target.region]
        .into_iter()
        .flatten()
    {
        suite_name.push(' ');
        suite_name.push_str(part);
    }
    let mut suite = TestSuite::new(clean(&suite_name));
    suite.set_time(Duration::from_millis(report.duration_ms));
    let mut properties = vec![
        Property::new("schema", clean(&report.schema)),
        Property::new("tool_version", clean(&report.tool.version)),
        Property::new("command", clean(&report.command)),
        Property::new("verdict", verdict_code(report)),
        Property::new("started_at", clean(&report.started_at)),
    ];
    let target = &report.target;
    for (name, value) in [
        ("instance", &target.instance),
        ("region", &target.region),
        ("partner_region", &target.partner_region),
        ("site", &target.site),
    ] {
        if let Some(value) = value {
            properties.push(Property::new(name, clean(value)));
        }
    }
    if let Some(ranges) = &report.ranges {
        properties.push(Property::new(
            "ranges_create_date",
            clean(&ranges.create_date),
        ));
        properties.push(Property::new(
            "ranges_sync_token",
            clean(&ranges.sync_token),
        ));
    }
    suite.add_properties(properties);
    suite.add_test_cases(report.checks.iter().map(test_case));
    if !report.fixes.is_empty() {
        suite.set_system_out(fixes_text(report));
    }

    let mut junit = quick_junit::Report::new("connect-preflight");
    junit.set_time(Duration::from_millis(report.duration_ms));
    junit.add_test_suite(suite);
    // Serialising into memory fails only on an I/O error of the writer, which a Vec never has.
    junit.to_string().unwrap_or_default()
}

fn verdict_code(report: &Report) -> &'static str {
    match report.verdict {
        super::Verdict::Ready => "ready",
        super::Verdict::Degraded => "degraded",
        super::Verdict::Incomplete => "incomplete",
        super::Verdict::NotReady => "not_ready",
    }
}

fn endpoint(check: &Check) -> Option<String> {
    match (check.proto, check.port) {
        (Some(proto), Some(port)) => Some(format!("{proto}/{port}")),
        (None, Some(port)) => Some(format!("port {port}")),
        _ => None,
    }
}

/// The detail, remedy, target and evidence of a check, one fact a line.
fn body(check: &Check) -> String {
    let mut lines = vec![clean(&check.detail)];
    if let Some(remedy) = &check.remedy {
        lines.push(format!("remedy: {}", clean(remedy)));
    }
    if let Some(host) = &check.host {
        lines.push(format!("host: {}", clean(host)));
    }
    if let Some(endpoint) = endpoint(check) {
        lines.push(format!("endpoint: {endpoint}"));
    }
    for (key, value) in &check.evidence {
        let value = match value {
            serde_json::Value::String(s) => clean(s),
            other => clean(&other.to_string()),
        };
        lines.push(format!("{}: {value}", clean(key)));
    }
    lines.join("\n")
}

fn test_case(check: &Check) -> TestCase {
    let status = match check.status {
        Status::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type(check.reason.code())
                .set_message(clean(&check.detail))
                .set_description(body(check));
            status
        }
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            status
                .set_type(check.reason.code())
                .set_message(clean(&check.detail));
            status
        }
        Status::Pass | Status::Warn | Status::Info => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(clean(&check.id), status);
    case.set_classname(check.kind.as_str());
    case.set_time(Duration::from_millis(check.duration_ms));
    let mut properties = vec![
        Property::new("status", check.status.label().to_ascii_lowercase()),
        Property::new("reason", check.reason.code()),
    ];
    if let Some(host) = &check.host {
        properties.push(Property::new("host", clean(host)));
    }
    if let Some(endpoint) = endpoint(check) {
        properties.push(Property::new("endpoint", endpoint));
    }
    case.add_properties(properties);
    match check.status {
        Status::Warn | Status::Info => {
            case.set_system_out(format!(
                "{} {}: {}",
                check.status.label(),
                check.reason.code(),
                body(check)
            ));
        }
        Status::Pass => {
            case.set_system_out(body(check));
        }
        Status::Fail | Status::Skip => {}
    }
    case
}

fn fixes_text(report: &Report) -> String {
    let fixes = &report.fixes;
    let mut lines = vec!["What to fix".to_owned()];
    if !fixes.domains.is_empty() {
        lines.push("Add to the domain allow-list:".to_owned());
        lines.extend(fixes.domains.iter().map(|d| format!("  {}", clean(d))));
    }
    if !fixes.cidrs.is_empty() {
        lines.push("Allow outbound to these address ranges:".to_owned());
        lines.extend(
            fixes
                .cidrs
                .iter()
                .map(|f| format!("  {} {}/{}", clean(&f.cidr), f.proto, clean(&f.port))),
        );
    }
    lines.extend(fixes.notes.iter().map(|n| clean(n)));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::{hostile, sample};

    #[test]
    fn representative_report() {
        insta::assert_snapshot!(render(&sample()));
    }

    /// Reads the XML back with a real parser: it must be well-formed, and hold one test case per
    /// check with the failures and skips where the report has them.
    fn parse(xml: &str) -> (usize, Vec<(String, String)>, Vec<String>) {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let (mut cases, mut failures, mut skipped) = (0, Vec::new(), Vec::new());
        let mut current = String::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |name: &[u8]| {
                        e.attributes()
                            .map(|a| a.expect("a well-formed attribute"))
                            .find(|a| a.key.as_ref() == name)
                            .map(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                    .expect("escaped value")
                                    .into_owned()
                            })
                    };
                    match e.name().as_ref() {
                        b"testcase" => {
                            cases += 1;
                            current = attr(b"name").unwrap();
                        }
                        b"failure" => failures.push((current.clone(), attr(b"type").unwrap())),
                        b"skipped" => skipped.push(current.clone()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        (cases, failures, skipped)
    }

    #[test]
    fn parses_back_with_one_case_per_check() {
        let report = sample();
        let xml = render(&report);
        let (cases, failures, skipped) = parse(&xml);
        assert_eq!(cases, report.checks.len());
        assert_eq!(
            failures,
            [(
                "tls/acme.my.connect.aws".to_owned(),
                "intercepted".to_owned()
            )]
        );
        assert_eq!(
            skipped,
            ["websocket/*.transport.connect.eu-central-1.amazonaws.com"]
        );
        assert!(xml.contains(
            r#"<testsuites name="connect-preflight" tests="6" skipped="1" failures="1" errors="0""#
        ));
        assert!(xml.contains("WARN poor_quality: loss of 5.0%"));
    }

    #[test]
    fn hostile_text_stays_well_formed_and_visible() {
        let report = hostile();
        let xml = render(&report);
        let (cases, failures, _) = parse(&xml);
        assert_eq!(cases, 1);
        assert_eq!(failures.len(), 1);
        assert!(!xml.contains("<script"));
        assert!(
            !xml.chars()
                .any(|c| c == '\u{1b}' || c == '\u{202E}' || c == '\0')
        );
        assert!(xml.contains("\\u{202e}gnp.exe"));
    }
}
