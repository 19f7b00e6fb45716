//! `agent`: the shortcut's run against loopback servers, driven only by a site profile.

use std::time::Duration;

use crate::lab::{self, Ca, Endpoint, Lab, Site};

fn agent(lab: &Lab) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("connect-preflight"));
    let home = lab.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let store = lab.path("os-store.pem");
    std::fs::write(&store, "").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("CONNECT_PREFLIGHT_CACHE_DIR", home.join("cache"))
        .env("SSL_CERT_FILE", &store)
        .env("COMPUTERNAME", "PC-0042")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    cmd
}

fn output(mut cmd: std::process::Command) -> (i32, String, String) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_shortcut_run_saves_both_reports_and_prints_the_support_line() {
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["ccp.lab.test"], false);
    let port = lab.tls_site(chain, key, Site::ok());
    let dns = lab.dns(lab::loopback_zone(&["ccp.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("ccp", "ccp.lab.test", port)],
    );
    let ca = lab.write("public-ca.pem", &public.pem);
    let ranges = lab::ranges_file(lab.dir.path());
    let reports = lab.path("reports");
    let profile = lab.write(
        "connect-preflight.toml",
        &format!(
            "site = \"Leeds\"\nregion = \"lab-1\"\nendpoints = {catalog:?}\nip_ranges = {ranges:?}\nca_file = {ca:?}\ndns_servers = [\"{dns}\"]\n\
             report_dir = {reports:?}\ntimeout = \"20s\"\n"
        ),
    );
    let mut cmd = agent(&lab);
    cmd.args([
        "--profile",
        profile.to_str().unwrap(),
        "agent",
        "--no-open",
        "--pause",
    ]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // With stdin not a terminal, --pause does not wait.
    assert!(!stdout.contains("Press Enter"), "{stdout}");
    assert!(stdout.contains("Network check: READY."), "{stdout}");
    let mut saved: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(
        saved[0].starts_with("connect-preflight-PC-0042-") && saved[0].ends_with(".html"),
        "{saved:?}"
    );
    assert_eq!(
        saved[0].trim_end_matches(".html"),
        saved[1].trim_end_matches(".json")
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join(&saved[1])).unwrap()).unwrap();
    assert_eq!(
        (json["verdict"].as_str(), json["target"]["site"].as_str()),
        (Some("ready"), Some("Leeds"))
    );
    let html = std::fs::read_to_string(reports.join(&saved[0])).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("ccp.lab.test"));
    let line = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Send this line"))
        .nth(1)
        .unwrap();
    assert!(
        line.contains("PC-0042")
            && line.contains("lab-1 Leeds")
            && line.contains("READY (0 failed"),
        "{line}"
    );
    assert!(stdout.contains(&reports.join(&saved[0]).display().to_string()));
}

#[test]
fn without_a_profile_the_agent_is_told_to_ask_support() {
    let lab = Lab::new();
    let mut cmd = agent(&lab);
    cmd.args(["agent", "--no-open"]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        stderr.contains("needs a site profile") && stderr.contains("profile.toml"),
        "{stderr}"
    );
}
