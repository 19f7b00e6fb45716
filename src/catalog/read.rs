//! `catalog.toml` read and checked: the templates as written, the embedded copy, a file named
//! by `--endpoints` or dropped into the config folder, and what the catalog says of its age and
//! sources.

use std::path::Path;

use serde::Deserialize;

use super::{Catalog, CatalogProvenance, Group, Origin, Proof, parse_day};
use crate::error::{Error, Location, Result};
use crate::net::PortRange;

static EMBEDDED: &str = include_str!("../../ranges/catalog.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndpointTemplate {
    pub(super) id: String,
    pub(super) group: Group,
    pub(super) host: String,
    #[serde(default)]
    pub(super) probe: Option<String>,
    /// The Region lists (`static`, `login`) whose first host under `host` is the probe.
    #[serde(default)]
    pub(super) probe_from: Vec<String>,
    /// The Regions `probe` is known in; every Region when empty.
    #[serde(default)]
    pub(super) probe_regions: Vec<String>,
    #[serde(default)]
    pub(super) allowlist: Option<String>,
    /// Only in Regions of this partition (`aws`, `aws-us-gov`).
    #[serde(default)]
    pub(super) partition: Option<String>,
    /// The Regions `{region}` stands for; the Region served when empty.
    #[serde(default)]
    pub(super) regions: Vec<String>,
    /// Only for the Global Resiliency source Region, never for a replica.
    #[serde(default)]
    pub(super) source_region_only: bool,
    /// Only while the instance still uses its old awsapps.com domain.
    #[serde(default)]
    pub(super) legacy_domain_only: bool,
    pub(super) ports: Vec<PortRange>,
    #[serde(default)]
    pub(super) paths: Vec<String>,
    #[serde(default)]
    pub(super) websocket: bool,
    #[serde(default)]
    pub(super) legacy: bool,
    pub(super) purpose: String,
    pub(super) source: String,
    #[serde(default)]
    pub(super) quote: Option<String>,
    #[serde(default)]
    pub(super) checked: Option<String>,
    #[serde(default)]
    pub(super) probe_source: Option<String>,
    #[serde(default)]
    pub(super) probe_quote: Option<String>,
    #[serde(default)]
    pub(super) code_source: Option<String>,
    #[serde(default)]
    pub(super) code_quote: Option<String>,
}

