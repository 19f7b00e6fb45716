//! The packaging data agrees with the program: the MSI's shortcut and custom action are command
//! lines the binary accepts, its UpgradeCode is the one Cargo.toml names, and every packaged file
//! that is not built exists.

use std::collections::BTreeMap;

use clap::Parser;
use connect_preflight::cli::{Cli, Command, ProfileCommand};

use crate::common::{Sandbox, repo_file};

/// Every element of wix/main.wxs with its attributes, in document order.
fn wxs_elements() -> Vec<(String, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(repo_file("wix/main.wxs")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut elements = Vec::new();
    loop {
        match reader
            .read_event()
            .expect("wix/main.wxs is well-formed XML")
        {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attributes = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            String::from_utf8(a.value.to_vec()).unwrap(),
                        )
                    })
                    .collect();
                elements.push((name, attributes));
            }
            _ => {}
        }
    }
    elements
}

fn element<'a>(
    elements: &'a [(String, BTreeMap<String, String>)],
    name: &str,
    id: &str,
) -> &'a BTreeMap<String, String> {
    elements
        .iter()
        .find(|(n, a)| n == name && a.get("Id").map(String::as_str) == Some(id))
        .map(|(_, a)| a)
        .unwrap_or_else(|| panic!("no <{name} Id='{id}'> in wix/main.wxs"))
}

/// Splits a Windows command line the way the C runtime does for these simple cases: whitespace
/// separates arguments, double quotes group and are removed.
fn windows_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
                any = false;
            }
            c => current.push(c),
        }
    }
    if any || !current.is_empty() {
        args.push(current);
    }
    args
}

fn cargo_toml() -> toml::Table {
    toml::from_str(&std::fs::read_to_string(repo_file("Cargo.toml")).unwrap()).unwrap()
}

#[test]
fn the_msi_keeps_its_upgrade_code_and_installs_per_user() {
    let elements = wxs_elements();
    let (_, product) = elements.iter().find(|(n, _)| n == "Product").unwrap();
    let cargo = cargo_toml();
    let guid = cargo["package"]["metadata"]["wix"]["upgrade-guid"]
        .as_str()
        .unwrap();
    assert_eq!(product["UpgradeCode"], guid);
    let (_, package) = elements.iter().find(|(n, _)| n == "Package").unwrap();
    assert_eq!(package["InstallScope"], "perUser");
    assert!(
        !elements
            .iter()
            .any(|(n, a)| n == "Property" && a["Id"] == "ALLUSERS")
    );
    assert_eq!(
        element(&elements, "Property", "MSIINSTALLPERUSER")["Value"],
        "1"
    );
    assert_eq!(
        element(&elements, "Directory", "UserPrograms")["Name"],
        "Programs"
    );
    assert!(
        elements
            .iter()
            .any(|(n, a)| n == "MajorUpgrade" && a.contains_key("DowngradeErrorMessage"))
    );
}

#[test]
fn the_start_menu_shortcut_runs_the_agent_command_with_pause() {
    let elements = wxs_elements();
    let shortcut = element(&elements, "Shortcut", "ConnectNetworkCheck");
    assert_eq!(shortcut["Name"], "Connect network check");
    assert_eq!(shortcut["Target"], "[INSTALLDIR]connect-preflight.exe");
    assert_eq!(shortcut["Arguments"], "agent --pause");
}

#[test]
fn the_installers_profile_command_is_one_the_binary_accepts() {
    let elements = wxs_elements();
    let action = element(&elements, "CustomAction", "WriteSiteProfile");
    assert_eq!(action["FileKey"], "ConnectPreflightExe");
    for (instance, region, url) in [
        ("acme", "eu-central-1", ""),
        ("", "", "https://intranet.example/p.toml"),
    ] {
        let line = action["ExeCommand"]
            .replace("[INSTANCE]", instance)
            .replace("[REGION]", region)
            .replace("[PROFILE_URL]", url)
            .replace(
                "[INSTALLDIR]",
                r"C:\Users\a\AppData\Local\Programs\connect-preflight\",
            );
        let mut argv = vec!["connect-preflight.exe".to_owned()];
        argv.extend(windows_args(&line));
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let Command::Profile(ProfileCommand::Write(args)) = cli.command else {
            panic!("the custom action does not run profile write: {argv:?}");
        };
        assert!(args.force && cli.quiet);
        assert_eq!(args.instance.as_deref(), Some(instance));
        assert_eq!(args.region.as_deref(), Some(region));
        assert_eq!(args.from.as_deref(), Some(url));
        assert_eq!(
            cli.output.unwrap().to_string_lossy(),
            r"C:\Users\a\AppData\Local\Programs\connect-preflight\connect-preflight.toml"
        );
    }
    // And it does what the installer needs when run, empty properties included.
    let sandbox = Sandbox::new();
    let out = sandbox.path("connect-preflight.toml");
    let line = action["ExeCommand"]
        .replace("[INSTANCE]", "acme")
        .replace("[REGION]", "eu-central-1")
        .replace("[PROFILE_URL]", "")
        .replace("[INSTALLDIR]connect-preflight.toml", &out.to_string_lossy());
    sandbox.cmd().args(windows_args(&line)).assert().success();
    let profile = connect_preflight::config::Profile::read(&out).unwrap();
    assert_eq!(profile.instance.as_deref(), Some("acme"));
}

