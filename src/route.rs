//! The browser's path to each host: what the flags, the environment or the site profile set
//! ([`RouteSetting`], resolved by `config`), else the OS's own proxy settings and browser
//! policies, automatic discovery (WPAD) and the PAC script's answer per host, with `NO_PROXY`.
//! The stage runs before and after the plan (the PAC script is asked about the planned hosts) and
//! produces one [`Route`] the runner, the live matching and the report read; nothing changes it
//! after that.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::probe::http::Proxy;
use crate::ranges;
use crate::report::{Check, Kind, Reason, Status};

/// What the flags, the environment or the site profile said about the route, resolved once by
/// `config` (flags > environment > profile; with none of them, the OS is asked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteSetting {
    pub proxy: Option<Proxy>,
    /// `NO_PROXY` entries: hosts that bypass the proxy.
    pub no_proxy: Vec<String>,
    /// The PAC script (file or URL) that routes each host, instead of one proxy.
    pub pac: Option<String>,
    /// Where the route was set: `--proxy`, `the environment (HTTPS_PROXY)`, `the site profile
    /// (pac)`, or nothing.
    pub source: String,
    /// Nothing on the command line, in the environment or in the profile set a route, so the
    /// OS's own proxy settings are asked.
    pub os_discovery: bool,
}

/// The browser's path, as found: one value per run.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub proxy: Option<Proxy>,
    /// `NO_PROXY` entries: hosts that bypass the proxy.
    pub no_proxy: Vec<String>,
    /// The PAC script (file or URL) that routes each host, instead of one proxy.
    pub pac: Option<String>,
    /// Each planned host's route, as the PAC script said (filled in by [`Route::apply_pac`]).
    pub pac_routes: HashMap<String, PacDecision>,
    /// The PAC script's text when it was already fetched (automatic discovery reads it to know
    /// it is one), so [`Route::apply_pac`] does not fetch it again.
    pub pac_text: Option<String>,
    /// Where the route in force (proxy, PAC script or direct) was set: `--proxy`, `the
    /// environment (HTTPS_PROXY)`, `the site profile (pac)`, an OS setting, or nothing.
    pub route_source: String,
    /// Nothing on the command line, in the environment or in the profile set a route, so the
    /// OS's own proxy settings are asked (see [`Route::apply_os`]).
    pub os_discovery: bool,
    /// The PAC script came from the OS's settings: one that cannot be read is a warning (the
    /// browser then goes direct), not bad input.
    pub pac_from_os: bool,
    /// Remarks on the route for the report (automatic discovery not followed, a setting ignored).
    pub route_notes: Vec<String>,
    /// A route setting was found but could not be used (the report warns).
    pub route_warning: Option<String>,
}

impl From<RouteSetting> for Route {
    fn from(setting: RouteSetting) -> Self {
        Self {
            proxy: setting.proxy,
            no_proxy: setting.no_proxy,
            pac: setting.pac,
            pac_routes: HashMap::new(),
            pac_text: None,
            route_source: setting.source,
            os_discovery: setting.os_discovery,
            pac_from_os: false,
            route_notes: Vec::new(),
            route_warning: None,
        }
    }
}

/// The first half of the stage, before the plan: the setting, else the OS's (with automatic
/// discovery followed, unless only listing). A spinner shows while discovery runs when
/// `progress` is on.
pub(crate) fn discover(setting: RouteSetting, list: bool, progress: bool) -> Route {
    let mut route = Route::from(setting);
    if !route.os_discovery {
        return route;
    }
    match crate::system::proxy::discover() {
        // Listing touches no network: discovery is only named.
        Some(mut found) if found.wpad && list => {
            found.notes.push(
                "automatic proxy discovery (WPAD) is on: the check looks for its script first \
                 (DHCP on Windows, then wpad.DOMAIN), and uses this setting only without one"
                    .to_owned(),
            );
            found.wpad = false;
            route.apply_os(Some(found));
        }
        Some(found) if found.wpad => {
            // Discovery may take its whole WPAD_TIME: say so rather than sit silent.
            let spinner = if progress {
                let spinner = indicatif::ProgressBar::new_spinner();
                if cfg!(windows) {
                    // Legacy consoles lack the braille characters, as for the run's bar.
                    spinner.set_style(
                        indicatif::ProgressStyle::default_spinner().tick_chars("-\\|/ "),
                    );
                }
                spinner
            } else {
                indicatif::ProgressBar::hidden()
            };
            spinner.set_message(format!(
                "looking for the proxy script (automatic discovery, WPAD: at most {} s)",
                crate::system::proxy::WPAD_TIME.as_secs()
            ));
            spinner.enable_steady_tick(Duration::from_millis(120));
            let (found, text) = follow_wpad(
                found,
                crate::system::proxy::wpad_by_dhcp,
                &crate::system::proxy::dns_domains(),
            );
            spinner.finish_and_clear();
            route.apply_os(Some(found));
            route.pac_text = text;
        }
        found => route.apply_os(found),
    }
    route
}

