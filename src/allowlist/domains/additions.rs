//! What a domain list is missing, written in its syntax: the line for a requirement, the
//! block to add (squid's own ACLs and `http_access` line, no entry another one covers), and
//! the copy of the file with the block where it belongs.

use super::{DomainList, DomainSyntax};
use crate::catalog::{DomainRequirement, HostPattern};
use crate::net::Protocol;

impl DomainList {
    /// The line that adds a requirement, in this list's syntax.
    pub(crate) fn entry_for(&self, req: &DomainRequirement) -> String {
        let tcp = req.ports.iter().all(|p| p.proto == Protocol::Tcp);
        match (self.syntax, &req.allowlist) {
            (DomainSyntax::Squid, HostPattern::Wildcard(s)) => format!(".{s}"),
            // squid's dstdomain cannot say `TurnNlb-*.elb...`: the concrete host, else the
            // narrowest suffix that holds every name the wildcard stands for.
            (DomainSyntax::Squid, HostPattern::Label { .. }) => match &req.host {
                HostPattern::Exact(h) => h.clone(),
                other => format!(".{}", other.name()),
            },
            (DomainSyntax::Url, host) if tcp => format!("https://{host}/*"),
            (_, host) => host.to_string(),
        }
    }

    /// The lines to append (or insert) to add `entries` (as given by [`Self::entry_for`]).
    pub(crate) fn addition_lines(&self, entries: &[String]) -> Vec<String> {
        if entries.is_empty() {
            return Vec::new();
        }
        match self.syntax {
            DomainSyntax::Squid => squid_allow_block(entries, &self.agents),
            DomainSyntax::Plain | DomainSyntax::Url => entries.to_vec(),
        }
    }

    /// A copy of `original` with the additions placed where the syntax wants them.
    pub(crate) fn with_additions(&self, original: &str, entries: &[String]) -> String {
        let lines = self.addition_lines(entries);
        if lines.is_empty() {
            return original.to_owned();
        }
        let block = format!(
            "# Added by connect-preflight audit: entries Amazon Connect needs\n{}\n",
            lines.join("\n")
        );
        insert_after(original, self.insert_after_line, &block)
    }
}

/// The squid lines that let the agents' `CONNECT` to `domains` on port 443 through: their own
/// ACLs and one `http_access allow` line, so that they work wherever they are put.
pub(crate) fn squid_allow_block(domains: &[String], agents: &[ipnet::IpNet]) -> Vec<String> {
    const ACL: &str = "connect_preflight";
    let domains = squid_minimal(domains);
    let mut lines = vec![
        format!("acl {ACL} dstdomain {}", domains.join(" ")),
        format!("acl {ACL}_port port 443"),
        format!("acl {ACL}_connect method CONNECT"),
    ];
    let mut access = format!("http_access allow {ACL}_connect {ACL}_port {ACL}");
    if !agents.is_empty() {
        let nets: Vec<String> = agents.iter().map(ToString::to_string).collect();
        lines.push(format!("acl {ACL}_agents src {}", nets.join(" ")));
        access.push_str(&format!(" {ACL}_agents"));
    }
    lines.push(access);
    lines
}

/// The entries no other entry of the list already covers, in their order: squid refuses a
/// `dstdomain` ACL that names `.apps.signin.aws` beside `.signin.aws` (`squid -k parse` stops
/// on it), and the narrower entry adds nothing.
fn squid_minimal(domains: &[String]) -> Vec<String> {
    // squid's `.suffix` covers `suffix` and every name below it; a plain name covers itself.
    let covers = |wide: &str, narrow: &str| {
        let narrow = narrow.trim_start_matches('.');
        wide.strip_prefix('.').is_some_and(|suffix| {
            narrow.eq_ignore_ascii_case(suffix)
                || (narrow.len() > suffix.len()
                    && narrow.as_bytes()[narrow.len() - suffix.len() - 1] == b'.'
                    && narrow[narrow.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
        })
    };
    let mut out: Vec<String> = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let covered = domains
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && covers(other, d) && !(covers(d, other) && j > i));
        let repeated = out.iter().any(|o| o.eq_ignore_ascii_case(d));
        if !covered && !repeated {
            out.push(d.clone());
        }
    }
    out
}

/// Inserts `block` after line `after` (1-based; 0 puts it first), or at the end.
pub(crate) fn insert_after(original: &str, after: Option<usize>, block: &str) -> String {
    let mut out = String::with_capacity(original.len() + block.len() + 1);
    if after == Some(0) {
        out.push_str(block);
        out.push_str(original);
        return out;
    }
    match after {
        Some(n) => {
            let mut inserted = false;
            for (i, line) in original.split_inclusive('\n').enumerate() {
                out.push_str(line);
                if i + 1 == n {
                    if !line.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(block);
                    inserted = true;
                }
            }
            if !inserted {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(block);
            }
        }
        None => {
            out.push_str(original);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(block);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_squid_addition_names_no_entry_another_one_covers() {
        let entries: Vec<String> = [
            ".apps.signin.aws",
            ".signin.aws",
            "turnnlb-1.elb.eu-central-1.amazonaws.com",
            ".elb.eu-central-1.amazonaws.com",
            ".SIGNIN.aws",
            ".threat-mitigation.aws.amazon.com",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            squid_minimal(&entries),
            [
                ".signin.aws",
                ".elb.eu-central-1.amazonaws.com",
                ".threat-mitigation.aws.amazon.com"
            ]
        );
        // A name that only ends in the same letters is not below the suffix.
        let apart: Vec<String> = vec![".signin.aws".into(), "xsignin.aws".into()];
        assert_eq!(squid_minimal(&apart), apart);
    }
}
