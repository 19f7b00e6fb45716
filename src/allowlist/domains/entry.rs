//! One entry of a domain list read and normalised: a host, `host:port`, `*.suffix`, squid's
//! `.suffix`, an AWS label wildcard or a URL, or an address that is not a domain.

use std::net::IpAddr;

use super::Pattern;
use crate::error::Result;

pub(super) const EXPECTED: &str = "a host name (acme.my.connect.aws), a wildcard (*.cloudfront.net or .cloudfront.net) or a URL (https://acme.my.connect.aws/ccp-v2/*)";

/// What one written entry means, before it gets a place in a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Entry {
        pattern: Pattern,
        port: Option<u16>,
        path: Option<String>,
    },
    /// An IP literal: not a domain.
    Address(IpAddr),
}

/// Reads one entry: `host`, `host:port`, `*.suffix`, `.suffix`, or a URL.
pub(crate) fn parse_entry(text: &str) -> Result<Parsed, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    let default_port = match scheme.as_deref() {
        None => None,
        Some("https" | "wss") => Some(443),
        Some("http" | "ws") => Some(80),
        Some(other) => {
            return Err(format!(
                "{EXPECTED}; the scheme {other:?} is not one a browser uses (https, http, wss, ws)"
            ));
        }
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // A bracketed IPv6 literal, with or without a port.
    if let Some(inner) = authority.strip_prefix('[') {
        let addr = inner.split(']').next().unwrap_or_default();
        return addr
            .parse::<IpAddr>()
            .map(Parsed::Address)
            .map_err(|_| EXPECTED.to_owned());
    }
    // Only text of hex digits, dots and colons can be an address; names rarely are.
    let maybe_address = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    };
    if maybe_address(authority) {
        if let Ok(addr) = authority.parse::<IpAddr>() {
            return Ok(Parsed::Address(addr));
        }
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{EXPECTED}; {port:?} is not a port number"))?;
            (host, Some(port))
        }
        None => (authority, default_port),
    };
    if maybe_address(host) {
        if let Ok(addr) = host.parse::<IpAddr>() {
            return Ok(Parsed::Address(addr));
        }
    }
    let path = path
        .map(|p| p.split(['?', '#']).next().unwrap_or_default())
        .map(|p| p.trim_end_matches('*'))
        .filter(|p| !p.is_empty() && *p != "/")
        .map(str::to_owned);
    let pattern = if host == "*" {
        Pattern::Below(String::new())
    } else if let Some(suffix) = host.strip_prefix("*.") {
        Pattern::Below(normalize(suffix)?)
    } else if let Some(glob) = label_wildcard(host)? {
        glob
    } else if let Some(suffix) = host.strip_prefix('.') {
        Pattern::AtOrBelow(normalize(suffix)?)
    } else {
        Pattern::Exact(normalize(host)?)
    };
    Ok(Parsed::Entry {
        pattern,
        port,
        path,
    })
}

/// AWS's wildcard at the end of a first label (`TurnNlb-*.elb.us-east-1.amazonaws.com`,
/// `rtc*.connect-telecom.us-east-1.amazonaws.com`): `head*.rest`, the head not empty. `None` for
/// a name without `*`; any other place for a `*` is refused.
pub(super) fn label_wildcard(host: &str) -> Result<Option<Pattern>, String> {
    let Some((head, tail)) = host.split_once('*') else {
        return Ok(None);
    };
    let Some(rest) = tail.strip_prefix('.') else {
        return Err(format!(
            "{EXPECTED}; a \"*\" inside a name must end its first label, as in TurnNlb-*.elb.us-east-1.amazonaws.com"
        ));
    };
    let head_is_a_label_start = !head.is_empty()
        && !head.starts_with('-')
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !head_is_a_label_start || rest.contains('*') {
        return Err(format!(
            "{EXPECTED}; a \"*\" inside a name must end its first label, after at least one character, as in TurnNlb-*.elb.us-east-1.amazonaws.com"
        ));
    }
    let rest = normalize(rest)?;
    Ok(Some(Pattern::Glob {
        head: head.to_ascii_lowercase(),
        tail: format!(".{rest}"),
    }))
}

