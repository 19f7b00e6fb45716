//! Subcommands the lab runs of itself inside a namespace (`ip netns exec NS LAB HELPER ...`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs the helper named by `args[0]`, if it is one.
pub(crate) fn dispatch(args: &[String]) -> Option<ExitCode> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("wait-tcp") => Some(wait_tcp(rest)),
        Some("delay-line") => Some(crate::delay::main(rest)),
        Some("ws-backend") => Some(ws_backend(rest)),
        Some("http-file") => Some(http_file(rest)),
        Some("send-probes") => Some(crate::firewall::send_probes(rest)),
        _ => None,
    }
}

/// `wait-tcp ADDR MS`: succeeds once a TCP connection to ADDR opens, fails after MS.
fn wait_tcp(args: &[String]) -> ExitCode {
    let (Some(addr), Some(ms)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|m| m.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: wait-tcp ADDR MILLISECONDS");
        return ExitCode::from(64);
    };
    let deadline = Instant::now() + Duration::from_millis(ms);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return ExitCode::SUCCESS;
        }
        if Instant::now() > deadline {
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP request's head, read a byte at a time up to 16 KiB within 5 s a read; `None` when the
/// client goes away or stalls first.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 16 * 1024 && !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// How long the WebSocket backend serves, whatever happens to the lab.
const BACKEND_LIFETIME: Duration = Duration::from_secs(300);

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// RFC 6455 section 4.2.2: base64(SHA-1(key + GUID)).
fn accept_key(key: &str) -> String {
    let input = format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, input.as_bytes()).as_ref())
}

/// `ws-backend ADDR`: plain HTTP behind nginx. A request with `Sec-WebSocket-Key` gets the
/// RFC 6455 `101 Switching Protocols`; any other gets `200`.
fn ws_backend(args: &[String]) -> ExitCode {
    let Some(addr) = args.first().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: ws-backend ADDR");
        return ExitCode::from(64);
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ws-backend: {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("ws-backend: listening on {addr}");
    // Ends on its own even if nothing stops it and no connection comes.
    std::thread::spawn(|| {
        std::thread::sleep(BACKEND_LIFETIME);
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let Some(head) = read_head(&mut stream) else {
                return;
            };
            let key = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            });
            let reply = match key {
                Some(key) => format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(&key)
                ),
                None => "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nws\n"
                    .to_owned(),
            };
            let _ = stream.write_all(reply.as_bytes());
        });
    }
    ExitCode::SUCCESS
}

/// `http-file ADDR FILE`: answers every HTTP request on ADDR with FILE (a `wpad.dat`), and logs
/// each request line to stderr. Ends on its own after [`BACKEND_LIFETIME`].
fn http_file(args: &[String]) -> ExitCode {
    let (Some(addr), Some(file)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: http-file ADDR FILE");
        return ExitCode::from(64);
    };
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("http-file: {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("http-file: {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    std::thread::spawn(|| {
        std::thread::sleep(BACKEND_LIFETIME);
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let body = body.clone();
        std::thread::spawn(move || {
            let Some(head) = read_head(&mut stream) else {
                return;
            };
            eprintln!("http-file: {}", head.lines().next().unwrap_or_default());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        });
    }
    ExitCode::SUCCESS
}
