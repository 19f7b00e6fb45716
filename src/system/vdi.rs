//! Is this a remote-desktop session? Under Connect's VDI media redirection (Citrix, Amazon
//! WorkSpaces/DCV, Omnissa Horizon, Azure Virtual Desktop and Windows 365) the softphone's audio
//! flows from the endpoint device, so the media check belongs there.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Platform {
    Citrix,
    /// Amazon WorkSpaces and Amazon DCV.
    AmazonDcv,
    OmnissaHorizon,
    /// Azure Virtual Desktop, Windows 365, or another Remote Desktop session.
    RemoteDesktop,
}

impl Platform {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Citrix => "Citrix",
            Self::AmazonDcv => "Amazon WorkSpaces / DCV",
            Self::OmnissaHorizon => "Omnissa Horizon",
            Self::RemoteDesktop => "Azure Virtual Desktop, Windows 365 or Remote Desktop",
        }
    }

    /// The VDIPlatform value of Connect's Streams API for the redirection of this platform.
    pub(crate) const fn redirection(self) -> &'static str {
        match self {
            Self::Citrix => "CITRIX",
            Self::AmazonDcv => "AWS_WORKSPACE",
            Self::OmnissaHorizon => "OMNISSA",
            Self::RemoteDesktop => "AZURE (multimedia redirection)",
        }
    }
}

/// A session detected, with the signal that gave it away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Session {
    pub platform: Platform,
    pub signal: String,
}

/// Environment variables whose presence or value names the platform. Windows exposes a session's
/// `SESSIONNAME` (`ICA-…` for Citrix, `RDP-Tcp#…` for Remote Desktop), and Horizon writes the
/// client's details into the session's volatile environment as `ViewClient_*`.
fn from_env(name: &str, value: &str) -> Option<Platform> {
    let upper = value.to_ascii_uppercase();
    match name {
        "SESSIONNAME" if upper.starts_with("ICA") => Some(Platform::Citrix),
        "SESSIONNAME" if upper.starts_with("RDP-") => Some(Platform::RemoteDesktop),
        "ViewClient_Machine_Name" | "ViewClient_Broker_DNS_Name" | "ViewClient_Protocol" => {
            Some(Platform::OmnissaHorizon)
        }
        _ => None,
    }
}

/// Processes that run only inside such sessions (case-insensitive, without `.exe`).
fn from_process(name: &str) -> Option<Platform> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    match name {
        "wfshell" | "ctxhdx" => Some(Platform::Citrix),
        "dcvagent" | "dcvserver" => Some(Platform::AmazonDcv),
        "rdagentbootloader" => Some(Platform::RemoteDesktop),
        _ => None,
    }
}

/// The sessions the signals point to, strongest first, one per platform.
pub(crate) fn detect<'a>(
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
    processes: impl IntoIterator<Item = &'a str>,
) -> Vec<Session> {
    let mut found: Vec<Session> = Vec::new();
    let mut add = |platform, signal: String| {
        if !found.iter().any(|s| s.platform == platform) {
            found.push(Session { platform, signal });
        }
    };
    for (name, value) in env {
        if let Some(p) = from_env(name, value) {
            add(p, format!("environment {name}={value}"));
        }
    }
    for name in processes {
        if let Some(p) = from_process(name) {
            add(p, format!("process {name}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        let none = detect(
            [("SESSIONNAME", "Console"), ("PATH", "/usr/bin")],
            ["explorer.exe", "bash"],
        );
        assert!(none.is_empty());
        let citrix = detect([("SESSIONNAME", "ICA-CGP#3")], ["WFShell.exe"]);
        assert_eq!(
            citrix,
            [Session {
                platform: Platform::Citrix,
                signal: "environment SESSIONNAME=ICA-CGP#3".into()
            }]
        );
        let horizon = detect([("ViewClient_Machine_Name", "THINCLIENT-07")], []);
        assert_eq!(horizon[0].platform, Platform::OmnissaHorizon);
        let avd = detect([("SESSIONNAME", "RDP-Tcp#12")], ["RDAgentBootLoader.exe"]);
        assert_eq!(avd.len(), 1);
        assert_eq!(avd[0].platform, Platform::RemoteDesktop);
        assert_eq!(detect([], ["dcvagent"])[0].platform, Platform::AmazonDcv);
    }
}
