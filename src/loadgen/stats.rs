//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies of the successful calls of a run, in nanoseconds.
///
/// Every sample is kept (8 bytes each): runs are bounded by a request count, and exact
/// percentiles need no bucket-width caveat next to the figures they are compared with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    nanos: Vec<u64>,
    sorted: bool,
}

impl Latencies {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Latencies {
            nanos: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.nanos.extend(other.nanos);
        self.sorted = false;
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q`-quantile (`q` in [0, 1]) by nearest rank: the smallest sample with at least
    /// a share `q` of the samples at or below it. `None` without samples.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        self.sort();
        let n = self.nanos.len();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        Some(Duration::from_nanos(self.nanos[rank.clamp(1, n) - 1]))
    }

    /// Mean latency; `None` without samples.
    pub fn mean(&self) -> Option<Duration> {
        if self.nanos.is_empty() {
            return None;
        }
        let sum: u128 = self.nanos.iter().map(|&n| u128::from(n)).sum();
        Some(Duration::from_nanos(
            (sum / self.nanos.len() as u128) as u64,
        ))
    }

    /// The usual summary: p50, p90, p99, max and mean, in milliseconds (0 without samples).
    pub fn summary_ms(&mut self) -> Summary {
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        Summary {
            p50_ms: ms(self.quantile(0.50)),
            p90_ms: ms(self.quantile(0.90)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(self.quantile(1.0)),
            mean_ms: ms(self.mean()),
        }
    }
}

/// Latency percentiles of a run, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for ms in (1..=100).rev() {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(l.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(l.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(l.quantile(0.0), Some(Duration::from_millis(1)));
        let s = l.summary_ms();
        assert_eq!((s.p90_ms, s.max_ms, s.mean_ms), (90.0, 100.0, 50.5));
    }

    #[test]
    fn merged_samples_count_and_empty_runs_have_no_quantiles() {
        let mut a = Latencies::with_capacity(2);
        assert_eq!(a.quantile(0.5), None);
        assert_eq!(a.summary_ms(), Summary::default());
        a.record(Duration::from_micros(3));
        let mut b = Latencies::default();
        b.record(Duration::from_micros(1));
        a.merge(b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.quantile(0.5), Some(Duration::from_micros(1)));
    }
}
