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

use super::{
    Issue, Issues, MAX_INPUT_BYTES, Span, Strictness, numbered_lines, read_text, strip_comment,
    tokens,
};
use crate::catalog::{Direction, PortSpec};
use crate::error::{Error, Location, Result};
use crate::ranges::IpSet;
use crate::report::Proto;

/// The syntaxes the audit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrFormat {
    Plain,
    Csv,
    Iptables,
    Nft,
    AwsSg,
}

impl CidrFormat {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Csv => "csv",
            Self::Iptables => "iptables",
            Self::Nft => "nft",
            Self::AwsSg => "aws-sg",
        }
    }

    /// Guesses the format from the text.
    pub fn detect(text: &str) -> Self {
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
pub fn all_ports() -> Vec<PortSpec> {
    vec![
        PortSpec {
            proto: Proto::Tcp,
            first: 1,
            last: 65535,
        },
        PortSpec {
            proto: Proto::Udp,
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
    pub ports: Vec<PortSpec>,
    pub direction: Direction,
}

impl CidrEntry {
    pub fn allows(&self, port: &PortSpec) -> bool {
        self.ports.iter().any(|p| p.contains(port))
    }

    pub fn any_port(&self) -> bool {
        all_ports().iter().all(|p| self.allows(p))
    }

    /// `udp/3478`, `tcp/443,udp/3478` or `any port`.
    pub fn ports_label(&self) -> String {
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
    pub fn v4(self) -> &'a [(u32, u32)] {
        match self {
            Self::V4(span) => std::slice::from_ref(span),
            Self::V6(_) => &[],
            Self::Set(set) => set.v4.spans(),
        }
    }

    #[inline]
    pub fn v6(self) -> &'a [(u128, u128)] {
        match self {
            Self::V4(_) => &[],
            Self::V6(span) => std::slice::from_ref(span),
            Self::Set(set) => set.v6.spans(),
        }
    }

    /// Whether `addr` is in this space, without building a set.
    pub fn contains(self, addr: IpAddr) -> bool {
        fn within<T: Ord + Copy>(spans: &[(T, T)], x: T) -> bool {
            let i = spans.partition_point(|&(lo, _)| lo <= x);
            i > 0 && spans[i - 1].1 >= x
        }
        match addr {
            IpAddr::V4(a) => within(self.v4(), u32::from(a)),
            IpAddr::V6(a) => within(self.v6(), u128::from(a)),
        }
    }

    pub fn to_set(self) -> IpSet {
        match self {
            Self::Set(set) => set.clone(),
            _ => IpSet {
                v4: crate::ranges::set::Intervals::from_spans(self.v4().iter().copied()),
                v6: crate::ranges::set::Intervals::from_spans(self.v6().iter().copied()),
            },
        }
    }

    /// Whether every address of `other` is in this space (both as sorted, disjoint spans).
    pub fn is_superset(self, other: Self) -> bool {
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
    port_sets: Vec<Vec<PortSpec>>,
    port_ids: HashMap<Vec<PortSpec>, u32>,
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

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds an entry as the readers build it.
    pub fn push(&mut self, entry: CidrEntry) {
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
    fn intern_ports(&mut self, ports: &[PortSpec]) -> u32 {
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

    pub fn span(&self, i: usize) -> Span {
        let slot = self.slots[i];
        Span::new(&self.path, slot.line as usize, slot.column as usize)
    }

    /// `file:line`, as [`Span::at_line`].
    pub fn at_line(&self, i: usize) -> String {
        format!("{}:{}", self.path.display(), self.slots[i].line)
    }

    /// The address part as written.
    pub fn text(&self, i: usize) -> Cow<'_, str> {
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
    pub fn space(&self, i: usize) -> SpaceRef<'_> {
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
    pub fn ports_id(&self, i: usize) -> usize {
        (self.slots[i].ports & !INBOUND) as usize
    }

    /// Every distinct port list, by id.
    pub fn port_sets(&self) -> &[Vec<PortSpec>] {
        &self.port_sets
    }

    #[inline]
    pub fn ports(&self, i: usize) -> &[PortSpec] {
        &self.port_sets[self.ports_id(i)]
    }

    #[inline]
    pub fn allows(&self, i: usize, port: &PortSpec) -> bool {
        self.ports(i).iter().any(|p| p.contains(port))
    }

    #[inline]
    pub fn direction(&self, i: usize) -> Direction {
        if self.slots[i].ports & INBOUND == 0 {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }

    /// The whole entry.
    pub fn get(&self, i: usize) -> CidrEntry {
        CidrEntry {
            span: self.span(i),
            text: self.text(i).into_owned(),
            space: self.space(i).to_set(),
            ports: self.ports(i).to_vec(),
            direction: self.direction(i),
        }
    }

    /// Whole entries, in file order.
    pub fn iter(&self) -> EntriesIter<'_> {
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
    pub fn read(path: &Path, format: Option<CidrFormat>, strictness: Strictness) -> Result<Self> {
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
    pub fn addition_lines(&self, additions: &[Addition]) -> Vec<String> {
        let mut out = Vec::new();
        match self.format {
            CidrFormat::Plain => {
                for a in additions {
                    for net in &a.nets {
                        let dir = if a.direction == Direction::Inbound {
                            " inbound"
                        } else {
                            ""
                        };
                        out.push(format!("{net} {}{dir}", a.port));
                    }
                }
            }
            CidrFormat::Csv => {
                let columns = self.layout.csv_columns.clone().unwrap_or_default();
                let width = self.layout.csv_header.len().max(1);
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
            }
            CidrFormat::Iptables => {
                let chain = self.layout.chain.as_deref().unwrap_or("OUTPUT");
                for a in additions {
                    for net in &a.nets {
                        let (chain, flag) = match a.direction {
                            Direction::Outbound => (chain, "-d"),
                            Direction::Inbound => ("INPUT", "-s"),
                        };
                        let ports = if a.port.first == a.port.last {
                            a.port.first.to_string()
                        } else {
                            format!("{}:{}", a.port.first, a.port.last)
                        };
                        let rule = format!(
                            "-A {chain} {flag} {net} -p {p} -m {p} --dport {ports} -j ACCEPT",
                            p = a.port.proto
                        );
                        if net.addr().is_ipv6() == self.layout.ipv6 {
                            out.push(rule);
                        } else {
                            let tool = if net.addr().is_ipv6() {
                                "ip6tables"
                            } else {
                                "iptables"
                            };
                            out.push(format!("# for {tool}-restore: {rule}"));
                        }
                    }
                }
            }
            CidrFormat::Nft => {
                let (family, table) = self
                    .layout
                    .nft_table
                    .clone()
                    .unwrap_or_else(|| ("inet".to_owned(), "filter".to_owned()));
                let chain = self.layout.chain.as_deref().unwrap_or("output");
                for a in additions {
                    for v6 in [false, true] {
                        let nets: Vec<String> = a
                            .nets
                            .iter()
                            .filter(|n| n.addr().is_ipv6() == v6)
                            .map(ToString::to_string)
                            .collect();
                        if nets.is_empty() {
                            continue;
                        }
                        let (ip, dir) = match (v6, a.direction) {
                            (false, Direction::Outbound) => ("ip", "daddr"),
                            (false, Direction::Inbound) => ("ip", "saddr"),
                            (true, Direction::Outbound) => ("ip6", "daddr"),
                            (true, Direction::Inbound) => ("ip6", "saddr"),
                        };
                        let chain = if a.direction == Direction::Inbound {
                            "input"
                        } else {
                            chain
                        };
                        let rule = format!(
                            "add rule {family} {table} {chain} {ip} {dir} {{ {} }} {} dport {} accept",
                            nets.join(", "),
                            a.port.proto,
                            a.port.ports()
                        );
                        let fits = family == "inet" || (family == "ip6") == v6;
                        if fits {
                            out.push(rule);
                        } else {
                            out.push(format!("# needs an inet or {ip} table: {rule}"));
                        }
                    }
                }
            }
            CidrFormat::AwsSg => {
                let perms = sg_permissions(additions);
                let group = self.layout.group_id.as_deref().unwrap_or("sg-REPLACE-ME");
                for (key, perms) in perms {
                    let command = match direction_of(key) {
                        Direction::Outbound => "authorize-security-group-egress",
                        Direction::Inbound => "authorize-security-group-ingress",
                    };
                    let json = serde_json::to_string(&perms).unwrap_or_default();
                    out.push(format!(
                        "aws ec2 {command} --group-id {group} --ip-permissions '{json}'"
                    ));
                }
            }
        }
        out
    }

    /// A copy of `original` with the additions where the syntax wants them.
    pub fn with_additions(&self, original: &str, additions: &[Addition]) -> String {
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
    pub port: PortSpec,
    pub nets: Vec<IpNet>,
}

fn sg_permissions(additions: &[Addition]) -> BTreeMap<u8, Vec<serde_json::Value>> {
    let mut out: BTreeMap<u8, Vec<serde_json::Value>> = BTreeMap::new();
    for a in additions {
        let v4: Vec<serde_json::Value> = a
            .nets
            .iter()
            .filter(|n| n.addr().is_ipv4())
            .map(|n| serde_json::json!({"CidrIp": n.to_string(), "Description": "Amazon Connect"}))
            .collect();
        let v6: Vec<serde_json::Value> = a
            .nets
            .iter()
            .filter(|n| n.addr().is_ipv6())
            .map(
                |n| serde_json::json!({"CidrIpv6": n.to_string(), "Description": "Amazon Connect"}),
            )
            .collect();
        if v4.is_empty() && v6.is_empty() {
            continue;
        }
        out.entry(u8::from(a.direction == Direction::Inbound))
            .or_default()
            .push(serde_json::json!({
                "IpProtocol": a.port.proto.as_str(),
                "FromPort": a.port.first,
                "ToPort": a.port.last,
                "IpRanges": v4,
                "Ipv6Ranges": v6,
            }));
    }
    out
}

fn direction_of(key: u8) -> Direction {
    if key == 1 {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

fn sg_with_additions(original: &str, additions: &[Addition]) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(original) else {
        return original.to_owned();
    };
    let perms = sg_permissions(additions);
    let group = match &mut doc {
        serde_json::Value::Object(map) if map.contains_key("SecurityGroups") => map
            .get_mut("SecurityGroups")
            .and_then(|g| g.as_array_mut())
            .and_then(|g| g.first_mut()),
        serde_json::Value::Array(groups) => groups.first_mut(),
        other => Some(other),
    };
    if let Some(serde_json::Value::Object(group)) = group {
        for (key, perms) in perms {
            let field = match direction_of(key) {
                Direction::Outbound => "IpPermissionsEgress",
                Direction::Inbound => "IpPermissions",
            };
            let list = group
                .entry(field)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                list.extend(perms);
            }
        }
    }
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| original.to_owned());
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// Addresses and ports

const EXPECTED_ADDRESS: &str =
    "an address, a CIDR (15.193.0.0/19) or a range (15.193.0.0-15.193.31.255)";

/// An address, a CIDR (host bits are cleared), an address with a netmask, or a range `a-b`.
pub fn parse_space(text: &str) -> Result<IpSet, String> {
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

fn proto_word(word: &str) -> Option<Vec<Proto>> {
    match word.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some(vec![Proto::Tcp]),
        "udp" | "17" => Some(vec![Proto::Udp]),
        "any" | "all" | "ip" | "-1" | "*" => Some(vec![Proto::Tcp, Proto::Udp]),
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

fn specs(protos: &[Proto], first: u16, last: u16) -> Vec<PortSpec> {
    protos
        .iter()
        .map(|&proto| PortSpec { proto, first, last })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Plain

const EXPECTED_PLAIN: &str = "an address, CIDR or range, then optionally a protocol and port (udp/3478, tcp 443) and `inbound`";

fn parse_plain(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = PlainReader::new(false);
    reader.lines(text, list, issues)?;
    Ok(())
}

/// Reads the lines of a plain list: the usual shapes in place ([`fast_plain_line`]), the rest
/// line by line with [`plain_line_general`]. Also follows the format detection of
/// [`CidrFormat::detect`] as it goes, when asked to, for [`stream_plain`].
struct PlainReader {
    /// Lines read so far.
    number: usize,
    fast: FastState,
    detect: bool,
    data_seen: bool,
}

/// What [`fast_plain_line`] keeps from line to line.
#[derive(Debug, Default)]
struct FastState {
    ports: Vec<PortSpec>,
    /// The rest of the last line after its address (up to 64 bytes, line ending included), with
    /// the ports and direction it gave: whitelists repeat the same ports line after line, and the
    /// same bytes read the same way.
    tail: Vec<u8>,
    tail_ports: u32,
    tail_direction: Option<Direction>,
}

/// What a stretch of lines turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Lines {
    Plain,
    /// A line shows the text is in another format.
    NotPlain,
}

impl PlainReader {
    fn new(detect: bool) -> Self {
        Self {
            number: 0,
            fast: FastState::default(),
            detect,
            data_seen: false,
        }
    }

    /// Reads complete lines (the text ends with a line ending or at the end of the file).
    fn lines(&mut self, text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<Lines> {
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            self.number += 1;
            if self.detect && !self.data_seen {
                let line = line_at(text, at);
                let t = line.trim_start();
                if CidrFormat::marked_by(line).is_some() {
                    return Ok(Lines::NotPlain);
                }
                if !t.is_empty() && !t.starts_with('#') {
                    self.data_seen = true;
                    if CidrFormat::is_csv_header(t) {
                        return Ok(Lines::NotPlain);
                    }
                }
            }
            if let Some(next) =
                fast_plain_line(&mut list.entries, &mut self.fast, self.number, text, at)
            {
                at = next;
                continue;
            }
            // A line the fast reader does not take. Marker lines of other formats are among
            // these: they start with `*`, `-`, `:OUTPUT` or `table`, never with an address.
            let line = line_at(text, at);
            at += line.len();
            at += usize::from(at < bytes.len() && bytes[at] == b'\r');
            at += usize::from(at < bytes.len() && bytes[at] == b'\r');
            at += usize::from(at < bytes.len() && bytes[at] == b'\n');
            if self.detect && CidrFormat::marked_by(line).is_some() {
                return Ok(Lines::NotPlain);
            }
            plain_line_general(list, issues, self.number, line)?;
        }
        Ok(Lines::Plain)
    }
}

/// The line starting at `at`, without its line ending (`\n`, `\r\n`, or `\r\r\n`), as
/// `numbered_lines` gives it.
fn line_at(text: &str, at: usize) -> &str {
    let rest = &text[at..];
    let mut line = rest.find('\n').map_or(rest, |end| &rest[..end]);
    for _ in 0..2 {
        line = line.strip_suffix('\r').unwrap_or(line);
    }
    line
}

/// One line of a plain list, read the general way: the reference the fast reader agrees with.
fn plain_line_general(
    list: &mut CidrList,
    issues: &mut Issues,
    number: usize,
    line: &str,
) -> Result<()> {
    let path = list.path.clone();
    let words = tokens(strip_comment(line));
    let Some(&(column, address)) = words.first() else {
        return Ok(());
    };
    let span = Span::new(&path, number, column);
    let space = match parse_space(address) {
        Ok(space) => space,
        Err(expected) => return issues.push(Issue::malformed(span, address, expected)),
    };
    let mut ports = Vec::new();
    let mut direction = Direction::Outbound;
    let mut i = 1;
    while let Some(&(col, word)) = words.get(i) {
        i += 1;
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "inbound" | "in" | "ingress" => {
                direction = Direction::Inbound;
                continue;
            }
            "outbound" | "out" | "egress" => {
                direction = Direction::Outbound;
                continue;
            }
            _ => {}
        }
        if let Some((a, b)) = lower.split_once(['/', ':']) {
            let spec = match (proto_word(a), port_range(b), port_range(a), proto_word(b)) {
                (Some(p), Some((f, l)), _, _) | (_, _, Some((f, l)), Some(p)) => specs(&p, f, l),
                _ => {
                    return issues.push(Issue::malformed(
                        Span::new(&path, number, col),
                        word,
                        EXPECTED_PLAIN,
                    ));
                }
            };
            ports.extend(spec);
            continue;
        }
        if let Some(protos) = proto_word(&lower) {
            if let Some((f, l)) = words.get(i).and_then(|w| port_range(w.1)) {
                i += 1;
                ports.extend(specs(&protos, f, l));
            } else {
                ports.extend(specs(&protos, 1, 65535));
            }
            continue;
        }
        return issues.push(Issue::malformed(
            Span::new(&path, number, col),
            word,
            EXPECTED_PLAIN,
        ));
    }
    if ports.is_empty() {
        ports = all_ports();
    }
    list.entries.push(CidrEntry {
        span,
        text: address.to_owned(),
        space,
        ports,
        direction,
    });
    Ok(())
}

/// Whitespace and commas inside a line: what [`tokens`] splits on, for ASCII.
const fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' | b',')
}

/// What ends a word: a separator, `#` or a line ending.
const fn ends_word(b: u8) -> bool {
    is_separator(b) || b == b'#' || b == b'\n'
}

/// Whether the word being read ends at `at` (or the text does).
fn word_ends_at(bytes: &[u8], at: usize) -> bool {
    bytes.get(at).is_none_or(|&b| ends_word(b))
}

/// The end of the word starting at `at`.
fn word_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && !ends_word(bytes[at]) {
        at += 1;
    }
    at
}

fn skip_separators(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && is_separator(bytes[at]) {
        at += 1;
    }
    at
}

/// Reads the line starting at `line_start` in place, in one pass and without allocating, when
/// it has one of the usual shapes (`15.193.0.0/19 udp/3478`, `2600:f0f2:7100::/40 tcp/443
/// inbound`, an address alone, a comment, a blank line), exactly as [`plain_line_general`]
/// would; returns where the next line starts. `None`, having added nothing, for anything else:
/// ranges, netmasks, other protocol words, quotes, non-ASCII text, lines that do not parse.
fn fast_plain_line(
    entries: &mut Entries,
    state: &mut FastState,
    number: usize,
    text: &str,
    line_start: usize,
) -> Option<usize> {
    let bytes = text.as_bytes();
    let start = skip_separators(bytes, line_start);
    let rest_of_line = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |end| from + end + 1)
    };
    match bytes.get(start) {
        None => return Some(bytes.len()),
        Some(b'\n') => return Some(start + 1),
        // A comment may hold anything, up to the line ending.
        Some(b'#') => return Some(rest_of_line(start)),
        _ => {}
    }
    let (parsed, printable, end) = fast_space_at(bytes, start)?;
    let written = &text[start..end];
    let column = start - line_start + 1;
    if let Some(direction) = state.tail_direction {
        if bytes[end..].starts_with(&state.tail) {
            let ports = state.tail_ports;
            entries.push_parsed(
                (number, column),
                parsed,
                printable,
                written,
                ports,
                direction,
            );
            return Some(end + state.tail.len());
        }
    }
    let ports = &mut state.ports;
    ports.clear();
    let mut direction = Direction::Outbound;
    let mut at = end;
    let next_line = loop {
        at = skip_separators(bytes, at);
        match bytes.get(at) {
            None => break bytes.len(),
            Some(b'\n') => break at + 1,
            Some(b'#') => break rest_of_line(at),
            _ => {}
        }
        let word_start = at;
        let proto = match bytes.get(at..at + 3) {
            Some(p) if p.eq_ignore_ascii_case(b"tcp") => Some(Proto::Tcp),
            Some(p) if p.eq_ignore_ascii_case(b"udp") => Some(Proto::Udp),
            _ => None,
        };
        let Some(proto) = proto else {
            at = word_end(bytes, at);
            let word = &text[word_start..at];
            if ["inbound", "in", "ingress"]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w))
            {
                direction = Direction::Inbound;
                continue;
            }
            if ["outbound", "out", "egress"]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w))
            {
                direction = Direction::Outbound;
                continue;
            }
            return None;
        };
        at += 3;
        if word_ends_at(bytes, at) {
            // `udp 3478`, or `udp` alone for every port.
            let next = skip_separators(bytes, at);
            let (range, next_end) = match fast_port_range_at(bytes, next) {
                Some((range, end)) => (Some(range), end),
                None => {
                    let end = word_end(bytes, next);
                    (port_range(&text[next..end]), end)
                }
            };
            match range {
                Some((first, last)) if next < next_end => {
                    at = next_end;
                    ports.push(PortSpec { proto, first, last });
                }
                _ => ports.push(PortSpec {
                    proto,
                    first: 1,
                    last: 65535,
                }),
            }
            continue;
        }
        // `tcp/443`, `udp/49152-65535` (the general reader also takes `tcp:443`).
        if !matches!(bytes[at], b'/' | b':') {
            return None;
        }
        at += 1;
        let (first, last) = match fast_port_range_at(bytes, at) {
            Some((range, end)) => {
                at = end;
                range
            }
            None => {
                let end = word_end(bytes, at);
                let range = port_range(&text[at..end])?;
                at = end;
                range
            }
        };
        ports.push(PortSpec { proto, first, last });
    };
    if ports.is_empty() {
        ports.extend(all_ports());
    }
    let ports = entries.intern_ports(ports);
    entries.push_parsed(
        (number, column),
        parsed,
        printable,
        written,
        ports,
        direction,
    );
    let tail = &bytes[end..next_line];
    state.tail_direction = None;
    if tail.len() <= 64 && tail.ends_with(b"\n") {
        state.tail.clear();
        state.tail.extend_from_slice(tail);
        state.tail_ports = ports;
        state.tail_direction = Some(direction);
    }
    Some(next_line)
}

/// [`port_range`] of the word at `at` when it is the usual `443` or `49152-65535`, with where the
/// word ends; `None` when [`port_range`] itself must decide (signs, colons, six digits or more,
/// anything else).
fn fast_port_range_at(bytes: &[u8], at: usize) -> Option<((u16, u16), usize)> {
    let number = |mut i: usize| -> Option<(u32, usize)> {
        let from = i;
        let mut n = 0u32;
        while i < bytes.len() && bytes[i].is_ascii_digit() && i - from < 5 {
            n = n * 10 + u32::from(bytes[i] - b'0');
            i += 1;
        }
        (i > from).then_some((n, i))
    };
    let (a, i) = number(at)?;
    let (b, end) = match bytes.get(i) {
        Some(b'-') => number(i + 1)?,
        _ => (a, i),
    };
    if !word_ends_at(bytes, end) || a > 65535 || b > 65535 {
        return None;
    }
    let (a, b) = (a as u16, b as u16);
    Some(((a <= b).then_some((a.max(1), b))?, end))
}

/// [`fast_space_at`] on a whole token.
#[cfg(test)]
fn fast_space(token: &[u8]) -> Option<(Parsed, Option<u32>)> {
    fast_space_at(token, 0)
        .filter(|&(_, _, end)| end == token.len())
        .map(|(parsed, printable, _)| (parsed, printable))
}

/// Reads the word at `start` when it is `a.b.c.d`, `a.b.c.d/len`, an IPv6 address or
/// `ipv6/len`, as [`parse_space`] does; with whether the text is how the address (`TEXT_ADDR`)
/// or the network (`TEXT_NET`) prints, and where the word ends. `None` for anything else,
/// which the general reader then reads, or refuses with a reason.
fn fast_space_at(bytes: &[u8], start: usize) -> Option<(Parsed, Option<u32>, usize)> {
    if let Some((value, end)) = fast_v4_at(bytes, start) {
        let (len, end) = prefix_at(bytes, end, 32)?;
        let Some(len) = len else {
            return Some((Parsed::V4(value, value), Some(TEXT_ADDR), end));
        };
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let network = value & mask;
        return Some((
            Parsed::V4(network, network | !mask),
            (network == value).then_some(TEXT_NET),
            end,
        ));
    }
    let (value, printable, end) = fast_v6_at(bytes, start)?;
    let (len, end) = prefix_at(bytes, end, 128)?;
    let Some(len) = len else {
        return Some((
            Parsed::V6(value, value),
            printable.then_some(TEXT_ADDR),
            end,
        ));
    };
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    let network = value & mask;
    Some((
        Parsed::V6(network, network | !mask),
        (printable && network == value).then_some(TEXT_NET),
        end,
    ))
}

/// An optional `/len` at `at` (no leading zero, at most `max`, as ipnet reads it), which must
/// end the word.
fn prefix_at(bytes: &[u8], at: usize, max: u32) -> Option<(Option<u32>, usize)> {
    if bytes.get(at) != Some(&b'/') {
        return word_ends_at(bytes, at).then_some((None, at));
    }
    let from = at + 1;
    let mut i = from;
    let mut n = 0u32;
    while i < bytes.len() && bytes[i].is_ascii_digit() && i - from < 4 {
        n = n * 10 + u32::from(bytes[i] - b'0');
        i += 1;
    }
    let digits = i - from;
    let fine = digits > 0
        && digits <= 3
        && !(digits > 1 && bytes[from] == b'0')
        && n <= max
        && word_ends_at(bytes, i);
    fine.then_some((Some(n), i))
}

/// Four decimal octets without leading zeros (what both the standard library and ipnet read),
/// and where they end.
fn fast_v4_at(bytes: &[u8], start: usize) -> Option<(u32, usize)> {
    let mut value = 0u32;
    let mut i = start;
    for octet in 0..4 {
        if octet > 0 {
            if bytes.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let from = i;
        let mut n = 0u32;
        while let Some(d) = bytes
            .get(i)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|d| *d < 10)
        {
            n = n.wrapping_mul(10).wrapping_add(u32::from(d));
            i += 1;
        }
        let digits = i - from;
        // No leading zero, at most three digits.
        if digits == 0 || digits > 3 || (digits > 1 && bytes[from] == b'0') || n > 255 {
            return None;
        }
        value = (value << 8) | n;
    }
    Some((value, i))
}

/// The value of each hexadecimal digit; 255 for other bytes.
static HEX: [u8; 256] = {
    let mut table = [255u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => d - b'A' + 10,
            _ => 255,
        };
        b += 1;
    }
    table
};

