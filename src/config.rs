//! The program's meaning of the command line: flags > environment > site profile > defaults.
//! Each command's configuration is resolved here once; `audit`'s and `ccp-log`'s in their own
//! files below (`config/audit.rs`, `config/ccp_log.rs`).

mod audit;
mod ccp_log;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub(crate) use self::audit::AuditConfig;
pub(crate) use self::ccp_log::CcpLogConfig;
use crate::catalog::{Catalog, Group, Instance, Selection};
use crate::cli::{CheckArgs, Cli, TargetArgs};
use crate::error::{Error, Location, Result};
use crate::output::{ColorChoice, ReportFormat};
use crate::plan::Selected;
use crate::probe::http::Proxy;
use crate::route::RouteSetting;
pub(crate) use crate::run::Options as RunOptions;

/// Environment variables the tool reads (secrets and settings for unattended runs).
pub const ENV_REGION: &str = "CONNECT_PREFLIGHT_REGION";
pub const ENV_INSTANCE: &str = "CONNECT_PREFLIGHT_INSTANCE";
pub const ENV_PROFILE: &str = "CONNECT_PREFLIGHT_PROFILE";
pub const ENV_IP_RANGES: &str = "CONNECT_PREFLIGHT_IP_RANGES";
/// TURN credentials for the authenticated media test (the password is never written out).
pub use crate::media::ice_servers::{ENV_TURN_PASSWORD, ENV_TURN_USERNAME};
pub const PROFILE_FILE_NAME: &str = "connect-preflight.toml";

/// The default deadline of a whole run: long enough for a slow proxy, well under a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default length of the media quality sample, per relay.
pub const DEFAULT_MEDIA_SECONDS: u64 = 5;
/// No single probe may take longer than this, whatever the deadline.
pub const MAX_PROBE_TIME: Duration = Duration::from_secs(10);

/// A site profile as written in TOML. Unknown keys are errors, so a typo is never silently ignored.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Profile {
    /// A name for the site, shown in reports and fleet summaries.
    pub site: Option<String>,
    pub instance: Option<String>,
    pub region: Option<String>,
    pub partner_region: Option<String>,
    pub instance_id: Option<String>,
    pub bucket: Option<String>,
    #[serde(default)]
    pub with: Vec<Group>,
    pub stateless: Option<bool>,
    pub ip_ranges: Option<PathBuf>,
    pub endpoints: Option<PathBuf>,
    /// The customer's domain allow-list and firewall whitelist, for `audit` and `check`.
    pub domains: Option<PathBuf>,
    pub cidrs: Option<PathBuf>,
    /// Proxy URL, or a PAC file or URL, for `check`.
    pub proxy: Option<String>,
    pub pac: Option<String>,
    #[serde(default)]
    pub dns_servers: Vec<String>,
    pub ca_file: Option<PathBuf>,
    /// Deadline of a whole check, e.g. "30s".
    pub timeout: Option<String>,
    pub media_seconds: Option<u64>,
    /// A CCP session's WebSocket URL, for `check` (see `--transport-url`).
    pub transport_url: Option<String>,
    /// Where agent mode writes its reports.
    pub report_dir: Option<PathBuf>,
    pub color: Option<ColorChoice>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// Media quality limits: defined with the grading they drive.
pub use crate::media::grade::Thresholds;

impl Profile {
    /// Parses a profile, naming line and column of anything malformed. Relative paths in it are
    /// taken from the profile's own folder.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut profile: Self = toml::from_str(text).map_err(|e| {
            let location = e.span().map_or_else(
                || Location::file(path),
                |span| Location::from_offset(path, text, span.start),
            );
            Error::bad_input(
                location,
                format!("in the site profile: {}", e.message().trim_end()),
            )
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        for p in [
            &mut profile.ip_ranges,
            &mut profile.endpoints,
            &mut profile.domains,
            &mut profile.cidrs,
            &mut profile.ca_file,
            &mut profile.report_dir,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(profile)
    }

    pub fn read(path: &Path) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::allowlist::read_text(path)?;
        Self::parse(&text, path)
    }
}

/// Where a profile is looked for when `--profile` is not given: `CONNECT_PREFLIGHT_PROFILE`, then
/// beside the executable, then the user's config folder.
pub fn default_profile_paths(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = env(ENV_PROFILE).filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(p));
        return paths;
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
    {
        paths.push(dir.join(PROFILE_FILE_NAME));
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "connect-preflight") {
        paths.push(dirs.config_dir().join("profile.toml"));
    }
    paths
}

