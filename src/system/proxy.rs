//! The proxy the OS tells browsers to use, when no flag, environment variable or site profile
//! says: the Windows Internet Settings (what Edge and Chrome follow) and WinHTTP, macOS's network
//! settings (`scutil --proxy`), and GNOME's (`gsettings`).
//!
//! The parsers take the tools' text and return a [`Found`]; they are pure and tested on real
//! outputs. Asking the OS is one small function per system: it runs the OS's own read-only tool
//! with a short timeout, needs no admin rights, and changes nothing. Windows and macOS code is
//! written for those systems; CI compiles and lints the Windows code (target
//! `x86_64-pc-windows-gnu`) but runs neither.

use std::time::{Duration, Instant};

/// What one OS setting says about HTTPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    /// No proxy.
    Direct,
    /// One proxy (`host:port`), bypassed for the listed hosts (browser syntax: `<local>`,
    /// `*.corp.example`, `.corp.example`, `10.*`, CIDRs).
    Proxy { server: String, bypass: Vec<String> },
    /// A PAC script's URL.
    Pac(String),
    /// A proxy of a kind this tool cannot test (`socks=host:port`), as written.
    Unsupported(String),
}

/// A setting and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub setting: Setting,
    /// Where the setting was read, for the report: `the Windows Internet Settings (HKCU\…)`.
    pub source: String,
    /// Remarks for the report: another setting ignored, automatic discovery's outcome.
    pub notes: Vec<String>,
    /// Automatic proxy discovery (WPAD) is on: a `wpad.dat` it finds comes before `setting`,
    /// which is what the browser uses when discovery finds none.
    pub wpad: bool,
}

/// The Internet Settings key whose values Edge, Chrome and WinINet follow.
#[cfg(any(windows, test))]
pub(crate) const WINDOWS_KEY: &str =
    r"HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings";

/// The same key for the whole machine, used instead when [`WINDOWS_POLICY_KEY`] sets
/// `ProxySettingsPerUser` to 0 (the Group Policy "Make proxy settings per-machine").
#[cfg(any(windows, test))]
pub(crate) const WINDOWS_MACHINE_KEY: &str =
    r"HKLM\Software\Microsoft\Windows\CurrentVersion\Internet Settings";

/// Where Group Policy says whether proxy settings are per user.
#[cfg(windows)]
pub(crate) const WINDOWS_POLICY_KEY: &str =
    r"HKLM\Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings";

/// `reg query WINDOWS_POLICY_KEY /v ProxySettingsPerUser`: false when the policy makes the
/// settings machine-wide (the value 0); `None` when it is not set (per user, the default).
#[cfg(any(windows, test))]
pub(crate) fn parse_per_user(text: &str) -> Option<bool> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("ProxySettingsPerUser "))?;
    let value = line.split_whitespace().nth(2)?;
    let value = u32::from_str_radix(value.strip_prefix("0x")?, 16).ok()?;
    Some(value != 0)
}

/// The most `wpad.dat` URLs automatic discovery tries by DNS, and its time for all of them,
/// DHCP's question included; DHCP's share of it.
pub(crate) const WPAD_MAX_URLS: usize = 4;
pub(crate) const WPAD_TIME: Duration = Duration::from_secs(5);
pub(crate) const DHCP_TIME: Duration = Duration::from_secs(2);

/// Bypass entries as the report and the matcher want them: lower case, `*.x` as `.x`.
fn bypass_entries<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    raw.into_iter()
        .map(|e| e.trim().trim_matches(['"', '\'']).to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .map(|e| match e.strip_prefix("*.") {
            Some(rest) => format!(".{rest}"),
            None => e,
        })
        .collect()
}

/// The HTTPS proxy of a WinINet `ProxyServer` value: `host:port` for every protocol, or the
/// per-protocol form `http=h:p;https=h:p;socks=h:p`, where a missing `https=` means HTTPS goes
/// direct unless a `socks=` proxy catches everything.
pub(crate) fn https_of_proxy_server(value: &str) -> Setting {
    let value = value.trim();
    if !value.contains('=') {
        return Setting::Proxy {
            server: value.to_owned(),
            bypass: Vec::new(),
        };
    }
    let mut socks = None;
    for part in value.split([';', ' ']).filter(|p| !p.is_empty()) {
        if let Some((scheme, server)) = part.split_once('=') {
            match scheme.trim().to_ascii_lowercase().as_str() {
                "https" if !server.trim().is_empty() => {
                    return Setting::Proxy {
                        server: server.trim().to_owned(),
                        bypass: Vec::new(),
                    };
                }
                "socks" => socks = Some(part.trim().to_owned()),
                _ => {}
            }
        }
    }
    socks.map_or(Setting::Direct, Setting::Unsupported)
}

