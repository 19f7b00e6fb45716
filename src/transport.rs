//! The CCP's WebSocket (`*.transport.connect.REGION.amazonaws.com`): contact events, chat and
//! softphone signalling. The catalog can only name it as a wildcard, because each CCP session gets
//! its own host and a presigned URL from the `createTransport` API. With that URL
//! (`check --transport-url wss://…`, or `transport_url` in the site profile) the run tests the
//! host like the browser reaches it: DNS, TCP 443 (or the proxy's CONNECT), TLS (interception
//! named) and a real HTTP/1.1 Upgrade on the URL's path. The URL's query is a short-lived
//! credential: it is sent, never written out.
//!
//! Without the URL, what can be proved still is: where the browser sends names under the wildcard
//! (direct, or which proxy, from `--proxy`, the environment, the OS or the PAC script's answer for
//! such a name), and whether that proxy let a WebSocket Upgrade through to another host of the run.
//! The rest (the names' DNS, TCP and TLS, and the Upgrade to them) is reported as untested.

use tokio_tungstenite::tungstenite::http::Uri;

use crate::catalog::{DomainRequirement, HostPattern, Requirements};
use crate::plan::{self, CheckKind, HostPlan, Plan, Selected};
use crate::ranges::Snapshot;
use crate::report::{Check, Kind, Reason, Status};
use crate::route::Route;

/// A CCP session's WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportUrl {
    pub host: String,
    pub port: u16,
    /// The path, without the query (what the report shows).
    pub path: String,
    /// The path and query as sent in the Upgrade request.
    pub request_target: String,
}

impl TransportUrl {
    /// Reads `wss://HOST[:PORT]/PATH[?QUERY]`. The error never repeats the query.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = text.split('?').next().unwrap_or_default();
        let bad = |why: &str| format!("--transport-url {shown:?}: {why}");
        let uri: Uri = text.trim().parse().map_err(|_| {
            bad("expected a URL like wss://HOST.transport.connect.REGION.amazonaws.com/…")
        })?;
        if uri.scheme_str() != Some("wss") {
            return Err(bad("the CCP's WebSocket is a wss:// URL"));
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad("a user name in the URL is not how the CCP connects"));
        }
        let path = match uri.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        let request_target = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        Ok(Self {
            host,
            port: uri.port_u16().unwrap_or(443),
            path,
            request_target,
        })
    }
}

/// The catalog's WebSocket wildcard of the run (`*.transport…`): a wildcard requirement with a
/// WebSocket.
fn wildcard(requirements: &Requirements) -> Option<&DomainRequirement> {
    requirements
        .domains
        .iter()
        .find(|d| d.websocket && matches!(d.host, HostPattern::Wildcard(_)))
}

/// A name under the wildcard, to ask the proxy settings and PAC script about.
pub(crate) fn sample_name(requirements: &Requirements) -> Option<String> {
    match &wildcard(requirements)?.host {
        HostPattern::Wildcard(suffix) => Some(format!("x.{suffix}")),
        HostPattern::Exact(_) | HostPattern::Label { .. } => None,
    }
}

/// Puts the URL's host in the plan in place of the untested wildcard: DNS, TCP, TLS and the
/// WebSocket upgrade on the URL's path (its query too). Without a URL, the wildcard's untested
/// entry says exactly what stays untested. A URL whose host is not under the Region's wildcard is
/// a usage error.
pub(crate) fn apply(
    plan: &mut Plan,
    requirements: &Requirements,
    snapshot: &Snapshot,
    selected: &Selected,
    url: Option<&TransportUrl>,
) -> Result<(), String> {
    let Some(req) = wildcard(requirements) else {
        return match url {
            Some(_) => Err("--transport-url: this run's catalog has no WebSocket wildcard (*.transport…) to test it for".to_owned()),
            None => Ok(()),
        };
    };
    let untested_id = format!("untested/{}", req.id);
    let Some(url) = url else {
        if let Some(u) = plan.untested.iter_mut().find(|u| u.id == untested_id) {
            u.why =
                "each CCP session gets its own name under this wildcard, with a presigned URL: \
                     the names' DNS, TCP 443, TLS and the WebSocket upgrade are not tested (give a \
                     session's URL with --transport-url, or the agent's CCP log with --ccp-log, to \
                     test them; the route is reported below)"
                    .to_owned();
        }
        return Ok(());
    };
    if !req.host.matches(&url.host) {
        return Err(format!(
            "--transport-url: {} is not under {}, the WebSocket host of this Region",
            url.host, req.allowlist
        ));
    }
    if !selected.has(CheckKind::Websocket) {
        return Ok(());
    }
    plan.untested.retain(|u| u.id != untested_id);
    let mut concrete = req.clone();
    concrete.probe = Some(url.host.clone());
    let host = session_host(requirements, &concrete, url, snapshot, selected);
    plan.hosts.retain(|h| h.host != url.host);
    plan.hosts.push(host);
    Ok(())
}

