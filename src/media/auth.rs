//! The softphone's own use of a relay, with TURN credentials (RFC 8656 long-term credentials):
//! an authenticated Allocate, a permission, an echo loop of Send indications through the
//! allocation, and a Refresh with LIFETIME 0 that frees it.
//!
//! The echo loop: every Send indication names the allocation's own relayed address as the peer,
//! so the relay sends the DATA from its relayed address to itself and hands it back in a Data
//! indication. Every datagram goes between this machine and the relay's UDP 3478 and back, the way
//! a call's audio does; nothing depends on the workstation's NAT letting in a datagram from another
//! port of the relay.

use std::net::SocketAddr;
use std::time::Duration;

use stun::agent::TransactionId;
use stun::attributes::{
    ATTR_DATA, ATTR_LIFETIME, ATTR_NONCE, ATTR_REALM, ATTR_REQUESTED_TRANSPORT, ATTR_USERNAME,
    ATTR_XOR_PEER_ADDRESS, ATTR_XOR_RELAYED_ADDRESS, ATTR_XORMAPPED_ADDRESS,
};
use stun::error_code::ErrorCodeAttribute;
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, Getter,
    METHOD_ALLOCATE, METHOD_CREATE_PERMISSION, METHOD_DATA, METHOD_REFRESH, METHOD_SEND, Message,
    MessageType, Method, Setter,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::message::{MAX_DATAGRAM, new_id};
use super::relay::{Pacing, Target, Train};
use super::transaction::{self, Outcome, Peer, Retransmit};
use super::{Options, TURN_PORT};
use crate::remedy;
use crate::report::facts::RelayStep;
use crate::report::{Check, Kind, Reason, Status};

/// TURN credentials: a CCP session's short-lived `username` and `credential`. Neither is ever
/// written out; `from` says where they came from, for the report.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub from: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ from: {:?}, .. }}", self.from)
    }
}

/// Which relays get which credentials: those of an iceServers entry for its own host, the
/// flags' or environment's for every other relay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    pub any_host: Option<Credentials>,
    pub by_host: Vec<(String, Credentials)>,
}

impl Keyring {
    pub(crate) fn is_empty(&self) -> bool {
        self.any_host.is_none() && self.by_host.is_empty()
    }

    pub(crate) fn for_host(&self, host: &str) -> Option<&Credentials> {
        self.by_host
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, c)| c)
            .or(self.any_host.as_ref())
    }
}

/// Which step of the authenticated exchange a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Allocate,
    Permission,
}

impl Stage {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Allocate => "authenticated Allocate",
            Self::Permission => "CreatePermission",
        }
    }
}

/// Why the authenticated path did not give a usable allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    NoAnswer {
        stage: Stage,
        attempts: u32,
        waited: Duration,
    },
    Network {
        stage: Stage,
        error: String,
    },
    /// An error response. `authenticated`: the request carried MESSAGE-INTEGRITY.
    Refused {
        stage: Stage,
        code: u16,
        reason: String,
        authenticated: bool,
        /// The realm the credentials were offered for, once the relay named one.
        realm: Option<String>,
    },
    /// A success without the addresses the next steps need, or a 401 without realm and nonce.
    Incomplete {
        stage: Stage,
        what: String,
    },
}

/// A granted allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Allocation {
    pub relayed: SocketAddr,
    /// This machine's address as the relay saw it, when the success said.
    pub reflexive: Option<SocketAddr>,
    pub realm: String,
    pub rtt: Duration,
    /// Whether a 438 Stale Nonce was answered with a retry.
    pub stale_nonce_retried: bool,
}

/// The outcome for one relay.
#[derive(Clone, Debug)]
pub(crate) struct Relayed {
    pub target: Target,
    /// Where the credentials came from (never the credentials).
    pub credentials_from: String,
    pub allocation: Result<Allocation, Failure>,
    pub train: Option<Train>,
    /// Whether the Refresh with LIFETIME 0 was accepted.
    pub freed: bool,
    /// Whether a 438 Stale Nonce after the allocation (to the CreatePermission or the Refresh)
    /// was answered with a retry under the new nonce.
    pub nonce_renewed: bool,
}

struct U32Attr(stun::attributes::AttrType, u32);

