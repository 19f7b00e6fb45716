//! `check`: the live test of this workstation. Resolves the settings of the command, builds the
//! plan from the catalog, runs it (or lists it with `--list`) and renders the report.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CheckArgs, ReportFormat};
use crate::config::Config;
use crate::error::{Error, ExitCode, Result};
use crate::plan::{self, Selected};
use crate::probe::http::Proxy;
use crate::ranges;
use crate::report::{CidrFix, Fixes, Proto, Reason, Report, Status, Target};

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
    pub deadline: Duration,
    pub per_probe: Duration,
    pub progress: bool,
    pub format: ReportFormat,
    /// Length of the media quality sample per relay (`media_seconds` in the profile).
    pub media_sample: Duration,
    pub thresholds: crate::config::Thresholds,
    /// TURN credentials for the authenticated media test, when given.
    pub turn: Option<crate::media::ice_servers::TurnAuth>,
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
        let proxy_text = if args.no_proxy {
            None
        } else {
            args.proxy
                .clone()
                .or_else(|| env_value("HTTPS_PROXY"))
                .or_else(|| env_value("https_proxy"))
                .or_else(|| env_value("ALL_PROXY"))
                .or_else(|| env_value("all_proxy"))
                .or_else(|| profile.proxy.clone())
        };
        let proxy = proxy_text
            .as_deref()
            .map(Proxy::parse)
            .transpose()
            .map_err(Error::usage)?;
        let no_proxy = if args.proxy.is_some() {
            Vec::new()
        } else {
            env_value("NO_PROXY")
                .or_else(|| env_value("no_proxy"))
                .map(|list| {
                    list.split(',')
                        .map(|s| s.trim().trim_start_matches('*').to_ascii_lowercase())
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
            deadline,
            per_probe: deadline.min(MAX_PROBE_TIME),
            progress,
            format: args.format,
            media_sample: Duration::from_secs(
                profile.media_seconds.unwrap_or(DEFAULT_MEDIA_SECONDS),
            ),
            thresholds: profile.thresholds,
            turn: crate::media::ice_servers::TurnAuth::resolve(
                args.turn_username.as_deref(),
                args.turn_password.as_deref(),
                args.ice_servers.as_deref(),
                env,
            )?,
        })
    }

    /// Whether the browser would reach `host` through the proxy.
    pub fn proxy_for(&self, host: &str) -> Option<&Proxy> {
        let host = host.to_ascii_lowercase();
        let bypass = self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == entry.trim_start_matches('.')
                || (host.ends_with(entry.as_str()) && entry.starts_with('.'))
                || host.ends_with(&format!(".{entry}"))
        });
        if bypass { None } else { self.proxy.as_ref() }
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

/// Runs the check (or lists its plan) without rendering anything.
pub fn produce(
    config: &Config,
    args: &CheckArgs,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Produced> {
    let started = crate::app::now();
    let settings = Settings::resolve(config, args, env)?;
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let mut plan = plan::build(&requirements, &snapshot, &settings.selected);
    if args.survey {
        plan.survey = plan::survey(&catalog, &requirements.region);
    }
    if args.list {
        let mut text = plan::describe(
            &plan,
            &settings.describe_resolver(),
            &settings.describe_path(),
        );
        if let Some(turn) = settings.turn.as_ref().filter(|_| !plan.media.is_empty()) {
            text.push_str(&turn.describe());
        }
        return Ok(Produced::Listing(text));
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
    if settings.selected.has(crate::cli::CheckKind::Media) {
        // Where the softphone's audio flows from (a VDI session) and which local UDP ports it
        // uses: facts the media findings are read against.
        let facts = crate::system::gather(&crate::system::Sources::this_machine());
        checks.extend(crate::system::checks(&facts));
    }
    checks.extend(outcome.checks);
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
    let mut report = Report::new("check", target, crate::app::rfc3339(started), checks);
    report.ranges = Some(snapshot.provenance(started));
    report.duration_ms = outcome.elapsed.as_millis().try_into().unwrap_or(u64::MAX);
    report.fixes = fixes(&report);
    Ok(Produced::Report {
        report: Box::new(report),
        interrupted: outcome.interrupted,
    })
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
            | Reason::HandshakeFailed => {
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
    use clap::Parser;

    fn settings(argv: &[&str], env: &[(&str, &str)], profile_proxy: Option<&str>) -> Settings {
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Check(args) = &cli.command else {
            panic!("not check")
        };
        let mut config = Config::default();
        config.profile.proxy = profile_proxy.map(str::to_owned);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        Settings::resolve(&config, args, &lookup).unwrap()
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
}
