//! `summarize`: many reports turned into one fleet view and one change list.

use crate::config::{Config, SummarizeConfig};
use crate::error::{Error, ExitCode, Result};
use crate::summary::SummaryFormat;
use crate::{output, report};

/// Reads the reports one at a time, then renders the fleet view. Files that are not reports are
/// warnings; finding no report at all is an error.
pub(crate) fn run(
    config: &Config,
    args: &SummarizeConfig,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let fleet = crate::summary::summarize(&args.paths, &mut |w| warnings.push(w));
    if fleet.reports() == 0 {
        let first = args.paths.first().cloned().unwrap_or_default();
        return Err(Error::bad_input(
            crate::error::Location::file(first),
            format!(
                "no {} report found in the {} path(s) given",
                report::SCHEMA,
                args.paths.len()
            ),
        ));
    }
    let summary = fleet.finish();
    let text = match args.format {
        SummaryFormat::Text => crate::summary::text(&summary),
        SummaryFormat::Json => crate::summary::json(&summary),
        SummaryFormat::Csv => crate::summary::csv(&summary),
        SummaryFormat::Html => crate::summary::html(&summary),
    };
    output::emit(config.output.as_deref(), &text)?;
    Ok(ExitCode::Ready)
}
