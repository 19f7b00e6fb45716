//! The typed facts a check carries for the stages after it: the addresses it resolved, connected
//! to or exchanged datagrams with, the relay address a media check is about, the allow-list line
//! and published prefix the report's fixes add. Set by whoever makes the check, beside the
//! evidence they mirror; never serialized, so the JSON report is what the evidence says, and
//! never parsed back out of the evidence or the check's id.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::Check;

/// What later stages read of a check. Empty for a check read back from a JSON report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The allow-list line (domain or wildcard) that covers the check's host: what the report's
    /// fixes ask the network team to add when the check did not pass.
    pub allowlist: Option<String>,
    /// The published prefix holding the address that failed: what the fixes add to the CIDRs.
    pub prefix: Option<IpNet>,
    /// The addresses the check resolved, tried or heard from, in the order it met them.
    pub contacts: Vec<Contact>,
    /// A media check about one relay address: which step, of which relay, at which address.
    pub relay: Option<RelayTarget>,
    /// The customer's list the check read its host or address against (`--domains`, `--cidrs`).
    pub list: Option<ListKind>,
}

/// An address a check met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// An answer of the DNS lookup: the host's ports are the plan's.
    Resolved(IpAddr),
    /// A TCP connection tried (whatever came of it).
    Tcp(SocketAddr),
    /// A relay that answered over UDP.
    Udp(SocketAddr),
}

/// The steps of the media test that are made once per relay address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayStep {
    /// The STUN Binding (`stun/HOST/ADDRESS`).
    Stun,
    /// The unauthenticated TURN Allocate (`turn/HOST/ADDRESS`).
    Turn,
    /// The quality sample of Bindings (`media/HOST/ADDRESS`).
    Quality,
    /// The authenticated TURN allocation (`turn-auth/HOST/ADDRESS`).
    TurnAuth,
    /// The relayed echo after it (`relayed/HOST/ADDRESS`).
    Relayed,
    /// The relay-only WebRTC call (`call/HOST/ADDRESS`).
    Call,
}

impl RelayStep {
    /// The first part of the check's id.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stun => "stun",
            Self::Turn => "turn",
            Self::Quality => "media",
            Self::TurnAuth => "turn-auth",
            Self::Relayed => "relayed",
            Self::Call => "call",
        }
    }
}

/// The relay address one media check is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayTarget {
    pub step: RelayStep,
    pub host: String,
    pub ip: IpAddr,
}

impl RelayTarget {
    /// The check's id: `STEP/HOST/ADDRESS`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.step.as_str(), self.host, self.ip)
    }
}

/// Which of the customer's lists a check was read against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Domains,
    Cidrs,
}

impl Check {
    /// The allow-list line covering the host: the `allowlist` evidence and the typed fact.
    #[must_use]
    pub fn allowlist(mut self, line: impl Into<String>) -> Self {
        let line = line.into();
        self.facts.allowlist = Some(line.clone());
        self.evidence("allowlist", line)
    }

    /// The published prefix to allow (`None`: the address is in no published range): the
    /// `prefix` evidence (null when `None`) and the typed fact.
    #[must_use]
    pub fn prefix(mut self, prefix: Option<IpNet>) -> Self {
        self.facts.prefix = prefix;
        self.evidence("prefix", prefix.map(|p| p.to_string()))
    }

    /// The customer's list the check was read against.
    #[must_use]
    pub fn list(mut self, kind: ListKind) -> Self {
        self.facts.list = Some(kind);
        self
    }

    /// The addresses the check met (the evidence that shows them is written by the caller).
    #[must_use]
    pub fn contacts(mut self, contacts: impl IntoIterator<Item = Contact>) -> Self {
        self.facts.contacts.extend(contacts);
        self
    }
}
