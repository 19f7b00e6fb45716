//! HTTPS through the path the browser uses: direct, or a CONNECT tunnel through an HTTP proxy. A
//! minimal HTTP/1.1 client whose reads are bounded in size (a response head of at most
//! [`MAX_HEAD`] bytes, no body) and, by the caller, in time. The WebSocket upgrade over the same
//! path is in [`super::ws`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::plan::HostPlan;
use crate::probe::tcp;
use crate::remedy;
use crate::report::{Check, Kind, Proto, Reason, Status};
use crate::sanitize::for_terminal;

/// The largest response head read; a longer one is not HTTP as any service sends it
/// ([`ReadFailure::TooLarge`]).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// At most this many response headers are kept as evidence.
pub(crate) const MAX_HEADERS: usize = 40;

/// How a proxy is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// `CONNECT` over plain TCP (`http://`, PAC `PROXY`).
    Http,
    /// `CONNECT` inside TLS to the proxy (`https://`, PAC `HTTPS`).
    Https,
    /// SOCKS version 5, the name resolved by the proxy (`socks5://`, PAC `SOCKS5`).
    Socks5,
}

impl ProxyKind {
    const fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks5 => "socks5",
        }
    }

    const fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
            Self::Socks5 => 1080,
        }
    }
}

/// A proxy that opens tunnels (`CONNECT`, or SOCKS5), with optional Basic credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    /// `user:password`, base64-encoded for `Proxy-Authorization: Basic`.
    auth: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// Shown without the credentials.
impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.kind.scheme();
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Proxy {
    /// Parses `http://[user:password@]host[:port]`, `https://…` or `socks5://host[:port]` (the
    /// scheme may be left out for http; the port defaults to 80, 443 and 1080).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        let (kind, rest) = if lower.starts_with("http://") {
            (ProxyKind::Http, &text[7..])
        } else if lower.starts_with("https://") {
            (ProxyKind::Https, &text[8..])
        } else if lower.starts_with("socks5://") || lower.starts_with("socks5h://") {
            (
                ProxyKind::Socks5,
                text.split_once("://").map_or("", |(_, r)| r),
            )
        } else if text.contains("://") {
            return Err(format!(
                "only http://, https:// and socks5:// proxies are supported, found {:?}",
                redact(text)
            ));
        } else {
            (ProxyKind::Http, text)
        };
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hp)) => (Some(base64(percent_decode(userinfo).as_bytes())), hp),
            None => (None, rest),
        };
        let bad = || {
            format!(
                "expected a proxy like http://proxy.example:8080, found {:?}",
                redact(text)
            )
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => kind.default_port(),
                None => return Err(bad()),
            };
            (h.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (hostport.to_owned(), kind.default_port()),
            }
        };
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(bad());
        }
        if kind == ProxyKind::Socks5 && auth.is_some() {
            return Err(format!(
                "credentials for a SOCKS5 proxy are not supported, found {:?}",
                redact(text)
            ));
        }
        Ok(Self {
            kind,
            host,
            port,
            auth,
        })
    }
}

/// A proxy URL with any password removed, for messages.
fn redact(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((before, after)) => {
            let scheme = before.split_once("://").map_or("", |(s, _)| s);
            if scheme.is_empty() {
                format!("***@{after}")
            } else {
                format!("{scheme}://***@{after}")
            }
        }
        None => text.to_owned(),
    }
}

/// A response's status line and headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Head {
    pub status: u16,
    /// Header names in lower case; values sanitised and bounded.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no usable response head was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The peer closed before a full head, or sent something that is not HTTP.
    Malformed,
    /// The head did not end within [`MAX_HEAD`] bytes.
    TooLarge,
    Io,
}

