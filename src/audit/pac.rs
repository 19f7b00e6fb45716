//! What a PAC script's answer means for each required host: the browser tries the entries in
//! order and moves on only when a proxy cannot be reached. DIRECT leaves the host to the
//! firewall; a real proxy leaves it to that proxy's own allow-list (which this file does not
//! show); a proxy that cannot work (`0.0.0.0`, loopback, an unfilled template placeholder, a name
//! reserved never to resolve) is skipped after a failed attempt, and when nothing else is left the
//! browser cannot reach the host.

use std::net::IpAddr;
use std::path::Path;

use crate::allowlist::pac;
use crate::catalog::{DomainRequirement, HostPattern};
use crate::error::Result;
use crate::net::Protocol;
use crate::remedy;
use crate::report::{Check, Kind, Reason, Status};

/// One entry of a PAC answer, as the browser takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Hop {
    Direct,
    /// A proxy the browser can try: `PROXY host:port` (or HTTPS, SOCKS…).
    Proxy(String),
    /// A proxy that cannot work, and why.
    Unusable(String, String),
    /// Not an entry a browser understands: skipped.
    Invalid(String, String),
}

/// Reads one entry of a PAC answer.
pub(crate) fn hop(entry: &str) -> Hop {
    let mut words = entry.split_whitespace();
    let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
    let address = words.next();
    let extra = words.next();
    if keyword == "DIRECT" && address.is_none() {
        return Hop::Direct;
    }
    if !matches!(
        keyword.as_str(),
        "PROXY" | "HTTP" | "HTTPS" | "SOCKS" | "SOCKS4" | "SOCKS5"
    ) {
        return Hop::Invalid(
            entry.to_owned(),
            "not DIRECT, PROXY, HTTPS or SOCKS".to_owned(),
        );
    }
    let rest = entry.trim_start().get(keyword.len()..).unwrap_or("").trim();
    if ["{{", "${", "<%", "%", "<", ">"]
        .iter()
        .any(|marker| rest.contains(marker))
    {
        return Hop::Unusable(
            entry.to_owned(),
            format!("{rest:?} is an unfilled template placeholder, not host:port"),
        );
    }
    let (Some(address), None) = (address, extra) else {
        return Hop::Invalid(entry.to_owned(), "expected one host:port".to_owned());
    };
    if address.contains("://") {
        return Hop::Invalid(
            entry.to_owned(),
            "a PAC entry names host:port, not a URL".to_owned(),
        );
    }
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (address, None),
        }
    } else {
        match address.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => (address, None),
            None => (address, None),
        }
    };
    let unusable = |why: String| Hop::Unusable(entry.to_owned(), why);
    match port {
        Some(p) if p.parse::<u16>().ok().filter(|p| *p != 0).is_none() => {
            return unusable(format!(
                "the port {p:?} is not a number: an unfilled template placeholder?"
            ));
        }
        _ => {}
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return unusable(format!(
                "{ip} is no address a connection can go to: a black hole"
            ));
        }
        if ip.is_loopback() {
            return unusable(format!(
                "{ip} is the agent's own machine, where no proxy is known to listen"
            ));
        }
        return Hop::Proxy(entry.to_owned());
    }
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return unusable(format!(
            "{host} is the agent's own machine, where no proxy is known to listen"
        ));
    }
    let name_chars = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    let shouting = !host.contains('.')
        && host.contains('_')
        && host
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let all_x = host.split('.').all(|l| l.eq_ignore_ascii_case("x"));
    if host.is_empty() || !name_chars || shouting || all_x {
        return unusable(format!(
            "{host:?} is an unfilled template placeholder, not a host name"
        ));
    }
    let reserved = ["example", "invalid", "test"]
        .iter()
        .any(|tld| lower == *tld || lower.ends_with(&format!(".{tld}")))
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| lower == *d || lower.ends_with(&format!(".{d}")));
    if reserved {
        return unusable(format!(
            "{host} is a name reserved never to resolve (RFC 2606, RFC 6761)"
        ));
    }
    Hop::Proxy(entry.to_owned())
}

/// Where the browser ends up for one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    /// The entry that carries the request (`None`: none can).
    pub chosen: Option<Hop>,
    /// Entries tried and failed before it, or skipped, with why.
    pub skipped: Vec<(String, String)>,
}

pub(crate) fn outcome(route: &pac::Route) -> Outcome {
    let mut skipped = Vec::new();
    for entry in route.entries() {
        match hop(&entry) {
            Hop::Unusable(e, why) | Hop::Invalid(e, why) => skipped.push((e, why)),
            chosen => {
                return Outcome {
                    chosen: Some(chosen),
                    skipped,
                };
            }
        }
    }
    Outcome {
        chosen: None,
        skipped,
    }
}

