//! `profile write`: a site profile for the agents' shortcut, beside the executable or at
//! `--output`.

use std::io::Write;

use crate::config::{Config, ProfileWriteConfig};
use crate::error::{ExitCode, Result};

/// Writes to `--output`, else beside the executable; says where on stderr unless `--quiet`.
pub(crate) fn write(config: &Config, args: &ProfileWriteConfig) -> Result<ExitCode> {
    let path = match &config.output {
        Some(path) => path.clone(),
        None => crate::site_profile::default_path()?,
    };
    let message = crate::site_profile::write(
        args.instance.clone(),
        args.region.clone(),
        args.from.as_deref(),
        &path,
        args.force,
    )?;
    if !config.quiet {
        let _ = std::io::stderr().lock().write_all(message.as_bytes());
    }
    Ok(ExitCode::Ready)
}
