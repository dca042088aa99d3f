//! The in-memory limiter: golang.org/x/time/rate's token bucket per source, in sharded LRU
//! maps bounded to [`MAX_SOURCES`] with Traefik's TTL cache expiry (an idle bucket is
//! dropped after its TTL, and the least recently used goes first when full).

use super::{Limits, MAX_SOURCES};
use lru::LruCache;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shards of the bucket map: requests from different sources rarely wait on one lock.
const SHARDS: usize = 16;

/// One source's bucket: tokens left at `last` (nanoseconds on the limiter's clock).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    tokens: f64,
    last: u64,
}

impl Bucket {
    /// A full bucket (x/time/rate's new limiter, first advanced).
    pub(super) fn full(limits: &Limits, now: u64) -> Self {
        Self {
            tokens: limits.burst as f64,
            last: now,
        }
    }

    /// Reserves one token at `now`: the wait before it is available. A wait longer than
    /// `max_delay` is cancelled (the token is given back), as Traefik does.
    pub(super) fn reserve(&mut self, limits: &Limits, now: u64) -> Duration {
        let last = self.last.min(now);
        // Go's Duration.Seconds(): whole seconds plus the fraction.
        let elapsed = now - last;
        let elapsed = (elapsed / 1_000_000_000) as f64 + (elapsed % 1_000_000_000) as f64 / 1e9;
        let burst = limits.burst as f64;
        let mut tokens = (self.tokens + elapsed * limits.rate).min(burst);
        tokens -= 1.0;
        let wait = if tokens < 0.0 {
            Duration::from_nanos((-tokens / limits.rate * 1e9) as u64)
        } else {
            Duration::ZERO
        };
        if wait > limits.max_delay {
            tokens = (tokens + 1.0).min(burst);
        }
        self.tokens = tokens;
        self.last = now;
        wait
    }
}

/// One shard: buckets by source, least recently used first out.
type Shard = Mutex<LruCache<Box<[u8]>, Entry>>;

struct Entry {
    bucket: Bucket,
    /// Unix second from which the bucket counts as gone (ttlmap's expiry).
    expires: u64,
}

/// Buckets by source, for one `rateLimit`.
pub struct LocalLimiter {
    limits: Limits,
    shards: Box<[Shard]>,
    hasher: RandomState,
    started: Instant,
    /// Unix time of `started`, in nanoseconds.
    started_unix: u64,
}

