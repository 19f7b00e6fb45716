//! Figures of a sample train: round-trip times, RFC 3550 jitter, loss, reordering, and an E-model
//! estimate of call quality. Pure functions of the samples.

use serde::Serialize;

/// One request of the train: when it was sent (ms from the start) and its round trip, if answered.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Sample {
    pub sent_ms: f64,
    pub rtt_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Figures {
    pub sent: usize,
    pub received: usize,
    pub loss_pct: f64,
    pub rtt_min_ms: f64,
    pub rtt_avg_ms: f64,
    pub rtt_p95_ms: f64,
    pub rtt_max_ms: f64,
    /// RFC 3550 §6.4.1 interarrival jitter, applied to the round-trip transit times.
    pub jitter_ms: f64,
    /// Replies that arrived after a reply to a later request.
    pub reordered: usize,
    /// Twilio's simplified ITU-T G.107 E-model ([`super::grade`]): 1 (bad) to 4.43 (best).
    pub mos: f64,
}

/// Computes the figures; `arrival_order` lists the sample indexes in the order replies arrived.
pub(crate) fn figures(samples: &[Sample], arrival_order: &[usize]) -> Option<Figures> {
    let rtts: Vec<f64> = samples.iter().filter_map(|s| s.rtt_ms).collect();
    if rtts.is_empty() {
        return None;
    }
    let sent = samples.len();
    let received = rtts.len();
    let loss_pct = 100.0 * (sent - received) as f64 / sent as f64;
    let mut sorted = rtts.clone();
    sorted.sort_by(f64::total_cmp);
    let avg = rtts.iter().sum::<f64>() / received as f64;
    let p95 = percentile(&sorted, 95.0);

    // RFC 3550: J += (|D(i-1,i)| - J) / 16, in sending order over the answered requests.
    let mut jitter = 0.0;
    let mut previous: Option<f64> = None;
    for rtt in samples.iter().filter_map(|s| s.rtt_ms) {
        if let Some(prev) = previous {
            jitter += ((rtt - prev).abs() - jitter) / 16.0;
        }
        previous = Some(rtt);
    }

    let mut reordered = 0;
    let mut highest: Option<usize> = None;
    for &i in arrival_order {
        match highest {
            Some(h) if i < h => reordered += 1,
            _ => highest = Some(i),
        }
    }

    Some(Figures {
        sent,
        received,
        loss_pct,
        rtt_min_ms: sorted[0],
        rtt_avg_ms: avg,
        rtt_p95_ms: p95,
        rtt_max_ms: sorted[sorted.len() - 1],
        jitter_ms: jitter,
        reordered,
        mos: mos(avg, jitter, loss_pct),
    })
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The E-model estimate, rounded to two decimals: Twilio's formula ([`super::grade::mos`]).
pub(crate) fn mos(rtt_avg_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    (super::grade::mos(rtt_avg_ms, jitter_ms, loss_pct) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(rtts: &[Option<f64>]) -> Vec<Sample> {
        rtts.iter()
            .enumerate()
            .map(|(i, &rtt_ms)| Sample {
                sent_ms: 20.0 * i as f64,
                rtt_ms,
            })
            .collect()
    }

    #[test]
    fn steady_link() {
        let s = train(&[Some(40.0); 50]);
        let order: Vec<usize> = (0..50).collect();
        let f = figures(&s, &order).unwrap();
        assert_eq!(
            (f.sent, f.received, f.loss_pct, f.reordered),
            (50, 50, 0.0, 0)
        );
        assert_eq!(
            (
                f.rtt_min_ms,
                f.rtt_avg_ms,
                f.rtt_p95_ms,
                f.rtt_max_ms,
                f.jitter_ms
            ),
            (40.0, 40.0, 40.0, 40.0, 0.0)
        );
        assert!(f.mos > 4.3, "{}", f.mos);
    }

    #[test]
    fn alternating_delay_converges_to_the_rfc_jitter() {
        // |D| is always 20 ms, so J tends to 20 ms.
        let rtts: Vec<Option<f64>> = (0..400)
            .map(|i| Some(if i % 2 == 0 { 40.0 } else { 60.0 }))
            .collect();
        let order: Vec<usize> = (0..400).collect();
        let f = figures(&train(&rtts), &order).unwrap();
        assert!((f.jitter_ms - 20.0).abs() < 0.01, "{}", f.jitter_ms);
        assert_eq!(f.rtt_p95_ms, 60.0);
    }

    #[test]
    fn loss_and_reordering_are_counted() {
        let s = train(&[Some(10.0), None, Some(12.0), Some(11.0), None]);
        let f = figures(&s, &[0, 3, 2]).unwrap();
        assert_eq!(
            (f.sent, f.received, f.loss_pct, f.reordered),
            (5, 3, 40.0, 1)
        );
        assert!(figures(&train(&[None, None]), &[]).is_none());
    }

    #[test]
    fn mos_falls_with_delay_jitter_and_loss() {
        let good = mos(40.0, 2.0, 0.0);
        assert!(good > 4.3);
        assert!(mos(400.0, 2.0, 0.0) < good);
        assert!(mos(40.0, 40.0, 0.0) < good);
        assert!(mos(40.0, 2.0, 5.0) < mos(40.0, 2.0, 1.0));
        assert!(mos(2000.0, 500.0, 60.0) >= 1.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            (
                percentile(&v, 50.0),
                percentile(&v, 95.0),
                percentile(&v, 100.0)
            ),
            (50.0, 95.0, 100.0)
        );
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }
}