impl Setter for U32Attr {
    fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
        m.add(self.0, &self.1.to_be_bytes());
        Ok(())
    }
}

struct Raw(stun::attributes::AttrType, Vec<u8>);

impl Setter for Raw {
    fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
        m.add(self.0, &self.1);
        Ok(())
    }
}

struct PeerAddress(SocketAddr);

impl Setter for PeerAddress {
    fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
        XorMappedAddress {
            ip: self.0.ip(),
            port: self.0.port(),
        }
        .add_to_as(m, ATTR_XOR_PEER_ADDRESS)
    }
}

/// The realm and nonce of the current challenge, and the key they make.
struct Auth<'a> {
    credentials: &'a Credentials,
    realm: String,
    nonce: String,
}

impl Auth<'_> {
    fn setters(&self) -> Vec<Box<dyn Setter>> {
        vec![
            Box::new(TextAttribute::new(
                ATTR_USERNAME,
                self.credentials.username.clone(),
            )),
            Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())),
            Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())),
        ]
    }

    fn integrity(&self) -> MessageIntegrity {
        MessageIntegrity::new_long_term_integrity(
            self.credentials.username.clone(),
            self.realm.clone(),
            self.credentials.password.clone(),
        )
    }
}

fn build(
    id: [u8; 12],
    method: Method,
    class: stun::message::MessageClass,
    mut attrs: Vec<Box<dyn Setter>>,
    auth: Option<&Auth<'_>>,
) -> Vec<u8> {
    let mut all: Vec<Box<dyn Setter>> = vec![
        Box::new(TransactionId(id)),
        Box::new(MessageType::new(method, class)),
    ];
    all.append(&mut attrs);
    if let Some(auth) = auth {
        all.extend(auth.setters());
        all.push(Box::new(auth.integrity()));
    }
    all.push(Box::new(FINGERPRINT));
    let mut m = Message::new();
    m.build(&all)
        .expect("building a request from fixed parts cannot fail");
    m.raw
}

fn requested_udp() -> Box<dyn Setter> {
    Box::new(Raw(ATTR_REQUESTED_TRANSPORT, vec![17, 0, 0, 0]))
}

fn decode(bytes: &[u8]) -> Option<Message> {
    if !stun::message::is_message(bytes) {
        return None;
    }
    let mut m = Message::new();
    m.unmarshal_binary(bytes).ok()?;
    Some(m)
}

fn address(m: &Message, attr: stun::attributes::AttrType) -> Option<SocketAddr> {
    let mut a = XorMappedAddress::default();
    a.get_from_as(m, attr).ok()?;
    Some(SocketAddr::new(a.ip, a.port))
}

fn text(m: &Message, attr: stun::attributes::AttrType) -> Option<String> {
    TextAttribute::get_from_as(m, attr).ok().map(|t| t.text)
}

/// One request with RFC 8489 retransmissions until `deadline`; the answer is the response with
/// the same transaction ID and method from the relay.
async fn transact(
    socket: &UdpSocket,
    relay: SocketAddr,
    id: [u8; 12],
    method: Method,
    bytes: &[u8],
    stage: Stage,
    deadline: Instant,
) -> Result<(Message, Duration), Failure> {
    let request = transaction::Request {
        id,
        bytes: bytes.to_vec(),
    };
    let read = |datagram: &[u8]| match decode(datagram) {
        Some(m)
            if m.typ.method == method
                && (m.typ.class == CLASS_SUCCESS_RESPONSE
                    || m.typ.class == CLASS_ERROR_RESPONSE) =>
        {
            Ok((m.transaction_id.0, m))
        }
        _ => Err(String::new()),
    };
    match transaction::one(
        socket,
        Peer::At(relay),
        request,
        Retransmit::UNTIL_DEADLINE,
        deadline,
        read,
    )
    .await
    {
        Outcome::Answered { reply, rtt, .. } => Ok((reply, rtt)),
        Outcome::Timeout { attempts, waited } => Err(Failure::NoAnswer {
            stage,
            attempts,
            waited,
        }),
        Outcome::Unreachable { error, .. } | Outcome::Failed { error } => {
            Err(Failure::Network { stage, error })
        }
    }
}

