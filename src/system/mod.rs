//! Facts about the workstation that decide where and how the softphone's media flows: a
//! remote-desktop session, and the browsers' pinned WebRTC UDP ports. Read without admin rights;
//! nothing is changed.

pub(crate) mod browser_proxy;
pub(crate) mod policy;
pub(crate) mod proxy;
pub(crate) mod vdi;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::report::{Check, Kind, Reason, Status};
use policy::PortPolicy;
use vdi::Session;

/// What was found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Facts {
    pub sessions: Vec<Session>,
    pub port_policies: Vec<PortPolicy>,
}

/// Where the facts are read from: the real machine, or a folder laid out like one (tests).
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    /// The filesystem root for policy files and `/proc` (Linux).
    pub root: PathBuf,
    pub env: Vec<(String, String)>,
    /// Ask the OS's own tools (`reg`, `tasklist`, `defaults`, `ps`) where files don't tell.
    pub os_commands: bool,
}

impl Sources {
    pub(crate) fn this_machine() -> Self {
        Self {
            root: PathBuf::from("/"),
            env: std::env::vars().collect(),
            os_commands: true,
        }
    }
}

/// Managed-policy folders of Chromium-based browsers on Linux.
const LINUX_POLICY_DIRS: &[(&str, &str)] = &[
    ("Google Chrome", "etc/opt/chrome/policies/managed"),
    ("Chromium", "etc/chromium/policies/managed"),
    ("Microsoft Edge", "etc/opt/edge/policies/managed"),
];

/// Policy registry keys of Chromium-based browsers on Windows, the machine's before the user's.
#[cfg_attr(not(windows), allow(dead_code))]
const WINDOWS_POLICY_KEYS: &[(&str, &str)] = &[
    ("Google Chrome", r"HKLM\SOFTWARE\Policies\Google\Chrome"),
    ("Google Chrome", r"HKCU\SOFTWARE\Policies\Google\Chrome"),
    ("Microsoft Edge", r"HKLM\SOFTWARE\Policies\Microsoft\Edge"),
    ("Microsoft Edge", r"HKCU\SOFTWARE\Policies\Microsoft\Edge"),
];

/// `reg query` of each of [`WINDOWS_POLICY_KEYS`] (browser, key, output; `None` where the key is
/// absent), asked once per run: the proxy and the WebRTC port policies both read it.
#[cfg(windows)]
fn windows_policies() -> &'static [(&'static str, &'static str, Option<String>)] {
    use proxy::{TOOL_TIME, run_tool};
    static READ: std::sync::OnceLock<Vec<(&str, &str, Option<String>)>> =
        std::sync::OnceLock::new();
    READ.get_or_init(|| {
        WINDOWS_POLICY_KEYS
            .iter()
            .map(|(browser, key)| (*browser, *key, run_tool("reg", &["query", key], TOOL_TIME)))
            .collect()
    })
}

/// Managed-preference domains of Chromium-based browsers on macOS.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const MACOS_POLICY_DOMAINS: &[(&str, &str)] = &[
    (
        "Google Chrome",
        "/Library/Managed Preferences/com.google.Chrome",
    ),
    (
        "Microsoft Edge",
        "/Library/Managed Preferences/com.microsoft.Edge",
    ),
];

/// Bounds on what is read, so a strange machine cannot stall or bloat the run.
const MAX_POLICY_FILE: u64 = 1 << 20;
const MAX_DIR_ENTRIES: usize = 10_000;

pub(crate) fn gather(sources: &Sources) -> Facts {
    let mut processes = Vec::new();
    let mut port_policies = Vec::new();
    for (browser, dir) in LINUX_POLICY_DIRS {
        for path in list(&sources.root.join(dir)) {
            if path.extension().is_some_and(|e| e == "json")
                && std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_POLICY_FILE)
            {
                if let Some((first, last)) = std::fs::read_to_string(&path)
                    .ok()
                    .as_deref()
                    .and_then(policy::from_json)
                {
                    port_policies.push(PortPolicy {
                        browser: (*browser).to_owned(),
                        source: path.display().to_string(),
                        first,
                        last,
                    });
                }
            }
        }
    }
    for entry in list(&sources.root.join("proc")) {
        if let Ok(comm) = std::fs::read_to_string(entry.join("comm")) {
            processes.push(comm.trim().to_owned());
        }
    }
    if sources.os_commands {
        os::gather(&mut port_policies, &mut processes);
    }
    let env = sources.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let sessions = vdi::detect(env, processes.iter().map(String::as_str));
    Facts {
        sessions,
        port_policies,
    }
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .take(MAX_DIR_ENTRIES)
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect()
        })
        .unwrap_or_default()
}

/// The local UDP ports returning media arrives on: the tightest browser policy, else the OS's range.
pub(crate) fn return_ports(facts: &Facts) -> (u16, u16) {
    facts
        .port_policies
        .iter()
        .map(|p| (p.first, p.last))
        .min_by_key(|(a, b)| b - a)
        .unwrap_or_else(|| {
            let (_, first, last) = policy::default_ephemeral();
            (first, last)
        })
}