/// The second half of the stage, after the plan: the PAC script's answer for every planned
/// `host`, within the run's deadline. A script from the OS that cannot be used sends the check
/// direct, as browsers do, with a warning; one the user named is bad input.
pub(crate) fn decide<'a>(
    mut route: Route,
    hosts: impl IntoIterator<Item = &'a str>,
    deadline_at: Instant,
) -> Result<Route> {
    if let Err(e) = route.apply_pac(hosts, deadline_at) {
        if !route.pac_from_os {
            return Err(e);
        }
        // A browser that cannot fetch or run the OS's PAC script goes direct: so does the check.
        route.route_warning = Some(format!(
            "the PAC script {} could not be used ({}): the check went direct, as browsers do",
            route.pac.as_deref().unwrap_or_default(),
            crate::sanitize::for_terminal(&e.to_string(), 300)
        ));
        route.pac = None;
        route.pac_routes.clear();
    }
    Ok(route)
}

/// The largest PAC script accepted; real ones are a few kilobytes.
pub(crate) const MAX_PAC_BYTES: usize = 1 << 20;
/// How long fetching a PAC script by URL may take.
pub(crate) const PAC_FETCH_TIME: Duration = Duration::from_secs(10);

/// Where a PAC script sends a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PacRoute {
    Direct,
    Proxy(Proxy),
    /// `SOCKS` and `SOCKS4` (version 4), anything else unknown: not a route this tool can test;
    /// the script's first choice, sanitised.
    Unsupported(String),
}

/// A PAC script's answer for one host: the route tested (the first entry) and the whole answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PacDecision {
    pub route: PacRoute,
    /// The script's answer as returned, e.g. `PROXY a:3128; DIRECT` (sanitised).
    pub raw: String,
}

impl PacRoute {
    /// The route a browser takes first. A PAC answer is a list tried in order: the browser moves
    /// to the next entry only when a proxy cannot be reached at all, so the first entry is the
    /// route the CCP normally takes, and the one tested.
    pub(crate) fn from_first(first: &str) -> Self {
        let mut words = first.split_whitespace();
        let kind = words.next().unwrap_or("DIRECT");
        if kind.eq_ignore_ascii_case("DIRECT") {
            return Self::Direct;
        }
        // PROXY is HTTP, HTTPS is TLS to the proxy, SOCKS5 is version 5; browsers read `SOCKS`
        // as version 4, which is not tested.
        let scheme = match kind.to_ascii_uppercase().as_str() {
            "PROXY" => Some("http"),
            "HTTPS" => Some("https"),
            "SOCKS5" => Some("socks5"),
            _ => None,
        };
        match (scheme, words.next(), words.next()) {
            (Some(scheme), Some(addr), None) if !addr.contains("://") && !addr.contains('@') => {
                match Proxy::parse(&format!("{scheme}://{addr}")) {
                    Ok(proxy) => Self::Proxy(proxy),
                    Err(_) => Self::Unsupported(crate::sanitize::for_terminal(first, 200)),
                }
            }
            _ => Self::Unsupported(crate::sanitize::for_terminal(first, 200)),
        }
    }
}

/// Reads a PAC script from a file or an http(s) URL, bounded in size and time, fetching a URL
/// within `limit`.
fn read_pac_within(source: &str, limit: Duration) -> Result<String> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(e.into()))?;
        return runtime.block_on(ranges::update::download(
            source,
            limit,
            MAX_PAC_BYTES,
            "a PAC script",
        ));
    }
    let path = std::path::Path::new(source.strip_prefix("file://").unwrap_or(source));
    crate::input::read_text(path, MAX_PAC_BYTES as u64, "a PAC script")
}

