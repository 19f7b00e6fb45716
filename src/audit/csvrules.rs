//! Firewall exports as CSV with an action column: rows are rules, evaluated first match wins in
//! their order (an order, priority or sequence column, else the file's), with the implicit
//! "deny everything else" a firewall ends with. A CSV without an action column is a list of
//! allowed entries and is read by `allowlist::cidrs` instead.

use std::path::Path;
use std::sync::Arc;

use super::firewall::{Base, Chain, Cond, End, Hook, Rule, Ruleset, TCP, UDP, Verdict, chain_key};
use crate::allowlist::cidrs::{columns_of, csv_ports, parse_space};
use crate::allowlist::{Issue, Issues, Span};
use crate::error::{Error, Location, Result};
use crate::net::Protocol;

const ACTION: &[&str] = &[
    "action",
    "verdict",
    "decision",
    "rule_action",
    "permission",
    "access",
];
const ORDER: &[&str] = &[
    "order",
    "priority",
    "rule_number",
    "rule_no",
    "sequence",
    "seq",
    "position",
    "index",
    "#",
];

fn normal(field: &str) -> String {
    field
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

/// Whether the first data line of `text` is a CSV header with an address and an action column.
pub(crate) fn looks_like(text: &str) -> bool {
    let Some(first) = text
        .trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    else {
        return false;
    };
    let fields: Vec<String> = first.split(',').map(normal).collect();
    first.contains(',')
        && columns_of(&fields).is_some()
        && fields.iter().any(|f| ACTION.contains(&f.as_str()))
}

fn verdict_of(word: &str) -> Option<Verdict> {
    match word.trim().to_ascii_lowercase().as_str() {
        "allow" | "allowed" | "permit" | "permitted" | "accept" | "accepted" | "pass" | "yes" => {
            Some(Verdict::Accept)
        }
        "deny" | "denied" | "drop" | "dropped" | "block" | "blocked" | "reject" | "rejected"
        | "no" => Some(Verdict::Drop),
        _ => None,
    }
}

/// Reads the rows as rules in two chains (outbound, inbound) that end by denying.
pub(crate) fn parse(text: &str, path: &Path, issues: &mut Issues) -> Result<Ruleset> {
    let file: Arc<Path> = Arc::from(path);
    let text = text.trim_start_matches('\u{feff}');
    let blanked = crate::allowlist::cidrs::blank_comment_lines(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(blanked.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::bad_input(Location::file(path), format!("cannot read the CSV: {e}")))?
        .iter()
        .map(normal)
        .collect();
    let header_line = reader.position().line().max(1) as usize;
    let Some(columns) = columns_of(&header) else {
        return Err(Error::bad_input(
            Location::at(path, header_line, Some(1)),
            "expected a column named cidr, address, ip, prefix or destination",
        ));
    };
    let action = header.iter().position(|h| ACTION.contains(&h.as_str()));
    let order = header.iter().position(|h| ORDER.contains(&h.as_str()));
    let mut rows: Vec<(i64, usize, Rule, bool)> = Vec::new();
    for (k, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            Error::bad_input(Location::file(path), format!("cannot read the CSV: {e}"))
        })?;
        let line = record.position().map_or(k + 2, |p| p.line() as usize);
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let span = Span::in_file(&file, line, 1);
        let raw: Vec<&str> = record.iter().collect();
        let raw = raw.join(",");
        if field(columns.kind).eq_ignore_ascii_case("domain") {
            continue;
        }
        let address = field(Some(columns.address));
        let space = if matches!(
            address.to_ascii_lowercase().as_str(),
            "any" | "*" | "all" | "0.0.0.0/0,::/0"
        ) {
            Some(super::firewall::any_v4().union(&super::firewall::any_v6()))
        } else {
            parse_space(address).ok()
        };
        let verdict = verdict_of(field(action));
        let ports = csv_ports(field(columns.proto), field(columns.port));
        let (Some(space), Some(verdict), Some(ports)) = (space, verdict, ports) else {
            let expected = if verdict_of(field(action)).is_none() {
                "an action: allow, permit, accept, or deny, drop, block, reject"
            } else if csv_ports(field(columns.proto), field(columns.port)).is_none() {
                "a protocol (tcp, udp, any) and a port or range"
            } else {
                "an address, a CIDR or a range"
            };
            issues.push(Issue::malformed(span.clone(), &raw, expected))?;
            // With --lenient the row stays, its effect undetermined.
            let why = format!("row {line}, which could not be read ({expected})");
            rows.push((
                i64::MAX,
                k,
                Rule {
                    span,
                    text: raw,
                    conds: vec![Cond::Unknown(why.clone())],
                    verdict: Verdict::Unknown(why),
                },
                false,
            ));
            continue;
        };
        let inbound = matches!(
            field(columns.direction).to_ascii_lowercase().as_str(),
            "inbound" | "in" | "ingress"
        );
        let end = if inbound {
            End::Source
        } else {
            End::Destination
        };
        let alternatives: Vec<Vec<Cond>> = ports
            .iter()
            .map(|p| {
                vec![
                    Cond::Proto {
                        protos: vec![if p.proto == Protocol::Tcp { TCP } else { UDP }],
                        negate: false,
                    },
                    Cond::Port {
                        end,
                        ranges: vec![(p.first, p.last)],
                        negate: false,
                    },
                ]
            })
            .collect();
        let rank = match order {
            Some(i) => match record.get(i).unwrap_or("").trim().parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    issues.push(Issue::malformed(
                        span.clone(),
                        &raw,
                        "a number in the order column",
                    ))?;
                    i64::MAX
                }
            },
            None => 0,
        };
        rows.push((
            rank,
            k,
            Rule {
                span,
                text: raw,
                conds: vec![
                    Cond::Addr {
                        end,
                        set: space,
                        negate: false,
                    },
                    Cond::AnyOf(alternatives),
                ],
                verdict,
            },
            inbound,
        ));
    }
    rows.sort_by_key(|r| (r.0, r.1));
    let last_line = text.lines().count() + 1;
    let table = ("csv".to_owned(), "rules".to_owned());
    let mut chains = Vec::new();
    for (name, hook, inbound) in [
        ("outbound", Hook::Output, false),
        ("inbound", Hook::Input, true),
    ] {
        let rules: Vec<Rule> = rows
            .iter()
            .filter(|r| r.3 == inbound || matches!(r.2.verdict, Verdict::Unknown(_)))
            .map(|r| r.2.clone())
            .collect();
        chains.push(Chain {
            key: chain_key(&table, name),
            name: name.to_owned(),
            table: table.clone(),
            rules,
            base: Some(Base {
                hook,
                priority: 0,
                // What a firewall does with a packet no row allows.
                policy: Verdict::Drop,
                policy_span: Span::in_file(&file, last_line, 1),
                nat: false,
                v4: true,
                v6: true,
            }),
            span: Span::in_file(&file, header_line, 1),
            end_line: last_line,
        });
    }
    Ok(Ruleset {
        chains,
        v4: true,
        v6: true,
        notes: vec![format!(
            "{}: rows are read in {} and first match wins; a packet no row matches is denied, as a firewall's implicit last rule does",
            path.display(),
            if order.is_some() {
                "the order column's order"
            } else {
                "file order"
            }
        )],
        ..Ruleset::default()
    })
}