fn error_of(m: &Message) -> (u16, String) {
    let mut e = ErrorCodeAttribute::default();
    match e.get_from(m) {
        Ok(()) => (e.code.0, String::from_utf8_lossy(&e.reason).into_owned()),
        Err(_) => (0, String::new()),
    }
}

/// Allocates on `target` with `credentials`, then (when `sample` is not zero) measures the
/// relayed echo loop every `interval` for `sample`, and frees the allocation. Every exchange is
/// bounded by `budget`.
pub(crate) async fn relayed(
    target: &Target,
    credentials: &Credentials,
    budget: Duration,
    sample: Duration,
    interval: Duration,
) -> Relayed {
    let mut out = Relayed {
        target: target.clone(),
        credentials_from: credentials.from.clone(),
        allocation: Err(Failure::NoAnswer {
            stage: Stage::Allocate,
            attempts: 0,
            waited: Duration::ZERO,
        }),
        train: None,
        freed: false,
        nonce_renewed: false,
    };
    let bind: SocketAddr = if target.addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            out.allocation = Err(Failure::Network {
                stage: Stage::Allocate,
                error: e.to_string(),
            });
            return out;
        }
    };
    let (allocation, mut auth) = match allocate(&socket, target.addr, credentials, budget).await {
        Ok(a) => a,
        Err(f) => {
            out.allocation = Err(f);
            return out;
        }
    };
    out.allocation = Ok(allocation.clone());
    match permission(&socket, target.addr, &mut auth, &allocation, budget).await {
        Err(f) => out.allocation = Err(f),
        Ok(renewed) => {
            out.nonce_renewed |= renewed;
            if !sample.is_zero() {
                out.train = Some(echo(&socket, target.addr, &allocation, sample, interval).await);
            }
        }
    }
    let (freed, renewed) = free(&socket, target.addr, &mut auth, budget).await;
    out.freed = freed;
    out.nonce_renewed |= renewed;
    out
}

async fn allocate<'a>(
    socket: &UdpSocket,
    relay: SocketAddr,
    credentials: &'a Credentials,
    budget: Duration,
) -> Result<(Allocation, Auth<'a>), Failure> {
    let stage = Stage::Allocate;
    let id = new_id();
    let first = build(
        id,
        METHOD_ALLOCATE,
        CLASS_REQUEST,
        vec![requested_udp()],
        None,
    );
    let (m, _) = transact(
        socket,
        relay,
        id,
        METHOD_ALLOCATE,
        &first,
        stage,
        Instant::now() + budget,
    )
    .await?;
    if m.typ.class == CLASS_SUCCESS_RESPONSE {
        return Err(Failure::Incomplete {
            stage,
            what: "an allocation granted without asking for credentials".to_owned(),
        });
    }
    let (code, reason) = error_of(&m);
    let (Some(realm), Some(nonce)) = (text(&m, ATTR_REALM), text(&m, ATTR_NONCE)) else {
        return Err(if code == 401 {
            Failure::Incomplete {
                stage,
                what: "a 401 without REALM and NONCE".to_owned(),
            }
        } else {
            Failure::Refused {
                stage,
                code,
                reason,
                authenticated: false,
                realm: None,
            }
        });
    };
    let mut auth = Auth {
        credentials,
        realm,
        nonce,
    };
    let mut stale_nonce_retried = false;
    loop {
        let id = new_id();
        let bytes = build(
            id,
            METHOD_ALLOCATE,
            CLASS_REQUEST,
            vec![requested_udp()],
            Some(&auth),
        );
        let (m, rtt) = transact(
            socket,
            relay,
            id,
            METHOD_ALLOCATE,
            &bytes,
            stage,
            Instant::now() + budget,
        )
        .await?;
        if m.typ.class == CLASS_SUCCESS_RESPONSE {
            let relayed = address(&m, ATTR_XOR_RELAYED_ADDRESS);
            let reflexive = address(&m, ATTR_XORMAPPED_ADDRESS);
            let Some(relayed) = relayed else {
                return Err(Failure::Incomplete {
                    stage,
                    what: "an Allocate success without an XOR-RELAYED-ADDRESS".to_owned(),
                });
            };
            let realm = auth.realm.clone();
            return Ok((
                Allocation {
                    relayed,
                    reflexive,
                    realm,
                    rtt,
                    stale_nonce_retried,
                },
                auth,
            ));
        }
        let (code, reason) = error_of(&m);
        match (code, text(&m, ATTR_NONCE)) {
            (438, Some(nonce)) if !stale_nonce_retried => {
                stale_nonce_retried = true;
                auth.nonce = nonce;
                if let Some(realm) = text(&m, ATTR_REALM) {
                    auth.realm = realm;
                }
            }
            _ => {
                return Err(Failure::Refused {
                    stage,
                    code,
                    reason,
                    authenticated: true,
                    realm: Some(auth.realm.clone()),
                });
            }
        }
    }
}

