//! The browsers' `WebRtcUdpPortRange` policy (Chrome, Edge, Chromium): the local UDP ports WebRTC
//! may use, which a stateless firewall must open inbound for returning media.

use serde::Serialize;

/// One browser's policy as found on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PortPolicy {
    pub browser: String,
    /// Where it was found: a policy file or a registry key.
    pub source: String,
    pub first: u16,
    pub last: u16,
}

/// Parses a policy value such as `10000-11999`.
pub(crate) fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text.trim().split_once('-')?;
    let (first, last) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
    (first >= 1024 && first <= last).then_some((first, last))
}

/// Reads the policy from a managed-policy JSON file (Linux, and Chrome on any OS).
pub(crate) fn from_json(text: &str) -> Option<(u16, u16)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    parse_range(value.get("WebRtcUdpPortRange")?.as_str()?)
}

/// Reads the policy from `reg query <key> /v WebRtcUdpPortRange` output (Windows).
#[cfg(any(windows, test))]
pub(crate) fn from_reg_query(output: &str) -> Option<(u16, u16)> {
    output.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == "WebRtcUdpPortRange" && parts.next()? == "REG_SZ")
            .then(|| parts.next())
            .flatten()
            .and_then(parse_range)
    })
}

/// The OS's default ephemeral UDP range, which WebRTC uses when no policy pins it.
pub(crate) const fn default_ephemeral() -> (&'static str, u16, u16) {
    if cfg!(windows) {
        ("Windows", 49152, 65535)
    } else if cfg!(target_os = "macos") {
        ("macOS", 49152, 65535)
    } else {
        ("Linux", 32768, 60999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("10000-11999"), Some((10000, 11999)));
        assert_eq!(parse_range(" 50000 - 50100 "), Some((50000, 50100)));
        for bad in ["", "10000", "11999-10000", "80-90", "a-b", "10000-70000"] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn policy_files_and_registry_output() {
        assert_eq!(
            from_json(
                r#"{"WebRtcUdpPortRange": "10000-11999", "AutoplayAllowlist": ["https://acme.my.connect.aws"]}"#
            ),
            Some((10000, 11999))
        );
        assert_eq!(from_json(r#"{"AutoplayAllowlist": []}"#), None);
        assert_eq!(from_json("not json"), None);
        let reg = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Edge\r\n    WebRtcUdpPortRange    REG_SZ    10000-11999\r\n\r\n";
        assert_eq!(from_reg_query(reg), Some((10000, 11999)));
        assert_eq!(
            from_reg_query(
                "ERROR: The system was unable to find the specified registry key or value."
            ),
            None
        );
    }
}
