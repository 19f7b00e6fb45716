//! CIDR whitelists as firewalls export them: plain lists (what `endpoints --format cidrs` prints),
//! CSV, `iptables-save`, `nft list ruleset`, and `aws ec2 describe-security-groups` JSON.
//!
//! Every format becomes the same thing: [`CidrEntry`]s, each an address space allowed on some
//! protocols and ports in one direction, with the place it was written.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::{Issue, Issues, Span, Strictness, numbered_lines, strip_comment, tokens};

use crate::error::{Error, Location, Result};
use crate::input::{MAX_LIST_BYTES as MAX_INPUT_BYTES, read_list as read_text};
use crate::net::Protocol;
use crate::net::{Direction, PortRange};
use crate::ranges::IpSet;

mod aws_sg;
mod csv_table;
mod iptables;
mod nft;
mod plain;
#[cfg(test)]
mod tests;

use aws_sg::{parse_aws_sg, sg_with_additions};
pub(crate) use csv_table::{Columns, blank_comment_lines, columns_of, csv_ports};
use csv_table::{header_columns, parse_csv};
use iptables::parse_iptables;
use nft::parse_nft;
use plain::{parse_plain, stream_plain};

/// The syntaxes the audit reads (`--cidrs-format`; the variants' comments are its help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CidrFormat {
    /// One CIDR, address or range a line, optionally with `udp/3478` or `tcp 443`
    Plain,
    /// CSV with a header naming the address, protocol and port columns
    Csv,
    /// `iptables-save` or `ip6tables-save` output, evaluated as the kernel walks it
    Iptables,
    /// An nft ruleset (`/etc/nftables.conf` or `nft list ruleset` output), evaluated as the
    /// kernel walks it
    Nft,
    /// `aws ec2 describe-security-groups` JSON
    AwsSg,
}

impl CidrFormat {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Csv => "csv",
            Self::Iptables => "iptables",
            Self::Nft => "nft",
            Self::AwsSg => "aws-sg",
        }
    }

    /// Guesses the format from the text.
    pub(crate) fn detect(text: &str) -> Self {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return Self::AwsSg;
        }
        let mut first_data: Option<&str> = None;
        for (_, line) in numbered_lines(text) {
            if let Some(format) = Self::marked_by(line) {
                return format;
            }
            let t = line.trim_start();
            if first_data.is_none() && !t.is_empty() && !t.starts_with('#') {
                first_data = Some(t);
            }
        }
        match first_data {
            Some(line) if Self::is_csv_header(line) => Self::Csv,
            _ => Self::Plain,
        }
    }

    /// The format a line alone gives away: `*filter`, `-A …` and `:OUTPUT …` are iptables-save,
    /// `table … {` is nft.
    fn marked_by(line: &str) -> Option<Self> {
        let t = line.trim_start();
        if t.starts_with("*filter") || t.starts_with("-A ") || t.starts_with(":OUTPUT ") {
            return Some(Self::Iptables);
        }
        if t.starts_with("table ") && t.trim_end().ends_with('{') {
            return Some(Self::Nft);
        }
        None
    }

    /// Whether the first line with data (trimmed) is a CSV header.
    fn is_csv_header(line: &str) -> bool {
        line.contains(',') && header_columns(line).is_some()
    }
}

/// Every port of both protocols: what a rule without a port allows.
pub(crate) fn all_ports() -> Vec<PortRange> {
    vec![
        PortRange {
            proto: Protocol::Tcp,
            first: 1,
            last: 65535,
        },
        PortRange {
            proto: Protocol::Udp,
            first: 1,
            last: 65535,
        },
    ]
}

/// One allowed address space.
#[derive(Clone, Debug)]
pub struct CidrEntry {
    pub span: Span,
    /// The address part as written (`15.193.0.0/19`, `10.0.0.1-10.0.0.9`).
    pub text: String,
    pub space: IpSet,
    pub ports: Vec<PortRange>,
    pub direction: Direction,
}

impl CidrEntry {
    pub(crate) fn allows(&self, port: &PortRange) -> bool {
        self.ports.iter().any(|p| p.contains(port))
    }

    pub(crate) fn any_port(&self) -> bool {
        all_ports().iter().all(|p| self.allows(p))
    }

    /// `udp/3478`, `tcp/443,udp/3478` or `any port`.
    pub(crate) fn ports_label(&self) -> String {
        if self.any_port() {
            return "any port".to_owned();
        }
        let ports: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
        ports.join(",")
    }
}

// ---------------------------------------------------------------------------------------------
// Compact storage