/// Whether a header line names its field with something that is not an RFC 9110 token (escape
/// bytes, controls, spaces before the colon): such a head is not HTTP, and nothing of it is kept.
fn has_foreign_name(head: &[u8]) -> bool {
    let mut line_starts = memchr::memmem::find_iter(head, b"\r\n").map(|i| i + 2);
    let mut lines = Vec::new();
    let mut start = line_starts.next();
    while let Some(from) = start {
        let next = line_starts.next();
        lines.push(&head[from..next.map_or(head.len(), |n| n - 2)]);
        start = next;
    }
    lines.into_iter().any(|line| {
        line.iter().position(|&b| b == b':').is_some_and(|colon| {
            colon == 0
                || !line[..colon]
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        })
    })
}

/// Parses a response head (`HTTP/1.1 403 Forbidden\r\nName: value\r\n...`, without the blank
/// line that ends it) with `httparse`. A line that is no header (no colon, only whitespace, an
/// obsolete continuation) is skipped; a header name that is not a token is not HTTP, and then
/// nothing of the head is kept ([`has_foreign_name`]). A header value keeps what it holds,
/// sanitised here, so a proxy's error page with a stray control byte in a header is still read as
/// the proxy's answer: `httparse` refuses such values, so control bytes other than the CRLF line
/// ends are masked for it, and each value is taken from the bytes as received.
pub(crate) fn parse_head(bytes: &[u8]) -> Option<Head> {
    if has_foreign_name(bytes) {
        return None;
    }
    let mut masked = Vec::with_capacity(bytes.len() + 4);
    for (i, &b) in bytes.iter().enumerate() {
        let line_end = (b == b'\r' && bytes.get(i + 1) == Some(&b'\n'))
            || (b == b'\n' && i > 0 && bytes[i - 1] == b'\r');
        // 0xFF is a value byte to httparse (obs-text) and never a name byte.
        masked.push(if (b < 0x20 && b != b'\t' && !line_end) || b == 0x7F {
            0xFF
        } else {
            b
        });
    }
    masked.extend_from_slice(b"\r\n\r\n");
    // A head of MAX_HEAD bytes holds at most this many header lines ("a:\r\n").
    let mut slots = vec![httparse::EMPTY_HEADER; bytes.len() / 4 + 1];
    let mut response = httparse::Response::new(&mut slots);
    let parsed = httparse::ParserConfig::default()
        .ignore_invalid_headers_in_responses(true)
        .parse_response(&mut response, &masked);
    match parsed {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return None,
    }
    let status = response.code?;
    if !(100..=999).contains(&status) {
        return None;
    }
    let base = masked.as_ptr() as usize;
    let headers = response
        .headers
        .iter()
        .take(MAX_HEADERS)
        .map(|h| {
            let value = (h.value.as_ptr() as usize)
                .checked_sub(base)
                .and_then(|start| bytes.get(start..start + h.value.len()))
                .unwrap_or_default();
            (
                h.name.to_ascii_lowercase().chars().take(64).collect(),
                for_terminal(String::from_utf8_lossy(value).trim(), 200),
            )
        })
        .collect();
    Some(Head { status, headers })
}

/// Reads one response head, byte by byte so nothing after it is consumed (the tunnel's TLS
/// starts right after a proxy's `200`). Bounded to [`MAX_HEAD`] bytes; the caller bounds time.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Head, ReadFailure> {
    let mut buf = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while buf.len() < MAX_HEAD {
        match stream.read(&mut byte).await {
            Ok(0) => return Err(ReadFailure::Malformed),
            Ok(_) => buf.push(byte[0]),
            Err(_) => return Err(ReadFailure::Io),
        }
        if buf.ends_with(b"\r\n\r\n") {
            return parse_head(&buf[..buf.len() - 4]).ok_or(ReadFailure::Malformed);
        }
    }
    // An endless head is not an answer any service gives: it fails as such, never as a status.
    Err(ReadFailure::TooLarge)
}

