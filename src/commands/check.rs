//! `check`: the live test of this workstation, as the stages in order: config → route → plan →
//! run → judge → report → render. Each stage is a module below; this file only hands one's value
//! to the next.

use crate::config::{CheckConfig, Config};
use crate::error::{Error, ExitCode, Result};
use crate::report::{Kind, Report, Status, Target};
use crate::{clock, judge, output, plan, ranges, route};

/// What a check produced: the plan (`--list`), or a report.
#[derive(Debug)]
pub(crate) enum Produced {
    Listing(String),
    Report {
        report: Box<Report>,
        interrupted: bool,
    },
}

/// `check`: produces the listing or the report and renders it.
pub(crate) fn run(
    config: &Config,
    check: &CheckConfig,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    match produce(config, check, warnings)? {
        Produced::Listing(text) => {
            output::emit(config.output.as_deref(), &text)?;
            Ok(ExitCode::Ready)
        }
        Produced::Report {
            report,
            interrupted,
        } => {
            output::render_report(
                &report,
                check.format,
                config.output.as_deref(),
                config.color,
            )?;
            if interrupted {
                return Ok(ExitCode::Interrupted);
            }
            Ok(report.verdict.into())
        }
    }
}

/// Runs the check (or lists its plan) without rendering anything.
pub(crate) fn produce(
    config: &Config,
    check: &CheckConfig,
    warnings: &mut Vec<String>,
) -> Result<Produced> {
    let started = clock::now();
    // Config: `--ccp-log` names the endpoints the agent's CCP actually used, tested beside the
    // catalog's (and may name the instance and Region).
    let from_log = crate::ccplog::live::FromLog::read(&check.ccp_log)?;
    let config = &config.with_log_target(&from_log);

    // Route, first half: the setting, else the OS's.
    let route = route::discover(check.route.clone(), check.list, check.run.progress);

    // Plan: the catalog's requirements for this Region, as ordered checks.
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let mut plan = plan::build(&requirements, &snapshot, &check.selected);
    // The WebSocket transport (`--transport-url`, else the log's) and the log's other endpoints.
    from_log
        .plan(
            &mut plan,
            &requirements,
            &snapshot,
            &check.selected,
            check.transport.as_ref(),
        )
        .map_err(Error::usage)?;
    if check.survey {
        plan.survey = plan::survey(&catalog, &requirements.region);
    }
    if check.list {
        let mut path = format!("{} (set by {})", route.describe_path(), route.route_source);
        for note in &route.route_notes {
            path.push_str("; ");
            path.push_str(note);
        }
        let mut text = plan::describe(&plan, &check.describe_resolver(), &path);
        if let Some(turn) = check.run.turn.as_ref().filter(|_| !plan.media.is_empty()) {
            text.push_str(&turn.describe());
        }
        return Ok(Produced::Listing(text));
    }
    let lists = judge::Lists::read(check.domains.as_deref(), check.cidrs.as_deref())?;

    // Route, second half: the PAC script's answer for every planned host.
    let transport_name = crate::transport::sample_name(&requirements);
    let hosts: Vec<&str> = plan
        .hosts
        .iter()
        .map(|h| h.host.as_str())
        .chain(plan.survey.iter().map(|t| t.host.as_str()))
        .chain(transport_name.as_deref())
        .collect();
    let route = route::decide(route, hosts.iter().copied(), check.run.deadline_at)?;

    // Run: the probes, concurrently, within the one deadline.
    let ca_roots = check
        .ca_file
        .as_deref()
        .map(crate::probe::tls::read_ca_file)
        .transpose()?;
    let outcome = crate::run::execute(
        &plan,
        &check.run,
        &route,
        snapshot,
        ca_roots.unwrap_or_default(),
    )?;
    let snapshot = outcome.snapshot;
    let reached = outcome.reached;

    // Judge: the run's checks beside the facts of the snapshot, the catalog, the route and this
    // machine, and read against the customer's lists.
    let mut checks = vec![judge::snapshot_check(&snapshot, started)];
    if checks[0].status == Status::Pass {
        checks[0].status = Status::Info;
    }
    checks.push(crate::catalog_info::provenance_check(&catalog, started));
    checks.push(route.route_check());
    if check.run.media_selected {
        // Where the softphone's audio flows from (a VDI session) and which local UDP ports it
        // uses: facts the media findings are read against.
        let facts = crate::system::gather(&crate::system::Sources::this_machine());
        checks.extend(crate::system::checks(&facts));
    }
    // Each host's checks say the route they took and which setting chose it.
    let routed: std::collections::HashSet<&str> = hosts.iter().copied().collect();
    checks.extend(outcome.checks.into_iter().map(|mut check| {
        let on_route = !matches!(check.kind, Kind::Stun | Kind::Turn | Kind::Media);
        if let Some(host) = check
            .host
            .clone()
            .filter(|h| on_route && routed.contains(h.as_str()))
        {
            for (key, value) in route.route_evidence(&host) {
                check = check.evidence(key, value);
            }
        }
        check
    }));
    checks.extend(crate::transport::route_check(
        &requirements,
        &plan,
        &route,
        &checks,
    ));
    checks.extend(lists.checks(&plan, &requirements, &route, &reached));
    if let Some(nothing) = judge::nothing_tested(&checks) {
        checks.insert(0, nothing);
    }

    // Report.
    let target = Target {
        instance: requirements.instance.clone(),
        region: Some(requirements.region.clone()),
        partner_region: requirements.partner_region.clone(),
        features: config
            .features
            .iter()
            .map(|g| g.name().to_owned())
            .collect(),
        site: config.site.clone(),
    };
    let mut report = Report::new("check", target, clock::rfc3339(started), checks);
    report.ranges = Some(snapshot.provenance(started));
    report.duration_ms = outcome.elapsed.as_millis().try_into().unwrap_or(u64::MAX);
    report.fixes = judge::fixes(&report);
    Ok(Produced::Report {
        report: Box::new(report),
        interrupted: outcome.stop == crate::run::Stop::Interrupted,
    })
}
