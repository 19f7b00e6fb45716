//! The readers of domain lists: a plain list (one entry a line) and a squid configuration
//! (its `dstdomain` ACLs, inline or in the files they name), told apart by their first words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::{Issue, Issues, Span, Strictness, numbered_lines, strip_comment, tokens};
use super::{DomainEntry, DomainList, DomainSyntax, Parsed, parse_entry};
use crate::error::Result;
use crate::input::read_list as read_text;

pub(crate) fn looks_like_squid(text: &str) -> bool {
    // A text where no keyword ends a word (before a blank, a comment, a non-ASCII character,
    // which may be Unicode space, or the end) has no line that starts with one: one search of
    // the whole text is cheaper than reading every line.
    let keywords = ["acl", "http_access", "http_port", "cache_peer"];
    let bytes = text.as_bytes();
    let mentions = keywords.iter().any(|k| {
        memchr::memmem::find_iter(bytes, k).any(|at| match bytes.get(at + k.len()) {
            None => true,
            Some(&b) => {
                matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'#') || !b.is_ascii()
            }
        })
    });
    if !mentions {
        return false;
    }
    numbered_lines(text).any(|(_, line)| {
        let first = match first_word(line) {
            Some(word) => word,
            None => strip_comment(line).split_whitespace().next().unwrap_or(""),
        };
        matches!(first, "acl" | "http_access" | "http_port" | "cache_peer")
    })
}

/// The first word of an ASCII line, up to whitespace or `#`, as `strip_comment` and
/// `split_whitespace` find it for a squid keyword; `None` when non-ASCII text comes first.
fn first_word(line: &str) -> Option<&str> {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let bytes = line.as_bytes();
    let mut start = 0;
    while start < bytes.len() && space(bytes[start]) {
        start += 1;
    }
    let mut end = start;
    while end < bytes.len() && !space(bytes[end]) && bytes[end] != b'#' {
        if !bytes[end].is_ascii() {
            return None;
        }
        end += 1;
    }
    Some(&line[start..end])
}

fn push_entry(
    list: &mut DomainList,
    issues: &mut Issues,
    span: Span,
    text: &str,
    acl: Option<&str>,
) -> Result<()> {
    match parse_entry(text) {
        Ok(Parsed::Entry {
            pattern,
            port,
            path,
        }) => {
            list.entries.push(DomainEntry {
                span,
                text: text.to_owned(),
                pattern,
                port,
                path,
                acl: acl.map(str::to_owned),
            });
            Ok(())
        }
        Ok(Parsed::Address(addr)) => issues.push(Issue::unusable(
            span,
            text,
            format!("{addr} is an IP address, not a domain: a domain allow-list cannot match it; put addresses in the CIDR whitelist (--cidrs)"),
        )),
        Err(expected) => issues.push(Issue::malformed(span, text, expected)),
    }
}

/// A plain list: one entry a line, `#` comments.
pub fn parse_plain(text: &str, path: &Path, strictness: Strictness) -> Result<DomainList> {
    let file: Arc<Path> = Arc::from(path);
    let mut issues = Issues::new(strictness);
    let mut list = DomainList {
        path: path.to_owned(),
        syntax: DomainSyntax::Plain,
        entries: Vec::new(),
        issues: Vec::new(),
        acl: None,
        insert_after_line: None,
        agents: Vec::new(),
    };
    list.entries
        .reserve(text.bytes().filter(|&b| b == b'\n').count() + 1);
    for (number, line) in numbered_lines(text) {
        let (column, word) = match only_word(line) {
            Some(Some(found)) => found,
            Some(None) => continue,
            None => {
                let line = strip_comment(line);
                let words = tokens(line);
                let Some(&(column, word)) = words.first() else {
                    continue;
                };
                if let Some(&(extra_col, extra)) = words.get(1) {
                    issues.push(Issue::malformed(
                        Span::in_file(&file, number, extra_col),
                        extra,
                        "one entry a line (a host name, a wildcard or a URL), then an optional # comment",
                    ))?;
                    continue;
                }
                (column, word)
            }
        };
        push_entry(
            &mut list,
            &mut issues,
            Span::in_file(&file, number, column),
            word,
            None,
        )?;
    }
    let urls = list
        .entries
        .iter()
        .filter(|e| e.text.contains("://"))
        .count();
    if urls * 2 > list.entries.len() {
        list.syntax = DomainSyntax::Url;
    }
    list.issues = issues.list;
    Ok(list)
}

/// The one word of an ASCII line without quotes, with its column, as [`tokens`] after
/// [`strip_comment`] would find it: `Some(None)` for a line without a word, `None` when the
/// line needs the general way (non-ASCII text, quotes, more than one word).
fn only_word(line: &str) -> Option<Option<(usize, &str)>> {
    let bytes = line.as_bytes();
    let separator = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' | b',');
    let mut start = 0;
    while start < bytes.len() && separator(bytes[start]) {
        start += 1;
    }
    let mut end = start;
    while end < bytes.len() && !separator(bytes[end]) && bytes[end] != b'#' {
        if bytes[end] >= 0x80 || bytes[end] == b'"' {
            return None;
        }
        end += 1;
    }
    let mut rest = end;
    while rest < bytes.len() && separator(bytes[rest]) {
        rest += 1;
    }
    if rest < bytes.len() && bytes[rest] != b'#' {
        return None;
    }
    Some((start < end).then(|| (start + 1, &line[start..end])))
}