impl EndpointTemplate {
    pub(super) fn proof(&self) -> Proof {
        Proof {
            quote: self.quote.clone(),
            checked: self.checked.clone(),
            probe_source: self.probe_source.clone(),
            probe_quote: self.probe_quote.clone(),
            code_source: self.code_source.clone(),
            code_quote: self.code_quote.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleTemplate {
    pub(super) id: String,
    pub(super) group: Group,
    pub(super) service: String,
    pub(super) regions: Vec<String>,
    #[serde(default)]
    pub(super) fallback: Vec<String>,
    pub(super) ports: Vec<PortRange>,
    #[serde(default)]
    pub(super) inbound: bool,
    pub(super) purpose: String,
    pub(super) source: String,
    #[serde(default)]
    pub(super) quote: Option<String>,
    #[serde(default)]
    pub(super) checked: Option<String>,
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub(crate) fn embedded() -> Self {
        Self::parse(EMBEDDED, Path::new("ranges/catalog.toml"))
            .expect("the embedded catalog parses (tested)")
    }

    /// Reads a catalog file (`--endpoints`), naming line and column of anything malformed.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        // Bounded, and a binary file is refused naming where it stops being text.
        let text = crate::input::read_list(path)?;
        let mut catalog = Self::parse(&text, path)?;
        catalog.origin = Origin::File(path.to_owned());
        Ok(catalog)
    }

    /// Reads the catalog an administrator dropped into the user's config folder.
    pub(crate) fn read_from_config_folder(path: &Path) -> Result<Self> {
        let mut catalog = Self::read(path)?;
        catalog.origin = Origin::ConfigFolder(path.to_owned());
        Ok(catalog)
    }

    /// The day the catalog was last compared with AWS's pages: its own `checked`, else the
    /// newest of its entries'.
    pub(crate) fn checked(&self) -> Option<&str> {
        self.checked.as_deref().or_else(|| {
            self.endpoints
                .iter()
                .filter_map(|e| e.checked.as_deref())
                .chain(self.rules.iter().filter_map(|r| r.checked.as_deref()))
                .filter(|d| parse_day(d).is_some())
                .max()
        })
    }

    /// Where the catalog came from, how old it is at `now`, and what it cites.
    pub(crate) fn provenance(&self, now: time::OffsetDateTime) -> CatalogProvenance {
        let checked = self.checked().map(str::to_owned);
        let age_days = checked
            .as_deref()
            .and_then(parse_day)
            .map(|day| (now.date() - day).whole_days());
        let mut sources: Vec<String> = Vec::new();
        let cited = self
            .endpoints
            .iter()
            .flat_map(|e| {
                [
                    Some(&e.source),
                    e.probe_source.as_ref(),
                    e.code_source.as_ref(),
                ]
                .into_iter()
                .flatten()
            })
            .chain(self.rules.iter().map(|r| &r.source));
        for source in cited {
            // One page once, whatever its #anchor.
            let page = source.split('#').next().unwrap_or(source).to_owned();
            if !sources.contains(&page) {
                sources.push(page);
            }
        }
        CatalogProvenance {
            source: self.origin.label().to_owned(),
            path: self.origin.path().map(|p| p.display().to_string()),
            checked,
            age_days,
            entries: self.endpoints.len() + self.rules.len(),
            sources,
        }
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self> {
        let catalog: Self = toml::from_str(text).map_err(|e| {
            let location = e.span().map_or_else(
                || Location::file(path),
                |span| Location::from_offset(path, text, span.start),
            );
            Error::bad_input(location, e.message().to_owned())
        })?;
        if catalog.version != 1 {
            return Err(Error::bad_input(
                Location::file(path),
                format!("expected catalog version 1, found {}", catalog.version),
            ));
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_of_the_built_in_catalog_cites_a_quote_and_a_date() {
        let catalog = Catalog::embedded();
        let day = |d: &Option<String>| d.as_deref().and_then(parse_day).is_some();
        for e in &catalog.endpoints {
            assert!(e.source.starts_with("https://"), "{}", e.id);
            assert!(
                e.quote.as_deref().is_some_and(|q| !q.is_empty()),
                "{}",
                e.id
            );
            assert!(day(&e.checked), "{}", e.id);
            if e.probe.is_some() && e.host.contains('*') {
                assert!(
                    e.probe_source.is_some() && e.probe_quote.is_some(),
                    "{}",
                    e.id
                );
            }
        }
        for r in &catalog.rules {
            assert!(
                r.quote.as_deref().is_some_and(|q| !q.is_empty()),
                "{}",
                r.id
            );
            assert!(day(&r.checked), "{}", r.id);
        }
        assert_eq!(catalog.checked(), Some("2026-12-04"));
        let at = time::macros::datetime!(2026-12-14 12:00 UTC);
        let p = catalog.provenance(at);
        assert_eq!((p.source.as_str(), p.age_days), ("built-in", Some(10)));
        assert!(
            p.sources
                .iter()
                .any(|s| s.ends_with("new-signin-experience.html"))
        );
        assert!(p.sources.iter().any(|s| s.contains("connect-rtc-js")));
    }

    /// `docs/catalog.md` is generated from the catalog; regenerate it with
    /// `connect-preflight catalog info --endpoints ranges/catalog.toml --format markdown -o docs/catalog.md`.
    #[test]
    fn a_replacement_catalog_without_the_new_fields_still_reads() {
        // The shape before entries carried quotes and dates: a lab's or an old administrator's.
        let old = "version = 1\n[[region]]\ncode = \"lab-1\"\nname = \"Lab\"\n\n[[endpoint]]\nid = \"x\"\ngroup = \"core\"\nhost = \"x.example\"\nports = [\"tcp/443\"]\npurpose = \"lab\"\nsource = \"lab\"\n";
        let catalog = Catalog::parse(old, Path::new("old.toml")).unwrap();
        assert_eq!(catalog.checked(), None);
        assert_eq!(
            catalog
                .provenance(time::OffsetDateTime::UNIX_EPOCH)
                .age_days,
            None
        );
        let err =
            Catalog::parse(&old.replace("purpose", "purpsoe"), Path::new("old.toml")).unwrap_err();
        assert!(err.to_string().starts_with("old.toml:"), "{err}");
    }
}
