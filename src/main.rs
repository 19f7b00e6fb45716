use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use connect_preflight::{app, cli::Cli, error};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with success; anything else is a usage error (64).
            let code = if err.use_stderr() {
                error::ExitCode::Usage
            } else {
                error::ExitCode::Ready
            };
            let _ = err.print();
            return ExitCode::from(code.code());
        }
    };
    match app::run(cli) {
        Ok(code) => ExitCode::from(code.code()),
        Err(err) => {
            let code = err.exit_code();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "connect-preflight: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                let _ = writeln!(stderr, "  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(code.code())
        }
    }
}
