//! In-process fakes on 127.0.0.1 for the live check: a DNS server, TLS sites, a server that speaks
//! only old TLS, a server that never answers, and a CONNECT proxy. They run on a runtime of their
//! own, on a thread that stops when the [`Lab`] is dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the fake DNS server answers a name.
#[derive(Clone, Debug)]
pub(crate) enum Dns {
    Addresses(Vec<IpAddr>),
    Cname(String, Vec<IpAddr>),
    NxDomain,
    ServFail,
    Refused,
    /// NOERROR with no answer.
    Empty,
    /// No reply at all.
    Silent,
}

/// How a fake TLS site answers a request.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub status: u16,
    pub date: Option<String>,
}

impl Site {
    pub(crate) fn ok() -> Self {
        Self {
            status: 200,
            date: Some(http_date(time::OffsetDateTime::now_utc())),
        }
    }
}

pub(crate) fn http_date(t: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).unwrap()
}

/// How a fake WebSocket site answers an upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsAnswer {
    /// 101 with the right `Sec-WebSocket-Accept`, and a Close answered with a Close.
    Accept,
    /// 101 with an accept value derived from another key.
    WrongAccept,
    /// 200: the Upgrade stripped on the way, or ignored.
    Plain200,
    /// The connection closed without an answer.
    HangUp,
}

/// A CA and what it signs.
pub(crate) struct Ca {
    pub pem: String,
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    pub(crate) fn new(common_name: &str, organization: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, organization);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            params,
            key,
        }
    }

    /// A leaf for `names`; `expired` puts its validity in the past.
    pub(crate) fn leaf(
        &self,
        names: &[&str],
        expired: bool,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names[0]);
        params.distinguished_name = dn;
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], der)
    }
}

