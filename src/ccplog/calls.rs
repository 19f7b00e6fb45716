//! Events in time order folded into calls, errors and the clock.
//!
//! A call is tied together by its contact id: `Softphone call detected: contactId …`
//! (softphone.js:608) and the RTC session lines that carry it. Metrics and call reports carry no
//! contact id (softphone.js:1199-1256), so they belong to the call set up last before them: the CCP
//! runs one softphone call at a time, and its last metrics batch follows the report at call end
//! (`stopJobsAndReport`, softphone.js:1457-1458).

use std::collections::{BTreeMap, HashMap};

use super::advice;
use super::model::{Audio, Call, Clock, JitterMeaning, LogError, Second, StatsSource, WorstSecond};
use super::parse::{CallReport, Direction, ErrorKind, Event, Sample, What};
use super::{MAX_ERRORS, grade, iso};
use crate::media::grade::Thresholds;
use crate::report::{Reason, Status};

/// Seconds in a row with no packet one way, while the other way flows, that count as a dropout.
const DROPOUT_S: u32 = 5;
/// Seconds in a row past the thresholds that make a call sound poor, whatever its average.
const BAD_STRETCH_S: u32 = 5;
/// A softphone error this long after its session failed still belongs to it.
const SOFTPHONE_ERROR_GRACE_MS: i64 = 10_000;
/// At most this many worst seconds are named per call.
const WORST_SECONDS: usize = 5;
/// A second at or below this MOS is worth naming.
const NAME_BELOW_MOS: f64 = 4.0;

#[derive(Default)]
struct Builder {
    contact: Option<String>,
    first_ms: Option<i64>,
    /// When the session ended (a final state or the call report).
    ended_ms: Option<i64>,
    states: Vec<String>,
    failed_state: bool,
    samples: Vec<Sample>,
    report: Option<CallReport>,
    softphone_errors: Vec<String>,
    error_reasons: Vec<Reason>,
}

pub(crate) struct Folded {
    pub calls: Vec<Call>,
    pub errors: Vec<LogError>,
    pub errors_omitted: u64,
    pub clock: Option<Clock>,
}

