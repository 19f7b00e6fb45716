//! `generate man | completions SHELL`: files the packages ship, made from the command line's
//! own definition.

use crate::cli::GenerateCommand;
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::output;

pub(crate) fn run(config: &Config, what: &GenerateCommand) -> Result<ExitCode> {
    let text = match what {
        GenerateCommand::Man => crate::generate::man_page(),
        GenerateCommand::Completions { shell } => crate::generate::completions(*shell),
    };
    output::emit(config.output.as_deref(), &text)?;
    Ok(ExitCode::Ready)
}