#[cfg(any(windows, test))]
fn with_bypass(setting: Setting, bypass: Vec<String>) -> Setting {
    match setting {
        Setting::Proxy { server, .. } => Setting::Proxy { server, bypass },
        other => other,
    }
}

/// `reg query KEY` of an Internet Settings key: `AutoConfigURL` (a PAC script) comes first, as
/// in the browsers; then `ProxyServer` when `ProxyEnable` is 1, bypassed for `ProxyOverride`.
#[cfg(any(windows, test))]
pub(crate) fn parse_reg_query(text: &str, key: &str) -> Option<Found> {
    let mut values = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(at) = line.find(" REG_") else {
            continue;
        };
        let name = line[..at].trim().to_ascii_lowercase();
        let rest = line[at..].trim_start();
        let value = rest
            .split_once(char::is_whitespace)
            .map_or("", |(_, v)| v.trim());
        values.insert(name, value.to_owned());
    }
    if values.is_empty() {
        return None;
    }
    let source = |name: &str| format!("the Windows Internet Settings ({key}: {name})");
    if let Some(url) = values.get("autoconfigurl").filter(|v| !v.is_empty()) {
        return Some(Found {
            setting: Setting::Pac(url.clone()),
            source: source("AutoConfigURL"),
            notes: Vec::new(),
            wpad: false,
        });
    }
    let enabled = values.get("proxyenable").is_some_and(|v| {
        !v.trim_start_matches("0x")
            .trim_start_matches('0')
            .is_empty()
    });
    let server = values.get("proxyserver").filter(|v| !v.is_empty());
    match (enabled, server) {
        (true, Some(server)) => {
            let bypass = values
                .get("proxyoverride")
                .map(|v| bypass_entries(v.split(';')))
                .unwrap_or_default();
            Some(Found {
                setting: with_bypass(https_of_proxy_server(server), bypass),
                source: source("ProxyEnable, ProxyServer"),
                notes: Vec::new(),
                wpad: false,
            })
        }
        _ => Some(Found {
            setting: Setting::Direct,
            source: source("ProxyEnable"),
            notes: Vec::new(),
            wpad: false,
        }),
    }
}

/// `reg query "…\Connections" /v DefaultConnectionSettings`: whether "Automatically detect
/// settings" is on, the 0x08 bit of the flags at byte 8 of the binary value.
#[cfg(any(windows, test))]
pub(crate) fn parse_auto_detect(text: &str) -> Option<bool> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("DefaultConnectionSettings"))?;
    let hex = line.split_whitespace().nth(2)?;
    let flags = u8::from_str_radix(hex.get(16..18)?, 16).ok()?;
    Some(flags & 0x08 != 0)
}

/// The `wpad.dat` URLs automatic discovery by DNS tries for this machine's DNS domains, most
/// specific first: `corp.example.com` gives `wpad.corp.example.com` then `wpad.example.com`,
/// never a bare top-level domain. At most [`WPAD_MAX_URLS`].
pub(crate) fn wpad_urls(domains: &[String]) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for domain in domains {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels
            .iter()
            .any(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            continue;
        }
        for start in 0..labels.len().saturating_sub(1) {
            let url = format!("http://wpad.{}/wpad.dat", labels[start..].join("."));
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls.truncate(WPAD_MAX_URLS);
    urls
}

/// What asking DHCP for a PAC script's URL (option 252) gave.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "Windows builds the answers; the other systems only say they did not ask"
)]
pub(crate) enum Dhcp {
    /// This OS's browsers do not ask DHCP (only Windows's do).
    NotAsked,
    /// DHCP gave no URL: why, for the report.
    NoUrl(String),
    /// The URL DHCP gave, as given (untrusted).
    Url(String),
}