pub(crate) struct Lab {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn tokio_listener(std: std::net::TcpListener) -> tokio::net::TcpListener {
    std.set_nonblocking(true).unwrap();
    tokio::net::TcpListener::from_std(std).unwrap()
}

/// A TLS acceptor presenting `chain`.
pub(crate) fn tls_acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> tokio_rustls::TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Reads a request or response head, at most 16 KiB.
pub(crate) async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while buf.len() < 16 * 1024 && !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

impl Lab {
    pub(crate) fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Bounded: the lab ends when dropped, and at the latest after two minutes.
            runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A UDP DNS server answering from `zone`; unknown names are NXDOMAIN.
    pub(crate) fn dns(&self, zone: HashMap<String, Dns>) -> SocketAddr {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        self.handle.spawn(async move {
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(query) = request.queries.first().cloned() else {
                    continue;
                };
                let name = query
                    .name
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let behaviour = zone.get(&name).cloned().unwrap_or(Dns::NxDomain);
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.add_query(query.clone());
                let answer = |response: &mut Message, owner: &Name, ips: &[IpAddr]| {
                    for ip in ips {
                        let data = match (ip, query.query_type) {
                            (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                            _ => continue,
                        };
                        response.add_answer(Record::from_rdata(owner.clone(), 60, data));
                    }
                };
                match behaviour {
                    Dns::Silent => continue,
                    Dns::Addresses(ips) => answer(&mut response, &query.name, &ips),
                    Dns::Cname(target, ips) => {
                        let target = Name::from_ascii(format!("{target}.")).unwrap();
                        response.add_answer(Record::from_rdata(
                            query.name.clone(),
                            60,
                            RData::CNAME(CNAME(target.clone())),
                        ));
                        answer(&mut response, &target, &ips);
                    }
                    Dns::NxDomain => response.metadata.response_code = ResponseCode::NXDomain,
                    Dns::ServFail => response.metadata.response_code = ResponseCode::ServFail,
                    Dns::Refused => response.metadata.response_code = ResponseCode::Refused,
                    Dns::Empty => {}
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        addr
    }

    /// A TLS site presenting `chain`, answering every request as `site` says.
    pub(crate) fn tls_site(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        site: Site,
    ) -> u16 {
        let acceptor = tls_acceptor(chain, key);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let site = site.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _request = read_head(&mut tls).await;
                    let mut response = format!("HTTP/1.1 {} Lab\r\nServer: lab\r\n", site.status);
                    if let Some(date) = &site.date {
                        response.push_str(&format!("Date: {date}\r\n"));
                    }
                    response.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// A WebSocket site: answers upgrades with 101 and the right accept value, other requests with
    /// 200 and no `Date`.
    pub(crate) fn websocket_site(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> u16 {
        self.websocket_site_answering(chain, key, WsAnswer::Accept)
    }

    /// A site that answers WebSocket upgrades as `answer` says.
    pub(crate) fn websocket_site_answering(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        answer: WsAnswer,
    ) -> u16 {
        let acceptor = tls_acceptor(chain, key);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let request = read_head(&mut tls).await;
                    let key = request.lines().find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_owned())
                    });
                    let accept = |key: &str| {
                        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
                    };
                    let response = match (key, answer) {
                        (_, WsAnswer::HangUp) => return,
                        (Some(key), WsAnswer::Accept) => format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                            accept(&key)
                        ),
                        (Some(key), WsAnswer::WrongAccept) => format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                            accept(&format!("{key}x"))
                        ),
                        _ => "HTTP/1.1 200 OK\r\nServer: lab-stripped\r\nContent-Length: 0\r\n\r\n".to_owned(),
                    };
                    let _ = tls.write_all(response.as_bytes()).await;
                    if response.starts_with("HTTP/1.1 101") {
                        // The client's Close (FIN and opcode 8, masked) gets ours back.
                        let mut frame = [0u8; 2];
                        let read = tokio::time::timeout(
                            Duration::from_secs(5),
                            tls.read_exact(&mut frame),
                        )
                        .await;
                        if matches!(read, Ok(Ok(_))) && frame[0] == 0x88 {
                            let _ = tls.write_all(&[0x88, 0x00]).await;
                        }
                    }
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// A server that answers any ClientHello with a TLS `protocol_version` alert, as a server
    /// limited to TLS 1.1 does.
    pub(crate) fn old_tls(&self) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut hello = [0u8; 512];
                    let _ = tcp.read(&mut hello).await;
                    let _ = tcp
                        .write_all(&[0x15, 0x03, 0x02, 0x00, 0x02, 0x02, 0x46])
                        .await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        port
    }

    /// A server that accepts and then never says anything; reports each connection on `seen`.
    pub(crate) fn silent(&self, seen: mpsc::Sender<()>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            let mut held = Vec::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let _ = seen.send(());
                held.push(tcp);
            }
        });
        port
    }

    /// A TURN relay as the softphone meets it: Bindings answered with the mapped address,
    /// unauthenticated Allocates with a 401 challenge (realm and nonce).
    pub(crate) fn turn_relay(&self) -> u16 {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let port = socket.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            let mut buf = [0u8; 2048];
            // Bounded: a run sends a few hundred requests at most.
            for _ in 0..10_000 {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                if let Some(reply) = stun_reply(&buf[..n], peer) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        port
    }

    /// A UDP port that takes every datagram and never answers.
    pub(crate) fn silent_udp(&self) -> u16 {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let port = socket.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            let mut buf = [0u8; 2048];
            while socket.recv_from(&mut buf).await.is_ok() {}
        });
        port
    }

    /// A TCP server on 127.0.0.1 whose every connection `serve` handles on the lab's runtime.
    pub(crate) fn tcp_server<F, Fut>(&self, serve: F) -> u16
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(tcp));
            }
        });
        port
    }

    /// A UDP server on 127.0.0.1: `answer` gives the datagrams to send back for each one received
    /// (bounded: at most 100,000 received).
    pub(crate) fn udp_server<F>(&self, answer: F) -> u16
    where
        F: Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let port = socket.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            let mut buf = vec![0u8; 4096];
            for _ in 0..100_000 {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                for reply in answer(&buf[..n]) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        port
    }

    /// A SOCKS5 proxy (no authentication, RFC 1928): `denied` names get reply 2 (not allowed by
    /// ruleset); others are tunnelled to 127.0.0.1 on the port asked for.
    pub(crate) fn socks5_proxy(&self, denied: &[&str]) -> u16 {
        let denied: Vec<String> = denied.iter().map(|s| (*s).to_owned()).collect();
        let denied = Arc::new(denied);
        self.tcp_server(move |mut client| {
            let denied = denied.clone();
            async move {
                let mut greeting = [0u8; 2];
                if client.read_exact(&mut greeting).await.is_err() {
                    return;
                }
                let mut methods = vec![0u8; usize::from(greeting[1])];
                let _ = client.read_exact(&mut methods).await;
                let _ = client.write_all(&[5, 0]).await;
                let mut head = [0u8; 5];
                if client.read_exact(&mut head).await.is_err() || head[3] != 3 {
                    return;
                }
                let mut name = vec![0u8; usize::from(head[4])];
                let mut port = [0u8; 2];
                let _ = client.read_exact(&mut name).await;
                let _ = client.read_exact(&mut port).await;
                let name = String::from_utf8_lossy(&name).into_owned();
                let reply = |code: u8| [5, code, 0, 1, 127, 0, 0, 1, 0, 0];
                if denied.contains(&name) {
                    let _ = client.write_all(&reply(2)).await;
                    return;
                }
                let port = u16::from_be_bytes(port);
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    let _ = client.write_all(&reply(5)).await;
                    return;
                };
                let _ = client.write_all(&reply(0)).await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        })
    }

    /// An HTTPS proxy: TLS with `chain`, then `CONNECT` tunnelled to 127.0.0.1 on the port asked for.
    pub(crate) fn https_proxy(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> u16 {
        let acceptor = tls_acceptor(chain, key);
        self.tcp_server(move |tcp| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let head = read_head(&mut tls).await;
                let port = head
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("CONNECT "))
                    .and_then(|l| l.split(' ').next())
                    .and_then(|t| t.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok());
                let Some(port) = port else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    let _ = tls.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = tls
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            }
        })
    }

    /// A port nothing listens on.
    pub(crate) fn closed_port(&self) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A CONNECT proxy: `denied` hosts get 403, `auth` hosts 407, others are tunnelled to
    /// 127.0.0.1 on the port asked for.
    pub(crate) fn proxy(&self, denied: &[&str], auth: &[&str]) -> u16 {
        let denied: Vec<String> = denied.iter().map(|s| (*s).to_owned()).collect();
        let auth: Vec<String> = auth.iter().map(|s| (*s).to_owned()).collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.handle.spawn(async move {
            let listener = tokio_listener(listener);
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let denied = denied.clone();
                let auth = auth.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut client).await;
                    let target = head
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("CONNECT "))
                        .and_then(|l| l.split(' ').next())
                        .unwrap_or_default()
                        .to_owned();
                    let (host, port) = target.rsplit_once(':').unwrap_or(("", "0"));
                    if denied.iter().any(|d| d == host) {
                        let _ = client
                            .write_all(b"HTTP/1.1 403 Forbidden\r\nVia: 1.1 lab-proxy\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    if auth.iter().any(|d| d == host) {
                        let _ = client
                            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"lab\"\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    let Ok(port) = port.parse::<u16>() else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        port
    }
}

/// An `ip-ranges.json` of today that publishes 127.0.0.1 and ::1 (and nothing else of 127/8) as
/// EC2 in the lab Region.
pub(crate) fn ranges_file(dir: &Path) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    let text = format!(
        r#"{{"syncToken": "{}", "createDate": "{}",
  "prefixes": [
    {{"ip_prefix": "127.0.0.1/32", "region": "lab-1", "service": "EC2", "network_border_group": "lab-1"}},
    {{"ip_prefix": "127.0.0.1/32", "region": "lab-1", "service": "AMAZON", "network_border_group": "lab-1"}}
  ],
  "ipv6_prefixes": [
    {{"ipv6_prefix": "::1/128", "region": "lab-1", "service": "EC2", "network_border_group": "lab-1"}}
  ]}}"#,
        now.unix_timestamp(),
        now.format(&format).unwrap()
    );
    let path = dir.join("ip-ranges.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// One endpoint of a lab catalog.
pub(crate) struct Endpoint<'a> {
    pub id: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub paths: &'a [&'a str],
    pub websocket: bool,
}

