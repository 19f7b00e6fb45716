//! `ccp-log FILE…`: the CCP's own logs read back and graded. The reading lives in
//! [`crate::ccplog`].

use crate::cli::CcpLogArgs;
use crate::config::Config;
use crate::error::{ExitCode, Result};

pub(crate) fn run(config: &Config, args: &CcpLogArgs) -> Result<ExitCode> {
    crate::ccplog::command::run(config, args)
}
