//! The WebSocket step: a real RFC 6455 Upgrade (tokio-tungstenite) over the TLS session the caller
//! opened through the browser's path (direct, or the proxy's CONNECT tunnel), then a polite Close.
//!
//! Failures are classified from tungstenite's error types, never from their text: an HTTP answer
//! other than 101 is a refused or stripped Upgrade; a 101 that breaks the handshake's rules (a
//! wrong `Sec-WebSocket-Accept`, no `Upgrade: websocket`) is named; a connection that ends first
//! is no answer. Everything read is bounded: the response head by tungstenite (64 KiB at most) and
//! the evidence kept from it by [`MAX_HEAD`]; frames after the upgrade by [`MAX_FRAME`]; time by
//! the caller, and the Close by the step's end.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::http::{self, HeaderMap};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::plan::HostPlan;
use crate::probe::http::{Head, MAX_HEAD, MAX_HEADERS, parse_head, user_agent};
use crate::remedy;
use crate::report::{Check, Kind, Reason, Status};
use crate::sanitize::for_terminal;

/// The largest frame or message accepted after the upgrade (only the server's Close is read).
pub(crate) const MAX_FRAME: usize = 4 * 1024;
/// The longest the polite Close may take, within what is left of the step.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Kept free at the end of the step, so that the Close never turns a verdict into a timeout.
const CLOSE_MARGIN: Duration = Duration::from_millis(50);

/// Which rule of RFC 6455 a `101 Switching Protocols` answer broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Broken {
    /// `Sec-WebSocket-Accept` missing or not derived from our key: the 101 was not written for
    /// this request (a device on the path answering, or replaying, in the server's place).
    Accept,
    /// No `Upgrade: websocket`.
    Upgrade,
    /// No `Connection: Upgrade`.
    Connection,
    /// A subprotocol that was not asked for.
    Subprotocol,
}

impl Broken {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "sec_websocket_accept_mismatch",
            Self::Upgrade => "missing_upgrade_header",
            Self::Connection => "missing_connection_upgrade",
            Self::Subprotocol => "unrequested_subprotocol",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Accept => "a Sec-WebSocket-Accept that does not match the request's key",
            Self::Upgrade => "no \"Upgrade: websocket\" header",
            Self::Connection => "no \"Connection: Upgrade\" header",
            Self::Subprotocol => "a subprotocol that was not asked for",
        }
    }
}

/// Why the upgrade did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request could not be formed (a path the catalog gives that HTTP cannot carry).
    Unsent,
    /// An HTTP answer other than 101: the Upgrade was refused, or stripped on the way.
    Refused(Head),
    /// A 101 that is not a valid WebSocket handshake; the answer's head when it could be read.
    BadHandshake(Broken, Option<Head>),
    /// An answer that is not HTTP/1.1.
    NotHttp,
    /// An answer head past tungstenite's bounds (too many headers, too long, or trickled).
    Oversized,
    /// The connection failed or ended before a complete answer.
    NoAnswer,
}

impl Failure {
    /// Classifies a tungstenite error from its type. `seen` is the start of what was read, for
    /// evidence when the error carries no response.
    fn classify(error: tungstenite::Error, seen: &[u8]) -> Self {
        use tungstenite::Error as E;
        let head = || head_of(seen);
        match error {
            E::Http(response) => Self::Refused(head_from(response.status(), response.headers())),
            E::Protocol(p) => match p {
                ProtocolError::SecWebSocketAcceptKeyMismatch => {
                    Self::BadHandshake(Broken::Accept, head())
                }
                ProtocolError::MissingUpgradeWebSocketHeader => {
                    Self::BadHandshake(Broken::Upgrade, head())
                }
                ProtocolError::MissingConnectionUpgradeHeader => {
                    Self::BadHandshake(Broken::Connection, head())
                }
                ProtocolError::SecWebSocketSubProtocolError(_) => {
                    Self::BadHandshake(Broken::Subprotocol, head())
                }
                ProtocolError::WrongHttpVersion | ProtocolError::HttparseError(_) => Self::NotHttp,
                // Our own request breaking tungstenite's rules.
                ProtocolError::InvalidHeader(_) => Self::Unsent,
                // HandshakeIncomplete (end of stream before a whole head) and the rest.
                _ => Self::NoAnswer,
            },
            E::HttpFormat(_) | E::Utf8(_) => Self::NotHttp,
            E::Capacity(CapacityError::TooManyHeaders | CapacityError::MessageTooLong { .. })
            | E::AttackAttempt => Self::Oversized,
            E::Url(_) => Self::Unsent,
            // Io, ConnectionClosed, AlreadyClosed, Tls, WriteBufferFull.
            _ => Self::NoAnswer,
        }
    }
}

