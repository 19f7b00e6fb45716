//! What a Region and instance need: the domain allow-list (AWS's "Option 1") and the IP-range
//! rules (AWS's "Option 2"), expanded from the curated data in `ranges/catalog.toml`.
//!
//! This file holds the model (groups, Regions, requirements, the selection, where the catalog
//! came from); `read.rs` reads and checks `catalog.toml`, `expand.rs` expands a selection into
//! `Requirements`, `markdown.rs` writes `docs/catalog.md`.

mod expand;
mod markdown;
mod read;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::PortRange;
pub(crate) use crate::net::{Direction, PortRange as PortSpec};
use crate::ranges::{IpSet, Snapshot};

use read::{EndpointTemplate, RuleTemplate};

/// A feature group: what the agents use decides what they must reach.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// Always needed: the instance, static assets, telemetry, chat API, WebSocket, TURN.
    #[value(skip)]
    Core,
    /// Connect's own sign-in page; implied unless `saml` is chosen.
    #[value(skip)]
    Login,
    /// The 2026 sign-in experience of instances that do not use SAML; implied unless `saml` is
    /// chosen.
    #[value(skip)]
    Signin,
    /// Agents sign in through SAML 2.0.
    Saml,
    /// Global Resiliency: the partner Region too, and its sign-in and discovery hosts.
    #[value(alias = "global-resiliency")]
    Gr,
    /// In-app video calling and screen sharing.
    #[value(alias = "screen-sharing")]
    Video,
    /// Chat attachments in S3.
    Attachments,
    /// Forecasting and scheduling uploads.
    Scheduling,
    /// The legacy CCP v1 softphone signalling.
    #[serde(rename = "ccp-v1")]
    #[value(name = "ccp-v1")]
    CcpV1,
    /// Stateless firewalls: inbound rules for returning media (`--stateless`).
    #[value(skip)]
    Stateless,
}

impl Group {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Login => "login",
            Self::Signin => "signin",
            Self::Saml => "saml",
            Self::Gr => "gr",
            Self::Video => "video",
            Self::Attachments => "attachments",
            Self::Scheduling => "scheduling",
            Self::CcpV1 => "ccp-v1",
            Self::Stateless => "stateless",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegionInfo {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub partner: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    /// Only ever a Global Resiliency replica: its partner is the source Region.
    #[serde(default)]
    pub replica_only: bool,
    /// The instance domain suffix; `my.connect.aws` unless given.
    #[serde(default)]
    pub instance_domain: Option<String>,
    #[serde(default)]
    pub turn: Vec<String>,
    #[serde(default, rename = "static")]
    pub static_hosts: Vec<String>,
    #[serde(default)]
    pub login: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

impl RegionInfo {
    /// The AWS partition of the Region: `aws` unless the catalog says otherwise.
    pub(crate) fn partition(&self) -> &str {
        self.partition.as_deref().unwrap_or("aws")
    }
}

/// Where an entry comes from: the AWS page (or AWS code), the line it restates and the day it was
/// last compared with it; and, for a wildcard, where the concrete name a live check tests comes
/// from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Proof {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_quote: Option<String>,
    /// AWS code that shows what no page states (the softphone's transport, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_quote: Option<String>,
}

/// The curated data: Regions, endpoint templates and IP-range rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    version: u32,
    /// The day the catalog as a whole was last compared with AWS's pages (`YYYY-MM-DD`).
    #[serde(default)]
    checked: Option<String>,
    /// Where the catalog was read from.
    #[serde(skip, default)]
    origin: Origin,
    #[serde(rename = "region")]
    regions: Vec<RegionInfo>,
    #[serde(rename = "endpoint")]
    endpoints: Vec<EndpointTemplate>,
    #[serde(rename = "rule", default)]
    rules: Vec<RuleTemplate>,
}

/// How an instance is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainKind {
    /// `{alias}.my.connect.aws`, every instance since 2021.
    MyConnect,
    /// `{alias}.awsapps.com`, the legacy domain AWS is retiring.
    Awsapps,
    /// `{alias}.govcloud.connect.aws`, AWS GovCloud (US).
    Govcloud,
}

impl DomainKind {
    pub(crate) const fn suffix(self) -> &'static str {
        match self {
            Self::MyConnect => "my.connect.aws",
            Self::Awsapps => "awsapps.com",
            Self::Govcloud => "govcloud.connect.aws",
        }
    }
}