/// A squid configuration: the entries of every `acl NAME dstdomain` line, inline or from the
/// quoted file it names. Other directives are not domain entries and are skipped.
pub fn parse_squid(text: &str, path: &Path, strictness: Strictness) -> Result<DomainList> {
    let file: Arc<Path> = Arc::from(path);
    let mut issues = Issues::new(strictness);
    let mut list = DomainList {
        path: path.to_owned(),
        syntax: DomainSyntax::Squid,
        entries: Vec::new(),
        issues: Vec::new(),
        acl: None,
        insert_after_line: None,
        agents: Vec::new(),
    };
    for (number, line) in numbered_lines(text) {
        let words = tokens_by_space(strip_comment(line));
        if words.first().map(|w| w.1) != Some("acl") {
            continue;
        }
        let Some(&(_, name)) = words.get(1) else {
            issues.push(Issue::malformed(
                Span::in_file(&file, number, 1),
                line.trim(),
                "acl NAME TYPE VALUE...",
            ))?;
            continue;
        };
        match words.get(2).map(|w| w.1) {
            Some("dstdomain") => {}
            Some(kind @ ("ssl::server_name" | "ssl::server_name_regex")) => {
                issues.push(Issue::unusable(
                    Span::in_file(&file, number, words[2].0),
                    line.trim(),
                    format!(
                        "{kind} ACLs match only in TLS inspection steps; they are not evaluated"
                    ),
                ))?;
                continue;
            }
            _ => continue,
        }
        if list.acl.is_none() {
            list.acl = Some(name.to_owned());
        }
        if list.acl.as_deref() == Some(name) {
            list.insert_after_line = Some(number);
        }
        let values = &words[3..];
        if values.is_empty() {
            issues.push(Issue::malformed(
                Span::in_file(&file, number, line.chars().count() + 1),
                line.trim(),
                "at least one domain after dstdomain",
            ))?;
        }
        for &(column, value) in values {
            let span = Span::in_file(&file, number, column);
            if value.starts_with('-') {
                // Options such as -i (case-insensitive) and -n (no reverse lookup).
                continue;
            }
            if let Some(file) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                read_referenced(&mut list, &mut issues, path, span, value, file, name)?;
                continue;
            }
            push_entry(&mut list, &mut issues, span, value, Some(name))?;
        }
    }
    list.issues = issues.list;
    Ok(list)
}