/// The checks of kind `system`: facts to read, never failures.
pub(crate) fn checks(facts: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    let session = match facts.sessions.first() {
        Some(s) => Check::new(
            "system/session",
            Kind::System,
            Status::Info,
            Reason::Ok,
            format!(
                "this runs inside a {} session ({}). With Connect's VDI media redirection (VDIPlatform {}) the softphone's audio \
                 flows from the agent's endpoint device, not from this desktop: run the media check on the endpoint too; \
                 the HTTPS and WebSocket checks belong here",
                s.platform.name(),
                s.signal,
                s.platform.redirection()
            ),
        ),
        None => Check::new(
            "system/session",
            Kind::System,
            Status::Info,
            Reason::Ok,
            "no remote-desktop session detected: the media check ran on the machine that carries the audio",
        ),
    };
    out.push(session.evidence("sessions", &facts.sessions));
    let (first, last) = return_ports(facts);
    let ports = match facts
        .port_policies
        .iter()
        .find(|p| (p.first, p.last) == (first, last))
    {
        Some(p) => Check::new(
            "system/webrtc-udp-ports",
            Kind::System,
            Status::Info,
            Reason::Ok,
            format!(
                "{} limits WebRTC to local UDP ports {}-{} (WebRtcUdpPortRange in {}); a stateless firewall must let AMAZON_CONNECT traffic back in to those ports",
                p.browser, p.first, p.last, p.source
            ),
        ),
        None => {
            let (os, a, b) = policy::default_ephemeral();
            Check::new(
                "system/webrtc-udp-ports",
                Kind::System,
                Status::Info,
                Reason::Ok,
                format!(
                    "no browser pins WebRTC's UDP ports (WebRtcUdpPortRange): they come from the {os} ephemeral range {a}-{b}; a stateless firewall must let \
                     AMAZON_CONNECT traffic back in to that whole range, or an administrator can pin a smaller one with the policy"
                ),
            )
        }
    };
    out.push(
        ports
            .evidence("return_ports", format!("{first}-{last}"))
            .evidence("policies", &facts.port_policies),
    );
    out
}

#[cfg(windows)]
mod os {
    //! Windows: the policy in the registry (machine, then user), and the process list, through the
    //! OS's own `reg` and `tasklist`, which need no admin rights, each bounded by a timeout.
    use super::policy::{self, PortPolicy};
    use super::proxy::{TOOL_TIME, run_tool};

    pub(super) fn gather(policies: &mut Vec<PortPolicy>, processes: &mut Vec<String>) {
        for (browser, key, out) in super::windows_policies() {
            if let Some((first, last)) = out.as_deref().and_then(policy::from_reg_query) {
                policies.push(PortPolicy {
                    browser: (*browser).to_owned(),
                    source: (*key).to_owned(),
                    first,
                    last,
                });
            }
        }
        if let Some(out) = run_tool("tasklist", &["/fo", "csv", "/nh"], TOOL_TIME) {
            for line in out.lines() {
                if let Some(name) = line.split(',').next() {
                    processes.push(name.trim_matches('"').to_owned());
                }
            }
        }
    }
}

#[cfg(target_os = "macos")]
mod os {
    //! macOS: managed preferences through `defaults`, processes through `ps`, each bounded by a
    //! timeout.
    use super::policy::{self, PortPolicy};
    use super::proxy::{TOOL_TIME, run_tool};

    pub(super) fn gather(policies: &mut Vec<PortPolicy>, processes: &mut Vec<String>) {
        for (browser, domain) in super::MACOS_POLICY_DOMAINS {
            let out = run_tool(
                "defaults",
                &["read", domain, "WebRtcUdpPortRange"],
                TOOL_TIME,
            );
            if let Some((first, last)) = out.as_deref().and_then(policy::parse_range) {
                policies.push(PortPolicy {
                    browser: (*browser).to_owned(),
                    source: format!("{domain}.plist"),
                    first,
                    last,
                });
            }
        }
        if let Some(out) = run_tool("ps", &["-axco", "command"], TOOL_TIME) {
            processes.extend(out.lines().skip(1).map(|l| l.trim().to_owned()));
        }
    }
}

#[cfg(not(any(windows, target_os = "macos")))]
mod os {
    //! Linux and other Unix: everything comes from files, read above.
    use super::policy::PortPolicy;

    pub(super) fn gather(_policies: &mut Vec<PortPolicy>, _processes: &mut Vec<String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(files: &[(&str, &str)], env: &[(&str, &str)]) -> (tempfile::TempDir, Sources) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let sources = Sources {
            root: dir.path().to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            os_commands: false,
        };
        (dir, sources)
    }

    #[test]
    fn a_plain_desktop() {
        let (_dir, sources) = machine(
            &[("proc/1/comm", "systemd\n"), ("proc/77/comm", "chrome\n")],
            &[("SESSIONNAME", "Console")],
        );
        let facts = gather(&sources);
        assert_eq!(facts, Facts::default());
        let checks = checks(&facts);
        assert!(checks.iter().all(|c| c.status == Status::Info));
        assert!(checks[0].detail.starts_with("no remote-desktop session"));
        assert!(
            checks[1].detail.contains("ephemeral range"),
            "{}",
            checks[1].detail
        );
    }

    #[test]
    fn a_citrix_desktop_with_a_pinned_port_range() {
        let (_dir, sources) = machine(
            &[
                (
                    "etc/opt/chrome/policies/managed/connect.json",
                    r#"{"WebRtcUdpPortRange": "10000-11999"}"#,
                ),
                (
                    "etc/opt/edge/policies/managed/other.json",
                    r#"{"HomepageLocation": "https://intranet"}"#,
                ),
                ("proc/412/comm", "ctxhdx\n"),
            ],
            &[],
        );
        let facts = gather(&sources);
        assert_eq!(facts.sessions[0].platform, vdi::Platform::Citrix);
        assert_eq!(facts.port_policies.len(), 1);
        assert_eq!(return_ports(&facts), (10000, 11999));
        let checks = checks(&facts);
        assert!(
            checks[0].detail.contains("Citrix") && checks[0].detail.contains("endpoint device"),
            "{}",
            checks[0].detail
        );
        assert!(
            checks[1].detail.contains("10000-11999") && checks[1].detail.contains("Google Chrome"),
            "{}",
            checks[1].detail
        );
    }
}
