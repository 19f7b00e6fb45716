//! CSV exports of firewall consoles: a header names the address, protocol and port columns.

use super::*;

/// Which CSV columns hold what.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Columns {
    pub address: usize,
    pub proto: Option<usize>,
    pub port: Option<usize>,
    pub direction: Option<usize>,
    /// `kind`, as in `endpoints --format csv` (rows of kind `domain` are skipped).
    pub kind: Option<usize>,
}

pub(super) fn header_columns(line: &str) -> Option<Columns> {
    let fields: Vec<String> = line
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    columns_of(&fields)
}

pub(crate) fn columns_of(fields: &[String]) -> Option<Columns> {
    let find = |names: &[&str]| {
        fields
            .iter()
            .position(|f| names.contains(&f.replace([' ', '-'], "_").as_str()))
    };
    let address = find(&[
        "cidr",
        "cidrs",
        "entry",
        "address",
        "addresses",
        "ip",
        "ip_prefix",
        "prefix",
        "network",
        "destination",
        "dest",
        "cidr_ip",
        "cidrip",
        "cidr_block",
        "ip_range",
        "remote_ip",
    ])?;
    Some(Columns {
        address,
        proto: find(&["proto", "protocol", "ip_protocol", "ipprotocol"]),
        port: find(&[
            "port",
            "ports",
            "dport",
            "port_range",
            "destination_port",
            "dst_port",
        ]),
        direction: find(&["direction", "dir"]),
        kind: find(&["kind", "type"]),
    })
}

/// A CSV export with its `#` comment lines made blank, so that line numbers stay the file's.
pub(crate) fn blank_comment_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            if l.trim_start().starts_with('#') {
                if l.ends_with('\n') { "\n" } else { "" }
            } else {
                l
            }
        })
        .collect()
}

pub(super) fn parse_csv(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let path = list.path.clone();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let blanked = blank_comment_lines(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(blanked.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return Err(csv_error(&path, &e)),
    };
    let lower: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    let header_line = reader.position().line().max(1) as usize;
    let Some(columns) = columns_of(&lower) else {
        return Err(Error::bad_input(
            Location::at(&path, header_line, Some(1)),
            format!(
                "cannot read the CSV header {:?}: expected a column named cidr, address, ip, prefix or destination (and optionally protocol, port, direction)",
                header.join(",")
            ),
        ));
    };
    list.layout.csv_header = header;
    list.layout.csv_columns = Some(columns.clone());
    let lines: Vec<&str> = text.lines().collect();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(blanked.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Err(csv_error(&path, &e)),
        };
        let number = record.position().map_or(1, |p| {
            let offset = usize::try_from(p.byte()).unwrap_or(0).min(blanked.len());
            // The position can be that of blank lines before the record.
            let rest = blanked.get(offset..).unwrap_or("");
            let offset = offset + rest.len() - rest.trim_start_matches(['\n', '\r']).len();
            line_starts.partition_point(|&start| start <= offset)
        });
        let raw_line = lines.get(number.saturating_sub(1)).copied().unwrap_or("");
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let column_of = |value: &str| {
            raw_line
                .find(value)
                .map_or(1, |b| raw_line[..b].chars().count() + 1)
        };
        if field(columns.kind).eq_ignore_ascii_case("domain") {
            continue;
        }
        let address = field(Some(columns.address));
        let span = Span::new(&path, number, column_of(address));
        if address.is_empty() {
            issues.push(Issue::malformed(span, raw_line, EXPECTED_ADDRESS))?;
            continue;
        }
        let space = match parse_space(address) {
            Ok(s) => s,
            Err(expected) => {
                issues.push(Issue::malformed(span, address, expected))?;
                continue;
            }
        };
        let proto_text = field(columns.proto);
        let port_text = field(columns.port);
        let ports = match csv_ports(proto_text, port_text) {
            Some(p) => p,
            None => {
                let bad = if port_text.is_empty() {
                    proto_text
                } else {
                    port_text
                };
                issues.push(Issue::malformed(
                    Span::new(&path, number, column_of(bad)),
                    bad,
                    "a protocol (tcp, udp, any) and a port or range (3478, 49152-65535), or tcp/443",
                ))?;
                continue;
            }
        };
        let direction = match field(columns.direction).to_ascii_lowercase().as_str() {
            "inbound" | "in" | "ingress" => Direction::Inbound,
            _ => Direction::Outbound,
        };
        list.entries.push(CidrEntry {
            span,
            text: address.to_owned(),
            space,
            ports,
            direction,
        });
    }
    Ok(())
}

pub(crate) fn csv_ports(proto: &str, port: &str) -> Option<Vec<PortRange>> {
    let proto = proto.trim();
    let port = port.trim();
    // `tcp/443` in one column.
    if let Some((p, range)) = proto.split_once('/') {
        let (f, l) = port_range(range)?;
        return Some(specs(&proto_word(p)?, f, l));
    }
    let protos = if proto.is_empty() {
        vec![Protocol::Tcp, Protocol::Udp]
    } else {
        proto_word(proto)?
    };
    if port.is_empty() || port == "*" || port.eq_ignore_ascii_case("any") {
        return Some(specs(&protos, 1, 65535));
    }
    let mut out = Vec::new();
    for part in port.split([';', ' ']).filter(|p| !p.is_empty()) {
        let (f, l) = port_range(part)?;
        out.extend(specs(&protos, f, l));
    }
    Some(out)
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    let location = e.position().map_or_else(
        || Location::file(path),
        |p| Location::at(path, p.line() as usize, Some(1)),
    );
    Error::bad_input(location, format!("cannot read the CSV: {e}"))
}

/// The lines that add `additions` to a list of this syntax: CSV rows with the columns of the header the list was read with.
pub(super) fn addition_lines(list: &CidrList, additions: &[Addition]) -> Vec<String> {
    let mut out = Vec::new();
    let columns = list.layout.csv_columns.clone().unwrap_or_default();
    let width = list.layout.csv_header.len().max(1);
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for a in additions {
        for net in &a.nets {
            let mut row = vec![String::new(); width];
            let mut set = |i: Option<usize>, v: String| {
                if let Some(i) = i.filter(|i| *i < width) {
                    row[i] = v;
                }
            };
            set(Some(columns.address), net.to_string());
            if columns.port.is_some() {
                set(columns.proto, a.port.proto.to_string());
                set(columns.port, a.port.ports());
            } else {
                set(columns.proto, a.port.to_string());
            }
            set(
                columns.direction,
                match a.direction {
                    Direction::Outbound => "outbound",
                    Direction::Inbound => "inbound",
                }
                .to_owned(),
            );
            set(columns.kind, "cidr".to_owned());
            let _ = w.write_record(&row);
        }
    }
    let bytes = w.into_inner().unwrap_or_default();
    out.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_owned));
    out
}
