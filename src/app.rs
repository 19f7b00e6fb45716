//! Orchestration: resolve the configuration, run the command, render, and pick the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::catalog::{Catalog, Group, Selection};
use crate::cli::{
    CatalogCommand, Cli, Command, DiffArgs, DiffFormat, EndpointsArgs, EndpointsFormat,
    GenerateCommand, LookupArgs, LookupFormat, ProfileCommand, ProfileWriteArgs, RangesCommand,
    ReportFormat, SummarizeArgs, SummaryFormat, UpdateArgs,
};
use crate::config::{self, Config};
use crate::error::{Error, ExitCode, Result};
use crate::ranges::{self, Snapshot, query};
use crate::report::{self, Check, Kind, Reason, Report, Status, Target};

/// The process environment, read through one function so tests can replace it.
fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let env: &dyn Fn(&str) -> Option<String> = &process_env;
    // Generating files and writing a profile must work even where a broken profile lies.
    let profile = match &cli.command {
        Command::Generate(_) | Command::Profile(_) => None,
        _ => config::load_profile(cli.profile.as_deref(), env)?,
    };
    let target = match &cli.command {
        Command::Check(args) => Some(&args.target),
        Command::Endpoints(args) => Some(&args.target),
        Command::Audit(args) => Some(&args.target),
        Command::Ranges(_)
        | Command::Catalog(_)
        | Command::CcpLog(_)
        | Command::Summarize(_)
        | Command::Agent(_)
        | Command::Generate(_)
        | Command::Profile(_) => None,
    };
    let config = Config::from_cli(&cli, target, env, profile)?;
    let mut warnings = Vec::new();
    let code = match &cli.command {
        Command::Check(args) => crate::check::run(&config, args, env, &mut warnings),
        Command::Agent(args) => crate::agent::run(&config, args, env, &mut warnings),
        Command::Endpoints(args) => endpoints(&config, args, &mut warnings),
        Command::Audit(args) => crate::audit::run(&config, args, &mut warnings),
        Command::Ranges(RangesCommand::Info { format }) => {
            ranges_info(&config, *format, &mut warnings)
        }
        Command::Ranges(RangesCommand::Lookup(args)) => ranges_lookup(&config, args, &mut warnings),
        Command::Ranges(RangesCommand::Update(args)) => ranges_update(&config, args, &mut warnings),
        Command::Ranges(RangesCommand::Diff(args)) => ranges_diff(&config, args),
        Command::Catalog(CatalogCommand::Info { endpoints, format }) => {
            crate::catalog_info::run(&config, endpoints.as_deref(), *format)
        }
        Command::Summarize(args) => summarize(&config, args, &mut warnings),
        Command::CcpLog(args) => crate::ccplog::command::run(&config, args),
        Command::Generate(what) => generate(&config, what),
        Command::Profile(ProfileCommand::Write(args)) => profile_write(&config, args),
    };
    if !config.quiet {
        let mut stderr = std::io::stderr().lock();
        for warning in &warnings {
            let _ = writeln!(stderr, "connect-preflight: warning: {warning}");
        }
    }
    code
}

