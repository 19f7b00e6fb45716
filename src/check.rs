//! `check`: the live test of this workstation. Resolves the settings of the command, builds the
//! plan from the catalog, runs it (or lists it with `--list`) and renders the report.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::allowlist::cidrs::CidrList;
use crate::allowlist::domains::DomainList;
use crate::catalog::{DomainRequirement, HostPattern};
use crate::cli::{CheckArgs, ReportFormat};
use crate::config::Config;
use crate::error::{Error, ExitCode, Result};
use crate::plan::{self, Selected};
use crate::probe::http::Proxy;
use crate::ranges;
use crate::report::{Check, CidrFix, Fixes, Kind, Proto, Reason, Report, Status, Target};

/// The default deadline of a whole run: long enough for a slow proxy, well under a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default length of the media quality sample, per relay.
pub const DEFAULT_MEDIA_SECONDS: u64 = 5;
/// No single probe may take longer than this, whatever the deadline.
pub const MAX_PROBE_TIME: Duration = Duration::from_secs(10);

/// What `check` will do, resolved from flags > environment > profile > defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    pub selected: Selected,
    /// Empty: the system's resolver configuration.
    pub dns_servers: Vec<SocketAddr>,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<Proxy>,
    /// `NO_PROXY` entries: hosts that bypass the proxy.
    pub no_proxy: Vec<String>,
    /// The PAC script (file or URL) that routes each host, instead of one proxy.
    pub pac: Option<String>,
    /// Each planned host's route, as the PAC script said (filled in by [`Settings::apply_pac`]).
    pub pac_routes: HashMap<String, PacDecision>,
    /// The PAC script's text when it was already fetched (automatic discovery reads it to know
    /// it is one), so [`Settings::apply_pac`] does not fetch it again.
    pub pac_text: Option<String>,
    /// Where the route in force (proxy, PAC script or direct) was set: `--proxy`, `the
    /// environment (HTTPS_PROXY)`, `the site profile (pac)`, an OS setting, or nothing.
    pub route_source: String,
    /// Nothing on the command line, in the environment or in the profile set a route, so the
    /// OS's own proxy settings are asked (see [`Settings::apply_os`]).
    pub os_discovery: bool,
    /// The PAC script came from the OS's settings: one that cannot be read is a warning (the
    /// browser then goes direct), not bad input.
    pub pac_from_os: bool,
    /// Remarks on the route for the report (automatic discovery not followed, a setting ignored).
    pub route_notes: Vec<String>,
    /// A route setting was found but could not be used (the report warns).
    pub route_warning: Option<String>,
    pub deadline: Duration,
    /// When the whole run must end: fixed once, when the settings are resolved, so that PAC
    /// fetching and evaluation, the catalog and the probes all spend the one `--timeout`.
    pub deadline_at: std::time::Instant,
    pub per_probe: Duration,
    pub progress: bool,
    pub format: ReportFormat,
    /// Length of the media quality sample per relay (`--media-seconds`, `media_seconds` in the
    /// profile).
    pub media_sample: Duration,
    pub thresholds: crate::config::Thresholds,
    /// TURN credentials for the authenticated media test, when given.
    pub turn: Option<crate::media::ice_servers::TurnAuth>,
    /// A CCP session's WebSocket URL (`--transport-url`, `transport_url` in the profile).
    pub transport: Option<crate::transport::TransportUrl>,
}

/// The largest PAC script accepted; real ones are a few kilobytes.
pub const MAX_PAC_BYTES: usize = 1 << 20;
/// How long fetching a PAC script by URL may take.
pub const PAC_FETCH_TIME: Duration = Duration::from_secs(10);

/// Where a PAC script sends a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacRoute {
    Direct,
    Proxy(Proxy),
    /// `SOCKS` and `SOCKS4` (version 4), anything else unknown: not a route this tool can test;
    /// the script's first choice, sanitised.
    Unsupported(String),
}

/// A PAC script's answer for one host: the route tested (the first entry) and the whole answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacDecision {
    pub route: PacRoute,
    /// The script's answer as returned, e.g. `PROXY a:3128; DIRECT` (sanitised).
    pub raw: String,
}

impl PacRoute {
    /// The route a browser takes first. A PAC answer is a list tried in order: the browser moves
    /// to the next entry only when a proxy cannot be reached at all, so the first entry is the
    /// route the CCP normally takes, and the one tested.
    pub fn from_first(first: &str) -> Self {
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

/// Reads a PAC script from a file or an http(s) URL, bounded in size and time.
pub fn read_pac(source: &str) -> Result<String> {
    read_pac_within(source, PAC_FETCH_TIME)
}

/// [`read_pac`], fetching a URL within `limit`.
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

/// Parses `20s`, `1m`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("expected a duration like 20s, 1m or 500ms, found {text:?}");
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
        return Err(format!(
            "the timeout must be between 100ms and 1h, found {text:?}"
        ));
    }
    Ok(d)
}

