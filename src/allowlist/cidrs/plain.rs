//! Plain lists: one address, CIDR or range a line, optionally with a protocol and port and
//! `inbound` (what `endpoints --format cidrs` prints). The common shape of such a line is read by a
//! byte scanner, streamed from the file; anything else by the general reader.

use super::*;

const EXPECTED_PLAIN: &str = "an address, CIDR or range, then optionally a protocol and port (udp/3478, tcp 443) and `inbound`";

pub(super) fn parse_plain(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
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
pub(super) struct FastState {
    ports: Vec<PortRange>,
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
pub(super) fn plain_line_general(
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
pub(super) fn fast_plain_line(
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
            Some(p) if p.eq_ignore_ascii_case(b"tcp") => Some(Protocol::Tcp),
            Some(p) if p.eq_ignore_ascii_case(b"udp") => Some(Protocol::Udp),
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
                    ports.push(PortRange { proto, first, last });
                }
                _ => ports.push(PortRange {
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
        ports.push(PortRange { proto, first, last });
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
pub(super) fn fast_space(token: &[u8]) -> Option<(Parsed, Option<u32>)> {
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
pub(super) fn stream_plain(path: &Path, detect: bool, strictness: Strictness) -> Option<CidrList> {
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

/// The lines that add `additions` to a list of this syntax: `15.193.0.0/19 udp/3478`, with ` inbound` for returning traffic.
pub(super) fn addition_lines(additions: &[Addition]) -> Vec<String> {
    let mut out = Vec::new();
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
    out
}
