//! `audit`: the customer's allow-list, firewall whitelist, ruleset or proxy configuration read
//! against what the Region needs, offline. The evaluation lives in [`crate::audit`].

use crate::cli::AuditArgs;
use crate::config::Config;
use crate::error::{ExitCode, Result};

pub(crate) fn run(
    config: &Config,
    args: &AuditArgs,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    crate::audit::run(config, args, warnings)
}
