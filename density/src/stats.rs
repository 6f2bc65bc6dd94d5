//! Percentiles of latency samples (nearest-rank, no interpolation).

use serde::{Deserialize, Serialize};

/// The 50th, 90th and 99th percentiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The `p`-th percentile (0 < `p` ≤ 100) of `sorted` (ascending) by the
/// nearest-rank method: the smallest sample such that at least `p`% of the
/// samples are less than or equal to it. `None` for an empty sample.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    // Precision: sample counts stay far below 2^52.
    #[allow(clippy::cast_precision_loss)]
    let count = sorted.len() as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = (p / 100.0 * count).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Sorts `samples` and returns their percentiles, `None` if there are none.
pub fn summarize(samples: &mut [f64]) -> Option<Percentiles> {
    samples.sort_by(f64::total_cmp);
    Some(Percentiles {
        p50: percentile(samples, 50.0)?,
        p90: percentile(samples, 90.0)?,
        p99: percentile(samples, 99.0)?,
    })
}

/// The median of `samples` (sorting them), `None` if there are none.
pub fn median(samples: &mut [f64]) -> Option<f64> {
    samples.sort_by(f64::total_cmp);
    percentile(samples, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50.0));
        assert_eq!(percentile(&samples, 90.0), Some(90.0));
        assert_eq!(percentile(&samples, 99.0), Some(99.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
    }

    #[test]
    fn small_samples_and_edges() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0], 51.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.0), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 101.0), None);
    }

    #[test]
    fn summarize_sorts_first() {
        let mut samples = vec![5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0];
        let summary = summarize(&mut samples).unwrap_or_else(|| unreachable!());
        assert_eq!(summary.p50, 5.0);
        assert_eq!(summary.p90, 9.0);
        assert_eq!(summary.p99, 10.0);
        assert_eq!(summarize(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    }
}