/// Hexadecimal groups with at most one `::` and no embedded IPv4, as the standard library reads
/// them, up to a `/` or the end of the word; with whether the text is how the address prints
/// (lower case, no leading zeros, the first longest run of two or more zero groups written `::`;
/// addresses whose first 80 bits are zero print in special forms, so they never count), and
/// where it ends.
fn fast_v6_at(bytes: &[u8], start: usize) -> Option<(u128, bool, usize)> {
    let stop = |i: usize| bytes.get(i).is_none_or(|&b| b == b'/' || ends_word(b));
    let mut groups = [0u16; 8];
    let mut count = 0;
    // How many groups come before the `::`.
    let mut gap: Option<usize> = None;
    let mut printable = true;
    let mut i = start;
    if bytes.get(i) == Some(&b':') && bytes.get(i + 1) == Some(&b':') {
        gap = Some(0);
        i += 2;
    }
    if gap.is_none() || !stop(i) {
        loop {
            let from = i;
            let mut value = 0u32;
            // Every hexadecimal digit has bit 0x20 set, but for `A` to `F`.
            let mut lower = 0x20;
            while let Some(&b) = bytes.get(i) {
                let d = HEX[usize::from(b)];
                if d > 15 {
                    break;
                }
                value = (value << 4) | u32::from(d);
                lower &= b;
                i += 1;
            }
            let digits = i - from;
            if digits == 0 || digits > 4 || count == 8 {
                return None;
            }
            if lower == 0 {
                printable = false;
            }
            if digits > 1 && bytes[from] == b'0' {
                printable = false;
            }
            groups[count] = value as u16;
            count += 1;
            if stop(i) {
                break;
            }
            if bytes[i] != b':' {
                return None;
            }
            i += 1;
            if bytes.get(i) == Some(&b':') {
                if gap.is_some() {
                    return None;
                }
                gap = Some(count);
                i += 1;
                if stop(i) {
                    break;
                }
            } else if stop(i) {
                return None;
            }
        }
    }
    let compressed = match gap {
        None if count == 8 => None,
        Some(at) if count <= 7 => {
            let tail = count - at;
            groups.copy_within(at..count, 8 - tail);
            groups[at..8 - tail].fill(0);
            Some((at, 8 - count))
        }
        _ => return None,
    };
    let value = groups.iter().fold(0u128, |v, &g| (v << 16) | u128::from(g));
    if printable {
        // Where the standard library writes `::`: the first longest run of zero groups.
        let (mut best, mut run) = ((0, 0), (0, 0));
        for (i, &g) in groups.iter().enumerate() {
            if g == 0 {
                if run.1 == 0 {
                    run.0 = i;
                }
                run.1 += 1;
                if run.1 > best.1 {
                    best = run;
                }
            } else {
                run = (0, 0);
            }
        }
        let expected = (best.1 > 1).then_some(best);
        printable = compressed == expected && groups[..5].iter().any(|&g| g != 0);
    }
    Some((value, printable, i))
}

