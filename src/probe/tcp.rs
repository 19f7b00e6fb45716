//! TCP: connect to every resolved address, telling `refused` from `timeout` from `unreachable`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

use crate::plan::HostPlan;
use crate::probe::{Published, millis};
use crate::ranges::Snapshot;
use crate::remedy;
use crate::report::facts::Contact;
use crate::report::{Check, Kind, Proto, Reason, Status};

/// At most this many addresses of one host are tried.
pub(crate) const MAX_ADDRESSES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Refused,
    Timeout,
    Unreachable,
}

impl Failure {
    pub(crate) const fn reason(self) -> Reason {
        match self {
            Self::Refused => Reason::Refused,
            Self::Timeout => Reason::Timeout,
            Self::Unreachable => Reason::Unreachable,
        }
    }
}

/// Raw OS errors for "no route" that older `io::ErrorKind`s report as `Other`.
const UNREACHABLE_OS_ERRORS: &[i32] = if cfg!(windows) {
    &[10051, 10065] // WSAENETUNREACH, WSAEHOSTUNREACH
} else if cfg!(target_os = "macos") {
    &[51, 65] // ENETUNREACH, EHOSTUNREACH
} else {
    &[101, 113] // ENETUNREACH, EHOSTUNREACH
};

/// Classifies a connect error from its kind, then its raw OS code.
pub(crate) fn classify(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => Failure::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout,
        io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NetworkDown => Failure::Unreachable,
        _ if error
            .raw_os_error()
            .is_some_and(|c| UNREACHABLE_OS_ERRORS.contains(&c)) =>
        {
            Failure::Unreachable
        }
        _ => Failure::Unreachable,
    }
}

/// Connects once, bounded by `limit`. Nagle's algorithm is off, as browsers have it: otherwise a
/// request written right after the TLS handshake waits for the server's acknowledgement of the
/// client's last handshake message, one round trip more than the CCP pays.
pub(crate) async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, Failure> {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // Only a latency setting: a socket that refuses it still carries the probe.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(Failure::Timeout),
    }
}

#[derive(Clone, Debug, Serialize)]
struct Attempt {
    address: String,
    reason: &'static str,
    connect_ms: u64,
}

/// The TCP step's result: the first address that accepted, and the check.
pub(crate) struct Outcome {
    pub reachable: Option<SocketAddr>,
    pub check: Check,
}

