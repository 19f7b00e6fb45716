//! The program's meaning of the command line: flags > environment > site profile > defaults.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::{Catalog, Group, Instance, Selection};
use crate::cli::{Cli, TargetArgs};
use crate::error::{Error, Location, Result};
use crate::output::ColorChoice;

/// Environment variables the tool reads (secrets and settings for unattended runs).
pub const ENV_REGION: &str = "CONNECT_PREFLIGHT_REGION";
pub const ENV_INSTANCE: &str = "CONNECT_PREFLIGHT_INSTANCE";
pub const ENV_PROFILE: &str = "CONNECT_PREFLIGHT_PROFILE";
pub const ENV_IP_RANGES: &str = "CONNECT_PREFLIGHT_IP_RANGES";
/// TURN credentials for the authenticated media test (the password is never written out).
pub use crate::media::ice_servers::{ENV_TURN_PASSWORD, ENV_TURN_USERNAME};
pub const PROFILE_FILE_NAME: &str = "connect-preflight.toml";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
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
}