/// Writes the output to `--output` atomically, or to stdout. A closed pipe is not an error.
pub(crate) fn emit(config: &Config, text: &str) -> Result<()> {
    if let Some(path) = &config.output {
        return crate::output::write_atomically(path, text.as_bytes());
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: PathBuf::from("<stdout>"),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn endpoints(
    config: &Config,
    args: &EndpointsArgs,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let catalog = config.catalog()?;
    let selection = config.selection(&catalog)?;
    let requirements = catalog.requirements(&selection)?;
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let provenance = snapshot.provenance(now());
    if provenance.age_days > ranges::NOTICE_DAYS {
        warnings.push(stale_remedy(&provenance.create_date, provenance.age_days));
    }
    let region_name = catalog.region(&selection.region).map(|r| r.name.as_str());
    let listing = crate::endpoints::Listing::new(
        &requirements,
        region_name,
        &snapshot,
        provenance,
        catalog.provenance(now()),
    );
    let text = match args.format {
        EndpointsFormat::Text => crate::endpoints::text(&listing),
        EndpointsFormat::Json => crate::endpoints::json(&listing),
        EndpointsFormat::Csv => crate::endpoints::csv(&listing),
        EndpointsFormat::Domains => crate::endpoints::domains(&listing),
        EndpointsFormat::Cidrs => crate::endpoints::cidrs(&listing),
    };
    emit(config, &text)?;
    Ok(ExitCode::Ready)
}

fn stale_remedy(create_date: &str, age_days: i64) -> String {
    format!(
        "the IP ranges in use were published {create_date}, {age_days} days ago, past AWS's {}-day notice window; \
         run `connect-preflight ranges update` (or pass --ip-ranges with a current ip-ranges.json)",
        ranges::NOTICE_DAYS
    )
}

/// The check every report carries about the snapshot it used.
pub fn snapshot_check(snapshot: &Snapshot, at: OffsetDateTime) -> Check {
    let age = snapshot.age_days(at);
    let source = match snapshot.source.path() {
        Some(path) => format!("{} copy at {}", snapshot.source.label(), path.display()),
        None => "embedded copy".to_owned(),
    };
    let check = if age > ranges::NOTICE_DAYS {
        Check::new(
            "ranges/snapshot",
            Kind::Ranges,
            Status::Warn,
            Reason::SnapshotStale,
            format!(
                "the IP ranges in use ({source}) were published {}, {age} days ago",
                snapshot.create_date
            ),
        )
        .remedy(stale_remedy(&snapshot.create_date, age))
    } else {
        Check::new(
            "ranges/snapshot",
            Kind::Ranges,
            Status::Pass,
            Reason::Ok,
            format!(
                "the IP ranges in use ({source}) were published {}, {age} days ago",
                snapshot.create_date
            ),
        )
    };
    let v4 = snapshot
        .entries()
        .iter()
        .filter(|e| e.net.addr().is_ipv4())
        .count();
    check
        .evidence("create_date", &snapshot.create_date)
        .evidence("sync_token", &snapshot.sync_token)
        .evidence("age_days", age)
        .evidence("source", snapshot.source.label())
        .evidence("ipv4_prefixes", v4)
        .evidence("ipv6_prefixes", snapshot.entries().len() - v4)
}

pub(crate) fn render_report(config: &Config, report: &Report, format: ReportFormat) -> Result<()> {
    let text = match format {
        ReportFormat::Json => report::json::render(report),
        ReportFormat::Html => report::html::render(report),
        ReportFormat::Junit => report::junit::render(report),
        ReportFormat::Text => {
            let color = config.output.is_none() && config.color.for_stdout();
            report::text::render(report, report::text::Palette::new(color))
        }
    };
    emit(config, &text)
}

fn ranges_info(
    config: &Config,
    format: ReportFormat,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let started = now();
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let check = snapshot_check(&snapshot, started);
    let mut report = Report::new(
        "ranges info",
        Target::default(),
        rfc3339(started),
        vec![check],
    );
    report.ranges = Some(snapshot.provenance(started));
    render_report(config, &report, format)?;
    Ok(report.verdict.into())
}

/// The named address sets of a Region's Connect rules, for lookups and diffs.
fn needed_sets(
    catalog: &Catalog,
    selection: &Selection,
    snapshot: &Snapshot,
) -> Result<query::Needed> {
    let requirements = catalog.requirements(selection)?;
    let rules = requirements
        .rules
        .iter()
        .map(|rule| {
            let ports: Vec<String> = rule.ports.iter().map(ToString::to_string).collect();
            (
                format!("{} {}", ports.join(","), rule.describe(snapshot)),
                rule.space(snapshot),
            )
        })
        .collect();
    Ok(query::Needed {
        region: Some(selection.region.clone()),
        rules,
    })
}

fn ranges_lookup(
    config: &Config,
    args: &LookupArgs,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let from_args = query::parse_arguments(&args.addresses)?;
    if from_args.is_empty() && args.file.is_none() {
        return Err(Error::usage(
            "give addresses to look up, or --file FILE (`-` for stdin)",
        ));
    }
    let input: Option<(Box<dyn std::io::BufRead>, PathBuf)> = match &args.file {
        None => None,
        Some(file) if file == Path::new("-") => {
            Some((Box::new(std::io::stdin().lock()), PathBuf::from("<stdin>")))
        }
        Some(file) => {
            let reader = crate::input::open_regular(file)?;
            Some((
                Box::new(std::io::BufReader::with_capacity(1 << 16, reader)),
                file.clone(),
            ))
        }
    };
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let needed = match &args.region {
        Some(region) => {
            let catalog = config.catalog()?;
            let selection = Selection {
                region: region.clone(),
                features: config.features.clone(),
                stateless: config.stateless,
                ..Selection::default()
            };
            needed_sets(&catalog, &selection, &snapshot)?
        }
        None => query::Needed::default(),
    };
    let format = match args.format {
        LookupFormat::Text => query::Format::Text,
        LookupFormat::Csv => query::Format::Csv,
        LookupFormat::Json => query::Format::Json,
        LookupFormat::Line => query::Format::Line,
    };
    // Stream: to a temporary file that replaces --output only on success, or to stdout.
    let mut file = config
        .output
        .as_deref()
        .map(crate::output::AtomicFile::create)
        .transpose()?;
    let out_path = config
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("<stdout>"));
    let stdout = std::io::stdout();
    let sink: Box<dyn Write + '_> = match &mut file {
        Some(f) => Box::new(f.file()),
        None => Box::new(stdout.lock()),
    };
    let write_err = |source: std::io::Error| Error::Write {
        path: out_path.clone(),
        source,
    };
    let mut writer = query::Writer::new(
        std::io::BufWriter::with_capacity(1 << 16, sink),
        &snapshot,
        &needed,
        format,
    )
    .map_err(write_err)?;
    let streamed = || -> Result<(), query::LookupError> {
        for (token, addr) in args.addresses.iter().zip(&from_args) {
            writer
                .write(token.trim(), *addr)
                .map_err(query::LookupError::Output)?;
        }
        if let Some((reader, origin)) = input {
            writer.write_lines(reader, &origin)?;
        }
        Ok(())
    };
    let outcome = streamed();
    let finished = writer.finish().map(drop);
    match (outcome, finished) {
        (Err(query::LookupError::Input(e)), _) => Err(e),
        (Err(query::LookupError::Output(e)), _) | (Ok(()), Err(e))
            if e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(ExitCode::Ready)
        }
        (Err(query::LookupError::Output(e)), _) | (Ok(()), Err(e)) => Err(write_err(e)),
        (Ok(()), Ok(())) => {
            if let Some(f) = file {
                f.commit()?;
            }
            Ok(ExitCode::Ready)
        }
    }
}