/// Connects to every address (concurrently) and judges the set: all fail → fail; IPv6 failing
/// while IPv4 works → a warning naming the IPv6 address; otherwise pass.
pub(crate) async fn probe(
    snapshot: &Snapshot,
    plan: &HostPlan,
    addresses: &[IpAddr],
    limit: Duration,
) -> Outcome {
    let port = plan.port;
    let targets: Vec<SocketAddr> = addresses
        .iter()
        .take(MAX_ADDRESSES)
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    let attempts = targets.iter().map(|addr| async move {
        let started = Instant::now();
        let result = connect(*addr, limit).await.map(drop);
        (*addr, result, started.elapsed())
    });
    let results = futures_util::future::join_all(attempts).await;
    let evidence: Vec<Attempt> = results
        .iter()
        .map(|(addr, result, took)| Attempt {
            address: addr.to_string(),
            reason: result.map_or_else(|f| f.reason().code(), |()| Reason::Ok.code()),
            connect_ms: millis(*took),
        })
        .collect();
    let reachable = results
        .iter()
        .find(|(_, r, _)| r.is_ok())
        .map(|(a, _, _)| *a);
    let v4_ok = results.iter().any(|(a, r, _)| a.is_ipv4() && r.is_ok());
    let failed = results
        .iter()
        .find_map(|(a, r, _)| r.err().map(|f| (*a, f)));
    let host = &plan.host;
    let id = format!("tcp/{host}:{port}");
    let base = |status, reason, detail: String| {
        Check::new(id.clone(), Kind::Tcp, status, reason, detail)
            .host(host)
            .endpoint(port, Proto::Tcp)
            .evidence("attempts", &evidence)
            .contacts(targets.iter().copied().map(Contact::Tcp))
            .allowlist(&plan.allowlist)
    };
    let check = match (reachable, failed) {
        (Some(ok), None) => base(
            Status::Pass,
            Reason::Ok,
            format!("TCP {port} connects to {}", list(&results)),
        )
        .evidence("address", ok.to_string()),
        (Some(_), Some(_))
            if v4_ok && results.iter().any(|(a, r, _)| a.is_ipv6() && r.is_err()) =>
        {
            let (addr, failure) = results
                .iter()
                .find_map(|(a, r, _)| r.err().filter(|_| a.is_ipv6()).map(|f| (*a, f)))
                .expect("an IPv6 failure exists");
            let prefix = Published::of(snapshot, addr.ip());
            base(
                Status::Warn,
                failure.reason(),
                format!(
                    "TCP {port} works over IPv4 but not to the IPv6 address {addr} ({})",
                    failure.reason()
                ),
            )
            .remedy(remedy::ipv6_broken(
                &addr.ip().to_string(),
                port,
                prefix.as_ref().map(Published::named).as_deref(),
                &plan.allowlist,
            ))
            .prefix(prefix.map(|p| p.net))
        }
        (Some(ok), Some((addr, failure))) => base(
            Status::Warn,
            failure.reason(),
            format!(
                "TCP {port} connects to {ok} but not to {addr} ({})",
                failure.reason()
            ),
        )
        .remedy(fix(snapshot, plan, addr, failure))
        .prefix(Published::of(snapshot, addr.ip()).map(|p| p.net)),
        (None, Some((addr, failure))) => {
            let what = match failure {
                Failure::Refused => "is refused",
                Failure::Timeout => "gets no answer",
                Failure::Unreachable => "has no route",
            };
            base(
                Status::Fail,
                failure.reason(),
                format!("TCP {port} to {addr} {what} ({})", list(&results)),
            )
            .remedy(fix(snapshot, plan, addr, failure))
            .prefix(Published::of(snapshot, addr.ip()).map(|p| p.net))
        }
        (None, None) => base(
            Status::Skip,
            Reason::NotTested,
            format!("no address of {host} to connect to"),
        ),
    };
    Outcome { reachable, check }
}

fn fix(snapshot: &Snapshot, plan: &HostPlan, addr: SocketAddr, failure: Failure) -> String {
    let prefix = Published::of(snapshot, addr.ip()).map(|p| p.named());
    let prefix = prefix.as_deref();
    let ip = addr.ip().to_string();
    match failure {
        Failure::Refused => remedy::tcp_refused(&ip, plan.port, prefix, &plan.allowlist),
        Failure::Timeout => remedy::tcp_timeout(&ip, plan.port, prefix, &plan.allowlist),
        Failure::Unreachable => remedy::tcp_unreachable(&ip, plan.port, prefix, &plan.allowlist),
    }
}

fn list(results: &[(SocketAddr, Result<(), Failure>, Duration)]) -> String {
    let parts: Vec<String> = results
        .iter()
        .map(|(a, r, _)| match r {
            Ok(()) => a.ip().to_string(),
            Err(f) => format!("{} {}", a.ip(), f.reason()),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_are_classified_from_kinds() {
        let table = [
            (io::ErrorKind::ConnectionRefused, Failure::Refused),
            (io::ErrorKind::TimedOut, Failure::Timeout),
            (io::ErrorKind::HostUnreachable, Failure::Unreachable),
            (io::ErrorKind::NetworkUnreachable, Failure::Unreachable),
        ];
        for (kind, expected) in table {
            assert_eq!(classify(&io::Error::from(kind)), expected, "{kind:?}");
        }
        let raw = io::Error::from_raw_os_error(UNREACHABLE_OS_ERRORS[0]);
        assert_eq!(classify(&raw), Failure::Unreachable);
    }

    #[tokio::test]
    async fn a_listener_accepts_and_a_closed_port_refuses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(connect(open, Duration::from_secs(5)).await.is_ok());
        assert_eq!(
            connect(closed, Duration::from_secs(5)).await.unwrap_err(),
            Failure::Refused
        );
    }
}