/// An instance as the user named it: alias, CCP URL or domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub alias: String,
    /// `None` when only an alias was given: the Region decides the domain.
    pub domain: Option<DomainKind>,
}

impl Instance {
    /// Accepts `acme`, `acme.my.connect.aws`, `https://acme.my.connect.aws/ccp-v2/`,
    /// `https://acme.awsapps.com/connect/ccp-v2` or `acme.govcloud.connect.aws`.
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        let without_scheme = trimmed.split_once("://").map_or(trimmed, |(scheme, rest)| {
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") {
                rest
            } else {
                trimmed
            }
        });
        let host = without_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let expected = "expected an instance alias (acme), its CCP URL (https://acme.my.connect.aws/ccp-v2/) or its domain";
        if host.is_empty() {
            return Err(format!("{expected}, found {input:?}"));
        }
        let (alias, domain) = [
            DomainKind::MyConnect,
            DomainKind::Awsapps,
            DomainKind::Govcloud,
        ]
        .into_iter()
        .find_map(|kind| {
            host.strip_suffix(kind.suffix())
                .and_then(|a| a.strip_suffix('.'))
                .map(|a| (a.to_owned(), Some(kind)))
        })
        .unwrap_or((host.clone(), None));
        let valid = !alias.is_empty()
            && alias.len() <= 63
            && alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !alias.starts_with('-')
            && !alias.ends_with('-');
        if !valid {
            let hint = if host.contains('.') && domain.is_none() {
                " (the domain must end in .my.connect.aws, .awsapps.com or .govcloud.connect.aws)"
            } else {
                ""
            };
            return Err(format!("{expected}, found {input:?}{hint}"));
        }
        Ok(Self { alias, domain })
    }
}

/// A host of the allow-list: one name, every name under a suffix, or AWS's label wildcard.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HostPattern {
    Exact(String),
    /// `*.suffix`: every name below `suffix` (not `suffix` itself).
    Wildcard(String),
    /// A `*` inside a name, as AWS writes `TurnNlb-*.elb.REGION.amazonaws.com` and
    /// `rtc*.connect-telecom.REGION.amazonaws.com`: every name that starts with `head` and ends
    /// with `tail`, the `*` standing for any run of characters (dots too), as a PAC file's
    /// `shExpMatch` reads it.
    Label {
        head: String,
        tail: String,
    },
}

impl HostPattern {
    pub(crate) fn parse(text: &str) -> Self {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        if let Some(suffix) = text.strip_prefix("*.") {
            return Self::Wildcard(suffix.to_owned());
        }
        match text.split_once('*') {
            Some((head, tail)) => Self::Label {
                head: head.to_owned(),
                tail: tail.to_owned(),
            },
            None => Self::Exact(text),
        }
    }

    /// The name a pattern is written with, without its wildcard: the host, the suffix, or the
    /// part after a label wildcard's first dot.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Exact(h) | Self::Wildcard(h) => h,
            Self::Label { tail, .. } => tail.split_once('.').map_or(tail.as_str(), |(_, r)| r),
        }
    }

    /// Whether a concrete name falls under this pattern.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Self::Exact(host) => *host == name,
            Self::Wildcard(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            Self::Label { head, tail } => {
                name.len() >= head.len() + tail.len()
                    && name.starts_with(head.as_str())
                    && name.ends_with(tail.as_str())
            }
        }
    }

    pub(crate) fn is_wildcard(&self) -> bool {
        !matches!(self, Self::Exact(_))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(s) => write!(f, "*.{s}"),
            Self::Label { head, tail } => write!(f, "{head}*{tail}"),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One domain the workstation must reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct DomainRequirement {
    /// `template/region` or `template/region/host`, stable across runs.
    pub id: String,
    pub group: Group,
    pub region: String,
    pub host: HostPattern,
    /// The line to put in an allow-list (a wildcard may be wider than `host`).
    pub allowlist: HostPattern,
    /// A concrete name to test, when the requirement is a wildcard and one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    pub ports: Vec<PortRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub websocket: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    pub purpose: String,
    pub source: String,
    #[serde(flatten)]
    pub proof: Proof,
}

impl DomainRequirement {
    /// The concrete host a live check can contact, if any.
    pub(crate) fn concrete_host(&self) -> Option<&str> {
        match &self.host {
            HostPattern::Exact(h) => Some(h),
            HostPattern::Wildcard(_) | HostPattern::Label { .. } => self.probe.as_deref(),
        }
    }
}

/// One IP-range rule: the address space of a service in some Regions, on some ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RangeRequirement {
    pub id: String,
    pub group: Group,
    /// The target Region this rule serves.
    pub region: String,
    pub service: String,
    /// `ip-ranges.json` Regions selected; `*` is every Region of the service.
    pub regions: Vec<String>,
    /// Regions used instead when none of `regions` has an entry for the service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
    pub ports: Vec<PortRange>,
    pub direction: Direction,
    pub purpose: String,
    pub source: String,
    #[serde(flatten)]
    pub proof: Proof,
}