/// Where an entry's space is kept: the two high bits of `Slot::space` name the table, the rest
/// is the index in it.
const KIND_V4: u32 = 0;
const KIND_V6: u32 = 1;
const KIND_SET: u32 = 2;
const KIND_SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << KIND_SHIFT) - 1;
/// The high bit of `Slot::ports`: the entry is for inbound traffic.
const INBOUND: u32 = 1 << 31;
/// The text of an entry is how its network prints (`15.193.0.0/19`)…
const TEXT_NET: u32 = u32::MAX;
/// …or how its one address prints (`10.0.0.1`); any other value indexes `Entries::text_spans`.
const TEXT_ADDR: u32 = u32::MAX - 1;

/// One entry in 20 bytes; its space, ports and text live in shared tables.
#[derive(Clone, Copy, Debug)]
struct Slot {
    line: u32,
    column: u32,
    text: u32,
    space: u32,
    ports: u32,
}

/// The space of one entry, borrowed from its list: almost always one span of one family.
#[derive(Clone, Copy, Debug)]
pub enum SpaceRef<'a> {
    V4(&'a (u32, u32)),
    V6(&'a (u128, u128)),
    Set(&'a IpSet),
}

impl<'a> SpaceRef<'a> {
    #[inline]
    pub(crate) fn v4(self) -> &'a [(u32, u32)] {
        match self {
            Self::V4(span) => std::slice::from_ref(span),
            Self::V6(_) => &[],
            Self::Set(set) => set.v4.spans(),
        }
    }

    #[inline]
    pub(crate) fn v6(self) -> &'a [(u128, u128)] {
        match self {
            Self::V4(_) => &[],
            Self::V6(span) => std::slice::from_ref(span),
            Self::Set(set) => set.v6.spans(),
        }
    }

    /// Whether `addr` is in this space, without building a set.
    pub(crate) fn contains(self, addr: IpAddr) -> bool {
        fn within<T: Ord + Copy>(spans: &[(T, T)], x: T) -> bool {
            let i = spans.partition_point(|&(lo, _)| lo <= x);
            i > 0 && spans[i - 1].1 >= x
        }
        match addr {
            IpAddr::V4(a) => within(self.v4(), u32::from(a)),
            IpAddr::V6(a) => within(self.v6(), u128::from(a)),
        }
    }

    pub(crate) fn to_set(self) -> IpSet {
        match self {
            Self::Set(set) => set.clone(),
            _ => IpSet {
                v4: crate::ranges::set::Intervals::from_spans(self.v4().iter().copied()),
                v6: crate::ranges::set::Intervals::from_spans(self.v6().iter().copied()),
            },
        }
    }

    /// Whether every address of `other` is in this space (both as sorted, disjoint spans).
    pub(crate) fn is_superset(self, other: Self) -> bool {
        fn covers<T: Ord + Copy>(outer: &[(T, T)], inner: &[(T, T)]) -> bool {
            inner.iter().all(|&(lo, hi)| {
                let i = outer.partition_point(|&(s, _)| s <= lo);
                i > 0 && outer[i - 1].1 >= hi
            })
        }
        covers(self.v4(), other.v4()) && covers(self.v6(), other.v6())
    }
}

/// The entries of a list. A firewall export can hold hundreds of thousands of lines, and a
/// [`CidrEntry`] with its own path, text and vectors costs ten times its line, so entries are
/// kept as fixed-size slots: the text only when it is not how the address prints, each distinct
/// port list once. [`Entries::get`] and iteration give whole entries back; the audit's loops
/// use the accessors.
#[derive(Clone, Debug, Default)]
pub struct Entries {
    path: PathBuf,
    slots: Vec<Slot>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    sets: Vec<IpSet>,
    texts: String,
    text_spans: Vec<(u32, u32)>,
    port_sets: Vec<Vec<PortRange>>,
    port_ids: HashMap<Vec<PortRange>, u32>,
    last_ports: Option<u32>,
}

/// A space as the plain reader finds it, with how its text prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parsed {
    V4(u32, u32),
    V6(u128, u128),
}

fn index_u32(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^30 entries")
}

