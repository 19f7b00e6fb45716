//! What a Region and instance need: the domain allow-list (AWS's "Option 1") and the IP-range
//! rules (AWS's "Option 2"), expanded from the curated data in `ranges/catalog.toml`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Location, Result};
use crate::net::PortRange;
pub(crate) use crate::net::{Direction, PortRange as PortSpec};
use crate::ranges::{IpSet, Snapshot};

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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointTemplate {
    id: String,
    group: Group,
    host: String,
    #[serde(default)]
    probe: Option<String>,
    /// The Region lists (`static`, `login`) whose first host under `host` is the probe.
    #[serde(default)]
    probe_from: Vec<String>,
    /// The Regions `probe` is known in; every Region when empty.
    #[serde(default)]
    probe_regions: Vec<String>,
    #[serde(default)]
    allowlist: Option<String>,
    /// Only in Regions of this partition (`aws`, `aws-us-gov`).
    #[serde(default)]
    partition: Option<String>,
    /// The Regions `{region}` stands for; the Region served when empty.
    #[serde(default)]
    regions: Vec<String>,
    /// Only for the Global Resiliency source Region, never for a replica.
    #[serde(default)]
    source_region_only: bool,
    /// Only while the instance still uses its old awsapps.com domain.
    #[serde(default)]
    legacy_domain_only: bool,
    ports: Vec<PortRange>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    websocket: bool,
    #[serde(default)]
    legacy: bool,
    purpose: String,
    source: String,
    #[serde(default)]
    quote: Option<String>,
    #[serde(default)]
    checked: Option<String>,
    #[serde(default)]
    probe_source: Option<String>,
    #[serde(default)]
    probe_quote: Option<String>,
    #[serde(default)]
    code_source: Option<String>,
    #[serde(default)]
    code_quote: Option<String>,
}

impl EndpointTemplate {
    fn proof(&self) -> Proof {
        Proof {
            quote: self.quote.clone(),
            checked: self.checked.clone(),
            probe_source: self.probe_source.clone(),
            probe_quote: self.probe_quote.clone(),
            code_source: self.code_source.clone(),
            code_quote: self.code_quote.clone(),
        }
    }
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
    ports: Vec<PortRange>,
    #[serde(default)]
    inbound: bool,
    purpose: String,
    source: String,
    #[serde(default)]
    quote: Option<String>,
    #[serde(default)]
    checked: Option<String>,
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
    /// The catalog compiled into the binary.
    pub(crate) fn embedded() -> Self {
        Self::parse(EMBEDDED, Path::new("ranges/catalog.toml"))
            .expect("the embedded catalog parses (tested)")
    }