/// Why the path to a host could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathFailure {
    /// No address to connect to (DNS failed).
    NoAddress,
    /// The direct connection failed.
    Direct(SocketAddr, tcp::Failure),
    /// The proxy itself cannot be reached.
    ProxyUnreachable(tcp::Failure),
    /// The proxy answered the CONNECT with something other than 2xx.
    ProxyDenied(Head),
    /// The proxy answered the CONNECT with 407.
    ProxyAuth(Head),
    /// The proxy's answer was not HTTP, or it closed the connection.
    ProxyBroken,
    /// The proxy accepted the connection, then did not answer the CONNECT in time.
    ProxyStalled,
    /// A SOCKS5 proxy wants credentials, which a PAC route cannot give.
    SocksAuth,
    /// A SOCKS5 proxy refused the CONNECT with this reply code.
    SocksDenied(u8),
    /// The TLS handshake with an HTTPS proxy failed.
    ProxyTls,
    /// An HTTPS proxy's certificate is trusted neither by the public roots nor by this workstation.
    ProxyUntrusted,
}

/// Opens a tunnel to `host:port` through `proxy` (HTTP or HTTPS `CONNECT`, or SOCKS5), within
/// `limit`; `trust` verifies an HTTPS proxy's certificate.
pub(crate) async fn tunnel(
    proxy: &Proxy,
    trust: &crate::probe::tls::Trust,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, PathFailure> {
    let ends = tokio::time::Instant::now() + limit;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|_| PathFailure::ProxyUnreachable(tcp::Failure::Unreachable))?
        .take(4)
        .collect();
    let mut last = tcp::Failure::Unreachable;
    let mut stream = None;
    for addr in addrs {
        match tcp::connect(addr, limit).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(f) => last = f,
        }
    }
    let mut stream = stream.ok_or(PathFailure::ProxyUnreachable(last))?;
    // Every stage after the connection is bounded here, inside the caller's limit, so that a
    // proxy that accepts and then hangs is named for that stage rather than as a TCP timeout.
    let left = ends.saturating_duration_since(tokio::time::Instant::now());
    match proxy.kind {
        ProxyKind::Http => {
            tokio::time::timeout_at(ends, connect_request(&mut stream, proxy, host, port))
                .await
                .map_err(|_| PathFailure::ProxyStalled)??;
            Ok(stream)
        }
        ProxyKind::Socks5 => {
            tokio::time::timeout_at(ends, super::proxy::socks5(&mut stream, host, port))
                .await
                .map_err(|_| PathFailure::ProxyStalled)??;
            Ok(stream)
        }
        ProxyKind::Https => tokio::time::timeout_at(
            ends,
            super::proxy::https_tunnel(proxy, trust, stream, host, port, left),
        )
        .await
        .map_err(|_| PathFailure::ProxyStalled)?,
    }
}