fn ranges_update(
    config: &Config,
    args: &UpdateArgs,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let cache_dir = ranges::cache_dir().ok_or_else(|| {
        Error::usage("no cache folder is known for this user; set CONNECT_PREFLIGHT_CACHE_DIR")
    })?;
    let in_use = ranges::load(None, warnings)?;
    if args.from.starts_with("http://") {
        warnings.push(format!(
            "{} is plain HTTP: nothing proves the file came from AWS unaltered",
            args.from
        ));
    }
    let text = ranges::update::fetch(&args.from, Duration::from_secs(args.timeout.max(1)))?;
    let message = match ranges::update::install(&text, &args.from, in_use, &cache_dir, args.force)?
    {
        ranges::update::Outcome::Cached { path, snapshot } => format!(
            "cached the IP ranges published {} (syncToken {}, {} prefixes) at {}; later commands use them\n",
            snapshot.create_date,
            snapshot.sync_token,
            snapshot.entries().len(),
            path.display()
        ),
        ranges::update::Outcome::AlreadyCurrent { in_use } => format!(
            "already up to date: the {} copy in use has syncToken {} ({})\n",
            in_use.source.label(),
            in_use.sync_token,
            in_use.create_date
        ),
    };
    emit(config, &message)?;
    Ok(ExitCode::Ready)
}

fn ranges_diff(config: &Config, args: &DiffArgs) -> Result<ExitCode> {
    let old = Snapshot::read(&args.old, ranges::Source::File(args.old.clone()))?;
    let new = Snapshot::read(&args.new, ranges::Source::File(args.new.clone()))?;
    let rules = match &args.region {
        Some(region) => {
            let catalog = config.catalog()?;
            let features = args
                .target
                .with
                .iter()
                .copied()
                .filter(|g| *g != Group::Gr)
                .collect();
            let selection = Selection {
                region: region.clone(),
                features,
                stateless: args.target.stateless,
                ..Selection::default()
            };
            catalog.requirements(&selection)?.rules
        }
        None => Vec::new(),
    };
    let diff = ranges::diff::diff(&old, &new, args.region.as_deref(), &rules);
    let text = match args.format {
        DiffFormat::Text => ranges::diff::text(&diff),
        DiffFormat::Json => ranges::diff::json(&diff),
    };
    emit(config, &text)?;
    Ok(ExitCode::Ready)
}

/// Reads the reports one at a time, then renders the fleet view. Files that are not reports are
/// warnings; finding no report at all is an error.
fn summarize(
    config: &Config,
    args: &SummarizeArgs,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let fleet = crate::summary::summarize(&args.paths, &mut |w| warnings.push(w));
    if fleet.reports() == 0 {
        let first = args.paths.first().cloned().unwrap_or_default();
        return Err(Error::bad_input(
            crate::error::Location::file(first),
            format!(
                "no {} report found in the {} path(s) given",
                report::SCHEMA,
                args.paths.len()
            ),
        ));
    }
    let summary = fleet.finish();
    let text = match args.format {
        SummaryFormat::Text => crate::summary::text(&summary),
        SummaryFormat::Json => crate::summary::json(&summary),
        SummaryFormat::Csv => crate::summary::csv(&summary),
        SummaryFormat::Html => crate::summary::html(&summary),
    };
    emit(config, &text)?;
    Ok(ExitCode::Ready)
}

fn generate(config: &Config, what: &GenerateCommand) -> Result<ExitCode> {
    let text = match what {
        GenerateCommand::Man => crate::generate::man_page(),
        GenerateCommand::Completions { shell } => crate::generate::completions(*shell),
    };
    emit(config, &text)?;
    Ok(ExitCode::Ready)
}

/// Writes to `--output`, else beside the executable; says where on stderr unless `--quiet`.
fn profile_write(config: &Config, args: &ProfileWriteArgs) -> Result<ExitCode> {
    let path = match &config.output {
        Some(path) => path.clone(),
        None => crate::site_profile::default_path()?,
    };
    let message = crate::site_profile::write(
        args.instance.clone(),
        args.region.clone(),
        args.from.as_deref(),
        &path,
        args.force,
    )?;
    if !config.quiet {
        let _ = std::io::stderr().lock().write_all(message.as_bytes());
    }
    Ok(ExitCode::Ready)
}
