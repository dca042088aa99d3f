//! Watching a KV prefix with Consul blocking queries, by Consul's client rules: the index is
//! reset when it goes backwards and never sent below 1, wake-ups are rate limited, a wake-up
//! with unchanged data is not reported, and an unreachable Consul is retried with backoff and
//! jitter while the caller keeps its last configuration. The first query after a failure does
//! not block: an agent that came back restarted or restored has a lower index, and a blocking
//! query on the old one would wait its whole time before showing what it holds.

use super::client::{ConsulClient, KvListing, KvPair};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// How long one blocking query waits for a change (Consul's default is 5 minutes). Short
/// enough that an agent which accepts the connection but never answers is left for the next
/// endpoint within a minute ([`blocking_timeout`](super::client::blocking_timeout) of it).
pub const BLOCKING_WAIT: Duration = Duration::from_secs(50);
/// Most wake-ups per second, after a burst of two (Consul's advice against hot loops).
const WAKE_UPS_PER_SECOND: u32 = 20;
/// First and longest retry delay while Consul cannot be reached.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));

/// The index to send next, given the one sent and the one answered (Consul's rules).
pub fn next_index(sent: u64, answered: u64) -> u64 {
    if answered < sent {
        // The index went backwards (snapshot restore, deleted key...): start over.
        0
    } else {
        answered
    }
}

/// A listing reported by [`watch_prefix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchUpdate {
    /// Every key under the prefix.
    pub pairs: Vec<KvPair>,
    /// The first listing after Consul was unreachable or its index went backwards: it may come
    /// from an agent restarted empty or from another cluster, whose ModifyIndex values say
    /// nothing about the earlier ones, so whatever is cached by them must be dropped.
    pub reread: bool,
}

/// Watches every key under `prefix`, calling `on_change` with the full listing whenever the
/// keys or values change (once at start, and once after every outage). Runs until
/// `on_change` resolves to false.
pub async fn watch_prefix<F, Fut>(
    client: Arc<ConsulClient>,
    prefix: String,
    wait: Duration,
    mut on_change: F,
) where
    F: FnMut(WatchUpdate) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let limiter = RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(WAKE_UPS_PER_SECOND).expect("non-zero"))
            .allow_burst(NonZeroU32::new(2).expect("non-zero")),
    );
    // None until the first answer (and after a failure); every later query blocks on it.
    let mut index: Option<u64> = None;
    // The index of the last answer, failures or not.
    let mut answered_before: Option<u64> = None;
    let mut reread = false;
    let mut last: Option<u64> = None;
    let mut backoff = BACKOFF.0;
    let mut reachable = true;
    loop {
        limiter.until_ready().await;
        let block = index.map(|index| (index, wait));
        match client.kv_list(&prefix, block).await {
            Ok(KvListing {
                index: answered,
                pairs,
            }) => {
                if !reachable {
                    tracing::info!(endpoint = client.endpoint(), "Consul is reachable again");
                    reachable = true;
                }
                backoff = BACKOFF.0;
                reread |= answered_before.is_some_and(|before| answered < before);
                answered_before = Some(answered);
                index = Some(next_index(index.unwrap_or(0), answered));
                let fingerprint = KvPair::fingerprint(&pairs);
                if reread || last != Some(fingerprint) {
                    last = Some(fingerprint);
                    let update = WatchUpdate { pairs, reread };
                    reread = false;
                    if !on_change(update).await {
                        return;
                    }
                } else {
                    tracing::trace!(?index, "Consul woke the watch; nothing changed");
                }
            }
            Err(e) => {
                index = None;
                reread = answered_before.is_some();
                if reachable {
                    tracing::error!("{e}; keeping the last good configuration and retrying");
                    reachable = false;
                }
                let jitter = backoff.mul_f64(fastrand::f64() * 0.5);
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_rules() {
        assert_eq!(next_index(0, 5), 5);
        assert_eq!(next_index(5, 5), 5, "a wait that timed out keeps the index");
        assert_eq!(next_index(5, 9), 9);
        assert_eq!(next_index(9, 3), 0, "backwards: reset");
    }
}
