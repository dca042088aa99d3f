//! What the circuit breaker measures, with oxy's windows: rolling counters of 10 one-second
//! buckets (total answers, network errors, each status code) and a rolling latency histogram
//! of 6 HDR histograms (1 µs to 1 hour, 2 significant figures) rotated every 10 s.

use std::collections::HashMap;

const SECOND: u64 = 1_000_000_000;
const COUNTER_BUCKETS: usize = 10;
const HISTOGRAM_BUCKETS: usize = 6;
const HISTOGRAM_PERIOD: u64 = 10 * SECOND;

/// A count over the last 10 seconds, in one-second buckets (oxy's `RollingCounter`).
#[derive(Debug, Clone, Default)]
pub struct RollingCounter {
    values: [u64; COUNTER_BUCKETS],
    /// When it was last incremented (ns); `None` when never or since a reset.
    last_updated: Option<u64>,
}

fn bucket_of(time: u64) -> usize {
    ((time / SECOND) % COUNTER_BUCKETS as u64) as usize
}

impl RollingCounter {
    /// Zeroes the buckets of the seconds that passed since the last increment.
    fn cleanup(&mut self, now: u64) {
        let last = self.last_updated.map(|t| t / SECOND);
        for i in 0..COUNTER_BUCKETS as u64 {
            let Some(checkpoint) = now.checked_sub(i * SECOND) else {
                break;
            };
            if last.is_none_or(|last| checkpoint / SECOND > last) {
                self.values[bucket_of(checkpoint)] = 0;
            } else {
                break;
            }
        }
    }

    /// Adds one at `now`.
    pub fn inc(&mut self, now: u64) {
        self.cleanup(now);
        self.values[bucket_of(now)] += 1;
        self.last_updated = Some(now);
    }

    /// The count over the window ending at `now`.
    pub fn count(&mut self, now: u64) -> u64 {
        self.cleanup(now);
        self.values.iter().sum()
    }
}

/// HDR histogram geometry for values 1 to 3 600 000 000 (µs) at 2 significant figures:
/// 256 sub-buckets (half of them per bucket past the first), 25 buckets.
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_COUNT: u64 = 256;
const SUB_BUCKET_HALF_COUNT: u64 = 128;
const SUB_BUCKET_MASK: u64 = 255;
const BUCKET_COUNT: u64 = 25;
const COUNTS_LEN: usize = ((BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT) as usize;
const HIGHEST_TRACKABLE: u64 = 3_600_000_000;

fn bucket_index(value: u64) -> u64 {
    let pow2_ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
    (pow2_ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)) as u64
}

fn sub_bucket_index(value: u64, bucket: u64) -> u64 {
    value >> bucket
}

fn counts_index(bucket: u64, sub_bucket: u64) -> usize {
    (((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF_COUNT)
        as usize
}

fn value_from_index(bucket: u64, sub_bucket: u64) -> u64 {
    sub_bucket << bucket
}

/// The largest value recorded in the same slot as `value` (the HDR "highest equivalent").
fn highest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    let sub_bucket = sub_bucket_index(value, bucket);
    let adjusted = if sub_bucket >= SUB_BUCKET_COUNT {
        bucket + 1
    } else {
        bucket
    };
    value_from_index(bucket, sub_bucket) + (1 << adjusted) - 1
}

/// One HDR histogram's counts.
#[derive(Clone)]
struct Histogram {
    counts: Box<[u64]>,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; COUNTS_LEN].into_boxed_slice(),
        }
    }

    fn reset(&mut self) {
        self.counts.fill(0);
    }

    /// Records a value; values past an hour are dropped, as by hdrhistogram-go.
    fn record(&mut self, value: u64) {
        if value > HIGHEST_TRACKABLE {
            return;
        }
        let bucket = bucket_index(value);
        if let Some(count) = self
            .counts
            .get_mut(counts_index(bucket, sub_bucket_index(value, bucket)))
        {
            *count += 1;
        }
    }
}

/// The latencies of the last 6 periods of 10 s (oxy's `RollingHDRHistogram`): the current
/// histogram rotates at the first record 10 s or more after the last rotation.
struct RollingHistogram {
    buckets: Vec<Histogram>,
    index: usize,
    /// When it last rotated (ns); `None` before the first record (oxy's zero time).
    last_roll: Option<u64>,
}

impl RollingHistogram {
    fn new() -> Self {
        Self {
            buckets: vec![Histogram::new(); HISTOGRAM_BUCKETS],
            index: 0,
            last_roll: None,
        }
    }

    fn reset(&mut self, now: u64) {
        self.index = 0;
        self.last_roll = Some(now);
        self.buckets.iter_mut().for_each(Histogram::reset);
    }

    fn record(&mut self, now: u64, value: u64) {
        if self
            .last_roll
            .is_none_or(|last| now.saturating_sub(last) >= HISTOGRAM_PERIOD)
        {
            self.index = (self.index + 1) % self.buckets.len();
            self.buckets[self.index].reset();
            self.last_roll = Some(now);
        }
        self.buckets[self.index].record(value);
    }

    /// hdrhistogram-go's `ValueAtQuantile` over the merged histograms: `q` is a percentile
    /// (0 to 100), the count wanted is rounded to nearest, the value is its slot's highest.
    fn value_at_quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().flat_map(|h| h.counts.iter()).sum();
        let q = q.min(100.0);
        let wanted = ((q / 100.0) * total as f64 + 0.5) as u64;
        let mut seen = 0;
        let mut bucket = 0;
        let mut sub_bucket = 0;
        while seen < total && bucket < BUCKET_COUNT {
            let index = counts_index(bucket, sub_bucket);
            let count: u64 = self.buckets.iter().map(|h| h.counts[index]).sum();
            seen += count;
            if seen >= wanted {
                return highest_equivalent(value_from_index(bucket, sub_bucket));
            }
            sub_bucket += 1;
            if sub_bucket >= SUB_BUCKET_COUNT {
                sub_bucket = SUB_BUCKET_HALF_COUNT;
                bucket += 1;
            }
        }
        0
    }
}