/// Whether the run's WebSocket wildcard (`*.transport…`) covers `host`: a session URL for it
/// stands in for the wildcard's untested entry.
pub(crate) fn covers(requirements: &Requirements, host: &str) -> bool {
    wildcard(requirements).is_some_and(|req| req.host.matches(host))
}

/// The checks of one concrete WebSocket endpoint, planned by [`plan::host_plan`] from `req` (which
/// must name `url.host`, as its exact host or its probe): DNS, TCP and TLS on the URL's port, and
/// the Upgrade on its path (the query is sent, the step's id shows the path only). No HTTPS
/// request: a WebSocket endpoint answers nothing else.
pub(crate) fn session_host(
    requirements: &Requirements,
    req: &DomainRequirement,
    url: &TransportUrl,
    snapshot: &Snapshot,
    selected: &Selected,
) -> HostPlan {
    let mut host = plan::host_plan(requirements, req, &url.host, snapshot, selected);
    host.port = url.port;
    host.steps.retain(|s| s.kind != Kind::Https);
    for step in &mut host.steps {
        match step.kind {
            Kind::Tcp => step.id = format!("tcp/{}:{}", url.host, url.port),
            Kind::Tls => step.id = format!("tls/{}:{}", url.host, url.port),
            Kind::Websocket => {
                step.id = format!("websocket/{}:{}{}", url.host, url.port, url.path);
                step.path = Some(url.request_target.clone());
            }
            _ => {}
        }
    }
    host
}