/// An authenticated request after the allocation (`attrs` makes its attributes): a 438 Stale
/// Nonce is answered once with a retry under the new nonce, which `auth` keeps for later
/// requests. Returns the answer and whether the nonce was renewed.
async fn signed(
    socket: &UdpSocket,
    relay: SocketAddr,
    auth: &mut Auth<'_>,
    method: Method,
    attrs: &(dyn Fn() -> Vec<Box<dyn Setter>> + Sync),
    stage: Stage,
    deadline: Instant,
) -> Result<(Message, bool), Failure> {
    let mut renewed = false;
    loop {
        let id = new_id();
        let bytes = build(id, method, CLASS_REQUEST, attrs(), Some(auth));
        let (m, _) = transact(socket, relay, id, method, &bytes, stage, deadline).await?;
        if m.typ.class == CLASS_ERROR_RESPONSE && !renewed && error_of(&m).0 == 438 {
            if let Some(nonce) = text(&m, ATTR_NONCE) {
                auth.nonce = nonce;
                if let Some(realm) = text(&m, ATTR_REALM) {
                    auth.realm = realm;
                }
                renewed = true;
                continue;
            }
        }
        return Ok((m, renewed));
    }
}

/// A permission for the relayed address itself, the peer of the echo loop.
async fn permission(
    socket: &UdpSocket,
    relay: SocketAddr,
    auth: &mut Auth<'_>,
    allocation: &Allocation,
    budget: Duration,
) -> Result<bool, Failure> {
    let stage = Stage::Permission;
    let peer = allocation.relayed;
    let attrs = move || -> Vec<Box<dyn Setter>> { vec![Box::new(PeerAddress(peer))] };
    let (m, renewed) = signed(
        socket,
        relay,
        auth,
        METHOD_CREATE_PERMISSION,
        &attrs,
        stage,
        Instant::now() + budget,
    )
    .await?;
    if m.typ.class == CLASS_SUCCESS_RESPONSE {
        Ok(renewed)
    } else {
        let (code, reason) = error_of(&m);
        Err(Failure::Refused {
            stage,
            code,
            reason,
            authenticated: true,
            realm: Some(auth.realm.clone()),
        })
    }
}

/// A Refresh with LIFETIME 0: the relay frees the allocation now instead of in ten minutes.
/// Returns whether it was freed and whether the nonce was renewed on the way.
async fn free(
    socket: &UdpSocket,
    relay: SocketAddr,
    auth: &mut Auth<'_>,
    budget: Duration,
) -> (bool, bool) {
    let attrs = || -> Vec<Box<dyn Setter>> { vec![Box::new(U32Attr(ATTR_LIFETIME, 0))] };
    let deadline = Instant::now() + budget.min(Duration::from_secs(2));
    match signed(
        socket,
        relay,
        auth,
        METHOD_REFRESH,
        &attrs,
        Stage::Allocate,
        deadline,
    )
    .await
    {
        Ok((m, renewed)) => (m.typ.class == CLASS_SUCCESS_RESPONSE, renewed),
        Err(_) => (false, false),
    }
}

const ECHO_TAG: &[u8; 4] = b"cpfe";

fn echo_payload(seq: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(8);
    p.extend_from_slice(ECHO_TAG);
    p.extend_from_slice(&seq.to_be_bytes());
    p
}

fn echo_seq(payload: &[u8]) -> Option<u32> {
    let rest = payload.strip_prefix(ECHO_TAG)?;
    Some(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?))
}