impl RangeRequirement {
    /// The Regions of `ip-ranges.json` this rule selects from `snapshot`, after the fallback.
    pub(crate) fn effective_regions(&self, snapshot: &Snapshot) -> Vec<String> {
        if self.regions.iter().any(|r| r == "*") {
            return vec!["*".to_owned()];
        }
        let specific: Vec<&String> = self.regions.iter().filter(|r| *r != "GLOBAL").collect();
        let has_specific = specific
            .iter()
            .any(|r| snapshot.has_region(&self.service, r));
        if !specific.is_empty() && !has_specific && !self.fallback.is_empty() {
            return self.fallback.clone();
        }
        self.regions.clone()
    }

    /// The address space the rule selects from `snapshot`.
    pub(crate) fn space(&self, snapshot: &Snapshot) -> IpSet {
        let regions = self.effective_regions(snapshot);
        if regions.iter().any(|r| r == "*") {
            let nets: Vec<ipnet::IpNet> = snapshot
                .entries()
                .iter()
                .filter(|e| snapshot.service(e) == self.service)
                .map(|e| e.net)
                .collect();
            return IpSet::from_nets(&nets);
        }
        let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
        snapshot.select(&self.service, &regions)
    }

    /// `AMAZON_CONNECT GLOBAL + eu-central-1`, for people.
    pub(crate) fn describe(&self, snapshot: &Snapshot) -> String {
        let regions = self.effective_regions(snapshot);
        let regions = if regions == ["*"] {
            "all Regions".to_owned()
        } else {
            regions.join(" + ")
        };
        format!("{} {}", self.service, regions)
    }
}

impl crate::ranges::diff::Rule for RangeRequirement {
    fn id(&self) -> &str {
        &self.id
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn ports(&self) -> &[PortRange] {
        &self.ports
    }

    fn effective_regions(&self, snapshot: &Snapshot) -> Vec<String> {
        Self::effective_regions(self, snapshot)
    }

    fn space(&self, snapshot: &Snapshot) -> IpSet {
        Self::space(self, snapshot)
    }

    fn describe(&self, snapshot: &Snapshot) -> String {
        Self::describe(self, snapshot)
    }
}

/// What the user asked the catalog for.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub region: String,
    pub instance: Option<Instance>,
    pub features: BTreeSet<Group>,
    /// Global Resiliency partner; defaults to the Region's documented partner.
    pub partner_region: Option<String>,
    pub instance_id: Option<String>,
    pub bucket: Option<String>,
    pub stateless: bool,
}

/// Everything a selection needs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Requirements {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub domains: Vec<DomainRequirement>,
    pub rules: Vec<RangeRequirement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where the catalog in use was read from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Compiled into the program.
    #[default]
    BuiltIn,
    /// `catalog.toml` in the user's config folder, dropped there by an administrator.
    ConfigFolder(std::path::PathBuf),
    /// `--endpoints FILE` or the site profile's `endpoints`.
    File(std::path::PathBuf),
}

impl Origin {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::BuiltIn => "built-in",
            Self::ConfigFolder(_) => "config folder",
            Self::File(_) => "file",
        }
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::BuiltIn => None,
            Self::ConfigFolder(p) | Self::File(p) => Some(p),
        }
    }
}

/// What reports say about the catalog in use: where it came from and how old it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct CatalogProvenance {
    /// `built-in`, `config folder` or `file`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The day its entries were last compared with AWS's pages, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    pub entries: usize,
    /// The AWS pages and code its entries cite, each once.
    pub sources: Vec<String>,
}

/// The day a `YYYY-MM-DD` date names.
pub(crate) fn parse_day(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok()
}

impl Catalog {
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    pub(crate) fn regions(&self) -> &[RegionInfo] {
        &self.regions
    }

