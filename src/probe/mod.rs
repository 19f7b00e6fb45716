//! Live probes. Each returns facts and a classified verdict (a [`Check`](crate::report::Check)),
//! never an `Err` for a failed check, and never prints. Failures are classified where they happen,
//! from `io::ErrorKind`, hickory's, rustls's and tungstenite's error types.

pub(crate) mod dns;
pub(crate) mod http;
pub(crate) mod proxy;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod ws;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::ranges::Snapshot;

/// What every probe of a run shares.
pub(crate) struct Context {
    pub resolver: dns::Resolver,
    pub snapshot: Arc<Snapshot>,
    pub tls: tls::Trust,
    /// The longest a single probe may take.
    pub per_probe: Duration,
    /// When the whole run ends.
    pub deadline: tokio::time::Instant,
}

impl Context {
    /// The time the next probe may take: the per-probe limit, cut short by the deadline.
    pub(crate) fn limit(&self) -> Duration {
        self.per_probe.min(
            self.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        )
    }
}

/// The published range an address falls in: the longest prefix holding it, the service-specific
/// entry preferred over the catch-all AMAZON one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    pub net: ipnet::IpNet,
    pub service: String,
    pub region: String,
}

impl Published {
    /// Where `addr` is published in `snapshot`; `None` outside every published range.
    pub(crate) fn of(snapshot: &Snapshot, addr: IpAddr) -> Option<Self> {
        let entries: Vec<_> = snapshot.containing(addr).collect();
        let best = entries
            .iter()
            .find(|e| snapshot.service(e) != "AMAZON")
            .or_else(|| entries.first())?;
        Some(Self {
            net: best.net,
            service: snapshot.service(best).to_owned(),
            region: snapshot.region(best).to_owned(),
        })
    }

    /// `15.193.4.0/24 (AMAZON_CONNECT eu-central-1)`, for people.
    pub(crate) fn named(&self) -> String {
        format!("{} ({} {})", self.net, self.service, self.region)
    }
}

/// Milliseconds, for `duration_ms` and `*_ms` evidence.
pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}
