//! The softphone's media path within the run: every TURN relay resolved, then STUN, TURN and a
//! quality sample to each address, within the time left; the ICE-server file's relays beyond the
//! cap and those no catalog host names.

use super::*;
use crate::probe::Published;
use crate::report::facts::RelayStep;

/// The longest the media module's NAT-mapping probe takes after the relays are probed.
const NAT_CHECK_TIME: Duration = Duration::from_secs(2);

/// The softphone's media path: resolve every TURN relay, then STUN, TURN and a quality sample to
/// each address, within the time left.
pub(super) async fn run_media(
    ctx: &Context,
    hosts: &[crate::plan::MediaHost],
    mut options: crate::media::Options,
    sink: &Sink,
) {
    let cut = |m: &crate::plan::MediaHost| {
        Check::new(
            m.id.clone(),
            Kind::Turn,
            Status::Skip,
            Reason::Deadline,
            format!("not tested: {}", deadline_words()),
        )
        .host(m.host.clone())
        .endpoint(m.port, Proto::Udp)
        .allowlist(&m.allowlist)
    };
    if !can_start(ctx) {
        for m in hosts {
            sink.push(cut(m));
        }
        return;
    }
    let resolved = futures_util::future::join_all(hosts.iter().map(|m| async move {
        if let Ok(ip) = m.host.parse::<IpAddr>() {
            return (m, vec![ip]);
        }
        let plan = HostPlan {
            host: m.host.clone(),
            port: m.port,
            proto: Proto::Udp,
            requirement: m.id.clone(),
            allowlist: m.allowlist.clone(),
            purpose: String::new(),
            expected: String::new(),
            steps: Vec::new(),
        };
        let outcome = tokio::time::timeout(
            ctx.limit(),
            dns::resolve(&ctx.resolver, &ctx.snapshot, &plan),
        )
        .await;
        (m, outcome.map(|o| o.addresses).unwrap_or_default())
    }))
    .await;
    let mut targets = Vec::new();
    for (m, addresses) in &resolved {
        if addresses.is_empty() {
            sink.push(
                Check::new(
                    m.id.clone(),
                    Kind::Turn,
                    Status::Skip,
                    Reason::NotTested,
                    format!("not tested: {} has no address (see its DNS check)", m.host),
                )
                .host(m.host.clone())
                .endpoint(m.port, Proto::Udp)
                .allowlist(&m.allowlist),
            );
            continue;
        }
        for ip in addresses.iter().take(4) {
            targets.push(crate::media::relay::Target {
                host: m.host.clone(),
                addr: SocketAddr::new(*ip, m.port),
            });
        }
    }
    if targets.is_empty() {
        return;
    }
    // The relay's answer gets the softphone's ICE budget, at most half the time left; the
    // quality sample gets what remains after that.
    // With two IPv4 relays or more, the media test ends with a NAT-mapping probe of its own
    // (up to NAT_CHECK_TIME); that time is kept aside.
    let v4 = targets.iter().filter(|t| t.addr.is_ipv4()).count();
    let reserve = if v4 >= 2 {
        NAT_CHECK_TIME
    } else {
        Duration::ZERO
    };
    let left = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .saturating_sub(Duration::from_millis(500) + reserve);
    // A relay's answer gets half the time left: with less than a second, a silent relay could
    // only be cut short, so none is started.
    if left / 2 < MIN_RELAY_TIME {
        for m in hosts {
            sink.push(cut(m));
        }
        return;
    }
    options.budget = options.budget.min(left / 2);
    options.sample = options.sample.min(left.saturating_sub(options.budget));
    if !options.keyring.is_empty() {
        // The relayed echo is a second sample after the first, and the WebRTC call (in builds
        // that have it) a third: each gets its share.
        let phases = if cfg!(feature = "webrtc-call") { 3 } else { 2 };
        options.sample = options
            .sample
            .min(left.saturating_sub(options.budget) / phases);
        options.until = Some(tokio::time::Instant::now() + left);
    }
    let checks = crate::media::check(&targets, &options).await;
    // A relay the path cannot reach is something to allow: its allow-list line and published
    // prefix go in the report's fixes, like those of a blocked TCP host.
    let checks = checks.into_iter().map(|check| {
        // The authenticated test runs only where the path answered: its failures are not rules
        // to add.
        let relay_step = check.facts.relay.as_ref().map(|r| r.step);
        let blocked = check.status == Status::Fail
            && matches!(check.reason, Reason::Timeout | Reason::Unreachable)
            && relay_step != Some(RelayStep::TurnAuth);
        let relay = hosts
            .iter()
            .find(|m| check.host.as_deref() == Some(m.host.as_str()));
        match relay {
            Some(m) if blocked => {
                let prefix = check
                    .facts
                    .relay
                    .as_ref()
                    .and_then(|r| Published::of(&ctx.snapshot, r.ip))
                    .map(|p| p.net);
                check.allowlist(&m.allowlist).prefix(prefix)
            }
            _ => check,
        }
    });
    let tested = resolved.iter().filter(|(_, a)| !a.is_empty()).count();
    sink.progress.inc(tested as u64);
    sink.media.lock().expect("not poisoned").extend(checks);
}

/// The entries of an iceServers file past the caps: counted, not contacted.
pub(super) fn ice_servers_beyond_cap(count: usize) -> Check {
    Check::new(
        "ice-server/beyond-cap",
        Kind::Media,
        Status::Info,
        Reason::NotTested,
        format!(
            "{count} more entries of the iceServers file were not tested: at most {} relays and {} other URLs are read from it",
            crate::media::ice_servers::MAX_RELAYS,
            crate::media::ice_servers::MAX_UNUSED
        ),
    )
    .evidence("not_tested", count)
}

/// An iceServers URL the softphone does not relay audio through.
pub(super) fn unused_ice_server(url: &str) -> Check {
    Check::new(
        format!("ice-server/{url}"),
        Kind::Media,
        Status::Info,
        Reason::NotTested,
        format!(
            "{url} is not what the softphone uses: it relays audio only through TURN over UDP {}, so this entry is not tested",
            crate::media::TURN_PORT
        ),
    )
    .evidence("url", url)
}
