//! `ccp-log`'s configuration: the logs to read, the thresholds their calls are graded against and
//! the form of the report, resolved once from the command line and the site profile; and what
//! `check --ccp-log` takes from a log for the instance and Region.

use std::path::PathBuf;

use crate::catalog::Instance;
use crate::ccplog::live::FromLog;
use crate::cli::CcpLogArgs;
use crate::media::grade::Thresholds;
use crate::output::ReportFormat;

use super::Config;

/// What `ccp-log` will do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CcpLogConfig {
    /// The CCP's "Download logs" files, in the order given.
    pub files: Vec<PathBuf>,
    /// The site profile's `[thresholds]`, else the defaults: the live media check's.
    pub thresholds: Thresholds,
    pub format: ReportFormat,
}

impl CcpLogConfig {
    /// The configuration of `ccp-log ARGS`.
    pub(crate) fn resolve(config: &Config, args: &CcpLogArgs) -> Self {
        Self {
            files: args.files.clone(),
            thresholds: config.profile.thresholds,
            format: args.format,
        }
    }
}

impl Config {
    /// This configuration with a CCP log's instance and Region where the flags, the environment
    /// and the profile named none (`check --ccp-log`); a logged instance that does not parse is
    /// left out.
    pub(crate) fn with_log_target(&self, log: &FromLog) -> Self {
        let mut config = self.clone();
        if config.instance.is_none() {
            config.instance = log
                .instance
                .as_deref()
                .and_then(|i| Instance::parse(i).ok());
        }
        if config.region.is_none() {
            config.region.clone_from(&log.region);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::config::Profile;

    /// The configuration of a literal `ccp-log` command line, with the site profile `profile`.
    fn ccp_log_line(line: &str, profile: &str) -> CcpLogConfig {
        let cli = Cli::try_parse_from(line.split_whitespace()).unwrap();
        let Command::CcpLog(args) = &cli.command else {
            panic!("not ccp-log")
        };
        let config = Config {
            profile: Profile::parse(profile, Path::new("/etc/site/profile.toml")).unwrap(),
            ..Config::default()
        };
        CcpLogConfig::resolve(&config, args)
    }

    #[test]
    fn a_ccp_log_command_line_takes_its_files_and_format_and_the_profiles_thresholds() {
        let c = ccp_log_line("cp ccp-log agent-log.txt", "");
        assert_eq!(c.files, [PathBuf::from("agent-log.txt")]);
        assert_eq!(c.format, ReportFormat::Text);
        assert_eq!(c.thresholds, Thresholds::default());

        let site = "[thresholds]\nrtt_ms = 150\nloss_fail_pct = 3\n";
        let c = ccp_log_line("cp ccp-log primary.txt partner.txt -f html", site);
        assert_eq!(
            c.files,
            [PathBuf::from("primary.txt"), PathBuf::from("partner.txt")]
        );
        assert_eq!(c.format, ReportFormat::Html);
        assert_eq!(
            c.thresholds,
            Thresholds {
                rtt_ms: 150.0,
                loss_fail_pct: 3.0,
                ..Thresholds::default()
            }
        );
        assert!(
            Cli::try_parse_from(["cp", "ccp-log"]).is_err(),
            "a file is required"
        );
    }

    #[test]
    fn a_logs_instance_and_region_stand_in_only_for_what_nothing_else_named() {
        let log = FromLog {
            instance: Some("acme.my.connect.aws".to_owned()),
            region: Some("eu-central-1".to_owned()),
            ..FromLog::default()
        };
        let filled = Config::default().with_log_target(&log);
        assert_eq!(filled.region.as_deref(), Some("eu-central-1"));
        assert_eq!(filled.instance.unwrap().alias, "acme");

        let named = Config {
            region: Some("us-east-1".to_owned()),
            instance: Some(Instance::parse("other").unwrap()),
            ..Config::default()
        };
        let kept = named.with_log_target(&log);
        assert_eq!(kept.region.as_deref(), Some("us-east-1"));
        assert_eq!(kept.instance.unwrap().alias, "other");

        let unreadable = FromLog {
            instance: Some("not a host".to_owned()),
            ..FromLog::default()
        };
        let c = Config::default().with_log_target(&unreadable);
        assert!(c.instance.is_none() && c.region.is_none());
    }
}