impl Entries {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            ..Self::default()
        }
    }

    /// Room for the entries of `bytes` of text, reserved up front so the tables never move while
    /// they grow (untouched capacity costs no memory).
    fn reserve_for(&mut self, bytes: u64) {
        let lines = usize::try_from(bytes / 12).unwrap_or(0);
        self.slots.reserve(lines);
        self.v4.reserve(lines);
        self.v6.reserve(lines / 2);
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds an entry as the readers build it.
    pub(crate) fn push(&mut self, entry: CidrEntry) {
        let text = self.keep_text(&entry.text);
        let space = match (entry.space.v4.spans(), entry.space.v6.spans()) {
            ([span], []) => self.push_v4(*span),
            ([], [span]) => self.push_v6(*span),
            _ => {
                self.sets.push(entry.space);
                (KIND_SET << KIND_SHIFT) | index_u32(self.sets.len() - 1)
            }
        };
        let ports = self.intern_ports(&entry.ports);
        self.push_slot(&entry.span, text, space, ports, entry.direction);
    }

    fn push_slot(&mut self, span: &Span, text: u32, space: u32, ports: u32, direction: Direction) {
        self.push_raw(span.line, span.column, text, space, ports, direction);
    }

    fn push_raw(
        &mut self,
        line: usize,
        column: usize,
        text: u32,
        space: u32,
        ports: u32,
        direction: Direction,
    ) {
        let inbound = if direction == Direction::Inbound {
            INBOUND
        } else {
            0
        };
        self.slots.push(Slot {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            text,
            space,
            ports: ports | inbound,
        });
    }

    fn push_v4(&mut self, span: (u32, u32)) -> u32 {
        self.v4.push(span);
        (KIND_V4 << KIND_SHIFT) | index_u32(self.v4.len() - 1)
    }

    fn push_v6(&mut self, span: (u128, u128)) -> u32 {
        self.v6.push(span);
        (KIND_V6 << KIND_SHIFT) | index_u32(self.v6.len() - 1)
    }

    fn keep_text(&mut self, text: &str) -> u32 {
        let start = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
        self.texts.push_str(text);
        self.text_spans
            .push((start, u32::try_from(text.len()).unwrap_or(u32::MAX)));
        index_u32(self.text_spans.len() - 1)
    }

    /// The id of a port list, each distinct list stored once.
    fn intern_ports(&mut self, ports: &[PortRange]) -> u32 {
        if let Some(id) = self.last_ports {
            if self.port_sets[id as usize] == ports {
                return id;
            }
        }
        let id = match self.port_ids.get(ports) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.port_sets.len())
                    .ok()
                    .filter(|id| id & INBOUND == 0)
                    .expect("fewer than 2^31 port lists");
                self.port_sets.push(ports.to_vec());
                self.port_ids.insert(ports.to_vec(), id);
                id
            }
        };
        self.last_ports = Some(id);
        id
    }

    /// Adds what the plain reader parsed; `written` is the address as written, kept only when
    /// it is not how the address prints.
    fn push_parsed(
        &mut self,
        (line, column): (usize, usize),
        parsed: Parsed,
        printable: Option<u32>,
        written: &str,
        ports: u32,
        direction: Direction,
    ) {
        let text = match printable {
            Some(kind) => kind,
            None => self.keep_text(written),
        };
        let space = match parsed {
            Parsed::V4(lo, hi) => self.push_v4((lo, hi)),
            Parsed::V6(lo, hi) => self.push_v6((lo, hi)),
        };
        self.push_raw(line, column, text, space, ports, direction);
    }

    #[inline]
    pub fn line(&self, i: usize) -> usize {
        self.slots[i].line as usize
    }

    pub(crate) fn span(&self, i: usize) -> Span {
        let slot = self.slots[i];
        Span::new(&self.path, slot.line as usize, slot.column as usize)
    }

    /// `file:line`, as [`Span::at_line`].
    pub(crate) fn at_line(&self, i: usize) -> String {
        format!("{}:{}", self.path.display(), self.slots[i].line)
    }

    /// The address part as written.
    pub(crate) fn text(&self, i: usize) -> Cow<'_, str> {
        let slot = self.slots[i];
        match slot.text {
            TEXT_NET | TEXT_ADDR => {
                let addr = match self.space(i) {
                    SpaceRef::V4(&(lo, hi)) => {
                        (IpAddr::V4(Ipv4Addr::from(lo)), (hi - lo).count_ones())
                    }
                    SpaceRef::V6(&(lo, hi)) => {
                        (IpAddr::V6(Ipv6Addr::from(lo)), (hi - lo).count_ones())
                    }
                    SpaceRef::Set(_) => unreachable!("only single spans print as themselves"),
                };
                if slot.text == TEXT_ADDR {
                    return Cow::Owned(addr.0.to_string());
                }
                let width = if addr.0.is_ipv4() { 32 } else { 128 };
                let len = u8::try_from(width - addr.1).expect("prefix length fits u8");
                Cow::Owned(IpNet::new(addr.0, len).expect("valid length").to_string())
            }
            n => {
                let (start, len) = self.text_spans[n as usize];
                Cow::Borrowed(&self.texts[start as usize..(start + len) as usize])
            }
        }
    }

    #[inline]
    pub(crate) fn space(&self, i: usize) -> SpaceRef<'_> {
        let space = self.slots[i].space;
        let index = (space & INDEX_MASK) as usize;
        match space >> KIND_SHIFT {
            KIND_V4 => SpaceRef::V4(&self.v4[index]),
            KIND_V6 => SpaceRef::V6(&self.v6[index]),
            _ => SpaceRef::Set(&self.sets[index]),
        }
    }

    /// The id of the entry's port list in [`Entries::port_sets`].
    #[inline]
    pub(crate) fn ports_id(&self, i: usize) -> usize {
        (self.slots[i].ports & !INBOUND) as usize
    }

    /// Every distinct port list, by id.
    pub(crate) fn port_sets(&self) -> &[Vec<PortRange>] {
        &self.port_sets
    }

    #[inline]
    pub(crate) fn ports(&self, i: usize) -> &[PortRange] {
        &self.port_sets[self.ports_id(i)]
    }

    #[inline]
    pub(crate) fn allows(&self, i: usize, port: &PortRange) -> bool {
        self.ports(i).iter().any(|p| p.contains(port))
    }

    #[inline]
    pub(crate) fn direction(&self, i: usize) -> Direction {
        if self.slots[i].ports & INBOUND == 0 {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }

    /// The whole entry.
    pub(crate) fn get(&self, i: usize) -> CidrEntry {
        CidrEntry {
            span: self.span(i),
            text: self.text(i).into_owned(),
            space: self.space(i).to_set(),
            ports: self.ports(i).to_vec(),
            direction: self.direction(i),
        }
    }

    /// Whole entries, in file order.
    pub(crate) fn iter(&self) -> EntriesIter<'_> {
        EntriesIter {
            entries: self,
            next: 0,
        }
    }
}