/// Sends `CONNECT host:port` on `stream` and reads the proxy's answer.
pub(crate) async fn connect_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), PathFailure> {
    let mut request = format!(
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {}\r\n",
        user_agent()
    );
    if let Some(auth) = &proxy.auth {
        request.push_str(&format!("Proxy-Authorization: Basic {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|_| PathFailure::ProxyBroken)?;
    let head = read_head(stream)
        .await
        .map_err(|_| PathFailure::ProxyBroken)?;
    match head.status {
        200..=299 => Ok(()),
        407 => Err(PathFailure::ProxyAuth(head)),
        _ => Err(PathFailure::ProxyDenied(head)),
    }
}

pub(crate) fn user_agent() -> String {
    format!("connect-preflight/{}", env!("CARGO_PKG_VERSION"))
}

/// The check for a path that could not be opened (used by the TCP step through a proxy, and by
/// later steps when the path fails between steps).
pub(crate) fn path_check(
    id: String,
    kind: Kind,
    plan: &HostPlan,
    proxy: &str,
    failure: &PathFailure,
) -> Check {
    let host = &plan.host;
    let port = plan.port;
    let base = |status, reason, detail: String| {
        Check::new(id.clone(), kind, status, reason, detail)
            .host(host)
            .endpoint(port, Proto::Tcp)
            .evidence("via", proxy)
            .allowlist(&plan.allowlist)
    };
    match failure {
        PathFailure::NoAddress => base(
            Status::Skip,
            Reason::NotTested,
            format!("{host} has no address to connect to"),
        ),
        PathFailure::Direct(addr, f) => base(
            Status::Fail,
            f.reason(),
            format!("TCP {port} to {addr} fails ({})", f.reason()),
        )
        .remedy({
            let ip = addr.ip().to_string();
            match f {
                tcp::Failure::Refused => remedy::tcp_refused(&ip, port, None, &plan.allowlist),
                tcp::Failure::Timeout => remedy::tcp_timeout(&ip, port, None, &plan.allowlist),
                tcp::Failure::Unreachable => {
                    remedy::tcp_unreachable(&ip, port, None, &plan.allowlist)
                }
            }
        }),
        PathFailure::ProxyUnreachable(f) => base(
            Status::Fail,
            f.reason(),
            format!("the proxy {proxy} cannot be reached ({})", f.reason()),
        )
        .remedy(remedy::proxy_unreachable(proxy)),
        PathFailure::ProxyAuth(head) => base(
            Status::Fail,
            Reason::ProxyAuthRequired,
            format!("the proxy {proxy} asks for credentials (HTTP 407) to reach {host}:{port}"),
        )
        .remedy(remedy::proxy_auth_required(proxy, &plan.allowlist))
        .evidence("proxy_status", head.status)
        .evidence("proxy_headers", &head.headers),
        PathFailure::ProxyDenied(head) => base(
            Status::Fail,
            Reason::ProxyDenied,
            format!(
                "the proxy {proxy} refuses CONNECT to {host}:{port} (HTTP {})",
                head.status
            ),
        )
        .remedy(remedy::proxy_denied(proxy, host, port, &plan.allowlist))
        .evidence("proxy_status", head.status)
        .evidence("proxy_headers", &head.headers),
        PathFailure::ProxyBroken => base(
            Status::Fail,
            Reason::ProxyDenied,
            format!("the proxy {proxy} closed the CONNECT to {host}:{port} without an HTTP answer"),
        )
        .remedy(remedy::proxy_denied(proxy, host, port, &plan.allowlist)),
        PathFailure::ProxyStalled => base(
            Status::Fail,
            Reason::Stalled,
            format!(
                "the proxy {proxy} accepted the connection but did not answer the CONNECT to {host}:{port} in time"
            ),
        )
        .remedy(remedy::stalled(
            host,
            "the proxy's answer to CONNECT",
            &format!("through the proxy {proxy}"),
            &plan.allowlist,
        ))
        .evidence("stage", "proxy_connect"),
        // Nothing past the proxy's greeting was measured: not a verdict on the path.
        PathFailure::SocksAuth => base(
            Status::Skip,
            Reason::UnsupportedRoute,
            format!(
                "not tested: the SOCKS5 proxy {proxy} offers no connection without authentication (username and password, or GSSAPI) for {host}:{port}; SOCKS5 with authentication is not supported by this tool, and a PAC route cannot carry credentials"
            ),
        ),
        PathFailure::SocksDenied(code) => base(
            Status::Fail,
            Reason::ProxyDenied,
            format!(
                "the SOCKS5 proxy {proxy} refuses CONNECT to {host}:{port} (reply {code}: {})",
                crate::probe::proxy::socks_reply(*code)
            ),
        )
        .remedy(remedy::proxy_denied(proxy, host, port, &plan.allowlist))
        .evidence("socks_reply", code),
        PathFailure::ProxyTls => base(
            Status::Fail,
            Reason::HandshakeFailed,
            format!("the TLS handshake with the HTTPS proxy {proxy} failed"),
        )
        .remedy(remedy::proxy_unreachable(proxy)),
        PathFailure::ProxyUntrusted => base(
            Status::Fail,
            Reason::UntrustedCertificate,
            format!(
                "the HTTPS proxy {proxy} presents a certificate this workstation does not trust"
            ),
        )
        .remedy(remedy::proxy_unreachable(proxy)),
    }
}

/// Sends one request and reads the response head.
pub(crate) async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    path: &str,
    extra: &str,
) -> Result<Head, ReadFailure> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\n{extra}\r\n",
        user_agent()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|_| ReadFailure::Io)?;
    stream.flush().await.map_err(|_| ReadFailure::Io)?;
    read_head(stream).await
}

