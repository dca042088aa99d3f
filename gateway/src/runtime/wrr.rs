//! Smooth weighted round robin, precomputed into a schedule so a pick is one atomic increment.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest schedule kept; heavier weight sets are scaled down to fit (ratios kept to ~0.1%).
const MAX_SCHEDULE: u64 = 4096;

/// A fixed rotation over items with integer weights, in nginx's smooth weighted round robin order
/// (`a:5 b:1 c:1` gives `a a b a c a a`, never long runs of one item).
///
/// The order is computed once when the configuration is compiled; picking is lock-free.
#[derive(Debug)]
pub struct SmoothWeightedSchedule {
    order: Box<[u32]>,
    next: AtomicUsize,
}

impl SmoothWeightedSchedule {
    /// Builds the rotation for `weights` (index = item). Items with weight 0 never appear.
    /// Returns `None` when no item has a positive weight.
    pub fn new(weights: &[u64]) -> Option<Self> {
        let weights = fit(weights)?;
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for (i, weight) in weights.iter().enumerate() {
                current[i] += weight;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            order.push(best as u32);
        }
        Some(Self {
            order: order.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// The next item's index.
    #[inline]
    pub fn pick(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.order[n % self.order.len()] as usize
    }

    /// Length of one full rotation.
    pub fn period(&self) -> usize {
        self.order.len()
    }
}

/// Reduces weights by their common divisor and scales them down to fit `MAX_SCHEDULE`.
fn fit(weights: &[u64]) -> Option<Vec<i64>> {
    let divisor = weights.iter().copied().filter(|&w| w > 0).reduce(gcd)?;
    let reduced: Vec<u64> = weights.iter().map(|w| w / divisor).collect();
    let total: u64 = reduced.iter().sum();
    let scaled = if total > MAX_SCHEDULE {
        reduced
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    (w * MAX_SCHEDULE / total).max(1)
                }
            })
            .collect()
    } else {
        reduced
    };
    Some(scaled.into_iter().map(|w| w as i64).collect())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(weights: &[u64]) -> Vec<usize> {
        let schedule = SmoothWeightedSchedule::new(weights).unwrap();
        (0..schedule.period()).map(|_| schedule.pick()).collect()
    }

    #[test]
    fn nginx_order() {
        assert_eq!(rotation(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(rotation(&[1, 1, 1]), [0, 1, 2]);
        assert_eq!(
            rotation(&[2, 4]),
            [1, 0, 1],
            "reduced by the common divisor"
        );
    }

    #[test]
    fn zero_weights_never_picked() {
        assert_eq!(rotation(&[0, 3]), [1]);
        assert!(SmoothWeightedSchedule::new(&[0, 0]).is_none());
        assert!(SmoothWeightedSchedule::new(&[]).is_none());
    }

    #[test]
    fn large_weights_keep_their_ratio() {
        let picks = rotation(&[10_000, 3_333, 1]);
        let count = |i| picks.iter().filter(|&&p| p == i).count() as f64;
        assert!(
            (count(0) / count(1) - 3.0).abs() < 0.01,
            "{} {}",
            count(0),
            count(1)
        );
        assert_eq!(count(2), 1.0, "a tiny weight is kept at 1, not dropped");
        assert!(picks.len() <= MAX_SCHEDULE as usize + 1);
    }

    #[test]
    fn picks_wrap_around() {
        let schedule = SmoothWeightedSchedule::new(&[1, 2]).unwrap();
        let picks: Vec<usize> = (0..6).map(|_| schedule.pick()).collect();
        assert_eq!(picks, [1, 0, 1, 1, 0, 1]);
    }
}