/// Folds sorted events; `rtc_js_versions` are the versions the whole log names.
pub(crate) fn fold(
    events: &[Event],
    rtc_js_versions: &[String],
    names: &advice::Names,
    t: &Thresholds,
) -> Folded {
    let mut builders: Vec<Builder> = Vec::new();
    let mut by_contact: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    let mut pending_api: HashMap<String, i64> = HashMap::new();
    let mut errors: Vec<LogError> = Vec::new();
    let mut omitted = 0u64;
    let mut skews: Vec<f64> = Vec::new();

    let mut call_for = |contact: &str,
                        at: i64,
                        builders: &mut Vec<Builder>,
                        current: &mut Option<usize>|
     -> usize {
        if let Some(&i) = by_contact.get(contact) {
            return i;
        }
        builders.push(Builder {
            contact: Some(contact.to_owned()),
            first_ms: Some(at),
            ..Builder::default()
        });
        let i = builders.len() - 1;
        by_contact.insert(contact.to_owned(), i);
        *current = Some(i);
        i
    };

    for event in events {
        let at = event.at_ms;
        match &event.what {
            What::CallDetected { contact } => {
                call_for(contact, at, &mut builders, &mut current);
            }
            What::Rtc { contact, message } => {
                let i = call_for(contact, at, &mut builders, &mut current);
                if let Some(next) = transition(message) {
                    let b = &mut builders[i];
                    if b.states.last().map(String::as_str) != Some(next) {
                        b.states.push(next.to_owned());
                    }
                    match next {
                        "FailedState" => {
                            b.failed_state = true;
                            b.ended_ms.get_or_insert(at);
                        }
                        "CleanUpState" | "DisconnectedState" => {
                            b.ended_ms.get_or_insert(at);
                        }
                        _ => {}
                    }
                }
            }
            What::Metrics(samples) => {
                let i = current.unwrap_or_else(|| {
                    builders.push(Builder {
                        first_ms: Some(at),
                        ..Builder::default()
                    });
                    current = Some(builders.len() - 1);
                    builders.len() - 1
                });
                builders[i].samples.extend(samples.iter().cloned());
            }
            What::CallReport(report) => {
                let i = current.unwrap_or_else(|| {
                    builders.push(Builder {
                        first_ms: report.start_ms.or(Some(at)),
                        ..Builder::default()
                    });
                    current = Some(builders.len() - 1);
                    builders.len() - 1
                });
                let b = &mut builders[i];
                b.ended_ms.get_or_insert(at);
                let merged = match b.report.take() {
                    None => (**report).clone(),
                    Some(mut old) => {
                        // The telemetry report is the superset; keep every flag either set.
                        let mut new = (**report).clone();
                        if !new.telemetry && old.telemetry {
                            std::mem::swap(&mut new, &mut old);
                        }
                        for f in old.failures {
                            if !new.failures.contains(&f) {
                                new.failures.push(f);
                            }
                        }
                        new.rtc_js_version = new.rtc_js_version.or(old.rtc_js_version);
                        new
                    }
                };
                b.report = Some(merged);
            }
            What::ApiCall(name) => {
                pending_api.insert(name.clone(), at);
            }
            What::Skew(s) => skews.push(*s),
            What::Error(raw) => {
                let advice = advice::of(&raw.kind, names);
                let latency_ms = match &raw.kind {
                    ErrorKind::Api(name) | ErrorKind::ApiRefused(name) => {
                        pending_api.remove(name).map(|sent| (at - sent) as f64)
                    }
                    _ => None,
                };
                // An error names its call, or belongs to the call being set up at the time.
                let call = match &raw.contact {
                    Some(c) => Some(call_for(c, at, &mut builders, &mut current)),
                    None => match raw.kind {
                        // The softphone publishes its error just after the session fails.
                        ErrorKind::Softphone(_) => current.filter(|&i| {
                            builders[i]
                                .ended_ms
                                .is_none_or(|end| at <= end + SOFTPHONE_ERROR_GRACE_MS)
                        }),
                        _ => None,
                    },
                };
                if let Some(i) = call {
                    let b = &mut builders[i];
                    if matches!(advice.status, Status::Fail) {
                        b.error_reasons.push(advice.reason);
                    }
                    if let ErrorKind::Softphone(t) = &raw.kind {
                        if !b.softphone_errors.contains(t) {
                            b.softphone_errors.push(t.clone());
                        }
                    }
                }
                let contact_id = call.and_then(|i| builders[i].contact.clone());
                let at_iso = iso(at);
                if let Some(last) = errors.last_mut() {
                    if last.what == advice.what
                        && last.text == raw.text
                        && last.at[..19] == at_iso[..19]
                    {
                        last.repeats += 1;
                        continue;
                    }
                }
                if errors.len() >= MAX_ERRORS {
                    omitted += 1;
                    continue;
                }
                errors.push(LogError {
                    at: at_iso,
                    status: advice.status,
                    reason: advice.reason,
                    what: advice.what,
                    text: raw.text.clone(),
                    cause: advice.cause,
                    remedy: advice.remedy,
                    contact_id,
                    latency_ms,
                    repeats: 1,
                });
            }
        }
    }

    let calls = builders
        .into_iter()
        .map(|b| finish(b, rtc_js_versions, names, t))
        .collect();
    Folded {
        calls,
        errors,
        errors_omitted: omitted,
        clock: clock(&mut skews),
    }
}

/// `A => B` (rtc_session.js:1128) gives B; substates and other lines give nothing.
fn transition(message: &str) -> Option<&str> {
    let (from, to) = message.split_once(" => ")?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(from.trim()) && ok(to.trim())).then(|| to.trim())
}

fn clock(skews: &mut [f64]) -> Option<Clock> {
    if skews.is_empty() {
        return None;
    }
    skews.sort_by(f64::total_cmp);
    Some(Clock {
        snapshots: skews.len() as u64,
        skew_median_ms: skews[skews.len() / 2],
        skew_min_ms: skews[0],
        skew_max_ms: skews[skews.len() - 1],
    })
}

