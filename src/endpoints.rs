//! `endpoints`: the requirements of a Region and instance, rendered for the network team.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::IpNet;
use serde::Serialize;

use crate::catalog::{
    CatalogProvenance, Direction, DomainRequirement, HostPattern, PortSpec, RangeRequirement,
    Requirements,
};
use crate::ranges::{IpSet, Snapshot};
use crate::report::RangesProvenance;

pub(crate) const SCHEMA: &str = "connect-preflight/endpoints/v1";

/// The forms `endpoints` prints (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointsFormat {
    Text,
    Json,
    Csv,
    Domains,
    Cidrs,
}

/// One IP rule with the address space it selects from the snapshot in use.
#[derive(Debug, Serialize)]
pub(crate) struct ResolvedRule<'a> {
    #[serde(flatten)]
    pub rule: &'a RangeRequirement,
    /// The Regions actually used after AWS's GLOBAL fallback.
    pub effective_regions: Vec<String>,
    /// The minimal CIDR list of the rule's address space.
    pub cidrs: Vec<IpNet>,
}

/// Address space grouped by direction and port: what a firewall rule per port must allow.
#[derive(Debug, Serialize)]
pub(crate) struct PortGroup {
    pub direction: Direction,
    pub port: PortSpec,
    /// `AMAZON_CONNECT GLOBAL + eu-central-1; ...`
    pub from: Vec<String>,
    pub cidrs: Vec<IpNet>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Listing<'a> {
    pub schema: &'static str,
    pub region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<&'a str>,
    pub ranges: RangesProvenance,
    /// Which catalog the entries come from and how old it is.
    pub catalog: CatalogProvenance,
    pub domains: &'a [DomainRequirement],
    pub rules: Vec<ResolvedRule<'a>>,
    pub by_port: Vec<PortGroup>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
}

impl<'a> Listing<'a> {
    pub(crate) fn new(
        req: &'a Requirements,
        region_name: Option<&'a str>,
        snapshot: &Snapshot,
        provenance: RangesProvenance,
        catalog: CatalogProvenance,
    ) -> Self {
        let rules: Vec<ResolvedRule<'a>> = req
            .rules
            .iter()
            .map(|rule| ResolvedRule {
                rule,
                effective_regions: rule.effective_regions(snapshot),
                cidrs: rule.space(snapshot).to_cidrs(),
            })
            .collect();
        Self {
            schema: SCHEMA,
            region: &req.region,
            region_name,
            partner_region: req.partner_region.as_deref(),
            instance: req.instance.as_deref(),
            ranges: provenance,
            catalog,
            domains: &req.domains,
            by_port: by_port(&req.rules, snapshot),
            rules,
            notes: &req.notes,
        }
    }
}

/// The union of every rule's space per (direction, port), aggregated to the fewest CIDRs.
pub(crate) fn by_port(rules: &[RangeRequirement], snapshot: &Snapshot) -> Vec<PortGroup> {
    let mut groups: BTreeMap<(u8, PortSpec), (Vec<String>, IpSet)> = BTreeMap::new();
    for rule in rules {
        let space = rule.space(snapshot);
        let describe = rule.describe(snapshot);
        for port in &rule.ports {
            let key = (u8::from(rule.direction == Direction::Inbound), *port);
            let entry = groups.entry(key).or_default();
            if !entry.0.contains(&describe) {
                entry.0.push(describe.clone());
            }
            entry.1 = entry.1.union(&space);
        }
    }
    groups
        .into_iter()
        .map(|((inbound, port), (from, space))| PortGroup {
            direction: if inbound == 1 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            port,
            from,
            cidrs: space.to_cidrs(),
        })
        .collect()
}

pub(crate) fn json(listing: &Listing<'_>) -> String {
    let mut out = serde_json::to_string_pretty(listing).expect("a listing always serialises");
    out.push('\n');
    out
}

/// One allow-list entry a line, ready to paste.
pub(crate) fn domains(listing: &Listing<'_>) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = String::new();
    for d in listing.domains {
        let entry = d.allowlist.to_string();
        if seen.insert(entry.clone()) {
            out.push_str(&entry);
            out.push('\n');
        }
    }
    out
}

/// One allow-list line of the text listing: the entry AWS writes, and the pinned hosts it stands
/// for (the live check's targets, and the narrower alternative AWS offers).
struct AllowlistLine {
    entry: String,
    ports: Vec<String>,
    purpose: String,
    pinned: Vec<String>,
    wildcard: bool,
    probe: Option<String>,
}

