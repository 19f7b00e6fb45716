//! The report surfaces through the binary: `ranges info` as HTML and JUnit.

use predicates::str::contains;

use crate::common::Sandbox;

#[test]
fn ranges_info_writes_a_self_contained_html_page() {
    let s = Sandbox::new();
    let page = s.path("report.html");
    s.cmd()
        .args(["ranges", "info", "--format", "html", "--output"])
        .arg(&page)
        .assert()
        // The embedded snapshot is past its 30-day window when the tests run: degraded.
        .code(1)
        .stdout("");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h1>Degraded</h1>"));
    assert!(html.contains("snapshot_stale"));
    assert!(html.contains("run `connect-preflight ranges update`"));
    assert!(html.contains(concat!("connect-preflight ", env!("CARGO_PKG_VERSION"))));
    // Nothing to fetch, nothing to run.
    let lower = html.to_ascii_lowercase();
    for needle in [
        "<script", "<link", "<img", "src=", "href=", "@import", "url(",
    ] {
        assert!(!lower.contains(needle), "{needle} in the page");
    }
}

#[test]
fn ranges_info_writes_junit_that_parses_back() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(["ranges", "info", "-f", "junit"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut cases = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == b"testcase" =>
            {
                let classname = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"classname")
                    .map(|a| String::from_utf8(a.value.into_owned()).unwrap());
                cases.push(classname);
            }
            _ => {}
        }
    }
    assert_eq!(cases, [Some("ranges".to_owned())]);
    // A warning is not a JUnit failure: the case passes and says why in system-out.
    assert!(xml.contains(r#"failures="0""#));
    assert!(xml.contains("WARN snapshot_stale:"));
}

#[test]
fn ranges_diff_offers_only_its_own_formats() {
    let s = Sandbox::new();
    s.cmd()
        .args(["ranges", "diff", "a.json", "b.json", "-f", "html"])
        .assert()
        .code(64)
        .stderr(contains("invalid value 'html'"));
}
