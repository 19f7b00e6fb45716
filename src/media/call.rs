//! A real relay-only WebRTC call, the way the softphone makes one: two peer connections in this
//! process, both with `iceTransportPolicy: relay` and the one TURN server, offer and answer handed
//! across in memory, DTLS-SRTP, and an Opus track sending Opus-sized packets every 20 ms.
//!
//! Where the figures come from:
//! - **counted on the receiving side**: packets received (unique RTP sequence numbers), loss
//!   against the packets the sender wrote, and RFC 3550 interarrival jitter from RTP timestamps and
//!   arrival times;
//! - **from RTCP**: the receiving peer sends receiver reports every [`REPORT_INTERVAL`]; the sending
//!   peer reads them for their jitter and cumulative loss, and webrtc's `get_stats`
//!   (`remote-inbound-rtp`) gives the round-trip time computed from their LSR/DLSR fields.
//!
//! When no relay candidate is gathered, webrtc only logs why. The call then asks the relay itself
//! (an Allocate without, then with, the credentials) so the failure names what the relay said.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use webrtc::api::APIBuilder;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::ice_transport::ice_connection_state::RTCIceConnectionState;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::interceptor::report::receiver::ReceiverReport as ReceiverReports;
use webrtc::interceptor::report::sender::SenderReport as SenderReports;
use webrtc::media::Sample;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::rtcp::receiver_report::ReceiverReport;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::stats::StatsReportType;
use webrtc::stun::agent::TransactionId;
use webrtc::stun::fingerprint::FINGERPRINT;
use webrtc::stun::integrity::MessageIntegrity;
use webrtc::stun::message::{CLASS_REQUEST, METHOD_ALLOCATE, METHOD_REFRESH, Message, MessageType};
use webrtc::stun::textattrs::TextAttribute;
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;
use webrtc::turn::proto::PROTO_UDP;
use webrtc::turn::proto::lifetime::Lifetime;
use webrtc::turn::proto::reqtrans::RequestedTransport;

use super::message::{self, Reply};
use super::relay::{self, Exchange, Target};
use super::transaction::{self, Outcome, Retransmit};
use super::{ICE_BUDGET, PACKET_INTERVAL, TURN_PORT, stats};

/// An Opus frame at 64 kbit/s and 20 ms: what the softphone's packets weigh.
pub(crate) const OPUS_PAYLOAD_BYTES: usize = 160;

/// Opus's RTP clock (RFC 7587), to turn RTP timestamps and RTCP jitter into milliseconds.
const OPUS_CLOCK_HZ: f64 = 48_000.0;

/// How often each peer sends its RTCP reports: twice a second, so a sample of a few seconds has
/// several round-trip measurements (browsers send audio reports about once a second).
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// After the last packet: time for it to arrive and for one more receiver report to come back.
const DRAIN: Duration = Duration::from_millis(600);

/// The longest limit a call takes.
const MAX_LIMIT: Duration = Duration::from_secs(3600);

/// Closing the two peer connections (and so the relay allocations) may take this long on top of
/// the call's limit.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One TURN server and the credentials the softphone would use with it.
#[derive(Clone, PartialEq, Eq)]
pub struct CallServer {
    /// `turn:host:port?transport=udp`, as a CCP session's ICE servers list it.
    pub url: String,
    pub username: String,
    pub credential: String,
}

impl fmt::Debug for CallServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallServer")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("credential", &"<redacted>")
            .finish()
    }
}

impl CallServer {
    /// The relay's host and port, from the URL. Only `turn:` over UDP: the softphone has no TCP or
    /// TLS fallback, so a call over anything else would prove nothing about it.
    pub(crate) fn host_port(&self) -> Result<(String, u16), String> {
        let rest = self
            .url
            .strip_prefix("turn:")
            .ok_or_else(|| "the URL does not start with `turn:`".to_owned())?;
        let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("transport", "udp")) => {}
                Some(("transport", other)) => {
                    return Err(format!(
                        "transport={other}: the softphone's relays are UDP only"
                    ));
                }
                _ => return Err(format!("unknown URL parameter `{pair}`")),
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 address without its closing `]`".to_owned())?;
            match after.strip_prefix(':') {
                Some(port) => (host, port),
                None if after.is_empty() => (host, ""),
                None => return Err(format!("`{after}` after the IPv6 address")),
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) if !port.contains(':') => (host, port),
                Some(_) => return Err("an IPv6 address must be in brackets".to_owned()),
                None => (hostport, ""),
            }
        };
        let port = if port.is_empty() {
            TURN_PORT
        } else {
            port.parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port number"))?
        };
        let host = host.to_owned();
        if host.is_empty() {
            return Err("the URL names no host".to_owned());
        }
        Ok((host, port))
    }
}