/// Where an administrator can put a catalog that replaces the built-in one without a new
/// release: `catalog.toml` in the user's config folder.
pub fn admin_catalog_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "connect-preflight")
        .map(|dirs| dirs.config_dir().join("catalog.toml"))
}

/// Finds and reads the profile: an explicit one must exist; a default one is used if present.
pub fn load_profile(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(PathBuf, Profile)>> {
    if let Some(path) = explicit {
        return Ok(Some((path.to_owned(), Profile::read(path)?)));
    }
    let from_env = env(ENV_PROFILE).is_some_and(|p| !p.is_empty());
    for path in default_profile_paths(env) {
        if from_env || path.is_file() {
            return Ok(Some((path.clone(), Profile::read(&path)?)));
        }
    }
    Ok(None)
}

/// What the program will do, resolved once.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub region: Option<String>,
    pub instance: Option<Instance>,
    pub features: BTreeSet<Group>,
    pub partner_region: Option<String>,
    pub instance_id: Option<String>,
    pub bucket: Option<String>,
    pub stateless: bool,
    pub ip_ranges: Option<PathBuf>,
    pub endpoints: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub color: ColorChoice,
    pub quiet: bool,
    pub site: Option<String>,
    pub profile_path: Option<PathBuf>,
    /// The whole profile, for the settings of commands that read more of it.
    pub profile: Profile,
}

impl Config {
    /// Resolves the command line, the environment (through `env`) and the profile.
    pub fn from_cli(
        cli: &Cli,
        target: Option<&TargetArgs>,
        env: &dyn Fn(&str) -> Option<String>,
        profile: Option<(PathBuf, Profile)>,
    ) -> Result<Self> {
        let (profile_path, profile) =
            profile.map_or((None, Profile::default()), |(p, prof)| (Some(p), prof));
        let default_target = TargetArgs::default();
        let t = target.unwrap_or(&default_target);
        let env_value = |key: &str| env(key).filter(|v| !v.is_empty());

        let instance_text = t
            .instance
            .clone()
            .or_else(|| env_value(ENV_INSTANCE))
            .or_else(|| profile.instance.clone());
        let instance = instance_text
            .as_deref()
            .map(Instance::parse)
            .transpose()
            .map_err(|m| {
                if t.instance.is_some() || env_value(ENV_INSTANCE).is_some() {
                    Error::usage(m)
                } else {
                    Error::bad_input(
                        Location::file(profile_path.clone().unwrap_or_default()),
                        format!("instance: {m}"),
                    )
                }
            })?;
        let features: BTreeSet<Group> = if t.with.is_empty() {
            profile.with.iter().copied().collect()
        } else {
            t.with.iter().copied().collect()
        };

        Ok(Self {
            region: t
                .region
                .clone()
                .or_else(|| env_value(ENV_REGION))
                .or_else(|| profile.region.clone()),
            instance,
            features,
            partner_region: t
                .partner_region
                .clone()
                .or_else(|| profile.partner_region.clone()),
            instance_id: t
                .instance_id
                .clone()
                .or_else(|| profile.instance_id.clone()),
            bucket: t.bucket.clone().or_else(|| profile.bucket.clone()),
            stateless: t.stateless || profile.stateless.unwrap_or(false),
            ip_ranges: cli
                .ip_ranges
                .clone()
                .or_else(|| env_value(ENV_IP_RANGES).map(PathBuf::from))
                .or_else(|| profile.ip_ranges.clone()),
            endpoints: t.endpoints.clone().or_else(|| profile.endpoints.clone()),
            output: cli.output.clone(),
            color: cli.color.or(profile.color).unwrap_or_default(),
            quiet: cli.quiet,
            site: profile.site.clone(),
            profile_path,
            profile,
        })
    }

    /// The catalog in use: `--endpoints FILE` (or the profile's `endpoints`), else the one an
    /// administrator put in the user's config folder, else the built-in one.
    pub fn catalog(&self) -> Result<Catalog> {
        if let Some(path) = &self.endpoints {
            return Catalog::read(path);
        }
        match admin_catalog_path() {
            Some(path) if path.is_file() => Catalog::read_from_config_folder(&path),
            _ => Ok(Catalog::embedded()),
        }
    }