fn allowlist_lines(domains: &[DomainRequirement]) -> Vec<AllowlistLine> {
    let mut lines: Vec<AllowlistLine> = Vec::new();
    for d in domains {
        let entry = d.allowlist.to_string();
        let ports: Vec<String> = d.ports.iter().map(ToString::to_string).collect();
        let at = match lines.iter().position(|l| l.entry == entry) {
            Some(at) => at,
            None => {
                lines.push(AllowlistLine {
                    entry: entry.clone(),
                    ports: Vec::new(),
                    purpose: d.purpose.clone(),
                    pinned: Vec::new(),
                    wildcard: d.allowlist.is_wildcard(),
                    probe: None,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[at];
        for p in ports {
            if !line.ports.contains(&p) {
                line.ports.push(p);
            }
        }
        match &d.host {
            HostPattern::Exact(h) if d.host != d.allowlist => {
                if !line.pinned.contains(h) {
                    line.pinned.push(h.clone());
                }
            }
            _ => {
                if line.probe.is_none() {
                    line.probe.clone_from(&d.probe);
                }
            }
        }
    }
    lines
}

/// `CIDR proto/port` lines, grouped per port under a comment naming the rules.
pub(crate) fn cidrs(listing: &Listing<'_>) -> String {
    let mut out = String::new();
    for group in &listing.by_port {
        let direction = match group.direction {
            Direction::Outbound => "outbound to",
            Direction::Inbound => "inbound (stateless firewalls only) from",
        };
        let _ = writeln!(
            out,
            "# {direction} {} on {}",
            group.from.join("; "),
            group.port
        );
        for cidr in &group.cidrs {
            if group.direction == Direction::Inbound {
                let _ = writeln!(out, "{cidr} {} inbound", group.port);
            } else {
                let _ = writeln!(out, "{cidr} {}", group.port);
            }
        }
    }
    out
}

pub(crate) fn csv(listing: &Listing<'_>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |fields: [&str; 9]| w.write_record(fields).expect("writing to memory");
    row([
        "kind",
        "entry",
        "proto",
        "ports",
        "direction",
        "region",
        "group",
        "purpose",
        "source",
    ]);
    let mut written = std::collections::BTreeSet::new();
    for d in listing.domains {
        for port in &d.ports {
            // Pinned hosts share their wildcard's line: one row for it.
            if !written.insert((d.allowlist.to_string(), *port)) {
                continue;
            }
            row([
                "domain",
                &d.allowlist.to_string(),
                port.proto.as_str(),
                &port.ports(),
                "outbound",
                &d.region,
                d.group.name(),
                &d.purpose,
                &d.source,
            ]);
        }
    }
    for r in &listing.rules {
        let direction = match r.rule.direction {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        };
        for port in &r.rule.ports {
            for cidr in &r.cidrs {
                row([
                    "cidr",
                    &cidr.to_string(),
                    port.proto.as_str(),
                    &port.ports(),
                    direction,
                    &r.rule.region,
                    r.rule.group.name(),
                    &r.rule.purpose,
                    &r.rule.source,
                ]);
            }
        }
    }
    String::from_utf8(w.into_inner().expect("flushing to memory"))
        .expect("csv of UTF-8 fields is UTF-8")
}

pub(crate) fn text(listing: &Listing<'_>) -> String {
    let mut out = String::new();
    let name = listing
        .region_name
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "Amazon Connect network requirements for {}{name}",
        listing.region
    );
    if let Some(partner) = listing.partner_region {
        let _ = write!(out, " and its Global Resiliency partner {partner}");
    }
    out.push('\n');
    if let Some(instance) = listing.instance {
        let _ = writeln!(out, "Instance: {instance}");
    }
    let _ = writeln!(
        out,
        "IP ranges: published {} ({}, {} days old)",
        listing.ranges.create_date, listing.ranges.source, listing.ranges.age_days
    );
    let _ = writeln!(
        out,
        "Catalog: {}, {} (`catalog info` lists its sources)",
        crate::catalog_info::describe(&listing.catalog),
        crate::catalog_info::age(&listing.catalog)
    );

    let _ = writeln!(
        out,
        "\nDomain allow-list (AWS's recommended option; `--format domains` prints just the entries):"
    );
    let lines = allowlist_lines(listing.domains);
    let width = lines.iter().map(|l| l.entry.len()).max().unwrap_or(0);
    for line in &lines {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<16} {}",
            line.entry,
            line.ports.join(","),
            line.purpose
        );
        if !line.pinned.is_empty() {
            let _ = writeln!(
                out,
                "  {:<width$}  {:<16} tested live; the narrower option is these hosts: {}",
                "",
                "",
                line.pinned.join(", ")
            );
        } else if line.wildcard {
            let tested = match &line.probe {
                Some(probe) => format!("tested live as {probe}"),
                None => "not tested: AWS names no concrete host under it".to_owned(),
            };
            let _ = writeln!(out, "  {:<width$}  {:<16} {tested}", "", "");
        }
    }

    let _ = writeln!(
        out,
        "\nIP rules, if the firewall allows by address (`--format cidrs` prints every CIDR):"
    );
    for group in &listing.by_port {
        let direction = match group.direction {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound ",
        };
        let shown: Vec<String> = group
            .cidrs
            .iter()
            .take(4)
            .map(ToString::to_string)
            .collect();
        let more = group.cidrs.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {direction} {:<16} {} CIDRs from {}: {}{more}",
            group.port.to_string(),
            group.cidrs.len(),
            group.from.join("; "),
            shown.join(", ")
        );
    }
    if !listing.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in listing.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}
