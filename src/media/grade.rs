//! How a call-quality sample is graded, in one place, from the field's published references: the
//! Binding train, the relayed echo and the WebRTC call all come here, so one set of figures gets
//! one verdict whichever test measured it.
//!
//! The references, each number with its source (the README's media section has the table):
//! - **AWS** (Connect's network guidance): round-trip time to the Region over 300 ms and a jitter
//!   buffer over 30 ms are abnormal. AWS publishes no loss limit. Defaults of `rtt_ms` and
//!   `jitter_ms`.
//! - **Twilio** (`twilio-voice.js` `lib/twilio/statsMonitor.ts`, `DEFAULT_THRESHOLDS`): a warning
//!   at `packetsLostFraction: { max: 1 }` (percent), `jitter: { max: 30 }`, `mos: { min: 3 }`, and
//!   when loss averages over 3 % across 7 samples. **Microsoft** (Teams and the Microsoft 365
//!   network test): loss under 1 %, jitter under 30 ms. Hence loss of 1 % or more warns
//!   (`loss_warn_pct`).
//! - **The MOS** is Twilio's simplified E-model (`lib/twilio/rtc/mos.ts`, the same in
//!   `twilio-video.js` `lib/preflight/mos.ts`): effective latency = RTT + 2 x jitter + 10 ms (the
//!   round trip itself, not halved); R = 94.768 - Le/40 below 160 ms, else 94.768 - (Le - 120)/10,
//!   0 from 1000 ms; loss costs 2.5 R a percent (R floored at 6.52, 0 when loss exceeds R/2.5);
//!   MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R).
//! - **The MOS bands** are Twilio's score (`mosToScore` in `lib/preflight/mos.ts`): above 4.2,
//!   above 4.0, above 3.6, above 3.0, the rest. Above 3.6 passes. Above 3.0 up to 3.6 warns: a
//!   path at exactly AWS's two limits (300 ms, 30 ms, no loss) scores 3.59, so this band is what
//!   AWS calls abnormal. 3.0 and below fails: Twilio raises its in-call `mos.min 3` warning there
//!   and its preflight calls it "degraded"; it is R under about 58, where ITU-T G.107's user
//!   satisfaction scale has nearly all users dissatisfied.
//! - **Loss fails at 5 %** (`loss_fail_pct`): on a path at AWS's own RTT and jitter limits, 4.7 %
//!   loss takes the MOS to 3.0, the band that fails; and it is past Twilio's sustained-loss level
//!   (3 % averaged) by more than half again. Calls there break up whatever else the path does.

use serde::Deserialize;

use crate::report::{Reason, Status};

/// Media quality limits, as a site profile's `[thresholds]` may set them. The defaults are AWS's
/// published guidance (RTT and jitter), and for loss, which AWS does not publish, Twilio's and
/// Microsoft's 1 % (a warning) and the level where calls break up, 5 % (a failure): see above.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub rtt_ms: f64,
    pub jitter_ms: f64,
    pub loss_warn_pct: f64,
    pub loss_fail_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            rtt_ms: 300.0,
            jitter_ms: 30.0,
            loss_warn_pct: 1.0,
            loss_fail_pct: 5.0,
        }
    }
}

/// Twilio's R0, the R-factor of a perfect path (`const r0 = 94.768` in `mos.ts`).
pub(crate) const R0: f64 = 94.768;

/// The MOS above which a call passes (Twilio's score 3, "good", and better).
pub(crate) const MOS_PASS_ABOVE: f64 = 3.6;
/// The MOS at or below which a call fails (Twilio's score 1; its `mos.min` warning is 3).
pub(crate) const MOS_FAIL_AT_OR_BELOW: f64 = 3.0;

/// Twilio's simplified E-model, as `calculate` in `twilio-voice.js` `lib/twilio/rtc/mos.ts` and
/// `calculateMOS` in `twilio-video.js` `lib/preflight/mos.ts`: round trip and jitter in
/// milliseconds, loss in percent. 1.0 (bad) to 4.43 (a perfect path).
pub(crate) fn mos(rtt_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    let effective = rtt_ms + 2.0 * jitter_ms + 10.0;
    let mut r = if effective < 160.0 {
        R0 - effective / 40.0
    } else if effective < 1000.0 {
        R0 - (effective - 120.0) / 10.0
    } else {
        0.0
    };
    r = if loss_pct <= r / 2.5 {
        (r - loss_pct * 2.5).max(6.52)
    } else {
        0.0
    };
    1.0 + 0.035 * r + 0.000_007 * r * (r - 60.0) * (100.0 - r)
}