/// What a call measured.
#[derive(Clone, Debug, PartialEq)]
pub struct CallFigures {
    /// From the start until both peers were connected (relay allocation, ICE and DTLS).
    pub setup: Duration,
    /// The relay candidates the two peers used, `address:port` as the relay gave them.
    pub offer_relay: String,
    pub answer_relay: String,
    /// The sample as it ran (shorter than asked when the limit left less time).
    pub sampled: Duration,
    pub packets_sent: u64,
    /// Unique RTP sequence numbers the receiving peer read.
    pub packets_received: u64,
    /// Counted: the share of the packets written that never arrived, in per cent.
    pub loss_pct: f64,
    /// Counted: RFC 3550 interarrival jitter over the received packets.
    pub jitter_ms: f64,
    /// RTCP: the mean round-trip time of `remote-inbound-rtp`, when a report carried one.
    pub rtcp_rtt_ms: Option<f64>,
    pub rtcp_rtt_measurements: u64,
    /// RTCP: the jitter and cumulative loss of the last receiver report the sender read.
    pub rtcp_jitter_ms: Option<f64>,
    pub rtcp_packets_lost: Option<i64>,
    pub rtcp_reports: u64,
    /// The E-model estimate of [`stats::mos`], from the RTCP round trip and the counted figures.
    pub mos: Option<f64>,
}

/// What the relay said when asked directly, after the call gathered no relay candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnDiagnosis {
    /// The relay's name did not resolve.
    Unresolved { host: String, error: String },
    /// Nothing answered the Allocate.
    Timeout { addr: SocketAddr, waited: Duration },
    /// An ICMP "unreachable" came back: nothing listens there, or a firewall rejects.
    Unreachable {
        addr: SocketAddr,
        kind: io::ErrorKind,
    },
    /// The relay refused the Allocate with these credentials.
    Refused {
        addr: SocketAddr,
        code: u16,
        reason: String,
    },
    /// The relay answered the Allocate without credentials with something other than the
    /// 401 challenge a TURN server gives.
    NoChallenge { addr: SocketAddr, answer: String },
    /// Asked directly, the relay allocated: the call's own gathering failed for another reason.
    Allocated { addr: SocketAddr },
    /// The socket itself failed.
    Failed { addr: SocketAddr, error: String },
}

impl fmt::Display for TurnDiagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unresolved { host, error } => write!(f, "{host} does not resolve ({error})"),
            Self::Timeout { addr, waited } => write!(
                f,
                "nothing answered an Allocate to {addr} over UDP within {} ms",
                waited.as_millis()
            ),
            Self::Unreachable { addr, kind } => write!(
                f,
                "{addr} answered \"unreachable\" ({kind}): nothing listens there, or a firewall rejects UDP to it"
            ),
            Self::Refused { addr, code, reason } if *code == 401 || *code == 441 => write!(
                f,
                "{addr} refused the credentials ({code} {reason}): the username or credential is wrong or has expired"
            ),
            Self::Refused { addr, code, reason } => {
                write!(f, "{addr} refused the allocation ({code} {reason})")
            }
            Self::NoChallenge { addr, answer } => write!(
                f,
                "{addr} answered an Allocate without credentials with {answer}, not a TURN server's 401 challenge"
            ),
            Self::Allocated { addr } => write!(
                f,
                "{addr} allocated a relay when asked directly, yet the call gathered none"
            ),
            Self::Failed { addr, error } => write!(f, "a UDP socket to {addr} failed: {error}"),
        }
    }
}

/// Why a call failed, one variant per thing the network team would change.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CallFailure {
    #[error("the TURN server `{url}` cannot be used: {reason}")]
    BadServer { url: String, reason: String },
    #[error("the {peer} peer gathered no relay candidate from {url}: {diagnosis}")]
    NoRelayCandidate {
        peer: &'static str,
        url: String,
        diagnosis: TurnDiagnosis,
    },
    #[error(
        "ICE found no working path between the relay candidates {offer_relay} and {answer_relay} (failed, or not connected within the limit): the relay does not forward between its own allocations, or UDP to it stopped"
    )]
    IceFailed {
        offer_relay: String,
        answer_relay: String,
    },
    #[error("ICE connected through the relay, but the DTLS handshake failed")]
    DtlsFailed,
    #[error(
        "connected through the relay, but none of the {packets_sent} RTP packets sent in {} ms arrived",
        sampled.as_millis()
    )]
    NoMedia {
        packets_sent: u64,
        sampled: Duration,
    },
    #[error("{operation} failed: {error}")]
    Internal {
        operation: &'static str,
        error: String,
    },
}

fn internal(operation: &'static str) -> impl FnOnce(webrtc::Error) -> CallFailure {
    move |e| CallFailure::Internal {
        operation,
        error: e.to_string(),
    }
}

/// The last state each peer connection reported, ICE and overall.
struct States {
    ice: watch::Receiver<RTCIceConnectionState>,
    peer: watch::Receiver<RTCPeerConnectionState>,
}

/// What one peer connection is, with what it gathered.
struct Peer {
    pc: Arc<RTCPeerConnection>,
    states: States,
    relays: Arc<Mutex<Vec<String>>>,
}

