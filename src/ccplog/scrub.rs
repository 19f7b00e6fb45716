//! What a CCP log must not pass on: TURN usernames and credentials, tokens, phone numbers, e-mail
//! addresses. Streams redacts some of them (src/log.js:194-245) but not all: the TURN `username`,
//! the second `credential` of a `callConfigJson`, `callContextToken`, `participantToken` and the
//! second `a=ice-pwd` of an SDP are left in clear.
//!
//! The report is built from fields read one by one (hosts, versions, figures); the only free text
//! it carries is an error's own message, and that goes through [`text`] first, which keeps the
//! words support needs and replaces everything shaped like a secret or a customer's number.

use crate::sanitize::for_terminal;

/// Keys whose value is never shown, wherever they appear (`"key":"value"`, `key=value`, `key: value`).
const SECRET_KEYS: &[&str] = &[
    "username",
    "credential",
    "password",
    "token",
    "secret",
    "authorization",
    "auth",
    "ice-pwd",
    "ice-ufrag",
    "signature",
    "x-amz-",
    "phone",
    "email",
    "name",
    "address",
    "attributes",
    "customer",
];

/// A free text from the log made fit for a report: secrets and numbers replaced, URLs cut to
/// scheme, host and path, control characters escaped, at most `max_chars` long.
pub fn text(raw: &str, max_chars: usize) -> String {
    let keyed = redact_keyed(raw);
    let mut out = String::with_capacity(keyed.len());
    for (i, word) in keyed.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&word_of(word));
    }
    for_terminal(&out, max_chars)
}

/// Replaces the value after every secret key.
fn redact_keyed(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let bytes = raw.as_bytes();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(key) {
            let key_end = from + found + key.len();
            from = key_end;
            // The rest of the key name (`usernameHash`, `callContextToken"`), then the separator.
            let mut i = key_end;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let mut j = i;
            while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b'\\' | b' ') {
                j += 1;
            }
            if j >= bytes.len() || !matches!(bytes[j], b':' | b'=') {
                continue;
            }
            j += 1;
            while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b'\\' | b' ') {
                j += 1;
            }
            let start = j;
            while j < bytes.len()
                && !matches!(
                    bytes[j],
                    b'"' | b'\'' | b'\\' | b'&' | b',' | b'}' | b' ' | b'\n' | b'\r'
                )
            {
                j += 1;
            }
            if j > start {
                cuts.push((start, j));
            }
        }
    }
    if cuts.is_empty() {
        return raw.to_owned();
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(raw.len());
    let mut at = 0;
    for (start, end) in cuts {
        if start < at {
            at = at.max(end);
            continue;
        }
        out.push_str(&raw[at..start]);
        out.push_str("[redacted]");
        at = end;
    }
    out.push_str(&raw[at..]);
    out
}

/// One space-separated word: a URL cut to its host and path, an e-mail address, a token, a long
/// number replaced.
fn word_of(word: &str) -> String {
    if let Some(scheme_end) = word.find("://") {
        // The scheme starts after the last character that cannot be in one (which may be wider
        // than a byte).
        let start = word[..scheme_end]
            .char_indices()
            .rev()
            .find(|(_, c)| !c.is_ascii_alphanumeric())
            .map_or(0, |(p, c)| p + c.len_utf8());
        let rest = &word[scheme_end + 3..];
        let end = rest
            .find(['"', '\'', ' ', ',', '}', ')', '\\'])
            .unwrap_or(rest.len());
        let url = &rest[..end];
        let url = url.split(['?', '#']).next().unwrap_or("");
        let url = url.rsplit_once('@').map_or(url, |(_, host)| host);
        let mut out = word_of(&word[..start]);
        out.push_str(&word[start..scheme_end + 3]);
        out.push_str(&tokens_of(url, true));
        out.push_str(&word_of(&rest[end..]));
        return out;
    }
    if let Some(at) = word.find('@') {
        if word[at..].contains('.') && at > 0 {
            return "[email]".to_owned();
        }
    }
    tokens_of(word, false)
}

/// Replaces runs that look like tokens or customer numbers. In a URL's host and path only
/// numbers and tokens longer than a host label are replaced.
fn tokens_of(word: &str, in_url: bool) -> String {
    let mut out = String::with_capacity(word.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() {
            out.push_str(&judge_run(run, in_url));
            run.clear();
        }
    };
    for c in word.chars() {
        let in_run = if in_url {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '=')
        } else {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
        };
        if in_run {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn judge_run(run: &str, in_url: bool) -> String {
    let digits = run.bytes().filter(u8::is_ascii_digit).count();
    let letters = run.bytes().filter(u8::is_ascii_alphabetic).count();
    if is_uuid(run) {
        return run.to_owned();
    }
    // A phone number or an account number: seven digits or more in a row.
    let longest_digits = run
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest_digits >= 7 && letters == 0 {
        return "[number]".to_owned();
    }
    let limit = if in_url { 40 } else { 20 };
    if run.len() >= limit && digits > 0 && letters > 0 {
        return "[token]".to_owned();
    }
    if longest_digits >= 7 {
        return "[token]".to_owned();
    }
    run.to_owned()
}

/// A contact or connection id (8-4-4-4-12 hex digits): what support looks calls up by, kept.
pub(crate) fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A contact id as found in a text, kept only when it has the shape of one.
pub(crate) fn contact_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (is_uuid(raw)
        || (raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
    .then(|| raw.to_owned())
    .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_after_keys_are_replaced() {
        let t = text(
            r#"{"urls":["turn:turnnlb.example:3478?transport=udp"],"username":"1700000000:agentX","credential":"c2VjcmV0"}"#,
            500,
        );
        assert!(!t.contains("agentX") && !t.contains("c2VjcmV0"), "{t}");
        assert!(t.contains("turnnlb.example"), "{t}");
        let t = text("callContextToken=abcDEF123&x=1 participantToken: zzz", 500);
        assert!(!t.contains("abcDEF123") && !t.contains("zzz"), "{t}");
    }

    #[test]
    fn urls_keep_host_and_path_only() {
        let t = text(
            "URL wss://user:pw@rtc.connect-telecom.us-east-1.amazonaws.com/LilyRTC?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr cannot be reached.",
            500,
        );
        assert_eq!(
            t,
            "URL wss://rtc.connect-telecom.us-east-1.amazonaws.com/LilyRTC cannot be reached."
        );
    }

    #[test]
    fn a_scheme_after_a_wide_character_is_cut_on_its_boundary() {
        let t = text(
            "ຐ://host.example/path?token=x and éwss://rtc.example/a",
            500,
        );
        assert!(t.starts_with("ຐ://host.example/path"), "{t}");
        assert!(t.ends_with("éwss://rtc.example/a"), "{t}");
    }

    #[test]
    fn numbers_mails_and_tokens_go_ids_stay() {
        let t = text(
            "call +14155550123 from jane.doe@example.com token eyJhbGciOiJIUzI1NiJ9abc contact 1f3c2a44-0b0d-488f-ac78-8beeebaa627b",
            500,
        );
        assert_eq!(
            t,
            "call [number] from [email] token [token] contact 1f3c2a44-0b0d-488f-ac78-8beeebaa627b"
        );
    }
}