/// What the report calls a route: `DIRECT`, `PROXY host:port`, or a PAC entry as written.
fn route_label(proxy: Option<&Proxy>) -> String {
    match proxy {
        // In a PAC script's own words: PROXY, HTTPS or SOCKS5 host:port.
        Some(p) => {
            let keyword = match p.kind {
                crate::probe::http::ProxyKind::Http => "PROXY",
                crate::probe::http::ProxyKind::Https => "HTTPS",
                crate::probe::http::ProxyKind::Socks5 => "SOCKS5",
            };
            let shown = p.to_string();
            let address = shown.split_once("://").map_or(shown.as_str(), |(_, a)| a);
            format!("{keyword} {address}")
        }
        None => "DIRECT".to_owned(),
    }
}

/// Whether `host` matches one bypass entry: `*`, `<local>` (a name without a dot), `.suffix`,
/// `name` (itself and every name below it), a pattern with `*` anywhere, or a CIDR for addresses.
pub(crate) fn bypassed_by(host: &str, entry: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if entry == "*" {
        return true;
    }
    if entry == "<local>" {
        return !host.contains('.') && !host.contains(':');
    }
    if entry.contains('*') {
        return glob(entry.as_bytes(), host.as_bytes());
    }
    if let Ok(net) = entry.parse::<ipnet::IpNet>() {
        return host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| net.contains(&ip));
    }
    host == entry.trim_start_matches('.')
        || (entry.starts_with('.') && host.ends_with(entry))
        || host.ends_with(&format!(".{entry}"))
}

/// `*` matches any run of characters (no other wildcard).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, more)| t == c && glob(rest, more)),
    }
}

impl Route {
    /// Takes the OS's proxy setting, when nothing else set a route (`os_discovery`).
    pub(crate) fn apply_os(&mut self, found: Option<crate::system::proxy::Found>) {
        use crate::system::proxy::Setting;
        if !self.os_discovery {
            return;
        }
        let Some(found) = found else {
            self.route_source =
                "no proxy setting (none in the flags, the environment, the site profile or the OS)"
                    .to_owned();
            return;
        };
        self.route_notes.extend(found.notes);
        match found.setting {
            Setting::Direct => self.route_source = format!("{}: no proxy", found.source),
            Setting::Pac(url) => {
                self.pac = Some(url);
                self.pac_from_os = true;
                self.route_source = found.source;
            }
            Setting::Proxy { server, bypass } => match Proxy::parse(&server) {
                Ok(proxy) => {
                    self.proxy = Some(proxy);
                    self.no_proxy = bypass;
                    self.route_source = found.source;
                }
                Err(e) => {
                    self.route_warning = Some(format!(
                        "{} names the proxy {server:?}, which cannot be used ({e}): the check went direct",
                        found.source
                    ));
                    self.route_source = found.source;
                }
            },
            Setting::Unsupported(what) => {
                self.route_warning = Some(format!(
                    "{} sets {what}, a proxy this tool cannot test: the check went direct",
                    found.source
                ));
                self.route_source = found.source;
            }
        }
    }