/// What became of the Close sent after a successful upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The server answered with its own Close.
    Acknowledged,
    /// Sent; the server closed the connection or did not answer within the time left.
    Sent,
    /// Writing it failed (the connection was already gone) or there was no time left.
    NotSent,
}

impl Close {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledged => "acknowledged",
            Self::Sent => "sent",
            Self::NotSent => "not_sent",
        }
    }
}

/// A completed upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Upgraded {
    /// The 101's head (status and sanitised headers).
    pub head: Head,
    pub close: Close,
}

fn head_from(status: http::StatusCode, headers: &HeaderMap) -> Head {
    Head {
        status: status.as_u16(),
        headers: headers
            .iter()
            .take(MAX_HEADERS)
            .map(|(name, value)| {
                (
                    name.as_str().chars().take(64).collect(),
                    for_terminal(String::from_utf8_lossy(value.as_bytes()).trim(), 200),
                )
            })
            .collect(),
    }
}

/// The response head at the start of `seen`, when it is complete there.
fn head_of(seen: &[u8]) -> Option<Head> {
    let end = seen.windows(4).position(|w| w == b"\r\n\r\n")?;
    parse_head(&seen[..end])
}

/// A stream that keeps a copy of the first [`MAX_HEAD`] bytes read, for evidence when the
/// handshake fails on a response tungstenite does not return.
struct Tap<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let room = MAX_HEAD.saturating_sub(seen.len());
            let new = &buf.filled()[before..];
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The bounds of the WebSocket once upgraded: small buffers, small frames.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(MAX_FRAME)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// The Upgrade request: what a browser sends, less its cookies and origin.
fn request(host: &str, port: u16, path: &str) -> Result<http::Request<()>, Failure> {
    let authority = match (host.contains(':'), port) {
        (false, 443) => host.to_owned(),
        (false, _) => format!("{host}:{port}"),
        (true, 443) => format!("[{host}]"),
        (true, _) => format!("[{host}]:{port}"),
    };
    // tungstenite wants the scheme in the URI (it writes only the path and query on the wire).
    http::Request::builder()
        .method("GET")
        .uri(format!("wss://{authority}{path}"))
        .header("Host", authority)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("User-Agent", user_agent())
        .body(())
        .map_err(|_| Failure::Unsent)
}

/// Upgrades `stream` (a TLS session with `host`) to a WebSocket on `path`, then closes it
/// politely before `ends` (the step's end). The caller bounds the upgrade's time.
pub(crate) async fn upgrade<S>(
    stream: S,
    host: &str,
    port: u16,
    path: &str,
    ends: Instant,
) -> Result<Upgraded, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = request(host, port, path)?;
    // The stream goes into the handshake and is lost with its error; the tap's record is shared.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap = Tap {
        inner: stream,
        seen: seen.clone(),
    };
    let (mut ws, response) =
        match tokio_tungstenite::client_async_with_config(request, tap, Some(config())).await {
            Ok(done) => done,
            Err(error) => {
                let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                return Err(Failure::classify(error, &seen));
            }
        };
    let head = head_from(response.status(), response.headers());
    let within = ends
        .saturating_duration_since(Instant::now())
        .saturating_sub(CLOSE_MARGIN)
        .min(CLOSE_GRACE);
    let close = if within.is_zero() {
        Close::NotSent
    } else {
        tokio::time::timeout(within, close_politely(&mut ws))
            .await
            .unwrap_or(Close::Sent)
    };
    Ok(Upgraded { head, close })
}