    /// What to ask the catalog for; the Region is required.
    pub fn selection(&self, catalog: &Catalog) -> Result<Selection> {
        let region = self.region.clone().ok_or_else(|| {
            let known: Vec<&str> = catalog.regions().iter().map(|r| r.code.as_str()).collect();
            Error::usage(format!(
                "the Region is required: give --region, set {ENV_REGION}, or put region in the site profile (one of {})",
                known.join(", ")
            ))
        })?;
        if catalog.region(&region).is_none() {
            return Err(catalog.unknown_region(&region));
        }
        Ok(Selection {
            region,
            instance: self.instance.clone(),
            features: self.features.clone(),
            partner_region: self.partner_region.clone(),
            instance_id: self.instance_id.clone(),
            bucket: self.bucket.clone(),
            stateless: self.stateless,
        })
    }
}

/// What `check` will do, resolved once from flags > environment > profile > defaults: the
/// selection, the route setting, the runner's limits and where the report goes. Nothing past
/// here reads the command line.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    pub selected: Selected,
    /// What the flags, the environment or the profile said about the route (the OS is asked
    /// later, by the route stage, when none did).
    pub route: RouteSetting,
    /// The runner's limits and media settings.
    pub run: RunOptions,
    pub ca_file: Option<PathBuf>,
    pub format: ReportFormat,
    /// A CCP session's WebSocket URL (`--transport-url`, `transport_url` in the profile).
    pub transport: Option<crate::transport::TransportUrl>,
    /// `--list`: print the plan instead of running it.
    pub list: bool,
    /// `--survey`: also time the other Regions.
    pub survey: bool,
    /// `--ccp-log`: logs whose endpoints are tested beside the catalog's.
    pub ccp_log: Vec<PathBuf>,
    /// The customer's domain allow-list and CIDR whitelist (flags, then the profile).
    pub domains: Option<PathBuf>,
    pub cidrs: Option<PathBuf>,
}

impl CheckConfig {
    /// The configuration of `check ARGS`.
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
        let (pac, proxy_text, source) = if args.no_proxy {
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
        let selected = Selected::new(&args.only, &args.skip);
        let media_sample = Duration::from_secs(
            args.media_seconds
                .or(profile.media_seconds)
                .unwrap_or(DEFAULT_MEDIA_SECONDS),
        );
        Ok(Self {
            route: RouteSetting {
                proxy,
                no_proxy,
                pac,
                source,
                os_discovery,
            },
            run: RunOptions {
                dns_servers,
                deadline,
                deadline_at: std::time::Instant::now() + deadline,
                per_probe: deadline.min(MAX_PROBE_TIME),
                progress,
                media_selected: selected.has(crate::plan::CheckKind::Media),
                media: crate::media::Options {
                    sample: media_sample,
                    thresholds: profile.thresholds,
                    ..crate::media::Options::default()
                },
                turn: crate::media::ice_servers::TurnAuth::resolve(
                    args.turn_username.as_deref(),
                    args.turn_password.as_deref(),
                    args.ice_servers.as_deref(),
                    env,
                )?,
            },
            selected,
            ca_file: args.ca_file.clone().or_else(|| profile.ca_file.clone()),
            format: args.format,
            transport: args
                .transport_url
                .as_deref()
                .or(profile.transport_url.as_deref())
                .map(crate::transport::TransportUrl::parse)
                .transpose()
                .map_err(Error::usage)?,
            list: args.list,
            survey: args.survey,
            ccp_log: args.ccp_log.clone(),
            domains: args
                .domains
                .clone()
                .or_else(|| config.profile.domains.clone()),
            cidrs: args.cidrs.clone().or_else(|| config.profile.cidrs.clone()),
        })
    }

    /// The configuration of the check `agent` runs: the profile's, with no flag.
    pub fn for_agent(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        Self::resolve(config, &CheckArgs::default(), env)
    }

    /// The resolvers the run asks, for `--list`.
    pub fn describe_resolver(&self) -> String {
        if self.run.dns_servers.is_empty() {
            "the system's resolvers".to_owned()
        } else {
            let list: Vec<String> = self
                .run
                .dns_servers
                .iter()
                .map(ToString::to_string)
                .collect();
            list.join(", ")
        }
    }
}

