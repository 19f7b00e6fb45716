//! AWS's published IP ranges: the embedded snapshot, a cached or given newer copy, lookups, the
//! address sets Connect's rules select, and diffs between two copies.

pub(crate) mod diff;
pub(crate) mod format;
pub(crate) mod lookup;
pub(crate) mod query;
pub(crate) mod set;
pub mod span_tree;
pub(crate) mod update;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use time::OffsetDateTime;

use crate::error::{Error, Location, Result};
use crate::report::RangesProvenance;
use format::{Compact, RawFile};
pub use set::IpSet;

/// The snapshot compiled into the binary (see `build.rs`).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ip-ranges.bin"));

/// AWS publishes new ranges at least this long before using them.
pub const NOTICE_DAYS: i64 = 30;

/// Where a snapshot came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Embedded,
    Cache(PathBuf),
    File(PathBuf),
}

impl Source {
    pub(crate) const fn label(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Cache(_) => "cache",
            Self::File(_) => "file",
        }
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::Embedded => None,
            Self::Cache(p) | Self::File(p) => Some(p),
        }
    }
}

/// One published prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub net: IpNet,
    service: u16,
    region: u16,
    nbg: u16,
}

/// A whole `ip-ranges.json`, indexed for lookups.
#[derive(Debug)]
pub struct Snapshot {
    pub source: Source,
    pub sync_token: String,
    pub create_date: String,
    strings: Vec<String>,
    entries: Vec<Entry>,
    index: lookup::Index,
}

impl Snapshot {
    /// The snapshot compiled into the binary.
    pub(crate) fn embedded() -> Self {
        let compact = Compact::decode(EMBEDDED).expect("the build embeds a valid snapshot");
        Self::from_compact(compact, Source::Embedded)
    }

    /// Parses an `ip-ranges.json` file, naming line and column of anything malformed.
    pub(crate) fn from_json(text: &str, source: Source) -> Result<Self> {
        let path = source
            .path()
            .map_or_else(|| PathBuf::from("<ip-ranges>"), Path::to_owned);
        let raw: RawFile = serde_json::from_str(text).map_err(|e| {
            let location = if e.line() == 0 {
                Location::file(&path)
            } else {
                Location::at(&path, e.line(), Some(e.column()))
            };
            Error::bad_input(location, format!("not a valid ip-ranges.json: {e}"))
        })?;
        format::validate(&raw).map_err(|m| Error::bad_input(Location::file(&path), m))?;
        Ok(Self::from_compact(Compact::from_raw(raw), source))
    }

    pub(crate) fn read(path: &Path, source: Source) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::input::read_list(path)?;
        Self::from_json(&text, source)
    }

    fn from_compact(c: Compact, source: Source) -> Self {
        let v4 = c.v4.iter().map(|r| Entry {
            net: IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(r.prefix.0), r.prefix.1)
                    .expect("length checked on parse"),
            ),
            service: r.service,
            region: r.region,
            nbg: r.nbg,
        });
        let v6 = c.v6.iter().map(|r| Entry {
            net: IpNet::V6(
                Ipv6Net::new(Ipv6Addr::from(r.prefix.0), r.prefix.1)
                    .expect("length checked on parse"),
            ),
            service: r.service,
            region: r.region,
            nbg: r.nbg,
        });
        let entries: Vec<Entry> = v4.chain(v6).collect();
        let index = lookup::Index::build(&entries);
        Self {
            source,
            sync_token: c.sync_token,
            create_date: c.create_date,
            strings: c.strings,
            entries,
            index,
        }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn service(&self, entry: &Entry) -> &str {
        &self.strings[usize::from(entry.service)]
    }

    pub(crate) fn region(&self, entry: &Entry) -> &str {
        &self.strings[usize::from(entry.region)]
    }

    pub(crate) fn network_border_group(&self, entry: &Entry) -> &str {
        &self.strings[usize::from(entry.nbg)]
    }

    /// The positions in [`Self::entries`] of the entries whose prefix contains `addr`, longest
    /// prefix first.
    pub(crate) fn containing_positions(&self, addr: IpAddr) -> impl Iterator<Item = usize> + '_ {
        self.index.containing(addr)
    }

    /// Every published entry whose prefix contains `addr`, longest prefix first.
    pub(crate) fn containing(&self, addr: IpAddr) -> impl Iterator<Item = &Entry> + Clone + '_ {
        self.index.containing(addr).map(|i| &self.entries[i])
    }

    /// The address space published for `service` in any of `regions`.
    pub(crate) fn select(&self, service: &str, regions: &[&str]) -> IpSet {
        let nets: Vec<IpNet> = self
            .entries
            .iter()
            .filter(|e| self.service(e) == service && regions.contains(&self.region(e)))
            .map(|e| e.net)
            .collect();
        IpSet::from_nets(&nets)
    }

    /// Every address AWS publishes, for any service.
    pub fn all_space(&self) -> IpSet {
        let nets: Vec<IpNet> = self.entries.iter().map(|e| e.net).collect();
        IpSet::from_nets(&nets)
    }

    /// Whether any entry of `service` is published for `region`.
    pub(crate) fn has_region(&self, service: &str, region: &str) -> bool {
        self.entries
            .iter()
            .any(|e| self.service(e) == service && self.region(e) == region)
    }

    /// When AWS created this copy.
    pub(crate) fn created(&self) -> Option<OffsetDateTime> {
        let format =
            time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
        time::PrimitiveDateTime::parse(&self.create_date, &format)
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
    }

    /// Whole days between creation and `now`.
    pub(crate) fn age_days(&self, now: OffsetDateTime) -> i64 {
        self.created()
            .map_or(0, |created| (now - created).whole_days())
    }

    pub(crate) fn sync_token_value(&self) -> u64 {
        self.sync_token.parse().unwrap_or(0)
    }

    pub(crate) fn provenance(&self, now: OffsetDateTime) -> RangesProvenance {
        RangesProvenance {
            source: self.source.label().to_owned(),
            path: self.source.path().map(|p| p.display().to_string()),
            create_date: self.create_date.clone(),
            sync_token: self.sync_token.clone(),
            age_days: self.age_days(now),
        }
    }
}