/// Reads a plain list straight from the file, a chunk at a time, so that a whitelist of
/// hundreds of thousands of lines is never held whole in memory. `None` whenever the general
/// path must decide instead: the text is not plain (the format is detected as it goes), not
/// UTF-8, holds a NUL byte, is too large, or a strict read meets a line that does not parse
/// (the general path reports it after its whole-file checks, as it always has).
fn stream_plain(path: &Path, detect: bool, strictness: Strictness) -> Option<CidrList> {
    const CHUNK: usize = 256 * 1024;
    // Not a regular file (a FIFO, a device): the general path refuses it, naming it.
    let mut file = crate::input::open_regular(path).ok()?;
    let size = file.metadata().ok()?.len();
    if size > MAX_INPUT_BYTES {
        return None;
    }
    let mut list = CidrList {
        path: path.to_owned(),
        format: CidrFormat::Plain,
        entries: Entries::new(path),
        issues: Vec::new(),
        layout: Layout::default(),
    };
    list.entries.reserve_for(size);
    let mut issues = Issues::new(strictness);
    let mut reader = PlainReader::new(detect);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let mut total = 0u64;
    let mut first_chunk = true;
    loop {
        let kept = buf.len();
        buf.resize(kept + CHUNK, 0);
        let n = loop {
            match file.read(&mut buf[kept..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        };
        buf.truncate(kept + n);
        total += n as u64;
        if total > MAX_INPUT_BYTES {
            return None;
        }
        let at_end = n == 0;
        // Complete lines only, but all of what is left at the end.
        let complete = if at_end {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let chunk = &buf[..complete];
        if chunk.contains(&0) {
            return None;
        }
        let mut text = std::str::from_utf8(chunk).ok()?;
        if first_chunk {
            first_chunk = false;
            if detect {
                let lead = text.trim_start_matches('\u{feff}').trim_start();
                if (lead.is_empty() && !at_end) || lead.starts_with('{') || lead.starts_with('[') {
                    return None;
                }
            }
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if reader.lines(text, &mut list, &mut issues).ok()? == Lines::NotPlain {
            return None;
        }
        if at_end {
            break;
        }
        buf.drain(..complete);
    }
    list.issues = issues.list;
    Some(list)
}

// ---------------------------------------------------------------------------------------------
// CSV

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

fn header_columns(line: &str) -> Option<Columns> {
    let fields: Vec<String> = line
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    columns_of(&fields)
}

pub fn columns_of(fields: &[String]) -> Option<Columns> {
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
pub fn blank_comment_lines(text: &str) -> String {
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

fn parse_csv(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
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

pub fn csv_ports(proto: &str, port: &str) -> Option<Vec<PortSpec>> {
    let proto = proto.trim();
    let port = port.trim();
    // `tcp/443` in one column.
    if let Some((p, range)) = proto.split_once('/') {
        let (f, l) = port_range(range)?;
        return Some(specs(&proto_word(p)?, f, l));
    }
    let protos = if proto.is_empty() {
        vec![Proto::Tcp, Proto::Udp]
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

// ---------------------------------------------------------------------------------------------
// iptables-save

/// Splits a shell-quoted line into words with their columns.
fn shell_words(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    for (col, c) in line.chars().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                start.get_or_insert(col);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    out.push((s + 1, std::mem::take(&mut current)));
                }
            }
            (None, c) => {
                start.get_or_insert(col);
                current.push(c);
            }
        }
    }
    if let Some(s) = start {
        out.push((s + 1, current));
    }
    out
}

fn parse_iptables(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let path = list.path.clone();
    let ipv6 = text.contains("ip6tables-save")
        || numbered_lines(text).any(|(_, l)| {
            l.starts_with("-A ")
                && shell_words(l)
                    .windows(2)
                    .any(|w| matches!(w[0].1.as_str(), "-d" | "-s") && w[1].1.contains(':'))
        });
    list.layout.ipv6 = ipv6;
    let everything = if ipv6 {
        IpSet::from_nets(&["::/0".parse().expect("literal")])
    } else {
        IpSet::from_nets(&["0.0.0.0/0".parse().expect("literal")])
    };
    let mut table = "filter".to_owned();
    for (number, line) in numbered_lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('*') {
            table = name.to_owned();
            continue;
        }
        if trimmed == "COMMIT" {
            if table == "filter" {
                list.layout.commit_line = Some(number);
            }
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(policy) = trimmed.strip_prefix(':') {
            // `:OUTPUT ACCEPT [0:0]`: an accepting default opens everything in that direction.
            let mut words = policy.split_whitespace();
            let (chain, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let direction = match chain {
                "OUTPUT" | "FORWARD" => Some(Direction::Outbound),
                "INPUT" => Some(Direction::Inbound),
                _ => None,
            };
            if let (Some(direction), "ACCEPT") = (direction, target) {
                list.entries.push(CidrEntry {
                    span: Span::new(&path, number, 1),
                    text: format!("{chain} policy ACCEPT"),
                    space: everything.clone(),
                    ports: all_ports(),
                    direction,
                });
            }
            continue;
        }
        let words = shell_words(line);
        if words.first().map(|w| w.1.as_str()) != Some("-A") {
            issues.push(Issue::malformed(
                Span::new(&path, number, 1),
                trimmed,
                "an iptables-save line: *table, :CHAIN POLICY, -A CHAIN ..., COMMIT or # comment",
            ))?;
            continue;
        }
        parse_iptables_rule(&words, &path, number, &everything, list, issues)?;
    }
    Ok(())
}

fn parse_iptables_rule(
    words: &[(usize, String)],
    path: &Path,
    number: usize,
    everything: &IpSet,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    let Some((_, chain)) = words.get(1) else {
        return issues.push(Issue::malformed(
            Span::new(path, number, 1),
            "-A",
            "-A CHAIN followed by matches",
        ));
    };
    let direction = if chain == "INPUT" {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let mut addresses: Option<(usize, String)> = None;
    let mut protos = vec![Proto::Tcp, Proto::Udp];
    let mut port_ranges: Vec<(u16, u16)> = Vec::new();
    let mut target = None;
    let mut negated = false;
    let mut unusable: Option<String> = None;
    let mut i = 2;
    while i < words.len() {
        let (col, word) = (&words[i].0, words[i].1.as_str());
        let value = words.get(i + 1).map(|w| (w.0, w.1.as_str()));
        i += 1;
        if word == "!" {
            negated = true;
            continue;
        }
        let takes_value = !matches!(word, "--syn" | "-f" | "--fragment");
        let (vcol, v) = match value {
            Some(v) if takes_value => v,
            _ => (*col, ""),
        };
        let was_negated = std::mem::take(&mut negated);
        match word {
            "-d" | "--destination" | "--dst" if direction == Direction::Outbound => {
                if was_negated {
                    unusable = Some(format!("! -d {v}: a negated destination"));
                }
                addresses = Some((vcol, v.to_owned()));
            }
            "-s" | "--source" | "--src" if direction == Direction::Inbound => {
                if was_negated {
                    unusable = Some(format!("! -s {v}: a negated source"));
                }
                addresses = Some((vcol, v.to_owned()));
            }
            "-p" | "--protocol" => match proto_word(v) {
                Some(p) if !was_negated => protos = p,
                _ => unusable = Some(format!("-p {v}: not tcp or udp")),
            },
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                if was_negated {
                    unusable = Some(format!("! {word} {v}: negated ports"));
                }
                for part in v.split(',') {
                    match port_range(part) {
                        Some(r) => port_ranges.push(r),
                        None => {
                            return issues.push(Issue::malformed(
                                Span::new(path, number, vcol),
                                v,
                                "a port, a range like 1000:2000, or a comma list of them",
                            ));
                        }
                    }
                }
            }
            // Return traffic only: not a rule that opens anything.
            "--state" | "--ctstate" if !v.split(',').any(|s| s.eq_ignore_ascii_case("NEW")) => {
                return Ok(());
            }
            "-o" | "--out-interface" | "-i" | "--in-interface" if v == "lo" => return Ok(()),
            "-j" | "--jump" => target = Some(v.to_owned()),
            _ => {}
        }
        if takes_value && value.is_some() && !v.starts_with('-') {
            i += 1;
        }
    }
    if target.as_deref() != Some("ACCEPT") {
        return Ok(());
    }
    let rule_text = words
        .iter()
        .map(|w| w.1.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(why) = unusable {
        return issues.push(Issue::unusable(
            Span::new(path, number, 1),
            &rule_text,
            format!("{why}; the audit cannot tell what this rule allows, so it is not counted"),
        ));
    }
    if direction == Direction::Outbound && list.layout.chain.is_none() {
        list.layout.chain = Some(chain.clone());
    }
    let ports = if port_ranges.is_empty() {
        specs(&protos, 1, 65535)
    } else {
        port_ranges
            .iter()
            .flat_map(|&(f, l)| specs(&protos, f, l))
            .collect()
    };
    match addresses {
        None => list.entries.push(CidrEntry {
            span: Span::new(path, number, 1),
            text: rule_text,
            space: everything.clone(),
            ports,
            direction,
        }),
        Some((col, value)) => {
            let mut part_col = col;
            for part in value.split(',') {
                let col = part_col;
                part_col += part.chars().count() + 1;
                match parse_space(part) {
                    Ok(space) => list.entries.push(CidrEntry {
                        span: Span::new(path, number, col),
                        text: part.to_owned(),
                        space,
                        ports: ports.clone(),
                        direction,
                    }),
                    Err(expected) => {
                        issues.push(Issue::malformed(
                            Span::new(path, number, col),
                            part,
                            expected,
                        ))?;
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// nft list ruleset

#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    line: usize,
    column: usize,
    text: String,
}

/// Words, braces, commas and semicolons as tokens; a newline is the token "\n"; `#` comments
/// and quoted strings are handled.
fn nft_tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (number, line) in numbered_lines(text) {
        let mut current = String::new();
        let mut start = 0;
        let mut quoted = false;
        let flush = |current: &mut String, start: usize, out: &mut Vec<Token>| {
            if !current.is_empty() {
                out.push(Token {
                    line: number,
                    column: start + 1,
                    text: std::mem::take(current),
                });
            }
        };
        for (col, c) in line.chars().enumerate() {
            if quoted {
                current.push(c);
                if c == '"' {
                    quoted = false;
                }
                continue;
            }
            match c {
                '#' => break,
                '"' => {
                    if current.is_empty() {
                        start = col;
                    }
                    current.push(c);
                    quoted = true;
                }
                '{' | '}' | ',' | ';' => {
                    flush(&mut current, start, &mut out);
                    out.push(Token {
                        line: number,
                        column: col + 1,
                        text: c.to_string(),
                    });
                }
                c if c.is_whitespace() => flush(&mut current, start, &mut out),
                c => {
                    if current.is_empty() {
                        start = col;
                    }
                    current.push(c);
                }
            }
        }
        flush(&mut current, start, &mut out);
        out.push(Token {
            line: number,
            column: line.chars().count() + 1,
            text: "\n".to_owned(),
        });
    }
    out
}

/// Statements of a block: token runs split at newlines and `;` outside braces. Nested blocks
/// (`set x { ... }`, `chain y { ... }`) stay inside their statement.
fn statements(tokens: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            "\n" | ";" if depth == 0 => {
                if i > start {
                    out.push(&tokens[start..i]);
                }
                start = i + 1;
                continue;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

/// The tokens between the first `{` of `tokens` and its matching `}`.
fn block(tokens: &[Token]) -> Option<&[Token]> {
    let open = tokens.iter().position(|t| t.text == "{")?;
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(&tokens[open + 1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Values of a `{ a, b }` list or a single value, without separators and newlines.
fn values(tokens: &[Token]) -> Vec<&Token> {
    tokens
        .iter()
        .filter(|t| !matches!(t.text.as_str(), "{" | "}" | "," | "\n" | ";"))
        .collect()
}

/// The value after position `i`: a braced list (its tokens) or one token.
fn value_at(tokens: &[Token], i: usize) -> (&[Token], usize) {
    match tokens.get(i) {
        Some(t) if t.text == "{" => {
            let inner = block(&tokens[i..]).unwrap_or(&[]);
            (inner, i + inner.len() + 2)
        }
        Some(_) => (&tokens[i..=i], i + 1),
        None => (&[], i),
    }
}

fn parse_nft(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let path = list.path.clone();
    let tokens = nft_tokens(text);
    for statement in statements(&tokens) {
        let words: Vec<&str> = statement.iter().map(|t| t.text.as_str()).collect();
        match words.as_slice() {
            ["table", family, name, "{", ..] => {
                let body = block(statement).unwrap_or(&[]);
                parse_nft_table(family, name, body, &path, list, issues)?;
            }
            ["table", ..] => {
                issues.push(Issue::malformed(
                    Span::new(&path, statement[0].line, statement[0].column),
                    &words.join(" "),
                    "table FAMILY NAME {",
                ))?;
            }
            _ => {
                let t = &statement[0];
                issues.push(Issue::malformed(
                    Span::new(&path, t.line, t.column),
                    &t.text,
                    "`table FAMILY NAME { ... }` as `nft list ruleset` prints it",
                ))?;
            }
        }
    }
    Ok(())
}

fn parse_nft_table(
    family: &str,
    table: &str,
    body: &[Token],
    path: &Path,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    // Named sets first, so rules can refer to them wherever they are.
    let mut sets: HashMap<String, Vec<Token>> = HashMap::new();
    for statement in statements(body) {
        if let [kw, name, open, ..] = statement {
            if kw.text == "set" && open.text == "{" {
                let inner = block(statement).unwrap_or(&[]);
                let elements = statements(inner)
                    .into_iter()
                    .find(|s| s.first().is_some_and(|t| t.text == "elements"))
                    .map(|s| {
                        values(s.get(2..).unwrap_or(&[]))
                            .into_iter()
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                sets.insert(name.text.clone(), elements);
            }
        }
    }
    for statement in statements(body) {
        let [kw, name, open, ..] = statement else {
            continue;
        };
        if kw.text != "chain" || open.text != "{" {
            continue;
        }
        let inner = block(statement).unwrap_or(&[]);
        let mut direction = Direction::Outbound;
        let mut filter_hook = false;
        for rule in statements(inner) {
            let words: Vec<&str> = rule.iter().map(|t| t.text.as_str()).collect();
            if words.first() == Some(&"type") {
                filter_hook = words.get(1) == Some(&"filter");
                match words
                    .iter()
                    .position(|w| *w == "hook")
                    .map(|i| words.get(i + 1))
                {
                    Some(Some(&"input")) => direction = Direction::Inbound,
                    Some(Some(&("output" | "forward"))) if list.layout.nft_table.is_none() => {
                        list.layout.nft_table = Some((family.to_owned(), table.to_owned()));
                        list.layout.chain = Some(name.text.clone());
                    }
                    _ => {}
                }
                continue;
            }
            if words.first() == Some(&"policy") {
                if filter_hook && words.get(1) == Some(&"accept") {
                    let everything = family_space(family, None);
                    list.entries.push(CidrEntry {
                        span: Span::new(path, rule[0].line, rule[0].column),
                        text: format!("chain {} policy accept", name.text),
                        space: everything,
                        ports: all_ports(),
                        direction,
                    });
                }
                continue;
            }
            nft_rule(rule, family, direction, &sets, path, list, issues)?;
        }
    }
    Ok(())
}

/// Everything of a table family: `ip` is IPv4, `ip6` IPv6, `inet` both.
fn family_space(family: &str, only: Option<bool>) -> IpSet {
    let v4: IpNet = "0.0.0.0/0".parse().expect("literal");
    let v6: IpNet = "::/0".parse().expect("literal");
    match (family, only) {
        (_, Some(false)) | ("ip", None) => IpSet::from_nets(&[v4]),
        (_, Some(true)) | ("ip6", None) => IpSet::from_nets(&[v6]),
        _ => IpSet::from_nets(&[v4, v6]),
    }
}

fn nft_rule(
    rule: &[Token],
    family: &str,
    direction: Direction,
    sets: &HashMap<String, Vec<Token>>,
    path: &Path,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    let words: Vec<&str> = rule.iter().map(|t| t.text.as_str()).collect();
    if !words.contains(&"accept") {
        return Ok(());
    }
    let rule_text = words.join(" ").replace(" ,", ",");
    let span = Span::new(path, rule[0].line, rule[0].column);
    let addr_key = match direction {
        Direction::Outbound => "daddr",
        Direction::Inbound => "saddr",
    };
    let mut addresses: Vec<Token> = Vec::new();
    let mut family_only: Option<bool> = None;
    let mut protos = vec![Proto::Tcp, Proto::Udp];
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    let mut i = 0;
    while i < rule.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        let negated = words.get(i + 2) == Some(&"!=");
        let value_start = if negated { i + 3 } else { i + 2 };
        match (w, next) {
            ("ct", Some("state")) => {
                let (v, end) = value_at(rule, i + 2);
                if !values(v).iter().any(|t| t.text == "new") {
                    return Ok(());
                }
                i = end;
                continue;
            }
            ("iifname" | "oifname" | "iif" | "oif", Some(v)) if v.trim_matches('"') == "lo" => {
                return Ok(());
            }
            ("ip" | "ip6", Some(key)) if key == addr_key => {
                if negated {
                    return issues.push(Issue::unusable(
                        span,
                        &rule_text,
                        "a negated address match; the audit cannot tell what it allows, so it is not counted",
                    ));
                }
                family_only = Some(w == "ip6");
                let (v, end) = value_at(rule, value_start);
                for t in values(v) {
                    match t.text.strip_prefix('@') {
                        Some(set) => match sets.get(set) {
                            Some(elements) => addresses.extend(elements.iter().cloned()),
                            None => {
                                return issues.push(Issue::malformed(
                                    Span::new(path, t.line, t.column),
                                    &t.text,
                                    "a set defined in the same table",
                                ));
                            }
                        },
                        None => addresses.push(t.clone()),
                    }
                }
                i = end;
                continue;
            }
            ("tcp" | "udp" | "th", Some("dport")) => {
                if negated {
                    return issues.push(Issue::unusable(
                        span,
                        &rule_text,
                        "negated ports; the audit cannot tell what they allow, so the rule is not counted",
                    ));
                }
                protos = proto_word(if w == "th" { "any" } else { w }).unwrap_or_default();
                let (v, end) = value_at(rule, value_start);
                for t in values(v) {
                    let refs: Vec<&Token> = match t.text.strip_prefix('@') {
                        Some(set) => sets
                            .get(set)
                            .map(|e| e.iter().collect())
                            .unwrap_or_default(),
                        None => vec![t],
                    };
                    for t in refs {
                        match port_range(&t.text) {
                            Some(r) => ranges.push(r),
                            None => {
                                return issues.push(Issue::malformed(
                                    Span::new(path, t.line, t.column),
                                    &t.text,
                                    "a port or a range like 49152-65535",
                                ));
                            }
                        }
                    }
                }
                i = end;
                continue;
            }
            ("meta", Some("l4proto")) | ("ip", Some("protocol")) | ("ip6", Some("nexthdr")) => {
                let (v, end) = value_at(rule, i + 2);
                protos = values(v)
                    .iter()
                    .filter_map(|t| proto_word(&t.text))
                    .flatten()
                    .collect();
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if protos.is_empty() {
        return Ok(());
    }
    let ports: Vec<PortSpec> = if ranges.is_empty() {
        specs(&protos, 1, 65535)
    } else {
        ranges
            .iter()
            .flat_map(|&(f, l)| specs(&protos, f, l))
            .collect()
    };
    if addresses.is_empty() {
        list.entries.push(CidrEntry {
            span,
            text: rule_text,
            space: family_space(family, family_only),
            ports,
            direction,
        });
        return Ok(());
    }
    for t in addresses {
        let t_span = Span::new(path, t.line, t.column);
        match parse_space(&t.text) {
            Ok(space) => list.entries.push(CidrEntry {
                span: t_span,
                text: t.text.clone(),
                space,
                ports: ports.clone(),
                direction,
            }),
            Err(expected) => issues.push(Issue::malformed(t_span, &t.text, expected))?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// aws ec2 describe-security-groups

#[derive(Deserialize)]
#[serde(untagged)]
enum SgDocument {
    Described {
        #[serde(rename = "SecurityGroups")]
        groups: Vec<SecurityGroup>,
    },
    List(Vec<SecurityGroup>),
    One(SecurityGroup),
}

#[derive(Deserialize)]
struct SecurityGroup {
    #[serde(rename = "GroupId", default)]
    group_id: Option<String>,
    #[serde(rename = "IpPermissionsEgress", default)]
    egress: Vec<Permission>,
    #[serde(rename = "IpPermissions", default)]
    ingress: Vec<Permission>,
}

#[derive(Deserialize)]
struct Permission {
    #[serde(rename = "IpProtocol")]
    protocol: String,
    #[serde(rename = "FromPort", default)]
    from: Option<i32>,
    #[serde(rename = "ToPort", default)]
    to: Option<i32>,
    #[serde(rename = "IpRanges", default)]
    v4: Vec<V4Range>,
    #[serde(rename = "Ipv6Ranges", default)]
    v6: Vec<V6Range>,
}

#[derive(Deserialize)]
struct V4Range {
    #[serde(rename = "CidrIp")]
    cidr: String,
}

#[derive(Deserialize)]
struct V6Range {
    #[serde(rename = "CidrIpv6")]
    cidr: String,
}

fn parse_aws_sg(text: &str, list: &mut CidrList) -> Result<()> {
    let path = list.path.clone();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Check the JSON first for a precise location; the shape second.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return Err(Error::bad_input(
            Location::at(&path, e.line(), Some(e.column())),
            format!("cannot read the security-group JSON: {e}"),
        ));
    }
    let groups = match serde_json::from_str::<SgDocument>(text) {
        Ok(SgDocument::Described { groups } | SgDocument::List(groups)) => groups,
        Ok(SgDocument::One(group)) => vec![group],
        Err(_) => {
            return Err(Error::bad_input(
                Location::file(&path),
                "expected the output of `aws ec2 describe-security-groups`: {\"SecurityGroups\": [{\"IpPermissionsEgress\": [{\"IpProtocol\", \"FromPort\", \"ToPort\", \"IpRanges\": [{\"CidrIp\"}]}]}]}",
            ));
        }
    };
    list.layout.group_id = groups.iter().find_map(|g| g.group_id.clone());
    // serde gives no positions of values: one pass finds every `"CidrIp": "..."` value, and each
    // CIDR read takes the next place its text appears (values come in document order).
    let mut places: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for key in ["\"CidrIp\"", "\"CidrIpv6\""] {
        for (at, _) in text.match_indices(key) {
            let rest = text[at + key.len()..].trim_start();
            let Some(value) = rest
                .strip_prefix(':')
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('"'))
            else {
                continue;
            };
            if let Some(end) = value.find('"') {
                let offset = text.len() - value.len();
                places.entry(&value[..end]).or_default().push_back(offset);
            }
        }
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut locate = |cidr: &str| -> (usize, usize) {
        let Some(offset) = places
            .get_mut(cidr)
            .and_then(std::collections::VecDeque::pop_front)
        else {
            return (1, 1);
        };
        let line = line_starts.partition_point(|&start| start <= offset);
        let start = line_starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    };
    for group in &groups {
        for (direction, perms) in [
            (Direction::Outbound, &group.egress),
            (Direction::Inbound, &group.ingress),
        ] {
            for perm in perms {
                let protos = match proto_word(&perm.protocol) {
                    Some(p) => p,
                    None => {
                        // ICMP and other protocols carry no Connect traffic; still consume
                        // their positions so later lines stay right.
                        for r in &perm.v4 {
                            locate(&r.cidr);
                        }
                        for r in &perm.v6 {
                            locate(&r.cidr);
                        }
                        continue;
                    }
                };
                let all = perm.protocol == "-1" || perm.from.is_none_or(|f| f < 0);
                let ports = if all {
                    specs(&protos, 1, 65535)
                } else {
                    let f = u16::try_from(perm.from.unwrap_or(1)).unwrap_or(1).max(1);
                    let l = u16::try_from(perm.to.unwrap_or(65535)).unwrap_or(65535);
                    specs(&protos, f, l.max(f))
                };
                let cidrs = perm
                    .v4
                    .iter()
                    .map(|r| &r.cidr)
                    .chain(perm.v6.iter().map(|r| &r.cidr));
                for cidr in cidrs {
                    let (line, column) = locate(cidr);
                    let span = Span::new(&path, line, column);
                    let space = parse_net(cidr).map_err(|expected| {
                        Error::bad_input(
                            span.location(),
                            format!("cannot read {cidr:?}: expected {expected}"),
                        )
                    })?;
                    list.entries.push(CidrEntry {
                        span,
                        text: cidr.clone(),
                        space: IpSet::from_nets(&[space]),
                        ports: ports.clone(),
                        direction,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, format: CidrFormat) -> CidrList {
        CidrList::parse(text, Path::new("fw"), Some(format), Strictness::Strict)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_borrowed_space_holds_what_its_set_holds() {
        let list = parse(
            "10.0.0.0/8\n192.0.2.7\n2001:db8::/32\n198.51.100.1-198.51.100.9\n",
            CidrFormat::Plain,
        );
        for addr in [
            "10.1.2.3",
            "11.0.0.0",
            "192.0.2.7",
            "192.0.2.8",
            "2001:db8::1",
            "2001:db9::",
            "198.51.100.9",
            "198.51.100.10",
        ] {
            let ip: IpAddr = addr.parse().unwrap();
            for i in 0..list.entries.len() {
                let space = list.entries.space(i);
                assert_eq!(
                    space.contains(ip),
                    space.to_set().contains(ip),
                    "{addr} in entry {i}"
                );
            }
        }
        assert!(
            list.entries
                .space(0)
                .contains("10.255.255.255".parse().unwrap())
        );
    }

    /// `line:col text ports direction` for each entry.
    fn summary(list: &CidrList) -> Vec<String> {
        list.entries
            .iter()
            .map(|e| {
                let dir = if e.direction == Direction::Inbound {
                    " in"
                } else {
                    ""
                };
                format!(
                    "{}:{} {} {}{dir}",
                    e.span.line,
                    e.span.column,
                    e.space
                        .to_cidrs()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("+"),
                    e.ports_label()
                )
            })
            .collect()
    }

    #[test]
    fn plain_lines() {
        let text = "# outbound to AMAZON_CONNECT on udp/3478\n15.193.0.0/19 udp/3478\n18.184.2.130/25 udp 3478  # host bits\n10.0.0.1\n10.0.0.4-10.0.0.7 tcp/443,udp/3478\n2600:f0f2:7100::/40 3478/udp\n15.193.0.0/19 udp/49152-65535 inbound\n1.2.3.0/24 tcp\n";
        let list = parse(text, CidrFormat::Plain);
        assert_eq!(
            summary(&list),
            [
                "2:1 15.193.0.0/19 udp/3478",
                "3:1 18.184.2.128/25 udp/3478",
                "4:1 10.0.0.1/32 any port",
                "5:1 10.0.0.4/30 tcp/443,udp/3478",
                "6:1 2600:f0f2:7100::/40 udp/3478",
                "7:1 15.193.0.0/19 udp/49152-65535 in",
                "8:1 1.2.3.0/24 tcp/1-65535",
            ]
        );
    }

    #[test]
    fn plain_errors_name_the_column_and_what_was_expected() {
        for (text, at, what) in [
            ("15.193.0.0/33\n", "fw:1:1", "CIDR"),
            ("15.193.0.0/19 udp/x\n", "fw:1:15", "udp/3478"),
            ("15.193.0.0/19 sctp 3\n", "fw:1:15", "udp/3478"),
            ("ok.example\n", "fw:1:1", "range"),
            ("10.0.0.9-10.0.0.1\n", "fw:1:1", "lower to the higher"),
        ] {
            let err = CidrList::parse(
                text,
                Path::new("fw"),
                Some(CidrFormat::Plain),
                Strictness::Strict,
            )
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(at) && err.contains(what), "{text:?}: {err}");
        }
        let list = CidrList::parse(
            "x\n15.193.0.0/19 udp/3478\n",
            Path::new("fw"),
            Some(CidrFormat::Plain),
            Strictness::Lenient,
        )
        .unwrap();
        assert_eq!((list.entries.len(), list.issues.len()), (1, 1));
    }

    #[test]
    fn csv_with_headers() {
        let text = "Destination,Protocol,Port,Comment\n15.193.0.0/19,UDP,3478,connect media\n\"3.64.0.0/12\",tcp,443,\n# a comment\n1.1.1.1,any,,dns\n";
        let list = parse(text, CidrFormat::Csv);
        assert_eq!(
            summary(&list),
            [
                "2:1 15.193.0.0/19 udp/3478",
                "3:2 3.64.0.0/12 tcp/443",
                "5:1 1.1.1.1/32 any port",
            ]
        );
        let err = CidrList::parse(
            "name,value\na,b\n",
            Path::new("fw"),
            Some(CidrFormat::Csv),
            Strictness::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("column named cidr"), "{err}");
        let err = CidrList::parse(
            "cidr,port\n1.2.3.4,http\n",
            Path::new("fw"),
            Some(CidrFormat::Csv),
            Strictness::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("fw:2:9"), "{err}");
    }

    #[test]
    fn iptables_save() {
        let text = "# Generated by iptables-save v1.8.9\n*nat\n:PREROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A OUTPUT -d 15.193.0.0/19 -p udp -m udp --dport 3478 -j ACCEPT\n-A OUTPUT -d 3.64.0.0/12,18.184.0.0/15 -p tcp -m multiport --dports 443,8443 -m comment --comment \"connect api\" -j ACCEPT\n-A OUTPUT -d 10.0.0.0/255.0.0.0 -j ACCEPT\n-A OUTPUT -d 1.2.3.4/32 -p tcp --dport 22 -j DROP\n-A OUTPUT ! -d 10.0.0.0/8 -p tcp -j ACCEPT\n-A INPUT -s 15.193.0.0/19 -p udp -m udp --dport 49152:65535 -j ACCEPT\nCOMMIT\n";
        let list = CidrList::parse(
            text,
            Path::new("fw"),
            Some(CidrFormat::Iptables),
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(
            summary(&list),
            [
                "12:14 15.193.0.0/19 udp/3478",
                "13:14 3.64.0.0/12 tcp/443,tcp/8443",
                "13:26 18.184.0.0/15 tcp/443,tcp/8443",
                "14:14 10.0.0.0/8 any port",
                "17:13 15.193.0.0/19 udp/49152-65535 in",
            ]
        );
        assert_eq!(list.issues.len(), 1, "the negated rule");
        assert_eq!(list.layout.commit_line, Some(18));
        assert_eq!(list.layout.chain.as_deref(), Some("OUTPUT"));
        let open = parse(
            "*filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
            CidrFormat::Iptables,
        );
        assert_eq!(summary(&open), ["2:1 0.0.0.0/0 any port"]);
        let fixed = list.with_additions(
            text,
            &[Addition {
                direction: Direction::Outbound,
                port: PortSpec::single(Proto::Udp, 3478),
                nets: vec![
                    "18.184.2.128/25".parse().unwrap(),
                    "2600:f0f2:7100::/40".parse().unwrap(),
                ],
            }],
        );
        let lines: Vec<&str> = fixed.lines().collect();
        assert_eq!(
            lines[18],
            "-A OUTPUT -d 18.184.2.128/25 -p udp -m udp --dport 3478 -j ACCEPT"
        );
        assert!(lines[19].starts_with("# for ip6tables-restore: -A OUTPUT -d 2600:f0f2:7100::/40"));
        assert_eq!(lines[20], "COMMIT");
    }

    #[test]
    fn nft_ruleset() {
        let text = r#"table inet filter {
	set connect_media {
		type ipv4_addr
		flags interval
		elements = { 15.193.0.0/19, 18.184.2.128/25,
			     35.158.127.64/26 }
	}

	chain output {
		type filter hook output priority filter; policy drop;
		oifname "lo" accept
		ct state established,related accept
		ip daddr @connect_media udp dport 3478 counter packets 10 bytes 1200 accept
		ip6 daddr 2600:f0f2:7100::/40 udp dport 3478 accept
		ip daddr { 3.64.0.0/12, 18.184.0.0/15 } tcp dport { 443, 8443 } accept comment "connect"
		ip daddr != 10.0.0.0/8 accept
		ip daddr 192.0.2.1 tcp dport 22 drop
	}

	chain input {
		type filter hook input priority filter; policy accept;
	}
}
"#;
        let list = parse(text, CidrFormat::Nft);
        assert_eq!(
            summary(&list),
            [
                "5:16 15.193.0.0/19 udp/3478",
                "5:31 18.184.2.128/25 udp/3478",
                "6:9 35.158.127.64/26 udp/3478",
                "14:13 2600:f0f2:7100::/40 udp/3478",
                "15:14 3.64.0.0/12 tcp/443,tcp/8443",
                "15:27 18.184.0.0/15 tcp/443,tcp/8443",
                "21:43 0.0.0.0/0+::/0 any port in",
            ]
        );
        assert_eq!(list.issues.len(), 1);
        assert_eq!(
            list.layout.nft_table,
            Some(("inet".into(), "filter".into()))
        );
        let lines = list.addition_lines(&[Addition {
            direction: Direction::Outbound,
            port: PortSpec::single(Proto::Udp, 3478),
            nets: vec!["99.77.128.0/18".parse().unwrap()],
        }]);
        assert_eq!(
            lines,
            ["add rule inet filter output ip daddr { 99.77.128.0/18 } udp dport 3478 accept"]
        );
        assert_eq!(CidrFormat::detect(text), CidrFormat::Nft);
    }

    #[test]
    fn security_groups() {
        let text = r#"{
    "SecurityGroups": [
        {
            "GroupId": "sg-0123456789abcdef0",
            "IpPermissions": [],
            "IpPermissionsEgress": [
                {
                    "IpProtocol": "udp",
                    "FromPort": 3478,
                    "ToPort": 3478,
                    "IpRanges": [{"CidrIp": "15.193.0.0/19", "Description": "Connect media"}],
                    "Ipv6Ranges": [{"CidrIpv6": "2600:f0f2:7100::/40"}]
                },
                {
                    "IpProtocol": "-1",
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    "Ipv6Ranges": []
                },
                {
                    "IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                    "IpRanges": [{"CidrIp": "15.193.0.0/19"}]
                },
                {
                    "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                    "IpRanges": [{"CidrIp": "15.193.0.0/19"}]
                }
            ]
        }
    ]
}
"#;
        let list = parse(text, CidrFormat::AwsSg);
        assert_eq!(
            summary(&list),
            [
                "11:46 15.193.0.0/19 udp/3478",
                "12:50 2600:f0f2:7100::/40 udp/3478",
                "16:46 10.0.0.0/8 any port",
                "25:46 15.193.0.0/19 tcp/443",
            ]
        );
        assert_eq!(
            list.layout.group_id.as_deref(),
            Some("sg-0123456789abcdef0")
        );
        let fixed = list.with_additions(
            text,
            &[Addition {
                direction: Direction::Outbound,
                port: PortSpec::single(Proto::Udp, 3478),
                nets: vec!["18.184.2.128/25".parse().unwrap()],
            }],
        );
        let again = parse(&fixed, CidrFormat::AwsSg);
        assert_eq!(again.entries.len(), 5);
        assert_eq!(CidrFormat::detect(text), CidrFormat::AwsSg);
        let err = CidrList::parse(
            "{\"SecurityGroups\": [}",
            Path::new("sg.json"),
            None,
            Strictness::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("sg.json:1:"), "{err}");
    }

    proptest::proptest! {
        /// Whatever `endpoints --format cidrs` can print reads back as the same space and port.
        #[test]
        fn plain_lines_read_back(
            rows in proptest::collection::vec(
                (proptest::prelude::any::<u32>(), 8u8..=32, proptest::prelude::any::<bool>(), 1u16.., proptest::prelude::any::<bool>()),
                1..20,
            )
        ) {
            let mut text = String::from("# generated\n");
            let mut expected = Vec::new();
            for (addr, len, udp, port, inbound) in rows {
                let net = IpNet::new(IpAddr::from(std::net::Ipv4Addr::from(addr)), len).unwrap().trunc();
                let spec = PortSpec::single(if udp { Proto::Udp } else { Proto::Tcp }, port);
                let dir = if inbound { " inbound" } else { "" };
                text.push_str(&format!("{net} {spec}{dir}\n"));
                expected.push((net, spec, inbound));
            }
            let list = CidrList::parse(&text, Path::new("p"), None, Strictness::Strict).unwrap();
            proptest::prop_assert_eq!(list.format, CidrFormat::Plain);
            proptest::prop_assert_eq!(list.entries.len(), expected.len());
            for (i, (entry, (net, spec, inbound))) in list.entries.iter().zip(expected).enumerate() {
                proptest::prop_assert_eq!(entry.space.to_cidrs(), vec![net]);
                proptest::prop_assert_eq!(&entry.ports, &vec![spec]);
                proptest::prop_assert_eq!(entry.direction == Direction::Inbound, inbound);
                proptest::prop_assert_eq!(entry.span.line, i + 2);
            }
        }
    }

    /// Address tokens as people write them: canonical, upper case, leading zeros, every way to
    /// compress zeros, embedded IPv4, prefixes with and without host bits, and near misses.
    fn token_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let v4 = (
            any::<[u8; 4]>(),
            proptest::option::of(0u8..=34),
            any::<u8>(),
        )
            .prop_map(|(o, len, style)| {
                let mut t = if style % 7 == 0 {
                    format!("{:03}.{}.{}.{}", o[0], o[1], o[2], o[3])
                } else {
                    format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
                };
                if let Some(len) = len {
                    t.push_str(&if style % 5 == 0 {
                        format!("/0{len}")
                    } else {
                        format!("/{len}")
                    });
                }
                t
            });
        let v6 = (
            proptest::collection::vec(prop_oneof![Just(0u16), Just(1u16), any::<u16>()], 8),
            any::<u8>(),
            0usize..8,
            0usize..9,
            proptest::option::of(0u8..=130),
        )
            .prop_map(|(groups, style, from, count, len)| {
                let hex = |g: u16| match style % 4 {
                    0 => format!("{g:x}"),
                    1 => format!("{g:X}"),
                    2 => format!("{g:04x}"),
                    _ => format!("{g:x}"),
                };
                let mut t = if style % 3 == 0 {
                    // Zeros compressed somewhere (whether they are zeros or not: near misses).
                    let to = (from + count).min(8);
                    let head: Vec<String> = groups[..from].iter().map(|&g| hex(g)).collect();
                    let tail: Vec<String> = groups[to..].iter().map(|&g| hex(g)).collect();
                    format!("{}::{}", head.join(":"), tail.join(":"))
                } else if style % 11 == 1 {
                    format!(
                        "::ffff:{}.{}.{}.{}",
                        groups[0] >> 8,
                        groups[0] & 255,
                        groups[1] >> 8,
                        groups[1] & 255
                    )
                } else if style % 13 == 2 {
                    std::net::Ipv6Addr::from(
                        groups.iter().fold(0u128, |v, &g| v << 16 | u128::from(g)),
                    )
                    .to_string()
                } else {
                    groups.iter().map(|&g| hex(g)).collect::<Vec<_>>().join(":")
                };
                if let Some(len) = len {
                    t.push_str(&format!("/{len}"));
                }
                t
            });
        let junk = "[0-9a-fA-F:./]{0,24}";
        prop_oneof![v4, v6, junk]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The fast reader takes only what the general one reads the same way, and says a text
        /// prints as itself only when it does.
        #[test]
        fn fast_addresses_agree_with_the_general_reader(token in token_strategy()) {
            if let Some((parsed, printable)) = fast_space(token.as_bytes()) {
                let general = parse_space(&token);
                proptest::prop_assert!(general.is_ok(), "{token}: {general:?}");
                let set = general.unwrap();
                let spans = match parsed {
                    Parsed::V4(lo, hi) => (set.v4.spans().to_vec() == [(lo, hi)]) && set.v6.is_empty(),
                    Parsed::V6(lo, hi) => (set.v6.spans().to_vec() == [(lo, hi)]) && set.v4.is_empty(),
                };
                proptest::prop_assert!(spans, "{token}: {parsed:?} vs {set:?}");
                let mut entries = Entries::new(Path::new("p"));
                let ports = entries.intern_ports(&[]);
                entries.push_parsed((1, 1), parsed, printable, &token, ports, Direction::Outbound);
                proptest::prop_assert_eq!(entries.text(0), token.as_str());
            }
        }

        /// Whole lines: the fast reader, when it takes a line, adds what the general one adds.
        #[test]
        fn fast_lines_agree_with_the_general_reader(
            token in token_strategy(),
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "tcp/443", "udp/3478", "UDP/49152-65535", "tcp:443", "tcp", "udp", "3478",
                    "0443", "0", "443-80", "+443", "inbound", "IN", "egress", "any", "6/17",
                    "3478/udp", "#", "# c", ",", " ", "\t", "\r", "\u{a0}", "\"x\"", "tcp/",
                    "tcp/70000", "udp 1-2", "in#x",
                ]),
                0..5,
            ),
            indent in proptest::sample::select(vec!["", " ", "\t", ", "]),
        ) {
            let line = format!("{indent}{token} {}", words.join(" "));
            let mut fast = CidrList::parse("", Path::new("p"), Some(CidrFormat::Plain), Strictness::Lenient).unwrap();
            let mut general = fast.clone();
            let mut state = FastState::default();
            let text = format!("{line}\nnext");
            if let Some(next) = fast_plain_line(&mut fast.entries, &mut state, 7, &text, 0) {
                proptest::prop_assert_eq!(next, line.len() + 1);
                let mut issues = Issues::new(Strictness::Lenient);
                plain_line_general(&mut general, &mut issues, 7, &line).unwrap();
                proptest::prop_assert!(issues.list.is_empty(), "{line:?}: {:?}", issues.list);
                let show = |l: &CidrList| l.entries.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>();
                proptest::prop_assert_eq!(show(&fast), show(&general), "{:?}", line);
            }
        }
    }

    proptest::proptest! {
        /// Whole lists, where the fast reader also reuses what it read of the line before.
        #[test]
        fn fast_and_general_readers_agree_on_lists(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "10.0.0.0/8", "10.1.2.3", "2600:f0f2::/32", "2600:F0F2::1", "1.2.3.4-1.2.3.9",
                        "x", "", "# c", "10.0.0.0/255.0.0.0",
                    ]),
                    proptest::sample::select(vec![
                        " tcp/443", " tcp/443 ", " udp/3478 inbound", "\ttcp/443", " tcp/443 # x",
                        " tcp/443,udp/3478", "", " tcp", " udp 3478", " tcp/44", " tcp/4430", ", in",
                    ]),
                ),
                1..30,
            ),
        ) {
            let text: String = lines.iter().map(|(a, b)| format!("{a}{b}\n")).collect();
            let fast = CidrList::parse(&text, Path::new("p"), Some(CidrFormat::Plain), Strictness::Lenient).unwrap();
            let mut general = CidrList::parse("", Path::new("p"), Some(CidrFormat::Plain), Strictness::Lenient).unwrap();
            let mut issues = Issues::new(Strictness::Lenient);
            for (number, line) in numbered_lines(&text) {
                plain_line_general(&mut general, &mut issues, number, line).unwrap();
            }
            let show = |l: &CidrList| l.entries.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>();
            proptest::prop_assert_eq!(show(&fast), show(&general), "{:?}", text);
            proptest::prop_assert_eq!(format!("{:?}", fast.issues), format!("{:?}", issues.list));
        }
    }

    #[test]
    fn streamed_and_whole_reads_agree() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("\u{feff}# list\r\n");
        for i in 0..40_000u32 {
            let line = match i % 9 {
                0 => format!("10.{}.{}.0/24 tcp/443", i >> 8 & 255, i & 255),
                1 => format!("2600:f0f2:{:x}::/48 udp/3478 inbound", i),
                2 => format!("  10.0.{}.1 udp 3478 # note", i & 255),
                3 => format!("10.1.0.{}-10.1.0.255 tcp/443\r", i & 255),
                4 => "".to_owned(),
                5 => format!("2600:F0F2:{:X}::1", i),
                6 => format!("\u{a0}10.2.{}.0/24", i & 255),
                7 => format!("10.3.{}.7/24 tcp/443,udp/3478", i & 255),
                _ => format!("bad{i}"),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str("1.2.3.4/32 tcp/443");
        let path = dir.path().join("big.txt");
        std::fs::write(&path, &text).unwrap();
        let whole = CidrList::parse(&text, &path, None, Strictness::Lenient).unwrap();
        let streamed = stream_plain(&path, true, Strictness::Lenient).expect("plain");
        assert_eq!(whole.entries.len(), 31_113);
        let show = |l: &CidrList| {
            l.entries
                .iter()
                .map(|e| format!("{e:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&whole), show(&streamed));
        assert_eq!(
            format!("{:?}", whole.issues),
            format!("{:?}", streamed.issues)
        );
        // Strict reads of a malformed list, and other formats, go the general way.
        assert!(stream_plain(&path, true, Strictness::Strict).is_none());
        std::fs::write(&path, "1.2.3.4\n*filter\n").unwrap();
        assert!(stream_plain(&path, true, Strictness::Lenient).is_none());
        std::fs::write(&path, "  {\"SecurityGroups\": []}").unwrap();
        assert!(stream_plain(&path, true, Strictness::Lenient).is_none());
        std::fs::write(&path, "1.2.3.4\n5.6.7.8\0\n").unwrap();
        assert!(stream_plain(&path, true, Strictness::Lenient).is_none());
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(
            CidrFormat::detect("# x\n15.193.0.0/19 udp/3478\n"),
            CidrFormat::Plain
        );
        assert_eq!(
            CidrFormat::detect("cidr,proto,port\n1.2.3.4,udp,3478\n"),
            CidrFormat::Csv
        );
        assert_eq!(
            CidrFormat::detect("# Generated by iptables-save\n*filter\n"),
            CidrFormat::Iptables
        );
    }
}