/// What `agent` will do: the profile's check (resolved by [`CheckConfig::for_agent`] once the
/// profile is known to name a Region), and where its reports go.
#[derive(Clone, Debug, Default)]
pub struct AgentConfig {
    /// `--report-dir`, else the profile's `report_dir` (else a default folder of the user's).
    pub report_dir: Option<PathBuf>,
    /// Wait for Enter before closing.
    pub pause: bool,
    /// Do not open the HTML report.
    pub no_open: bool,
}

impl AgentConfig {
    pub fn resolve(config: &Config, args: &crate::cli::AgentArgs) -> Self {
        Self {
            report_dir: args
                .report_dir
                .clone()
                .or_else(|| config.profile.report_dir.clone()),
            pause: args.pause,
            no_open: args.no_open,
        }
    }
}

/// What `endpoints` prints.
#[derive(Clone, Copy, Debug)]
pub struct EndpointsConfig {
    pub format: crate::endpoints::EndpointsFormat,
}

impl EndpointsConfig {
    pub fn resolve(args: &crate::cli::EndpointsArgs) -> Self {
        Self {
            format: args.format,
        }
    }
}

/// What `ranges lookup` looks up, against which Region's rules, in which form.
#[derive(Clone, Debug)]
pub struct LookupConfig {
    /// The addresses given as arguments, as typed.
    pub addresses: Vec<String>,
    /// `--file` (`-`: stdin).
    pub file: Option<PathBuf>,
    pub region: Option<String>,
    pub format: crate::ranges::query::Format,
}

impl LookupConfig {
    pub fn resolve(args: &crate::cli::LookupArgs) -> Self {
        use crate::cli::LookupFormat;
        use crate::ranges::query::Format;
        Self {
            addresses: args.addresses.clone(),
            file: args.file.clone(),
            region: args.region.clone(),
            format: match args.format {
                LookupFormat::Text => Format::Text,
                LookupFormat::Csv => Format::Csv,
                LookupFormat::Json => Format::Json,
                LookupFormat::Line => Format::Line,
            },
        }
    }
}

/// Where `ranges update` gets a newer copy, and how long it may take.
#[derive(Clone, Debug)]
pub struct UpdateConfig {
    pub from: String,
    pub force: bool,
    /// At least a second.
    pub timeout: Duration,
}

impl UpdateConfig {
    pub fn resolve(args: &crate::cli::UpdateArgs) -> Self {
        Self {
            from: args.from.clone(),
            force: args.force,
            timeout: Duration::from_secs(args.timeout.max(1)),
        }
    }
}

/// The forms `ranges diff` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Json,
}

/// What `ranges diff` compares, and for which Region's rules.
#[derive(Clone, Debug)]
pub struct DiffConfig {
    pub old: PathBuf,
    pub new: PathBuf,
    pub region: Option<String>,
    /// The feature groups whose rules count (Global Resiliency has no rules of its own here).
    pub features: BTreeSet<Group>,
    pub stateless: bool,
    pub format: DiffFormat,
}

impl DiffConfig {
    pub fn resolve(args: &crate::cli::DiffArgs) -> Self {
        Self {
            old: args.old.clone(),
            new: args.new.clone(),
            region: args.region.clone(),
            features: args
                .target
                .with
                .iter()
                .copied()
                .filter(|g| *g != Group::Gr)
                .collect(),
            stateless: args.target.stateless,
            format: match args.format {
                crate::cli::DiffFormat::Text => DiffFormat::Text,
                crate::cli::DiffFormat::Json => DiffFormat::Json,
            },
        }
    }
}

/// What `summarize` reads and prints.
#[derive(Clone, Debug)]
pub struct SummarizeConfig {
    pub paths: Vec<PathBuf>,
    pub format: crate::summary::SummaryFormat,
}

impl SummarizeConfig {
    pub fn resolve(args: &crate::cli::SummarizeArgs) -> Self {
        Self {
            paths: args.paths.clone(),
            format: args.format,
        }
    }
}

/// What `profile write` writes.
#[derive(Clone, Debug)]
pub struct ProfileWriteConfig {
    pub instance: Option<String>,
    pub region: Option<String>,
    /// A profile to start from: an https URL or a path.
    pub from: Option<String>,
    pub force: bool,
}

