//! `--survey`: the time to a working TLS session with each Region's telemetry host, and the
//! closest Region from those times.

use super::*;

/// A TLS connect time past this is past AWS's guidance for the CCP's round trips.
pub(crate) const SLOW_CONNECT_MS: u64 = 300;

pub(super) fn survey_check(
    target: &SurveyTarget,
    status: Status,
    reason: Reason,
    detail: String,
) -> Check {
    Check::new(target.id.clone(), Kind::Tls, status, reason, detail)
        .host(target.host.clone())
        .endpoint(target.port, Proto::Tcp)
        .evidence("region", &target.region)
        .evidence("region_name", &target.region_name)
        .evidence("home", target.home)
}

/// `--survey`: the time to a working TLS session with one Region's telemetry host: its check, and
/// the connect time in milliseconds when it was timed.
pub(super) async fn survey_one(
    ctx: &Context,
    target: &SurveyTarget,
    proxy: Option<&Proxy>,
) -> (Check, Option<u64>) {
    let name = format!("{} ({})", target.region, target.region_name);
    let host = HostPlan {
        host: target.host.clone(),
        port: target.port,
        proto: Proto::Tcp,
        requirement: target.id.clone(),
        allowlist: target.allowlist.clone(),
        purpose: String::new(),
        expected: String::new(),
        steps: Vec::new(),
    };
    let route = match proxy {
        Some(p) => Route::Proxy(p),
        None => {
            let outcome = dns::resolve(&ctx.resolver, &ctx.snapshot, &host).await;
            match outcome.addresses.first() {
                Some(ip) => Route::Direct(SocketAddr::new(*ip, target.port)),
                None => {
                    let check = survey_check(
                        target,
                        Status::Info,
                        outcome.check.reason,
                        format!("{name} not timed: {}", outcome.check.detail),
                    );
                    return (check, None);
                }
            }
        }
    };
    let started = Instant::now();
    let stream = match route.open(ctx, &host, ctx.limit()).await {
        Ok(s) => s,
        Err(f) => {
            let check = survey_check(
                target,
                Status::Info,
                path_reason(&f),
                format!(
                    "{name} not timed: no connection to {} ({})",
                    target.host,
                    path_reason(&f)
                ),
            );
            return (check, None);
        }
    };
    let tcp_ms = millis(started.elapsed());
    match tls::handshake(&ctx.tls, &target.host, stream, ctx.limit()).await {
        Ok(_) => {
            let connect_ms = millis(started.elapsed());
            let slow = connect_ms > SLOW_CONNECT_MS;
            let (status, reason) = match (slow, target.home) {
                (true, true) => (Status::Warn, Reason::PoorQuality),
                (true, false) => (Status::Info, Reason::PoorQuality),
                (false, _) => (Status::Info, Reason::Ok),
            };
            let over = if slow {
                format!(", over {SLOW_CONNECT_MS} ms")
            } else {
                String::new()
            };
            let check = survey_check(
                target,
                status,
                reason,
                format!(
                    "{name}: TLS connect in {connect_ms} ms{over} ({})",
                    route.via()
                ),
            )
            .evidence("connect_ms", connect_ms)
            .evidence("tcp_connect_ms", tcp_ms);
            let check = if status == Status::Warn {
                check.remedy(remedy::slow_region(
                    &target.region,
                    connect_ms,
                    SLOW_CONNECT_MS,
                ))
            } else {
                check
            };
            (check, Some(connect_ms))
        }
        Err(f) => {
            let reason = match f {
                tls::HandshakeFailure::OldTls => Reason::OldTls,
                tls::HandshakeFailure::Cut => Reason::HandshakeFailed,
                tls::HandshakeFailure::Malformed => Reason::BadResponse,
                tls::HandshakeFailure::Timeout => Reason::Stalled,
            };
            let check = survey_check(
                target,
                Status::Info,
                reason,
                format!("{name} not timed: the TLS handshake failed ({reason})"),
            );
            (check, None)
        }
    }
}

/// The Region with the shortest TLS connect time among those the survey timed (in plan order:
/// of equal times, the first).
pub(super) fn closest_region(timed: &[SurveyTiming]) -> Option<Check> {
    let best = timed.iter().min_by_key(|t| t.connect_ms)?;
    let mut detail = format!(
        "the closest Region by TLS connect time is {} ({}), {} ms",
        best.region, best.region_name, best.connect_ms
    );
    if let Some(home) = timed.iter().find(|t| t.home) {
        if home != best {
            detail.push_str(&format!(
                "; the instance's Region {} takes {} ms",
                home.region, home.connect_ms
            ));
        }
    }
    Some(
        Check::new(
            "survey/closest",
            Kind::Tls,
            Status::Info,
            Reason::Ok,
            detail,
        )
        .evidence("region", &best.region)
        .evidence("connect_ms", best.connect_ms)
        .evidence("regions_timed", timed.len()),
    )
}