/// Lower case, no root dot, internationalised names in their `xn--` form.
pub(crate) fn normalize(host: &str) -> Result<String, String> {
    let trimmed = super::super::without_last(host, b'.');
    if trimmed.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    if let Some(plain) = plain_ascii_name(trimmed) {
        return Ok(plain);
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| format!("{EXPECTED}; {host:?} is not a valid internationalised name"))?;
    if ascii.len() > 253 {
        return Err(format!(
            "{EXPECTED}; the name is longer than 253 characters"
        ));
    }
    for label in ascii.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!("{EXPECTED}; {label:?} is not a valid label"));
        }
    }
    Ok(ascii)
}

/// A name of ASCII letters, digits, `-` and `_` in valid labels, none of them `xn--` (whose
/// Punycode IDNA must check): IDNA gives it back in lower case and nothing else, so it is read
/// without IDNA. `None` for any other name, which takes the whole way.
pub(super) fn plain_ascii_name(name: &str) -> Option<String> {
    if name.len() > 253 {
        return None;
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let fine = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            && !bytes
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"));
        if !fine {
            return None;
        }
    }
    Some(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(text: &str) -> Parsed {
        parse_entry(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn entry_forms() {
        let table: &[(&str, Pattern, Option<u16>, Option<&str>)] = &[
            (
                "acme.my.connect.aws",
                Pattern::Exact("acme.my.connect.aws".into()),
                None,
                None,
            ),
            (
                "ACME.My.Connect.AWS.",
                Pattern::Exact("acme.my.connect.aws".into()),
                None,
                None,
            ),
            (
                "*.cloudfront.net",
                Pattern::Below("cloudfront.net".into()),
                None,
                None,
            ),
            (
                ".cloudfront.net",
                Pattern::AtOrBelow("cloudfront.net".into()),
                None,
                None,
            ),
            ("*", Pattern::Below(String::new()), None, None),
            (
                "https://acme.my.connect.aws/ccp-v2/*",
                Pattern::Exact("acme.my.connect.aws".into()),
                Some(443),
                Some("/ccp-v2/"),
            ),
            (
                "https://*.transport.connect.eu-central-1.amazonaws.com/",
                Pattern::Below("transport.connect.eu-central-1.amazonaws.com".into()),
                Some(443),
                None,
            ),
            (
                "http://a.example:8080",
                Pattern::Exact("a.example".into()),
                Some(8080),
                None,
            ),
            (
                "wss://a.example/x?y=1",
                Pattern::Exact("a.example".into()),
                Some(443),
                Some("/x"),
            ),
            (
                "a.example:443",
                Pattern::Exact("a.example".into()),
                Some(443),
                None,
            ),
            (
                "bücher.example",
                Pattern::Exact("xn--bcher-kva.example".into()),
                None,
                None,
            ),
            (
                "*.BÜCHER.example.",
                Pattern::Below("xn--bcher-kva.example".into()),
                None,
                None,
            ),
            (
                "_sip.example",
                Pattern::Exact("_sip.example".into()),
                None,
                None,
            ),
        ];
        for (text, pattern, port, path) in table {
            assert_eq!(
                entry(text),
                Parsed::Entry {
                    pattern: pattern.clone(),
                    port: *port,
                    path: path.map(str::to_owned)
                },
                "{text}"
            );
        }
    }

    #[test]
    fn addresses_are_not_domains_and_junk_is_refused() {
        assert_eq!(
            entry("15.193.0.1"),
            Parsed::Address("15.193.0.1".parse().unwrap())
        );
        assert_eq!(
            entry("https://[2600:f0f2::1]:443/"),
            Parsed::Address("2600:f0f2::1".parse().unwrap())
        );
        assert_eq!(
            entry("10.0.0.1:443"),
            Parsed::Address("10.0.0.1".parse().unwrap())
        );
        for bad in [
            "a..b",
            "a b",
            "ftp://a.example",
            "a.example:http",
            "*a.example",
            "a.*.example",
            ".",
            "-",
            "a.example:0",
            "exa$mple.com",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad}");
        }
        assert!(
            parse_entry("ftp://a.example")
                .unwrap_err()
                .contains("scheme")
        );
    }

    proptest! {
        /// Plain ASCII names read without IDNA come out as IDNA gives them.
        #[test]
        fn plain_ascii_names_are_what_idna_gives(
            labels in proptest::collection::vec("(xn--|XN--|-|_)?[a-zA-Z0-9_-]{0,6}(-)?", 1..5),
        ) {
            let name = labels.join(".");
            if let Some(plain) = plain_ascii_name(&name) {
                let idna = idna::domain_to_ascii(&name);
                proptest::prop_assert_eq!(Ok(plain), idna.map_err(|_| ()), "{}", name);
            }
        }
    }
}
