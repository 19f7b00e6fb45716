//! The proxy policies of Chromium-based browsers (Chrome, Edge, Chromium), which an administrator
//! sets for managed desktops and which those browsers follow before the OS's own settings:
//! `ProxySettings` (one dictionary), or the single policies `ProxyMode` (`ProxyServerMode`),
//! `ProxyPacUrl`, `ProxyServer` and `ProxyBypassList`.
//!
//! Read from the managed-policy JSON files on Linux, the `Policies` registry keys on Windows
//! (`reg query`), and the managed preferences on macOS (`defaults read`, single policies only).
//! Parsing is pure and tested; reading is bounded and needs no admin rights.

use std::collections::BTreeMap;

use super::proxy::{Found, Setting, https_of_proxy_server};

/// Policy names that decide the proxy, as Chrome documents them.
const NAMES: &[&str] = &[
    "ProxySettings",
    "ProxyMode",
    "ProxyServerMode",
    "ProxyPacUrl",
    "ProxyServer",
    "ProxyBypassList",
];

/// What a browser's policy says, when it says anything: `None` when no policy sets the mode, or
/// the mode is `system` (the OS's settings decide, as without a policy).
pub(crate) fn from_values(
    browser: &str,
    place: &str,
    values: &BTreeMap<String, String>,
) -> Option<Found> {
    // ProxySettings overrides every single policy.
    let dictionary: Option<BTreeMap<String, String>> = values
        .get("ProxySettings")
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|v| v.as_object().map(json_texts));
    let (values, named) = match &dictionary {
        Some(d) => (d, "ProxySettings"),
        None => (values, "ProxyMode"),
    };
    let get = |name: &str| values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mode = match get("ProxyMode") {
        Some(mode) => mode.to_ascii_lowercase(),
        None => match get("ProxyServerMode").and_then(dword) {
            Some(0) => "direct".to_owned(),
            Some(1) => "auto_detect".to_owned(),
            Some(2) => "fixed_servers".to_owned(),
            _ => return None,
        },
    };
    let source = |keys: &str| format!("{browser}'s proxy policy ({place}: {keys})");
    let found = |setting, keys: &str| Found {
        setting,
        source: source(keys),
        notes: Vec::new(),
        wpad: false,
    };
    match mode.as_str() {
        "direct" => Some(found(Setting::Direct, &format!("{named} direct"))),
        "auto_detect" => Some(Found {
            wpad: true,
            ..found(Setting::Direct, &format!("{named} auto_detect"))
        }),
        "pac_script" => Some(match get("ProxyPacUrl") {
            Some(url) => found(
                Setting::Pac(url.to_owned()),
                &format!("{named} pac_script, ProxyPacUrl"),
            ),
            None => Found {
                notes: vec![format!(
                    "{browser}'s policy asks for a PAC script but names none (ProxyPacUrl): the browser goes direct"
                )],
                ..found(Setting::Direct, &format!("{named} pac_script"))
            },
        }),
        "fixed_servers" => {
            let Some(server) = get("ProxyServer") else {
                return Some(Found {
                    notes: vec![format!(
                        "{browser}'s policy asks for a fixed proxy but names none (ProxyServer): the browser goes direct"
                    )],
                    ..found(Setting::Direct, &format!("{named} fixed_servers"))
                });
            };
            let bypass: Vec<String> = get("ProxyBypassList")
                .map(|list| {
                    list.split([',', ';'])
                        .map(|e| e.trim().to_ascii_lowercase())
                        .filter(|e| !e.is_empty())
                        .map(|e| match e.strip_prefix("*.") {
                            Some(rest) => format!(".{rest}"),
                            None => e,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let setting = match rules_for_https(server) {
                Setting::Proxy { server, .. } => Setting::Proxy { server, bypass },
                other => other,
            };
            Some(found(
                setting,
                &format!("{named} fixed_servers, ProxyServer, ProxyBypassList"),
            ))
        }
        _ => None,
    }
}

/// The HTTPS proxy of Chrome's proxy rules: `host:port`, `http://host:port`, or per scheme
/// (`https=host:port;http=…`), the first of a fallback list (`a:3128,b:3128`), as the browser
/// uses it while it is up; SOCKS and HTTPS proxies are kept as written, untestable.
fn rules_for_https(rules: &str) -> Setting {
    match https_of_proxy_server(rules) {
        Setting::Proxy { server, bypass } => {
            let server = server
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let lower = server.to_ascii_lowercase();
            if lower.starts_with("socks")
                || lower.starts_with("https://")
                || lower.starts_with("quic://")
            {
                Setting::Unsupported(server)
            } else {
                let server = if lower.starts_with("http://") {
                    server["http://".len()..].to_owned()
                } else {
                    server
                };
                Setting::Proxy { server, bypass }
            }
        }
        other => other,
    }
}

/// A DWORD as `reg query` prints it (`0x2`) or as a plain number.
fn dword(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A JSON object's values as text: strings as they are, the rest as JSON.
fn json_texts(object: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    object
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// The proxy policies in a folder of managed-policy JSON files (Linux), merged in file-name order.
#[cfg(any(not(any(windows, target_os = "macos")), test))]
pub(crate) fn from_policy_dir(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut files: Vec<_> = super::list(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut values = BTreeMap::new();
    for path in files {
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= super::MAX_POLICY_FILE)
        {
            continue;
        }
        let Some(object) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            continue;
        };
        if let Some(object) = object.as_object() {
            values.extend(
                json_texts(object)
                    .into_iter()
                    .filter(|(k, _)| NAMES.contains(&k.as_str())),
            );
        }
    }
    values
}

/// The proxy policies in `reg query KEY` output (Windows): every value, by name.
#[cfg(any(windows, test))]
pub(crate) fn from_reg_query(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(at) = line.find(" REG_") else {
            continue;
        };
        let name = line[..at].trim();
        if let Some(known) = NAMES.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            let value = line[at..]
                .trim_start()
                .split_once(char::is_whitespace)
                .map_or("", |(_, v)| v.trim());
            values.insert((*known).to_owned(), value.to_owned());
        }
    }
    values
}

/// The browsers' proxy policies on this machine, in the order Chrome, Edge, Chromium.
pub(crate) fn discover() -> Vec<Found> {
    os::discover()
}

#[cfg(windows)]
mod os {
    use super::{Found, from_reg_query, from_values};

    /// Machine policies come before the user's, as in the browsers.
    pub(super) fn discover() -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        for (browser, key, out) in super::super::windows_policies() {
            if found.iter().any(|f| f.source.starts_with(browser)) {
                continue;
            }
            let values = out.as_deref().map(from_reg_query).unwrap_or_default();
            found.extend(from_values(browser, key, &values));
        }
        found
    }
}

#[cfg(target_os = "macos")]
mod os {
    use std::collections::BTreeMap;

    use super::super::proxy::{TOOL_TIME, run_tool};
    use super::{Found, from_values};

    /// The single policies (`defaults` prints the `ProxySettings` dictionary in a form of its
    /// own, which is not read).
    pub(super) fn discover() -> Vec<Found> {
        let mut found = Vec::new();
        for (browser, domain) in super::super::MACOS_POLICY_DOMAINS {
            let mut values = BTreeMap::new();
            for name in [
                "ProxyMode",
                "ProxyServerMode",
                "ProxyPacUrl",
                "ProxyServer",
                "ProxyBypassList",
            ] {
                if let Some(text) = run_tool("defaults", &["read", domain, name], TOOL_TIME) {
                    values.insert(name.to_owned(), text.trim().to_owned());
                }
            }
            found.extend(from_values(browser, &format!("{domain}.plist"), &values));
        }
        found
    }
}

#[cfg(not(any(windows, target_os = "macos")))]
mod os {
    use std::path::Path;

    use super::{Found, from_policy_dir, from_values};

    pub(super) fn discover() -> Vec<Found> {
        super::super::LINUX_POLICY_DIRS
            .iter()
            .filter_map(|(browser, dir)| {
                let dir = Path::new("/").join(dir);
                from_values(browser, &dir.display().to_string(), &from_policy_dir(&dir))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn policy(pairs: &[(&str, &str)]) -> Option<Found> {
        from_values(
            "Google Chrome",
            "/etc/opt/chrome/policies/managed",
            &values(pairs),
        )
    }

    #[test]
    fn every_mode_of_the_single_policies() {
        let direct = policy(&[("ProxyMode", "direct")]).unwrap();
        assert_eq!(direct.setting, Setting::Direct);
        assert!(!direct.wpad);
        assert_eq!(
            direct.source,
            "Google Chrome's proxy policy (/etc/opt/chrome/policies/managed: ProxyMode direct)"
        );
        let detect = policy(&[("ProxyMode", "auto_detect")]).unwrap();
        assert!(detect.wpad && detect.setting == Setting::Direct);
        let pac = policy(&[
            ("ProxyMode", "pac_script"),
            ("ProxyPacUrl", "http://pac.corp.example/proxy.pac"),
        ])
        .unwrap();
        assert_eq!(
            pac.setting,
            Setting::Pac("http://pac.corp.example/proxy.pac".to_owned())
        );
        let fixed = policy(&[
            ("ProxyMode", "fixed_servers"),
            ("ProxyServer", "http://Proxy.corp.example:3128"),
            ("ProxyBypassList", "*.corp.example, 10.0.0.0/8;<local>"),
        ])
        .unwrap();
        assert_eq!(
            fixed.setting,
            Setting::Proxy {
                server: "Proxy.corp.example:3128".to_owned(),
                bypass: vec![
                    ".corp.example".to_owned(),
                    "10.0.0.0/8".to_owned(),
                    "<local>".to_owned()
                ],
            }
        );
        // The OS decides: as if there were no policy.
        assert_eq!(policy(&[("ProxyMode", "system")]), None);
        assert_eq!(policy(&[("ProxyPacUrl", "http://pac.corp.example/")]), None);
        assert_eq!(policy(&[]), None);
    }

    #[test]
    fn the_dictionary_overrides_the_single_policies() {
        let found = policy(&[
            ("ProxyMode", "direct"),
            (
                "ProxySettings",
                r#"{"ProxyMode": "fixed_servers", "ProxyServer": "https=192.0.2.8:8443;http=192.0.2.8:8080"}"#,
            ),
        ])
        .unwrap();
        assert_eq!(
            found.setting,
            Setting::Proxy {
                server: "192.0.2.8:8443".to_owned(),
                bypass: Vec::new()
            }
        );
        assert!(
            found.source.contains("ProxySettings fixed_servers"),
            "{}",
            found.source
        );
    }

    #[test]
    fn odd_policies_are_named_not_guessed() {
        let socks = policy(&[
            ("ProxyMode", "fixed_servers"),
            ("ProxyServer", "socks5://192.0.2.9:1080"),
        ])
        .unwrap();
        let fallback = policy(&[
            ("ProxyMode", "fixed_servers"),
            (
                "ProxyServer",
                "https=192.0.2.8:3128,192.0.2.9:3128;http=192.0.2.8:80",
            ),
        ])
        .unwrap();
        assert_eq!(
            fallback.setting,
            Setting::Proxy {
                server: "192.0.2.8:3128".to_owned(),
                bypass: Vec::new()
            }
        );
        assert_eq!(
            socks.setting,
            Setting::Unsupported("socks5://192.0.2.9:1080".to_owned())
        );
        let empty = policy(&[("ProxyMode", "pac_script")]).unwrap();
        assert_eq!(empty.setting, Setting::Direct);
        assert!(
            empty.notes[0].contains("names none (ProxyPacUrl)"),
            "{empty:?}"
        );
        // ProxyServerMode, the oldest form, as the registry prints a DWORD.
        let reg = from_reg_query(
            "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Google\\Chrome\r\n    \
             ProxyServerMode    REG_DWORD    0x2\r\n    ProxyServer    REG_SZ    192.0.2.8:3128\r\n    \
             WebRtcUdpPortRange    REG_SZ    10000-11999\r\n",
        );
        assert_eq!(reg.len(), 2, "{reg:?}");
        let found = from_values(
            "Google Chrome",
            r"HKLM\SOFTWARE\Policies\Google\Chrome",
            &reg,
        )
        .unwrap();
        assert_eq!(
            found.setting,
            Setting::Proxy {
                server: "192.0.2.8:3128".to_owned(),
                bypass: Vec::new()
            }
        );
    }

    #[test]
    fn policy_files_merge_in_name_order_and_ignore_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("10-proxy.json"),
            r#"{"ProxyMode": "fixed_servers", "ProxyServer": "192.0.2.8:3128", "WebRtcUdpPortRange": "10000-11999"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("20-override.json"),
            r#"{"ProxyServer": "192.0.2.9:3128"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("30-broken.json"), "{ not json").unwrap();
        std::fs::write(dir.path().join("notes.txt"), r#"{"ProxyMode": "direct"}"#).unwrap();
        let values = from_policy_dir(dir.path());
        assert_eq!(
            values,
            BTreeMap::from([
                ("ProxyMode".to_owned(), "fixed_servers".to_owned()),
                ("ProxyServer".to_owned(), "192.0.2.9:3128".to_owned()),
            ])
        );
        assert!(from_policy_dir(&dir.path().join("missing")).is_empty());
    }
}