/// Without a URL: where the browser sends names under the wildcard, and what the run's other
/// WebSocket upgrades through the same route say. `checks` are the run's.
pub(crate) fn route_check(
    requirements: &Requirements,
    plan: &Plan,
    settings: &Route,
    checks: &[Check],
) -> Option<Check> {
    let req = wildcard(requirements)?;
    let name = sample_name(requirements)?;
    if plan
        .untested
        .iter()
        .all(|u| u.id != format!("untested/{}", req.id))
    {
        return None;
    }
    let proxy = settings.proxy_for(&name);
    // What a session's URL would add: through a proxy the browser neither resolves nor connects
    // to the names itself, the proxy does.
    let (route, untested) = match (settings.unsupported_route(&name), proxy) {
        (Some(r), _) => (
            format!("by {r}, a route this tool cannot test"),
            "their DNS, TCP 443, TLS and the upgrade to them",
        ),
        (None, Some(p)) => (
            format!("through the proxy {p}"),
            "whether the proxy accepts a CONNECT to them, their TLS through it and the upgrade \
             to them",
        ),
        (None, None) => (
            "direct".to_owned(),
            "their DNS, TCP 443, TLS and the upgrade to them",
        ),
    };
    let on_route = |c: &&Check| {
        c.host.as_deref().is_some_and(|h| {
            settings.proxy_for(h).map(ToString::to_string) == proxy.map(ToString::to_string)
        })
    };
    let same_route: Vec<&Check> = checks
        .iter()
        .filter(|c| c.kind == Kind::Websocket && c.status != Status::Skip)
        .filter(on_route)
        .collect();
    let mut upgrade = match same_route.first() {
        Some(other) if other.status == Status::Pass => format!(
            "the same route let the WebSocket upgrade to {} through ({})",
            other.host.as_deref().unwrap_or_default(),
            other.id
        ),
        Some(other) => format!(
            "the same route did not let the WebSocket upgrade to {} through ({}: {}); expect the same for these names",
            other.host.as_deref().unwrap_or_default(),
            other.id,
            other.reason
        ),
        None => "no other host of this run answers WebSocket on the same route (a CCP v2 run has \
                 none but the transport), so whether this route passes WebSocket upgrades is not \
                 tested"
            .to_owned(),
    };
    // TLS inspection on the route: the device reads the Upgrade, and often breaks it.
    if let Some(inspected) = checks
        .iter()
        .filter(|c| c.kind == Kind::Tls && c.reason == Reason::Intercepted)
        .find(on_route)
    {
        upgrade.push_str(&format!(
            "; TLS on this route is inspected ({}), and inspecting proxies often strip or refuse \
             upgrades",
            inspected.id
        ));
    }
    let mut check = Check::new(
        format!("websocket/route/{}", req.allowlist),
        Kind::Websocket,
        Status::Info,
        Reason::NotTested,
        format!(
            "names under {} go {route} ({}); {upgrade}. Not tested without a session's URL \
             (--transport-url, or --ccp-log with the agent's CCP log): {untested}",
            req.allowlist, settings.route_source
        ),
    )
    .allowlist(req.allowlist.to_string())
    .evidence("name_asked", &name);
    for (key, value) in settings.route_evidence(&name) {
        check = check.evidence(key, value);
    }
    if let Some(other) = same_route.first() {
        check = check.evidence("upgrade_seen", &other.id);
    }
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_url_is_read_and_its_query_is_never_shown() {
        let u = TransportUrl::parse(
            "wss://abc123.transport.connect.eu-central-1.amazonaws.com/?AuthToken=secret",
        )
        .unwrap();
        assert_eq!(
            u.host,
            "abc123.transport.connect.eu-central-1.amazonaws.com"
        );
        assert_eq!((u.port, u.path.as_str()), (443, "/"));
        assert_eq!(u.request_target, "/?AuthToken=secret");
        let u = TransportUrl::parse("wss://h.example:8443/ws").unwrap();
        assert_eq!((u.port, u.request_target.as_str()), (8443, "/ws"));
        let e = TransportUrl::parse("https://h.example/?AuthToken=secret").unwrap_err();
        assert!(e.contains("wss://") && !e.contains("secret"), "{e}");
        assert!(
            TransportUrl::parse("not a url ?secret")
                .unwrap_err()
                .contains("expected a URL")
        );
    }

    fn requirements() -> Requirements {
        let catalog = crate::catalog::Catalog::embedded();
        let selection = crate::catalog::Selection {
            region: "eu-central-1".to_owned(),
            ..crate::catalog::Selection::default()
        };
        catalog.requirements(&selection).unwrap()
    }

    #[test]
    fn the_url_replaces_the_untested_wildcard_with_dns_tcp_tls_and_the_upgrade() {
        let req = requirements();
        let snapshot = crate::ranges::Snapshot::embedded();
        let selected = Selected::default();
        let mut plan = plan::build(&req, &snapshot, &selected);
        assert!(
            plan.untested
                .iter()
                .any(|u| u.id == "untested/transport/eu-central-1")
        );
        let url =
            TransportUrl::parse("wss://abc.transport.connect.eu-central-1.amazonaws.com/?token=t")
                .unwrap();
        apply(&mut plan, &req, &snapshot, &selected, Some(&url)).unwrap();
        assert!(
            plan.untested
                .iter()
                .all(|u| u.id != "untested/transport/eu-central-1")
        );
        let host = plan.hosts.last().unwrap();
        let steps: Vec<(String, Option<String>)> = host
            .steps
            .iter()
            .map(|s| (s.id.clone(), s.path.clone()))
            .collect();
        let h = "abc.transport.connect.eu-central-1.amazonaws.com";
        assert_eq!(
            steps,
            vec![
                (format!("dns/{h}"), None),
                (format!("tcp/{h}:443"), None),
                (format!("tls/{h}:443"), None),
                (format!("websocket/{h}:443/"), Some("/?token=t".to_owned())),
            ]
        );
        let elsewhere =
            TransportUrl::parse("wss://abc.transport.connect.us-east-1.amazonaws.com/").unwrap();
        let e = apply(&mut plan, &req, &snapshot, &selected, Some(&elsewhere)).unwrap_err();
        assert!(
            e.contains("is not under *.transport.connect.eu-central-1.amazonaws.com"),
            "{e}"
        );
    }

    #[test]
    fn without_a_url_the_untested_entry_says_what_stays_untested() {
        let req = requirements();
        let snapshot = crate::ranges::Snapshot::embedded();
        let selected = Selected::default();
        let mut plan = plan::build(&req, &snapshot, &selected);
        apply(&mut plan, &req, &snapshot, &selected, None).unwrap();
        let u = plan
            .untested
            .iter()
            .find(|u| u.id == "untested/transport/eu-central-1")
            .unwrap();
        assert!(
            u.why
                .contains("DNS, TCP 443, TLS and the WebSocket upgrade are not tested")
        );
        assert_eq!(
            sample_name(&req).as_deref(),
            Some("x.transport.connect.eu-central-1.amazonaws.com")
        );
    }
}
