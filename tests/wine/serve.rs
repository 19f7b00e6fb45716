//! The suite's own loopback servers, beside the CLI tests' (tests/cli/lab.rs): a PAC script over
//! HTTP and a profile over https. Each serves a bounded number of requests, then ends.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// Reads a request's head, at most 16 KiB.
fn read_head(stream: &mut impl Read) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 16 * 1024 && !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
}

fn answer(stream: &mut impl Write, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// An HTTP server on 127.0.0.1 answering every request with `body`, a PAC script (at most 200
/// requests); its URL.
pub fn http(body: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = body.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            read_head(&mut stream);
            answer(&mut stream, "application/x-ns-proxy-autoconfig", &body);
        }
    });
    format!("http://127.0.0.1:{port}/proxy.pac")
}

/// An https server on 127.0.0.1 answering every request with `body` (at most 20 requests); its
/// port.
pub fn https(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    body: String,
) -> u16 {
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            read_head(&mut tls);
            answer(&mut tls, "text/plain", &body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}