/// Sends a Send indication every `interval` for `duration` and times each echo.
async fn echo(
    socket: &UdpSocket,
    relay: SocketAddr,
    allocation: &Allocation,
    duration: Duration,
    interval: Duration,
) -> Train {
    let mut train = Train::default();
    let mut pacing = Pacing::new(duration, interval);
    let mut ticker = Pacing::ticker(interval);
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let grace_over = pacing.end().map(tokio::time::sleep_until);
        tokio::select! {
            _ = ticker.tick(), if pacing.wants_more() => {
                if pacing.silent(&train) {
                    train.stopped_early = true;
                    break;
                }
                let seq = u32::try_from(pacing.next()).unwrap_or(u32::MAX);
                let bytes = build(
                    new_id(),
                    METHOD_SEND,
                    CLASS_INDICATION,
                    vec![
                        Box::new(PeerAddress(allocation.relayed)),
                        Box::new(Raw(ATTR_DATA, echo_payload(seq))),
                    ],
                    None,
                );
                let now = Instant::now();
                if let Err(e) = socket.send_to(&bytes, relay).await {
                    train.error = Some(e.to_string());
                    break;
                }
                pacing.sent(&mut train, now);
            }
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) if n <= MAX_DATAGRAM => {
                    // Only a Data indication from the relay's UDP 3478 carries an echo back.
                    let seq = if from == relay {
                        decode(&buf[..n])
                            .filter(|m| m.typ.method == METHOD_DATA && m.typ.class == CLASS_INDICATION)
                            .and_then(|m| m.get(ATTR_DATA).ok())
                            .and_then(|d| echo_seq(&d))
                    } else {
                        None
                    };
                    pacing.answered(&mut train, seq.and_then(|s| usize::try_from(s).ok()));
                }
                Ok(_) => train.stray += 1,
                Err(e) => {
                    train.error = Some(e.to_string());
                    break;
                }
            },
            () = async { if let Some(s) = grace_over { s.await } else { std::future::pending().await } } => break,
        }
        if pacing.complete(&train) {
            break;
        }
    }
    train
}

/// The standard name of a TURN error code (RFC 8489 §14.8, RFC 8656 §18.11).
pub(crate) fn code_name(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => "an unknown error",
    }
}

fn ms(d: Duration) -> f64 {
    super::round(d.as_secs_f64() * 1000.0)
}

/// The checks of one relay's authenticated test: the allocation (`turn-auth/HOST/IP`) and, when
/// one was granted, the relayed echo (`relayed/HOST/IP`). Credentials never appear in them.
pub(crate) fn checks(r: &Relayed, options: &Options) -> Vec<Check> {
    let target = &r.target;
    let base = |status, reason, detail: String| {
        super::relay_check(
            RelayStep::TurnAuth,
            target,
            Kind::Media,
            status,
            reason,
            detail,
        )
        .evidence("address", target.addr.to_string())
        .evidence("credentials_from", &r.credentials_from)
    };
    let allocation = match &r.allocation {
        Ok(a) => a,
        Err(failure) => return vec![failed(r, failure, options, base)],
    };
    let mut detail = format!(
        "{} granted a relay at {} to the authenticated Allocate (realm {:?}) in {:.1} ms, and the CreatePermission",
        target.addr,
        allocation.relayed,
        allocation.realm,
        ms(allocation.rtt)
    );
    if allocation.stale_nonce_retried || r.nonce_renewed {
        detail.push_str("; a 438 Stale Nonce was answered by retrying once with the new nonce");
    }
    if r.freed {
        detail.push_str("; the allocation was freed (Refresh with LIFETIME 0)");
    } else {
        detail.push_str(
            "; the Refresh that frees the allocation got no answer, so it expires by itself",
        );
    }
    let mut out = vec![
        base(Status::Pass, Reason::Ok, detail)
            .evidence("relayed_address", allocation.relayed.to_string())
            .evidence(
                "reflexive_address",
                allocation.reflexive.map(|a| a.to_string()),
            )
            .evidence("realm", &allocation.realm)
            .evidence("rtt_ms", ms(allocation.rtt))
            .evidence(
                "stale_nonce_retried",
                allocation.stale_nonce_retried || r.nonce_renewed,
            )
            .evidence("freed", r.freed),
    ];
    if let Some(train) = &r.train {
        out.push(echo_check(r, allocation, train, options));
    }
    out
}