/// Tokens separated by whitespace only (squid values may hold commas in quoted paths).
fn tokens_by_space(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (i, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
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

/// The entries of a file a `dstdomain` ACL names, one a line. A relative name is taken from the
/// configuration's folder.
fn read_referenced(
    list: &mut DomainList,
    issues: &mut Issues,
    conf: &Path,
    span: Span,
    value: &str,
    file: &str,
    acl: &str,
) -> Result<()> {
    let file_path = {
        let p = PathBuf::from(file);
        if p.is_relative() {
            conf.parent().unwrap_or_else(|| Path::new(".")).join(p)
        } else {
            p
        }
    };
    let text = match read_text(&file_path) {
        Ok(text) => text,
        Err(crate::error::Error::Read { source, .. }) => {
            return issues.push(Issue::unusable(
                span,
                value,
                format!("the file it names cannot be read ({source}); its entries are not audited"),
            ));
        }
        Err(other) => return Err(other),
    };
    for (number, line) in numbered_lines(&text) {
        for (column, word) in tokens_by_space(strip_comment(line)) {
            push_entry(
                list,
                issues,
                Span::new(&file_path, number, column),
                word,
                Some(acl),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn squid_configurations_are_told_from_lists_by_their_first_words() {
        let reference = |text: &str| {
            numbered_lines(text).any(|(_, line)| {
                let first = strip_comment(line).split_whitespace().next().unwrap_or("");
                matches!(first, "acl" | "http_access" | "http_port" | "cache_peer")
            })
        };
        for (text, squid) in [
            ("oracle.com\n*.macle.example\n# the acl list\n", false),
            ("acl connect dstdomain .connect.aws\n", true),
            ("  http_access allow connect\n", true),
            ("host.example\nacl", true),
            ("host.example\nacl# trailing comment\n", true),
            ("acl\u{3000}connect dstdomain .connect.aws\n", true),
            ("cache_peers.example\nhttp_portal.example\n", false),
            ("", false),
        ] {
            assert_eq!(looks_like_squid(text), squid, "{text:?}");
            assert_eq!(reference(text), squid, "{text:?}");
        }
    }

    #[test]
    fn plain_lists_name_line_and_column() {
        let text = "# proxy bypass\n\nacme.my.connect.aws\n  *.cloudfront.net   # static\nhttps://x.example/a\n";
        let list = parse_plain(text, Path::new("l.txt"), Strictness::Strict).unwrap();
        let at: Vec<(String, String)> = list
            .entries
            .iter()
            .map(|e| (e.span.to_string(), e.pattern.plain()))
            .collect();
        assert_eq!(
            at,
            [
                ("l.txt:3:1".to_owned(), "acme.my.connect.aws".to_owned()),
                ("l.txt:4:3".to_owned(), "*.cloudfront.net".to_owned()),
                ("l.txt:5:1".to_owned(), "x.example".to_owned()),
            ]
        );
        assert_eq!(list.syntax, DomainSyntax::Plain);
        let err = parse_plain(
            "a.example\n  b..example\n",
            Path::new("l.txt"),
            Strictness::Strict,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("l.txt:2:3: cannot read \"b..example\": expected a host name"),
            "{err}"
        );
        let err = parse_plain(
            "a.example b.example\n",
            Path::new("l.txt"),
            Strictness::Strict,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("l.txt:1:11"), "{err}");
        let list = parse_plain(
            "b..example\n10.1.1.1\nok.example\n",
            Path::new("l.txt"),
            Strictness::Lenient,
        )
        .unwrap();
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.issues.len(), 2);
        assert_eq!(
            list.issues[1].kind,
            super::super::super::IssueKind::Unusable
        );
    }

    #[test]
    fn squid_acls_inline_and_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("connect.txt"),
            "# Connect\n.cloudfront.net\nparticipant.connect.eu-central-1.amazonaws.com\n",
        )
        .unwrap();
        let conf = dir.path().join("squid.conf");
        let text = "http_port 3128\nacl localnet src 10.0.0.0/8\nacl connect dstdomain -i .my.connect.aws .Transport.connect.eu-central-1.amazonaws.com\nacl connect dstdomain \"connect.txt\"\nhttp_access allow localnet connect\n";
        std::fs::write(&conf, text).unwrap();
        let list = DomainList::read(&conf, None, Strictness::Strict).unwrap();
        assert_eq!(list.syntax, DomainSyntax::Squid);
        assert_eq!(list.acl.as_deref(), Some("connect"));
        assert_eq!(list.insert_after_line, Some(4));
        let got: Vec<(usize, usize, String)> = list
            .entries
            .iter()
            .map(|e| (e.span.line, e.span.column, e.pattern.plain()))
            .collect();
        assert_eq!(
            got,
            [
                (3, 26, ".my.connect.aws".to_owned()),
                (
                    3,
                    42,
                    ".transport.connect.eu-central-1.amazonaws.com".to_owned()
                ),
                (2, 1, ".cloudfront.net".to_owned()),
                (
                    3,
                    1,
                    "participant.connect.eu-central-1.amazonaws.com".to_owned()
                ),
            ]
        );
        assert!(list.entries[2].span.path.ends_with("connect.txt"));
        let fixed = list.with_additions(text, &[".static.connect.aws".into()]);
        let lines: Vec<&str> = fixed.lines().collect();
        assert_eq!(
            lines[5],
            "acl connect_preflight dstdomain .static.connect.aws"
        );
        assert_eq!(
            lines[8],
            "http_access allow connect_preflight_connect connect_preflight_port connect_preflight"
        );
        assert_eq!(lines[9], "http_access allow localnet connect");
        // ACLs of TLS-inspection steps are not evaluated: said, not ignored.
        let list = parse_squid(
            "acl c ssl::server_name .connect.aws\n",
            &conf,
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(list.issues.len(), 1);
        assert!(list.issues[0].expected.contains("ssl::server_name"));
        // A missing referenced file is reported, not fatal.
        let list = parse_squid(
            "acl c dstdomain \"/nonexistent/x\"\n",
            &conf,
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(list.issues.len(), 1);
    }

    proptest! {
        /// The first word of a line is what the squid detection took it to be.
        #[test]
        fn first_words_are_those_of_split_whitespace(line in "[ \t\x0b#\"acl_é\u{a0}]{0,10}") {
            if let Some(word) = first_word(&line) {
                let general = strip_comment(&line).split_whitespace().next().unwrap_or("");
                let keyword = |w: &str| matches!(w, "acl" | "http_access" | "http_port" | "cache_peer");
                proptest::prop_assert_eq!(keyword(word), keyword(general), "{:?}", line);
            }
        }

        /// A line with one word is read as the general tokenizer reads it.
        #[test]
        fn one_word_lines_split_as_tokens_do(line in "[ ,\t#\"a.é*/:-]{0,12}") {
            if let Some(found) = only_word(&line) {
                let words = tokens(strip_comment(&line));
                proptest::prop_assert!(words.len() <= 1, "{:?}", line);
                proptest::prop_assert_eq!(found, words.first().copied(), "{:?}", line);
            }
        }
    }
}
