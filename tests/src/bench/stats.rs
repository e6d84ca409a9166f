//! Latency samples → percentiles and rates, and the medians of rounds.
//!
//! Every figure of the benchmark is measured in several rounds that alternate between the two
//! sides of a pair (direct and through polyclaw); a figure is the median over rounds of the
//! per-round value, and an "added" or "ratio" figure is the median of the per-round differences
//! or quotients, so that a noisy round on a shared machine moves neither much.

use std::time::Duration;

/// One round of calls, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of calls.
    pub n: usize,
    /// Median latency.
    pub p50: f64,
    /// 95th percentile latency.
    pub p95: f64,
    /// 99th percentile latency.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
    /// Calls completed per second of wall time.
    pub per_sec: f64,
}

impl Summary {
    /// Summarises one round: `samples` are the latencies of its calls (reordered here),
    /// `wall` the time the whole round took. `None` when there is nothing to summarise.
    #[must_use]
    pub fn of(samples: &mut [Duration], wall: Duration) -> Option<Self> {
        if samples.is_empty() || wall.is_zero() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| micros(samples[rank(samples.len(), q)]);
        #[expect(clippy::cast_precision_loss, reason = "call counts are small")]
        let per_sec = samples.len() as f64 / wall.as_secs_f64();
        Some(Self {
            n: samples.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
            per_sec,
        })
    }

    /// The per-field median of several rounds (each field on its own).
    #[must_use]
    pub fn median_of(rounds: &[Self]) -> Option<Self> {
        let field = |f: fn(&Self) -> f64| median(rounds.iter().map(f).collect());
        Some(Self {
            n: rounds.iter().map(|r| r.n).sum(),
            p50: field(|r| r.p50)?,
            p95: field(|r| r.p95)?,
            p99: field(|r| r.p99)?,
            max: field(|r| r.max)?,
            per_sec: field(|r| r.per_sec)?,
        })
    }

    /// Whether every figure is a finite, positive number.
    #[must_use]
    pub fn is_sane(&self) -> bool {
        self.n > 0
            && [self.p50, self.p95, self.p99, self.max, self.per_sec]
                .iter()
                .all(|v| v.is_finite() && *v > 0.0)
    }
}

/// Nearest-rank index of quantile `q` (0..=1) in a sorted slice of `len` elements.
fn rank(len: usize, q: f64) -> usize {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "len is a small positive count and q is within 0..=1"
    )]
    let r = (q * len as f64).ceil() as usize;
    r.clamp(1, len) - 1
}

/// A duration in microseconds.
#[must_use]
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median of some values (mean of the middle two for an even count); `None` if empty or
/// if any value is not a number.
#[must_use]
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

/// Rounds of the two sides of a pair, measured alternately in the same run.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    /// The reference side (e.g. the client talking to the echo server directly).
    pub direct: Vec<Summary>,
    /// The side under test (the same calls through polyclaw).
    pub mesh: Vec<Summary>,
}

impl Paired {
    /// Median round of the direct side.
    #[must_use]
    pub fn direct(&self) -> Option<Summary> {
        Summary::median_of(&self.direct)
    }

    /// Median round of the mesh side.
    #[must_use]
    pub fn mesh(&self) -> Option<Summary> {
        Summary::median_of(&self.mesh)
    }

    /// Median over rounds of `mesh − direct` for one field (e.g. `|s| s.p50`).
    #[must_use]
    pub fn added(&self, field: fn(&Summary) -> f64) -> Option<f64> {
        median(
            self.direct
                .iter()
                .zip(&self.mesh)
                .map(|(d, m)| field(m) - field(d))
                .collect(),
        )
    }

    /// Median over rounds of `mesh ÷ direct` for one field (e.g. `|s| s.per_sec`).
    #[must_use]
    pub fn ratio(&self, field: fn(&Summary) -> f64) -> Option<f64> {
        median(
            self.direct
                .iter()
                .zip(&self.mesh)
                .map(|(d, m)| field(m) / field(d))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(us).collect();
        let s = Summary::of(&mut samples, Duration::from_secs(1)).expect("samples");
        assert_eq!(s.n, 100);
        assert!((s.p50 - 50.0).abs() < 1e-6);
        assert!((s.p95 - 95.0).abs() < 1e-6);
        assert!((s.p99 - 99.0).abs() < 1e-6);
        assert!((s.max - 100.0).abs() < 1e-6);
        assert!((s.per_sec - 100.0).abs() < 1e-6);
        assert!(s.is_sane());
    }

    #[test]
    fn nothing_to_summarise() {
        assert!(Summary::of(&mut [], Duration::from_secs(1)).is_none());
        assert!(Summary::of(&mut [us(1)], Duration::ZERO).is_none());
        assert!(median(Vec::new()).is_none());
        assert!(median(vec![1.0, f64::NAN]).is_none());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn paired_figures_are_medians_of_per_round_values() {
        let round = |p50: f64, per_sec: f64| Summary {
            n: 10,
            p50,
            p95: p50 * 2.0,
            p99: p50 * 3.0,
            max: p50 * 4.0,
            per_sec,
        };
        let paired = Paired {
            direct: vec![
                round(100.0, 1000.0),
                round(200.0, 500.0),
                round(100.0, 1000.0),
            ],
            mesh: vec![
                round(130.0, 900.0),
                round(500.0, 100.0),
                round(140.0, 950.0),
            ],
        };
        assert_eq!(paired.added(|s| s.p50), Some(40.0));
        assert_eq!(paired.ratio(|s| s.per_sec), Some(0.9));
        assert_eq!(paired.direct().map(|s| s.p50), Some(100.0));
        assert_eq!(paired.mesh().map(|s| s.n), Some(30));
    }
}
