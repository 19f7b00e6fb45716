//! Where the authenticated media test gets its TURN credentials: `--turn-username` with
//! `--turn-password` (or the environment), or `--ice-servers FILE`, the `iceServers` JSON a CCP
//! session logs: `[{"urls": ["turn:host:3478?transport=udp"], "username": "…", "credential": "…"}]`,
//! or an object holding it under `iceServers`. URLs follow RFC 7064 and RFC 7065.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::TURN_PORT;
use super::auth::{Credentials, Keyring};
use crate::error::{Error, Location, Result};

/// Environment variables that hold TURN credentials for the authenticated media test (the
/// password is never written out).
pub const ENV_TURN_USERNAME: &str = "CONNECT_PREFLIGHT_TURN_USERNAME";
pub const ENV_TURN_PASSWORD: &str = "CONNECT_PREFLIGHT_TURN_PASSWORD";

#[derive(Deserialize)]
#[serde(untagged)]
enum Urls {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServer {
    urls: Urls,
    username: Option<String>,
    credential: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfiguration {
    ice_servers: Vec<RawServer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Stun,
    Stuns,
    Turn,
    Turns,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// One URL of the file, with the credentials of its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IceServer {
    pub url: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub credentials: Option<Credentials>,
}

impl IceServer {
    /// What the softphone relays its audio through: TURN over plain UDP.
    pub(crate) fn is_softphone_relay(&self) -> bool {
        self.scheme == Scheme::Turn && self.transport == Transport::Udp
    }
}

/// Parses a STUN or TURN URL: `turn:host[:port][?transport=udp|tcp]`, IPv6 hosts in brackets.
pub(crate) fn parse_url(url: &str) -> Result<(Scheme, String, u16, Transport), String> {
    if url.contains('@') {
        // Never echoed: the part before the @ would be a credential.
        return Err(
            "a URL with an @: credentials belong in username and credential, not in the URL"
                .to_owned(),
        );
    }
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| format!("{url:?} is not a stun:, stuns:, turn: or turns: URL"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "stun" => Scheme::Stun,
        "stuns" => Scheme::Stuns,
        "turn" => Scheme::Turn,
        "turns" => Scheme::Turns,
        _ => {
            return Err(format!(
                "{url:?} is not a stun:, stuns:, turn: or turns: URL"
            ));
        }
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let secure = matches!(scheme, Scheme::Stuns | Scheme::Turns);
    let mut transport = if secure {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("transport") => {
                transport = match value.to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    _ => return Err(format!("{url:?}: unknown transport {value:?}")),
                };
            }
            _ => {}
        }
    }
    let (host, port) = if let Some(inner) = address.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: an IPv6 address without its closing bracket"))?;
        (host, after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{url:?}: {p:?} is not a port"))?,
        None if secure => 5349,
        None => TURN_PORT,
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid {
        return Err(format!("{url:?}: {host:?} is not a host name or address"));
    }
    // The CCP hands out fully qualified names with a trailing dot; the catalog has none.
    let host = host.strip_suffix('.').unwrap_or(host);
    Ok((scheme, host.to_ascii_lowercase(), port, transport))
}

/// An `--ice-servers` file, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IceServers {
    pub path: PathBuf,
    pub servers: Vec<IceServer>,
}

impl IceServers {
    pub(crate) fn read(path: &Path) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::allowlist::read_text(path)?;
        Self::parse(&text, path)
    }