/// Whole entries, in file order.
pub struct EntriesIter<'a> {
    entries: &'a Entries,
    next: usize,
}

impl Iterator for EntriesIter<'_> {
    type Item = CidrEntry;

    fn next(&mut self) -> Option<CidrEntry> {
        let entry = (self.next < self.entries.len()).then(|| self.entries.get(self.next))?;
        self.next += 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.entries.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for EntriesIter<'_> {}

impl<'a> IntoIterator for &'a Entries {
    type Item = CidrEntry;
    type IntoIter = EntriesIter<'a>;

    fn into_iter(self) -> EntriesIter<'a> {
        self.iter()
    }
}

/// Where additions go, per format.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// iptables: the chain outbound rules are in, and the line of the filter table's COMMIT.
    pub chain: Option<String>,
    pub commit_line: Option<usize>,
    /// iptables: the dump is of ip6tables.
    pub ipv6: bool,
    /// nft: the family and table of the output chain.
    pub nft_table: Option<(String, String)>,
    /// CSV: the header fields, and the indexes of address, protocol, port and direction.
    pub csv_header: Vec<String>,
    pub csv_columns: Option<Columns>,
    /// Security groups: the id of the first group.
    pub group_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CidrList {
    pub path: PathBuf,
    pub format: CidrFormat,
    pub entries: Entries,
    pub issues: Vec<Issue>,
    pub layout: Layout,
}

impl CidrList {
    pub(crate) fn read(
        path: &Path,
        format: Option<CidrFormat>,
        strictness: Strictness,
    ) -> Result<Self> {
        if matches!(format, None | Some(CidrFormat::Plain)) {
            if let Some(list) = stream_plain(path, format.is_none(), strictness) {
                return Ok(list);
            }
        }
        let text = read_text(path)?;
        Self::parse(&text, path, format, strictness)
    }

    pub fn parse(
        text: &str,
        path: &Path,
        format: Option<CidrFormat>,
        strictness: Strictness,
    ) -> Result<Self> {
        let format = format.unwrap_or_else(|| CidrFormat::detect(text));
        let mut list = Self {
            path: path.to_owned(),
            format,
            entries: Entries::new(path),
            issues: Vec::new(),
            layout: Layout::default(),
        };
        let mut issues = Issues::new(strictness);
        match format {
            CidrFormat::Plain => parse_plain(text, &mut list, &mut issues)?,
            CidrFormat::Csv => parse_csv(text, &mut list, &mut issues)?,
            CidrFormat::Iptables => parse_iptables(text, &mut list, &mut issues)?,
            CidrFormat::Nft => parse_nft(text, &mut list, &mut issues)?,
            CidrFormat::AwsSg => parse_aws_sg(text, &mut list)?,
        }
        list.issues = issues.list;
        Ok(list)
    }