fn skipped_text(skipped: &[(String, String)]) -> String {
    skipped
        .iter()
        .map(|(e, why)| format!("`{e}` ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a PAC script sends each required host, and what that means.
pub(crate) fn audit_pac(
    text: &str,
    path: &Path,
    requirements: &[DomainRequirement],
) -> Result<Vec<Check>> {
    let file = path.display().to_string();
    let names: Vec<String> = requirements
        .iter()
        .map(|r| match (&r.host, r.concrete_host()) {
            (_, Some(host)) => host.to_owned(),
            (HostPattern::Wildcard(suffix), None) => format!("probe.{suffix}"),
            (HostPattern::Exact(host), None) => host.clone(),
            (HostPattern::Label { head, tail }, None) => format!("{head}probe{tail}"),
        })
        .collect();
    let requests: Vec<(String, String)> = requirements
        .iter()
        .zip(&names)
        .map(|(r, name)| {
            let path = r.paths.first().map_or("/", String::as_str);
            (format!("https://{name}{path}"), name.clone())
        })
        .collect();
    let routes = pac::evaluate(text, path, &requests)?;
    let mut checks = Vec::new();
    for ((req, (url, name)), route) in requirements.iter().zip(&requests).zip(routes) {
        let id = format!("allowlist/pac/{}", req.id);
        let udp = req.ports.iter().all(|p| p.proto == Protocol::Udp);
        let stand_in = if name == &req.host.to_string() {
            String::new()
        } else {
            format!(" (standing in for {})", req.host)
        };
        let mut check = match route {
            _ if udp => Check::new(
                id,
                Kind::Allowlist,
                Status::Info,
                Reason::NotTested,
                format!(
                    "{} carries UDP media, which no proxy carries: whatever {file} says, the firewall must pass {} to it",
                    req.host,
                    req.ports
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            Ok(route) if route.entries().is_empty() => Check::new(
                id,
                Kind::Allowlist,
                Status::Warn,
                Reason::Undetermined,
                format!(
                    "FindProxyForURL in {file} returns nothing for {url}{stand_in}: browsers differ in what they do then"
                ),
            )
            .remedy(remedy::pac_returns_nothing(&file, &req.host.to_string()))
            .evidence("pac_result", &route.raw)
            .evidence("url", url),
            Ok(route) => {
                let found = outcome(&route);
                let skipped = skipped_text(&found.skipped);
                let check = match &found.chosen {
                    Some(Hop::Direct) if found.skipped.is_empty() => Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Pass,
                        Reason::Ok,
                        format!(
                            "{file} sends {url}{stand_in} DIRECT: the firewall decides (audit it with --cidrs)"
                        ),
                    ),
                    Some(Hop::Direct) => Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Warn,
                        Reason::UnusableProxy,
                        format!(
                            "{file} sends {url}{stand_in} first to {skipped}; the browser goes DIRECT only after that fails, on every new connection it makes"
                        ),
                    )
                    .remedy(remedy::pac_unusable_first(&file, &req.host.to_string())),
                    Some(Hop::Proxy(entry)) => {
                        let mut detail = format!(
                            "{file} sends {url}{stand_in} through `{entry}`: that proxy's own allow-list decides, which this file does not show"
                        );
                        if !found.skipped.is_empty() {
                            detail.push_str(&format!(" (tried first and failing: {skipped})"));
                        }
                        if req.websocket {
                            detail.push_str(
                                "; it carries a WebSocket, which some proxies break",
                            );
                        }
                        Check::new(id, Kind::Allowlist, Status::Warn, Reason::DecidedByProxy, detail)
                            .remedy(remedy::pac_through_proxy(&file, &req.host.to_string()))
                    }
                    _ => Check::new(
                        id,
                        Kind::Allowlist,
                        Status::Fail,
                        Reason::UnusableProxy,
                        format!(
                            "{file} sends {url}{stand_in} only to {skipped}: the browser cannot reach the host"
                        ),
                    )
                    .remedy(remedy::pac_no_usable_route(&file, &req.host.to_string())),
                };
                check.evidence("pac_result", &route.raw).evidence("url", url)
            }
            Err(message) => Check::new(
                id,
                Kind::Allowlist,
                Status::Warn,
                Reason::SkippedEntry,
                format!("FindProxyForURL in {file} failed for {url}{stand_in}: {message}"),
            )
            .remedy(remedy::pac_failed(&file, &req.host.to_string())),
        };
        check = check.host(req.host.to_string());
        if let Some(port) = req.ports.first() {
            check = check.endpoint(port.first, port.proto);
        }
        checks.push(check.evidence("requirement", &req.id));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(raw: &str) -> Outcome {
        outcome(&pac::Route {
            raw: raw.to_owned(),
            first: String::new(),
        })
    }

    #[test]
    fn entries_that_cannot_work_are_told_apart_from_real_proxies() {
        for dead in [
            "PROXY 0.0.0.0:3128",
            "PROXY 127.0.0.1:9989",
            "PROXY [::1]:8080",
            "PROXY localhost:3128",
            "PROXY PAC_FQDN:8080",
            "PROXY ${PROXY_HOST}:8080",
            "PROXY {{ proxy }}:8080",
            "PROXY proxy.example.com:8080",
            "PROXY proxy.corp.invalid:8080",
            "PROXY proxy:port",
            "PROXY x.x.x.x:8080",
        ] {
            assert!(matches!(hop(dead), Hop::Unusable(..)), "{dead}");
        }
        for real in [
            "PROXY proxy01.cc.acme-corp.net:3128",
            "PROXY 10.42.4.159:8090",
            "SOCKS5 150.230.96.150:19291",
            "HTTPS [2001:db8::1]:443",
            "PROXY proxy",
        ] {
            assert!(matches!(hop(real), Hop::Proxy(_)), "{real}");
        }
        assert_eq!(hop("DIRECT"), Hop::Direct);
        assert!(matches!(hop("PROXY http://x:1"), Hop::Invalid(..)));
        assert!(matches!(hop("BLOCK"), Hop::Invalid(..)));
    }

    #[test]
    fn fallbacks_are_taken_in_order() {
        let o = chosen("PROXY 0.0.0.0:3128; DIRECT");
        assert_eq!(o.chosen, Some(Hop::Direct));
        assert_eq!(o.skipped.len(), 1);
        let o = chosen("PROXY 0.0.0.0:3128; PROXY 127.0.0.1:1");
        assert_eq!(o.chosen, None);
        let o = chosen("PROXY p.acme-corp.net:3128; DIRECT");
        assert_eq!(
            o.chosen,
            Some(Hop::Proxy("PROXY p.acme-corp.net:3128".into()))
        );
    }
}