fn echo_check(r: &Relayed, allocation: &Allocation, train: &Train, options: &Options) -> Check {
    let target = &r.target;
    if let Some(check) = super::graded(RelayStep::Relayed, target, train, options, "relayed echoes")
    {
        return check
            .evidence("relayed_address", allocation.relayed.to_string())
            .evidence("realm", &allocation.realm);
    }
    let why = train
        .error
        .as_ref()
        .map_or_else(String::new, |e| format!(" ({e})"));
    super::relay_check(
        RelayStep::Relayed,
        target,
        Kind::Media,
        Status::Warn,
        Reason::Timeout,
        format!(
            "{} granted the relay at {} but handed back none of {} datagrams sent through it to that relayed address{why}: \
             something in the path drops the relayed traffic, or this relay does not relay to itself; the quality sample \
             without relaying is the check above",
            target.addr,
            allocation.relayed,
            train.samples.len()
        ),
    )
    .evidence("sent", train.samples.len())
    .evidence("relayed_address", allocation.relayed.to_string())
    .remedy(remedy::relayed_path_silent(
        &target.host,
        TURN_PORT,
        &super::where_to(target, options),
    ))
}

fn failed(
    r: &Relayed,
    failure: &Failure,
    options: &Options,
    base: impl Fn(Status, Reason, String) -> Check,
) -> Check {
    let target = &r.target;
    match failure {
        Failure::NoAnswer {
            stage,
            attempts,
            waited,
        } => base(
            Status::Fail,
            Reason::Timeout,
            format!(
                "no answer from {} to the {} after {attempts} tries in {:.1} s, although it answered without credentials: \
                 a device in the path drops the longer, authenticated requests",
                target.addr,
                stage.as_str(),
                waited.as_secs_f64()
            ),
        )
        .evidence("stage", stage.as_str())
        .remedy(remedy::relayed_path_silent(
            &target.host,
            TURN_PORT,
            &super::where_to(target, options),
        )),
        Failure::Network { stage, error } => base(
            Status::Fail,
            Reason::Unreachable,
            format!("the {} to {} failed: {error}", stage.as_str(), target.addr),
        )
        .evidence("stage", stage.as_str())
        .remedy(remedy::turn_unreachable(
            &target.host,
            TURN_PORT,
            &super::where_to(target, options),
        )),
        Failure::Refused {
            stage,
            code,
            reason,
            authenticated,
            realm,
        } => {
            let refused_credentials = *authenticated && matches!(code, 401 | 441);
            let said = format!("{code} {} ({reason:?})", code_name(*code));
            let (detail, remedy) = if refused_credentials {
                (
                    format!(
                        "{} refused the credentials ({}): the {}, which carried MESSAGE-INTEGRITY for realm {:?}, got {said}: \
                         the username or password is wrong or has expired",
                        target.addr,
                        r.credentials_from,
                        stage.as_str(),
                        realm.as_deref().unwrap_or_default()
                    ),
                    remedy::turn_credentials_refused(),
                )
            } else {
                let meaning = match code {
                    438 => ": the relay called the nonce stale again after one retry with its new nonce",
                    486 => ": these credentials already hold as many allocations as the relay allows (allocation quota)",
                    508 => ": the relay is out of capacity",
                    403 => ": the relay forbids it",
                    437 => ": the relay holds another allocation for this address and port",
                    442 => ": the relay does not relay UDP",
                    _ => "",
                };
                let remedy = remedy::allocation_refused(&target.host, TURN_PORT, *code);
                (
                    format!(
                        "{} refused the {} with {said}{meaning}",
                        target.addr,
                        stage.as_str()
                    ),
                    remedy,
                )
            };
            base(Status::Fail, Reason::AllocationFailed, detail)
                .evidence("stage", stage.as_str())
                .evidence("error_code", code)
                .evidence("error_reason", reason)
                .evidence("realm", realm)
                .evidence("credentials_refused", refused_credentials)
                .remedy(remedy)
        }
        Failure::Incomplete { stage, what } => base(
            Status::Warn,
            Reason::BadResponse,
            format!(
                "{} answered the {} with {what}: not how a TURN relay with long-term credentials answers",
                target.addr,
                stage.as_str()
            ),
        )
        .evidence("stage", stage.as_str())
        .remedy(remedy::turn_impostor(&target.host, TURN_PORT, None)),
    }
}