    /// Parses the file; anything malformed is bad input naming the file, line and column.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self> {
        let json_error = |e: serde_json::Error| {
            Error::bad_input(
                Location::at(path, e.line(), Some(e.column())),
                format!("in the iceServers file: {e}"),
            )
        };
        let raw: Vec<RawServer> = if text.trim_start().starts_with('{') {
            serde_json::from_str::<RawConfiguration>(text)
                .map_err(json_error)?
                .ice_servers
        } else {
            serde_json::from_str(text).map_err(json_error)?
        };
        let mut servers = Vec::new();
        for (n, entry) in raw.into_iter().enumerate() {
            let urls = match entry.urls {
                Urls::One(u) => vec![u],
                Urls::Many(u) => u,
            };
            for url in urls {
                let at = || {
                    text.find(&format!("\"{url}\"")).map_or_else(
                        || Location::file(path),
                        |o| Location::from_offset(path, text, o + 1),
                    )
                };
                let (scheme, host, port, transport) =
                    parse_url(&url).map_err(|m| Error::bad_input(at(), m))?;
                let credentials = match (&entry.username, &entry.credential) {
                    (Some(u), Some(c)) if !u.is_empty() && !c.is_empty() => Some(Credentials {
                        username: u.clone(),
                        password: c.clone(),
                        from: format!("iceServers entry {} of {}", n + 1, path.display()),
                    }),
                    _ if matches!(scheme, Scheme::Turn | Scheme::Turns) => {
                        return Err(Error::bad_input(
                            at(),
                            format!("{url:?}: a TURN server needs a username and a credential"),
                        ));
                    }
                    _ => None,
                };
                servers.push(IceServer {
                    url,
                    scheme,
                    host,
                    port,
                    transport,
                    credentials,
                });
            }
        }
        if !servers.iter().any(IceServer::is_softphone_relay) {
            return Err(Error::bad_input(
                Location::file(path),
                "no turn: URL over UDP (turn:host:3478?transport=udp) in the iceServers file: the softphone relays audio only that way",
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            servers,
        })
    }
}

/// At most this many relays of an iceServers file are tested (a CCP session hands out two to
/// four); the rest are counted in the report, not contacted.
pub(crate) const MAX_RELAYS: usize = 16;
/// At most this many URLs the softphone does not use are named in the report; the rest are
/// counted.
pub(crate) const MAX_UNUSED: usize = 16;

/// What the authenticated media test uses, resolved from the flags, the environment and the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnAuth {
    pub keyring: Keyring,
    /// Relays of the iceServers file: (host, port), tested besides the catalog's; at most
    /// [`MAX_RELAYS`].
    pub relays: Vec<(String, u16)>,
    /// URLs of the file the softphone does not use (TURN over TCP or TLS, STUN); at most
    /// [`MAX_UNUSED`].
    pub unused: Vec<String>,
    /// Relays and unused URLs of the file past those caps: counted, not tested.
    pub beyond_cap: usize,
}

