//! The customer's lists as their firewalls and proxies keep them: a domain allow-list and a CIDR
//! whitelist, read with the line and column of every entry, and matched against requirements.
//!
//! Reading is strict by default: a line that does not parse is an error naming `file:line:column`.
//! With `--lenient` such lines become [`Issue`]s that the audit reports as warnings.

pub mod cidrs;
pub mod domains;
pub mod pac;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Location, Result};

/// Lists larger than this are refused rather than read: no real allow-list comes close.
pub use crate::input::MAX_LIST_BYTES as MAX_INPUT_BYTES;

/// Where an entry sits in its file. Lines and columns count from 1; columns count characters.
/// The file's path is shared by every span of a list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub path: Arc<Path>,
    pub line: usize,
    pub column: usize,
}

impl Span {
    pub(crate) fn new(path: &Path, line: usize, column: usize) -> Self {
        Self::in_file(&Arc::from(path), line, column)
    }

    /// A span in a file whose path is already shared: no copy of it.
    pub(crate) fn in_file(path: &Arc<Path>, line: usize, column: usize) -> Self {
        Self {
            path: Arc::clone(path),
            line,
            column,
        }
    }

    /// `file:line`, the form findings name.
    pub(crate) fn at_line(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }

    pub(crate) fn location(&self) -> Location {
        Location::at(&*self.path, self.line, Some(self.column))
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Why a line was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// The line does not parse.
    Malformed,
    /// The line parses but is not something the audit can use (an IP literal in a domain list,
    /// a negated match, a referenced file that is missing).
    Unusable,
}

/// A line that was not read as an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub kind: IssueKind,
    pub span: Span,
    /// The offending text, as found.
    pub text: String,
    /// What was expected there, or why it cannot be used.
    pub expected: String,
}

impl Issue {
    pub(crate) fn malformed(span: Span, text: &str, expected: impl Into<String>) -> Self {
        Self {
            kind: IssueKind::Malformed,
            span,
            text: text.to_owned(),
            expected: expected.into(),
        }
    }

    pub(crate) fn unusable(span: Span, text: &str, why: impl Into<String>) -> Self {
        Self {
            kind: IssueKind::Unusable,
            span,
            text: text.to_owned(),
            expected: why.into(),
        }
    }

    /// The error of a strict run: location, text, and what was expected.
    pub(crate) fn into_error(self) -> Error {
        let message = match self.kind {
            IssueKind::Malformed => {
                format!("cannot read {:?}: expected {}", self.text, self.expected)
            }
            IssueKind::Unusable => format!("cannot use {:?}: {}", self.text, self.expected),
        };
        Error::bad_input(self.span.location(), message)
    }
}

/// How to treat lines that do not parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strictness {
    /// Stop at the first malformed line.
    #[default]
    Strict,
    /// Keep malformed lines as issues and go on.
    Lenient,
}

/// Collects issues; in strict mode the first malformed line becomes the error.
#[derive(Debug, Default)]
pub struct Issues {
    strictness: Strictness,
    pub list: Vec<Issue>,
}

impl Issues {
    pub(crate) fn new(strictness: Strictness) -> Self {
        Self {
            strictness,
            list: Vec::new(),
        }
    }

    /// Records an issue; malformed lines stop a strict read. Unusable lines never stop it.
    pub(crate) fn push(&mut self, issue: Issue) -> Result<()> {
        if issue.kind == IssueKind::Malformed && self.strictness == Strictness::Strict {
            return Err(issue.into_error());
        }
        self.list.push(issue);
        Ok(())
    }
}

/// Reads a list file as text: [`crate::input::read_list`], the one bounded reader.
pub use crate::input::read_list as read_text;
/// The text checks of [`read_text`] on bytes already in memory: [`crate::input::text_of`].
pub use crate::input::text_of;

/// Strips a `#` comment (outside quotes) and returns the rest of the line.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits a line into tokens separated by whitespace and commas, each with its 1-based column.
pub(crate) fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (i, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() || c == ',' {
            if let Some((s, scol)) = start.take() {
                out.push((scol + 1, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some((i, col));
        }
    }
    if let Some((s, scol)) = start {
        out.push((scol + 1, &line[s..]));
    }
    out
}

/// `text` without `last` at its end, if there: a byte compared, not a string (this runs for every
/// line of a list).
#[inline]
pub(crate) fn without_last(text: &str, last: u8) -> &str {
    debug_assert!(last.is_ascii());
    match text.as_bytes().last() {
        // An ASCII byte ends a character: the rest is valid UTF-8.
        Some(&b) if b == last => &text[..text.len() - 1],
        _ => text,
    }
}

/// Lines of a text with their 1-based numbers; a BOM and `\r` are removed.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, without_last(line, b'\r')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_huge_files_are_refused_with_a_reason() {
        let err = text_of(Path::new("l.txt"), b"a.com\nb\0c\n".to_vec()).unwrap_err();
        assert!(matches!(err, Error::BadInput { .. }));
        assert!(err.to_string().starts_with("l.txt:2:2"), "{err}");
        assert!(err.to_string().contains("binary"), "{err}");
        let big = vec![b'a'; usize::try_from(MAX_INPUT_BYTES).unwrap() + 1];
        let err = text_of(Path::new("l.txt"), big).unwrap_err();
        assert!(err.to_string().contains("64 MiB"), "{err}");
        let err = text_of(Path::new("l.txt"), b"ok\n\xff\n".to_vec()).unwrap_err();
        assert!(err.to_string().starts_with("l.txt:2:1"), "{err}");
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_read() {
        let mut le = vec![0xff, 0xfe];
        le.extend(
            "a.example\r\n*.b.example\r\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        assert_eq!(
            text_of(Path::new("u"), le).unwrap(),
            "a.example\r\n*.b.example\r\n"
        );
        let mut be = vec![0xfe, 0xff];
        be.extend("x\n".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(text_of(Path::new("u"), be).unwrap(), "x\n");
        // An unpaired surrogate is refused, not guessed at.
        let err = text_of(Path::new("u"), vec![0xff, 0xfe, 0x00, 0xd8]).unwrap_err();
        assert!(err.to_string().contains("UTF-16"), "{err}");
    }

    #[test]
    fn tokens_carry_columns() {
        assert_eq!(
            tokens("  15.193.0.0/19\tudp/3478, x"),
            [(3, "15.193.0.0/19"), (17, "udp/3478"), (27, "x")]
        );
        assert_eq!(strip_comment("a # b"), "a ");
        assert_eq!(strip_comment("\"#x\" # y"), "\"#x\" ");
    }
}
