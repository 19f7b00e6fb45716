//! `ccp-log FILE…`: the CCP's own logs read back and graded, as the stages in order: config →
//! read → analyse → report → render; the exit code is the verdict's (65 when a file is not a CCP
//! log). The reading lives in [`crate::ccplog`].

use std::time::Instant;

use crate::ccplog::{self, report};
use crate::config::{CcpLogConfig, Config};
use crate::error::{ExitCode, Result};
use crate::output::ReportFormat;
use crate::{clock, output};

pub(crate) fn run(config: &Config, log: &CcpLogConfig) -> Result<ExitCode> {
    let started = clock::now();
    let timer = Instant::now();
    let inputs = ccplog::read_files(&log.files)?;
    let read = ccplog::analyse(&inputs, &log.thresholds)?;
    drop(inputs);
    let elapsed = u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX);
    let built = report::build(read, clock::rfc3339(started), elapsed);
    let text = match log.format {
        ReportFormat::Text => report::text(&built),
        ReportFormat::Json => report::json(&built),
        ReportFormat::Html => report::html(&built, &log.thresholds),
        ReportFormat::Junit => report::junit(&built),
    };
    output::emit(config.output.as_deref(), &text)?;
    Ok(built.report.verdict.into())
}