/// Twilio's score for a MOS (`mosToScore`), with the names its voice preflight gives the bands.
/// Public: the lab compares the bands `ccp-log` and the live check give one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    Excellent,
    Great,
    Good,
    Fair,
    Degraded,
}

impl Band {
    pub fn of(mos: f64) -> Self {
        if mos > 4.2 {
            Self::Excellent
        } else if mos > 4.0 {
            Self::Great
        } else if mos > MOS_PASS_ABOVE {
            Self::Good
        } else if mos > MOS_FAIL_AT_OR_BELOW {
            Self::Fair
        } else {
            Self::Degraded
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excellent => "excellent",
            Self::Great => "great",
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Degraded => "degraded",
        }
    }

    /// Twilio's score, 5 (excellent) to 1 (degraded).
    pub(crate) fn score(self) -> u8 {
        match self {
            Self::Excellent => 5,
            Self::Great => 4,
            Self::Good => 3,
            Self::Fair => 2,
            Self::Degraded => 1,
        }
    }

    fn status(self) -> Status {
        match self {
            Self::Excellent | Self::Great | Self::Good => Status::Pass,
            Self::Fair => Status::Warn,
            Self::Degraded => Status::Fail,
        }
    }

    /// The band's range and what it means here.
    fn judged(self) -> &'static str {
        match self {
            Self::Excellent => "over 4.2",
            Self::Great => "over 4.0",
            Self::Good => "over 3.6, passes",
            Self::Fair => "3.0 to 3.6, warns: past what AWS's limits allow",
            Self::Degraded => "3.0 or below, fails: calls are hard to follow",
        }
    }
}

/// The figures to grade: what the sample measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Measured {
    /// The round trip, when the test knows one (a call without RTCP reports yet does not).
    pub rtt_ms: Option<f64>,
    pub jitter_ms: f64,
    pub loss_pct: f64,
}

/// The verdict on a sample: the worst of its findings, each judged against its reference.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grade {
    pub status: Status,
    pub reason: Reason,
    /// Twilio's E-model estimate, when the round trip is known.
    pub mos: Option<f64>,
    pub band: Option<Band>,
    /// Every figure with the reference it was judged against, e.g. "jitter 11.5 ms (AWS: over
    /// 30 ms is abnormal)".
    pub judged: Vec<String>,
    /// What is past a limit, worst first.
    pub problems: Vec<String>,
}

impl Grade {
    /// `"; "`-joined figures and references, for the check's detail.
    pub(crate) fn against(&self) -> String {
        self.judged.join("; ")
    }
}

/// Who set a limit: the reference (`names`: plain and possessive) when the site profile kept its
/// value, else the site profile.
fn source(
    value: f64,
    reference: f64,
    names: (&'static str, &'static str),
) -> (&'static str, &'static str) {
    if (value - reference).abs() < 1e-9 {
        names
    } else {
        ("the site profile", "the site profile's")
    }
}

