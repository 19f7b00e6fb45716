//! `audit`'s configuration: which lists to read and how, where the agents are, and the form of
//! the report, resolved once from the flags and the site profile. The instance, Region, features,
//! ranges and catalog are [`Config`]'s, as for every command.

use crate::allowlist::Strictness;
use crate::audit::firewall::Placement;
use crate::audit::{AuditFormat, Firewall, Settings};
use crate::cli::{AuditArgs, HookArg};

use super::Config;

/// What `audit` will do: the audit's settings and the form of its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuditConfig {
    /// The lists (flags, then the profile), their syntax, how strictly they are read, the copy
    /// to write and where the agents are.
    pub settings: Settings,
    pub format: AuditFormat,
}

impl AuditConfig {
    /// The configuration of `audit ARGS`. The lists come from `--domains` and `--cidrs`, else the
    /// profile's `domains` and `cidrs`; everything else from the flags or their defaults.
    pub(crate) fn resolve(config: &Config, args: &AuditArgs) -> Self {
        let firewall = &args.firewall;
        Self {
            settings: Settings {
                domains: args
                    .domains
                    .clone()
                    .or_else(|| config.profile.domains.clone()),
                cidrs: args.cidrs.clone().or_else(|| config.profile.cidrs.clone()),
                domains_format: args.domains_format,
                cidrs_format: args.cidrs_format,
                strictness: if args.lenient {
                    Strictness::Lenient
                } else {
                    Strictness::Strict
                },
                fix_output: args.fix_output.clone(),
                firewall: Firewall {
                    from: firewall.from.clone(),
                    placement: firewall.hook.map(|hook| match hook {
                        HookArg::Output => Placement::Host,
                        HookArg::Forward => Placement::Gateway,
                    }),
                    in_interface: firewall.in_interface.clone(),
                    out_interface: firewall.out_interface.clone(),
                },
            },
            format: args.format,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use clap::Parser;

    use super::*;
    use crate::allowlist::cidrs::CidrFormat;
    use crate::audit::DomainsFormat;
    use crate::cli::{Cli, Command};
    use crate::config::Profile;

    /// The configuration of a literal `audit` command line, with the site profile `profile`
    /// read from /etc/site.
    fn audit_line(line: &str, profile: &str) -> AuditConfig {
        let cli = Cli::try_parse_from(line.split_whitespace()).unwrap();
        let Command::Audit(args) = &cli.command else {
            panic!("not audit")
        };
        let at = Path::new("/etc/site/profile.toml");
        let config = Config {
            profile: Profile::parse(profile, at).unwrap(),
            profile_path: Some(at.to_owned()),
            ..Config::default()
        };
        AuditConfig::resolve(&config, args)
    }

    const SITE: &str = "domains = \"allow.txt\"\ncidrs = \"fw.txt\"\n";

    #[test]
    fn an_audit_command_line_without_flags_takes_the_lists_from_the_profile_then_the_defaults() {
        let a = audit_line("cp audit -r eu-central-1", SITE);
        assert_eq!(
            a.settings,
            Settings {
                domains: Some(PathBuf::from("/etc/site/allow.txt")),
                cidrs: Some(PathBuf::from("/etc/site/fw.txt")),
                domains_format: None,
                cidrs_format: None,
                strictness: Strictness::Strict,
                fix_output: None,
                firewall: Firewall::default(),
            }
        );
        assert_eq!(a.format, AuditFormat::Text);

        let a = audit_line("cp audit -r eu-central-1", "");
        assert_eq!(a.settings, Settings::default());
        assert!(a.settings.check().is_err(), "no list to audit");
    }

    #[test]
    fn an_audit_command_line_with_flags_beats_the_profile() {
        let a = audit_line(
            "cp audit -r eu-central-1 --domains squid.conf --domains-format squid --lenient \
             --from 10.20.0.0/16,192.0.2.7 --fix-output fixed.conf -f json",
            SITE,
        );
        assert_eq!(a.settings.domains, Some(PathBuf::from("squid.conf")));
        // A list the command line does not name still comes from the profile.
        assert_eq!(a.settings.cidrs, Some(PathBuf::from("/etc/site/fw.txt")));
        assert_eq!(a.settings.domains_format, Some(DomainsFormat::Squid));
        assert_eq!(a.settings.strictness, Strictness::Lenient);
        assert_eq!(a.settings.fix_output, Some(PathBuf::from("fixed.conf")));
        assert_eq!(
            a.settings.firewall.from,
            [
                "10.20.0.0/16".parse::<ipnet::IpNet>().unwrap(),
                "192.0.2.7/32".parse().unwrap()
            ]
        );
        assert_eq!(a.format, AuditFormat::Json);
        // Two lists and one copy to write: a usage error, when the audit starts.
        assert!(a.settings.check().is_err());

        let a = audit_line(
            "cp audit -r eu-central-1 --cidrs rules.nft --cidrs-format nft --hook forward \
             --in-interface lan0 --out-interface wan0 -f csv",
            "",
        );
        assert_eq!(
            a.settings,
            Settings {
                cidrs: Some(PathBuf::from("rules.nft")),
                cidrs_format: Some(CidrFormat::Nft),
                firewall: Firewall {
                    from: Vec::new(),
                    placement: Some(Placement::Gateway),
                    in_interface: Some("lan0".to_owned()),
                    out_interface: Some("wan0".to_owned()),
                },
                ..Settings::default()
            }
        );
        assert!(a.settings.check().is_ok());
        assert_eq!(a.format, AuditFormat::Csv);
        let hook = |line: &str| audit_line(line, SITE).settings.firewall.placement;
        assert_eq!(hook("cp audit --hook output"), Some(Placement::Host));
        assert_eq!(hook("cp audit"), None);
    }

    #[test]
    fn every_cidrs_format_word_names_its_reader() {
        for (word, format) in [
            ("plain", CidrFormat::Plain),
            ("csv", CidrFormat::Csv),
            ("iptables", CidrFormat::Iptables),
            ("nft", CidrFormat::Nft),
            ("aws-sg", CidrFormat::AwsSg),
        ] {
            let a = audit_line(&format!("cp audit --cidrs fw --cidrs-format {word}"), "");
            assert_eq!(a.settings.cidrs_format, Some(format), "{word}");
        }
    }
}
