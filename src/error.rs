//! Failures of the program itself, as opposed to failed checks (which are results in a report).
//!
//! Each variant maps to one exit code of the contract in the README.

use std::path::PathBuf;

/// The exit codes of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Ready = 0,
    Degraded = 1,
    NotReady = 2,
    Incomplete = 3,
    Usage = 64,
    BadInput = 65,
    Internal = 70,
    Interrupted = 130,
}

impl ExitCode {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<crate::report::Verdict> for ExitCode {
    fn from(verdict: crate::report::Verdict) -> Self {
        match verdict {
            crate::report::Verdict::Ready => Self::Ready,
            crate::report::Verdict::Degraded => Self::Degraded,
            crate::report::Verdict::Incomplete => Self::Incomplete,
            crate::report::Verdict::NotReady => Self::NotReady,
        }
    }
}

/// Where in an input file something went wrong. Lines and columns count from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
        }
    }

    pub fn at(path: impl Into<PathBuf>, line: usize, column: Option<usize>) -> Self {
        Self {
            path: path.into(),
            line: Some(line),
            column,
        }
    }

    /// Turns a byte offset into line and column within `text`.
    pub fn from_offset(path: impl Into<PathBuf>, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Self::at(path, line, Some(column))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// An input file is malformed: names where and what was expected.
    #[error("{location}: {message}")]
    BadInput { location: Location, message: String },
    /// An input file cannot be read at all.
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output file cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A download the user asked for failed.
    #[error("{0}")]
    Fetch(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn bad_input(location: Location, message: impl Into<String>) -> Self {
        Self::BadInput {
            location,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub const fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::Usage,
            Self::BadInput { .. } | Self::Read { .. } => ExitCode::BadInput,
            Self::Write { .. } | Self::Fetch(_) | Self::Other(_) => ExitCode::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = x\n";
        assert_eq!(Location::from_offset("p", text, 0).to_string(), "p:1:1");
        assert_eq!(Location::from_offset("p", text, 6).to_string(), "p:2:1");
        // The column counts characters, not bytes.
        assert_eq!(Location::from_offset("p", text, 12).to_string(), "p:2:6");
    }
}
