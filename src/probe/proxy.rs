//! The proxies real PAC scripts return besides plain HTTP: `SOCKS5 host:port` (RFC 1928, the
//! target's name resolved by the proxy, as browsers do) and `HTTPS host:port` (TLS to the proxy,
//! then `CONNECT` inside it). Each opens the same kind of tunnel as an HTTP proxy's `CONNECT`, so
//! the TLS, HTTPS and WebSocket steps run over it unchanged.
//!
//! An HTTPS proxy's tunnel is itself a TLS stream; the steps after it expect a TCP stream, so the
//! tunnel is handed to them through a loopback socket pair that a task copies to and from (the
//! pair is checked to be ours, never another local process's).
//!
//! `SOCKS` and `SOCKS4` (which browsers resolve locally and speak version 4 to) and credentials for
//! a SOCKS5 proxy (a PAC script cannot give any) are not supported: such routes are reported as
//! `unsupported_route`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::http::{PathFailure, Proxy};
use super::tls;

/// What a SOCKS5 proxy said about a `CONNECT`, as RFC 1928 section 6 numbers it.
pub(crate) fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// Opens a SOCKS5 tunnel to `host:port` on `stream` (already connected to the proxy): no
/// authentication, the name sent for the proxy to resolve. The caller bounds the time.
pub(crate) async fn socks5<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    port: u16,
) -> Result<(), PathFailure> {
    let broken = |_| PathFailure::ProxyBroken;
    // Greeting: version 5, one method, "no authentication required".
    stream.write_all(&[5, 1, 0]).await.map_err(broken)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(broken)?;
    match choice {
        [5, 0] => {}
        [5, 0xff] | [5, 2] => return Err(PathFailure::SocksAuth),
        _ => return Err(PathFailure::ProxyBroken),
    }
    let name = host.as_bytes();
    let Ok(len) = u8::try_from(name.len()) else {
        return Err(PathFailure::ProxyBroken);
    };
    let mut request = vec![5, 1, 0, 3, len];
    request.extend_from_slice(name);
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(broken)?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.map_err(broken)?;
    if reply[0] != 5 {
        return Err(PathFailure::ProxyBroken);
    }
    if reply[1] != 0 {
        return Err(PathFailure::SocksDenied(reply[1]));
    }
    // The bound address, whose length its type gives, then the port: read and dropped.
    let rest = match reply[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(broken)?;
            usize::from(len[0]) + 2
        }
        _ => return Err(PathFailure::ProxyBroken),
    };
    let mut bound = vec![0u8; rest];
    stream.read_exact(&mut bound).await.map_err(broken)?;
    Ok(())
}

/// Opens a tunnel through an HTTPS proxy: TLS to the proxy (its certificate verified as the
/// browser would, by the public roots, `--ca-file` or this workstation's store), `CONNECT` inside
/// it, then the tunnel handed over as a loopback TCP stream.
pub(crate) async fn https_tunnel(
    proxy: &Proxy,
    trust: &tls::Trust,
    tcp: TcpStream,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, PathFailure> {
    let handshake = tls::handshake(trust, &proxy.host, tcp, limit)
        .await
        .map_err(|f| match f {
            tls::HandshakeFailure::Timeout => PathFailure::ProxyStalled,
            _ => PathFailure::ProxyTls,
        })?;
    if !matches!(
        handshake.verdict,
        tls::Verdict::Public | tls::Verdict::Intercepted
    ) {
        return Err(PathFailure::ProxyUntrusted);
    }
    let mut stream = handshake.stream;
    super::http::connect_request(&mut stream, proxy, host, port).await?;
    bridge(stream).await.map_err(|_| PathFailure::ProxyBroken)
}

/// A loopback TCP stream whose other end is copied to and from `stream`.
async fn bridge<S>(stream: S) -> std::io::Result<TcpStream>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    let (ours, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let ours = ours?;
    let (theirs, peer) = accepted?;
    if peer != ours.local_addr()? {
        // Another local process connected first: never hand it the tunnel.
        return Err(std::io::Error::other("a foreign connection to the bridge"));
    }
    drop(listener);
    let mut stream = stream;
    let mut theirs = theirs;
    // Ends when either side closes, or with the run's runtime.
    tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut theirs).await;
    });
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted SOCKS5 proxy on one side of an in-memory pipe.
    async fn run_socks(script: &'static [u8], host: &str) -> (Result<(), PathFailure>, Vec<u8>) {
        let (mut ours, mut theirs) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move {
            let mut seen = vec![0u8; 3];
            theirs.read_exact(&mut seen).await.unwrap();
            theirs.write_all(&script[..2]).await.unwrap();
            if script[1] == 0 {
                let mut head = [0u8; 5];
                theirs.read_exact(&mut head).await.unwrap();
                let mut rest = vec![0u8; usize::from(head[4]) + 2];
                theirs.read_exact(&mut rest).await.unwrap();
                seen.extend_from_slice(&head);
                seen.extend_from_slice(&rest);
                theirs.write_all(&script[2..]).await.unwrap();
            }
            seen
        });
        let result = socks5(&mut ours, host, 443).await;
        (result, server.await.unwrap())
    }

    #[tokio::test]
    async fn socks5_sends_the_name_for_the_proxy_to_resolve_and_reads_its_reply() {
        let (ok, seen) = run_socks(&[5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x01, 0xbb], "a.example").await;
        assert_eq!(ok, Ok(()));
        assert_eq!(&seen[..3], &[5, 1, 0]);
        assert_eq!(&seen[3..8], &[5, 1, 0, 3, 9]);
        assert_eq!(&seen[8..17], b"a.example");
        assert_eq!(&seen[17..], &443u16.to_be_bytes());

        let (denied, _) = run_socks(&[5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0], "b.example").await;
        assert_eq!(denied, Err(PathFailure::SocksDenied(2)));
        assert_eq!(socks_reply(2), "connection not allowed by ruleset");

        let (auth, _) = run_socks(&[5, 0xff], "c.example").await;
        assert_eq!(auth, Err(PathFailure::SocksAuth));
    }
}
