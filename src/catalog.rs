//! What a Region and instance need: the domain allow-list (AWS's "Option 1") and the IP-range
//! rules (AWS's "Option 2"), expanded from the curated data in `ranges/catalog.toml`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Location, Result};
use crate::ranges::{IpSet, Snapshot};
use crate::report::Proto;

static EMBEDDED: &str = include_str!("../ranges/catalog.toml");

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
    pub fn name(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Login => "login",
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

/// A protocol and a port or port range, written `udp/3478` or `udp/49152-65535`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSpec {
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
}

impl PortSpec {
    pub const fn single(proto: Proto, port: u16) -> Self {
        Self {
            proto,
            first: port,
            last: port,
        }
    }

    pub fn contains(&self, other: &Self) -> bool {
        self.proto == other.proto && self.first <= other.first && other.last <= self.last
    }

    /// The port part alone: `3478` or `49152-65535`.
    pub fn ports(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.last)
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.proto, self.ports())
    }
}

impl FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("expected a protocol and port like tcp/443 or udp/49152-65535, found {s:?}");
        let (proto, ports) = s.split_once('/').ok_or_else(bad)?;
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return Err(bad()),
        };
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let p = ports.parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        if first == 0 || first > last {
            return Err(bad());
        }
        Ok(Self { proto, first, last })
    }
}

impl Serialize for PortSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionInfo {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub partner: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointTemplate {
    id: String,
    group: Group,
    host: String,
    #[serde(default)]
    probe: Option<String>,
    #[serde(default)]
    allowlist: Option<String>,
    ports: Vec<PortSpec>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    websocket: bool,
    #[serde(default)]
    legacy: bool,
    purpose: String,
    source: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTemplate {
    id: String,
    group: Group,
    service: String,
    regions: Vec<String>,
    #[serde(default)]
    fallback: Vec<String>,
    ports: Vec<PortSpec>,
    #[serde(default)]
    inbound: bool,
    purpose: String,
    source: String,
}

/// The curated data: Regions, endpoint templates and IP-range rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    version: u32,
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
    pub const fn suffix(self) -> &'static str {
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
    pub fn parse(input: &str) -> Result<Self, String> {
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

/// A host of the allow-list: one name, or every name under a suffix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    Exact(String),
    /// `*.suffix`: every name below `suffix` (not `suffix` itself).
    Wildcard(String),
}

impl HostPattern {
    pub fn parse(text: &str) -> Self {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        match text.strip_prefix("*.") {
            Some(suffix) => Self::Wildcard(suffix.to_owned()),
            None => Self::Exact(text),
        }
    }

    /// Whether a concrete name falls under this pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Self::Exact(host) => *host == name,
            Self::Wildcard(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Wildcard(_))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(s) => write!(f, "*.{s}"),
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
pub struct DomainRequirement {
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
    pub ports: Vec<PortSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub websocket: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    pub purpose: String,
    pub source: String,
}

impl DomainRequirement {
    /// The concrete host a live check can contact, if any.
    pub fn concrete_host(&self) -> Option<&str> {
        match &self.host {
            HostPattern::Exact(h) => Some(h),
            HostPattern::Wildcard(_) => self.probe.as_deref(),
        }
    }
}

/// One IP-range rule: the address space of a service in some Regions, on some ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangeRequirement {
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
    pub ports: Vec<PortSpec>,
    pub direction: Direction,
    pub purpose: String,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl RangeRequirement {
    /// The Regions of `ip-ranges.json` this rule selects from `snapshot`, after the fallback.
    pub fn effective_regions(&self, snapshot: &Snapshot) -> Vec<String> {
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
    pub fn space(&self, snapshot: &Snapshot) -> IpSet {
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
    pub fn describe(&self, snapshot: &Snapshot) -> String {
        let regions = self.effective_regions(snapshot);
        let regions = if regions == ["*"] {
            "all Regions".to_owned()
        } else {
            regions.join(" + ")
        };
        format!("{} {}", self.service, regions)
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
pub struct Requirements {
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

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED, Path::new("ranges/catalog.toml"))
            .expect("the embedded catalog parses (tested)")
    }

    /// Reads a catalog file (`--endpoints`), naming line and column of anything malformed.
    pub fn read(path: &Path) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::allowlist::read_text(path)?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let catalog: Self = toml::from_str(text).map_err(|e| {
            let location = e.span().map_or_else(
                || Location::file(path),
                |span| Location::from_offset(path, text, span.start),
            );
            Error::bad_input(location, e.message().to_owned())
        })?;
        if catalog.version != 1 {
            return Err(Error::bad_input(
                Location::file(path),
                format!("expected catalog version 1, found {}", catalog.version),
            ));
        }
        Ok(catalog)
    }

    pub fn regions(&self) -> &[RegionInfo] {
        &self.regions
    }

    pub fn region(&self, code: &str) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.code == code)
    }