impl<'a> Endpoint<'a> {
    pub(crate) fn new(id: &'a str, host: &'a str, port: u16) -> Self {
        Self {
            id,
            host,
            port,
            paths: &[],
            websocket: false,
        }
    }
}

/// A catalog of the Region `lab-1` holding `endpoints`.
pub(crate) fn catalog_file(dir: &Path, endpoints: &[Endpoint<'_>]) -> PathBuf {
    let mut text = String::from(
        "version = 1\n\n[[region]]\ncode = \"lab-1\"\nname = \"Lab\"\n\n[[rule]]\nid = \"ec2-api\"\ngroup = \"core\"\nservice = \"EC2\"\nregions = [\"{region}\"]\nports = [\"tcp/1-65535\"]\npurpose = \"lab\"\nsource = \"lab\"\n",
    );
    for e in endpoints {
        let paths: Vec<String> = e.paths.iter().map(|p| format!("{p:?}")).collect();
        text.push_str(&format!(
            "\n[[endpoint]]\nid = \"{}\"\ngroup = \"core\"\nhost = \"{}\"\nports = [\"tcp/{}\"]\npaths = [{}]\nwebsocket = {}\npurpose = \"lab {}\"\nsource = \"lab\"\n",
            e.id,
            e.host,
            e.port,
            paths.join(", "),
            e.websocket,
            e.id
        ));
    }
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The zone with every name at 127.0.0.1.
pub(crate) fn loopback_zone(names: &[&str]) -> HashMap<String, Dns> {
    names
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                Dns::Addresses(vec!["127.0.0.1".parse().unwrap()]),
            )
        })
        .collect()
}

