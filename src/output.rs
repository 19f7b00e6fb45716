//! Where output goes: stdout or `--output` (atomically), atomic files, the one decision about
//! colour, and the report's forms. The last stage of every command; it knows nothing of the
//! command line beyond the types declared here, which `cli` reuses.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::{self, Report};

/// The forms of a report: every command that judges offers them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For people at a terminal
    #[default]
    Text,
    /// The `connect-preflight/report/v1` contract, for pipelines
    Json,
    /// A self-contained page to open or send to support
    Html,
    /// JUnit XML, one test case per check, for CI dashboards
    Junit,
}

/// Writes the output to `path` (`--output`) atomically, or to stdout. A closed pipe is not an
/// error.
pub(crate) fn emit(path: Option<&Path>, text: &str) -> Result<()> {
    if let Some(path) = path {
        return write_atomically(path, text.as_bytes());
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: PathBuf::from("<stdout>"),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Renders `report` in `format` and writes it with [`emit`]; text is coloured only on stdout and
/// as `color` decides.
pub(crate) fn render_report(
    report: &Report,
    format: ReportFormat,
    path: Option<&Path>,
    color: ColorChoice,
) -> Result<()> {
    let text = match format {
        ReportFormat::Json => report::json::render(report),
        ReportFormat::Html => report::html::render(report),
        ReportFormat::Junit => report::junit::render(report),
        ReportFormat::Text => {
            let color = path.is_none() && color.for_stdout();
            report::text::render(report, report::text::Palette::new(color))
        }
    };
    emit(path, &text)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so a reader never sees a
/// partial file and a failure leaves any earlier file untouched.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".connect-preflight-")
        .tempfile_in(dir)
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// A file that appears at its path only when [`AtomicFile::commit`] is called: for outputs too
/// large to hold in memory first.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".connect-preflight-")
            .tempfile_in(dir)
            .map_err(|source| Error::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
        })
    }

    pub(crate) fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    pub(crate) fn commit(self) -> Result<()> {
        let path = self.path;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        self.tmp.persist(&path).map_err(|e| Error::Write {
            path: path.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Colour is on for `always`; for `auto` only on a terminal, without `NO_COLOR`, and not on a
    /// dumb terminal.
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
        }
    }

    /// The decision for stdout in this process.
    pub fn for_stdout(self) -> bool {
        let no_color = std::env::var("NO_COLOR").ok();
        let term = std::env::var("TERM").ok();
        self.enabled(
            std::io::stdout().is_terminal(),
            no_color.as_deref(),
            term.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_conventions() {
        assert!(ColorChoice::Always.enabled(false, Some("1"), Some("dumb")));
        assert!(!ColorChoice::Never.enabled(true, None, None));
        assert!(ColorChoice::Auto.enabled(true, None, Some("xterm")));
        assert!(ColorChoice::Auto.enabled(true, Some(""), None));
        assert!(!ColorChoice::Auto.enabled(true, Some("1"), None));
        assert!(!ColorChoice::Auto.enabled(true, None, Some("dumb")));
        assert!(!ColorChoice::Auto.enabled(false, None, None));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_a_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/out.json");
        assert!(matches!(
            write_atomically(&path, b"x"),
            Err(Error::Write { .. })
        ));
    }
}