/// Parses an HTTP date (`Tue, 24 Nov 2026 18:50:00 GMT`).
pub(crate) fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The HTTPS step's check from a response (or a failure to read one).
pub(crate) fn judge_https(
    plan: &HostPlan,
    path: &str,
    via: &str,
    result: &Result<Head, ReadFailure>,
) -> Check {
    let host = &plan.host;
    let port = plan.port;
    let base = |status, reason, detail: String| {
        plan.check(
            format!("https/{host}:{port}{path}"),
            Kind::Https,
            status,
            reason,
            detail,
            via,
        )
    };
    match result {
        Ok(head) if matches!(head.status, 200..=399 | 401 | 403) => base(
            Status::Pass,
            Reason::Ok,
            format!(
                "GET https://{host}{path} ({via}) answers HTTP {}",
                head.status
            ),
        )
        .evidence("status", head.status)
        .evidence("server", head.header("server")),
        Ok(head) => base(
            Status::Fail,
            Reason::HttpError,
            format!(
                "GET https://{host}{path} ({via}) answers HTTP {}",
                head.status
            ),
        )
        .remedy(remedy::http_error(host, path, head.status, &plan.allowlist))
        .evidence("status", head.status)
        .evidence("headers", &head.headers),
        Err(ReadFailure::TooLarge) => base(
            Status::Fail,
            Reason::BadResponse,
            format!(
                "GET https://{host}{path} ({via}) got an answer whose head does not end within {} KiB: not HTTP as the service sends it",
                MAX_HEAD / 1024
            ),
        )
        .remedy(remedy::http_error(host, path, 0, &plan.allowlist))
        .evidence("stage", "http_head"),
        Err(_) => base(
            Status::Fail,
            Reason::HttpError,
            format!("GET https://{host}{path} ({via}) got no HTTP answer"),
        )
        .remedy(remedy::http_error(host, path, 0, &plan.allowlist)),
    }
}