    /// Runs the PAC script (if any) for every host, once, and keeps each host's route. A script
    /// that does not compile, or throws for a host, is bad input naming the script.
    pub(crate) fn apply_pac<'a>(
        &mut self,
        hosts: impl IntoIterator<Item = &'a str>,
        deadline_at: Instant,
    ) -> Result<()> {
        let Some(source) = self.pac.clone() else {
            return Ok(());
        };
        // Fetching and running the script spend the run's one deadline, like the probes.
        let left = deadline_at.saturating_duration_since(Instant::now());
        let text = match self.pac_text.take() {
            Some(text) => text,
            None => read_pac_within(&source, left.min(PAC_FETCH_TIME))?,
        };
        let mut names: Vec<String> = hosts.into_iter().map(str::to_ascii_lowercase).collect();
        names.sort();
        names.dedup();
        let requests: Vec<(String, String)> = names
            .iter()
            .map(|h| (format!("https://{h}/"), h.clone()))
            .collect();
        let path = std::path::Path::new(&source);
        let left = deadline_at.saturating_duration_since(Instant::now());
        let routes = crate::allowlist::pac::evaluate_within(
            &text,
            path,
            &requests,
            left.min(crate::allowlist::pac::DEADLINE),
        )?;
        for (name, route) in names.into_iter().zip(routes) {
            let route = route.map_err(|e| {
                Error::bad_input(
                    crate::error::Location::file(path),
                    format!(
                        "FindProxyForURL failed for {name}: {}",
                        crate::sanitize::for_terminal(&e, 300)
                    ),
                )
            })?;
            let decision = PacDecision {
                route: PacRoute::from_first(&route.first),
                raw: crate::sanitize::for_terminal(&route.raw, 300),
            };
            self.pac_routes.insert(name, decision);
        }
        Ok(())
    }

    /// The route a PAC script gives `host` when it is one this tool cannot test.
    pub(crate) fn unsupported_route(&self, host: &str) -> Option<&str> {
        match self.pac_routes.get(&host.to_ascii_lowercase()) {
            Some(PacDecision {
                route: PacRoute::Unsupported(route),
                ..
            }) => Some(route),
            _ => None,
        }
    }

    /// Whether the browser would reach `host` through the proxy.
    pub(crate) fn proxy_for(&self, host: &str) -> Option<&Proxy> {
        if self.pac.is_some() {
            return match self.pac_routes.get(&host.to_ascii_lowercase()) {
                Some(PacDecision {
                    route: PacRoute::Proxy(proxy),
                    ..
                }) => Some(proxy),
                _ => None,
            };
        }
        let bypass = self.no_proxy.iter().any(|entry| bypassed_by(host, entry));
        if bypass { None } else { self.proxy.as_ref() }
    }

    /// The route `host` takes, as the report's evidence says it: `route` (`DIRECT`, `PROXY
    /// host:port`, or the PAC entry this tool cannot test), where that was decided
    /// (`route_source`), and the PAC script's whole answer (`pac_result`).
    pub(crate) fn route_evidence(&self, host: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(pac) = &self.pac {
            let decision = self.pac_routes.get(&host.to_ascii_lowercase());
            let route = match decision.map(|d| &d.route) {
                Some(PacRoute::Direct) => "DIRECT".to_owned(),
                Some(PacRoute::Proxy(p)) => route_label(Some(p)),
                Some(PacRoute::Unsupported(r)) => r.clone(),
                None => "not asked".to_owned(),
            };
            out.push(("route", route));
            out.push((
                "route_source",
                format!(
                    "the PAC script {} (from {}; its first entry is tested)",
                    crate::sanitize::for_terminal(pac, 200),
                    self.route_source
                ),
            ));
            if let Some(d) = decision {
                out.push(("pac_result", d.raw.clone()));
            }
            return out;
        }
        let proxy = self.proxy_for(host);
        let route = match (proxy, &self.proxy) {
            (None, Some(_)) => "DIRECT (in the proxy's bypass list)".to_owned(),
            (p, _) => route_label(p),
        };
        out.push(("route", route));
        out.push(("route_source", self.route_source.clone()));
        out
    }

    /// The `system/proxy` check: how HTTPS leaves this workstation, and which setting said so.
    pub(crate) fn route_check(&self) -> Check {
        let mut detail = format!(
            "HTTPS goes {}; set by {}",
            self.describe_path(),
            self.route_source
        );
        if self.pac.is_some() {
            detail.push_str(
                "; where the script lists several routes (\"PROXY a:3128; DIRECT\") the first is tested, \
                 as browsers use it whenever that proxy is reachable",
            );
        }
        for note in &self.route_notes {
            detail.push_str("; ");
            detail.push_str(note);
        }
        let (status, reason) = match &self.route_warning {
            Some(_) => (Status::Warn, Reason::SkippedEntry),
            None => (Status::Info, Reason::Ok),
        };
        if let Some(warning) = &self.route_warning {
            detail = format!("{warning}; {detail}");
        }
        let mut check = Check::new("system/proxy", Kind::System, status, reason, detail)
            .evidence("route_source", &self.route_source)
            .evidence("pac", &self.pac)
            .evidence("proxy", self.proxy.as_ref().map(ToString::to_string))
            .evidence("bypass", &self.no_proxy);
        if self.route_warning.is_some() {
            check = check.remedy(crate::remedy::proxy_setting());
        }
        check
    }

    pub(crate) fn describe_path(&self) -> String {
        if let Some(pac) = &self.pac {
            return format!(
                "as the PAC script {} says",
                crate::sanitize::for_terminal(pac, 200)
            );
        }
        match &self.proxy {
            Some(proxy) if self.no_proxy.is_empty() => format!("through the proxy {proxy}"),
            Some(proxy) => format!(
                "through the proxy {proxy}, except {}",
                self.no_proxy.join(", ")
            ),
            None => "direct".to_owned(),
        }
    }
}