    pub(crate) fn region(&self, code: &str) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.code == code)
    }

    /// The usage error for a Region the catalog does not know, listing the ones it does.
    pub(crate) fn unknown_region(&self, code: &str) -> Error {
        let known: Vec<&str> = self.regions.iter().map(|r| r.code.as_str()).collect();
        Error::usage(format!(
            "unknown Region {code:?}; Amazon Connect Regions are: {}",
            known.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Protocol;

    #[test]
    fn instance_forms() {
        let parse = |s| Instance::parse(s).unwrap();
        assert_eq!(
            parse("acme"),
            Instance {
                alias: "acme".into(),
                domain: None
            }
        );
        assert_eq!(
            parse("https://acme.my.connect.aws/ccp-v2/"),
            Instance {
                alias: "acme".into(),
                domain: Some(DomainKind::MyConnect)
            }
        );
        assert_eq!(
            parse("https://ACME.awsapps.com/connect/ccp-v2"),
            Instance {
                alias: "acme".into(),
                domain: Some(DomainKind::Awsapps)
            }
        );
        assert_eq!(
            parse("acme.govcloud.connect.aws."),
            Instance {
                alias: "acme".into(),
                domain: Some(DomainKind::Govcloud)
            }
        );
        assert_eq!(
            parse("acme.my.connect.aws:443"),
            Instance {
                alias: "acme".into(),
                domain: Some(DomainKind::MyConnect)
            }
        );
        for bad in [
            "",
            "https://",
            "acme.example.com",
            "-acme",
            "ac me",
            "a.b.my.connect.aws",
        ] {
            assert!(Instance::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Instance::parse("acme.example.com")
                .unwrap_err()
                .contains(".my.connect.aws")
        );
    }

    #[test]
    fn wildcards_match_names_below_the_suffix_only() {
        let p = HostPattern::parse("*.telemetry.connect.eu-central-1.amazonaws.com");
        assert!(p.matches("ieluqbvv.telemetry.connect.eu-central-1.amazonaws.com."));
        assert!(p.matches("A.B.TELEMETRY.connect.eu-central-1.amazonaws.com"));
        assert!(!p.matches("telemetry.connect.eu-central-1.amazonaws.com"));
        assert!(!p.matches("xtelemetry.connect.eu-central-1.amazonaws.com"));
        assert!(
            HostPattern::parse("TurnNlb-1.elb.x.amazonaws.com.")
                .matches("turnnlb-1.elb.x.amazonaws.com")
        );
    }

    #[test]
    fn label_wildcards_match_as_shexpmatch_does() {
        let p = HostPattern::parse("TurnNlb-*.elb.us-east-1.amazonaws.com");
        assert_eq!(p.to_string(), "turnnlb-*.elb.us-east-1.amazonaws.com");
        assert_eq!(p.name(), "elb.us-east-1.amazonaws.com");
        assert!(p.is_wildcard());
        assert!(p.matches("TurnNlb-d76454ac48d20c1e.elb.us-east-1.amazonaws.com"));
        assert!(p.matches("turnnlb-.elb.us-east-1.amazonaws.com"));
        assert!(p.matches("turnnlb-a.b.elb.us-east-1.amazonaws.com"));
        assert!(!p.matches("turnnlb.elb.us-east-1.amazonaws.com"));
        assert!(!p.matches("x-turnnlb-1.elb.us-east-1.amazonaws.com"));
        assert!(!p.matches("turnnlb-1.elb.us-west-2.amazonaws.com"));
        let rtc = HostPattern::parse("rtc*.connect-telecom.eu-west-2.amazonaws.com");
        assert!(rtc.matches("rtc.connect-telecom.eu-west-2.amazonaws.com"));
        assert!(rtc.matches("rtc2.connect-telecom.eu-west-2.amazonaws.com"));
        assert!(!rtc.matches("media.connect-telecom.eu-west-2.amazonaws.com"));
    }

    #[test]
    fn port_specs() {
        assert_eq!(
            "udp/49152-65535".parse::<PortRange>().unwrap().to_string(),
            "udp/49152-65535"
        );
        assert_eq!(
            "TCP/443".parse::<PortRange>().unwrap(),
            PortRange::single(Protocol::Tcp, 443)
        );
        for bad in ["443", "sctp/1", "tcp/0", "udp/9-1", "tcp/x"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }
}