/// The meaning of `jitterBufferMillis`: from `rtcJsVersion` when the log names it, else from what
/// the samples show.
fn jitter_meaning(samples: &[Sample], version: Option<&str>) -> (JitterMeaning, String) {
    if samples.iter().any(|s| s.has_buffer_delay) {
        return (
            JitterMeaning::JitterMs,
            "jitterBufferDelayMilliseconds is present (streams 2.28.4 and later): jitterBufferMillis is jitter".to_owned(),
        );
    }
    if let Some(v) = version {
        let mut parts = v
            .trim_start_matches('v')
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        return if (major, minor) >= (1, 3) {
            (
                JitterMeaning::CumulativeBufferDelay,
                format!(
                    "rtcJsVersion {v}: jitterBufferMillis is the cumulative jitter-buffer delay (1.3.x), not jitter"
                ),
            )
        } else {
            (
                JitterMeaning::JitterMs,
                format!("rtcJsVersion {v}: jitterBufferMillis is jitter in ms (1.1.x-1.2.x)"),
            )
        };
    }
    let input: Vec<f64> = samples
        .iter()
        .filter(|s| s.direction == Direction::Input)
        .filter_map(|s| s.jitter_buffer_ms)
        .collect();
    let grows = input.len() >= 5
        && input.windows(2).all(|w| w[1] >= w[0])
        && input.last().is_some_and(|&l| l > 2_000.0);
    if grows {
        (
            JitterMeaning::CumulativeBufferDelay,
            "no rtcJsVersion in the log; the values only grow past 2 s, as the cumulative jitter-buffer delay of connect-rtc-js 1.3.x does".to_owned(),
        )
    } else {
        (
            JitterMeaning::JitterMs,
            "no rtcJsVersion in the log; the values behave as jitter in ms (connect-rtc-js before 1.3)".to_owned(),
        )
    }
}