    /// Reads a catalog file (`--endpoints`), naming line and column of anything malformed.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::input::read_list(path)?;
        let mut catalog = Self::parse(&text, path)?;
        catalog.origin = Origin::File(path.to_owned());
        Ok(catalog)
    }

    /// Reads the catalog an administrator dropped into the user's config folder.
    pub(crate) fn read_from_config_folder(path: &Path) -> Result<Self> {
        let mut catalog = Self::read(path)?;
        catalog.origin = Origin::ConfigFolder(path.to_owned());
        Ok(catalog)
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The day the catalog was last compared with AWS's pages: its own `checked`, else the
    /// newest of its entries'.
    pub(crate) fn checked(&self) -> Option<&str> {
        self.checked.as_deref().or_else(|| {
            self.endpoints
                .iter()
                .filter_map(|e| e.checked.as_deref())
                .chain(self.rules.iter().filter_map(|r| r.checked.as_deref()))
                .filter(|d| parse_day(d).is_some())
                .max()
        })
    }

    /// Where the catalog came from, how old it is at `now`, and what it cites.
    pub(crate) fn provenance(&self, now: time::OffsetDateTime) -> CatalogProvenance {
        let checked = self.checked().map(str::to_owned);
        let age_days = checked
            .as_deref()
            .and_then(parse_day)
            .map(|day| (now.date() - day).whole_days());
        let mut sources: Vec<String> = Vec::new();
        let cited = self
            .endpoints
            .iter()
            .flat_map(|e| {
                [
                    Some(&e.source),
                    e.probe_source.as_ref(),
                    e.code_source.as_ref(),
                ]
                .into_iter()
                .flatten()
            })
            .chain(self.rules.iter().map(|r| &r.source));
        for source in cited {
            // One page once, whatever its #anchor.
            let page = source.split('#').next().unwrap_or(source).to_owned();
            if !sources.contains(&page) {
                sources.push(page);
            }
        }
        CatalogProvenance {
            source: self.origin.label().to_owned(),
            path: self.origin.path().map(|p| p.display().to_string()),
            checked,
            age_days,
            entries: self.endpoints.len() + self.rules.len(),
            sources,
        }
    }

    /// Every entry of the catalog with its source, for `docs/catalog.md` and `catalog info`.
    pub(crate) fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "# The catalog: every entry and where it comes from\n\n\
             Generated from `ranges/catalog.toml` by `connect-preflight catalog info --format markdown`; \
             a test keeps the two in step. Edit the TOML file, then regenerate this page.\n\n",
        );
        if let Some(day) = self.checked() {
            let _ = writeln!(out, "Last compared with AWS's pages: {day}.\n");
        }
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        out.push_str("## Domains (AWS's Option 1)\n\n| id | group | host | allow-list line | ports | source | quote | checked | probe (and where its name comes from) |\n|---|---|---|---|---|---|---|---|---|\n");
        for e in &self.endpoints {
            let ports: Vec<String> = e.ports.iter().map(ToString::to_string).collect();
            let mut scope = Vec::new();
            if let Some(p) = &e.partition {
                scope.push(format!("partition {p}"));
            }
            if !e.regions.is_empty() {
                scope.push(format!("Regions {}", e.regions.join(", ")));
            }
            if e.source_region_only {
                scope.push("source Region only".to_owned());
            }
            if e.legacy_domain_only {
                scope.push("while on awsapps.com".to_owned());
            }
            let scope = if scope.is_empty() {
                String::new()
            } else {
                format!(" ({})", scope.join("; "))
            };
            let probe = match (&e.probe, &e.probe_from.is_empty()) {
                (Some(p), _) => format!(
                    "`{p}`: {} \"{}\"",
                    e.probe_source.as_deref().unwrap_or("source not given"),
                    cell(e.probe_quote.as_deref().unwrap_or(""))
                ),
                (None, false) => format!("the Region's `{}` hosts", e.probe_from.join("`, `")),
                (None, true) if ["{turn}", "{static}", "{login}"].contains(&e.host.as_str()) => {
                    "each pinned host of the Region".to_owned()
                }
                (None, true) if e.host.contains('*') => {
                    "not tested (no concrete name known)".to_owned()
                }
                (None, true) => "the host".to_owned(),
            };
            let mut source = e.source.clone();
            if let (Some(code), Some(quote)) = (&e.code_source, &e.code_quote) {
                source = format!("{source}; code: {code} \"{}\"", cell(quote));
            }
            let _ = writeln!(
                out,
                "| `{}` | {}{scope} | `{}` | `{}` | {} | {} | {} | {} | {} |",
                e.id,
                e.group.name(),
                e.host,
                e.allowlist.as_deref().unwrap_or(&e.host),
                ports.join(", "),
                cell(&source),
                cell(e.quote.as_deref().unwrap_or("(none)")),
                e.checked.as_deref().unwrap_or("(never)"),
                probe
            );
        }
        out.push_str("\n## IP ranges (AWS's Option 2)\n\n| id | group | service | Regions | ports | source | quote | checked |\n|---|---|---|---|---|---|---|---|\n");
        for r in &self.rules {
            let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
            let direction = if r.inbound { " inbound" } else { "" };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {}{direction} | {} | {} | {} |",
                r.id,
                r.group.name(),
                r.service,
                r.regions.join(", "),
                ports.join(", "),
                r.source,
                cell(r.quote.as_deref().unwrap_or("(none)")),
                r.checked.as_deref().unwrap_or("(never)")
            );
        }
        out.push_str("\n## Regions\n\n| Region | name | partition | pinned TURN hosts | CloudFront static hosts | sign-in page assets | note |\n|---|---|---|---|---|---|---|\n");
        for r in &self.regions {
            let list = |l: &[String]| {
                if l.is_empty() {
                    "(none)".to_owned()
                } else {
                    l.iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join("<br>")
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.code,
                r.name,
                r.partition(),
                list(&r.turn),
                list(&r.static_hosts),
                list(&r.login),
                cell(r.note.as_deref().unwrap_or(""))
            );
        }
        out
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self> {
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

    /// Expands the templates for a selection.
    pub(crate) fn requirements(&self, sel: &Selection) -> Result<Requirements> {
        let region = self
            .region(&sel.region)
            .ok_or_else(|| self.unknown_region(&sel.region))?;
        let mut groups: BTreeSet<Group> = sel.features.clone();
        groups.insert(Group::Core);
        if !groups.contains(&Group::Saml) {
            groups.insert(Group::Login);
            groups.insert(Group::Signin);
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

        let legacy_domain = matches!(
            sel.instance,
            Some(Instance {
                domain: Some(DomainKind::Awsapps),
                ..
            })
        );
        // Global Resiliency hosts exist for the source Region only: the Region given, unless it
        // is only ever a replica (then its partner is the source).
        let source_region = match partner {
            Some(p) if region.replica_only => p.code.clone(),
            _ => region.code.clone(),
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
        // Every domain requirement so far, by host and ports: where a later entry's paths go.
        let mut seen: std::collections::HashMap<(HostPattern, Vec<PortRange>), usize> =
            std::collections::HashMap::new();
        let mut indexed = 0;
        for info in std::iter::once(region).chain(partner) {
            if let Some(note) = &info.note {
                out.notes.push(note.clone());
            }
            let list = |name: &str| -> &[String] {
                match name {
                    "turn" => &info.turn,
                    "static" => &info.static_hosts,
                    "login" => &info.login,
                    _ => &[],
                }
            };
            for t in self.endpoints.iter().filter(|t| groups.contains(&t.group)) {
                if t.partition
                    .as_deref()
                    .is_some_and(|p| p != info.partition())
                    || (t.source_region_only && info.code != source_region)
                    || (t.legacy_domain_only && !legacy_domain)
                {
                    continue;
                }
                let served = expand_regions(&t.regions, &info.code);
                for code in &served {
                    let fill = |text: &str| -> Result<String> {
                        let mut text = text.to_owned();
                        if text.contains("{instance_domain}") {
                            text = text.replace("{instance_domain}", &instance_domain(info)?);
                        }
                        let alias = sel.instance.as_ref().map_or("*", |i| i.alias.as_str());
                        Ok(text
                            .replace("{alias}", alias)
                            .replace("{instance_id}", sel.instance_id.as_deref().unwrap_or("*"))
                            .replace("{bucket}", sel.bucket.as_deref().unwrap_or("*"))
                            .replace("{region}", code))
                    };
                    let allowlist = t
                        .allowlist
                        .as_deref()
                        .map(|a| fill(a).map(|a| HostPattern::parse(&a)))
                        .transpose()?;
                    let pinned = t
                        .host
                        .strip_prefix('{')
                        .and_then(|h| h.strip_suffix('}'))
                        .filter(|h| ["turn", "static", "login"].contains(h));
                    // (host, its own paths, the allow-list line, the probe, pinned)
                    let mut hosts: Vec<(HostPattern, Vec<String>, HostPattern, Option<String>)> =
                        Vec::new();
                    match pinned {
                        Some(name) => {
                            for entry in list(name) {
                                let (host, path) = match entry.split_once('/') {
                                    Some((h, p)) => (h, Some(format!("/{p}"))),
                                    None => (entry.as_str(), None),
                                };
                                let host = HostPattern::parse(host);
                                let line = allowlist
                                    .clone()
                                    .filter(|a| a.matches(host.name()))
                                    .unwrap_or_else(|| host.clone());
                                hosts.push((host, path.into_iter().collect(), line, None));
                            }
                            // No pinned host: the wildcard AWS writes is the requirement.
                            if hosts.is_empty() {
                                if let Some(a) = &allowlist {
                                    hosts.push((a.clone(), Vec::new(), a.clone(), None));
                                }
                            }
                        }
                        None => {
                            let host = HostPattern::parse(&fill(&t.host)?);
                            let known_here = t.probe_regions.is_empty()
                                || t.probe_regions.iter().any(|r| r == code);
                            let probe = match &t.probe {
                                Some(p) if known_here => Some(fill(p)?.to_ascii_lowercase()),
                                Some(_) => None,
                                None => t
                                    .probe_from
                                    .iter()
                                    .flat_map(|name| list(name))
                                    .map(|e| e.split('/').next().unwrap_or_default())
                                    .find(|h| host.matches(h))
                                    .map(str::to_ascii_lowercase),
                            };
                            let line = allowlist.clone().unwrap_or_else(|| host.clone());
                            hosts.push((host, Vec::new(), line, probe));
                        }
                    }
                    let many = pinned.is_some() || !t.regions.is_empty();
                    for (pattern, own_paths, line, probe) in hosts {
                        let mut paths = if own_paths.is_empty() {
                            t.paths.clone()
                        } else {
                            own_paths
                        };
                        if legacy_domain && t.host == "{instance_domain}" {
                            paths = paths.iter().map(|p| format!("/connect{p}")).collect();
                        }
                        // A host already required on the same ports gains the paths (the
                        // sign-in page's /login on the instance), not a second requirement.
                        // Indexed, so that a catalog of thousands of hosts stays linear.
                        for (i, d) in out.domains.iter().enumerate().skip(indexed) {
                            seen.entry((d.host.clone(), d.ports.clone())).or_insert(i);
                        }
                        indexed = out.domains.len();
                        let earlier = seen
                            .get(&(pattern.clone(), t.ports.clone()))
                            .map(|&i| &mut out.domains[i]);
                        if let Some(earlier) = earlier {
                            for path in paths {
                                if !earlier.paths.contains(&path) {
                                    earlier.paths.push(path);
                                }
                            }
                            continue;
                        }
                        let id = if pinned.is_some() && !pattern.is_wildcard() {
                            format!("{}/{}/{}", t.id, info.code, pattern)
                        } else if many && *code != info.code {
                            format!("{}/{}/{}", t.id, info.code, code)
                        } else {
                            format!("{}/{}", t.id, info.code)
                        };
                        out.domains.push(DomainRequirement {
                            id,
                            group: t.group,
                            region: info.code.clone(),
                            host: pattern,
                            allowlist: line,
                            probe,
                            ports: t.ports.clone(),
                            paths,
                            websocket: t.websocket,
                            legacy: t.legacy,
                            purpose: t.purpose.clone(),
                            source: t.source.clone(),
                            proof: t.proof(),
                        });
                    }
                }
            }
            for t in self.rules.iter().filter(|t| groups.contains(&t.group)) {
                out.rules.push(RangeRequirement {
                    id: format!("{}/{}", t.id, info.code),
                    group: t.group,
                    region: info.code.clone(),
                    service: t.service.clone(),
                    regions: expand_regions(&t.regions, &info.code),
                    fallback: t.fallback.clone(),
                    ports: t.ports.clone(),
                    direction: if t.inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    purpose: t.purpose.clone(),
                    source: t.source.clone(),
                    proof: Proof {
                        quote: t.quote.clone(),
                        checked: t.checked.clone(),
                        ..Proof::default()
                    },
                });
            }
        }
        if sel.features.contains(&Group::Attachments) && sel.bucket.is_none() {
            out.notes.push("Name the chat attachments bucket with --bucket to narrow *.s3.<region>.amazonaws.com to one host.".to_owned());
        }
        if sel.features.contains(&Group::Gr) {
            out.notes.push(format!(
                "Global Resiliency sign-in and Region-discovery hosts are those of the source Region, {source_region} (where the instance was replicated from); the replica Region needs only its media and API entries."
            ));
            if sel.instance_id.is_none() {
                out.notes.push("Give the instance ID with --instance-id to narrow the Global Resiliency sign-in host.".to_owned());
            }
        }
        if !groups.contains(&Group::Saml) {
            out.notes.push("Agents who do not sign in through SAML use AWS's new sign-in since 2026-10-07: its entries are listed; with SAML, pass --with saml (or put with = [\"saml\"] in the site profile).".to_owned());
        }
        Ok(out)
    }
}

/// `{region}` in a template's Region list replaced by the Region served, duplicates dropped;
/// the Region served alone when the list is empty.
fn expand_regions(regions: &[String], code: &str) -> Vec<String> {
    if regions.is_empty() {
        return vec![code.to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for r in regions {
        let r = r.replace("{region}", code);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Protocol;

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
        let mut hosts: Vec<String> = Vec::new();
        for d in &req.domains {
            let line = d.allowlist.to_string();
            if !hosts.contains(&line) {
                hosts.push(line);
            }
        }
        assert_eq!(
            hosts,
            [
                "acme.my.connect.aws",
                "*.static.connect.aws",
                "*.cloudfront.net",
                "*.apps.signin.aws",
                "*.signin.aws",
                "*.threat-mitigation.aws.amazon.com",
                "*.s3.dualstack.us-east-1.amazonaws.com",
                "*.s3.dualstack.us-west-2.amazonaws.com",
                "*.s3.dualstack.eu-central-1.amazonaws.com",
                "*.telemetry.connect.eu-central-1.amazonaws.com",
                "participant.connect.eu-central-1.amazonaws.com",
                "*.transport.connect.eu-central-1.amazonaws.com",
                "turnnlb-*.elb.eu-central-1.amazonaws.com",
            ]
        );
        // The pinned TURN and CloudFront hosts are what a live check tests.
        let concrete: Vec<&str> = req
            .domains
            .iter()
            .filter_map(|d| d.concrete_host())
            .collect();
        for host in [
            "turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
            "d1n9s7btyr4f0n.cloudfront.net",
            "d3tqoc05lsydd3.cloudfront.net",
            "d1whcm49570jjw.cloudfront.net",
            "us-east-1.oauth.signin.aws",
        ] {
            assert!(concrete.contains(&host), "{host}: {concrete:?}");
        }
        let turn = req
            .domains
            .iter()
            .find(|d| d.id.starts_with("turn/"))
            .unwrap();
        assert_eq!(turn.ports, [PortRange::single(Protocol::Udp, 3478)]);
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
                "cloudfront/eu-central-1",
                "signin-s3/eu-central-1"
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
        assert!(!hosts.contains(&"*.signin.aws".to_owned()));
        assert!(hosts.contains(&"us-east-1.signin.aws.amazon.com".to_owned()));
        assert!(hosts.contains(&"*.my.connect.aws".to_owned()));
        assert!(!req.rules.iter().any(|r| r.service == "S3"));
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
        // Global Resiliency hosts are those of the source Region only.
        let hosts: Vec<String> = req.domains.iter().map(|d| d.host.to_string()).collect();
        assert!(hosts.contains(&"1111-2222.us-east-1.sign-in.connect.aws".to_owned()));
        assert!(
            !hosts.iter().any(
                |h| h.contains("us-west-2.sign-in") || h.contains("us-west-2.region-discovery")
            )
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
        assert!(
            req.domains
                .iter()
                .any(|d| d.host.to_string() == "acme.my.connect.aws")
        );
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
    fn every_entry_of_the_built_in_catalog_cites_a_quote_and_a_date() {
        let catalog = Catalog::embedded();
        let day = |d: &Option<String>| d.as_deref().and_then(parse_day).is_some();
        for e in &catalog.endpoints {
            assert!(e.source.starts_with("https://"), "{}", e.id);
            assert!(
                e.quote.as_deref().is_some_and(|q| !q.is_empty()),
                "{}",
                e.id
            );
            assert!(day(&e.checked), "{}", e.id);
            if e.probe.is_some() && e.host.contains('*') {
                assert!(
                    e.probe_source.is_some() && e.probe_quote.is_some(),
                    "{}",
                    e.id
                );
            }
        }
        for r in &catalog.rules {
            assert!(
                r.quote.as_deref().is_some_and(|q| !q.is_empty()),
                "{}",
                r.id
            );
            assert!(day(&r.checked), "{}", r.id);
        }
        assert_eq!(catalog.checked(), Some("2026-12-04"));
        let at = time::macros::datetime!(2026-12-14 12:00 UTC);
        let p = catalog.provenance(at);
        assert_eq!((p.source.as_str(), p.age_days), ("built-in", Some(10)));
        assert!(
            p.sources
                .iter()
                .any(|s| s.ends_with("new-signin-experience.html"))
        );
        assert!(p.sources.iter().any(|s| s.contains("connect-rtc-js")));
    }

    /// `docs/catalog.md` is generated from the catalog; regenerate it with
    /// `connect-preflight catalog info --endpoints ranges/catalog.toml --format markdown -o docs/catalog.md`.
    #[test]
    fn docs_catalog_md_is_in_step_with_the_catalog() {
        let committed = include_str!("../docs/catalog.md");
        assert!(
            committed == Catalog::embedded().markdown(),
            "docs/catalog.md is stale: run `connect-preflight catalog info --endpoints ranges/catalog.toml --format markdown -o docs/catalog.md`"
        );
    }

    #[test]
    fn a_replacement_catalog_without_the_new_fields_still_reads() {
        // The shape before entries carried quotes and dates: a lab's or an old administrator's.
        let old = "version = 1\n[[region]]\ncode = \"lab-1\"\nname = \"Lab\"\n\n[[endpoint]]\nid = \"x\"\ngroup = \"core\"\nhost = \"x.example\"\nports = [\"tcp/443\"]\npurpose = \"lab\"\nsource = \"lab\"\n";
        let catalog = Catalog::parse(old, Path::new("old.toml")).unwrap();
        assert_eq!(catalog.checked(), None);
        assert_eq!(
            catalog
                .provenance(time::OffsetDateTime::UNIX_EPOCH)
                .age_days,
            None
        );
        let err =
            Catalog::parse(&old.replace("purpose", "purpsoe"), Path::new("old.toml")).unwrap_err();
        assert!(err.to_string().starts_with("old.toml:"), "{err}");
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