/// The clock check from a server's `Date`: warn past 5 s, fail past 5 minutes.
pub(crate) fn judge_clock(host: &str, date: &str, local: OffsetDateTime) -> Option<Check> {
    let server = parse_http_date(date)?;
    let skew = (local - server).whole_seconds();
    let (status, reason) = match skew.unsigned_abs() {
        0..=5 => (Status::Pass, Reason::Ok),
        6..=300 => (Status::Warn, Reason::ClockSkew),
        _ => (Status::Fail, Reason::ClockSkew),
    };
    let check = Check::new(
        "system/clock",
        Kind::System,
        status,
        reason,
        format!("this workstation's clock is {skew:+} s from {host}'s"),
    )
    .evidence("skew_s", skew)
    .evidence("server_date", for_terminal(date, 64))
    .evidence("server", host);
    Some(if status == Status::Pass {
        check
    } else {
        check.remedy(remedy::clock_skew(host, skew))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_and_hide_passwords() {
        let p = Proxy::parse("http://alice:s%40cret@proxy.example:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.auth.as_deref(), Some(base64(b"alice:s@cret").as_str()));
        assert_eq!(p.to_string(), "http://proxy.example:3128");
        assert_eq!(Proxy::parse("10.0.0.1:8080").unwrap().port, 8080);
        assert_eq!(
            Proxy::parse("http://[::1]:3128/").unwrap().to_string(),
            "http://[::1]:3128"
        );
        let err = Proxy::parse("ftp://u:pw@p.example").unwrap_err();
        assert!(!err.contains("pw"), "{err}");
        let https = Proxy::parse("https://p.example").unwrap();
        assert_eq!((https.kind, https.port), (ProxyKind::Https, 443));
        let socks = Proxy::parse("socks5://s.example").unwrap();
        assert_eq!((socks.kind, socks.port), (ProxyKind::Socks5, 1080));
        assert_eq!(socks.to_string(), "socks5://s.example:1080");
        assert!(Proxy::parse("socks5://u:pw@s.example").is_err());
        assert!(Proxy::parse("http://p.example:notaport").is_err());
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn heads_parse_and_dates_judge_the_clock() {
        let head =
            parse_head(b"HTTP/1.1 403 Forbidden\r\nVia: 1.1 squid\r\nX-Bad: a\x1b[2Jb").unwrap();
        assert_eq!(head.status, 403);
        assert_eq!(head.header("via"), Some("1.1 squid"));
        assert!(!head.header("x-bad").unwrap().contains('\x1b'));
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_none());
        // An escape in a header name is not HTTP: the name never reaches a report.
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nX-\x1b[31mEvil: 1").is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nX-\xe2\x80\xaeEvil: 1").is_none());
        let local = parse_http_date("Tue, 24 Nov 2026 18:50:00 GMT").unwrap();
        let ok = judge_clock("h", "Tue, 24 Nov 2026 18:49:58 GMT", local).unwrap();
        assert_eq!(ok.status, Status::Pass);
        let warn = judge_clock("h", "Tue, 24 Nov 2026 18:49:00 GMT", local).unwrap();
        assert_eq!(
            (warn.status, warn.reason),
            (Status::Warn, Reason::ClockSkew)
        );
        let fail = judge_clock("h", "Tue, 24 Nov 2026 19:50:00 GMT", local).unwrap();
        assert_eq!(fail.status, Status::Fail);
        assert!(fail.remedy.unwrap().contains("behind"));
        assert!(judge_clock("h", "yesterday", local).is_none());
    }

    #[test]
    fn lines_that_are_no_header_are_skipped_and_control_bytes_in_values_are_kept_sanitised() {
        let head = parse_head(
            b"HTTP/1.0 403 Forbidden\r\nnot a header\r\n  \r\n folded\r\nVia: a\nb\rc\x00d\x7fe\r\nA:",
        )
        .unwrap();
        assert_eq!(head.status, 403);
        assert_eq!(
            head.headers,
            [
                (
                    "via".to_owned(),
                    "a\\u{a}b\\u{d}c\\u{0}d\\u{7f}e".to_owned()
                ),
                ("a".to_owned(), String::new()),
            ]
        );
        // A name with a space before the colon, or none at all, is no token.
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nName : v").is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n: v").is_none());
        // The status line is HTTP/1.0 or 1.1 with a three-digit code.
        for bad in [
            &b"HTTP/1.1 099 X"[..],
            b"HTTP/2 200 OK",
            b"HTTP/1.1  200 OK",
            b"ICY 200 OK",
        ] {
            assert!(
                parse_head(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_head(b"HTTP/1.1 200").map(|h| h.status), Some(200));
    }

    #[test]
    fn a_full_head_of_the_smallest_headers_parses_and_keeps_the_first_forty() {
        let mut head = b"HTTP/1.1 200 OK".to_vec();
        while head.len() + 4 <= MAX_HEAD - 4 {
            head.extend_from_slice(b"\r\na:");
        }
        let parsed = parse_head(&head).unwrap();
        assert_eq!(parsed.headers.len(), MAX_HEADERS);
    }

    #[tokio::test]
    async fn an_endless_head_fails_as_too_large_and_never_passes_as_its_status() {
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD * 2));
        let mut reader = endless.as_bytes();
        assert_eq!(read_head(&mut reader).await, Err(ReadFailure::TooLarge));
    }
}
