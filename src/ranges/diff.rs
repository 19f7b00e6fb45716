//! What changed between two copies of `ip-ranges.json`, and what that means for a firewall.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ipnet::IpNet;
use serde::Serialize;

use super::{IpSet, Snapshot};
use crate::net::{Direction, PortRange};

/// What [`diff`] needs of a firewall rule: the published entries it selects and how to name it.
/// The catalog's range requirements implement it, so that the ranges do not depend on the
/// catalog that is built on them.
pub(crate) trait Rule {
    fn id(&self) -> &str;
    fn service(&self) -> &str;
    fn direction(&self) -> Direction;
    fn ports(&self) -> &[PortRange];
    /// The Regions of `ip-ranges.json` the rule selects from `snapshot`.
    fn effective_regions(&self, snapshot: &Snapshot) -> Vec<String>;
    /// The address space the rule selects from `snapshot`.
    fn space(&self, snapshot: &Snapshot) -> IpSet;
    /// The rule's selection, for people.
    fn describe(&self, snapshot: &Snapshot) -> String;
}

/// One published entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Entry {
    pub prefix: IpNet,
    pub service: String,
    pub region: String,
    pub network_border_group: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Copy {
    pub create_date: String,
    pub sync_token: String,
}

/// What the firewall must change for one rule.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RuleChange {
    pub rule: String,
    pub from: String,
    pub direction: Direction,
    pub ports: Vec<PortRange>,
    /// Address space the rule selects now but did not before: the firewall must add it.
    pub add: Vec<IpNet>,
    /// Address space the rule no longer selects.
    pub remove: Vec<IpNet>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Diff {
    pub schema: &'static str,
    pub old: Copy,
    pub new: Copy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Per rule, when a Region was given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleChange>,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
}

fn entries(s: &Snapshot) -> BTreeSet<Entry> {
    s.entries()
        .iter()
        .map(|e| Entry {
            prefix: e.net,
            service: s.service(e).to_owned(),
            region: s.region(e).to_owned(),
            network_border_group: s.network_border_group(e).to_owned(),
        })
        .collect()
}

/// The diff of two snapshots; with `rules`, limited to the entries those rules select.
pub(crate) fn diff<R: Rule>(
    old: &Snapshot,
    new: &Snapshot,
    region: Option<&str>,
    rules: &[R],
) -> Diff {
    let (old_entries, new_entries) = (entries(old), entries(new));
    let mut added: Vec<Entry> = new_entries.difference(&old_entries).cloned().collect();
    let mut removed: Vec<Entry> = old_entries.difference(&new_entries).cloned().collect();
    let mut changes = Vec::new();
    if region.is_some() {
        let selects = |e: &Entry, s: &Snapshot| {
            rules.iter().any(|r| {
                let regions = r.effective_regions(s);
                e.service == r.service() && (regions.iter().any(|x| x == "*" || *x == e.region))
            })
        };
        added.retain(|e| selects(e, new));
        removed.retain(|e| selects(e, old));
        for rule in rules {
            let (before, after): (IpSet, IpSet) = (rule.space(old), rule.space(new));
            changes.push(RuleChange {
                rule: rule.id().to_owned(),
                from: rule.describe(new),
                direction: rule.direction(),
                ports: rule.ports().to_vec(),
                add: after.difference(&before).to_cidrs(),
                remove: before.difference(&after).to_cidrs(),
            });
        }
    }
    Diff {
        schema: "connect-preflight/ranges-diff/v1",
        old: Copy {
            create_date: old.create_date.clone(),
            sync_token: old.sync_token.clone(),
        },
        new: Copy {
            create_date: new.create_date.clone(),
            sync_token: new.sync_token.clone(),
        },
        region: region.map(str::to_owned),
        rules: changes,
        added,
        removed,
    }
}

pub(crate) fn text(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ip-ranges.json {} (syncToken {}) -> {} (syncToken {})",
        d.old.create_date, d.old.sync_token, d.new.create_date, d.new.sync_token
    );
    if let Some(region) = &d.region {
        let _ = writeln!(out, "\nFor Amazon Connect in {region}:");
        let mut any_add = false;
        for change in &d.rules {
            let ports: Vec<String> = change.ports.iter().map(ToString::to_string).collect();
            let direction = match change.direction {
                Direction::Outbound => "outbound",
                Direction::Inbound => "inbound",
            };
            let _ = writeln!(
                out,
                "  {} ({direction} {}, {}):",
                change.rule,
                ports.join(","),
                change.from
            );
            if change.add.is_empty() && change.remove.is_empty() {
                let _ = writeln!(out, "    no change");
            }
            for net in &change.add {
                any_add = true;
                let _ = writeln!(out, "    add    {net}");
            }
            for net in &change.remove {
                let _ = writeln!(out, "    remove {net}");
            }
        }
        if any_add {
            let _ = writeln!(
                out,
                "\nAdd these to the firewall within 30 days of {}: AWS starts using new ranges 30 days after publishing them.",
                d.new.create_date
            );
        } else {
            let _ = writeln!(
                out,
                "\nNothing to add: the firewall rules of {region} need no new ranges."
            );
        }
    }
    let scope = if d.region.is_some() {
        " that these rules use"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\nEntries{scope}: {} added, {} removed",
        d.added.len(),
        d.removed.len()
    );
    for (sign, list) in [("+", &d.added), ("-", &d.removed)] {
        for e in list {
            let _ = writeln!(
                out,
                "  {sign} {:<43} {:<22} {:<16} {}",
                e.prefix.to_string(),
                e.service,
                e.region,
                e.network_border_group
            );
        }
    }
    out
}

pub(crate) fn json(d: &Diff) -> String {
    let mut out = serde_json::to_string_pretty(d).expect("a diff always serialises");
    out.push('\n');
    out
}
