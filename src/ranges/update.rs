//! `ranges update`: fetch `ip-ranges.json` when the user asks, validate it, cache it atomically.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Snapshot, Source};
use crate::error::{Error, Result};

pub(crate) const DEFAULT_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// Larger than any published copy by a wide margin; a bigger answer is not ip-ranges.json.
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// The outcome, for the user.
#[derive(Debug)]
pub(crate) enum Outcome {
    Cached { path: PathBuf, snapshot: Snapshot },
    AlreadyCurrent { in_use: Snapshot },
}

/// Reads `from` (an http(s) URL or a file) into text, bounded in size and time.
pub(crate) fn fetch(from: &str, timeout: Duration) -> Result<String> {
    if from.starts_with("https://") || from.starts_with("http://") {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(e.into()))?;
        runtime.block_on(download(from, timeout, MAX_BYTES, "ip-ranges.json"))
    } else {
        crate::input::read_text(Path::new(from), MAX_BYTES as u64, "ip-ranges.json")
    }
}

/// TLS for downloads: the OS's store (where a TLS-inspecting proxy's CA lives) and the bundled
/// public roots, so a machine with an empty or unreadable store still verifies public servers.
/// The store is read once per run, however many downloads there are (WPAD tries several URLs).
fn client_tls() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG.get_or_init(load_client_tls).clone()
}

fn load_client_tls() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// Downloads `url` as text, at most `max` bytes (`what` names the document a bigger answer is not).
pub(crate) async fn download(
    url: &str,
    timeout: Duration,
    max: usize,
    what: &str,
) -> Result<String> {
    let fail = |what: String| Error::Fetch(format!("downloading {url}: {what}"));
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .user_agent(concat!("connect-preflight/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    if !response.status().is_success() {
        return Err(fail(format!("the server answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(describe(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(fail(format!(
                "the answer is larger than {max} bytes, which {what} never is"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| fail("the answer is not UTF-8 text".to_owned()))
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer in time ({text})")
    } else {
        text
    }
}

/// Validates `text` as a newer copy than `in_use` and writes it into `cache_dir`.
pub(crate) fn install(
    text: &str,
    origin: &str,
    in_use: Snapshot,
    cache_dir: &Path,
    force: bool,
) -> Result<Outcome> {
    let candidate = Snapshot::from_json(text, Source::File(PathBuf::from(origin)))?;
    let (new, old) = (candidate.sync_token_value(), in_use.sync_token_value());
    if !force && new == old {
        return Ok(Outcome::AlreadyCurrent { in_use });
    }
    if !force && new < old {
        return Err(Error::bad_input(
            crate::error::Location::file(origin),
            format!(
                "syncToken {} ({}) is older than the snapshot in use ({}, {}); refusing to go back (use --force to insist)",
                candidate.sync_token, candidate.create_date, in_use.sync_token, in_use.create_date
            ),
        ));
    }
    std::fs::create_dir_all(cache_dir).map_err(|source| Error::Write {
        path: cache_dir.to_owned(),
        source,
    })?;
    let path = cache_dir.join(super::CACHE_FILE);
    crate::output::write_atomically(&path, text.as_bytes())?;
    let snapshot = Snapshot {
        source: Source::Cache(path.clone()),
        ..candidate
    };
    Ok(Outcome::Cached { path, snapshot })
}
