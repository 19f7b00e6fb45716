//! The two forms of AWS's `ip-ranges.json`: the published JSON, and the compact binary form that
//! the build embeds. This file is shared with `build.rs` (through `#[path]`), so it uses only `std`
//! and `serde`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// An IPv4 prefix as it appears in the file: a network address and a length, host bits clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V4Prefix(pub u32, pub u8);

/// An IPv6 prefix, likewise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V6Prefix(pub u128, pub u8);

/// Parses `a.b.c.d/len`, refusing host bits.
pub(crate) fn parse_v4(text: &str) -> Result<V4Prefix, String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("expected an IPv4 prefix like 192.0.2.0/24, found {text:?}"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("expected an IPv4 prefix like 192.0.2.0/24, found {text:?}"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("prefix length of {text:?} is not 0 to 32"))?;
    let bits = u32::from(addr);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    if bits & !mask != 0 {
        return Err(format!(
            "{text:?} has host bits set (the network is {}/{len})",
            Ipv4Addr::from(bits & mask)
        ));
    }
    Ok(V4Prefix(bits, len))
}

/// Parses `x:y::/len`, refusing host bits.
pub(crate) fn parse_v6(text: &str) -> Result<V6Prefix, String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("expected an IPv6 prefix like 2001:db8::/32, found {text:?}"))?;
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("expected an IPv6 prefix like 2001:db8::/32, found {text:?}"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 128)
        .ok_or_else(|| format!("prefix length of {text:?} is not 0 to 128"))?;
    let bits = u128::from(addr);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    if bits & !mask != 0 {
        return Err(format!(
            "{text:?} has host bits set (the network is {}/{len})",
            Ipv6Addr::from(bits & mask)
        ));
    }
    Ok(V6Prefix(bits, len))
}

impl<'de> Deserialize<'de> for V4Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_v4(&text).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for V6Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_v6(&text).map_err(de::Error::custom)
    }
}

impl fmt::Display for V4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.0), self.1)
    }
}

impl fmt::Display for V6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.0), self.1)
    }
}

/// `ip-ranges.json` as AWS publishes it. Unknown fields are ignored: AWS may add some.
#[derive(Debug, Deserialize)]
pub(crate) struct RawFile {
    #[serde(rename = "syncToken")]
    pub sync_token: String,
    #[serde(rename = "createDate")]
    pub create_date: String,
    pub prefixes: Vec<RawV4>,
    pub ipv6_prefixes: Vec<RawV6>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawV4 {
    pub ip_prefix: V4Prefix,
    pub region: String,
    pub service: String,
    pub network_border_group: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawV6 {
    pub ipv6_prefix: V6Prefix,
    pub region: String,
    pub service: String,
    pub network_border_group: String,
}

/// Checks what serde cannot: the sync token is a number and the date has AWS's shape.
pub(crate) fn validate(raw: &RawFile) -> Result<(), String> {
    if raw.sync_token.is_empty() || !raw.sync_token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "syncToken must be a decimal number of seconds, found {:?}",
            raw.sync_token
        ));
    }
    let date_ok = raw.create_date.len() == 19
        && raw.create_date.bytes().enumerate().all(|(i, b)| {
            if [4, 7, 10, 13, 16].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !date_ok {
        return Err(format!(
            "createDate must look like 2026-08-22-21-17-05, found {:?}",
            raw.create_date
        ));
    }
    if raw.prefixes.is_empty() && raw.ipv6_prefixes.is_empty() {
        return Err("the file lists no prefixes".to_owned());
    }
    Ok(())
}

/// A compact record: a prefix and three indexes into the string table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record<P> {
    pub prefix: P,
    pub service: u16,
    pub region: u16,
    pub nbg: u16,
}

/// The whole file in compact form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Compact {
    pub sync_token: String,
    pub create_date: String,
    pub strings: Vec<String>,
    pub v4: Vec<Record<V4Prefix>>,
    pub v6: Vec<Record<V6Prefix>>,
}

const MAGIC: &[u8; 4] = b"CPR1";

impl Compact {
    pub(crate) fn from_raw(raw: RawFile) -> Self {
        let mut strings: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut intern = |s: String| -> u16 {
            *index.entry(s.clone()).or_insert_with(|| {
                strings.push(s);
                u16::try_from(strings.len() - 1).expect("fewer than 65536 distinct names")
            })
        };
        let v4 = raw
            .prefixes
            .into_iter()
            .map(|p| Record {
                prefix: p.ip_prefix,
                service: intern(p.service),
                region: intern(p.region),
                nbg: intern(p.network_border_group),
            })
            .collect();
        let v6 = raw
            .ipv6_prefixes
            .into_iter()
            .map(|p| Record {
                prefix: p.ipv6_prefix,
                service: intern(p.service),
                region: intern(p.region),
                nbg: intern(p.network_border_group),
            })
            .collect();
        Self {
            sync_token: raw.sync_token,
            create_date: raw.create_date,
            strings,
            v4,
            v6,
        }
    }

    #[allow(dead_code, reason = "build.rs encodes; the program only decodes")]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.v4.len() * 11 + self.v6.len() * 23);
        out.extend_from_slice(MAGIC);
        put_str(&mut out, &self.sync_token);
        put_str(&mut out, &self.create_date);
        put_u32(&mut out, self.strings.len());
        for s in &self.strings {
            put_str(&mut out, s);
        }
        put_u32(&mut out, self.v4.len());
        for r in &self.v4 {
            out.extend_from_slice(&r.prefix.0.to_be_bytes());
            out.push(r.prefix.1);
            put_refs(&mut out, r.service, r.region, r.nbg);
        }
        put_u32(&mut out, self.v6.len());
        for r in &self.v6 {
            out.extend_from_slice(&r.prefix.0.to_be_bytes());
            out.push(r.prefix.1);
            put_refs(&mut out, r.service, r.region, r.nbg);
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return None;
        }
        let sync_token = r.string()?;
        let create_date = r.string()?;
        let n = r.u32()?;
        let strings = (0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
        let n = r.u32()?;
        let mut v4 = Vec::with_capacity(n);
        for _ in 0..n {
            let addr = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
            let len = r.take(1)?[0];
            let (service, region, nbg) = r.refs(strings.len())?;
            v4.push(Record {
                prefix: V4Prefix(addr, len),
                service,
                region,
                nbg,
            });
        }
        let n = r.u32()?;
        let mut v6 = Vec::with_capacity(n);
        for _ in 0..n {
            let addr = u128::from_be_bytes(r.take(16)?.try_into().ok()?);
            let len = r.take(1)?[0];
            let (service, region, nbg) = r.refs(strings.len())?;
            v6.push(Record {
                prefix: V6Prefix(addr, len),
                service,
                region,
                nbg,
            });
        }
        (r.pos == bytes.len()).then_some(Self {
            sync_token,
            create_date,
            strings,
            v4,
            v6,
        })
    }
}

#[allow(dead_code, reason = "build.rs encodes; the program only decodes")]
fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).expect("counts fit in u32").to_le_bytes());
}

#[allow(dead_code, reason = "build.rs encodes; the program only decodes")]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[allow(dead_code, reason = "build.rs encodes; the program only decodes")]
fn put_refs(out: &mut Vec<u8>, a: u16, b: u16, c: u16) {
    for v in [a, b, c] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u32()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn refs(&mut self, limit: usize) -> Option<(u16, u16, u16)> {
        let (a, b, c) = (self.u16()?, self.u16()?, self.u16()?);
        [a, b, c]
            .iter()
            .all(|&v| usize::from(v) < limit)
            .then_some((a, b, c))
    }
}