    /// The usage error for a Region the catalog does not know, listing the ones it does.
    pub fn unknown_region(&self, code: &str) -> Error {
        let known: Vec<&str> = self.regions.iter().map(|r| r.code.as_str()).collect();
        Error::usage(format!(
            "unknown Region {code:?}; Amazon Connect Regions are: {}",
            known.join(", ")
        ))
    }

    /// Expands the templates for a selection.
    pub fn requirements(&self, sel: &Selection) -> Result<Requirements> {
        let region = self
            .region(&sel.region)
            .ok_or_else(|| self.unknown_region(&sel.region))?;
        let mut groups: BTreeSet<Group> = sel.features.clone();
        groups.insert(Group::Core);
        if !groups.contains(&Group::Saml) {
            groups.insert(Group::Login);
        }
        if sel.stateless {
            groups.insert(Group::Stateless);
        }
        let partner = if groups.contains(&Group::Gr) {
            let code = sel
                .partner_region
                .clone()
                .or_else(|| region.partner.clone())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{} has no Global Resiliency partner; name one with --partner-region",
                        region.code
                    ))
                })?;
            Some(
                self.region(&code)
                    .ok_or_else(|| self.unknown_region(&code))?,
            )
        } else if let Some(code) = &sel.partner_region {
            return Err(Error::usage(format!(
                "--partner-region {code} needs --with gr"
            )));
        } else {
            None
        };

        let instance_domain = |info: &RegionInfo| -> Result<String> {
            let region_suffix = info
                .instance_domain
                .as_deref()
                .unwrap_or(DomainKind::MyConnect.suffix());
            match &sel.instance {
                None => Ok(format!("*.{region_suffix}")),
                Some(Instance {
                    alias,
                    domain: None,
                }) => Ok(format!("{alias}.{region_suffix}")),
                Some(Instance {
                    alias,
                    domain: Some(kind),
                }) => {
                    let govcloud_region = region_suffix == DomainKind::Govcloud.suffix();
                    if (*kind == DomainKind::Govcloud) != govcloud_region {
                        return Err(Error::usage(format!(
                            "the instance domain {alias}.{} does not belong to {}; GovCloud instances are in us-gov-west-1",
                            kind.suffix(),
                            info.code
                        )));
                    }
                    Ok(format!("{alias}.{}", kind.suffix()))
                }
            }
        };

        let mut out = Requirements {
            region: region.code.clone(),
            partner_region: partner.map(|p| p.code.clone()),
            instance: sel
                .instance
                .as_ref()
                .map(|_| instance_domain(region))
                .transpose()?,
            domains: Vec::new(),
            rules: Vec::new(),
            notes: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        for info in std::iter::once(region).chain(partner) {
            if let Some(note) = &info.note {
                out.notes.push(note.clone());
            }
            let legacy_paths = matches!(
                sel.instance,
                Some(Instance {
                    domain: Some(DomainKind::Awsapps),
                    ..
                })
            );
            for t in self.endpoints.iter().filter(|t| groups.contains(&t.group)) {
                let hosts: Vec<String> = match t.host.as_str() {
                    "{turn}" => info.turn.clone(),
                    "{static}" => info.static_hosts.clone(),
                    "{login}" => info.login.clone(),
                    template => {
                        let host = template
                            .replace("{instance_domain}", &instance_domain(info)?)
                            .replace("{instance_id}", sel.instance_id.as_deref().unwrap_or("*"))
                            .replace("{bucket}", sel.bucket.as_deref().unwrap_or("*"))
                            .replace("{region}", &info.code);
                        vec![host]
                    }
                };
                for host in hosts {
                    let pattern = HostPattern::parse(&host);
                    if !seen.insert((pattern.clone(), t.ports.clone())) {
                        continue;
                    }
                    let many = matches!(t.host.as_str(), "{turn}" | "{static}" | "{login}");
                    let id = if many {
                        format!("{}/{}/{}", t.id, info.code, pattern)
                    } else {
                        format!("{}/{}", t.id, info.code)
                    };
                    let allowlist = t.allowlist.as_ref().map_or_else(
                        || pattern.clone(),
                        |a| HostPattern::parse(&a.replace("{region}", &info.code)),
                    );
                    let paths = if legacy_paths && t.id == "instance" {
                        t.paths.iter().map(|p| format!("/connect{p}")).collect()
                    } else {
                        t.paths.clone()
                    };
                    out.domains.push(DomainRequirement {
                        id,
                        group: t.group,
                        region: info.code.clone(),
                        host: pattern,
                        allowlist,
                        probe: t
                            .probe
                            .as_ref()
                            .map(|p| p.replace("{region}", &info.code).to_ascii_lowercase()),
                        ports: t.ports.clone(),
                        paths,
                        websocket: t.websocket,
                        legacy: t.legacy,
                        purpose: t.purpose.clone(),
                        source: t.source.clone(),
                    });
                }
            }
            for t in self.rules.iter().filter(|t| groups.contains(&t.group)) {
                out.rules.push(RangeRequirement {
                    id: format!("{}/{}", t.id, info.code),
                    group: t.group,
                    region: info.code.clone(),
                    service: t.service.clone(),
                    regions: t
                        .regions
                        .iter()
                        .map(|r| r.replace("{region}", &info.code))
                        .collect(),
                    fallback: t.fallback.clone(),
                    ports: t.ports.clone(),
                    direction: if t.inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    purpose: t.purpose.clone(),
                    source: t.source.clone(),
                });
            }
        }
        if sel.features.contains(&Group::Attachments) && sel.bucket.is_none() {
            out.notes.push("Name the chat attachments bucket with --bucket to narrow *.s3.<region>.amazonaws.com to one host.".to_owned());
        }
        if sel.features.contains(&Group::Gr) && sel.instance_id.is_none() {
            out.notes.push("Give the instance ID with --instance-id to narrow the Global Resiliency sign-in host.".to_owned());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(region: &str) -> Selection {
        Selection {
            region: region.to_owned(),
            ..Selection::default()
        }
    }

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
    fn every_region_expands() {
        let catalog = Catalog::embedded();
        assert_eq!(catalog.regions().len(), 12);
        for region in catalog.regions() {
            let all = [
                Group::Saml,
                Group::Video,
                Group::Attachments,
                Group::Scheduling,
                Group::CcpV1,
            ]
            .into_iter()
            .collect();
            let req = catalog
                .requirements(&Selection {
                    features: all,
                    stateless: true,
                    ..sel(&region.code)
                })
                .unwrap();
            assert!(
                req.domains.iter().any(|d| d.id.starts_with("instance/")),
                "{}",
                region.code
            );
            assert_eq!(
                req.rules
                    .iter()
                    .filter(|r| r.group == Group::Stateless)
                    .count(),
                2
            );
        }
    }

    #[test]
    fn eu_central_1_core() {
        let catalog = Catalog::embedded();
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme").unwrap()),
                ..sel("eu-central-1")
            })
            .unwrap();
        let hosts: Vec<String> = req
            .domains
            .iter()
            .map(|d| d.allowlist.to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "acme.my.connect.aws",
                "*.static.connect.aws",
                "d1n9s7btyr4f0n.cloudfront.net",
                "d3tqoc05lsydd3.cloudfront.net",
                "d1whcm49570jjw.cloudfront.net",
                "*.telemetry.connect.eu-central-1.amazonaws.com",
                "participant.connect.eu-central-1.amazonaws.com",
                "*.transport.connect.eu-central-1.amazonaws.com",
                "turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
            ]
        );
        let turn = req
            .domains
            .iter()
            .find(|d| d.id.starts_with("turn/"))
            .unwrap();
        assert_eq!(turn.ports, [PortSpec::single(Proto::Udp, 3478)]);
        let telemetry = req
            .domains
            .iter()
            .find(|d| d.id == "telemetry/eu-central-1")
            .unwrap();
        assert_eq!(
            telemetry.concrete_host(),
            Some("ieluqbvv.telemetry.connect.eu-central-1.amazonaws.com")
        );
        let transport = req
            .domains
            .iter()
            .find(|d| d.id == "transport/eu-central-1")
            .unwrap();
        assert_eq!(transport.concrete_host(), None);
        assert_eq!(
            req.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            [
                "connect-media/eu-central-1",
                "ec2-api/eu-central-1",
                "cloudfront/eu-central-1"
            ]
        );
    }

    #[test]
    fn saml_replaces_the_login_page_assets() {
        let catalog = Catalog::embedded();
        let features = [Group::Saml].into_iter().collect();
        let req = catalog
            .requirements(&Selection {
                features,
                ..sel("us-east-1")
            })
            .unwrap();
        let hosts: Vec<String> = req.domains.iter().map(|d| d.host.to_string()).collect();
        assert!(!hosts.contains(&"d32i4gd7pg4909.cloudfront.net".to_owned()));
        assert!(hosts.contains(&"us-east-1.signin.aws.amazon.com".to_owned()));
        assert!(hosts.contains(&"*.my.connect.aws".to_owned()));
    }

    #[test]
    fn global_resiliency_covers_both_regions() {
        let catalog = Catalog::embedded();
        let features = [Group::Gr].into_iter().collect();
        let req = catalog
            .requirements(&Selection {
                features,
                instance_id: Some("1111-2222".into()),
                ..sel("us-east-1")
            })
            .unwrap();
        assert_eq!(req.partner_region.as_deref(), Some("us-west-2"));
        let turn = req
            .domains
            .iter()
            .filter(|d| d.id.starts_with("turn/"))
            .count();
        assert_eq!(turn, 6);
        assert!(
            req.domains
                .iter()
                .any(|d| d.host.to_string() == "1111-2222.us-west-2.sign-in.connect.aws")
        );
        assert!(req.rules.iter().any(|r| r.id == "connect-media/us-west-2"));
        // No partner: a clear usage error.
        let features = [Group::Gr].into_iter().collect();
        let err = catalog
            .requirements(&Selection {
                features,
                ..sel("af-south-1")
            })
            .unwrap_err();
        assert!(err.to_string().contains("--partner-region"), "{err}");
    }

    #[test]
    fn govcloud_and_legacy_domains() {
        let catalog = Catalog::embedded();
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme").unwrap()),
                ..sel("us-gov-west-1")
            })
            .unwrap();
        assert_eq!(req.instance.as_deref(), Some("acme.govcloud.connect.aws"));
        let err = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme.govcloud.connect.aws").unwrap()),
                ..sel("eu-west-2")
            })
            .unwrap_err();
        assert!(err.to_string().contains("us-gov-west-1"));
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("https://acme.awsapps.com/connect/ccp-v2").unwrap()),
                ..sel("eu-west-2")
            })
            .unwrap();
        let instance = &req.domains[0];
        assert_eq!(instance.host.to_string(), "acme.awsapps.com");
        assert_eq!(instance.paths[0], "/connect/ccp-v2/");
    }

    #[test]
    fn unknown_region_lists_the_known_ones() {
        let err = Catalog::embedded()
            .requirements(&sel("mars-north-1"))
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        assert!(err.to_string().contains("eu-central-1"), "{err}");
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
    fn ec2_falls_back_to_global_only_without_regional_entries() {
        let snapshot = Snapshot::embedded();
        let catalog = Catalog::embedded();
        let req = catalog.requirements(&sel("eu-central-1")).unwrap();
        let ec2 = req.rules.iter().find(|r| r.service == "EC2").unwrap();
        assert_eq!(ec2.effective_regions(&snapshot), ["eu-central-1"]);
        let media = req
            .rules
            .iter()
            .find(|r| r.service == "AMAZON_CONNECT")
            .unwrap();
        assert!(
            media
                .space(&snapshot)
                .contains("15.193.4.10".parse().unwrap())
        );
        assert_eq!(
            media.describe(&snapshot),
            "AMAZON_CONNECT GLOBAL + eu-central-1"
        );
        let rule = RangeRequirement {
            regions: vec!["xx-nowhere-1".into()],
            ..ec2.clone()
        };
        assert_eq!(rule.effective_regions(&snapshot), ["GLOBAL"]);
    }

    #[test]
    fn port_specs() {
        assert_eq!(
            "udp/49152-65535".parse::<PortSpec>().unwrap().to_string(),
            "udp/49152-65535"
        );
        assert_eq!(
            "TCP/443".parse::<PortSpec>().unwrap(),
            PortSpec::single(Proto::Tcp, 443)
        );
        for bad in ["443", "sctp/1", "tcp/0", "udp/9-1", "tcp/x"] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad}");
        }
    }
}
