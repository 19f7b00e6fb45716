//! `audit`: the customer's allow-list, firewall whitelist, ruleset or proxy configuration read
//! against what the Region needs, offline, as the stages in order: config → ranges and catalog →
//! audit → report → render. The evaluation lives in [`crate::audit`].

use crate::config::{AuditConfig, Config};
use crate::error::{ExitCode, Result};
use crate::report::{self, Target};
use crate::{clock, output, ranges};

pub(crate) fn run(
    config: &Config,
    audit: &AuditConfig,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let started = clock::now();
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let provenance = snapshot.provenance(started);
    if provenance.age_days > ranges::NOTICE_DAYS {
        warnings.push(crate::remedy::audit_snapshot_stale(
            &provenance.create_date,
            provenance.age_days,
        ));
    }
    // The lists to read: named before the catalog is asked for the Region.
    audit.settings.check()?;
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let target = Target {
        instance: requirements.instance.clone(),
        region: Some(requirements.region.clone()),
        partner_region: requirements.partner_region.clone(),
        features: selection
            .features
            .iter()
            .map(|g| g.name().to_owned())
            .collect(),
        site: config.site.clone(),
    };
    let mut outcome = crate::audit::command::audit(
        &audit.settings,
        &requirements,
        &snapshot,
        target,
        clock::rfc3339(started),
    )?;
    outcome.report.ranges = Some(provenance);
    // What the audit was measured against: the catalog's origin and age.
    outcome
        .report
        .checks
        .push(crate::catalog_info::provenance_check(&catalog, started));
    outcome.report.counts = report::Counts::of(&outcome.report.checks);
    outcome.report.duration_ms =
        u64::try_from((clock::now() - started).whole_milliseconds()).unwrap_or(0);
    if let Some(path) = &audit.settings.fix_output {
        crate::audit::command::write_fixed_copy(&outcome, path)?;
    }
    let color = config.output.is_none() && config.color.for_stdout();
    let text = crate::audit::command::render(&outcome, audit.format, color);
    output::emit(config.output.as_deref(), &text)?;
    Ok(outcome.report.verdict.into())
}
