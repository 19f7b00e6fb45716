//! `endpoints`: the catalog's hosts, ports and address ranges for a Region, in the form the
//! network team asks for.

use crate::config::{Config, EndpointsConfig};
use crate::endpoints::EndpointsFormat;
use crate::error::{ExitCode, Result};
use crate::{clock, judge, output, ranges};

pub(crate) fn run(
    config: &Config,
    args: &EndpointsConfig,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let provenance = snapshot.provenance(clock::now());
    if provenance.age_days > ranges::NOTICE_DAYS {
        warnings.push(judge::stale_remedy(
            &provenance.create_date,
            provenance.age_days,
        ));
    }
    let region_name = catalog.region(&selection.region).map(|r| r.name.as_str());
    let listing = crate::endpoints::Listing::new(
        &requirements,
        region_name,
        &snapshot,
        provenance,
        catalog.provenance(clock::now()),
    );
    let text = match args.format {
        EndpointsFormat::Text => crate::endpoints::text(&listing),
        EndpointsFormat::Json => crate::endpoints::json(&listing),
        EndpointsFormat::Csv => crate::endpoints::csv(&listing),
        EndpointsFormat::Domains => crate::endpoints::domains(&listing),
        EndpointsFormat::Cidrs => crate::endpoints::cidrs(&listing),
    };
    output::emit(config.output.as_deref(), &text)?;
    Ok(ExitCode::Ready)
}