/// Grades one sample against the thresholds (the site profile's, defaulting to the references).
pub(crate) fn grade(m: Measured, t: &Thresholds) -> Grade {
    let reference = Thresholds::default();
    let mut judged = Vec::new();
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    if let Some(rtt) = m.rtt_ms {
        let (who, whose) = source(t.rtt_ms, reference.rtt_ms, ("AWS", "AWS's"));
        judged.push(format!(
            "round trip {rtt:.0} ms ({who}: over {:.0} ms is abnormal)",
            t.rtt_ms
        ));
        if rtt > t.rtt_ms {
            warns.push(format!(
                "round-trip time {rtt:.0} ms is over {whose} {:.0} ms",
                t.rtt_ms
            ));
        }
    }
    let (who, whose) = source(
        t.jitter_ms,
        reference.jitter_ms,
        ("AWS and Twilio", "AWS's and Twilio's"),
    );
    judged.push(format!(
        "jitter {:.1} ms ({who}: over {:.0} ms)",
        m.jitter_ms, t.jitter_ms
    ));
    if m.jitter_ms > t.jitter_ms {
        warns.push(format!(
            "jitter {:.1} ms is over {whose} {:.0} ms",
            m.jitter_ms, t.jitter_ms
        ));
    }
    let defaults = (t.loss_warn_pct - reference.loss_warn_pct).abs() < 1e-9
        && (t.loss_fail_pct - reference.loss_fail_pct).abs() < 1e-9;
    let who = if defaults {
        "Twilio and Microsoft"
    } else {
        "the site profile"
    };
    judged.push(format!(
        "loss {:.1} % ({who}: {:.0} % or more warns; {:.0} % or more fails)",
        m.loss_pct, t.loss_warn_pct, t.loss_fail_pct
    ));
    if m.loss_pct >= t.loss_fail_pct {
        fails.push(format!(
            "loss {:.1} % is at or over {:.0} %, where calls break up",
            m.loss_pct, t.loss_fail_pct
        ));
    } else if m.loss_pct >= t.loss_warn_pct {
        let why = if defaults {
            "Twilio warns at and Microsoft targets"
        } else {
            "the site profile warns at"
        };
        warns.push(format!(
            "loss {:.1} % is at or over the {:.0} % {why}",
            m.loss_pct, t.loss_warn_pct
        ));
    }
    let mos = m.rtt_ms.map(|rtt| mos(rtt, m.jitter_ms, m.loss_pct));
    let band = mos.map(Band::of);
    if let (Some(mos), Some(band)) = (mos, band) {
        judged.push(format!(
            "MOS {mos:.2} (Twilio's E-model; band {}, {})",
            band.as_str(),
            band.judged()
        ));
        match band.status() {
            Status::Fail => fails.push(format!(
                "estimated MOS {mos:.2} is {MOS_FAIL_AT_OR_BELOW:.1} or below (Twilio's lowest band)"
            )),
            Status::Warn => warns.push(format!(
                "estimated MOS {mos:.2} is in Twilio's \"fair\" band ({MOS_FAIL_AT_OR_BELOW:.1} to {MOS_PASS_ABOVE:.1})"
            )),
            _ => {}
        }
    }
    let status = if !fails.is_empty() {
        Status::Fail
    } else if !warns.is_empty() {
        Status::Warn
    } else {
        Status::Pass
    };
    let reason = if status == Status::Pass {
        Reason::Ok
    } else {
        Reason::PoorQuality
    };
    fails.extend(warns);
    Grade {
        status,
        reason,
        mos,
        band,
        judged,
        problems: fails,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(rtt: f64, jitter: f64, loss: f64) -> Grade {
        grade(
            Measured {
                rtt_ms: Some(rtt),
                jitter_ms: jitter,
                loss_pct: loss,
            },
            &Thresholds::default(),
        )
    }

    #[test]
    fn the_mos_is_twilios_e_model_with_the_round_trip_not_halved() {
        // The worked figures: 252 ms RTT, 11.5 ms jitter, 2.8 % loss. By hand from mos.ts:
        // Le = 252 + 23 + 10 = 285; R = 94.768 - 16.5 - 7 = 71.268; MOS = 3.656.
        let m = mos(252.0, 11.5, 2.8);
        assert!((m - 3.656).abs() < 0.001, "{m}");
        // Below 160 ms the slope is 1/40: Le = 40 -> R = 93.768.
        let r: f64 = 93.768;
        let expected = 1.0 + 0.035 * r + 0.000_007 * r * (r - 60.0) * (100.0 - r);
        assert!((mos(20.0, 5.0, 0.0) - expected).abs() < 1e-9);
        // A perfect path is the top of the scale (Le = 10 ms, R = 94.518: 4.43).
        assert!((mos(0.0, 0.0, 0.0) - 4.433).abs() < 0.001);
        // Loss beyond R/2.5 is R = 0, MOS 1; an effective latency of 1000 ms or more leaves only
        // the floor of 6.52, which is MOS 1.0 too.
        assert!((mos(20.0, 0.0, 40.0) - 1.0).abs() < 1e-9);
        assert!((mos(1200.0, 0.0, 0.0) - 1.0).abs() < 0.001);
        // At AWS's two limits and no loss: the "fair" band.
        let at_limits = mos(300.0, 30.0, 0.0);
        assert!((at_limits - 3.586).abs() < 0.001, "{at_limits}");
    }

    #[test]
    fn twilios_bands_and_which_of_them_warn_and_fail() {
        let bands: Vec<(Band, u8)> = [4.3, 4.2, 4.1, 4.0, 3.7, 3.6, 3.1, 3.0, 1.0]
            .into_iter()
            .map(|m| (Band::of(m), Band::of(m).score()))
            .collect();
        assert_eq!(
            bands.iter().map(|b| b.1).collect::<Vec<_>>(),
            vec![5, 4, 4, 3, 3, 2, 2, 1, 1]
        );
        assert_eq!(Band::Good.status(), Status::Pass);
        assert_eq!(Band::Fair.status(), Status::Warn);
        assert_eq!(Band::Degraded.status(), Status::Fail);
    }

    #[test]
    fn loss_of_one_percent_warns_and_five_fails() {
        let clean = g(60.0, 2.0, 0.0);
        assert_eq!((clean.status, clean.reason), (Status::Pass, Reason::Ok));
        assert!(clean.problems.is_empty());
        let under = g(60.0, 2.0, 0.9);
        assert_eq!(under.status, Status::Pass);
        // 2.8 % on a 60 ms path: the MOS is still "excellent", the loss alone warns.
        let lossy = g(60.0, 2.0, 2.8);
        assert_eq!(
            (lossy.status, lossy.reason, lossy.band),
            (Status::Warn, Reason::PoorQuality, Some(Band::Excellent))
        );
        assert!(lossy.problems[0].contains("loss 2.8 %"), "{:?}", lossy);
        let broken = g(60.0, 2.0, 6.0);
        assert_eq!(broken.status, Status::Fail);
        assert!(broken.problems[0].contains("where calls break up"));
    }

    #[test]
    fn the_worked_example_warns_for_its_loss_and_passes_its_mos() {
        let w = g(252.0, 11.5, 2.8);
        assert_eq!(w.status, Status::Warn);
        assert_eq!(w.band, Some(Band::Good));
        assert_eq!(w.problems.len(), 1, "{:?}", w.problems);
        let text = w.against();
        for part in [
            "round trip 252 ms (AWS: over 300 ms is abnormal)",
            "jitter 11.5 ms (AWS and Twilio: over 30 ms)",
            "loss 2.8 % (Twilio and Microsoft: 1 % or more warns; 5 % or more fails)",
            "MOS 3.66 (Twilio's E-model; band good, over 3.6, passes)",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
    }

    #[test]
    fn a_limit_the_site_profile_changed_is_attributed_to_it() {
        let t = Thresholds {
            rtt_ms: 30.0,
            ..Thresholds::default()
        };
        let m = Measured {
            rtt_ms: Some(45.0),
            jitter_ms: 1.0,
            loss_pct: 0.0,
        };
        let g = grade(m, &t);
        assert_eq!(g.status, Status::Warn);
        assert!(
            g.problems[0].contains("over the site profile's 30 ms"),
            "{:?}",
            g.problems
        );
        assert!(
            g.against()
                .contains("jitter 1.0 ms (AWS and Twilio: over 30 ms)")
        );
    }

    #[test]
    fn aws_limits_warn_and_a_degraded_mos_fails() {
        let slow = g(350.0, 5.0, 0.0);
        assert_eq!(slow.status, Status::Warn);
        assert!(
            slow.problems
                .iter()
                .any(|p| p.contains("over AWS's 300 ms"))
        );
        let jittery = g(40.0, 45.0, 0.0);
        assert_eq!(jittery.status, Status::Warn);
        // 500 ms and 30 ms jitter: R = 49.8, MOS 2.57, the lowest band.
        let awful = g(500.0, 30.0, 0.0);
        assert_eq!(
            (awful.status, awful.band),
            (Status::Fail, Some(Band::Degraded))
        );
        assert!(
            awful.problems[0].contains("3.0 or below"),
            "{:?}",
            awful.problems
        );
        // Without a round trip there is no MOS; the rest is still graded.
        let no_rtt = grade(
            Measured {
                rtt_ms: None,
                jitter_ms: 3.0,
                loss_pct: 1.5,
            },
            &Thresholds::default(),
        );
        assert_eq!((no_rtt.status, no_rtt.mos), (Status::Warn, None));
    }
}