/// The authenticated test of a relay that did not answer without credentials.
pub(crate) fn not_tested(target: &Target, credentials_from: &str) -> Check {
    super::relay_check(
        RelayStep::TurnAuth,
        target,
        Kind::Media,
        Status::Skip,
        Reason::NotTested,
        format!(
            "not tested with the credentials ({credentials_from}): {} did not answer without them (see its stun and turn checks)",
            target.addr
        ),
    )
    .evidence("credentials_from", credentials_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Addr(stun::attributes::AttrType, SocketAddr);

    impl Setter for Addr {
        fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
            XorMappedAddress {
                ip: self.1.ip(),
                port: self.1.port(),
            }
            .add_to_as(m, self.0)
        }
    }

    /// An Allocate success, an error and a Data indication as a relay sends them.
    fn answers() -> Vec<Vec<u8>> {
        let relayed: SocketAddr = "203.0.113.30:49200".parse().unwrap();
        let mapped: SocketAddr = "[2001:db8::10]:40000".parse().unwrap();
        let success = build(
            new_id(),
            METHOD_ALLOCATE,
            CLASS_SUCCESS_RESPONSE,
            vec![
                Box::new(Addr(ATTR_XOR_RELAYED_ADDRESS, relayed)),
                Box::new(Addr(ATTR_XORMAPPED_ADDRESS, mapped)),
                Box::new(U32Attr(ATTR_LIFETIME, 600)),
            ],
            None,
        );
        let error = build(
            new_id(),
            METHOD_ALLOCATE,
            CLASS_ERROR_RESPONSE,
            vec![
                Box::new(ErrorCodeAttribute {
                    code: stun::error_code::CODE_STALE_NONCE,
                    reason: b"Stale Nonce".to_vec(),
                }),
                Box::new(TextAttribute::new(ATTR_REALM, "lab.example".to_owned())),
                Box::new(TextAttribute::new(ATTR_NONCE, "n-2".to_owned())),
            ],
            None,
        );
        let data = build(
            new_id(),
            METHOD_DATA,
            CLASS_INDICATION,
            vec![
                Box::new(PeerAddress(relayed)),
                Box::new(Raw(ATTR_DATA, echo_payload(7))),
            ],
            None,
        );
        vec![success, error, data]
    }

    #[test]
    fn answers_read_back_and_a_data_indication_carries_the_echo_sequence() {
        let all = answers();
        let m = decode(&all[0]).unwrap();
        assert_eq!(
            address(&m, ATTR_XOR_RELAYED_ADDRESS),
            Some("203.0.113.30:49200".parse().unwrap())
        );
        assert_eq!(
            address(&m, ATTR_XORMAPPED_ADDRESS),
            Some("[2001:db8::10]:40000".parse().unwrap())
        );
        let m = decode(&all[1]).unwrap();
        assert_eq!(error_of(&m), (438, "Stale Nonce".to_owned()));
        assert_eq!(text(&m, ATTR_NONCE).as_deref(), Some("n-2"));
        let data = &all[2];
        let m = decode(data).unwrap();
        assert_eq!(echo_seq(&m.get(ATTR_DATA).unwrap()), Some(7));
        assert_eq!(echo_seq(b"cpfe\x00"), None);
        assert_eq!(echo_seq(b"xxxx\x00\x00\x00\x07"), None);
    }

    #[test]
    fn truncated_and_corrupted_answers_never_panic() {
        for answer in answers() {
            for cut in 0..answer.len() {
                inspect(&answer[..cut]);
            }
            for i in 0..answer.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut copy = answer.clone();
                    copy[i] ^= flip;
                    inspect(&copy);
                }
            }
        }
    }

    /// Everything the client reads from an answer.
    fn inspect(bytes: &[u8]) {
        if let Some(m) = decode(bytes) {
            let _ = error_of(&m);
            let _ = address(&m, ATTR_XOR_RELAYED_ADDRESS);
            let _ = address(&m, ATTR_XORMAPPED_ADDRESS);
            let _ = address(&m, ATTR_XOR_PEER_ADDRESS);
            let _ = text(&m, ATTR_REALM);
            let _ = text(&m, ATTR_NONCE);
            if let Ok(d) = m.get(ATTR_DATA) {
                let _ = echo_seq(&d);
            }
        }
    }
}
