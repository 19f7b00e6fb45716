//! The nft language's tokens: words, quoted strings, punctuation and newlines with their
//! file:line:column ([`tokenize`]), a [`Cursor`] over them, and the statements, blocks and set
//! elements they group into.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tk {
    Word(String),
    Str(String),
    Punct(&'static str),
    Newline,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tk: Tk,
    pub(super) file: usize,
    pub(super) line: usize,
    pub(super) col: usize,
}

impl Token {
    pub(super) fn word(&self) -> Option<&str> {
        match &self.tk {
            Tk::Word(w) => Some(w),
            _ => None,
        }
    }

    pub(super) fn text(&self) -> String {
        match &self.tk {
            Tk::Word(w) => w.clone(),
            Tk::Str(s) => format!("\"{s}\""),
            Tk::Punct(p) => (*p).to_owned(),
            Tk::Newline => "end of line".to_owned(),
        }
    }

    pub(super) fn is(&self, p: &str) -> bool {
        matches!(&self.tk, Tk::Punct(q) if *q == p) || self.word() == Some(p)
    }

    /// A word or a quoted string, as a value.
    pub(super) fn value(&self) -> Option<&str> {
        match &self.tk {
            Tk::Word(w) | Tk::Str(w) => Some(w),
            _ => None,
        }
    }
}

const PUNCT: &[&str] = &[
    "!=", "==", "<=", ">=", "{", "}", "(", ")", "[", "]", ";", ",", "=", "<", ">", "!", "&", "|",
    "^",
];

/// Splits text into tokens, dropping comments and joining `\`-continued lines.
pub(super) fn tokenize(
    text: &str,
    file: usize,
) -> std::result::Result<Vec<Token>, (usize, usize, String)> {
    let mut out = Vec::new();
    for (ln, raw) in text.split('\n').enumerate() {
        let line_no = ln + 1;
        let comment_at = raw.find('#').unwrap_or(usize::MAX);
        let raw = if raw.find('\r').is_some_and(|cr| cr > comment_at) {
            raw.trim_end_matches('\r')
        } else {
            raw
        };
        if let Some(at) = raw.find('\r') {
            return Err((
                line_no,
                raw[..at].chars().count() + 1,
                "a line ending without a carriage return: the file has Windows (CRLF) line endings, which nft refuses".to_owned(),
            ));
        }
        let chars: Vec<char> = raw.chars().collect();
        let mut i = 0;
        let mut continued = false;
        while i < chars.len() {
            let c = chars[i];
            let col = i + 1;
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '\\' && chars[i + 1..].iter().all(|c| c.is_whitespace()) {
                continued = true;
                break;
            }
            if c == '"' {
                let mut s = String::new();
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '"' {
                    s.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err((line_no, col, "a closing \" on the same line".to_owned()));
                }
                out.push(Token {
                    tk: Tk::Str(s),
                    file,
                    line: line_no,
                    col,
                });
                i = j + 1;
                continue;
            }
            if let Some(p) = PUNCT.iter().find(|p| {
                let pc: Vec<char> = p.chars().collect();
                chars[i..].starts_with(&pc)
            }) {
                out.push(Token {
                    tk: Tk::Punct(p),
                    file,
                    line: line_no,
                    col,
                });
                i += p.chars().count();
                continue;
            }
            if !c.is_ascii() {
                return Err((
                    line_no,
                    col,
                    format!(
                        "ASCII: U+{:04X} {c:?} only looks like an ASCII character (nft refuses it)",
                        u32::from(c)
                    ),
                ));
            }
            let mut j = i;
            while j < chars.len() {
                let d = chars[j];
                if d.is_whitespace()
                    || d == '#'
                    || d == '"'
                    || PUNCT.iter().any(|p| p.starts_with(d))
                {
                    break;
                }
                if !d.is_ascii() {
                    return Err((
                        line_no,
                        j + 1,
                        format!(
                            "ASCII: U+{:04X} {d:?} only looks like an ASCII character (nft refuses it)",
                            u32::from(d)
                        ),
                    ));
                }
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            // `established:accept` and `key:` are a key, a colon and a value; IPv6 addresses
            // and `:port` keep their colons.
            push_word(&mut out, word, file, line_no, col);
            i = j;
        }
        if !continued {
            out.push(Token {
                tk: Tk::Newline,
                file,
                line: line_no,
                col: chars.len() + 1,
            });
        }
    }
    Ok(out)
}

fn push_word(out: &mut Vec<Token>, word: String, file: usize, line: usize, col: usize) {
    let colon_split = word.contains(':')
        && word.parse::<std::net::Ipv6Addr>().is_err()
        && !word.contains("::")
        && !word.starts_with(':')
        && word
            .split('/')
            .next()
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_err())
        && !word
            .split('-')
            .all(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    if colon_split {
        let mut c = col;
        for (k, part) in word.split(':').enumerate() {
            if k > 0 {
                out.push(Token {
                    tk: Tk::Punct(":"),
                    file,
                    line,
                    col: c - 1,
                });
            }
            if !part.is_empty() {
                out.push(Token {
                    tk: Tk::Word(part.to_owned()),
                    file,
                    line,
                    col: c,
                });
            }
            c += part.len() + 1;
        }
        return;
    }
    // A lone `:` between a key and a value.
    if word == ":" {
        out.push(Token {
            tk: Tk::Punct(":"),
            file,
            line,
            col,
        });
        return;
    }
    out.push(Token {
        tk: Tk::Word(word),
        file,
        line,
        col,
    });
}

/// One element of a set or map: its components (a concatenation), each a list of tokens, and
/// for a map the value after `:`.
pub(super) type Element = (Vec<Vec<Token>>, Option<Vec<Token>>);

pub(super) struct Cursor<'t> {
    pub(super) toks: &'t [Token],
    pub(super) at: usize,
}

