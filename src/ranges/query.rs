//! `ranges lookup`: addresses in, the published prefixes that contain them out, fast enough for a
//! million addresses a run.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use super::{IpSet, Snapshot};
use crate::error::{Error, Location, Result};

/// The Connect rules of a Region, as named address sets, for the "needed by Connect" column.
#[derive(Debug, Default)]
pub struct Needed {
    pub region: Option<String>,
    pub rules: Vec<(String, IpSet)>,
}

impl Needed {
    fn names(&self, addr: IpAddr) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|(_, set)| set.contains(addr))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// Parses one address token; `None` for blank lines and comments.
fn parse_token(raw: &[u8]) -> std::result::Result<Option<IpAddr>, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| "expected an IP address, found bytes that are not UTF-8".to_owned())?;
    let text = text.split('#').next().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<IpAddr>()
        .map(Some)
        .map_err(|_| format!("expected an IPv4 or IPv6 address, found {text:?}"))
}

/// Reads addresses one a line from `reader`, naming `origin:line` for a token that doesn't parse.
pub fn read_addresses(mut reader: impl BufRead, origin: &Path) -> Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    let mut line = Vec::with_capacity(64);
    let mut number = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| Error::Read {
                path: origin.to_owned(),
                source,
            })?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.ends_with(b"\n") {
            line.pop();
        }
        if line.ends_with(b"\r") {
            line.pop();
        }
        match parse_token(&line) {
            Ok(Some(addr)) => out.push(addr),
            Ok(None) => {}
            Err(message) => {
                return Err(Error::bad_input(
                    Location::at(origin, number, Some(1)),
                    message,
                ));
            }
        }
    }
    Ok(out)
}

/// Parses addresses given on the command line, naming the one that doesn't parse.
pub fn parse_arguments(args: &[String]) -> Result<Vec<IpAddr>> {
    args.iter()
        .map(|a| {
            a.trim()
                .parse::<IpAddr>()
                .map_err(|_| Error::usage(format!("expected an IPv4 or IPv6 address, found {a:?}")))
        })
        .collect()
}

#[derive(Serialize)]
struct JsonMatch<'a> {
    prefix: String,
    service: &'a str,
    region: &'a str,
    network_border_group: &'a str,
}

#[derive(Serialize)]
struct JsonAddress<'a> {
    address: IpAddr,
    matches: Vec<JsonMatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connect: Option<Vec<&'a str>>,
}

/// Text: the address on a line of its own, then each containing prefix, longest first, then
/// whether Connect's rules of the Region need it.
pub fn write_text(
    out: &mut impl Write,
    snapshot: &Snapshot,
    needed: &Needed,
    addrs: &[IpAddr],
) -> std::io::Result<()> {
    let mut net_text = String::with_capacity(48);
    for &addr in addrs {
        use std::fmt::Write as _;
        writeln!(out, "{addr}")?;
        let mut any = false;
        for e in snapshot.containing(addr) {
            any = true;
            net_text.clear();
            let _ = write!(net_text, "{}", e.net);
            let nbg = snapshot.network_border_group(e);
            let region = snapshot.region(e);
            if nbg == region {
                writeln!(out, "  {net_text:<22} {:<24} {region}", snapshot.service(e))?;
            } else {
                writeln!(
                    out,
                    "  {net_text:<22} {:<24} {region} (border group {nbg})",
                    snapshot.service(e)
                )?;
            }
        }
        if !any {
            writeln!(out, "  not in any published AWS range")?;
        }
        if let Some(region) = &needed.region {
            let names = needed.names(addr);
            if names.is_empty() {
                writeln!(out, "  not in any range Connect uses in {region}")?;
            } else {
                writeln!(out, "  Connect in {region} uses it: {}", names.join("; "))?;
            }
        }
    }
    Ok(())
}

pub fn write_csv(
    out: &mut impl Write,
    snapshot: &Snapshot,
    needed: &Needed,
    addrs: &[IpAddr],
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let header = [
        "address",
        "prefix",
        "service",
        "region",
        "network_border_group",
        "connect",
    ];
    w.write_record(header)?;
    let mut addr_text = String::new();
    for &addr in addrs {
        addr_text.clear();
        {
            use std::fmt::Write as _;
            let _ = write!(addr_text, "{addr}");
        }
        let connect = needed.names(addr).join(" ");
        let mut any = false;
        for e in snapshot.containing(addr) {
            any = true;
            let net = e.net.to_string();
            w.write_record([
                &addr_text,
                &net,
                snapshot.service(e),
                snapshot.region(e),
                snapshot.network_border_group(e),
                &connect,
            ])?;
        }
        if !any {
            w.write_record([addr_text.as_str(), "", "", "", "", &connect])?;
        }
    }
    w.flush()
}

pub fn write_json(
    out: &mut impl Write,
    snapshot: &Snapshot,
    needed: &Needed,
    addrs: &[IpAddr],
) -> std::io::Result<()> {
    let list: Vec<JsonAddress<'_>> = addrs
        .iter()
        .map(|&address| JsonAddress {
            address,
            matches: snapshot
                .containing(address)
                .map(|e| JsonMatch {
                    prefix: e.net.to_string(),
                    service: snapshot.service(e),
                    region: snapshot.region(e),
                    network_border_group: snapshot.network_border_group(e),
                })
                .collect(),
            connect: needed.region.as_ref().map(|_| needed.names(address)),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &list)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_files_skip_comments_and_name_bad_lines() {
        let input = b"# header\n15.193.4.10\n\n  2600:f0f2:7103::1  # TURN\r\nnot-an-ip\n";
        let err = read_addresses(&input[..], Path::new("list.txt")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "list.txt:5:1: expected an IPv4 or IPv6 address, found \"not-an-ip\""
        );
        let good = read_addresses(&input[..input.len() - 10], Path::new("list.txt")).unwrap();
        assert_eq!(
            good,
            [
                "15.193.4.10".parse::<IpAddr>().unwrap(),
                "2600:f0f2:7103::1".parse().unwrap()
            ]
        );
    }
}