/// Loss of one second or a total: inbound counts received packets (lost + received were
/// expected), outbound counts sent packets (lost is a share of them).
fn loss_pct(direction: Direction, packets: f64, lost: f64) -> f64 {
    let expected = match direction {
        Direction::Input => packets + lost,
        Direction::Output => packets.max(lost),
    };
    if expected <= 0.0 {
        0.0
    } else {
        (100.0 * lost / expected).clamp(0.0, 100.0)
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn finish(b: Builder, versions: &[String], names: &advice::Names, t: &Thresholds) -> Call {
    let report = b.report.as_ref();
    let version = report
        .and_then(|r| r.rtc_js_version.clone())
        .or_else(|| (versions.len() == 1).then(|| versions[0].clone()));
    let (mut samples, source) = if b.samples.is_empty() {
        match report.filter(|r| !r.per_second.is_empty()) {
            Some(r) => (r.per_second.clone(), Some(StatsSource::TelemetryCallReport)),
            None => (Vec::new(), None),
        }
    } else {
        (b.samples, Some(StatsSource::SoftphoneMetrics))
    };
    samples.sort_by_key(|s| (s.direction, s.at_ms));
    samples.dedup_by_key(|s| (s.direction, s.at_ms));
    let meaning = (!samples.is_empty()).then(|| jitter_meaning(&samples, version.as_deref()));
    let start_ms = samples.iter().map(|s| s.at_ms).min();

    // The round-trip time is measured on the outbound stream (RTCP from Connect); it is the
    // call's, both ways.
    let mut rtt_by_second: BTreeMap<u32, f64> = BTreeMap::new();
    let second_of = |at: i64| -> u32 {
        u32::try_from((at - start_ms.unwrap_or(at)).max(0) / 1000).unwrap_or(u32::MAX)
    };
    for s in &samples {
        if let Some(rtt) = s.rtt_ms.filter(|r| *r >= 0.0) {
            rtt_by_second.insert(second_of(s.at_ms), rtt);
        }
    }
    let rtt_near = |sec: u32| -> Option<f64> {
        rtt_by_second
            .range(sec.saturating_sub(2)..=sec.saturating_add(2))
            .min_by_key(|(s, _)| s.abs_diff(sec))
            .map(|(_, v)| *v)
    };
    let jitter_is_jitter = matches!(meaning, Some((JitterMeaning::JitterMs, _)));
    let audio = |direction: Direction| -> Audio {
        let mut audio = Audio::default();
        let mut jitters = Vec::new();
        let mut rtts = Vec::new();
        // The longest stretch of seconds past the thresholds, and where it began.
        let (mut run, mut run_start, mut longest, mut longest_start) = (0u32, 0u32, 0u32, 0u32);
        for s in samples.iter().filter(|s| s.direction == direction) {
            let packets = s.packets.unwrap_or(0.0).max(0.0);
            let lost = s.lost.unwrap_or(0.0).max(0.0);
            let sec = second_of(s.at_ms);
            let jitter = if jitter_is_jitter {
                s.jitter_buffer_ms.filter(|j| *j >= 0.0)
            } else {
                None
            };
            let rtt = s.rtt_ms.filter(|r| *r >= 0.0).or_else(|| rtt_near(sec));
            let loss = loss_pct(direction, packets, lost);
            let g = grade(rtt, jitter, loss, t);
            if g.problems.is_empty() || packets == 0.0 {
                run = 0;
            } else {
                if run == 0 {
                    run_start = sec;
                }
                run += 1;
                if run > longest {
                    (longest, longest_start) = (run, run_start);
                }
            }
            audio.seconds += 1;
            audio.packets += packets as u64;
            audio.packets_lost += lost as u64;
            if packets == 0.0 {
                audio.silent_seconds += 1;
            }
            jitters.extend(jitter);
            rtts.extend(rtt);
            audio.series.push(Second {
                t_s: sec,
                packets: packets.min(f64::from(u32::MAX)) as u32,
                lost: lost.min(f64::from(u32::MAX)) as u32,
                loss_pct: round2(loss),
                jitter_ms: jitter,
                rtt_ms: rtt,
                audio_level: s.audio_level.map(|l| l.clamp(0.0, 32_767.0) as u32),
                mos: g.mos,
            });
        }
        if audio.seconds == 0 {
            return audio;
        }
        let avg =
            |v: &[f64]| (!v.is_empty()).then(|| round2(v.iter().sum::<f64>() / v.len() as f64));
        let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
        audio.loss_pct = round2(loss_pct(
            direction,
            audio.packets as f64,
            audio.packets_lost as f64,
        ));
        audio.jitter_avg_ms = avg(&jitters);
        audio.jitter_max_ms = max(&jitters);
        audio.rtt_avg_ms = avg(&rtts);
        audio.rtt_max_ms = max(&rtts);
        let g = grade(audio.rtt_avg_ms, audio.jitter_avg_ms, audio.loss_pct, t);
        audio.mos = Some(g.mos);
        audio.mos_min = audio.series.iter().map(|s| s.mos).reduce(f64::min);
        audio.problems = g.problems;
        if longest >= BAD_STRETCH_S {
            audio.problems.push(format!(
                "{longest} s in a row past the thresholds from second {longest_start}"
            ));
        }
        audio
    };
    let mut input = audio(Direction::Input);
    let mut output = audio(Direction::Output);

    // Dropouts and one-way audio: one way silent while the other flows.
    let flowing = |a: &Audio| -> std::collections::BTreeSet<u32> {
        a.series
            .iter()
            .filter(|s| s.packets > 0)
            .map(|s| s.t_s)
            .collect()
    };
    let (in_flow, out_flow) = (flowing(&input), flowing(&output));
    let mut one_way: Option<&'static str> = None;
    for (audio, other, name) in [
        (&mut input, &out_flow, "the agent"),
        (&mut output, &in_flow, "the customer"),
    ] {
        if other.len() < 3 || audio.seconds == 0 && other.is_empty() {
            continue;
        }
        let silent_while_other: Vec<u32> = audio
            .series
            .iter()
            .filter(|s| s.packets == 0 && other.contains(&s.t_s))
            .map(|s| s.t_s)
            .collect();
        let heard = audio.series.iter().filter(|s| s.packets > 0).count();
        if audio.seconds == 0 || heard * 10 < other.len() {
            one_way.get_or_insert(name);
            audio.problems.push(format!(
                "{name} heard nothing while the other way flowed for {} s",
                other.len()
            ));
            continue;
        }
        let mut run = 0u32;
        let mut longest = 0u32;
        let mut previous: Option<u32> = None;
        for &s in &silent_while_other {
            run = if previous == Some(s.wrapping_sub(1)) {
                run + 1
            } else {
                1
            };
            longest = longest.max(run);
            previous = Some(s);
        }
        if longest >= DROPOUT_S {
            audio.problems.push(format!(
                "audio to {name} dropped out for {longest} s in a row"
            ));
        }
    }

    let mut worst: Vec<WorstSecond> = [(&input, Direction::Input), (&output, Direction::Output)]
        .iter()
        .flat_map(|(audio, direction)| audio.series.iter().map(move |s| (s, *direction)))
        .filter(|(s, _)| s.mos < NAME_BELOW_MOS || s.packets > 0 && s.loss_pct >= t.loss_fail_pct)
        .map(|(s, direction)| WorstSecond {
            at: iso(start_ms.unwrap_or(0) + i64::from(s.t_s) * 1000),
            direction: direction.name().to_owned(),
            t_s: s.t_s,
            mos: s.mos,
            loss_pct: s.loss_pct,
            jitter_ms: s.jitter_ms,
            rtt_ms: s.rtt_ms,
            problems: grade(s.rtt_ms, s.jitter_ms, s.loss_pct, t).problems,
        })
        .collect();
    worst.sort_by(|a, b| a.mos.total_cmp(&b.mos).then(a.t_s.cmp(&b.t_s)));
    worst.truncate(WORST_SECONDS);

    let failures = report.map(|r| r.failures.clone()).unwrap_or_default();
    let phases = report.map(|r| r.phases.clone()).unwrap_or_default();
    let started = report.and_then(|r| r.start_ms).or(b.first_ms).or(start_ms);
    let ended = report
        .and_then(|r| r.end_ms)
        .or_else(|| samples.iter().map(|s| s.at_ms).max());

    let has = |flags: &[&str]| failures.iter().any(|f| flags.contains(&f.as_str()));
    let ice = has(&[
        "iceCollectionFailure",
        "noRemoteIceCandidateFailure",
        "peerConnectionFailed",
        "iceRestartFailed",
    ]) || b.error_reasons.contains(&Reason::IceFailed);
    let signalling = has(&["signallingConnectionFailure", "handshakingFailure"])
        || b.error_reasons.contains(&Reason::SignallingFailed);
    let setup = !failures.is_empty() || !b.error_reasons.is_empty();
    let who = b
        .contact
        .as_deref()
        .map_or_else(|| "a call".to_owned(), |c| format!("call {c}"));
    let flags = if failures.is_empty() {
        String::new()
    } else {
        format!(" (flags: {})", failures.join(", "))
    };
    let mut problems: Vec<String> = Vec::new();
    for (audio, name) in [
        (&input, "what the agent heard"),
        (&output, "what the customer heard"),
    ] {
        if !audio.problems.is_empty() {
            problems.push(format!("{name}: {}", audio.problems.join("; ")));
        }
    }
    let figures = |a: &Audio| -> String {
        match a.mos {
            Some(mos) => format!(
                "loss {:.1} %, jitter {}, RTT {}, MOS {mos:.2}",
                a.loss_pct,
                a.jitter_avg_ms
                    .map_or_else(|| "not graded".to_owned(), |j| format!("{j:.0} ms")),
                a.rtt_avg_ms
                    .map_or_else(|| "not reported".to_owned(), |r| format!("{r:.0} ms")),
            ),
            None => "no samples".to_owned(),
        }
    };
    let audio_line = format!(
        "agent heard: {}; customer heard: {}",
        figures(&input),
        figures(&output)
    );
    let (status, reason, detail, remedy) = if ice {
        (
            Status::Fail,
            Reason::IceFailed,
            format!("{who} failed to set up its media path{flags}"),
            Some(advice::of(&ErrorKind::Ice(""), names).remedy),
        )
    } else if signalling {
        (
            Status::Fail,
            Reason::SignallingFailed,
            format!("{who} failed at signalling{flags}"),
            Some(advice::of(&ErrorKind::Signalling(""), names).remedy),
        )
    } else if setup {
        let t = b
            .softphone_errors
            .first()
            .cloned()
            .unwrap_or_else(|| "other".to_owned());
        (
            Status::Fail,
            Reason::SoftphoneError,
            format!("{who} failed: softphone error {t}{flags}"),
            Some(advice::of(&ErrorKind::Softphone(t), names).remedy),
        )
    } else if let Some(name) = one_way {
        (
            Status::Fail,
            Reason::OneWayAudio,
            format!("{who} had one-way audio: {name} heard nothing; {audio_line}"),
            Some(advice::one_way(name, names)),
        )
    } else if b.failed_state {
        (
            Status::Warn,
            Reason::SoftphoneError,
            format!("{who} ended in FailedState without a failure flag (hung up during setup?)"),
            Some(advice::of(&ErrorKind::Softphone("other".to_owned()), names).remedy),
        )
    } else if source.is_none() {
        (
            Status::Skip,
            Reason::NotTested,
            format!("{who}: the log holds no audio statistics for it"),
            None,
        )
    } else if !problems.is_empty() {
        // The whole call judged as the live sample is: past a failing limit (loss, MOS) fails.
        let fails = [&input, &output].iter().any(|a| {
            a.packets > 0
                && grade(a.rtt_avg_ms, a.jitter_avg_ms, a.loss_pct, t).status == Status::Fail
        });
        (
            if fails { Status::Fail } else { Status::Warn },
            Reason::PoorQuality,
            format!("{who} sounded poor: {}; {audio_line}", problems.join("; ")),
            Some(advice::poor_quality(names)),
        )
    } else {
        (
            Status::Pass,
            Reason::Ok,
            format!("{who}: {audio_line}"),
            None,
        )
    };
    let (jitter_meaning, jitter_meaning_from) =
        meaning.map_or((None, None), |(m, why)| (Some(m), Some(why)));
    Call {
        contact_id: b.contact,
        started_at: started.map(iso),
        ended_at: ended.map(iso),
        status,
        reason,
        detail,
        remedy,
        phases,
        states: b.states,
        failures,
        softphone_errors: b.softphone_errors,
        audio_input: input,
        audio_output: output,
        worst_seconds: worst,
        stats_source: source,
        jitter_meaning,
        jitter_meaning_from,
        rtc_js_version: version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_read_from_session_lines() {
        assert_eq!(
            transition("TalkingState => CleanUpState"),
            Some("CleanUpState")
        );
        assert_eq!(
            transition("null => GrabLocalMediaState"),
            Some("GrabLocalMediaState")
        );
        assert_eq!(transition("Substate: null => Something x"), None);
        assert_eq!(transition("onicecandidate {}"), None);
    }

    #[test]
    fn loss_counts_expected_packets_by_direction() {
        assert_eq!(loss_pct(Direction::Input, 48.0, 2.0), 4.0);
        assert_eq!(loss_pct(Direction::Output, 50.0, 2.0), 4.0);
        assert_eq!(loss_pct(Direction::Input, 0.0, 0.0), 0.0);
    }

    #[test]
    fn jitter_meaning_follows_the_version_then_the_values() {
        let s = |jb: f64| Sample {
            direction: Direction::Input,
            at_ms: 0,
            packets: Some(50.0),
            lost: Some(0.0),
            audio_level: None,
            jitter_buffer_ms: Some(jb),
            rtt_ms: None,
            has_buffer_delay: false,
        };
        let flat: Vec<Sample> = (0..10).map(|_| s(12.0)).collect();
        let growing: Vec<Sample> = (0..10).map(|i| s(1_000.0 * f64::from(i))).collect();
        assert_eq!(
            jitter_meaning(&flat, Some("1.3.2")).0,
            JitterMeaning::CumulativeBufferDelay
        );
        assert_eq!(
            jitter_meaning(&growing, Some("1.1.20")).0,
            JitterMeaning::JitterMs
        );
        assert_eq!(
            jitter_meaning(&growing, None).0,
            JitterMeaning::CumulativeBufferDelay
        );
        assert_eq!(jitter_meaning(&flat, None).0, JitterMeaning::JitterMs);
        let mut marked = growing.clone();
        marked[0].has_buffer_delay = true;
        assert_eq!(
            jitter_meaning(&marked, Some("1.3.2")).0,
            JitterMeaning::JitterMs
        );
    }
}