impl<'t> Cursor<'t> {
    pub(super) fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.at)
    }

    pub(super) fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.at);
        self.at += 1;
        t
    }

    pub(super) fn eat(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(p)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn last_or<'a>(&self, fallback: &'a Token) -> &'a Token
    where
        't: 'a,
    {
        self.toks.last().unwrap_or(fallback)
    }
}

/// Splits tokens into statements at newlines and `;` outside braces; a `{ ... }` block stays
/// with its statement.
pub(super) fn statements(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match &t.tk {
            Tk::Punct("{") => depth += 1,
            Tk::Punct("}") => depth -= 1,
            Tk::Newline | Tk::Punct(";") if depth <= 0 => {
                if i > start {
                    out.push(&toks[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        out.push(&toks[start..]);
    }
    out
}

/// Statements inside a block whose `{` is at `open`; returns them and the index after `}`.
pub(super) fn block(toks: &[Token], open: usize) -> Option<(&[Token], usize)> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match &t.tk {
            Tk::Punct("{") => depth += 1,
            Tk::Punct("}") => {
                depth -= 1;
                if depth == 0 {
                    return Some((&toks[open + 1..i], i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// Elements of a `{ a, b . c, d : v }` list (without the braces), newlines ignored.
pub(super) fn elements(toks: &[Token]) -> Vec<Element> {
    let mut out = Vec::new();
    let mut comps: Vec<Vec<Token>> = vec![Vec::new()];
    let mut value: Option<Vec<Token>> = None;
    let mut depth = 0;
    let mut flush = |comps: &mut Vec<Vec<Token>>, value: &mut Option<Vec<Token>>| {
        if comps.iter().any(|c| !c.is_empty()) {
            out.push((std::mem::replace(comps, vec![Vec::new()]), value.take()));
        } else {
            *comps = vec![Vec::new()];
            *value = None;
        }
    };
    for t in toks {
        match &t.tk {
            Tk::Newline => {}
            Tk::Punct(",") if depth == 0 => flush(&mut comps, &mut value),
            Tk::Punct(":") if depth == 0 && value.is_none() => value = Some(Vec::new()),
            Tk::Word(w) if w == "." && depth == 0 && value.is_none() => comps.push(Vec::new()),
            _ => {
                if t.is("{") {
                    depth += 1;
                }
                if t.is("}") {
                    depth -= 1;
                }
                match value.as_mut() {
                    Some(v) => v.push(t.clone()),
                    None => comps.last_mut().expect("never empty").push(t.clone()),
                }
            }
        }
    }
    flush(&mut comps, &mut value);
    out
}