async fn new_peer(server: &CallServer) -> Result<Peer, CallFailure> {
    let mut media = MediaEngine::default();
    media
        .register_default_codecs()
        .map_err(internal("registering the codecs"))?;
    // Sender and receiver reports only: no NACK or congestion feedback, which audio does not use.
    let mut registry = Registry::new();
    registry.add(Box::new(
        ReceiverReports::builder().with_interval(REPORT_INTERVAL),
    ));
    registry.add(Box::new(
        SenderReports::builder().with_interval(REPORT_INTERVAL),
    ));
    let mut settings = SettingEngine::default();
    // No multicast DNS: the call talks to the relay and nothing else.
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    // Every pair is relay-to-relay, so there is nothing better to wait for: nominate the first
    // pair that works, as browsers do (webrtc-rs otherwise waits 2 s before taking a relay pair).
    settings.set_relay_acceptance_min_wait(Some(Duration::ZERO));
    let api = APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build();
    let config = RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: vec![server.url.clone()],
            username: server.username.clone(),
            credential: server.credential.clone(),
        }],
        ice_transport_policy: RTCIceTransportPolicy::Relay,
        ..Default::default()
    };
    let pc = api
        .new_peer_connection(config)
        .await
        .map_err(|e| CallFailure::BadServer {
            url: server.url.clone(),
            reason: e.to_string(),
        })?;
    let pc = Arc::new(pc);

    let (ice_tx, ice) = watch::channel(RTCIceConnectionState::New);
    pc.on_ice_connection_state_change(Box::new(move |state| {
        let _ = ice_tx.send(state);
        Box::pin(async {})
    }));
    let (peer_tx, peer) = watch::channel(RTCPeerConnectionState::New);
    pc.on_peer_connection_state_change(Box::new(move |state| {
        let _ = peer_tx.send(state);
        Box::pin(async {})
    }));
    let relays = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&relays);
    pc.on_ice_candidate(Box::new(move |candidate| {
        // (No let chains: the crate's minimum Rust is 1.85.)
        if let Some(c) = candidate.filter(|c| c.typ == RTCIceCandidateType::Relay) {
            if let Ok(mut seen) = seen.lock() {
                seen.push(format!("{}:{}", c.address, c.port));
            }
        }
        Box::pin(async {})
    }));
    Ok(Peer {
        pc,
        states: States { ice, peer },
        relays,
    })
}

impl Peer {
    fn first_relay(&self) -> Option<String> {
        self.relays.lock().ok().and_then(|r| r.first().cloned())
    }
}

/// Sets a description and waits until ICE gathering is complete, so the description handed to
/// the other peer carries the relay candidate (no trickle: both peers are in this process).
async fn describe(
    peer: &Peer,
    offer: bool,
    deadline: Instant,
) -> Result<Option<String>, CallFailure> {
    let description = if offer {
        peer.pc.create_offer(None).await
    } else {
        peer.pc.create_answer(None).await
    }
    .map_err(internal("creating the session description"))?;
    let mut gathered = peer.pc.gathering_complete_promise().await;
    peer.pc
        .set_local_description(description)
        .await
        .map_err(internal("setting the local description"))?;
    // Still gathering at the deadline: whatever relay came in by then is used, or none came.
    let _ = tokio::time::timeout_at(deadline, gathered.recv()).await;
    Ok(peer.first_relay())
}

/// Describes `from` (an offer or an answer, once its relay candidate is gathered) and hands the
/// description to `to`. `None` when `from` gathered no relay candidate.
async fn hand_over(
    from: &Peer,
    to: &Peer,
    offer: bool,
    deadline: Instant,
) -> Result<Option<String>, CallFailure> {
    let Some(relay) = describe(from, offer, deadline).await? else {
        return Ok(None);
    };
    let (reading, setting) = if offer {
        ("reading the offer", "setting the offer")
    } else {
        ("reading the answer", "setting the answer")
    };
    let description = from
        .pc
        .local_description()
        .await
        .ok_or_else(|| CallFailure::Internal {
            operation: reading,
            error: "no local description".to_owned(),
        })?;
    to.pc
        .set_remote_description(description)
        .await
        .map_err(internal(setting))?;
    Ok(Some(relay))
}

/// Places the call. The whole call takes at most `limit` (plus [`CLOSE_GRACE`] to close): relay
/// gathering gets two thirds of it, at most the softphone's own [`ICE_BUDGET`]; the sample is cut
/// short when the limit leaves less than `sample`.
pub async fn relay_call(
    server: &CallServer,
    sample: Duration,
    limit: Duration,
) -> Result<CallFigures, CallFailure> {
    let start = Instant::now();
    // A limit past an hour is a mistake, not a call; capping it keeps the arithmetic finite.
    let deadline = start + limit.min(MAX_LIMIT);
    let (host, port) = server
        .host_port()
        .map_err(|reason| CallFailure::BadServer {
            url: server.url.clone(),
            reason,
        })?;
    let offerer = new_peer(server).await?;
    let answerer = match new_peer(server).await {
        Ok(p) => p,
        Err(e) => {
            close(&offerer.pc).await;
            return Err(e);
        }
    };
    let plan = Plan {
        server,
        host: &host,
        port,
        sample,
        start,
        deadline,
    };
    let result = call(&plan, &offerer, &answerer).await;
    tokio::join!(close(&offerer.pc), close(&answerer.pc));
    result
}

async fn close(pc: &RTCPeerConnection) {
    let _ = tokio::time::timeout(CLOSE_GRACE, pc.close()).await;
}

/// One call's relay and time.
struct Plan<'a> {
    server: &'a CallServer,
    host: &'a str,
    port: u16,
    sample: Duration,
    start: Instant,
    deadline: Instant,
}