#[test]
fn every_packaged_source_file_exists_or_is_built() {
    let elements = wxs_elements();
    let mut sources: Vec<String> = elements
        .iter()
        .filter(|(n, _)| n == "File")
        .map(|(_, a)| a["Source"].clone())
        .filter(|s| !s.starts_with("$(var."))
        .collect();
    let cargo = cargo_toml();
    let meta = &cargo["package"]["metadata"];
    for asset in meta["deb"]["assets"].as_array().unwrap() {
        sources.push(asset[0].as_str().unwrap().to_owned());
    }
    for asset in meta["generate-rpm"]["assets"].as_array().unwrap() {
        sources.push(asset["source"].as_str().unwrap().to_owned());
    }
    assert!(sources.len() > 10);
    for source in sources.iter().filter(|s| !s.starts_with("target/")) {
        assert!(
            repo_file(source).is_file(),
            "{source} is packaged but missing"
        );
    }
    // The built ones are what packaging/build-linux.sh writes.
    let script = std::fs::read_to_string(repo_file("packaging/build-linux.sh")).unwrap();
    for source in sources
        .iter()
        .filter(|s| s.starts_with("target/packaging/"))
    {
        let name = source.trim_start_matches("target/packaging/");
        assert!(
            script.contains(&format!("$out/{name}\"")),
            "build-linux.sh does not write {source}"
        );
    }
}

#[test]
fn the_linux_launcher_runs_the_agent_command_in_a_terminal() {
    let text = std::fs::read_to_string(repo_file("packaging/connect-preflight.desktop")).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "Exec=connect-preflight agent --pause")
    );
    assert!(text.lines().any(|l| l == "Terminal=true"));
    assert!(text.lines().any(|l| l == "Name=Connect network check"));
}

/// The .deb and the .rpm install the README and every file its links lead to, directly or through
/// other documents, at the same place relative to it: no link in the installed docs is dead.
#[test]
fn the_packages_ship_every_document_the_readme_leads_to() {
    let cargo = cargo_toml();
    let meta = &cargo["package"]["metadata"];
    let deb: Vec<(String, String)> = meta["deb"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let (source, dest) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
            let name = source.rsplit('/').next().unwrap();
            let dest = if dest.ends_with('/') {
                format!("/{dest}{name}")
            } else {
                format!("/{dest}")
            };
            (source.to_owned(), dest)
        })
        .collect();
    let rpm: Vec<(String, String)> = meta["generate-rpm"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["source"].as_str().unwrap().to_owned(),
                a["dest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut shipped = 0;
    for doc in documents_the_readme_leads_to() {
        let dest = format!("/usr/share/doc/connect-preflight/{doc}");
        for (package, assets) in [("deb", &deb), ("rpm", &rpm)] {
            assert!(
                assets.iter().any(|(s, d)| *s == doc && *d == dest),
                "the {package} does not install {doc} as {dest}, where the README's links expect it"
            );
        }
        shipped += 1;
    }
    assert!(
        shipped > 10,
        "only {shipped} documents found: is the link reader right?"
    );
}

/// The README and the files its relative links lead to, followed through every linked Markdown
/// file, as paths from the repository's root.
fn documents_the_readme_leads_to() -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut todo = vec!["README.md".to_owned()];
    while let Some(file) = todo.pop() {
        if !found.insert(file.clone()) || !file.ends_with(".md") {
            continue;
        }
        let text = std::fs::read_to_string(repo_file(&file)).unwrap();
        let folder = std::path::Path::new(&file).parent().unwrap().to_path_buf();
        for line in crate::docs::prose_lines(&text) {
            for target in crate::docs::link_targets(&line) {
                let path = target.split('#').next().unwrap_or("");
                if path.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let mut parts: Vec<String> = Vec::new();
                for part in folder.join(path).components() {
                    match part {
                        std::path::Component::ParentDir => {
                            parts.pop();
                        }
                        std::path::Component::Normal(p) => {
                            parts.push(p.to_string_lossy().into_owned());
                        }
                        _ => {}
                    }
                }
                todo.push(parts.join("/"));
            }
        }
    }
    found
}
