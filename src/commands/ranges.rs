//! `ranges info | lookup | update | diff`: the published AWS IP ranges in use, an address's
//! place in them, a newer copy cached, and what changed between two copies.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, Selection};
use crate::config::{Config, DiffConfig, DiffFormat, LookupConfig, UpdateConfig};
use crate::error::{Error, ExitCode, Result};
use crate::output::ReportFormat;
use crate::ranges::{self, Snapshot, query};
use crate::report::{Report, Target};
use crate::{clock, judge, output};

pub(crate) fn info(
    config: &Config,
    format: ReportFormat,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let started = clock::now();
    let snapshot = ranges::load(config.ip_ranges.as_deref(), warnings)?;
    let check = judge::snapshot_check(&snapshot, started);
    let mut report = Report::new(
        "ranges info",
        Target::default(),
        clock::rfc3339(started),
        vec![check],
    );
    report.ranges = Some(snapshot.provenance(started));
    output::render_report(&report, format, config.output.as_deref(), config.color)?;
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

pub(crate) fn lookup(
    config: &Config,
    args: &LookupConfig,
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
    let format = args.format;
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

pub(crate) fn update(
    config: &Config,
    args: &UpdateConfig,
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
    let text = ranges::update::fetch(&args.from, args.timeout)?;
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
    output::emit(config.output.as_deref(), &message)?;
    Ok(ExitCode::Ready)
}

pub(crate) fn diff(config: &Config, args: &DiffConfig) -> Result<ExitCode> {
    let old = Snapshot::read(&args.old, ranges::Source::File(args.old.clone()))?;
    let new = Snapshot::read(&args.new, ranges::Source::File(args.new.clone()))?;
    let rules = match &args.region {
        Some(region) => {
            let catalog = config.catalog()?;
            let selection = Selection {
                region: region.clone(),
                features: args.features.clone(),
                stateless: args.stateless,
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
    output::emit(config.output.as_deref(), &text)?;
    Ok(ExitCode::Ready)
}
