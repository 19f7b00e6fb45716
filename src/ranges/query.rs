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
pub(crate) struct Needed {
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

/// Parses one address token; `None` for blank lines and comments. Returns the trimmed token too,
/// so output can echo the user's spelling without formatting the address again.
fn parse_token(raw: &[u8]) -> std::result::Result<Option<(&str, IpAddr)>, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| "expected an IP address, found bytes that are not UTF-8".to_owned())?;
    let text = text.split('#').next().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<IpAddr>() {
        Ok(addr) => Ok(Some((text, addr))),
        Err(_) => Err(format!("expected an IPv4 or IPv6 address, found {text:?}")),
    }
}

/// Parses addresses given on the command line, naming the one that doesn't parse.
pub(crate) fn parse_arguments(args: &[String]) -> Result<Vec<IpAddr>> {
    args.iter()
        .map(|a| {
            a.trim()
                .parse::<IpAddr>()
                .map_err(|_| Error::usage(format!("expected an IPv4 or IPv6 address, found {a:?}")))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
    /// One line per address: the address, its most specific prefix, that prefix's service and
    /// Region (`-` for each when AWS publishes none), and with a Region, whether Connect uses it.
    Line,
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

/// Writes lookups one address at a time, so a million addresses need no more memory than one.
pub(crate) struct Writer<'a, W: Write> {
    out: W,
    snapshot: &'a Snapshot,
    needed: &'a Needed,
    format: Format,
    count: usize,
    scratch: String,
    /// `--format line`: the ` prefix service region` text of each entry, made the first time the
    /// entry is the answer (a log repeats the same few prefixes).
    line_tails: Vec<Option<Box<[u8]>>>,
    /// `--format line`: for the first (longest) entry containing an address, the entry to print.
    line_best: Vec<u32>,
}

impl<'a, W: Write> Writer<'a, W> {
    pub(crate) fn new(
        out: W,
        snapshot: &'a Snapshot,
        needed: &'a Needed,
        format: Format,
    ) -> std::io::Result<Self> {
        let mut writer = Self {
            out,
            snapshot,
            needed,
            format,
            count: 0,
            scratch: String::with_capacity(64),
            line_tails: Vec::new(),
            line_best: Vec::new(),
        };
        match format {
            Format::Csv => writer
                .out
                .write_all(b"address,prefix,service,region,network_border_group,connect\n")?,
            Format::Json => writer.out.write_all(b"[")?,
            Format::Text | Format::Line => {}
        }
        Ok(writer)
    }

    /// One address; `token` is how the user wrote it.
    pub(crate) fn write(&mut self, token: &str, addr: IpAddr) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let (snapshot, needed) = (self.snapshot, self.needed);
        let out = &mut self.out;
        match self.format {
            Format::Text => {
                out.write_all(token.as_bytes())?;
                out.write_all(b"\n")?;
                let mut any = false;
                for e in snapshot.containing(addr) {
                    any = true;
                    self.scratch.clear();
                    let _ = write!(self.scratch, "{}", e.net);
                    let (region, nbg) = (snapshot.region(e), snapshot.network_border_group(e));
                    write!(
                        out,
                        "  {:<22} {:<24} {region}",
                        self.scratch,
                        snapshot.service(e)
                    )?;
                    if nbg != region {
                        write!(out, " (border group {nbg})")?;
                    }
                    out.write_all(b"\n")?;
                }
                if !any {
                    out.write_all(b"  not in any published AWS range\n")?;
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
            Format::Csv => {
                let connect = needed.names(addr).join("; ");
                let mut any = false;
                for e in snapshot.containing(addr) {
                    any = true;
                    writeln!(
                        out,
                        "{token},{},{},{},{},{connect}",
                        e.net,
                        snapshot.service(e),
                        snapshot.region(e),
                        snapshot.network_border_group(e)
                    )?;
                }
                if !any {
                    out.write_all(token.as_bytes())?;
                    out.write_all(b",,,,,")?;
                    out.write_all(connect.as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
            Format::Line => {
                out.write_all(token.as_bytes())?;
                // Longest prefix first. AWS lists a range under AMAZON, often under EC2 too, and
                // under the service that uses it: of the entries of that prefix, the narrowest.
                let entries = snapshot.entries();
                let rank = |e: &super::Entry| match snapshot.service(e) {
                    "AMAZON" => 2,
                    "EC2" => 1,
                    _ => 0,
                };
                if self.line_tails.is_empty() {
                    self.line_tails = vec![None; entries.len()];
                    self.line_best = vec![u32::MAX; entries.len()];
                }
                let mut positions = snapshot.containing_positions(addr);
                let best = positions.next().map(|first| {
                    // The answer depends only on the first entry: worked out once per entry.
                    if let Some(&known) = self.line_best.get(first).filter(|b| **b != u32::MAX) {
                        return known as usize;
                    }
                    let mut best = first;
                    for i in positions {
                        if entries[i].net != entries[first].net {
                            break;
                        }
                        if rank(&entries[i]) < rank(&entries[best]) {
                            best = i;
                        }
                    }
                    self.line_best[first] = u32::try_from(best).unwrap_or(u32::MAX);
                    best
                });
                match best {
                    Some(i) => {
                        let tail = self.line_tails[i].get_or_insert_with(|| {
                            let e = &entries[i];
                            format!(" {} {} {}", e.net, snapshot.service(e), snapshot.region(e))
                                .into_bytes()
                                .into_boxed_slice()
                        });
                        out.write_all(tail)?;
                    }
                    None => out.write_all(b" - - -")?,
                }
                if needed.region.is_some() {
                    let names = needed.names(addr);
                    out.write_all(if names.is_empty() { b" -" } else { b" connect" })?;
                }
                out.write_all(b"\n")?;
            }
            Format::Json => {
                let item = JsonAddress {
                    address: addr,
                    matches: snapshot
                        .containing(addr)
                        .map(|e| JsonMatch {
                            prefix: e.net.to_string(),
                            service: snapshot.service(e),
                            region: snapshot.region(e),
                            network_border_group: snapshot.network_border_group(e),
                        })
                        .collect(),
                    connect: needed.region.as_ref().map(|_| needed.names(addr)),
                };
                out.write_all(if self.count == 0 { b"\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut *out, &item)?;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Streams the addresses of `reader`, one a line, naming `origin:line` for a token that does
    /// not parse. Blank lines and `#` comments are skipped.
    pub(crate) fn write_lines(
        &mut self,
        mut reader: impl BufRead,
        origin: &Path,
    ) -> Result<(), LookupError> {
        let mut line = Vec::with_capacity(64);
        let mut number = 0;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|source| {
                LookupError::Input(Error::Read {
                    path: origin.to_owned(),
                    source,
                })
            })?;
            if n == 0 {
                return Ok(());
            }
            number += 1;
            match parse_token(&line) {
                Ok(Some((token, addr))) => self.write(token, addr).map_err(LookupError::Output)?,
                Ok(None) => {}
                Err(message) => {
                    return Err(LookupError::Input(Error::bad_input(
                        Location::at(origin, number, Some(1)),
                        message,
                    )));
                }
            }
        }
    }

    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        if self.format == Format::Json {
            self.out
                .write_all(if self.count == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Why a streamed lookup stopped: bad input, or an output that can't be written.
#[derive(Debug)]
pub(crate) enum LookupError {
    Input(Error),
    Output(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], format: Format) -> (String, Result<(), LookupError>) {
        let snapshot = Snapshot::embedded();
        let needed = Needed::default();
        let mut w = Writer::new(Vec::new(), &snapshot, &needed, format).unwrap();
        let result = w.write_lines(input, Path::new("list.txt"));
        let out = w.finish().unwrap();
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn address_files_skip_comments_and_name_bad_lines() {
        let (out, result) = run(
            b"# header\n15.193.4.10\n\n  2600:f0f2:7103::1  # TURN\r\nnot-an-ip\n",
            Format::Csv,
        );
        match result {
            Err(LookupError::Input(e)) => assert_eq!(
                e.to_string(),
                "list.txt:5:1: expected an IPv4 or IPv6 address, found \"not-an-ip\""
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            out.contains("15.193.4.10,15.193.4.0/24,AMAZON_CONNECT,eu-central-1,eu-central-1,\n"),
            "{out}"
        );
        assert!(
            out.contains("2600:f0f2:7103::1,2600:f0f2:7100::/40,AMAZON_CONNECT,GLOBAL,GLOBAL,\n"),
            "{out}"
        );
    }

    #[test]
    fn the_line_form_gives_each_address_its_most_specific_prefix_once() {
        let (out, result) = run(b"15.193.4.10\n192.0.2.1\n2600:f0f2:7103::1\n", Format::Line);
        assert!(result.is_ok());
        assert_eq!(
            out,
            "15.193.4.10 15.193.4.0/24 AMAZON_CONNECT eu-central-1\n\
             192.0.2.1 - - -\n\
             2600:f0f2:7103::1 2600:f0f2:7103::/48 AMAZON_CONNECT eu-central-1\n"
        );
    }

    #[test]
    fn json_stream_is_one_valid_array() {
        for input in [&b""[..], b"192.0.2.1\n", b"192.0.2.1\n15.193.4.10\n"] {
            let (out, result) = run(input, Format::Json);
            assert!(result.is_ok());
            let value: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                value.as_array().unwrap().len(),
                input.iter().filter(|&&b| b == b'\n').count()
            );
        }
    }
}