/// A row accepting `nets` on `port`, in the file's columns.
pub(crate) fn row(
    header: &[String],
    inbound: bool,
    proto: Protocol,
    ports: &str,
    net: &str,
    order: Option<&str>,
) -> String {
    let columns = columns_of(header).unwrap_or_default();
    let mut fields = vec![String::new(); header.len().max(1)];
    let mut set = |i: Option<usize>, v: &str| {
        if let Some(i) = i.filter(|i| *i < fields.len()) {
            fields[i] = v.to_owned();
        }
    };
    set(Some(columns.address), net);
    if columns.port.is_some() {
        set(columns.proto, proto.as_str());
        set(columns.port, ports);
    } else {
        set(columns.proto, &format!("{proto}/{ports}"));
    }
    set(
        columns.direction,
        if inbound { "inbound" } else { "outbound" },
    );
    set(
        header.iter().position(|h| ACTION.contains(&h.as_str())),
        "allow",
    );
    if let Some(o) = order {
        set(header.iter().position(|h| ORDER.contains(&h.as_str())), o);
    }
    for (i, h) in header.iter().enumerate() {
        if fields[i].is_empty()
            && (h.contains("name") || h.contains("comment") || h.contains("description"))
        {
            fields[i] = "Amazon Connect".to_owned();
        }
    }
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(&fields);
    String::from_utf8(w.into_inner().unwrap_or_default())
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// The header, normalised, of a CSV text.
pub(crate) fn header(text: &str) -> Vec<String> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.split(',').map(normal).collect())
        .unwrap_or_default()
}

/// The order value of the row at `line`, if the file has an order column.
pub(crate) fn order_at(text: &str, line: usize) -> Option<String> {
    let h = header(text);
    let i = h.iter().position(|f| ORDER.contains(&f.as_str()))?;
    let row = text.lines().nth(line.checked_sub(1)?)?;
    row.split(',')
        .nth(i)
        .map(|v| v.trim().trim_matches('"').to_owned())
}

/// The highest value of the order column, if the file has one.
pub(crate) fn max_order(text: &str) -> Option<i64> {
    let h = header(text);
    let i = h.iter().position(|f| ORDER.contains(&f.as_str()))?;
    text.lines()
        .skip(1)
        .filter_map(|row| row.split(',').nth(i))
        .filter_map(|v| v.trim().trim_matches('"').parse::<i64>().ok())
        .max()
}
