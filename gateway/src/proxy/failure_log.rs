//! Failed forwards logged at WARN with router, service, server and reason, at most a few lines
//! a second, so an outage is visible without flooding the log; the lines left out are counted
//! and reported with the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// WARN lines written per second at most; the rest are counted.
pub const LINES_PER_SECOND: u64 = 10;

/// A per-second budget of log lines, shared by every request (lock-free).
#[derive(Debug, Default)]
pub struct LogBudget {
    /// The current second (since the epoch) and how many lines it used: `second << 16 | used`.
    window: AtomicU64,
    /// Lines left out since the last one written.
    suppressed: AtomicU64,
}

impl LogBudget {
    /// Whether a line may be written now (`Some`, with the number left out before it).
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(now_seconds())
    }

    fn admit_at(&self, second: u64) -> Option<u64> {
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window_second, used) = (current >> 16, current & 0xffff);
            let next = if window_second == second {
                if used >= LINES_PER_SECOND {
                    self.suppressed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                current + 1
            } else {
                (second << 16) | 1
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(actual) => current = actual,
            }
        }
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_admits_its_budget_and_counts_the_rest() {
        let budget = LogBudget::default();
        for _ in 0..LINES_PER_SECOND {
            assert_eq!(budget.admit_at(100), Some(0));
        }
        assert_eq!(budget.admit_at(100), None);
        assert_eq!(budget.admit_at(100), None);
        assert_eq!(
            budget.admit_at(101),
            Some(2),
            "the next second reports what was left out"
        );
        assert_eq!(budget.admit_at(101), Some(0));
    }
}
