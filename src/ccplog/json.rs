//! JSON inside log texts, as the CCP leaves it: often whole, sometimes cut short.
//!
//! Streams' redaction (`redactSensitiveInfo`, amazon-connect-streams src/log.js:194-245) blanks
//! everything from `AuthToken`, `Phone number` or `Send digit` to the end of a text, so a JSON
//! document logged inside a text can stop anywhere. What parses is kept: a cut document is closed
//! at the last complete value, and an array of objects keeps every whole object before the cut.

use serde_json::Value;

/// A document read from a text: whole, or the part before a cut.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Whole(Value),
    /// The document was cut; this is what came before the cut.
    Cut(Value),
    /// Nothing could be read.
    Unreadable,
}

impl Parsed {
    pub(crate) fn value(&self) -> Option<&Value> {
        match self {
            Self::Whole(v) | Self::Cut(v) => Some(v),
            Self::Unreadable => None,
        }
    }
}

/// Reads the JSON document starting at the first `{` or `[` of `text`.
pub fn parse(text: &str) -> Parsed {
    let Some(start) = text.find(['{', '[']) else {
        return Parsed::Unreadable;
    };
    let text = text[start..].trim_end();
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Parsed::Whole(value);
    }
    match repair(text) {
        Some(value) => Parsed::Cut(value),
        None => Parsed::Unreadable,
    }
}

/// Closes a cut document: first as it stands (a string left open is closed), then at the last
/// comma outside a string, where the value before it is complete.
fn repair(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    // (byte offset of a comma outside strings, the open containers there)
    let mut last_comma: Option<(usize, Vec<u8>)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => stack.push(b),
            b'}' | b']' => {
                stack.pop();
                if stack.is_empty() {
                    // A whole document followed by something else: keep the document.
                    return serde_json::from_str(&text[..=i]).ok();
                }
            }
            b',' => last_comma = Some((i, stack.clone())),
            _ => {}
        }
    }
    let closers = |stack: &[u8]| -> String {
        stack
            .iter()
            .rev()
            .map(|&open| if open == b'{' { '}' } else { ']' })
            .collect()
    };
    let mut candidate = text.to_owned();
    if in_string {
        if escaped {
            candidate.pop();
        }
        candidate.push('"');
    }
    candidate.push_str(&closers(&stack));
    if let Ok(value) = serde_json::from_str(&candidate) {
        return Some(value);
    }
    let (at, stack) = last_comma?;
    let mut candidate = text[..at].to_owned();
    candidate.push_str(&closers(&stack));
    serde_json::from_str(&candidate).ok()
}

/// The value of `key` (a string or number) in a text that may not parse at all: the lenient
/// scan the hosted log parser lacks. Returns the raw text of the value.
pub(crate) fn scan_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\"");
    let at = text.find(&pattern)? + pattern.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(body) = rest.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => return Some(&body[..i]),
                _ => {}
            }
        }
        Some(body)
    } else {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_documents_parse_whole() {
        assert_eq!(parse(" x [1,2]"), Parsed::Whole(json!([1, 2])));
        assert_eq!(parse("no json"), Parsed::Unreadable);
    }

    #[test]
    fn a_string_cut_by_redaction_is_closed() {
        // The real fixture's text (pickles/CCPLogParser sample-error-log.txt, entry 3).
        let text = "AWSClient: <-- Operation 'createAdditionalConnection' failed: {\"message\":\"Cannot create new connection by phone number[redacted]\"";
        assert_eq!(
            parse(text),
            Parsed::Cut(
                json!({"message": "Cannot create new connection by phone number[redacted]"})
            )
        );
        assert_eq!(
            parse("{\"a\":1,\"b\":\"AuthToken"),
            Parsed::Cut(json!({"a": 1, "b": "AuthToken"}))
        );
    }

    #[test]
    fn an_array_keeps_its_whole_objects() {
        let text = "[{\"x\":1},{\"y\":2},{\"z\":";
        assert_eq!(parse(text), Parsed::Cut(json!([{"x": 1}, {"y": 2}])));
        assert_eq!(
            parse("{\"a\":{\"b\":[1,2"),
            Parsed::Cut(json!({"a": {"b": [1, 2]}}))
        );
        assert_eq!(parse("{\"k\":"), Parsed::Unreadable);
    }

    #[test]
    fn fields_are_found_in_texts_that_do_not_parse() {
        let text = "{\"statusCode\": 403, \"hostname\":\"acme.my.connect.aws\",\"message\":\"cut";
        assert_eq!(scan_field(text, "statusCode"), Some("403"));
        assert_eq!(scan_field(text, "hostname"), Some("acme.my.connect.aws"));
        assert_eq!(scan_field(text, "message"), Some("cut"));
        assert_eq!(scan_field(text, "absent"), None);
    }
}
