//! `connect-preflight ccp-log FILE…`: read the CCP logs, build the report, render it, and exit
//! with the verdict's code (65 when a file is not a CCP log).

use std::time::Instant;

use crate::cli::{CcpLogArgs, ReportFormat};
use crate::config::Config;
use crate::error::{ExitCode, Result};

pub(crate) fn run(config: &Config, args: &CcpLogArgs) -> Result<ExitCode> {
    let started = crate::clock::now();
    let timer = Instant::now();
    let thresholds = &config.profile.thresholds;
    let inputs = super::read_files(&args.files)?;
    let log = super::analyse(&inputs, thresholds)?;
    drop(inputs);
    let elapsed = u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX);
    let report = super::report::build(log, crate::clock::rfc3339(started), elapsed);
    let text = match args.format {
        ReportFormat::Text => super::report::text(&report),
        ReportFormat::Json => super::report::json(&report),
        ReportFormat::Html => super::report::html(&report, thresholds),
        ReportFormat::Junit => super::report::junit(&report),
    };
    crate::output::emit(config.output.as_deref(), &text)?;
    Ok(report.report.verdict.into())
}
