//! `ccp-log`: the agent's downloaded CCP log (`agent-log.txt`) read for what no live test can see:
//! how the real calls sounded both ways, what failed and when, the workstation's clock, and the
//! exact endpoints the CCP used (its WebSocket transport host, the TURN relays of the session).
//!
//! The pipeline is the project's: files → [`parse`] (tolerant, streaming, bounded) → [`calls`]
//! (events folded into calls, errors and the clock) → [`report`] (the report model plus a
//! `ccp_log` section) → a renderer. Everything here is a pure function of the files' text.

pub(crate) mod advice;
pub(crate) mod calls;
pub mod json;
pub(crate) mod live;
pub(crate) mod model;
pub(crate) mod parse;
pub mod report;
pub(crate) mod schema;
pub mod scrub;

use std::path::PathBuf;

use crate::error::Result;
use crate::media::grade::Thresholds;
use crate::report::Status;
use model::CcpLog;

/// Most errors listed one by one; the rest are counted.
pub const MAX_ERRORS: usize = 2_000;

/// A second's (or a whole direction's) figures graded.
#[derive(Clone, Debug, PartialEq)]
pub struct Grade {
    pub mos: f64,
    pub status: Status,
    /// What is past the thresholds, in words; empty when it passes.
    pub problems: Vec<String>,
}

/// The one place CCP-log audio is graded: by the live media check's grading
/// ([`crate::media::grade::grade`]: Twilio's E-model and bands, AWS's, Twilio's and Microsoft's
/// limits), so a second of a real call and a live sample are judged alike.
/// `jitter_ms` is `None` when the log's jitter figure is not jitter (connect-rtc-js 1.3.x), and
/// `rtt_ms` when the log reports none; the MOS then counts them as zero.
pub fn grade(rtt_ms: Option<f64>, jitter_ms: Option<f64>, loss_pct: f64, t: &Thresholds) -> Grade {
    let jitter_ms = jitter_ms.unwrap_or(0.0);
    let graded = crate::media::grade::grade(
        crate::media::grade::Measured {
            rtt_ms,
            jitter_ms,
            loss_pct,
        },
        t,
    );
    let mos = graded
        .mos
        .unwrap_or_else(|| crate::media::grade::mos(0.0, jitter_ms, loss_pct));
    Grade {
        mos,
        status: graded.status,
        problems: graded.problems,
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// One input file: its path and its text (read through the bounded reader).
pub struct Input {
    pub path: PathBuf,
    pub text: String,
}

/// Reads the files (a Global Resiliency download is two) into one view of the session.
pub fn analyse(inputs: &[Input], t: &Thresholds) -> Result<CcpLog> {
    let mut collected = parse::Collected::default();
    for (i, input) in inputs.iter().enumerate() {
        parse::read(&input.path, &input.text, i as u64, &mut collected)?;
    }
    Ok(assemble(collected, t))
}

/// Reads each path through the project's bounded reader (size cap, binary refused).
pub fn read_files(paths: &[PathBuf]) -> Result<Vec<Input>> {
    paths
        .iter()
        .map(|path| {
            Ok(Input {
                path: path.clone(),
                text: crate::allowlist::read_text(path)?,
            })
        })
        .collect()
}

fn assemble(mut collected: parse::Collected, t: &Thresholds) -> CcpLog {
    collected.events.sort_by_key(|e| (e.at_ms, e.order));
    let versions: Vec<String> = collected.endpoints.rtc_js_version.iter().cloned().collect();
    let names = advice::Names::of(&collected.endpoints);
    let folded = calls::fold(&collected.events, &versions, &names, t);
    CcpLog {
        input: model::Input {
            files: collected.files,
        },
        first_entry_at: collected.first_ms.map(iso),
        last_entry_at: collected.last_ms.map(iso),
        calls: folded.calls,
        errors: folded.errors,
        errors_omitted: folded.errors_omitted,
        clock: folded.clock,
        endpoints: collected.endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grading_is_the_media_checks() {
        let t = Thresholds::default();
        let clean = grade(Some(40.0), Some(2.0), 0.0, &t);
        assert_eq!(clean.mos, crate::media::grade::mos(40.0, 2.0, 0.0));
        assert_eq!(clean.status, Status::Pass);
        // Loss warns from 1 % and fails from 5 %, as the live sample is judged.
        let lossy = grade(Some(40.0), Some(2.0), 2.0, &t);
        assert_eq!(lossy.status, Status::Warn);
        assert!(lossy.mos < clean.mos);
        assert_eq!(grade(Some(40.0), Some(2.0), 5.0, &t).status, Status::Fail);
        let late = grade(Some(400.0), None, 0.0, &t);
        assert_eq!(late.status, Status::Warn);
        assert!(
            late.problems
                .iter()
                .any(|p| p.contains("round-trip time 400 ms")),
            "{:?}",
            late.problems
        );
    }

    #[test]
    fn times_print_as_rfc3339_with_milliseconds() {
        assert_eq!(iso(1_746_552_302_353), "2025-05-06T17:25:02.353Z");
    }
}
