//! `agent` by the Windows build, as the Start-menu shortcut runs it: the site profile beside the
//! executable, the reports in "Connect network check" in the Wine user's Documents, the HTML
//! handed to the program Windows opens `.html` files with (a stand-in the test registers), and
//! the one line for support printed.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::lab::{self, Ca, Endpoint, Lab, Site};
use crate::prefix::{self, Prefix, win};

#[test]
fn the_shortcut_run_saves_the_reports_in_documents_and_opens_the_html() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let lab = Lab::new();
    let public = Ca::new("Lab Public CA", "Lab Trust");
    let (chain, key) = public.leaf(&["ccp.lab.test"], false);
    // No Date header: it is fixed when the site is made, and a run under Wine takes seconds.
    let port = lab.tls_site(
        chain,
        key,
        Site {
            status: 200,
            date: None,
        },
    );
    let dns = lab.dns(lab::loopback_zone(&["ccp.lab.test"]));
    let catalog = lab::catalog_file(
        lab.dir.path(),
        &[Endpoint::new("ccp", "ccp.lab.test", port)],
    );
    let ca = lab.write("public-ca.pem", &public.pem);
    let ranges = lab::ranges_file(lab.dir.path());

    // The executable in a folder of its own with the site profile beside it, as installed.
    let programs = prefix.root.join("drive_c/Tools/connect-preflight");
    std::fs::create_dir_all(&programs).unwrap();
    let exe = programs.join("connect-preflight.exe");
    std::fs::copy(&tools.exe, &exe).unwrap();
    std::fs::write(
        programs.join("connect-preflight.toml"),
        format!(
            "site = \"Leeds\"\nregion = \"lab-1\"\nendpoints = '{}'\nip_ranges = '{}'\nca_file = '{}'\n\
             dns_servers = [\"{dns}\"]\ntimeout = \"20s\"\n",
            win(&catalog),
            win(&ranges),
            win(&ca)
        ),
    )
    .unwrap();

    // The stand-in opener: writes what it was asked to open to C:\opened.txt. Registered for the
    // machine: Wine 8 reads file associations from HKCR only (Windows merges the user's in too).
    let classes = r"HKLM\Software\Classes";
    let opened = prefix.root.join("drive_c/opened.txt");
    for (key, data) in [
        (format!(r"{classes}\.html"), "PreflightTest.html"),
        (
            format!(r"{classes}\PreflightTest.html\shell\open\command"),
            r#"C:\windows\system32\cmd.exe /c echo "%1"> C:\opened.txt"#,
        ),
    ] {
        let out = prefix::run(
            prefix
                .cmd(Path::new("/"))
                .args(["reg", "add", &key, "/ve", "/d", data, "/f"]),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{out:?}");
    }

    let out = prefix::run(
        prefix
            .cmd(Path::new("/"))
            .args([r"C:\Tools\connect-preflight\connect-preflight.exe", "agent"]),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Network check: READY."), "{stdout}");
    let folder = prefix.profile().join("Documents/Connect network check");
    let user = prefix.profile();
    let user = user.file_name().unwrap().to_string_lossy();
    let windows_folder = format!(r"C:\users\{user}\Documents\Connect network check");
    assert!(
        stdout.contains(&format!(
            "Report saved: {windows_folder}\\connect-preflight-"
        )),
        "{stdout}"
    );
    let mut saved: Vec<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{} ({e}):\n{stdout}", folder.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(saved[0].starts_with("connect-preflight-") && saved[0].ends_with(".html"));
    // connect-preflight-HOST-YYYYMMDD-HHMMSS: the machine's name, as Windows gives it.
    let stem = saved[1].trim_end_matches(".json");
    let host = stem
        .trim_start_matches("connect-preflight-")
        .rsplitn(3, '-')
        .nth(2)
        .unwrap()
        .to_owned();
    assert!(saved[1].ends_with(".json"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join(&saved[1])).unwrap()).unwrap();
    assert_eq!(json["verdict"], "ready");
    // The one line for support: version, machine, time, target, verdict, report name.
    let line = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Send this line"))
        .nth(1)
        .unwrap_or_else(|| panic!("no support line: {stdout}"));
    assert!(
        line.contains(&format!(" · {host} · ")) && line.contains("READY") && line.ends_with(stem),
        "{line}"
    );
    assert!(!stdout.contains("could not be started"), "{stdout}");

    // The opener runs on its own after the program ends.
    let started = Instant::now();
    while !opened.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&opened)
        .unwrap_or_else(|e| panic!("the opener was not started ({e})"));
    assert!(
        text.contains(&format!("{windows_folder}\\{}", saved[0])),
        "{text}"
    );
}