/// Every metric the trip condition can read (oxy's `RTMetrics`).
pub struct Metrics {
    total: RollingCounter,
    network_errors: RollingCounter,
    status_codes: HashMap<u16, RollingCounter>,
    latency: RollingHistogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self {
            total: RollingCounter::default(),
            network_errors: RollingCounter::default(),
            status_codes: HashMap::new(),
            latency: RollingHistogram::new(),
        }
    }

    /// Records an answer with `status` that took `latency_ns`, at `now`: 502 and 504 count as
    /// network errors.
    pub fn record(&mut self, now: u64, status: u16, latency_ns: u64) {
        self.total.inc(now);
        if status == 502 || status == 504 {
            self.network_errors.inc(now);
        }
        self.status_codes.entry(status).or_default().inc(now);
        self.latency.record(now, latency_ns / 1000);
    }

    /// Forgets everything (when the breaker trips).
    pub fn reset(&mut self, now: u64) {
        self.total = RollingCounter::default();
        self.network_errors = RollingCounter::default();
        self.status_codes.clear();
        self.latency.reset(now);
    }

    /// Network errors over answers; 0 with no answer.
    pub fn network_error_ratio(&mut self, now: u64) -> f64 {
        let total = self.total.count(now);
        if total == 0 {
            return 0.0;
        }
        self.network_errors.count(now) as f64 / total as f64
    }

    /// Answers with a status in `[from, to)` over those in `[dividend_from, dividend_to)`;
    /// 0 when there is none of the latter.
    pub fn response_code_ratio(
        &mut self,
        now: u64,
        from: i64,
        to: i64,
        dividend_from: i64,
        dividend_to: i64,
    ) -> f64 {
        let (mut a, mut b) = (0, 0);
        for (&code, counter) in &mut self.status_codes {
            let code = i64::from(code);
            let count = counter.count(now);
            if code >= from && code < to {
                a += count;
            }
            if code >= dividend_from && code < dividend_to {
                b += count;
            }
        }
        if b == 0 {
            return 0.0;
        }
        a as f64 / b as f64
    }

    /// The latency at percentile `q` (0 to 100), in µs.
    pub fn latency_at_quantile_us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn counters_forget_what_is_older_than_ten_seconds() {
        let mut counter = RollingCounter::default();
        let start = 100 * SECOND;
        counter.inc(start);
        counter.inc(start + 500 * MS);
        counter.inc(start + 3 * SECOND);
        assert_eq!(counter.count(start + 3 * SECOND), 3);
        assert_eq!(counter.count(start + 9 * SECOND + 999 * MS), 3);
        // The first second's bucket is reused 10 s later.
        assert_eq!(counter.count(start + 10 * SECOND), 1);
        assert_eq!(counter.count(start + 13 * SECOND), 0);
        assert_eq!(counter.count(start + 60 * SECOND), 0);
    }

    #[test]
    fn ratios_of_network_errors_and_status_codes() {
        let mut metrics = Metrics::new();
        let now = 50 * SECOND;
        assert_eq!(metrics.network_error_ratio(now), 0.0);
        assert_eq!(metrics.response_code_ratio(now, 500, 600, 0, 600), 0.0);
        for status in [200, 200, 502, 504, 500, 404, 200, 200] {
            metrics.record(now, status, MS);
        }
        assert_eq!(metrics.network_error_ratio(now), 0.25);
        assert_eq!(
            metrics.response_code_ratio(now, 500, 600, 0, 600),
            3.0 / 8.0
        );
        assert_eq!(metrics.response_code_ratio(now, 400, 500, 200, 300), 0.25);
        metrics.reset(now);
        assert_eq!(metrics.network_error_ratio(now), 0.0);
    }

    #[test]
    fn quantiles_as_hdrhistogram_go() {
        let mut metrics = Metrics::new();
        let now = 50 * SECOND;
        assert_eq!(metrics.latency_at_quantile_us(50.0), 0);
        for ms in 1..=100 {
            metrics.record(now, 200, ms * MS);
        }
        // 50 000 µs sits in a slot 256 µs wide: its highest equivalent value.
        assert_eq!(metrics.latency_at_quantile_us(50.0), 50_175);
        assert_eq!(metrics.latency_at_quantile_us(50.0) / 1000, 50);
        assert_eq!(metrics.latency_at_quantile_us(100.0) / 1000, 100);
        assert_eq!(metrics.latency_at_quantile_us(0.0), 0);
        // Exact below 256 µs.
        let mut small = Metrics::new();
        small.record(now, 200, 200_000);
        assert_eq!(small.latency_at_quantile_us(99.0), 200);
    }

    #[test]
    fn the_histogram_rotates_once_per_record_after_ten_seconds() {
        let mut metrics = Metrics::new();
        let mut now = 50 * SECOND;
        metrics.record(now, 200, 900 * MS);
        // Six rotations later the first period is gone.
        for _ in 0..5 {
            now += 10 * SECOND;
            metrics.record(now, 200, MS);
        }
        assert_eq!(metrics.latency_at_quantile_us(100.0) / 1000, 901);
        now += 10 * SECOND;
        metrics.record(now, 200, MS);
        assert_eq!(metrics.latency_at_quantile_us(100.0) / 1000, 1);
    }
}
