//! Text from the network (certificate names, DNS answers, proxy pages) is untrusted: it must not
//! move the cursor, change colours or reorder text on the terminal that shows it.

/// Replaces control characters (C0, DEL, C1) and Unicode bidirectional controls with visible
/// escapes, and bounds the length.
pub(crate) fn for_terminal(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        match c {
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `text` holds a character [`for_report`] escapes.
pub(crate) fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// [`for_terminal`] for the report model itself, unbounded and keeping line breaks and tabs:
/// what reaches JSON, JUnit or HTML can no longer hold an escape byte or a bidirectional
/// override, whoever reads it later.
pub(crate) fn for_report(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

const fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_what_could_drive_a_terminal() {
        assert_eq!(for_terminal("ok", 10), "ok");
        assert_eq!(for_terminal("a\x1b[31mb", 20), "a\\u{1b}[31mb");
        assert_eq!(for_terminal("x\u{202E}y", 20), "x\\u{202e}y");
        assert_eq!(for_terminal("abcdef", 3), "abc…");
    }

    proptest! {
        #[test]
        fn output_never_holds_control_characters(s in any::<String>()) {
            let out = for_terminal(&s, 1000);
            prop_assert!(!out.chars().any(|c| c.is_control() || is_bidi_control(c)));
        }
    }
}
