//! `audit`: the requirements of a Region and instance against the customer's allow-lists, fully
//! offline. One check per requirement (passing ones name the covering lines) and one per entry
//! worth a remark (over-broad, stale, duplicate, unreadable), plus the entries to add.

pub(crate) mod cidrs;
pub(crate) mod command;
pub(crate) mod csvrules;
pub(crate) mod domains;
pub(crate) mod firewall;
pub(crate) mod netfilter;
pub(crate) mod nft;
mod pac;
pub(crate) mod ruleset;
pub(crate) mod sg_quota;
pub mod squid;

pub(crate) use cidrs::audit_cidrs;
pub use command::{AuditFormat, DomainsFormat};
pub(crate) use command::{Firewall, Settings};
pub(crate) use domains::audit_domains;
pub(crate) use pac::audit_pac;

use crate::allowlist::cidrs::Addition;
use crate::allowlist::{Issue, IssueKind};
use crate::net::PortRange;
use crate::report::{Check, Kind, Reason, Status};

/// How many covering lines or CIDRs a sentence names before "and N more".
const NAMED: usize = 5;

/// Names that open far more than Connect when allowed with a wildcard.
const BROAD_SUFFIXES: &[(&str, &str)] = &[
    (
        "amazonaws.com",
        "every AWS service endpoint and every S3 bucket in every Region, including content anyone can publish",
    ),
    ("amazon.com", "every Amazon site and service"),
    ("aws", "every name under the .aws top-level domain"),
    ("api.aws", "every dual-stack AWS API endpoint"),
];

/// Names AWS no longer lists for Connect.
const RETIRED_SUFFIXES: &[(&str, &str)] = &[(
    "awsglobalaccelerator.com",
    "AWS removed Global Accelerator from Connect's network requirements (it was listed until 2023)",
)];

/// What the audit found: checks, and what to add to each list.
#[derive(Debug, Default)]
pub struct Findings {
    pub checks: Vec<Check>,
    /// Domain entries to add, in the list's syntax, in requirement order.
    pub domains: Vec<String>,
    /// Address space to add per direction and port.
    pub additions: Vec<Addition>,
}

/// `file:line: text` for each entry, as findings name them.
pub(crate) fn lines_of<'a>(
    spans: impl IntoIterator<Item = (&'a crate::allowlist::Span, &'a str)>,
) -> Vec<String> {
    spans
        .into_iter()
        .map(|(span, text)| format!("{}: {text}", span.at_line()))
        .collect()
}

/// A requirement the snapshot publishes no address for: nothing to allow, so nothing to test.
pub(crate) fn nothing_published(
    id: String,
    what: &str,
    snapshot: &crate::ranges::Snapshot,
) -> Check {
    Check::new(
        id,
        Kind::Allowlist,
        Status::Skip,
        Reason::NotTested,
        format!(
            "{what}: the IP ranges of {} publish no address for it, so there is nothing to allow",
            snapshot.create_date
        ),
    )
}

/// `a, b, c and 4 more`.
pub(crate) fn named(items: &[String]) -> String {
    if items.len() <= NAMED {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..NAMED].join(", "),
        items.len() - NAMED
    )
}

fn ports_label(ports: &[PortRange]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn issue_check(issue: &Issue) -> Check {
    let detail = match issue.kind {
        IssueKind::Malformed => format!(
            "{}: {:?} could not be read (expected {}); it was skipped",
            issue.span, issue.text, issue.expected
        ),
        IssueKind::Unusable => format!(
            "{}: {:?} was not used: {}",
            issue.span, issue.text, issue.expected
        ),
    };
    Check::new(
        format!("allowlist/line/{}", issue.span),
        Kind::Allowlist,
        Status::Warn,
        Reason::SkippedEntry,
        detail,
    )
    .remedy(crate::remedy::unreadable_entry(
        issue.span.line,
        &issue.span.path.display().to_string(),
    ))
    .evidence("line", issue.span.at_line())
    .evidence("text", &issue.text)
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::catalog::{Catalog, Instance, Selection};
    use crate::report::{Check, Reason};

    pub(crate) fn requirements() -> crate::catalog::Requirements {
        Catalog::embedded()
            .requirements(&Selection {
                region: "eu-central-1".into(),
                instance: Some(Instance::parse("acme").unwrap()),
                ..Selection::default()
            })
            .unwrap()
    }

    pub(crate) fn by_reason(checks: &[Check], reason: Reason) -> Vec<&Check> {
        checks.iter().filter(|c| c.reason == reason).collect()
    }
}