/// Sends a Close and waits for the server's (RFC 6455 section 7), reading at most a few small
/// frames; then ends the TLS session.
async fn close_politely<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if ws.close(None).await.is_err() {
        return Close::NotSent;
    }
    let mut close = Close::Sent;
    for _ in 0..4 {
        match ws.next().await {
            Some(Ok(Message::Close(_))) => {
                close = Close::Acknowledged;
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let _ = ws.get_mut().shutdown().await;
    close
}

/// The WebSocket step's check. `intercepted` says whether TLS was inspected, to name who refused:
/// through a plain CONNECT tunnel only the server sees the Upgrade; a TLS-inspecting proxy reads
/// it and may strip or refuse it.
pub(crate) fn judge(
    plan: &HostPlan,
    path: &str,
    via: &str,
    intercepted: bool,
    result: &Result<Upgraded, Failure>,
) -> Check {
    let host = &plan.host;
    let port = plan.port;
    // A session's URL carries a presigned query: it was sent, and is never shown.
    let (path, query) = match path.split_once('?') {
        Some((p, _)) => (p, " (query not shown)"),
        None => (path, ""),
    };
    let url = format!("wss://{host}{path}{query}");
    let base = |status, reason, detail: String| {
        plan.check(
            format!("websocket/{host}:{port}{path}"),
            Kind::Websocket,
            status,
            reason,
            detail,
            via,
        )
    };
    let who = if intercepted {
        "the TLS-inspecting proxy or the server"
    } else {
        "the server"
    };
    let rejected = |status, detail: String| {
        base(status, Reason::WebsocketRejected, detail)
            .remedy(remedy::websocket_rejected(who, host, &plan.allowlist))
            .evidence("rejected_by", who)
    };
    match result {
        Ok(up) => base(
            Status::Pass,
            Reason::Ok,
            format!("the WebSocket upgrade to {url} ({via}) is accepted"),
        )
        .evidence("status", up.head.status)
        .evidence("server", up.head.header("server"))
        .evidence("close", up.close.as_str()),
        Err(Failure::Unsent) => base(
            Status::Skip,
            Reason::NotTested,
            format!("not tested: no WebSocket upgrade request can be formed for {url}"),
        ),
        Err(Failure::Refused(head)) => {
            let stripped = (200..300).contains(&head.status);
            let why = if stripped {
                ", not 101: the Upgrade was stripped on the way or ignored"
            } else {
                ""
            };
            // A stripped Upgrade, or a refusal where a TLS-inspecting proxy read the request,
            // breaks the CCP's WebSocket. A plain tunnel's refusal came from the server itself:
            // the path to it works (an expired session URL is refused like this).
            let status = if stripped || intercepted {
                Status::Fail
            } else {
                Status::Warn
            };
            rejected(
                status,
                format!(
                    "the WebSocket upgrade to {url} ({via}) was answered HTTP {} by {who}{why}",
                    head.status
                ),
            )
            .evidence("status", head.status)
            .evidence("headers", &head.headers)
        }
        Err(Failure::BadHandshake(broken, head)) => {
            let check = rejected(
                Status::Warn,
                format!(
                    "the WebSocket upgrade to {url} ({via}) was answered 101 by {who} with {}; \
                     the browser drops such a connection",
                    broken.describe()
                ),
            )
            .evidence("handshake_error", broken.as_str());
            match head {
                Some(head) => check
                    .evidence("status", head.status)
                    .evidence("headers", &head.headers),
                None => check.evidence("status", 101),
            }
        }
        Err(Failure::NotHttp) => rejected(
            Status::Fail,
            format!("the WebSocket upgrade to {url} ({via}) got an answer that is not HTTP from {who}"),
        )
        .evidence("handshake_error", "not_http"),
        Err(Failure::Oversized) => rejected(
            Status::Fail,
            format!(
                "the WebSocket upgrade to {url} ({via}) got an answer head past the size limits from {who}"
            ),
        )
        .evidence("handshake_error", "oversized_answer"),
        Err(Failure::NoAnswer) => rejected(
            Status::Fail,
            format!("the WebSocket upgrade to {url} ({via}) got no HTTP answer from {who}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_type() {
        let seen = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        let accept = Failure::classify(
            tungstenite::Error::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch),
            seen,
        );
        let Failure::BadHandshake(Broken::Accept, Some(head)) = accept else {
            panic!("{accept:?}");
        };
        assert_eq!(head.status, 101);
        assert_eq!(head.header("sec-websocket-accept"), Some("nope"));
        let refused = http::Response::builder()
            .status(403)
            .header(
                "Via",
                http::HeaderValue::from_bytes(
                    &[b"1.1 ".as_slice(), &[b'p'; 300], b"\xff"].concat(),
                )
                .unwrap(),
            )
            .body(None)
            .unwrap();
        let Failure::Refused(head) =
            Failure::classify(tungstenite::Error::Http(Box::new(refused)), &[])
        else {
            panic!("not refused");
        };
        assert_eq!(head.status, 403);
        let via = head.header("via").unwrap();
        assert!(via.ends_with('…') && via.chars().count() == 201, "{via}");
        assert_eq!(
            Failure::classify(
                tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete),
                &[]
            ),
            Failure::NoAnswer
        );
        assert_eq!(
            Failure::classify(
                tungstenite::Error::Io(std::io::ErrorKind::UnexpectedEof.into()),
                &[]
            ),
            Failure::NoAnswer
        );
        assert_eq!(
            Failure::classify(tungstenite::Error::AttackAttempt, &[]),
            Failure::Oversized
        );
        assert_eq!(
            Failure::classify(
                tungstenite::Error::Protocol(ProtocolError::WrongHttpVersion),
                &[]
            ),
            Failure::NotHttp
        );
    }

    #[test]
    fn the_request_names_the_port_only_when_it_is_not_443() {
        let r = request("rtc.example", 443, "/").unwrap();
        assert_eq!(r.headers()["host"], "rtc.example");
        let r = request("rtc.example", 8443, "/ws?x=1").unwrap();
        assert_eq!(r.headers()["host"], "rtc.example:8443");
        assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/ws?x=1");
        assert_eq!(
            request("rtc.example", 443, "/a b").err(),
            Some(Failure::Unsent)
        );
    }
}