/// The user's cache folder for a downloaded snapshot: `CONNECT_PREFLIGHT_CACHE_DIR`, else the OS's
/// per-user cache folder.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CONNECT_PREFLIGHT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "connect-preflight").map(|d| d.cache_dir().to_owned())
}

pub const CACHE_FILE: &str = "ip-ranges.json";

/// The snapshot to use: `--ip-ranges FILE` when given, else the newer (by syncToken) of the
/// embedded copy and the cached one. A cache that no longer parses is ignored with a warning.
pub(crate) fn load(override_path: Option<&Path>, warnings: &mut Vec<String>) -> Result<Snapshot> {
    if let Some(path) = override_path {
        return Snapshot::read(path, Source::File(path.to_owned()));
    }
    let embedded = Snapshot::embedded();
    let Some(path) = cache_dir().map(|d| d.join(CACHE_FILE)) else {
        return Ok(embedded);
    };
    if !path.exists() {
        return Ok(embedded);
    }
    match Snapshot::read(&path, Source::Cache(path.clone())) {
        Ok(cached) if cached.sync_token_value() > embedded.sync_token_value() => Ok(cached),
        Ok(_) => Ok(embedded),
        Err(e) => {
            warnings.push(format!("ignoring the cached IP ranges: {e}"));
            Ok(embedded)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_snapshot_is_the_august_copy_in_full() {
        let s = Snapshot::embedded();
        assert_eq!(s.sync_token, "1787433425");
        assert_eq!(s.create_date, "2026-08-22-21-17-05");
        let v4 = s
            .entries()
            .iter()
            .filter(|e| e.net.addr().is_ipv4())
            .count();
        assert_eq!((v4, s.entries().len() - v4), (10_666, 6_160));
    }

    #[test]
    fn connect_block_is_found_longest_first() {
        let s = Snapshot::embedded();
        let found: Vec<String> = s
            .containing("15.193.4.10".parse().unwrap())
            .map(|e| format!("{} {} {}", e.net, s.service(e), s.region(e)))
            .collect();
        assert!(
            found
                .iter()
                .any(|f| f == "15.193.4.0/24 AMAZON_CONNECT eu-central-1"),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f == "15.193.0.0/19 AMAZON_CONNECT GLOBAL"),
            "{found:?}"
        );
        let lens: Vec<u8> = s
            .containing("15.193.4.10".parse().unwrap())
            .map(|e| e.net.prefix_len())
            .collect();
        assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{lens:?}");
    }

    #[test]
    fn age_counts_whole_days() {
        let s = Snapshot::embedded();
        let now = time::macros::datetime!(2026-09-22 21:17:05 UTC);
        assert_eq!(s.age_days(now), 31);
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let text = "{\n  \"syncToken\": \"1\",\n  \"createDate\": \"2026-08-22-21-17-05\",\n  \"prefixes\": [{\"ip_prefix\": \"15.193.0.1/19\", \"region\": \"GLOBAL\", \"service\": \"AMAZON\", \"network_border_group\": \"GLOBAL\"}],\n  \"ipv6_prefixes\": []\n}";
        let err = Snapshot::from_json(text, Source::File("x.json".into()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.json:4:"), "{err}");
        assert!(err.contains("host bits"), "{err}");
    }

    #[test]
    fn a_file_without_a_date_is_refused() {
        let text =
            r#"{"syncToken": "1", "createDate": "yesterday", "prefixes": [], "ipv6_prefixes": []}"#;
        let err = Snapshot::from_json(text, Source::File("x.json".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("createDate"), "{err}");
    }
}