impl ProfileWriteConfig {
    pub fn resolve(args: &crate::cli::ProfileWriteArgs) -> Self {
        Self {
            instance: args.instance.clone(),
            region: args.region.clone(),
            from: args.from.clone(),
            force: args.force,
        }
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::route::Route;
    use clap::Parser;

    fn resolve(argv: &[&str], env: &[(&str, &str)], profile: Option<&str>) -> Result<Config> {
        let cli = Cli::try_parse_from(argv).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let profile = profile.map(|text| {
            let path = PathBuf::from("/etc/site/profile.toml");
            (path.clone(), Profile::parse(text, &path).unwrap())
        });
        let target = match &cli.command {
            Command::Check(args) => Some(args.target.clone()),
            Command::Endpoints(args) => Some(args.target.clone()),
            Command::Audit(args) => Some(args.target.clone()),
            Command::Ranges(_)
            | Command::Catalog(_)
            | Command::CcpLog(_)
            | Command::Summarize(_)
            | Command::Agent(_)
            | Command::Generate(_)
            | Command::Profile(_) => None,
        };
        Config::from_cli(&cli, target.as_ref(), &lookup, profile)
    }

    #[test]
    fn flags_beat_environment_beat_profile() {
        let profile = "region = \"eu-west-2\"\ninstance = \"fromprofile\"\nwith = [\"saml\"]\nip_ranges = \"ranges.json\"\n";
        let c = resolve(
            &["cp", "endpoints", "--region", "us-east-1"],
            &[(ENV_REGION, "ap-southeast-2")],
            Some(profile),
        )
        .unwrap();
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        let c = resolve(
            &["cp", "endpoints"],
            &[(ENV_REGION, "ap-southeast-2")],
            Some(profile),
        )
        .unwrap();
        assert_eq!(c.region.as_deref(), Some("ap-southeast-2"));
        let c = resolve(&["cp", "endpoints"], &[], Some(profile)).unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-2"));
        assert_eq!(c.instance.unwrap().alias, "fromprofile");
        assert_eq!(c.features.into_iter().collect::<Vec<_>>(), [Group::Saml]);
        assert_eq!(c.ip_ranges, Some(PathBuf::from("/etc/site/ranges.json")));
        let c = resolve(
            &["cp", "endpoints", "--with", "video,gr"],
            &[],
            Some(profile),
        )
        .unwrap();
        assert_eq!(
            c.features.into_iter().collect::<Vec<_>>(),
            [Group::Gr, Group::Video]
        );
        let c = resolve(&["cp", "endpoints"], &[], None).unwrap();
        assert_eq!((c.region, c.color), (None, ColorChoice::Auto));
    }

    #[test]
    fn a_bad_instance_flag_is_a_usage_error() {
        let err = resolve(&["cp", "endpoints", "--instance", "not a host"], &[], None).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
    }

    #[test]
    fn a_bad_profile_names_line_and_column() {
        let err = Profile::parse(
            "region = \"eu-west-2\"\nthresholds = { rtt_ms = \"fast\" }\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::BadInput { .. }));
        assert!(err.to_string().starts_with("p.toml:2:"), "{err}");
        let err = Profile::parse("regoin = \"eu-west-2\"\n", Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().starts_with("p.toml:1:1"), "{err}");
        assert!(err.to_string().contains("regoin"), "{err}");
    }

    #[test]
    fn region_is_required_and_checked() {
        let catalog = Catalog::embedded();
        let c = resolve(&["cp", "endpoints"], &[], None).unwrap();
        let err = c.selection(&catalog).unwrap_err();
        assert!(
            matches!(err, Error::Usage(_)) && err.to_string().contains("--region"),
            "{err}"
        );
        let c = resolve(&["cp", "endpoints", "-r", "mars-1"], &[], None).unwrap();
        assert!(
            c.selection(&catalog)
                .unwrap_err()
                .to_string()
                .contains("eu-central-1")
        );
    }

    /// The configuration of `argv` (a `check` command line) with `env` as the environment and
    /// `config` as the configuration of every command.
    pub(crate) fn check_config(
        argv: &[&str],
        env: &[(&str, &str)],
        config: &Config,
    ) -> CheckConfig {
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Check(args) = &cli.command else {
            panic!("not check")
        };
        let lookup = |key: &str| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        };
        CheckConfig::resolve(config, args, &lookup).unwrap()
    }

    /// The route `argv` sets before the OS is asked, with a profile naming `profile_proxy`.
    fn settings(argv: &[&str], env: &[(&str, &str)], profile_proxy: Option<&str>) -> Route {
        let mut config = Config::default();
        config.profile.proxy = profile_proxy.map(str::to_owned);
        Route::from(check_config(argv, env, &config).route)
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

    fn settings_with(argv: &[&str], env: &[(&str, &str)], profile: &str) -> Route {
        let mut config = Config::default();
        let at = std::path::Path::new("/etc/site/profile.toml");
        config.profile = Profile::parse(profile, at).unwrap();
        config.profile_path = Some(at.to_owned());
        Route::from(check_config(argv, env, &config).route)
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
    fn the_deadline_and_probe_limit_and_progress_are_decided_once() {
        let config = Config::default();
        let run = |argv: &[&str], env: &[(&str, &str)]| check_config(argv, env, &config).run;
        let s = run(&["cp", "check"], &[]);
        assert_eq!((s.deadline, s.per_probe), (DEFAULT_TIMEOUT, MAX_PROBE_TIME));
        let s = run(&["cp", "check", "--timeout", "4s"], &[]);
        assert_eq!(
            (s.deadline, s.per_probe),
            (Duration::from_secs(4), Duration::from_secs(4))
        );
        // Tests do not run on a terminal, and NO_COLOR or --no-progress turn it off anyway.
        assert!(!run(&["cp", "check"], &[("NO_COLOR", "1")]).progress);
        assert!(!run(&["cp", "check", "--no-progress"], &[]).progress);
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

    /// The configuration of a literal `check` command line with the site profile `profile`
    /// (read from /etc/site) and the environment `env`.
    fn check_line(line: &str, env: &[(&str, &str)], profile: &str) -> CheckConfig {
        let mut config = Config::default();
        let at = Path::new("/etc/site/profile.toml");
        config.profile = Profile::parse(profile, at).unwrap();
        config.profile_path = Some(at.to_owned());
        let argv: Vec<&str> = line.split_whitespace().collect();
        check_config(&argv, env, &config)
    }

    const SITE: &str = "timeout = \"20s\"\nmedia_seconds = 3\ndns_servers = [\"10.0.0.53\"]\n\
                        ca_file = \"lab-ca.pem\"\ndomains = \"allow.txt\"\ncidrs = \"fw.txt\"\n\
                        proxy = \"http://site-proxy.example:3128\"\n";

    #[test]
    fn a_check_command_line_without_flags_takes_the_profile_then_the_defaults() {
        let c = check_line("cp check", &[], SITE);
        assert_eq!(c.run.deadline, Duration::from_secs(20));
        assert_eq!(c.run.per_probe, MAX_PROBE_TIME);
        assert_eq!(c.run.media.sample, Duration::from_secs(3));
        assert_eq!(
            c.run.dns_servers,
            ["10.0.0.53:53".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.ca_file, Some(PathBuf::from("/etc/site/lab-ca.pem")));
        assert_eq!(c.domains, Some(PathBuf::from("/etc/site/allow.txt")));
        assert_eq!(c.cidrs, Some(PathBuf::from("/etc/site/fw.txt")));
        assert_eq!(c.route.proxy.unwrap().host, "site-proxy.example");
        assert!(c.route.source.contains("/etc/site/profile.toml (proxy)"));
        assert_eq!(c.format, ReportFormat::Text);
        assert!(!c.list && !c.survey && c.ccp_log.is_empty() && c.transport.is_none());
        assert!(c.run.media_selected && c.selected.has(crate::plan::CheckKind::Dns));

        let c = check_line("cp check", &[], "");
        assert_eq!(c.run.deadline, DEFAULT_TIMEOUT);
        assert_eq!(
            c.run.media.sample,
            Duration::from_secs(DEFAULT_MEDIA_SECONDS)
        );
        assert_eq!(c.run.media.thresholds, Thresholds::default());
        assert!(c.run.dns_servers.is_empty() && c.ca_file.is_none() && c.domains.is_none());
        assert!(c.route.os_discovery && c.route.proxy.is_none() && c.route.pac.is_none());
        assert!(c.run.turn.is_none());
    }

    #[test]
    fn a_check_command_line_with_flags_beats_the_environment_and_the_profile() {
        let env = [("HTTPS_PROXY", "http://env-proxy.example:8080")];
        let c = check_line(
            "cp check --timeout 5s --media-seconds 1 --dns-server 127.0.0.1:5353 \
             --ca-file my.pem --domains d.txt --cidrs c.txt --format json --list --survey \
             --only dns,tcp --proxy flag-proxy.example:1",
            &env,
            SITE,
        );
        assert_eq!(c.run.deadline, Duration::from_secs(5));
        assert_eq!(c.run.per_probe, Duration::from_secs(5));
        assert_eq!(c.run.media.sample, Duration::from_secs(1));
        assert_eq!(
            c.run.dns_servers,
            ["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.ca_file, Some(PathBuf::from("my.pem")));
        assert_eq!(
            (c.domains, c.cidrs),
            (Some(PathBuf::from("d.txt")), Some(PathBuf::from("c.txt")))
        );
        assert_eq!(c.format, ReportFormat::Json);
        assert!(c.list && c.survey && !c.run.progress);
        assert!(c.selected.has(crate::plan::CheckKind::Tcp));
        assert!(!c.selected.has(crate::plan::CheckKind::Tls) && !c.run.media_selected);
        assert_eq!(
            (
                c.route.proxy.unwrap().host.as_str(),
                c.route.source.as_str()
            ),
            ("flag-proxy.example", "--proxy")
        );
        // Without the flag, the environment's proxy beats the profile's.
        let c = check_line("cp check --skip media", &env, SITE);
        assert_eq!(c.route.proxy.unwrap().host, "env-proxy.example");
        assert!(!c.run.media_selected);
        // A bad value names what was expected, as a usage error.
        let cli = Cli::try_parse_from(["cp", "check", "--timeout", "fast"]).unwrap();
        let Command::Check(args) = &cli.command else {
            panic!("not check")
        };
        let err = CheckConfig::resolve(&Config::default(), args, &|_| None).unwrap_err();
        assert!(
            matches!(err, Error::Usage(_)) && err.to_string().contains("20s"),
            "{err}"
        );
    }

    #[test]
    fn the_offline_commands_resolve_their_command_lines() {
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace()).unwrap();
        let cli = parse(
            "cp ranges diff old.json new.json -r eu-west-2 --with gr,saml --stateless -f json",
        );
        let Command::Ranges(crate::cli::RangesCommand::Diff(args)) = &cli.command else {
            panic!("not ranges diff")
        };
        let d = DiffConfig::resolve(args);
        assert_eq!((d.old, d.new), ("old.json".into(), "new.json".into()));
        assert_eq!(d.region.as_deref(), Some("eu-west-2"));
        assert_eq!(d.features.into_iter().collect::<Vec<_>>(), [Group::Saml]);
        assert!(d.stateless && d.format == DiffFormat::Json);

        let cli = parse("cp ranges update --timeout 0 --force");
        let Command::Ranges(crate::cli::RangesCommand::Update(args)) = &cli.command else {
            panic!("not ranges update")
        };
        let u = UpdateConfig::resolve(args);
        assert_eq!((u.timeout, u.force), (Duration::from_secs(1), true));
        assert_eq!(u.from, crate::ranges::update::DEFAULT_URL);

        let cli = parse("cp ranges lookup 3.64.1.1 -f line");
        let Command::Ranges(crate::cli::RangesCommand::Lookup(args)) = &cli.command else {
            panic!("not ranges lookup")
        };
        let l = LookupConfig::resolve(args);
        assert_eq!(l.addresses, ["3.64.1.1"]);
        assert_eq!(l.format, crate::ranges::query::Format::Line);
    }

    #[test]
    fn the_agent_takes_its_report_folder_from_the_flag_then_the_profile() {
        let mut config = Config::default();
        config.profile.report_dir = Some(PathBuf::from("/srv/reports"));
        let agent = |line: &str| {
            let cli = Cli::try_parse_from(line.split_whitespace()).unwrap();
            let Command::Agent(args) = &cli.command else {
                panic!("not agent")
            };
            AgentConfig::resolve(&config, args)
        };
        assert_eq!(agent("cp agent").report_dir, Some("/srv/reports".into()));
        let a = agent("cp agent --report-dir here --pause --no-open");
        assert_eq!(a.report_dir, Some("here".into()));
        assert!(a.pause && a.no_open);
    }
}