impl TurnAuth {
    /// Resolves `--turn-username`/`--turn-password` (each also from the environment) and
    /// `--ice-servers`; `None` when no credentials are given.
    pub(crate) fn resolve(
        username: Option<&str>,
        password: Option<&str>,
        ice_servers: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>> {
        let env_value = |key: &str| env(key).filter(|v| !v.is_empty());
        if let Some(path) = ice_servers {
            let file = IceServers::read(path)?;
            let mut auth = Self::default();
            // Linear in the file: sets, not searches of what was kept so far.
            let mut seen = std::collections::HashSet::new();
            let mut keyed = std::collections::HashSet::new();
            for s in &file.servers {
                match (&s.credentials, s.is_softphone_relay()) {
                    (Some(c), true) => {
                        if !seen.insert((s.host.clone(), s.port)) {
                            continue;
                        }
                        if auth.relays.len() == MAX_RELAYS {
                            auth.beyond_cap += 1;
                            continue;
                        }
                        auth.relays.push((s.host.clone(), s.port));
                        if keyed.insert(s.host.clone()) {
                            auth.keyring.by_host.push((s.host.clone(), c.clone()));
                        }
                    }
                    _ if auth.unused.len() == MAX_UNUSED => auth.beyond_cap += 1,
                    _ => auth.unused.push(s.url.clone()),
                }
            }
            return Ok(Some(auth));
        }
        let (user, user_from) = match username {
            Some(u) => (Some(u.to_owned()), "--turn-username"),
            None => (env_value(ENV_TURN_USERNAME), ENV_TURN_USERNAME),
        };
        let (pass, pass_from) = match password {
            Some(p) => (Some(p.to_owned()), "--turn-password"),
            None => (env_value(ENV_TURN_PASSWORD), ENV_TURN_PASSWORD),
        };
        match (user, pass) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::usage(format!(
                "{user_from} needs a password: give --turn-password or set {ENV_TURN_PASSWORD}"
            ))),
            (None, Some(_)) => Err(Error::usage(format!(
                "{pass_from} needs a username: give --turn-username or set {ENV_TURN_USERNAME}"
            ))),
            (Some(username), Some(password)) => Ok(Some(Self {
                keyring: Keyring {
                    any_host: Some(Credentials {
                        username,
                        password,
                        from: format!("{user_from} and {pass_from}"),
                    }),
                    by_host: Vec::new(),
                },
                relays: Vec::new(),
                unused: Vec::new(),
                beyond_cap: 0,
            })),
        }
    }

    /// For `--list`: what the authenticated test adds, without any credential.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::from(
            "\nwith TURN credentials (authenticated Allocate, CreatePermission, relayed echo, Refresh LIFETIME 0):\n",
        );
        if let Some(c) = &self.keyring.any_host {
            let _ = writeln!(out, "  every relay above, credentials from {}", c.from);
        }
        for (host, port) in &self.relays {
            let from = self
                .keyring
                .for_host(host)
                .map_or_else(String::new, |c| format!(", credentials from {}", c.from));
            let _ = writeln!(out, "  {host} udp/{port}{from}");
        }
        for url in &self.unused {
            let _ = writeln!(
                out,
                "  not tested: {url} (the softphone relays audio only over UDP)"
            );
        }
        if self.beyond_cap > 0 {
            let _ = writeln!(
                out,
                "  not tested: {} more entries of the file (at most {MAX_RELAYS} relays are tested)",
                self.beyond_cap
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_their_defaults() {
        let cases = [
            (
                "turn:turnnlb-1.example:3478?transport=udp",
                Scheme::Turn,
                "turnnlb-1.example",
                3478,
                Transport::Udp,
            ),
            (
                "turn:TurnNlb-1.example",
                Scheme::Turn,
                "turnnlb-1.example",
                3478,
                Transport::Udp,
            ),
            (
                "turn:turnnlb-1.example.:3478?transport=udp",
                Scheme::Turn,
                "turnnlb-1.example",
                3478,
                Transport::Udp,
            ),
            (
                "turn:203.0.113.5:3478?transport=tcp",
                Scheme::Turn,
                "203.0.113.5",
                3478,
                Transport::Tcp,
            ),
            (
                "turns:relay.example",
                Scheme::Turns,
                "relay.example",
                5349,
                Transport::Tcp,
            ),
            (
                "stun:[2001:db8::5]:3479",
                Scheme::Stun,
                "2001:db8::5",
                3479,
                Transport::Udp,
            ),
            (
                "turn:[2001:db8::5]",
                Scheme::Turn,
                "2001:db8::5",
                3478,
                Transport::Udp,
            ),
        ];
        for (url, scheme, host, port, transport) in cases {
            assert_eq!(
                parse_url(url),
                Ok((scheme, host.to_owned(), port, transport)),
                "{url}"
            );
        }
        for bad in [
            "http://relay.example",
            "turn:",
            "turn:relay.example:0",
            "turn:relay.example:99999",
            "turn:relay.example?transport=sctp",
            "turn:[2001:db8::5",
            "turn:rel ay.example",
            "turn:user:secret@relay.example",
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    const CCP: &str = r#"[
  {"urls": ["turn:turnnlb-a.example:3478?transport=udp"], "username": "1732400000:agent", "credential": "s3cret+/="},
  {"urls": "turn:turnnlb-b.example:3478?transport=tcp", "username": "1732400000:agent", "credential": "s3cret+/="},
  {"urls": ["stun:stun.example:3478"]}
]"#;

    #[test]
    fn a_ccp_ice_servers_file_gives_per_host_credentials_and_names_what_is_not_udp() {
        let file = IceServers::parse(CCP, Path::new("ice.json")).unwrap();
        assert_eq!(file.servers.len(), 3);
        let env = |_: &str| None;
        let path = std::env::temp_dir().join(format!("ice-{}.json", std::process::id()));
        std::fs::write(&path, CCP).unwrap();
        let auth = TurnAuth::resolve(None, None, Some(&path), &env)
            .unwrap()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(auth.relays, [("turnnlb-a.example".to_owned(), 3478)]);
        let c = auth.keyring.for_host("TurnNlb-A.example").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("1732400000:agent", "s3cret+/=")
        );
        assert!(auth.keyring.for_host("turnnlb-b.example").is_none());
        assert_eq!(
            auth.unused,
            [
                "turn:turnnlb-b.example:3478?transport=tcp",
                "stun:stun.example:3478"
            ]
        );
        let listing = auth.describe();
        assert!(
            listing.contains("turnnlb-a.example udp/3478")
                && listing.contains("not tested: turn:turnnlb-b.example:3478?transport=tcp"),
            "{listing}"
        );
        assert!(
            !listing.contains("s3cret") && !listing.contains("1732400000"),
            "{listing}"
        );
        assert!(!format!("{auth:?}").contains("s3cret"));
        // The same list inside an RTCConfiguration.
        let wrapped = format!("{{\"iceServers\": {CCP}, \"iceTransportPolicy\": \"relay\"}}");
        assert_eq!(
            IceServers::parse(&wrapped, Path::new("ice.json")).unwrap(),
            file
        );
    }

    #[test]
    fn the_softphone_media_info_a_ccp_logs_is_read_as_it_is() {
        // The shape of `softphoneMediaInfo.callConfigJson`, with its other fields.
        let logged = r#"{"signalingEndpoint":"wss://rtc.connect-telecom.eu-central-1.amazonaws.com/LilyRTC",
"iceServers":[{"urls":["turn:turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com.:3478?transport=udp"],
"username":"1732400000:agent","credential":"c3VwZXI=","sessionToken":"{\"internalIp\":\"10.0.0.1\"}"}],
"protocol":"LilyRTC/1.0/WSS","useWebSocketProvider":true}"#;
        let file = IceServers::parse(logged, Path::new("ccp.json")).unwrap();
        assert_eq!(file.servers.len(), 1);
        let s = &file.servers[0];
        assert!(s.is_softphone_relay());
        assert_eq!(
            (s.host.as_str(), s.port),
            (
                "turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
                3478
            )
        );
        assert_eq!(s.credentials.as_ref().unwrap().password, "c3VwZXI=");
    }

    #[test]
    fn a_binary_file_is_refused_naming_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ice.json");
        std::fs::write(&path, b"[{\"urls\": [\"turn:a.example\"]}\0\x01]").unwrap();
        let err = IceServers::read(&path).unwrap_err();
        assert!(matches!(err, Error::BadInput { .. }), "{err}");
        assert!(err.to_string().contains("ice.json:1:"), "{err}");
        assert!(err.to_string().contains("binary"), "{err}");
    }

    #[test]
    fn a_bad_file_names_the_line_and_column() {
        let err = IceServers::parse(
            "[\n  {\"urls\": [\"turn:a.example\"],\n  \"username\": 7}\n]",
            Path::new("ice.json"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::BadInput { .. }), "{err}");
        assert!(err.to_string().starts_with("ice.json:3:"), "{err}");
        let err = IceServers::parse(
            "[\n {\"urls\": \"turn:a.example\"}\n]",
            Path::new("ice.json"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("ice.json:2:"), "{err}");
        assert!(
            err.to_string().contains("username and a credential"),
            "{err}"
        );
        let err = IceServers::parse(
            "[{\"urls\": \"turn:a.example\", \"username\": \"u\", \"credential\": \"p\"},\n {\"urls\": \"htp:b\", \"username\": \"u\", \"credential\": \"p\"}]",
            Path::new("ice.json"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("ice.json:2:"), "{err}");
        let err = IceServers::parse("[{\"urls\": \"stun:a.example\"}]", Path::new("ice.json"))
            .unwrap_err();
        assert!(err.to_string().contains("no turn: URL over UDP"), "{err}");
    }

    #[test]
    fn flags_and_environment_need_both_halves_and_the_flag_wins() {
        let none = |_: &str| None;
        assert_eq!(TurnAuth::resolve(None, None, None, &none).unwrap(), None);
        let err = TurnAuth::resolve(Some("u"), None, None, &none).unwrap_err();
        assert!(
            matches!(err, Error::Usage(_)) && err.to_string().contains(ENV_TURN_PASSWORD),
            "{err}"
        );
        let err = TurnAuth::resolve(None, Some("p"), None, &none).unwrap_err();
        assert!(
            matches!(err, Error::Usage(_)) && err.to_string().contains("--turn-username"),
            "{err}"
        );
        let env = |k: &str| match k {
            ENV_TURN_USERNAME => Some("env-user".to_owned()),
            ENV_TURN_PASSWORD => Some("env-pass".to_owned()),
            _ => None,
        };
        let from_env = TurnAuth::resolve(None, None, None, &env).unwrap().unwrap();
        let c = from_env.keyring.for_host("any.example").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("env-user", "env-pass")
        );
        assert_eq!(
            c.from,
            format!("{ENV_TURN_USERNAME} and {ENV_TURN_PASSWORD}")
        );
        let flag = TurnAuth::resolve(Some("flag-user"), None, None, &env)
            .unwrap()
            .unwrap();
        let c = flag.keyring.for_host("any.example").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("flag-user", "env-pass")
        );
        assert!(!flag.describe().contains("env-pass"));
    }
}