async fn call(
    plan: &Plan<'_>,
    offerer: &Peer,
    answerer: &Peer,
) -> Result<CallFigures, CallFailure> {
    let &Plan {
        server,
        host,
        port,
        sample,
        start,
        deadline,
    } = plan;
    let limit = deadline - start;
    let gather_deadline = start + ICE_BUDGET.min(limit * 2 / 3);
    let no_relay = |peer: &'static str| async move {
        Err(CallFailure::NoRelayCandidate {
            peer,
            url: server.url.clone(),
            diagnosis: diagnose(server, host, port, deadline).await,
        })
    };

    // The sending side: one Opus track, as the softphone has.
    let track = Arc::new(TrackLocalStaticSample::new(
        RTCRtpCodecCapability {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            ..Default::default()
        },
        "audio".to_owned(),
        "connect-preflight".to_owned(),
    ));
    let sender = offerer
        .pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>)
        .await
        .map_err(internal("adding the audio track"))?;

    // The receiving side counts what arrives.
    let received = Arc::new(Mutex::new(Received::default()));
    let counter = Arc::clone(&received);
    answerer
        .pc
        .on_track(Box::new(move |remote, receiver, _transceiver| {
            let counter = Arc::clone(&counter);
            Box::pin(async move {
                // The sender's reports reach the receiving peer's interceptors only when read;
                // without them its receiver reports carry no LSR/DLSR and no round trip. Both
                // loops end when the peer connection closes, and at the call's deadline at most.
                tokio::spawn(tokio::time::timeout_at(deadline, async move {
                    while receiver.read_rtcp().await.is_ok() {}
                }));
                tokio::spawn(tokio::time::timeout_at(deadline, async move {
                    while let Ok((packet, _)) = remote.read_rtp().await {
                        if let Ok(mut r) = counter.lock() {
                            r.record(
                                packet.header.sequence_number,
                                packet.header.timestamp,
                                Instant::now(),
                            );
                        }
                    }
                }));
            })
        }));

    let Some(offer_relay) = hand_over(offerer, answerer, true, gather_deadline).await? else {
        return no_relay("offering").await;
    };
    let Some(answer_relay) = hand_over(answerer, offerer, false, gather_deadline).await? else {
        return no_relay("answering").await;
    };

    connected(offerer, answerer, deadline, &offer_relay, &answer_relay).await?;
    let setup = start.elapsed();

    // RTCP from the receiving peer: read on the sender, which also lets webrtc's interceptors
    // (and so get_stats) see each report.
    let reports = Arc::new(Mutex::new(Reports::default()));
    let rtcp_reader = {
        let reports = Arc::clone(&reports);
        let sender = Arc::clone(&sender);
        tokio::spawn(async move {
            while let Ok((packets, _)) = sender.read_rtcp().await {
                for packet in packets {
                    let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() else {
                        continue;
                    };
                    if let Ok(mut reports) = reports.lock() {
                        for block in &rr.reports {
                            reports.count += 1;
                            reports.jitter_ms = Some(f64::from(block.jitter) / OPUS_CLOCK_HZ * 1e3);
                            reports.lost = Some(i64::from(block.total_lost));
                        }
                    }
                }
            }
        })
    };

    let payload = opus_sized_payload();
    let room = deadline.saturating_duration_since(Instant::now());
    let sampled = sample.min(room.saturating_sub(DRAIN));
    let mut ticker = tokio::time::interval(PACKET_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let frames = u64::try_from(sampled.as_millis() / PACKET_INTERVAL.as_millis()).unwrap_or(0);
    let mut packets_sent = 0u64;
    for _ in 0..frames {
        ticker.tick().await;
        let frame = Sample {
            data: payload.clone(),
            duration: PACKET_INTERVAL,
            ..Default::default()
        };
        if track.write_sample(&frame).await.is_ok() {
            packets_sent += 1;
        }
    }
    // The last packets land and one more receiver report comes back, or the limit arrives.
    let drained = Instant::now() + DRAIN;
    tokio::time::sleep_until(drained.min(deadline)).await;
    rtcp_reader.abort();

    let counted = received
        .lock()
        .map(|r| r.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
    if counted.unique() == 0 {
        return Err(CallFailure::NoMedia {
            packets_sent,
            sampled,
        });
    }
    let reports = reports
        .lock()
        .map(|r| r.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
    let (rtcp_rtt_ms, rtcp_rtt_measurements) = remote_inbound_rtt(&offerer.pc).await;
    let packets_received = counted.unique();
    let loss_pct = if packets_sent == 0 {
        0.0
    } else {
        packets_sent.saturating_sub(packets_received) as f64 * 100.0 / packets_sent as f64
    };
    let jitter_ms = counted.jitter_ms;
    Ok(CallFigures {
        setup,
        offer_relay,
        answer_relay,
        sampled,
        packets_sent,
        packets_received,
        loss_pct,
        jitter_ms,
        rtcp_rtt_ms,
        rtcp_rtt_measurements,
        rtcp_jitter_ms: reports.jitter_ms,
        rtcp_packets_lost: reports.lost,
        rtcp_reports: reports.count,
        mos: rtcp_rtt_ms.map(|rtt| stats::mos(rtt, jitter_ms, loss_pct)),
    })
}

/// An Opus-sized frame: a TOC byte for one 20 ms SILK wideband frame, then padding. Nothing
/// decodes it; the relay and the network see the softphone's packet size and rate.
fn opus_sized_payload() -> Bytes {
    let mut frame = vec![0u8; OPUS_PAYLOAD_BYTES];
    frame[0] = 0x48;
    Bytes::from(frame)
}

/// Waits until both peers are connected, telling ICE from DTLS when one fails.
async fn connected(
    offerer: &Peer,
    answerer: &Peer,
    deadline: Instant,
    offer_relay: &str,
    answer_relay: &str,
) -> Result<(), CallFailure> {
    let mut offer_peer = offerer.states.peer.clone();
    let mut answer_peer = answerer.states.peer.clone();
    loop {
        let states = [*offer_peer.borrow(), *answer_peer.borrow()];
        if states
            .iter()
            .all(|s| *s == RTCPeerConnectionState::Connected)
        {
            return Ok(());
        }
        let ice = [*offerer.states.ice.borrow(), *answerer.states.ice.borrow()];
        let ice_up = |s: &RTCIceConnectionState| {
            matches!(
                s,
                RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
            )
        };
        if states.contains(&RTCPeerConnectionState::Failed)
            || states.contains(&RTCPeerConnectionState::Closed)
            || ice.contains(&RTCIceConnectionState::Failed)
        {
            return Err(if ice.iter().all(ice_up) {
                CallFailure::DtlsFailed
            } else {
                CallFailure::IceFailed {
                    offer_relay: offer_relay.to_owned(),
                    answer_relay: answer_relay.to_owned(),
                }
            });
        }
        let changed = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                r = offer_peer.changed() => r,
                r = answer_peer.changed() => r,
            }
        })
        .await;
        match changed {
            Ok(Ok(())) => {}
            // A state sender is gone: the peer connection is being torn down.
            Ok(Err(_)) => {
                return Err(CallFailure::Internal {
                    operation: "watching the connection state",
                    error: "the peer connection went away".to_owned(),
                });
            }
            Err(_) => {
                return Err(if ice.iter().all(ice_up) {
                    CallFailure::DtlsFailed
                } else {
                    CallFailure::IceFailed {
                        offer_relay: offer_relay.to_owned(),
                        answer_relay: answer_relay.to_owned(),
                    }
                });
            }
        }
    }
}

