//! The dispatch: read the profile, resolve the configuration, hand it to the command, print the
//! warnings. Everything else lives in [`crate::commands`] and the stages below them.

use std::io::Write;

use crate::cli::{CatalogCommand, Cli, Command, ProfileCommand, RangesCommand};
use crate::commands;
use crate::config::{
    self, AgentConfig, AuditConfig, CcpLogConfig, CheckConfig, Config, DiffConfig, EndpointsConfig,
    LookupConfig, ProfileWriteConfig, SummarizeConfig, UpdateConfig,
};
use crate::error::{ExitCode, Result};

/// The process environment, read through one function so tests can replace it.
fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let env: &dyn Fn(&str) -> Option<String> = &process_env;
    // Generating files and writing a profile must work even where a broken profile lies.
    let profile = match &cli.command {
        Command::Generate(_) | Command::Profile(_) => None,
        _ => config::load_profile(cli.profile.as_deref(), env)?,
    };
    let target = match &cli.command {
        Command::Check(args) => Some(&args.target),
        Command::Endpoints(args) => Some(&args.target),
        Command::Audit(args) => Some(&args.target),
        Command::Ranges(_)
        | Command::Catalog(_)
        | Command::CcpLog(_)
        | Command::Summarize(_)
        | Command::Agent(_)
        | Command::Generate(_)
        | Command::Profile(_) => None,
    };
    let config = Config::from_cli(&cli, target, env, profile)?;
    let mut warnings = Vec::new();
    let code = match &cli.command {
        Command::Check(args) => CheckConfig::resolve(&config, args, env)
            .and_then(|check| commands::check::run(&config, &check, &mut warnings)),
        Command::Agent(args) => {
            let agent = AgentConfig::resolve(&config, args);
            commands::agent::run(&config, &agent, env, &mut warnings)
        }
        Command::Endpoints(args) => {
            commands::endpoints::run(&config, &EndpointsConfig::resolve(args), &mut warnings)
        }
        Command::Audit(args) => {
            commands::audit::run(&config, &AuditConfig::resolve(&config, args), &mut warnings)
        }
        Command::Ranges(RangesCommand::Info { format }) => {
            commands::ranges::info(&config, *format, &mut warnings)
        }
        Command::Ranges(RangesCommand::Lookup(args)) => {
            commands::ranges::lookup(&config, &LookupConfig::resolve(args), &mut warnings)
        }
        Command::Ranges(RangesCommand::Update(args)) => {
            commands::ranges::update(&config, &UpdateConfig::resolve(args), &mut warnings)
        }
        Command::Ranges(RangesCommand::Diff(args)) => {
            commands::ranges::diff(&config, &DiffConfig::resolve(args))
        }
        Command::Catalog(CatalogCommand::Info { endpoints, format }) => {
            commands::catalog::info(&config, endpoints.as_deref(), *format)
        }
        Command::Summarize(args) => {
            commands::summarize::run(&config, &SummarizeConfig::resolve(args), &mut warnings)
        }
        Command::CcpLog(args) => {
            commands::ccp_log::run(&config, &CcpLogConfig::resolve(&config, args))
        }
        Command::Generate(what) => commands::generate::run(&config, what),
        Command::Profile(ProfileCommand::Write(args)) => {
            commands::profile::write(&config, &ProfileWriteConfig::resolve(args))
        }
    };
    if !config.quiet {
        let mut stderr = std::io::stderr().lock();
        for warning in &warnings {
            let _ = writeln!(stderr, "connect-preflight: warning: {warning}");
        }
    }
    code
}