/// Asks DHCP for the PAC script's URL the way Windows browsers do before they try DNS: WinHTTP's
/// `WinHttpDetectAutoProxyConfigUrl` with only its DHCP method, which asks the DHCP Client
/// service (no admin rights, nothing sent by this process). Gives up after `limit`.
pub(crate) fn wpad_by_dhcp(limit: Duration) -> Dhcp {
    #[cfg(windows)]
    {
        let (tx, rx) = std::sync::mpsc::channel();
        // The query cannot be cancelled; past `limit` its thread is left to end with the process.
        std::thread::spawn(move || {
            let _ = tx.send(winhttp::dhcp_pac_url());
        });
        match rx.recv_timeout(limit) {
            Ok(Some(url)) => Dhcp::Url(url),
            Ok(None) => Dhcp::NoUrl("DHCP offered no PAC script URL".to_owned()),
            Err(_) => Dhcp::NoUrl(format!(
                "DHCP did not answer within {} s",
                limit.as_secs_f64()
            )),
        }
    }
    #[cfg(not(windows))]
    {
        let _ = limit;
        Dhcp::NotAsked
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod winhttp {
    use windows_sys::Win32::Foundation::GlobalFree;
    use windows_sys::Win32::Networking::WinHttp::{
        WINHTTP_AUTO_DETECT_TYPE_DHCP, WinHttpDetectAutoProxyConfigUrl,
    };

    /// The longest URL read back; WinHTTP's own limit is far below it.
    const MAX_CHARS: usize = 4096;

    /// The URL of DHCP option 252, or `None` when DHCP offers none.
    pub(super) fn dhcp_pac_url() -> Option<String> {
        let mut url: windows_sys::core::PWSTR = std::ptr::null_mut();
        // SAFETY: `url` is a valid place for WinHTTP to store a pointer; the flags name one
        // documented detection method.
        let ok =
            unsafe { WinHttpDetectAutoProxyConfigUrl(WINHTTP_AUTO_DETECT_TYPE_DHCP, &mut url) };
        if ok == 0 || url.is_null() {
            return None;
        }
        // SAFETY: on success `url` points at a NUL-terminated UTF-16 string WinHTTP allocated
        // with GlobalAlloc; it is read up to its NUL (at most MAX_CHARS) and freed once, here.
        let text = unsafe {
            let len = (0..MAX_CHARS).take_while(|&i| *url.add(i) != 0).count();
            let text = String::from_utf16_lossy(std::slice::from_raw_parts(url, len));
            GlobalFree(url.cast());
            text
        };
        Some(text)
    }
}

/// This machine's DNS domain and search list, as its resolver is configured.
pub(crate) fn dns_domains() -> Vec<String> {
    let Ok((config, _)) = hickory_resolver::system_conf::read_system_conf() else {
        return Vec::new();
    };
    config
        .domain()
        .into_iter()
        .chain(config.search())
        .map(|name| name.to_ascii())
        .collect()
}

/// `netsh winhttp show proxy`: the machine's WinHTTP proxy (services, not browsers).
#[cfg(any(windows, test))]
pub(crate) fn parse_netsh_winhttp(text: &str) -> Option<Found> {
    let source = "the WinHTTP settings (netsh winhttp show proxy)".to_owned();
    if text.contains("Direct access") {
        return Some(Found {
            setting: Setting::Direct,
            source,
            notes: Vec::new(),
            wpad: false,
        });
    }
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (key, value) = l.split_once(" :")?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let server = field("Proxy Server(s)").filter(|s| !s.is_empty())?;
    let bypass = field("Bypass List")
        .filter(|b| !b.starts_with('('))
        .map(|b| bypass_entries(b.split(';')))
        .unwrap_or_default();
    Some(Found {
        setting: with_bypass(https_of_proxy_server(&server), bypass),
        source,
        notes: Vec::new(),
        wpad: false,
    })
}

/// `scutil --proxy`: the automatic configuration URL when enabled, else the HTTPS proxy when
/// enabled, bypassed for `ExceptionsList` (and simple host names with `ExcludeSimpleHostnames`).
#[cfg(any(target_os = "macos", test))]
pub(crate) fn parse_scutil(text: &str) -> Option<Found> {
    let mut values = std::collections::HashMap::new();
    let mut exceptions = Vec::new();
    let mut in_exceptions = false;
    for line in text.lines() {
        let line = line.trim();
        if in_exceptions {
            if line.starts_with('}') {
                in_exceptions = false;
            } else if let Some((_, host)) = line.split_once(" : ") {
                exceptions.push(host.trim());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(" : ") else {
            continue;
        };
        if key == "ExceptionsList" {
            in_exceptions = value.contains('{');
            continue;
        }
        values.insert(key.trim(), value.trim());
    }
    if !text.contains("<dictionary>") {
        return None;
    }
    let on = |key: &str| values.get(key).is_some_and(|v| *v == "1");
    let source = |keys: &str| format!("the macOS network settings (scutil --proxy: {keys})");
    // macOS tries automatic discovery first, then the rest.
    let wpad = on("ProxyAutoDiscoveryEnable");
    let notes = Vec::new();
    if on("ProxyAutoConfigEnable") {
        if let Some(url) = values
            .get("ProxyAutoConfigURLString")
            .filter(|u| !u.is_empty())
        {
            return Some(Found {
                setting: Setting::Pac((*url).to_owned()),
                source: source("ProxyAutoConfigURLString"),
                notes,
                wpad,
            });
        }
    }
    if on("HTTPSEnable") {
        if let Some(host) = values.get("HTTPSProxy").filter(|h| !h.is_empty()) {
            let port = values.get("HTTPSPort").copied().unwrap_or("80");
            let mut bypass = bypass_entries(exceptions);
            if on("ExcludeSimpleHostnames") {
                bypass.push("<local>".to_owned());
            }
            return Some(Found {
                setting: Setting::Proxy {
                    server: format!("{host}:{port}"),
                    bypass,
                },
                source: source("HTTPSEnable, HTTPSProxy, HTTPSPort"),
                notes,
                wpad,
            });
        }
    }
    if on("SOCKSEnable") {
        if let Some(host) = values.get("SOCKSProxy") {
            return Some(Found {
                setting: Setting::Unsupported(format!("SOCKS {host}")),
                source: source("SOCKSEnable"),
                notes,
                wpad,
            });
        }
    }
    Some(Found {
        setting: Setting::Direct,
        source: source("no HTTPS proxy enabled"),
        notes,
        wpad,
    })
}

/// A GVariant text value as `gsettings` prints it: `'text'`, `3128`, `uint32 3128`, `true`.
#[cfg(any(not(any(windows, target_os = "macos")), test))]
fn gvariant_text(value: &str) -> String {
    let v = value.trim();
    let v = v.rsplit_once(' ').map_or(v, |(kind, rest)| {
        if kind.starts_with("uint") || kind.starts_with("int") {
            rest
        } else {
            v
        }
    });
    v.trim_matches('\'').to_owned()
}

/// A GVariant string array: `['localhost', '127.0.0.0/8']` or `@as []`.
#[cfg(any(not(any(windows, target_os = "macos")), test))]
fn gvariant_list(value: &str) -> Vec<String> {
    let v = value.trim().trim_start_matches("@as").trim();
    let inner = v.trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('\'').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `gsettings list-recursively org.gnome.system.proxy`: `mode` `'auto'` (the `autoconfig-url`
/// PAC script, or WPAD when it is empty), `'manual'` (the `https` host and port, bypassed for
/// `ignore-hosts`), or `'none'`.
#[cfg(any(not(any(windows, target_os = "macos")), test))]
pub(crate) fn parse_gsettings(text: &str) -> Option<Found> {
    let mut values = std::collections::HashMap::new();
    for line in text.lines() {
        let mut parts = line.trim().splitn(3, ' ');
        let (Some(schema), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let Some(sub) = schema.strip_prefix("org.gnome.system.proxy") {
            values.insert(format!("{}{key}", sub.trim_start_matches('.')), value);
        }
    }
    let mode = gvariant_text(values.get("mode")?);
    let text_of = |key: &str| {
        values
            .get(key)
            .map(|v| gvariant_text(v))
            .unwrap_or_default()
    };
    let source = |keys: &str| format!("the GNOME proxy settings (org.gnome.system.proxy {keys})");
    match mode.as_str() {
        "auto" => {
            let url = text_of("autoconfig-url");
            if url.is_empty() {
                return Some(Found {
                    setting: Setting::Direct,
                    source: source("mode 'auto' without autoconfig-url"),
                    notes: Vec::new(),
                    wpad: true,
                });
            }
            Some(Found {
                setting: Setting::Pac(url),
                source: source("autoconfig-url"),
                notes: Vec::new(),
                wpad: false,
            })
        }
        "manual" => {
            let (mut host, mut port) = (text_of("httpshost"), text_of("httpsport"));
            if host.is_empty() && text_of("use-same-proxy") == "true" {
                (host, port) = (text_of("httphost"), text_of("httpport"));
            }
            let bypass = bypass_entries(
                values
                    .get("ignore-hosts")
                    .map(|v| gvariant_list(v))
                    .unwrap_or_default()
                    .iter()
                    .map(String::as_str),
            );
            if host.is_empty() || port.is_empty() || port == "0" {
                let socks = text_of("sockshost");
                return Some(Found {
                    setting: if socks.is_empty() {
                        Setting::Direct
                    } else {
                        Setting::Unsupported(format!("SOCKS {socks}:{}", text_of("socksport")))
                    },
                    source: source("mode 'manual' without an https host"),
                    notes: Vec::new(),
                    wpad: false,
                });
            }
            Some(Found {
                setting: Setting::Proxy {
                    server: format!("{host}:{port}"),
                    bypass,
                },
                source: source("https host and port"),
                notes: Vec::new(),
                wpad: false,
            })
        }
        _ => Some(Found {
            setting: Setting::Direct,
            source: source(&format!("mode '{mode}'")),
            notes: Vec::new(),
            wpad: false,
        }),
    }
}

/// How long one OS tool may take before it is given up on.
pub(crate) const TOOL_TIME: Duration = Duration::from_secs(3);

/// Runs a read-only OS tool and returns its standard output, or `None` when it is missing,
/// fails, or takes longer than `limit` (it is then killed).
pub(crate) fn run_tool(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut stdout).take(1 << 20).read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let bytes = reader.join().ok()?;
    status
        .success()
        .then(|| String::from_utf8_lossy(&bytes).into_owned())
}

impl Found {
    /// The route in a few words, for notes: `PROXY host:port`, `DIRECT`, `the PAC script URL`.
    pub(crate) fn describe(&self) -> String {
        if self.wpad {
            return "automatic discovery (WPAD)".to_owned();
        }
        match &self.setting {
            Setting::Direct => "DIRECT".to_owned(),
            Setting::Proxy { server, .. } => format!("PROXY {server}"),
            Setting::Pac(url) => format!("the PAC script {url}"),
            Setting::Unsupported(what) => what.clone(),
        }
    }
}

/// The proxy setting the browser follows on this machine: a Chromium-based browser's managed
/// policy first (it overrides the OS in that browser), else the OS's settings.
pub(crate) fn discover() -> Option<Found> {
    first_policy(super::browser_proxy::discover()).or_else(os::discover)
}

/// The first browser's policy, noting the others that route differently.
pub(crate) fn first_policy(policies: Vec<Found>) -> Option<Found> {
    let mut policies = policies.into_iter();
    let mut first = policies.next()?;
    for other in policies {
        if other.setting != first.setting || other.wpad != first.wpad {
            first.notes.push(format!(
                "{} routes differently ({}): agents using that browser take another path; test it with --proxy or --pac",
                other.source,
                other.describe()
            ));
        }
    }
    Some(first)
}

#[cfg(windows)]
mod os {
    use super::{
        Found, Setting, TOOL_TIME, WINDOWS_KEY, WINDOWS_MACHINE_KEY, WINDOWS_POLICY_KEY, run_tool,
    };

    /// The Internet Settings decide (browsers follow them): the user's, or the machine's when
    /// Group Policy makes them per-machine; WinHTTP only when they cannot be read.
    pub(super) fn discover() -> Option<Found> {
        let per_user = run_tool(
            "reg",
            &["query", WINDOWS_POLICY_KEY, "/v", "ProxySettingsPerUser"],
            TOOL_TIME,
        )
        .as_deref()
        .and_then(super::parse_per_user)
        .unwrap_or(true);
        let key = if per_user {
            WINDOWS_KEY
        } else {
            WINDOWS_MACHINE_KEY
        };
        let mut user = run_tool("reg", &["query", key], TOOL_TIME)
            .as_deref()
            .and_then(|text| super::parse_reg_query(text, key));
        // "Automatically detect settings" comes before the script and the proxy, as in Edge.
        let connections = format!(r"{key}\Connections");
        let detect = run_tool(
            "reg",
            &["query", &connections, "/v", "DefaultConnectionSettings"],
            TOOL_TIME,
        )
        .as_deref()
        .and_then(super::parse_auto_detect);
        if let Some(user) = user.as_mut() {
            user.wpad = detect == Some(true);
            if !per_user {
                user.notes.push(format!(
                    "Group Policy makes the proxy settings per-machine ({WINDOWS_POLICY_KEY}: ProxySettingsPerUser 0)"
                ));
            }
        }
        let winhttp = run_tool("netsh", &["winhttp", "show", "proxy"], TOOL_TIME)
            .as_deref()
            .and_then(super::parse_netsh_winhttp);
        match (user, winhttp) {
            (Some(mut user), Some(w))
                if user.setting == Setting::Direct && w.setting != Setting::Direct =>
            {
                user.notes.push(format!(
                    "{} sets a proxy for services, which browsers do not use",
                    w.source
                ));
                Some(user)
            }
            (Some(user), _) => Some(user),
            (None, winhttp) => winhttp,
        }
    }
}

#[cfg(target_os = "macos")]
mod os {
    use super::{Found, TOOL_TIME, run_tool};

    pub(super) fn discover() -> Option<Found> {
        run_tool("scutil", &["--proxy"], TOOL_TIME)
            .as_deref()
            .and_then(super::parse_scutil)
    }
}

#[cfg(not(any(windows, target_os = "macos")))]
mod os {
    use super::{Found, TOOL_TIME, run_tool};

    /// GNOME's settings, where `gsettings` is installed (other desktops: nothing).
    pub(super) fn discover() -> Option<Found> {
        run_tool(
            "gsettings",
            &["list-recursively", "org.gnome.system.proxy"],
            TOOL_TIME,
        )
        .as_deref()
        .and_then(super::parse_gsettings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(server: &str, bypass: &[&str]) -> Setting {
        Setting::Proxy {
            server: server.to_owned(),
            bypass: bypass.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    const REG_MANUAL: &str = "\r
HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\r
    CertificateRevocation    REG_DWORD    0x1\r
    DisableCachingOfSSLPages    REG_DWORD    0x0\r
    IE5_UA_Backup_Flag    REG_SZ    5.0\r
    PrivacyAdvanced    REG_DWORD    0x1\r
    SecureProtocols    REG_DWORD    0xa80\r
    User Agent    REG_SZ    Mozilla/4.0 (compatible; MSIE 8.0; Win32)\r
    ZonesSecurityUpgrade    REG_BINARY    C4D1A0A2E3B6D801\r
    EnableNegotiate    REG_DWORD    0x1\r
    ProxyEnable    REG_DWORD    0x1\r
    MigrateProxy    REG_DWORD    0x1\r
    ProxyServer    REG_SZ    proxy.corp.example:8080\r
    ProxyOverride    REG_SZ    *.corp.example;10.*;<local>\r
\r
HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\5.0\r
HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections\r
";

    #[test]
    fn windows_internet_settings() {
        let found = parse_reg_query(REG_MANUAL, WINDOWS_KEY).unwrap();
        assert_eq!(
            found.setting,
            proxy(
                "proxy.corp.example:8080",
                &[".corp.example", "10.*", "<local>"]
            )
        );
        assert!(found.source.contains("ProxyServer"), "{}", found.source);
        // Turned off: the server stays in the registry but is not used.
        let off = REG_MANUAL.replace(
            "ProxyEnable    REG_DWORD    0x1",
            "ProxyEnable    REG_DWORD    0x0",
        );
        assert_eq!(
            parse_reg_query(&off, WINDOWS_KEY).unwrap().setting,
            Setting::Direct
        );
        // A PAC script wins over the manual proxy, as in the browsers.
        let pac = REG_MANUAL.replace(
            "    MigrateProxy",
            "    AutoConfigURL    REG_SZ    http://pac.corp.example/proxy.pac\r\n    MigrateProxy",
        );
        let found = parse_reg_query(&pac, WINDOWS_KEY).unwrap();
        assert_eq!(
            found.setting,
            Setting::Pac("http://pac.corp.example/proxy.pac".to_owned())
        );
        assert!(found.source.contains("AutoConfigURL"));
        // Per-protocol servers: HTTPS has its own, or goes direct, or everything goes by SOCKS.
        let per = REG_MANUAL.replace(
            "proxy.corp.example:8080",
            "ftp=ftp.corp.example:21;http=web.corp.example:80;https=secure.corp.example:8443",
        );
        assert_eq!(
            parse_reg_query(&per, WINDOWS_KEY).unwrap().setting,
            proxy(
                "secure.corp.example:8443",
                &[".corp.example", "10.*", "<local>"]
            )
        );
        assert_eq!(
            https_of_proxy_server("http=web.corp.example:80"),
            Setting::Direct
        );
        assert_eq!(
            https_of_proxy_server("socks=s.corp.example:1080"),
            Setting::Unsupported("socks=s.corp.example:1080".to_owned())
        );
        assert_eq!(
            parse_reg_query(
                "ERROR: The system was unable to find the specified registry key or value.\r\n",
                WINDOWS_KEY
            ),
            None
        );
    }

    #[test]
    fn machine_wide_settings_by_group_policy() {
        let policy = |value: &str| {
            format!(
                "\r\nHKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\r\n    ProxySettingsPerUser    REG_DWORD    {value}\r\n\r\n"
            )
        };
        assert_eq!(parse_per_user(&policy("0x0")), Some(false));
        assert_eq!(parse_per_user(&policy("0x1")), Some(true));
        assert_eq!(
            parse_per_user(
                "ERROR: The system was unable to find the specified registry key or value.\r\n"
            ),
            None
        );
        let found = parse_reg_query(REG_MANUAL, WINDOWS_MACHINE_KEY).unwrap();
        assert!(
            found.source.starts_with(&format!(
                "the Windows Internet Settings ({WINDOWS_MACHINE_KEY}: "
            )),
            "{}",
            found.source
        );
    }

    #[test]
    fn winhttp_settings() {
        let direct = "\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n\r\n";
        assert_eq!(
            parse_netsh_winhttp(direct).unwrap().setting,
            Setting::Direct
        );
        let set = "\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  proxy.corp.example:8080\r\n    Bypass List     :  *.corp.example;<local>\r\n\r\n";
        assert_eq!(
            parse_netsh_winhttp(set).unwrap().setting,
            proxy("proxy.corp.example:8080", &[".corp.example", "<local>"])
        );
        let no_bypass = "Current WinHTTP proxy settings:\n\n    Proxy Server(s) :  http=p:80;https=p:3128\n    Bypass List     :  (none)\n";
        assert_eq!(
            parse_netsh_winhttp(no_bypass).unwrap().setting,
            proxy("p:3128", &[])
        );
        assert_eq!(parse_netsh_winhttp("Access is denied.\n"), None);
    }

    const SCUTIL: &str = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
    2 : *.corp.example
  }
  ExcludeSimpleHostnames : 1
  FTPPassive : 1
  HTTPEnable : 1
  HTTPPort : 8080
  HTTPProxy : web.corp.example
  HTTPSEnable : 1
  HTTPSPort : 3128
  HTTPSProxy : secure.corp.example
  ProxyAutoConfigEnable : 0
  ProxyAutoDiscoveryEnable : 0
}
";

    #[test]
    fn macos_network_settings() {
        let found = parse_scutil(SCUTIL).unwrap();
        assert_eq!(
            found.setting,
            proxy(
                "secure.corp.example:3128",
                &[".local", "169.254/16", ".corp.example", "<local>"]
            )
        );
        assert!(found.notes.is_empty());
        let pac = SCUTIL
            .replace("ProxyAutoConfigEnable : 0", "ProxyAutoConfigEnable : 1\n  ProxyAutoConfigURLString : https://pac.corp.example/proxy.pac")
            .replace("ProxyAutoDiscoveryEnable : 0", "ProxyAutoDiscoveryEnable : 1");
        let found = parse_scutil(&pac).unwrap();
        assert_eq!(
            found.setting,
            Setting::Pac("https://pac.corp.example/proxy.pac".to_owned())
        );
        assert!(found.wpad && found.notes.is_empty(), "{found:?}");
        let none = "<dictionary> {\n  FTPPassive : 1\n  HTTPEnable : 0\n  HTTPSEnable : 0\n  ProxyAutoConfigEnable : 0\n  ProxyAutoDiscoveryEnable : 0\n}\n";
        assert_eq!(parse_scutil(none).unwrap().setting, Setting::Direct);
        assert_eq!(parse_scutil(""), None);
    }

    const GSETTINGS: &str = "org.gnome.system.proxy autoconfig-url ''
org.gnome.system.proxy ignore-hosts ['localhost', '127.0.0.0/8', '::1', '*.corp.example']
org.gnome.system.proxy mode 'manual'
org.gnome.system.proxy use-same-proxy true
org.gnome.system.proxy.ftp host ''
org.gnome.system.proxy.ftp port 0
org.gnome.system.proxy.http authentication-password ''
org.gnome.system.proxy.http authentication-user ''
org.gnome.system.proxy.http enabled false
org.gnome.system.proxy.http host 'web.corp.example'
org.gnome.system.proxy.http port 8080
org.gnome.system.proxy.http use-authentication false
org.gnome.system.proxy.https host 'secure.corp.example'
org.gnome.system.proxy.https port 3128
org.gnome.system.proxy.socks host ''
org.gnome.system.proxy.socks port 0
";

    #[test]
    fn gnome_settings() {
        let found = parse_gsettings(GSETTINGS).unwrap();
        assert_eq!(
            found.setting,
            proxy(
                "secure.corp.example:3128",
                &["localhost", "127.0.0.0/8", "::1", ".corp.example"]
            )
        );
        let same = GSETTINGS
            .replace("https host 'secure.corp.example'", "https host ''")
            .replace("https port 3128", "https port 0");
        assert_eq!(
            parse_gsettings(&same).unwrap().setting,
            proxy(
                "web.corp.example:8080",
                &["localhost", "127.0.0.0/8", "::1", ".corp.example"]
            )
        );
        let auto = GSETTINGS.replace("mode 'manual'", "mode 'auto'").replace(
            "autoconfig-url ''",
            "autoconfig-url 'http://pac.corp.example/proxy.pac'",
        );
        assert_eq!(
            parse_gsettings(&auto).unwrap().setting,
            Setting::Pac("http://pac.corp.example/proxy.pac".to_owned())
        );
        let wpad = GSETTINGS.replace("mode 'manual'", "mode 'auto'");
        let found = parse_gsettings(&wpad).unwrap();
        assert_eq!(found.setting, Setting::Direct);
        assert!(found.wpad);
        assert!(!parse_gsettings(GSETTINGS).unwrap().wpad);
        let none = GSETTINGS.replace("mode 'manual'", "mode 'none'");
        assert_eq!(parse_gsettings(&none).unwrap().setting, Setting::Direct);
        let empty = "org.gnome.system.proxy ignore-hosts @as []\norg.gnome.system.proxy mode 'manual'\norg.gnome.system.proxy.https host 'p'\norg.gnome.system.proxy.https port uint32 3128\n";
        assert_eq!(
            parse_gsettings(empty).unwrap().setting,
            proxy("p:3128", &[])
        );
        assert_eq!(
            parse_gsettings("No such schema \u{201c}org.gnome.system.proxy\u{201d}\n"),
            None
        );
    }

    #[test]
    fn a_missing_or_slow_tool_gives_nothing() {
        assert_eq!(
            run_tool("connect-preflight-no-such-tool", &[], TOOL_TIME),
            None
        );
        if cfg!(unix) {
            let started = Instant::now();
            assert_eq!(run_tool("sleep", &["5"], Duration::from_millis(200)), None);
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!(
                run_tool("echo", &["hi"], TOOL_TIME).as_deref(),
                Some("hi\n")
            );
        }
    }

    #[test]
    fn automatic_detection_is_the_0x08_flag_of_the_connection_settings() {
        let on = "\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections\r\n    DefaultConnectionSettings    REG_BINARY    46000000050000000900000000000000000000000000000001000000\r\n";
        assert_eq!(parse_auto_detect(on), Some(true));
        let off = on.replace("4600000005000000090000", "4600000005000000010000");
        assert_eq!(parse_auto_detect(&off), Some(false));
        assert_eq!(
            parse_auto_detect("ERROR: The system was unable to find the specified registry key"),
            None
        );
        assert_eq!(
            parse_auto_detect("    DefaultConnectionSettings    REG_BINARY    4600"),
            None
        );
    }

    #[test]
    fn the_first_browser_policy_decides_and_the_others_are_noted_when_they_differ() {
        let found = |browser: &str, setting: Setting| Found {
            setting,
            source: format!("{browser}'s proxy policy (…)"),
            notes: Vec::new(),
            wpad: false,
        };
        assert_eq!(first_policy(Vec::new()), None);
        let chrome = found("Google Chrome", proxy("192.0.2.8:3128", &[]));
        let same = found("Microsoft Edge", proxy("192.0.2.8:3128", &[]));
        let other = found("Chromium", Setting::Direct);
        let first = first_policy(vec![chrome.clone(), same, other]).unwrap();
        assert_eq!(first.setting, chrome.setting);
        assert_eq!(first.source, chrome.source);
        assert_eq!(first.notes.len(), 1, "{:?}", first.notes);
        assert!(
            first.notes[0].starts_with("Chromium's proxy policy (…) routes differently (DIRECT)"),
            "{}",
            first.notes[0]
        );
    }

    #[test]
    fn wpad_urls_walk_up_the_dns_domains_but_never_to_a_top_level_domain() {
        let urls = wpad_urls(&["Corp.Example.com.".to_owned(), "example.com".to_owned()]);
        assert_eq!(
            urls,
            [
                "http://wpad.corp.example.com/wpad.dat",
                "http://wpad.example.com/wpad.dat"
            ]
        );
        assert!(wpad_urls(&["localdomain".to_owned(), String::new()]).is_empty());
        assert!(wpad_urls(&["bad/name.example".to_owned()]).is_empty());
        let deep = wpad_urls(&["a.b.c.d.e.example".to_owned()]);
        assert_eq!(deep.len(), WPAD_MAX_URLS);
        assert_eq!(deep[0], "http://wpad.a.b.c.d.e.example/wpad.dat");
    }
}