/// A relay's answer to a STUN Binding or an unauthenticated TURN Allocate.
fn stun_reply(request: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
    use stun::message::{Message, MessageType, Setter};
    let mut m = Message::new();
    m.unmarshal_binary(request).ok()?;
    let id = m.transaction_id;
    let setters: Vec<Box<dyn Setter>> = match m.typ.method {
        stun::message::METHOD_BINDING => vec![
            Box::new(id),
            Box::new(stun::message::BINDING_SUCCESS),
            Box::new(stun::xoraddr::XorMappedAddress {
                ip: peer.ip(),
                port: peer.port(),
            }),
        ],
        stun::message::METHOD_ALLOCATE => vec![
            Box::new(id),
            Box::new(MessageType::new(
                stun::message::METHOD_ALLOCATE,
                stun::message::CLASS_ERROR_RESPONSE,
            )),
            Box::new(stun::error_code::ErrorCodeAttribute {
                code: stun::error_code::CODE_UNAUTHORIZED,
                reason: b"Unauthorized".to_vec(),
            }),
            Box::new(stun::textattrs::TextAttribute::new(
                stun::attributes::ATTR_REALM,
                "lab.test".to_owned(),
            )),
            Box::new(stun::textattrs::TextAttribute::new(
                stun::attributes::ATTR_NONCE,
                "0123abcd".to_owned(),
            )),
        ],
        _ => return None,
    };
    let mut reply = Message::new();
    reply.build(&setters).ok()?;
    Some(reply.raw)
}