/// The round-trip time webrtc derived from the receiver reports (LSR/DLSR), as the mean over
/// its measurements. webrtc-rs gives it in milliseconds.
async fn remote_inbound_rtt(pc: &RTCPeerConnection) -> (Option<f64>, u64) {
    let report = pc.get_stats().await;
    report
        .reports
        .values()
        .find_map(|r| match r {
            StatsReportType::RemoteInboundRTP(s)
                if s.kind == "audio" && s.round_trip_time_measurements > 0 =>
            {
                Some((
                    Some(s.total_round_trip_time / s.round_trip_time_measurements as f64),
                    s.round_trip_time_measurements,
                ))
            }
            _ => None,
        })
        .unwrap_or((None, 0))
}

/// The receiving side's count: unique sequence numbers and RFC 3550 jitter.
#[derive(Clone, Debug, Default)]
struct Received {
    /// Extended sequence numbers seen (RFC 3550 A.1: the 16-bit number and its wraps).
    seen: HashSet<u64>,
    highest: Option<u64>,
    first_timestamp: Option<u32>,
    first_arrival: Option<Instant>,
    last_transit_ms: Option<f64>,
    jitter_ms: f64,
}

impl Received {
    fn record(&mut self, sequence: u16, timestamp: u32, arrival: Instant) {
        let extended = match self.highest {
            None => u64::from(sequence) + (1 << 16),
            Some(highest) => {
                let delta = i64::from(sequence.wrapping_sub(highest as u16) as i16);
                highest.saturating_add_signed(delta)
            }
        };
        self.highest = Some(self.highest.map_or(extended, |h| h.max(extended)));
        if !self.seen.insert(extended) {
            return;
        }
        let first_timestamp = *self.first_timestamp.get_or_insert(timestamp);
        let first_arrival = *self.first_arrival.get_or_insert(arrival);
        let sent_ms =
            f64::from(timestamp.wrapping_sub(first_timestamp) as i32) / OPUS_CLOCK_HZ * 1e3;
        let arrived_ms = arrival.duration_since(first_arrival).as_secs_f64() * 1e3;
        let transit = arrived_ms - sent_ms;
        if let Some(last) = self.last_transit_ms {
            self.jitter_ms += ((transit - last).abs() - self.jitter_ms) / 16.0;
        }
        self.last_transit_ms = Some(transit);
    }

    fn unique(&self) -> u64 {
        self.seen.len() as u64
    }
}

/// What the sender read from the receiving peer's RTCP receiver reports.
#[derive(Clone, Debug, Default)]
struct Reports {
    count: u64,
    jitter_ms: Option<f64>,
    lost: Option<i64>,
}

/// Asks the relay directly why no relay candidate came: an Allocate without credentials (the
/// 401 challenge proves UDP both ways and gives the realm and nonce), then one with them.
async fn diagnose(server: &CallServer, host: &str, port: u16, deadline: Instant) -> TurnDiagnosis {
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let addr = match tokio::time::timeout(remaining(), tokio::net::lookup_host((host, port))).await
    {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(a) => a,
            None => {
                return TurnDiagnosis::Unresolved {
                    host: host.to_owned(),
                    error: "no address".to_owned(),
                };
            }
        },
        Ok(Err(e)) => {
            return TurnDiagnosis::Unresolved {
                host: host.to_owned(),
                error: e.to_string(),
            };
        }
        Err(_) => {
            return TurnDiagnosis::Unresolved {
                host: host.to_owned(),
                error: "the lookup did not finish within the call's limit".to_owned(),
            };
        }
    };
    let target = Target {
        host: host.to_owned(),
        addr,
    };
    let probe = relay::probe(&target, remaining().min(ICE_BUDGET)).await;
    let (realm, nonce) = match probe.allocate {
        Exchange::Answered {
            reply:
                Reply::Error {
                    code: 401,
                    realm: Some(realm),
                    nonce: Some(nonce),
                    ..
                },
            ..
        } => (realm, nonce),
        Exchange::Answered { reply, .. } => {
            return TurnDiagnosis::NoChallenge {
                addr,
                answer: describe_reply(&reply),
            };
        }
        Exchange::Timeout { waited, .. } => return TurnDiagnosis::Timeout { addr, waited },
        Exchange::Unreachable { kind, .. } => return TurnDiagnosis::Unreachable { addr, kind },
        Exchange::Failed { error } => return TurnDiagnosis::Failed { addr, error },
    };
    authenticated_allocate(server, addr, &realm, &nonce, deadline).await
}

fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::BindingSuccess { .. } => "a Binding success".to_owned(),
        Reply::AllocateSuccess => "a relay (an open TURN server)".to_owned(),
        Reply::Error { code, reason, .. } => format!("error {code} {reason}"),
    }
}

fn signed_request(
    method: webrtc::stun::message::Method,
    server: &CallServer,
    realm: &str,
    nonce: &str,
    lifetime: Option<Duration>,
) -> Result<([u8; 12], Vec<u8>), webrtc::stun::Error> {
    let id = TransactionId::new();
    let mut m = Message::new();
    let mut setters: Vec<Box<dyn webrtc::stun::message::Setter>> = vec![
        Box::new(id),
        Box::new(MessageType::new(method, CLASS_REQUEST)),
    ];
    match lifetime {
        Some(l) => setters.push(Box::new(Lifetime(l))),
        None => setters.push(Box::new(RequestedTransport {
            protocol: PROTO_UDP,
        })),
    }
    setters.extend::<[Box<dyn webrtc::stun::message::Setter>; 5]>([
        Box::new(TextAttribute::new(
            webrtc::stun::attributes::ATTR_USERNAME,
            server.username.clone(),
        )),
        Box::new(TextAttribute::new(
            webrtc::stun::attributes::ATTR_REALM,
            realm.to_owned(),
        )),
        Box::new(TextAttribute::new(
            webrtc::stun::attributes::ATTR_NONCE,
            nonce.to_owned(),
        )),
        Box::new(MessageIntegrity::new_long_term_integrity(
            server.username.clone(),
            realm.to_owned(),
            server.credential.clone(),
        )),
        Box::new(FINGERPRINT),
    ]);
    m.build(&setters)?;
    Ok((id.0, m.raw))
}