impl LocalLimiter {
    /// An empty limiter.
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MAX_SOURCES)
    }

    fn with_capacity(limits: Limits, capacity: usize) -> Self {
        let per_shard = NonZeroUsize::new((capacity / SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            limits,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        }
    }

    /// Takes a token for `source` now: how long the request must wait for it.
    pub fn allow(&self, source: &[u8]) -> Duration {
        self.allow_at(source, self.started.elapsed().as_nanos() as u64)
    }

    /// [`allow`](Self::allow) at `now` nanoseconds on the limiter's clock.
    fn allow_at(&self, source: &[u8], now: u64) -> Duration {
        let second = (self.started_unix + now) / 1_000_000_000;
        let expires = second + self.limits.ttl_secs;
        let shard = (self.hasher.hash_one(source) as usize) % SHARDS;
        let mut buckets = self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = match buckets.get_mut(source) {
            Some(entry) => {
                if entry.expires <= second {
                    entry.bucket = Bucket::full(&self.limits, now);
                }
                entry
            }
            None => {
                let fresh = Entry {
                    bucket: Bucket::full(&self.limits, now),
                    expires,
                };
                buckets.push(source.into(), fresh);
                buckets.get_mut(source).expect("just pushed")
            }
        };
        entry.expires = expires;
        entry.bucket.reserve(&self.limits, now)
    }

    /// How many sources are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn limits(average: i64, period: &str, burst: i64) -> Limits {
        let json = format!(r#"{{"average": {average}, "period": "{period}", "burst": {burst}}}"#);
        Limits::new(&serde_json::from_str(&json).unwrap()).unwrap()
    }

    #[test]
    fn tokens_refill_at_the_rate_up_to_the_burst() {
        let l = limits(10, "1s", 2);
        let mut bucket = Bucket::full(&l, 0);
        assert_eq!(bucket.reserve(&l, 0), Duration::ZERO);
        assert_eq!(bucket.reserve(&l, 0), Duration::ZERO);
        // Empty: the next token is 100 ms away, beyond maxDelay (50 ms): rejected, kept.
        assert_eq!(bucket.reserve(&l, 0), Duration::from_millis(100));
        assert_eq!(
            bucket.reserve(&l, 0),
            Duration::from_millis(100),
            "not consumed"
        );
        // 60 ms later: 0.6 token, the next is 40 ms away: within maxDelay, reserved.
        let wait = bucket.reserve(&l, 60_000_000);
        assert!(wait.abs_diff(Duration::from_millis(40)) < Duration::from_micros(1));
        // That reservation took the token: the next waits 140 ms.
        let wait = bucket.reserve(&l, 60_000_000);
        assert!(wait.abs_diff(Duration::from_millis(140)) < Duration::from_micros(1));
        // Long idle: back to the burst, no more.
        assert_eq!(bucket.reserve(&l, 100 * SECOND), Duration::ZERO);
        assert_eq!(bucket.reserve(&l, 100 * SECOND), Duration::ZERO);
        assert!(bucket.reserve(&l, 100 * SECOND) > Duration::ZERO);
    }

    #[test]
    fn slow_rates_wait_up_to_half_a_second() {
        let l = limits(1, "2s", 1);
        let mut bucket = Bucket::full(&l, 0);
        assert_eq!(bucket.reserve(&l, 0), Duration::ZERO);
        assert_eq!(
            bucket.reserve(&l, SECOND),
            Duration::from_secs(1),
            "rejected"
        );
        // 1.6 s in: 0.8 token, 400 ms to go: delayed, not rejected.
        let wait = bucket.reserve(&l, 1_600_000_000);
        assert!(wait.abs_diff(Duration::from_millis(400)) < Duration::from_micros(1));
    }

    #[test]
    fn time_going_back_is_no_refill() {
        let l = limits(1, "1s", 1);
        let mut bucket = Bucket::full(&l, 5 * SECOND);
        assert_eq!(bucket.reserve(&l, 5 * SECOND), Duration::ZERO);
        assert_eq!(bucket.reserve(&l, SECOND), Duration::from_secs(1));
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let limiter = LocalLimiter::new(limits(1, "1m", 1));
        assert_eq!(limiter.allow_at(b"a", 0), Duration::ZERO);
        assert_eq!(limiter.allow_at(b"b", 0), Duration::ZERO);
        assert_eq!(limiter.allow_at(b"a", 0), Duration::from_secs(60));
    }

    #[test]
    fn idle_buckets_expire_after_their_ttl() {
        // 1/min: TTL 61 s; a bucket idle that long starts full again (Traefik's TTL map).
        let limiter = LocalLimiter::new(limits(1, "1m", 1));
        let base = SECOND - limiter.started_unix % SECOND;
        assert_eq!(limiter.allow_at(b"a", base), Duration::ZERO);
        assert!(limiter.allow_at(b"a", base + 30 * SECOND) > Duration::ZERO);
        // Last used at +30 s: expired at +91 s.
        assert_eq!(
            limiter.allow_at(b"a", base + 90 * SECOND),
            Duration::from_secs(0)
        );
        assert!(limiter.allow_at(b"a", base + 90 * SECOND) > Duration::ZERO);
    }

    #[test]
    fn the_number_of_sources_is_bounded_and_the_least_recent_goes() {
        let limiter = LocalLimiter::with_capacity(limits(1, "1m", 1), 64);
        for i in 0..10_000u32 {
            limiter.allow_at(&i.to_be_bytes(), 0);
        }
        assert!(limiter.len() <= 64, "{}", limiter.len());
        let full = LocalLimiter::new(limits(1, "1m", 1));
        for i in 0..100_000u32 {
            full.allow_at(&i.to_be_bytes(), 0);
        }
        assert!(full.len() <= MAX_SOURCES);
        assert!(full.len() > MAX_SOURCES / 2, "{}", full.len());
        // A source used again is kept while newer ones evict the others of its shard.
        let small = LocalLimiter::with_capacity(limits(1, "1m", 1), SHARDS * 2);
        small.allow_at(b"kept", 0);
        for i in 0..1000u32 {
            small.allow_at(b"kept", 0);
            small.allow_at(&i.to_be_bytes(), 0);
        }
        assert!(
            small.allow_at(b"kept", 0) > Duration::ZERO,
            "still tracked: empty"
        );
    }
}