/// Parses `IP`, `IP:PORT` or `[IPv6]:PORT`; the port defaults to 53.
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "expected a DNS server as IP, IP:PORT or [IPv6]:PORT, found {text:?}"
    ))
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
pub fn bypassed_by(host: &str, entry: &str) -> bool {
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

impl Settings {
    pub fn resolve(
        config: &Config,
        args: &CheckArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let env_value = |key: &str| env(key).filter(|v| !v.is_empty());
        let profile = &config.profile;
        let servers: Vec<String> = if args.dns_servers.is_empty() {
            profile.dns_servers.clone()
        } else {
            args.dns_servers.clone()
        };
        let dns_servers = servers
            .iter()
            .map(|s| parse_dns_server(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::usage)?;
        let timeout_text = args.timeout.clone().or_else(|| profile.timeout.clone());
        let deadline = timeout_text
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(Error::usage)?
            .unwrap_or(DEFAULT_TIMEOUT);
        // Flags, then the environment, then the profile; with none of them, the OS (later).
        let env_var = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .into_iter()
            .find(|k| env_value(k).is_some());
        let profile_name = config.profile_path.as_ref().map_or_else(
            || "the site profile".to_owned(),
            |p| format!("the site profile {}", p.display()),
        );
        let mut os_discovery = false;
        let (pac, proxy_text, route_source) = if args.no_proxy {
            (None, None, "--no-proxy".to_owned())
        } else if let Some(p) = &args.proxy {
            (None, Some(p.clone()), "--proxy".to_owned())
        } else if let Some(p) = &args.pac {
            (Some(p.clone()), None, "--pac".to_owned())
        } else if let Some(var) = env_var {
            (None, env_value(var), format!("the environment ({var})"))
        } else if let Some(p) = &profile.pac {
            let p = match &config.profile_path {
                Some(at) if !p.contains("://") && std::path::Path::new(p).is_relative() => at
                    .parent()
                    .unwrap_or_else(|| std::path::Path::new("."))
                    .join(p)
                    .display()
                    .to_string(),
                _ => p.clone(),
            };
            (Some(p), None, format!("{profile_name} (pac)"))
        } else if let Some(p) = &profile.proxy {
            (None, Some(p.clone()), format!("{profile_name} (proxy)"))
        } else {
            os_discovery = true;
            (None, None, "no proxy setting".to_owned())
        };
        let proxy = proxy_text
            .as_deref()
            .map(Proxy::parse)
            .transpose()
            .map_err(Error::usage)?;
        // NO_PROXY goes with a proxy from the environment or the profile, not with --proxy.
        let no_proxy = if args.proxy.is_some() || pac.is_some() || proxy.is_none() {
            Vec::new()
        } else {
            env_value("NO_PROXY")
                .or_else(|| env_value("no_proxy"))
                .map(|list| {
                    list.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .map(|s| match s.strip_prefix("*.") {
                            Some(rest) => format!(".{rest}"),
                            None => s,
                        })
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = env("TERM").is_some_and(|t| t == "dumb");
        let progress = !args.no_progress
            && !config.quiet
            && !args.list
            && !no_color
            && !dumb
            && std::io::stderr().is_terminal();
        Ok(Self {
            selected: Selected::new(&args.only, &args.skip),
            dns_servers,
            ca_file: args.ca_file.clone().or_else(|| profile.ca_file.clone()),
            proxy,
            no_proxy,
            pac,
            pac_routes: HashMap::new(),
            pac_text: None,
            route_source,
            os_discovery,
            pac_from_os: false,
            route_notes: Vec::new(),
            route_warning: None,
            deadline,
            deadline_at: std::time::Instant::now() + deadline,
            per_probe: deadline.min(MAX_PROBE_TIME),
            progress,
            format: args.format,
            media_sample: Duration::from_secs(
                args.media_seconds
                    .or(profile.media_seconds)
                    .unwrap_or(DEFAULT_MEDIA_SECONDS),
            ),
            thresholds: profile.thresholds,
            turn: crate::media::ice_servers::TurnAuth::resolve(
                args.turn_username.as_deref(),
                args.turn_password.as_deref(),
                args.ice_servers.as_deref(),
                env,
            )?,
            transport: args
                .transport_url
                .as_deref()
                .or(profile.transport_url.as_deref())
                .map(crate::transport::TransportUrl::parse)
                .transpose()
                .map_err(Error::usage)?,
        })
    }

    /// Takes the OS's proxy setting, when nothing else set a route (`os_discovery`).
    pub fn apply_os(&mut self, found: Option<crate::system::proxy::Found>) {
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
    pub fn apply_pac<'a>(&mut self, hosts: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let Some(source) = self.pac.clone() else {
            return Ok(());
        };
        // Fetching and running the script spend the run's one deadline, like the probes.
        let left = self
            .deadline_at
            .saturating_duration_since(std::time::Instant::now());
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
        let left = self
            .deadline_at
            .saturating_duration_since(std::time::Instant::now());
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
    pub fn unsupported_route(&self, host: &str) -> Option<&str> {
        match self.pac_routes.get(&host.to_ascii_lowercase()) {
            Some(PacDecision {
                route: PacRoute::Unsupported(route),
                ..
            }) => Some(route),
            _ => None,
        }
    }

    /// Whether the browser would reach `host` through the proxy.
    pub fn proxy_for(&self, host: &str) -> Option<&Proxy> {
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
    pub fn route_evidence(&self, host: &str) -> Vec<(&'static str, String)> {
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
    pub fn route_check(&self) -> Check {
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
            check = check.remedy(
                "fix the proxy setting named (or give the route to test with --proxy, --pac or --no-proxy)",
            );
        }
        check
    }

    pub fn describe_resolver(&self) -> String {
        if self.dns_servers.is_empty() {
            "the system's resolvers".to_owned()
        } else {
            let list: Vec<String> = self.dns_servers.iter().map(ToString::to_string).collect();
            list.join(", ")
        }
    }

    pub fn describe_path(&self) -> String {
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

/// What a check produced: the plan (`--list`), or a report.
#[derive(Debug)]
pub enum Produced {
    Listing(String),
    Report {
        report: Box<Report>,
        interrupted: bool,
    },
}

pub fn run(
    config: &Config,
    args: &CheckArgs,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let format = Settings::resolve(config, args, env)?.format;
    match produce(config, args, env, warnings)? {
        Produced::Listing(text) => {
            crate::app::emit(config, &text)?;
            Ok(ExitCode::Ready)
        }
        Produced::Report {
            report,
            interrupted,
        } => {
            crate::app::render_report(config, &report, format)?;
            if interrupted {
                return Ok(ExitCode::Interrupted);
            }
            Ok(report.verdict.into())
        }
    }
}

/// Automatic proxy discovery (WPAD), as browsers do it when the OS setting is on: the URL DHCP
/// hands out (asked through `dhcp`, on Windows only), then `wpad.dat` at `http://wpad.DOMAIN/` for
/// this machine's DNS domains; the first that serves a PAC script is the route. With none, the
/// OS's other setting stands and the report says what was tried. Bounded by
/// [`crate::system::proxy::WPAD_TIME`] in all, of which DHCP has
/// [`crate::system::proxy::DHCP_TIME`].
pub fn follow_wpad(
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

/// Runs the check (or lists its plan) without rendering anything.
pub fn produce(
    config: &Config,
    args: &CheckArgs,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Produced> {
    let started = crate::app::now();
    // `--ccp-log`: the endpoints the agent's CCP actually used, tested beside the catalog's.
    let from_log = crate::ccplog::live::FromLog::read(&args.ccp_log)?;
    let config = &from_log.fill(config);
    let mut settings = Settings::resolve(config, args, env)?;
    if settings.os_discovery {
        match crate::system::proxy::discover() {
            // Listing touches no network: discovery is only named.
            Some(mut found) if found.wpad && args.list => {
                found.notes.push(
                    "automatic proxy discovery (WPAD) is on: the check looks for its script first \
                     (DHCP on Windows, then wpad.DOMAIN), and uses this setting only without one"
                        .to_owned(),
                );
                found.wpad = false;
                settings.apply_os(Some(found));
            }
            Some(found) if found.wpad => {
                // Discovery may take its whole WPAD_TIME: say so rather than sit silent.
                let spinner = if settings.progress {
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
                settings.apply_os(Some(found));
                settings.pac_text = text;
            }
            found => settings.apply_os(found),
        }
    }
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let mut plan = plan::build(&requirements, &snapshot, &settings.selected);
    // The WebSocket transport (`--transport-url`, else the log's) and the log's other endpoints.
    from_log
        .plan(
            &mut plan,
            &requirements,
            &snapshot,
            &settings.selected,
            settings.transport.as_ref(),
        )
        .map_err(Error::usage)?;
    if args.survey {
        plan.survey = plan::survey(&catalog, &requirements.region);
    }
    if args.list {
        let mut path = format!(
            "{} (set by {})",
            settings.describe_path(),
            settings.route_source
        );
        for note in &settings.route_notes {
            path.push_str("; ");
            path.push_str(note);
        }
        let mut text = plan::describe(&plan, &settings.describe_resolver(), &path);
        if let Some(turn) = settings.turn.as_ref().filter(|_| !plan.media.is_empty()) {
            text.push_str(&turn.describe());
        }
        return Ok(Produced::Listing(text));
    }
    let lists = Lists::read(config, args)?;
    let transport_name = crate::transport::sample_name(&requirements);
    let hosts: Vec<&str> = plan
        .hosts
        .iter()
        .map(|h| h.host.as_str())
        .chain(plan.survey.iter().map(|t| t.host.as_str()))
        .chain(transport_name.as_deref())
        .collect();
    if let Err(e) = settings.apply_pac(hosts.iter().copied()) {
        if !settings.pac_from_os {
            return Err(e);
        }
        // A browser that cannot fetch or run the OS's PAC script goes direct: so does the check.
        settings.route_warning = Some(format!(
            "the PAC script {} could not be used ({}): the check went direct, as browsers do",
            settings.pac.as_deref().unwrap_or_default(),
            crate::sanitize::for_terminal(&e.to_string(), 300)
        ));
        settings.pac = None;
        settings.pac_routes.clear();
    }
    let ca_roots = settings
        .ca_file
        .as_deref()
        .map(crate::probe::tls::read_ca_file)
        .transpose()?;
    let outcome = crate::run::execute(&plan, &settings, snapshot, ca_roots.unwrap_or_default())?;
    let snapshot = outcome.snapshot;
    let mut checks = vec![crate::app::snapshot_check(&snapshot, started)];
    if checks[0].status == Status::Pass {
        checks[0].status = Status::Info;
    }
    checks.push(crate::catalog_info::provenance_check(&catalog, started));
    checks.push(settings.route_check());
    if settings.selected.has(crate::cli::CheckKind::Media) {
        // Where the softphone's audio flows from (a VDI session) and which local UDP ports it
        // uses: facts the media findings are read against.
        let facts = crate::system::gather(&crate::system::Sources::this_machine());
        checks.extend(crate::system::checks(&facts));
    }
    // Each host's checks say the route they took and which setting chose it.
    let routed: std::collections::HashSet<&str> = hosts.iter().copied().collect();
    checks.extend(outcome.checks.into_iter().map(|mut check| {
        let on_route = !matches!(check.kind, Kind::Stun | Kind::Turn | Kind::Media);
        if let Some(host) = check
            .host
            .clone()
            .filter(|h| on_route && routed.contains(h.as_str()))
        {
            for (key, value) in settings.route_evidence(&host) {
                check = check.evidence(key, value);
            }
        }
        check
    }));
    checks.extend(crate::transport::route_check(
        &requirements,
        &plan,
        &settings,
        &checks,
    ));
    checks.extend(lists.checks(&plan, &requirements, &snapshot, &settings, &checks));
    let target = Target {
        instance: requirements.instance.clone(),
        region: Some(requirements.region.clone()),
        partner_region: requirements.partner_region.clone(),
        features: config
            .features
            .iter()
            .map(|g| g.name().to_owned())
            .collect(),
        site: config.site.clone(),
    };
    if let Some(nothing) = nothing_tested(&checks) {
        checks.insert(0, nothing);
    }
    let mut report = Report::new("check", target, crate::app::rfc3339(started), checks);
    report.ranges = Some(snapshot.provenance(started));
    report.duration_ms = outcome.elapsed.as_millis().try_into().unwrap_or(u64::MAX);
    report.fixes = fixes(&report);
    Ok(Produced::Report {
        report: Box::new(report),
        interrupted: outcome.interrupted,
    })
}

/// The check that says nothing was carried out, when no host, relay or address was tested: such
/// a run is never ready.
fn nothing_tested(checks: &[Check]) -> Option<Check> {
    let measured = checks.iter().any(|c| {
        matches!(
            c.kind,
            Kind::Dns
                | Kind::Tcp
                | Kind::Tls
                | Kind::Https
                | Kind::Websocket
                | Kind::Stun
                | Kind::Turn
                | Kind::Media
        ) && matches!(c.status, Status::Pass | Status::Warn | Status::Fail)
    });
    (!measured).then(|| {
        Check::new(
            "system/nothing-tested",
            Kind::System,
            Status::Skip,
            Reason::NothingTested,
            "no host, relay or address was tested: the Region, instance and selection (--only, \
             --skip, --endpoints) left nothing concrete to test, or nothing could be reached by a \
             route this tool can test",
        )
        .remedy(
            "widen the selection so that something concrete is tested (a Region or instance with \
             concrete hosts, --only with a kind the catalog has)",
        )
    })
}

/// `--domains` and `--cidrs`: the customer's lists, read as `audit` reads them, to match every
/// live host and every address reached against.
#[derive(Default)]
struct Lists {
    domains: Option<DomainList>,
    cidrs: Option<CidrList>,
}

impl Lists {
    /// Flags, then the site profile. Malformed lines stop the run (exit 65), as in `audit`.
    fn read(config: &Config, args: &CheckArgs) -> Result<Self> {
        let mut lists = Self::default();
        let strict = crate::allowlist::Strictness::Strict;
        if let Some(path) = args
            .domains
            .clone()
            .or_else(|| config.profile.domains.clone())
        {
            let text = crate::allowlist::read_text(&path)?;
            if crate::allowlist::pac::looks_like_pac(&text) {
                return Err(Error::usage(format!(
                    "{} is a PAC script, which routes hosts rather than allowing them: give it with --pac",
                    path.display()
                )));
            }
            lists.domains = Some(DomainList::parse(&text, &path, None, strict)?);
        }
        if let Some(path) = args.cidrs.clone().or_else(|| config.profile.cidrs.clone()) {
            lists.cidrs = Some(CidrList::read(&path, None, strict)?);
        }
        Ok(lists)
    }

    /// One check per live host against the domain list, one per address reached against the CIDR
    /// whitelist. `run` holds the run's checks, whose evidence has the addresses.
    fn checks(
        &self,
        plan: &plan::Plan,
        requirements: &crate::catalog::Requirements,
        snapshot: &ranges::Snapshot,
        settings: &Settings,
        run: &[Check],
    ) -> Vec<Check> {
        let mut out = Vec::new();
        if self.domains.is_none() && self.cidrs.is_none() {
            return out;
        }
        // Linear in the catalog, however large: requirements by id.
        let by_id: HashMap<&str, &DomainRequirement> = requirements
            .domains
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        // Every live host: (host, port, proto, its requirement, the catalog's allow-list line).
        let mut live: Vec<(&str, u16, Proto, Option<&DomainRequirement>, &str)> = Vec::new();
        for h in &plan.hosts {
            let req = by_id.get(h.requirement.as_str()).copied();
            live.push((&h.host, h.port, h.proto, req, &h.allowlist));
        }
        for m in &plan.media {
            let req = requirements.domains.iter().find(|r| {
                r.concrete_host() == Some(m.host.as_str())
                    && r.ports.iter().any(|p| p.proto == Proto::Udp)
            });
            live.push((&m.host, m.port, Proto::Udp, req, &m.allowlist));
        }
        if let Some(list) = &self.domains {
            for &(host, port, proto, req, allowlist) in &live {
                out.push(domain_check(list, host, port, proto, req, allowlist));
            }
        }
        if let Some(list) = &self.cidrs {
            for (host, ip, port, proto) in addresses_reached(run, &live) {
                let allowlist = live.iter().find(|l| l.0 == host).map_or("", |l| l.4);
                let proxy = (proto == Proto::Tcp)
                    .then(|| settings.proxy_for(&host))
                    .flatten();
                out.push(cidr_check(
                    list, snapshot, &host, ip, port, proto, allowlist, proxy,
                ));
            }
        }
        out
    }
}

/// The addresses the run resolved or connected to, each with the host's port and protocol: from
/// the DNS checks' `addresses`, the TCP checks' `attempts`, and the media checks' `address`.
fn addresses_reached(
    run: &[Check],
    live: &[(&str, u16, Proto, Option<&DomainRequirement>, &str)],
) -> Vec<(String, IpAddr, u16, Proto)> {
    let mut out: Vec<(String, IpAddr, u16, Proto)> = Vec::new();
    let mut add = |entry: (String, IpAddr, u16, Proto)| {
        if !out.contains(&entry) {
            out.push(entry);
        }
    };
    for check in run {
        let Some(host) = check.host.as_deref() else {
            continue;
        };
        let ev = &check.evidence;
        match check.kind {
            Kind::Dns => {
                let ips = ev
                    .get("addresses")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("address")?.as_str()?.parse::<IpAddr>().ok());
                for ip in ips {
                    for l in live.iter().filter(|l| l.0 == host && l.2 == Proto::Tcp) {
                        add((host.to_owned(), ip, l.1, l.2));
                    }
                }
            }
            Kind::Tcp => {
                let ips = ev
                    .get("attempts")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.get("address")?.as_str()?.parse::<SocketAddr>().ok());
                for addr in ips {
                    add((host.to_owned(), addr.ip(), addr.port(), Proto::Tcp));
                }
            }
            Kind::Stun | Kind::Turn => {
                if let Some(addr) = ev
                    .get("address")
                    .and_then(|a| a.as_str())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    add((host.to_owned(), addr.ip(), addr.port(), Proto::Udp));
                }
            }
            _ => {}
        }
    }
    out
}

fn domain_check(
    list: &DomainList,
    host: &str,
    port: u16,
    proto: Proto,
    req: Option<&DomainRequirement>,
    allowlist: &str,
) -> Check {
    let file = list.path.display().to_string();
    let spec = crate::catalog::PortSpec::single(proto, port);
    // The live host with its requirement's ports and paths; the requirement itself when it is a
    // wildcard, whose other hosts no list of names can cover.
    let as_host = DomainRequirement {
        host: HostPattern::Exact(host.to_owned()),
        ..req.cloned().unwrap_or_else(|| DomainRequirement {
            id: host.to_owned(),
            group: crate::catalog::Group::Core,
            region: String::new(),
            host: HostPattern::Exact(host.to_owned()),
            allowlist: HostPattern::Exact(host.to_owned()),
            probe: None,
            ports: vec![spec],
            paths: Vec::new(),
            websocket: false,
            legacy: false,
            purpose: String::new(),
            source: String::new(),
            proof: crate::catalog::Proof::default(),
        })
    };
    let req = req.unwrap_or(&as_host);
    let entry = list.entry_for(req);
    let cover = list.cover(&as_host);
    let lines = |entries: &[&crate::allowlist::domains::DomainEntry]| {
        crate::audit::lines_of(entries.iter().map(|e| (&e.span, e.text.as_str())))
    };
    let what = host.to_owned();
    let id = format!("allowlist/domain/{host}:{port}/{proto}");
    let check = if cover.is_covered() {
        let by = lines(&cover.by);
        let wide = list.cover(req);
        if matches!(req.host, HostPattern::Wildcard(_)) && !wide.is_covered() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Warn,
                Reason::MissingDomain,
                format!(
                    "{what} is allowed by {}, but only by name: the other hosts under {} change, and {file} does not allow them",
                    crate::audit::named(&by),
                    req.host
                ),
            )
            .remedy(format!("add `{entry}` to {file}"))
            .evidence("add", &entry)
        } else {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Pass,
                Reason::Ok,
                format!("{what} is allowed by {}", crate::audit::named(&by)),
            )
        }
        .evidence("covered_by", &by)
    } else if !cover.by.is_empty() {
        let by = lines(&cover.by);
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::MissingDomain,
            format!(
                "{what} is allowed only for some paths ({}); {} are blocked",
                crate::audit::named(&by),
                cover.missing_paths.join(", ")
            ),
        )
        .remedy(format!(
            "add `{entry}` to {file} so every path of {host} is allowed"
        ))
        .evidence("covered_by", &by)
        .evidence("add", &entry)
    } else if !cover.wrong_port.is_empty() {
        let by = lines(&cover.wrong_port);
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::WrongPort,
            format!(
                "{what} is allowed only on other ports ({})",
                crate::audit::named(&by)
            ),
        )
        .remedy(format!("add `{entry}` to {file} ({spec})"))
        .evidence("covered_by", &by)
        .evidence("add", &entry)
    } else {
        let purpose = if req.purpose.is_empty() {
            String::new()
        } else {
            format!(", {}", req.purpose)
        };
        Check::new(
            id,
            Kind::Allowlist,
            Status::Fail,
            Reason::MissingDomain,
            format!("{what}{purpose} is not in {file}"),
        )
        .remedy(format!("add `{entry}` to {file}"))
        .evidence("add", &entry)
    };
    check
        .host(host)
        .endpoint(port, proto)
        .evidence("requirement", &req.id)
        .evidence("allowlist", allowlist)
        .evidence("list", &file)
}

#[allow(clippy::too_many_arguments)]
fn cidr_check(
    list: &CidrList,
    snapshot: &ranges::Snapshot,
    host: &str,
    ip: IpAddr,
    port: u16,
    proto: Proto,
    allowlist: &str,
    proxy: Option<&Proxy>,
) -> Check {
    let file = list.path.display().to_string();
    let spec = crate::catalog::PortSpec::single(proto, port);
    // Only the entries holding the address are built out of the list's compact tables.
    let entries = &list.entries;
    let holding: Vec<crate::allowlist::cidrs::CidrEntry> = (0..entries.len())
        .filter(|&i| {
            entries.direction(i) == crate::catalog::Direction::Outbound
                && entries.space(i).contains(ip)
        })
        .map(|i| entries.get(i))
        .collect();
    type Entry<'a> = &'a crate::allowlist::cidrs::CidrEntry;
    let (on_port, other_ports): (Vec<Entry<'_>>, Vec<Entry<'_>>) =
        holding.iter().partition(|e| e.allows(&spec));
    let prefix = crate::probe::published_prefix(snapshot, ip);
    let add = prefix.as_ref().map_or_else(
        || ipnet::IpNet::from(ip).to_string(),
        |(net, _)| net.clone(),
    );
    let what = format!("{ip} ({host}) on {spec}");
    let id = format!("allowlist/cidr/{host}/{proto}/{port}/{ip}");
    let mut check = if !on_port.is_empty() {
        let by = crate::audit::lines_of(on_port.iter().map(|e| (&e.span, e.text.as_str())));
        Check::new(
            id,
            Kind::Allowlist,
            Status::Pass,
            Reason::Ok,
            format!("{what} is allowed by {}", crate::audit::named(&by)),
        )
        .evidence("covered_by", &by)
    } else {
        let published = prefix
            .as_ref()
            .map_or_else(String::new, |(_, named)| format!(" (published as {named})"));
        let fix = format!("add {spec} outbound to {add} in {file}");
        let c = if other_ports.is_empty() {
            Check::new(
                id,
                Kind::Allowlist,
                Status::Fail,
                Reason::MissingCidr,
                format!("{what} is not allowed by {file}{published}"),
            )
            .remedy(fix)
        } else {
            let by = crate::audit::lines_of(other_ports.iter().map(|e| (&e.span, e.text.as_str())));
            let at: Vec<String> = other_ports.iter().map(|e| e.span.at_line()).collect();
            Check::new(
                id,
                Kind::Allowlist,
                Status::Fail,
                Reason::WrongPort,
                format!(
                    "{what}: the address is allowed only on {} ({}), not on {spec}",
                    other_ports
                        .iter()
                        .map(|e| e.ports_label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::audit::named(&by)
                ),
            )
            .remedy(format!(
                "{fix} (or extend the rule at {} to {spec})",
                crate::audit::named(&at)
            ))
            .evidence("allowed_on_other_ports_by", &by)
        };
        c.evidence("missing", &add)
            .evidence("prefix", prefix.as_ref().map(|(net, _)| net))
    };
    if let Some(p) = proxy {
        // The proxy, not this workstation, opens this connection: a fact for the proxy's firewall.
        check.status = Status::Info;
        check.detail = format!(
            "{}; this workstation reaches {host} through the proxy {p}, so only the proxy's own traffic needs it",
            check.detail
        );
        check.remedy = None;
    }
    check
        .host(host)
        .endpoint(port, proto)
        .evidence("address", ip.to_string())
        .evidence("allowlist", allowlist)
        .evidence("list", &file)
}

/// What the network team must change, gathered from the checks that did not pass: allow-list
/// lines and prefixes to add, and per action the hosts it concerns.
fn fixes(report: &Report) -> Fixes {
    let mut fixes = Fixes::default();
    let mut actions: Vec<(&'static str, Vec<String>)> = Vec::new();
    for check in &report.checks {
        if !matches!(check.status, Status::Fail | Status::Warn) {
            continue;
        }
        let Some(line) = check.evidence.get("allowlist").and_then(|v| v.as_str()) else {
            continue;
        };
        let action = match check.reason {
            Reason::Nxdomain
            | Reason::NoAnswer
            | Reason::Refused
            | Reason::Timeout
            | Reason::Unreachable
            | Reason::ProxyDenied
            | Reason::HandshakeFailed
            | Reason::MissingDomain => {
                if !fixes.domains.iter().any(|d| d == line) {
                    fixes.domains.push(line.to_owned());
                }
                None
            }
            Reason::OutsideRanges | Reason::PrivateAddress => {
                Some("make these resolve to AWS's public addresses (remove DNS overrides)")
            }
            Reason::Intercepted
            | Reason::UntrustedCertificate
            | Reason::HostnameMismatch
            | Reason::ExpiredCertificate
            | Reason::HttpError => Some("exempt from TLS inspection and redirection"),
            Reason::OldTls => Some("allow TLS 1.2 and 1.3 on the device that terminates TLS"),
            Reason::ProxyAuthRequired => Some("exempt from proxy authentication"),
            Reason::WebsocketRejected => Some("let WebSocket upgrades through the proxy"),
            Reason::WrongPort if check.id.starts_with("allowlist/domain/") => {
                Some("allow these on the port the check names (the list limits them to others)")
            }
            _ => None,
        };
        if let Some(action) = action {
            match actions.iter_mut().find(|(a, _)| *a == action) {
                Some((_, lines)) if !lines.iter().any(|l| l == line) => lines.push(line.to_owned()),
                Some(_) => {}
                None => actions.push((action, vec![line.to_owned()])),
            }
        }
        if let (Some(prefix), Some(port)) = (
            check.evidence.get("prefix").and_then(|v| v.as_str()),
            check.port,
        ) {
            let fix = CidrFix {
                cidr: prefix.to_owned(),
                proto: check.proto.unwrap_or(Proto::Tcp),
                port: port.to_string(),
            };
            if !fixes.cidrs.contains(&fix) {
                fixes.cidrs.push(fix);
            }
        }
    }
    fixes.notes = actions
        .into_iter()
        .map(|(action, lines)| format!("{action}: {}", lines.join(", ")))
        .collect();
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::system::proxy::Dhcp;
    use clap::Parser;

    /// The settings of `argv` with `env` as the environment and `config` as the configuration.
    fn resolved(argv: &[&str], env: &[(&str, &str)], config: &Config) -> Settings {
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Check(args) = &cli.command else {
            panic!("not check")
        };
        let lookup = |key: &str| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        };
        Settings::resolve(config, args, &lookup).unwrap()
    }

    fn settings(argv: &[&str], env: &[(&str, &str)], profile_proxy: Option<&str>) -> Settings {
        let mut config = Config::default();
        config.profile.proxy = profile_proxy.map(str::to_owned);
        resolved(argv, env, &config)
    }

    #[test]
    fn the_proxy_comes_from_the_flag_then_the_environment_then_the_profile() {
        let from_profile = settings(&["cp", "check"], &[], Some("http://profile.example:3128"));
        assert_eq!(from_profile.proxy.unwrap().host, "profile.example");
        let env = [
            ("HTTPS_PROXY", "http://env.example:8080"),
            ("NO_PROXY", "internal.example,.corp.example"),
        ];
        let from_env = settings(&["cp", "check"], &env, Some("http://profile.example:3128"));
        assert_eq!(from_env.proxy.as_ref().unwrap().host, "env.example");
        assert!(from_env.proxy_for("acme.my.connect.aws").is_some());
        assert!(from_env.proxy_for("internal.example").is_none());
        assert!(from_env.proxy_for("a.internal.example").is_none());
        assert!(from_env.proxy_for("x.corp.example").is_none());
        assert!(from_env.proxy_for("notinternal.example").is_some());
        let flag = settings(&["cp", "check", "--proxy", "flag.example:1"], &env, None);
        assert_eq!(flag.proxy.as_ref().unwrap().host, "flag.example");
        assert!(
            flag.proxy_for("internal.example").is_some(),
            "NO_PROXY is for the environment's proxy"
        );
        let direct = settings(&["cp", "check", "--no-proxy"], &env, Some("http://p:1"));
        assert!(direct.proxy.is_none());
    }

    fn settings_with(argv: &[&str], env: &[(&str, &str)], profile: &str) -> Settings {
        let mut config = Config::default();
        let at = std::path::Path::new("/etc/site/profile.toml");
        config.profile = crate::config::Profile::parse(profile, at).unwrap();
        config.profile_path = Some(at.to_owned());
        resolved(argv, env, &config)
    }

    #[test]
    fn a_pac_script_comes_from_the_flag_then_the_profile_and_the_environment_sits_between() {
        let profile = "pac = \"routes.pac\"\nproxy = \"http://profile.example:3128\"\n";
        let s = settings_with(&["cp", "check"], &[], profile);
        assert_eq!(s.pac.as_deref(), Some("/etc/site/routes.pac"));
        assert!(s.proxy.is_none() && !s.os_discovery);
        assert!(
            s.route_source.contains("/etc/site/profile.toml (pac)"),
            "{}",
            s.route_source
        );
        let env = [("HTTPS_PROXY", "http://env.example:8080")];
        let s = settings_with(&["cp", "check"], &env, profile);
        assert_eq!(
            (s.pac, s.proxy.unwrap().host),
            (None, "env.example".to_owned())
        );
        assert_eq!(s.route_source, "the environment (HTTPS_PROXY)");
        let s = settings_with(
            &["cp", "check", "--pac", "http://pac.example/p.pac"],
            &env,
            profile,
        );
        assert_eq!(s.pac.as_deref(), Some("http://pac.example/p.pac"));
        assert!(s.proxy.is_none() && s.no_proxy.is_empty());
        assert_eq!(s.route_source, "--pac");
        let s = settings_with(&["cp", "check", "--no-proxy"], &env, profile);
        assert!(s.pac.is_none() && s.proxy.is_none() && !s.os_discovery);
        assert!(Cli::try_parse_from(["cp", "check", "--pac", "a", "--proxy", "b"]).is_err());
        assert!(Cli::try_parse_from(["cp", "check", "--pac", "a", "--no-proxy"]).is_err());
        let s = settings_with(&["cp", "check"], &[], "");
        assert!(s.os_discovery && s.proxy.is_none() && s.pac.is_none());
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
        s.apply_pac(["Acme.my.connect.aws", "x.amazonaws.com"])
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
    fn allow_list_matches_name_the_line_and_a_wildcard_needs_a_wildcard() {
        use crate::allowlist::Strictness;
        use crate::catalog::{Group, PortSpec};
        let path = std::path::Path::new("allow.txt");
        let list = DomainList::parse(
            "x.transport.connect.eu-central-1.amazonaws.com\n*.my.connect.aws\n",
            path,
            None,
            Strictness::Strict,
        )
        .unwrap();
        let wildcard = DomainRequirement {
            id: "transport/eu-central-1".to_owned(),
            group: Group::Core,
            region: "eu-central-1".to_owned(),
            host: HostPattern::Wildcard("transport.connect.eu-central-1.amazonaws.com".to_owned()),
            allowlist: HostPattern::Wildcard(
                "transport.connect.eu-central-1.amazonaws.com".to_owned(),
            ),
            probe: Some("x.transport.connect.eu-central-1.amazonaws.com".to_owned()),
            ports: vec![PortSpec::single(Proto::Tcp, 443)],
            paths: Vec::new(),
            websocket: true,
            legacy: false,
            purpose: "the CCP's WebSocket".to_owned(),
            source: String::new(),
            proof: crate::catalog::Proof::default(),
        };
        let host = "x.transport.connect.eu-central-1.amazonaws.com";
        let c = domain_check(&list, host, 443, Proto::Tcp, Some(&wildcard), "*.transport");
        assert_eq!((c.status, c.reason), (Status::Warn, Reason::MissingDomain));
        assert!(
            c.detail.contains("allow.txt:1") && c.detail.contains("only by name"),
            "{}",
            c.detail
        );
        assert_eq!(
            c.evidence["add"],
            "*.transport.connect.eu-central-1.amazonaws.com"
        );
        let c = domain_check(&list, "acme.my.connect.aws", 443, Proto::Tcp, None, "acme");
        assert_eq!((c.status, c.reason), (Status::Pass, Reason::Ok));
        assert!(
            c.detail.contains("allow.txt:2: *.my.connect.aws"),
            "{}",
            c.detail
        );

        let cidrs = CidrList::parse(
            "15.193.0.0/19 udp/3478\n3.64.0.0/12 tcp/443\n",
            std::path::Path::new("fw.txt"),
            None,
            Strictness::Strict,
        )
        .unwrap();
        let snapshot = ranges::Snapshot::embedded();
        let ip: IpAddr = "3.65.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, &snapshot, "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Pass, Reason::Ok));
        assert!(c.detail.contains("fw.txt:2: 3.64.0.0/12"), "{}", c.detail);
        let ip: IpAddr = "15.193.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, &snapshot, "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Fail, Reason::WrongPort));
        let ip: IpAddr = "52.1.1.1".parse().unwrap();
        let c = cidr_check(&cidrs, &snapshot, "h", ip, 443, Proto::Tcp, "h", None);
        assert_eq!((c.status, c.reason), (Status::Fail, Reason::MissingCidr));
        assert!(c.remedy.unwrap().contains("fw.txt"));
        // Through a proxy, the workstation's firewall never sees the address: information only.
        let proxy = Proxy::parse("http://p.example:3128").unwrap();
        let c = cidr_check(
            &cidrs,
            &snapshot,
            "h",
            ip,
            443,
            Proto::Tcp,
            "h",
            Some(&proxy),
        );
        assert_eq!((c.status, c.reason), (Status::Info, Reason::MissingCidr));
        assert!(c.detail.contains("through the proxy"), "{}", c.detail);
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

    #[test]
    fn the_deadline_and_probe_limit_and_progress_are_decided_once() {
        let s = settings(&["cp", "check"], &[], None);
        assert_eq!((s.deadline, s.per_probe), (DEFAULT_TIMEOUT, MAX_PROBE_TIME));
        let s = settings(&["cp", "check", "--timeout", "4s"], &[], None);
        assert_eq!(
            (s.deadline, s.per_probe),
            (Duration::from_secs(4), Duration::from_secs(4))
        );
        // Tests do not run on a terminal, and NO_COLOR or --no-progress turn it off anyway.
        assert!(!settings(&["cp", "check"], &[("NO_COLOR", "1")], None).progress);
        assert!(!settings(&["cp", "check", "--no-progress"], &[], None).progress);
    }

    #[test]
    fn fixes_split_allow_list_additions_from_other_actions() {
        use crate::report::{Check, Kind, Target};
        let finding = |id: &str, status, reason, line: &str| {
            Check::new(id, Kind::Tls, status, reason, "").evidence("allowlist", line)
        };
        let checks = vec![
            finding("tcp/a", Status::Fail, Reason::Timeout, "a.example")
                .endpoint(443, Proto::Tcp)
                .evidence("prefix", "15.193.4.0/24"),
            finding("tls/b", Status::Warn, Reason::Intercepted, "b.example"),
            finding("tls/c", Status::Fail, Reason::HostnameMismatch, "c.example"),
            finding("dns/d", Status::Fail, Reason::PrivateAddress, "d.example"),
            finding("tls/ok", Status::Pass, Reason::Ok, "ok.example"),
        ];
        let report = Report::new("check", Target::default(), String::new(), checks);
        let f = fixes(&report);
        assert_eq!(f.domains, ["a.example"]);
        assert_eq!(f.cidrs.len(), 1);
        assert_eq!(
            (f.cidrs[0].cidr.as_str(), f.cidrs[0].port.as_str()),
            ("15.193.4.0/24", "443")
        );
        assert_eq!(
            f.notes,
            [
                "exempt from TLS inspection and redirection: b.example, c.example",
                "make these resolve to AWS's public addresses (remove DNS overrides): d.example",
            ]
        );
    }

    #[test]
    fn durations_and_dns_servers_parse() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(
            parse_dns_server("10.0.0.2"),
            Ok("10.0.0.2:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_dns_server("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(parse_dns_server("dns.example").is_err());
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
