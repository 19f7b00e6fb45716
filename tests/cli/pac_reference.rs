//! The embedded PAC engine against a reference one: Debian's `python3-pacparser` (SpiderMonkey
//! with Mozilla's PAC helpers), host by host, on every PAC file of the corpus. The reference runs
//! in a network namespace of its own with no interface up, so its `dnsResolve` fails as the
//! embedded engine's does and nothing is ever looked up on the network; its `myIpAddress` is set
//! to 127.0.0.1, the embedded engine's. SpiderMonkey 1.7 predates ES2015, so the reference gets
//! `startsWith`, `endsWith` and `includes` on strings as the specification defines them (scripts
//! written for today's browsers use them).
//!
//! Without pacparser (or the right to make the namespace) the test prints SKIP; with `CI=true` it
//! fails instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use connect_preflight::allowlist::pac;
use serde_json::Value;

use crate::common::repo_file;

const REFERENCE: &str = r#"
import json, sys
import pacparser
req = json.load(sys.stdin)
pacparser.init()
pacparser.setmyip("127.0.0.1")
# SpiderMonkey 1.7 predates ES2015: the string methods browsers' engines have, per the spec.
POLYFILL = """
if (!String.prototype.startsWith) String.prototype.startsWith = function (s, p) {
  p = p > 0 ? p | 0 : 0; return this.substring(p, p + String(s).length) === String(s); };
if (!String.prototype.endsWith) String.prototype.endsWith = function (s, e) {
  var t = String(this); e = e === undefined || e > t.length ? t.length : e | 0;
  return t.substring(e - String(s).length, e) === String(s); };
if (!String.prototype.includes) String.prototype.includes = function (s, p) {
  return String(this).indexOf(s, p) !== -1; };
"""
try:
    pacparser.parse_pac_string(POLYFILL + req["script"])
except Exception as e:
    print(json.dumps({"error": str(e)}))
    sys.exit(0)
out = []
for url, host in req["requests"]:
    try:
        out.append({"ok": pacparser.find_proxy(url, host)})
    except Exception as e:
        out.append({"err": str(e)})
print(json.dumps({"results": out}))
"#;

/// The hosts every PAC is asked about: Connect's, and names and addresses of the kinds PAC
/// scripts test for.
const HOSTS: &[&str] = &[
    "acme.my.connect.aws",
    "acme.awsapps.com",
    "static.connect.aws",
    "participant.connect.eu-central-1.amazonaws.com",
    "x1.transport.connect.eu-central-1.amazonaws.com",
    "turnnlb-d76454ac48d20c1e.elb.eu-central-1.amazonaws.com",
    "rtc.connect-telecom.eu-central-1.amazonaws.com",
    "d1ab0example.cloudfront.net",
    "intranet",
    "10.1.2.3",
    "192.168.1.5",
    "172.16.4.4",
    "8.8.8.8",
    "www.google.com",
    "ACME.My.Connect.AWS",
];

fn reference_available() -> Result<(), String> {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        return Err("/usr/bin/python3 (Debian package python3)".into());
    }
    let ok = Command::new("unshare")
        .args(["-rn", "/usr/bin/python3", "-c", "import pacparser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(
            "pacparser in a namespace without network (Debian package python3-pacparser, and unshare -rn)"
                .into(),
        );
    }
    Ok(())
}

/// The hosts a script names in its string literals, made concrete: `*.x.com` and `.x.com` give
/// `www.x.com` and `x.com`.
fn named_hosts(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        for (i, part) in script.split(quote).enumerate() {
            if i % 2 == 0 || part.len() > 100 || !part.contains('.') {
                continue;
            }
            if !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"*.-_".contains(&b))
            {
                continue;
            }
            let bare = part.trim_start_matches('*').trim_start_matches('.');
            if bare.is_empty() || bare.contains('*') {
                continue;
            }
            out.push(bare.to_owned());
            out.push(format!("www.{bare}"));
        }
    }
    out
}

/// An answer as a list of entries, blanks collapsed.
fn entries(raw: &str) -> Vec<String> {
    raw.split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect()
}

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["tests/data/real/pac", "tests/data/allowlists"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo_file(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pac"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

#[test]
fn the_embedded_pac_engine_answers_as_pacparser_does_on_the_corpus() {
    if let Err(missing) = reference_available() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the PAC reference engine cannot run here; missing: {missing}");
        }
        println!("SKIP: the PAC differential did not run; missing: {missing}");
        return;
    }
    let mut compared = 0;
    let mut agreed = 0;
    let mut reference_failed = Vec::new();
    let mut disagreements = Vec::new();
    let files = corpus();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let script = std::fs::read_to_string(file).unwrap();
        let mut hosts: Vec<String> = HOSTS.iter().map(|h| (*h).to_owned()).collect();
        hosts.extend(named_hosts(&script));
        hosts.dedup();
        let requests: Vec<(String, String)> = hosts
            .iter()
            .map(|h| (format!("https://{h}/"), h.clone()))
            .collect();
        let ours = pac::evaluate(&script, file, &requests);
        let mut child = Command::new("unshare")
            .args(["-rn", "/usr/bin/python3", "-c", REFERENCE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = serde_json::json!({ "script": script, "requests": requests });
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let theirs: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{}: reference output: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match (&ours, theirs.get("error")) {
            (Err(_), Some(_)) => {
                // Both refuse the script.
                compared += 1;
                agreed += 1;
                continue;
            }
            (Err(e), None) => {
                disagreements.push(format!("{name}: refused here ({e}), run by pacparser"));
                continue;
            }
            (Ok(_), Some(e)) => {
                reference_failed.push(format!("{name}: pacparser refuses the script: {e}"));
                continue;
            }
            (Ok(_), None) => {}
        }
        let ours = ours.unwrap();
        let theirs = theirs["results"].as_array().unwrap();
        for ((request, mine), reference) in requests.iter().zip(&ours).zip(theirs) {
            let host = &request.1;
            match (mine, reference.get("ok").and_then(Value::as_str)) {
                (Ok(route), Some(raw)) => {
                    compared += 1;
                    if entries(&route.raw) == entries(raw) {
                        agreed += 1;
                    } else {
                        disagreements.push(format!(
                            "{name} {host}: here {:?}, pacparser {raw:?}",
                            route.raw
                        ));
                    }
                }
                (Err(_), None) => {
                    compared += 1;
                    agreed += 1;
                }
                (Ok(route), None) => reference_failed.push(format!(
                    "{name} {host}: here {:?}, pacparser failed: {}",
                    route.raw, reference["err"]
                )),
                (Err(e), Some(raw)) => {
                    disagreements.push(format!(
                        "{name} {host}: here failed ({e}), pacparser {raw:?}"
                    ));
                }
            }
        }
    }
    println!(
        "PAC differential: {} files, {agreed}/{compared} answers agree with pacparser; {} answers pacparser could not give (its engine is ES3):",
        files.len(),
        reference_failed.len()
    );
    for r in &reference_failed {
        println!("  {r}");
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements with pacparser:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(compared > 100, "only {compared} answers compared");
}