/// One Allocate with the credentials, retransmitted as RFC 8489 says until the deadline. An
/// allocation that succeeds is released at once (a Refresh with lifetime 0).
async fn authenticated_allocate(
    server: &CallServer,
    addr: SocketAddr,
    realm: &str,
    nonce: &str,
    deadline: Instant,
) -> TurnDiagnosis {
    let failed = |error: String| TurnDiagnosis::Failed { addr, error };
    let (id, request) = match signed_request(METHOD_ALLOCATE, server, realm, nonce, None) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let socket = match UdpSocket::bind(transaction::any_local(addr)).await {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    if let Err(e) = socket.connect(addr).await {
        return failed(e.to_string());
    }
    let outcome = transaction::one(
        &socket,
        transaction::Peer::Connected,
        transaction::Request { id, bytes: request },
        Retransmit::RFC_8489,
        deadline,
        |bytes| message::parse(bytes).map_err(|message::Malformed(what)| what),
    )
    .await;
    match outcome {
        Outcome::Answered {
            reply: Reply::AllocateSuccess,
            ..
        } => {
            if let Ok((_, release)) =
                signed_request(METHOD_REFRESH, server, realm, nonce, Some(Duration::ZERO))
            {
                let _ = socket.send(&release).await;
            }
            TurnDiagnosis::Allocated { addr }
        }
        Outcome::Answered {
            reply: Reply::Error { code, reason, .. },
            ..
        } => TurnDiagnosis::Refused { addr, code, reason },
        Outcome::Answered { reply, .. } => TurnDiagnosis::NoChallenge {
            addr,
            answer: describe_reply(&reply),
        },
        Outcome::Unreachable {
            kind: kind @ io::ErrorKind::ConnectionRefused,
            ..
        } => TurnDiagnosis::Unreachable { addr, kind },
        Outcome::Unreachable { error, .. } | Outcome::Failed { error } => failed(error),
        Outcome::Timeout { waited, .. } => TurnDiagnosis::Timeout { addr, waited },
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use webrtc::turn::auth::{AuthHandler, generate_auth_key};
    use webrtc::turn::relay::relay_static::RelayAddressGeneratorStatic;
    use webrtc::turn::server::Server;
    use webrtc::turn::server::config::{ConnConfig, ServerConfig};
    use webrtc::util::vnet::net::Net;

    use super::*;

    const USER: &str = "agent";
    const PASSWORD: &str = "s3cret";

    /// A static long-term credential: one user.
    struct OneUser;

    impl AuthHandler for OneUser {
        fn auth_handle(
            &self,
            username: &str,
            realm: &str,
            _src: SocketAddr,
        ) -> Result<Vec<u8>, webrtc::turn::Error> {
            if username == USER {
                Ok(generate_auth_key(username, realm, PASSWORD))
            } else {
                Err(webrtc::turn::Error::ErrNoSuchUser)
            }
        }
    }

    /// A TURN server on loopback that relays from 127.0.0.1.
    async fn turn_server() -> (Server, SocketAddr) {
        turn_server_advertising(Ipv4Addr::LOCALHOST).await
    }

    /// A TURN server whose relays are bound on 127.0.0.1 but tell the peers `advertised`.
    async fn turn_server_advertising(advertised: Ipv4Addr) -> (Server, SocketAddr) {
        let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = conn.local_addr().unwrap();
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn,
                relay_addr_generator: Box::new(RelayAddressGeneratorStatic {
                    relay_address: IpAddr::V4(advertised),
                    address: "127.0.0.1".to_owned(),
                    net: Arc::new(Net::new(None)),
                }),
            }],
            realm: "preflight.test".to_owned(),
            auth_handler: Arc::new(OneUser),
            channel_bind_timeout: Duration::ZERO,
            alloc_close_notify: None,
        })
        .await
        .unwrap();
        (server, addr)
    }

    fn server_at(addr: SocketAddr, username: &str, credential: &str) -> CallServer {
        CallServer {
            url: format!("turn:{addr}?transport=udp"),
            username: username.to_owned(),
            credential: credential.to_owned(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_relay_only_call_through_a_loopback_relay() {
        let (turn, addr) = turn_server().await;
        let figures = relay_call(
            &server_at(addr, USER, PASSWORD),
            Duration::from_secs(2),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        turn.close().await.unwrap();

        // Both peers used relay candidates the loopback relay allocated, not its own port.
        for relay in [&figures.offer_relay, &figures.answer_relay] {
            let relay: SocketAddr = relay.parse().unwrap();
            assert_eq!(relay.ip(), addr.ip());
            assert_ne!(relay.port(), addr.port());
        }
        assert_ne!(figures.offer_relay, figures.answer_relay);
        assert_eq!(figures.sampled, Duration::from_secs(2));
        assert_eq!(figures.packets_sent, 100);
        assert!(figures.packets_received > 0);
        assert!(figures.packets_received <= figures.packets_sent);
        // Loopback loses nothing, or next to nothing on a loaded machine.
        assert!(figures.loss_pct < 5.0, "{figures:?}");
        assert!(figures.jitter_ms.is_finite() && figures.jitter_ms >= 0.0);
        // The receiving peer's reports reached the sender, with its own count of losses.
        assert!(figures.rtcp_reports > 0, "{figures:?}");
        assert!(figures.rtcp_packets_lost.is_some_and(|l| l <= 5));
        assert!(figures.rtcp_jitter_ms.is_some_and(f64::is_finite));
        // A round trip measured from the reports' LSR/DLSR, shorter than the call itself.
        let rtt = figures.rtcp_rtt_ms.expect("an RTCP round trip");
        assert!(figures.rtcp_rtt_measurements > 0);
        assert!((0.0..figures.setup.as_secs_f64() * 1e3 + 2_000.0).contains(&rtt));
        assert!(figures.mos.is_some_and(|m| (1.0..=4.5).contains(&m)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_candidates_that_lead_nowhere_are_an_ice_failure() {
        // The relays say 127.0.0.2 but listen on 127.0.0.1: both peers get relay candidates,
        // and every check the relay forwards to the other's candidate is lost (still loopback).
        let (turn, addr) = turn_server_advertising(Ipv4Addr::new(127, 0, 0, 2)).await;
        let failure = relay_call(
            &server_at(addr, USER, PASSWORD),
            Duration::from_secs(1),
            Duration::from_secs(4),
        )
        .await
        .unwrap_err();
        turn.close().await.unwrap();
        match &failure {
            CallFailure::IceFailed {
                offer_relay,
                answer_relay,
            } => {
                assert!(offer_relay.starts_with("127.0.0.2:"), "{offer_relay}");
                assert!(answer_relay.starts_with("127.0.0.2:"), "{answer_relay}");
            }
            other => panic!("{other:?}"),
        }
        assert!(failure.to_string().contains("no working path"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_credentials_are_named_with_the_relays_refusal() {
        let (turn, addr) = turn_server().await;
        let failure = relay_call(
            &server_at(addr, USER, "not-the-password"),
            Duration::from_secs(1),
            Duration::from_secs(6),
        )
        .await
        .unwrap_err();
        turn.close().await.unwrap();
        // This relay answers a failed integrity check with 400 (coturn says 401); either way
        // the failure carries the relay's code, and it is no timeout.
        match &failure {
            CallFailure::NoRelayCandidate {
                peer: "offering",
                diagnosis: TurnDiagnosis::Refused { addr: a, code, .. },
                ..
            } => {
                assert_eq!(*a, addr);
                assert_eq!(*code, 400);
            }
            other => panic!("{other:?}"),
        }
        assert!(failure.to_string().contains(&addr.to_string()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_user_is_refused_too() {
        let (turn, addr) = turn_server().await;
        let failure = relay_call(
            &server_at(addr, "someone-else", PASSWORD),
            Duration::from_secs(1),
            Duration::from_secs(6),
        )
        .await
        .unwrap_err();
        turn.close().await.unwrap();
        assert!(
            matches!(
                failure,
                CallFailure::NoRelayCandidate {
                    diagnosis: TurnDiagnosis::Refused { .. },
                    ..
                }
            ),
            "{failure:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_relay_listening_fails_within_the_limit() {
        // A port that was just free: nothing listens, so loopback answers "port unreachable".
        let addr = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let limit = Duration::from_secs(3);
        let started = Instant::now();
        let failure = relay_call(
            &server_at(addr, USER, PASSWORD),
            Duration::from_secs(1),
            limit,
        )
        .await
        .unwrap_err();
        assert!(
            started.elapsed() <= limit + CLOSE_GRACE,
            "{:?}",
            started.elapsed()
        );
        match failure {
            CallFailure::NoRelayCandidate {
                diagnosis: TurnDiagnosis::Unreachable { addr: a, .. },
                ..
            } => assert_eq!(a, addr),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_url_that_is_not_a_udp_relay_is_refused_before_any_traffic() {
        let server = CallServer {
            url: "turn:127.0.0.1:3478?transport=tcp".to_owned(),
            username: USER.to_owned(),
            credential: PASSWORD.to_owned(),
        };
        // Even with limits no call could use.
        let failure = relay_call(&server, Duration::MAX, Duration::MAX)
            .await
            .unwrap_err();
        assert!(
            matches!(&failure, CallFailure::BadServer { reason, .. } if reason.contains("UDP only")),
            "{failure:?}"
        );
    }

    #[test]
    fn host_and_port_from_the_url() {
        let cases = [
            (
                "turn:relay.example:3478?transport=udp",
                Ok(("relay.example", 3478)),
            ),
            ("turn:relay.example", Ok(("relay.example", 3478))),
            ("turn:192.0.2.7:5349", Ok(("192.0.2.7", 5349))),
            (
                "turn:[2001:db8::1]:3479?transport=udp",
                Ok(("2001:db8::1", 3479)),
            ),
            ("turn:[2001:db8::1]", Ok(("2001:db8::1", 3478))),
            ("turn:2001:db8::1", Err("brackets")),
            ("turns:relay.example:443?transport=tcp", Err("turn:")),
            ("stun:relay.example", Err("turn:")),
            ("turn:relay.example?transport=tcp", Err("UDP only")),
            ("turn:relay.example:http", Err("port number")),
            ("turn:relay.example:99999", Err("port number")),
            ("turn::3478", Err("no host")),
            ("turn:relay.example?foo=bar", Err("unknown")),
            ("turn:[2001:db8::1", Err("closing")),
        ];
        for (url, want) in cases {
            let server = CallServer {
                url: url.to_owned(),
                username: String::new(),
                credential: String::new(),
            };
            match (server.host_port(), want) {
                (Ok((host, port)), Ok((h, p))) => {
                    assert_eq!((host.as_str(), port), (h, p), "{url}")
                }
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{url}: {e}"),
                (got, want) => panic!("{url}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn debug_never_prints_the_credential() {
        let server = server_at(SocketAddr::from(([192, 0, 2, 1], 3478)), USER, PASSWORD);
        let shown = format!("{server:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains(USER) && shown.contains("<redacted>"));
    }

    #[test]
    fn the_receiver_counts_unique_packets_across_a_sequence_wrap() {
        let t0 = Instant::now();
        let mut r = Received::default();
        // 65534, 65535, 0, 1 — then 65535 again (a duplicate) and 3 (2 is lost).
        for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
            r.record(seq, 960 * i as u32, t0 + PACKET_INTERVAL * i as u32);
        }
        r.record(65535, 960, t0 + Duration::from_millis(90));
        r.record(3, 960 * 5, t0 + PACKET_INTERVAL * 5);
        assert_eq!(r.unique(), 5);
        assert_eq!(r.highest, Some((1 << 16) + 65534 + 5));
        // Every packet arrived exactly on its timestamp's schedule: no jitter.
        assert_eq!(r.jitter_ms, 0.0);
    }

    #[test]
    fn receive_jitter_follows_rfc_3550() {
        let t0 = Instant::now();
        let mut r = Received::default();
        r.record(1, 0, t0);
        // 20 ms of media arrives 30 ms later: |D| = 10 ms, J = 10/16.
        r.record(2, 960, t0 + Duration::from_millis(30));
        assert!((r.jitter_ms - 10.0 / 16.0).abs() < 1e-9, "{}", r.jitter_ms);
        // Then on time again relative to the previous transit: D = -10 ms.
        r.record(3, 1920, t0 + Duration::from_millis(40));
        let want = 10.0 / 16.0 + (10.0 - 10.0 / 16.0) / 16.0;
        assert!((r.jitter_ms - want).abs() < 1e-9, "{}", r.jitter_ms);
    }

    #[test]
    fn failures_say_what_failed_and_where() {
        let addr = SocketAddr::from(([192, 0, 2, 9], 3478));
        let refused = CallFailure::NoRelayCandidate {
            peer: "offering",
            url: "turn:192.0.2.9:3478?transport=udp".to_owned(),
            diagnosis: TurnDiagnosis::Refused {
                addr,
                code: 401,
                reason: "Unauthorized".to_owned(),
            },
        };
        let text = refused.to_string();
        assert!(
            text.contains("192.0.2.9:3478") && text.contains("401"),
            "{text}"
        );
        assert!(text.contains("wrong or has expired"), "{text}");
        let quota = TurnDiagnosis::Refused {
            addr,
            code: 486,
            reason: "Allocation Quota Reached".to_owned(),
        };
        assert!(!quota.to_string().contains("credential"));
    }
}
