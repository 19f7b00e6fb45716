//! `catalog info`: which catalog is in use (built-in, the config folder's, or `--endpoints`),
//! how old its entries are and the pages they cite.

use std::path::Path;

use crate::catalog::Catalog;
use crate::catalog_info::CatalogFormat;
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::{catalog_info, clock, output};

pub(crate) fn info(
    config: &Config,
    endpoints: Option<&Path>,
    format: CatalogFormat,
) -> Result<ExitCode> {
    let catalog = match endpoints {
        Some(path) => Catalog::read(path)?,
        None => config.catalog()?,
    };
    let now = clock::now();
    let config_file = crate::config::admin_catalog_path();
    let text = match format {
        CatalogFormat::Markdown => catalog.markdown(),
        CatalogFormat::Json => catalog_info::json(&catalog, now, config_file.as_deref()),
        CatalogFormat::Text => catalog_info::text(&catalog, now, config_file.as_deref()),
    };
    output::emit(config.output.as_deref(), &text)?;
    Ok(ExitCode::Ready)
}