    /// The rules that add `nets` on `port` in `direction`, in this list's syntax.
    pub(crate) fn addition_lines(&self, additions: &[Addition]) -> Vec<String> {
        match self.format {
            CidrFormat::Plain => plain::addition_lines(additions),
            CidrFormat::Csv => csv_table::addition_lines(self, additions),
            CidrFormat::Iptables => iptables::addition_lines(self, additions),
            CidrFormat::Nft => nft::addition_lines(self, additions),
            CidrFormat::AwsSg => aws_sg::addition_lines(self, additions),
        }
    }

    /// A copy of `original` with the additions where the syntax wants them.
    pub(crate) fn with_additions(&self, original: &str, additions: &[Addition]) -> String {
        if additions.iter().all(|a| a.nets.is_empty()) {
            return original.to_owned();
        }
        if self.format == CidrFormat::AwsSg {
            return sg_with_additions(original, additions);
        }
        let lines = self.addition_lines(additions);
        let comment = match self.format {
            CidrFormat::Csv => None,
            _ => Some("# Added by connect-preflight audit: address space Amazon Connect needs"),
        };
        let mut block = String::new();
        if let Some(c) = comment {
            block.push_str(c);
            block.push('\n');
        }
        for line in lines {
            block.push_str(&line);
            block.push('\n');
        }
        let after = match self.format {
            CidrFormat::Iptables => self.layout.commit_line.map(|l| l - 1),
            _ => None,
        };
        match after {
            Some(0) => format!("{block}{original}"),
            other => super::domains::insert_after(original, other, &block),
        }
    }
}

/// Address space to add on one port.
#[derive(Clone, Debug)]
pub struct Addition {
    pub direction: Direction,
    pub port: PortRange,
    pub nets: Vec<IpNet>,
}

// ---------------------------------------------------------------------------------------------
// Addresses and ports

const EXPECTED_ADDRESS: &str =
    "an address, a CIDR (15.193.0.0/19) or a range (15.193.0.0-15.193.31.255)";

/// An address, a CIDR (host bits are cleared), an address with a netmask, or a range `a-b`.
pub(crate) fn parse_space(text: &str) -> Result<IpSet, String> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (
            a.trim().parse().map_err(|_| EXPECTED_ADDRESS.to_owned())?,
            b.trim().parse().map_err(|_| EXPECTED_ADDRESS.to_owned())?,
        );
        if a.is_ipv4() != b.is_ipv4() || a > b {
            return Err(format!(
                "{EXPECTED_ADDRESS}; a range runs from the lower to the higher address of one family"
            ));
        }
        return Ok(IpSet::from_ranges([(a, b)]));
    }
    let net = parse_net(text)?;
    Ok(IpSet::from_nets(&[net]))
}

fn parse_net(text: &str) -> Result<IpNet, String> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    if let Some((addr, mask)) = text.split_once('/') {
        if let (Ok(addr), Ok(mask)) = (addr.parse::<IpAddr>(), mask.parse::<IpAddr>()) {
            let len = ipnet::ip_mask_to_prefix(mask)
                .map_err(|_| format!("{EXPECTED_ADDRESS}; {mask} is not a netmask"))?;
            return IpNet::new(addr, len)
                .map(|n| n.trunc())
                .map_err(|_| EXPECTED_ADDRESS.to_owned());
        }
    }
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| EXPECTED_ADDRESS.to_owned())
}

fn proto_word(word: &str) -> Option<Vec<Protocol>> {
    match word.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some(vec![Protocol::Tcp]),
        "udp" | "17" => Some(vec![Protocol::Udp]),
        "any" | "all" | "ip" | "-1" | "*" => Some(vec![Protocol::Tcp, Protocol::Udp]),
        _ => None,
    }
}

/// `443`, `443-445` or `443:445`.
fn port_range(word: &str) -> Option<(u16, u16)> {
    let (a, b) = word
        .split_once(['-', ':'])
        .map_or((word, word), |(a, b)| (a, b));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a.max(1), b))
}

fn specs(protos: &[Protocol], first: u16, last: u16) -> Vec<PortRange> {
    protos
        .iter()
        .map(|&proto| PortRange { proto, first, last })
        .collect()
}