/// Automatic proxy discovery (WPAD), as browsers do it when the OS setting is on: the URL DHCP
/// hands out (asked through `dhcp`, on Windows only), then `wpad.dat` at `http://wpad.DOMAIN/` for
/// this machine's DNS domains; the first that serves a PAC script is the route. With none, the
/// OS's other setting stands and the report says what was tried. Bounded by
/// [`crate::system::proxy::WPAD_TIME`] in all, of which DHCP has
/// [`crate::system::proxy::DHCP_TIME`].
pub(crate) fn follow_wpad(
    found: crate::system::proxy::Found,
    dhcp: impl FnOnce(Duration) -> crate::system::proxy::Dhcp,
    domains: &[String],
) -> (crate::system::proxy::Found, Option<String>) {
    use crate::system::proxy::{DHCP_TIME, Dhcp, Found, Setting, WPAD_TIME, wpad_urls};
    let started = std::time::Instant::now();
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    match dhcp(DHCP_TIME) {
        Dhcp::NotAsked => {}
        Dhcp::NoUrl(why) => tried.push(why),
        Dhcp::Url(url) => {
            let url = url.trim();
            let lower = url.to_ascii_lowercase();
            let web = lower.starts_with("http://") || lower.starts_with("https://");
            if web && url.len() <= 2048 && url.chars().all(|c| c.is_ascii_graphic()) {
                candidates.push((url.to_owned(), "DHCP"));
            } else {
                // Never a local file or another scheme: DHCP's answer is anyone's on the LAN.
                tried.push(format!(
                    "DHCP offered {:?}, which is not an http or https URL",
                    crate::sanitize::for_terminal(url, 200)
                ));
            }
        }
    }
    let by_dns = wpad_urls(domains);
    let no_domain = by_dns.is_empty();
    candidates.extend(by_dns.into_iter().map(|url| (url, "DNS")));
    for (url, how) in &candidates {
        let Some(left) = WPAD_TIME.checked_sub(started.elapsed()) else {
            tried.push(format!("{url} (not tried: out of time)"));
            continue;
        };
        match read_pac_within(url, left.min(Duration::from_secs(3))) {
            Ok(text) if text.contains("FindProxyForURL") => {
                let found = Found {
                    setting: Setting::Pac(url.clone()),
                    source: format!(
                        "automatic proxy discovery (WPAD, by {how}), turned on in {}",
                        found.source
                    ),
                    notes: found.notes,
                    wpad: false,
                };
                return (found, Some(text));
            }
            Ok(_) => tried.push(format!("{url} (not a PAC script)")),
            Err(e) => tried.push(format!(
                "{url} ({})",
                crate::sanitize::for_terminal(&e.to_string(), 200)
            )),
        }
    }
    let without_domain = "this machine has no DNS domain to look for wpad.dat in";
    let mut notes = found.notes;
    notes.push(if tried.is_empty() {
        format!("automatic proxy discovery (WPAD) is on, but {without_domain}")
    } else {
        let mut note = format!(
            "automatic proxy discovery (WPAD) is on and found no PAC script: tried {}",
            tried.join("; ")
        );
        if no_domain {
            note.push_str("; ");
            note.push_str(without_domain);
        }
        note
    });
    let found = Found {
        notes,
        wpad: false,
        ..found
    };
    (found, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::proxy::Dhcp;

    /// The route `argv` sets, with `env` as the environment and a profile naming `profile_proxy`.
    fn settings(argv: &[&str], env: &[(&str, &str)], profile_proxy: Option<&str>) -> Route {
        let mut config = crate::config::Config::default();
        config.profile.proxy = profile_proxy.map(str::to_owned);
        Route::from(crate::config::tests::check_config(argv, env, &config).route)
    }

    #[test]
    fn pac_answers_route_hosts_and_the_first_entry_is_the_one_tested() {
        assert_eq!(PacRoute::from_first("DIRECT"), PacRoute::Direct);
        let PacRoute::Proxy(p) = PacRoute::from_first("PROXY proxy01.example:3128") else {
            panic!()
        };
        assert_eq!((p.host.as_str(), p.port), ("proxy01.example", 3128));
        // SOCKS5 and HTTPS proxies are tested; SOCKS (version 4 in browsers) and nonsense are
        // not, and stay named.
        let PacRoute::Proxy(socks) = PacRoute::from_first("SOCKS5 s:1080") else {
            panic!()
        };
        assert_eq!(socks.to_string(), "socks5://s:1080");
        let PacRoute::Proxy(https) = PacRoute::from_first("HTTPS p:443") else {
            panic!()
        };
        assert_eq!(https.to_string(), "https://p:443");
        for unsupported in [
            "SOCKS s:1080",
            "SOCKS4 s:1080",
            "QUIC q:443",
            "PROXY",
            "PROXY a b",
        ] {
            assert_eq!(
                PacRoute::from_first(unsupported),
                PacRoute::Unsupported(unsupported.to_owned()),
                "{unsupported}"
            );
        }
        let mut s = settings(&["cp", "check", "--pac", "x.pac"], &[], None);
        let dir = tempfile::tempdir().unwrap();
        let pac = dir.path().join("x.pac");
        std::fs::write(
            &pac,
            "function FindProxyForURL(u, h) { return dnsDomainIs(h, '.aws') ? 'PROXY p.example:8080; DIRECT' : 'DIRECT'; }",
        )
        .unwrap();
        s.pac = Some(pac.display().to_string());
        s.apply_pac(
            ["Acme.my.connect.aws", "x.amazonaws.com"],
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            s.proxy_for("acme.my.connect.aws").unwrap().host,
            "p.example"
        );
        assert!(s.proxy_for("x.amazonaws.com").is_none());
        let evidence = s.route_evidence("acme.my.connect.aws");
        assert_eq!(evidence[0], ("route", "PROXY p.example:8080".to_owned()));
        assert_eq!(
            evidence[2],
            ("pac_result", "PROXY p.example:8080; DIRECT".to_owned())
        );
        assert_eq!(s.route_evidence("x.amazonaws.com")[0].1, "DIRECT");
    }

    #[test]
    fn the_os_setting_is_taken_only_when_nothing_else_set_a_route() {
        use crate::system::proxy::{Found, Setting};
        let found = |setting| {
            Some(Found {
                setting,
                source: "the Windows Internet Settings (X: ProxyServer)".to_owned(),
                notes: vec!["automatic proxy discovery (WPAD) is on".to_owned()],
                wpad: false,
            })
        };
        let manual = Setting::Proxy {
            server: "proxy.corp.example:8080".to_owned(),
            bypass: vec![".corp.example".to_owned(), "<local>".to_owned()],
        };
        let mut s = settings(&["cp", "check"], &[], None);
        s.apply_os(found(manual.clone()));
        assert_eq!(s.proxy.as_ref().unwrap().host, "proxy.corp.example");
        assert!(s.proxy_for("acme.my.connect.aws").is_some());
        assert!(s.proxy_for("intranet").is_none() && s.proxy_for("a.corp.example").is_none());
        let check = s.route_check();
        assert!(
            check.detail.contains("Windows Internet Settings") && check.detail.contains("WPAD")
        );
        assert_eq!(check.status, Status::Info);
        let mut s = settings(&["cp", "check"], &[], None);
        s.apply_os(found(Setting::Pac(
            "http://pac.corp.example/p.pac".to_owned(),
        )));
        assert!(s.pac_from_os && s.pac.as_deref() == Some("http://pac.corp.example/p.pac"));
        let mut s = settings(&["cp", "check"], &[], None);
        s.apply_os(found(Setting::Unsupported("socks=s:1080".to_owned())));
        assert!(s.proxy.is_none());
        assert_eq!(s.route_check().status, Status::Warn);
        let mut s = settings(&["cp", "check", "--no-proxy"], &[], None);
        s.apply_os(found(manual.clone()));
        assert!(s.proxy.is_none() && s.route_source == "--no-proxy");
        let mut s = settings(&["cp", "check"], &[], Some("http://profile.example:3128"));
        s.apply_os(found(manual));
        assert_eq!(s.proxy.unwrap().host, "profile.example");
        let mut s = settings(&["cp", "check"], &[], None);
        s.apply_os(None);
        assert!(s.route_source.starts_with("no proxy setting"));
    }

    #[test]
    fn bypass_entries_match_like_browsers_do() {
        for (host, entry, expected) in [
            ("a.corp.example", ".corp.example", true),
            ("corp.example", ".corp.example", true),
            ("a.corp.example", "corp.example", true),
            ("notcorp.example", "corp.example", false),
            ("intranet", "<local>", true),
            ("intranet.corp", "<local>", false),
            ("10.1.2.3", "10.*", true),
            ("10.example", "10.*", true),
            ("a.example", "*", true),
            ("web.corp.example", "*corp*", true),
            ("169.254.1.1", "169.254.0.0/16", true),
            ("acme.my.connect.aws", "169.254.0.0/16", false),
        ] {
            assert_eq!(bypassed_by(host, entry), expected, "{host} {entry}");
        }
    }

    /// An HTTP server on loopback answering every request with `status` and `body`; it counts
    /// the requests it served.
    fn http_server(
        status: &'static str,
        body: &'static str,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().take(8).flatten() {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (base, served)
    }

    fn wpad_on() -> crate::system::proxy::Found {
        crate::system::proxy::Found {
            setting: crate::system::proxy::Setting::Direct,
            source: r"the Windows Internet Settings (HKCU\…: AutoDetect)".to_owned(),
            notes: Vec::new(),
            wpad: true,
        }
    }

    #[test]
    fn automatic_discovery_takes_the_script_dhcp_names_before_dns() {
        const PAC: &str = "function FindProxyForURL(u, h) { return 'PROXY 192.0.2.8:3128'; }";
        let (base, served) = http_server("200 OK", PAC);
        let url = format!("{base}/proxy.pac");
        let given = url.clone();
        let (after, text) = follow_wpad(
            wpad_on(),
            move |limit| {
                assert_eq!(limit, crate::system::proxy::DHCP_TIME);
                Dhcp::Url(format!(" {given}\n"))
            },
            // A domain whose wpad host would not answer: DHCP's script must win before it.
            &["corp.invalid".to_owned()],
        );
        assert_eq!(text.as_deref(), Some(PAC));
        assert_eq!(after.setting, crate::system::proxy::Setting::Pac(url));
        assert!(after.source.contains("WPAD, by DHCP"), "{}", after.source);
        assert!(!after.wpad && after.notes.is_empty(), "{after:?}");
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn automatic_discovery_reports_what_dhcp_gave_when_it_is_not_a_script() {
        let (base, _) = http_server("404 Not Found", "no such file");
        let url = format!("{base}/wpad.dat");
        let given = url.clone();
        let (after, text) = follow_wpad(wpad_on(), move |_| Dhcp::Url(given), &[]);
        assert!(text.is_none());
        assert_eq!(after.setting, crate::system::proxy::Setting::Direct);
        let note = &after.notes[0];
        assert!(note.contains(&format!("tried {url} (")), "{note}");
        assert!(note.contains("404"), "{note}");
        assert!(
            note.ends_with("no DNS domain to look for wpad.dat in"),
            "{note}"
        );

        let (after, _) = follow_wpad(
            wpad_on(),
            |_| Dhcp::NoUrl("DHCP offered no PAC script URL".to_owned()),
            &[],
        );
        assert!(
            after.notes[0].contains("tried DHCP offered no PAC script URL"),
            "{after:?}"
        );
    }

    #[test]
    fn automatic_discovery_never_reads_a_local_file_dhcp_names() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "function FindProxyForURL(u, h) { return 'DIRECT'; }",
        )
        .unwrap();
        for offered in [
            file.path().display().to_string(),
            format!("file://{}", file.path().display()),
            "http://wpad.example/a b.dat".to_owned(),
        ] {
            let (after, text) = follow_wpad(wpad_on(), move |_| Dhcp::Url(offered), &[]);
            assert!(text.is_none());
            assert_eq!(after.setting, crate::system::proxy::Setting::Direct);
            assert!(
                after.notes[0].contains("which is not an http or https URL"),
                "{:?}",
                after.notes
            );
        }
    }

    #[test]
    fn automatic_discovery_without_a_dns_domain_keeps_the_os_setting_and_says_so() {
        use crate::system::proxy::{Found, Setting};
        let found = Found {
            setting: Setting::Direct,
            source: "the GNOME proxy settings (org.gnome.system.proxy mode 'auto')".to_owned(),
            notes: Vec::new(),
            wpad: true,
        };
        let (after, text) = follow_wpad(found, |_| Dhcp::NotAsked, &["localdomain".to_owned()]);
        assert!(text.is_none());
        assert_eq!(after.setting, Setting::Direct);
        assert!(!after.wpad);
        assert!(
            after.notes[0].contains("no DNS domain"),
            "{:?}",
            after.notes
        );
    }
}
