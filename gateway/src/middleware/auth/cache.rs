//! The credentials a basicAuth verified recently, known by a keyed hash, never by password.

use arc_swap::ArcSwapOption;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Entries per set: a header may sit in any of them.
const WAYS: usize = 4;

/// A header's keyed hash.
pub type Tag = u128;

struct Entry {
    tag: Tag,
    user: u32,
    expires: Instant,
}

/// Verified credentials, so that a slow hash (bcrypt) is paid once per client credential and
/// not once per request. It never holds a password: an `Authorization` header is known by a
/// 128-bit SipHash under a random key of the cache's own, mapped to the index of the user it
/// proved. It is bounded (a fixed array of sets, the entry closest to expiring replaced),
/// entries expire, reads take no lock, and only successes are put in it. Concurrent checks of
/// the same header share one verification.
pub struct CredentialCache {
    keys: (u64, u64),
    sets: Box<[[ArcSwapOption<Entry>; WAYS]]>,
    ttl: Duration,
    /// Verifications under way, by tag (touched on a miss only).
    in_flight: Mutex<HashMap<Tag, Arc<OnceCell<Option<u32>>>>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("capacity", &self.capacity())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// A cache of about `capacity` entries (rounded up to whole sets) that keeps each for
    /// `ttl`, under a fresh random key.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let mut seed = [0u8; 16];
        // Without the OS's randomness, a key from the std hasher's per-process random seed.
        if getrandom::fill(&mut seed).is_err() {
            let state = std::hash::RandomState::new();
            let a = std::hash::BuildHasher::hash_one(&state, Instant::now());
            let b = std::hash::BuildHasher::hash_one(&state, a);
            seed[..8].copy_from_slice(&a.to_le_bytes());
            seed[8..].copy_from_slice(&b.to_le_bytes());
        }
        let k0 = u64::from_le_bytes(seed[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(seed[8..].try_into().expect("8 bytes"));
        let sets = capacity.div_ceil(WAYS).max(1);
        Self {
            keys: (k0, k1),
            sets: (0..sets)
                .map(|_| std::array::from_fn(|_| ArcSwapOption::empty()))
                .collect(),
            ttl,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// How many entries it can hold.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// The keyed hash of a whole `Authorization` header value.
    pub fn tag(&self, header: &[u8]) -> Tag {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(header);
        hasher.finish128().into()
    }

    fn set(&self, tag: Tag) -> &[ArcSwapOption<Entry>; WAYS] {
        &self.sets[(tag as usize) % self.sets.len()]
    }

    /// The user `tag` proved, if that was verified less than the TTL before `now`.
    pub fn lookup(&self, tag: Tag, now: Instant) -> Option<u32> {
        self.set(tag).iter().find_map(|slot| {
            let entry = slot.load();
            let entry = entry.as_ref()?;
            (entry.tag == tag && entry.expires > now).then_some(entry.user)
        })
    }

    /// Records that `tag` proved `user` at `now`.
    pub fn insert(&self, tag: Tag, user: u32, now: Instant) {
        let set = self.set(tag);
        let expiry = |slot: &ArcSwapOption<Entry>| match slot.load().as_ref() {
            None => None,
            Some(entry) if entry.tag == tag => None,
            Some(entry) => Some(entry.expires),
        };
        // The slot of the same tag or an empty one; else the one closest to expiring.
        let slot = set
            .iter()
            .min_by_key(|slot| expiry(slot))
            .expect("a set has slots");
        slot.store(Some(Arc::new(Entry {
            tag,
            user,
            expires: now + self.ttl,
        })));
    }

    /// The user `tag` proves: from the cache, or from `verify` (run once for concurrent
    /// callers with the same tag), whose success is cached.
    pub async fn get_or_verify<F>(&self, tag: Tag, verify: impl FnOnce() -> F) -> Option<u32>
    where
        F: Future<Output = Option<u32>>,
    {
        if let Some(user) = self.lookup(tag, Instant::now()) {
            return Some(user);
        }
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.entry(tag).or_default().clone()
        };
        let waiter = Waiter {
            cache: self,
            tag,
            cell,
        };
        *waiter
            .cell
            .get_or_init(|| async {
                let user = verify().await;
                if let Some(user) = user {
                    self.insert(tag, user, Instant::now());
                }
                user
            })
            .await
    }
}

/// One caller's share of a verification under way: when it ends (done, or dropped with its
/// request), the verification leaves the in-flight table once done or once no one waits.
struct Waiter<'a> {
    cache: &'a CredentialCache,
    tag: Tag,
    cell: Arc<OnceCell<Option<u32>>>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ours = in_flight
            .get(&self.tag)
            .is_some_and(|current| Arc::ptr_eq(current, &self.cell));
        // Two holders: the table and this waiter, the last one.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) == 2) {
            in_flight.remove(&self.tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_hit_until_the_entry_expires() {
        let cache = CredentialCache::new(16, Duration::from_secs(60));
        let now = Instant::now();
        let tag = cache.tag(b"Basic dGVzdDp0ZXN0");
        assert_eq!(cache.lookup(tag, now), None);
        cache.insert(tag, 3, now);
        assert_eq!(cache.lookup(tag, now), Some(3));
        assert_eq!(cache.lookup(tag, now + Duration::from_secs(59)), Some(3));
        assert_eq!(cache.lookup(tag, now + Duration::from_secs(60)), None);
    }

    #[test]
    fn another_password_is_another_tag() {
        let cache = CredentialCache::new(16, Duration::from_secs(60));
        let now = Instant::now();
        let good = cache.tag(b"Basic dGVzdDp0ZXN0");
        let other = cache.tag(b"Basic dGVzdDp0ZXN1");
        cache.insert(good, 0, now);
        assert_ne!(good, other);
        assert_eq!(cache.lookup(other, now), None);
    }

    #[test]
    fn each_cache_has_its_own_key() {
        let a = CredentialCache::new(4, Duration::from_secs(1));
        let b = CredentialCache::new(4, Duration::from_secs(1));
        assert_ne!(a.tag(b"Basic x"), b.tag(b"Basic x"));
    }

    #[test]
    fn it_holds_no_more_than_its_capacity() {
        let cache = CredentialCache::new(8, Duration::from_secs(60));
        assert_eq!(cache.capacity(), 8);
        let now = Instant::now();
        let tags: Vec<Tag> = (0..100u32)
            .map(|i| cache.tag(format!("Basic {i}").as_bytes()))
            .collect();
        for (i, tag) in tags.iter().enumerate() {
            cache.insert(*tag, i as u32, now + Duration::from_millis(i as u64));
        }
        let kept = tags
            .iter()
            .filter(|tag| cache.lookup(**tag, now).is_some())
            .count();
        assert!(kept <= 8, "{kept} kept");
        assert!(
            cache.lookup(*tags.last().unwrap(), now).is_some(),
            "the newest is kept"
        );
    }

    #[test]
    fn only_successes_are_cached() {
        let cache = CredentialCache::new(16, Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let verify = |result: Option<u32>| {
            calls.fetch_add(1, Ordering::Relaxed);
            std::future::ready(result)
        };
        let bad = cache.tag(b"bad");
        assert_eq!(block_on(cache.get_or_verify(bad, || verify(None))), None);
        assert_eq!(block_on(cache.get_or_verify(bad, || verify(None))), None);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            2,
            "a failure is checked again"
        );
        let good = cache.tag(b"good");
        assert_eq!(
            block_on(cache.get_or_verify(good, || verify(Some(1)))),
            Some(1)
        );
        assert_eq!(
            block_on(cache.get_or_verify(good, || verify(Some(1)))),
            Some(1)
        );
        assert_eq!(calls.load(Ordering::Relaxed), 3, "a success is remembered");
        assert!(cache.in_flight.lock().unwrap().is_empty());
    }

    #[test]
    fn concurrent_checks_of_one_header_share_the_verification() {
        let cache = CredentialCache::new(16, Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let tag = cache.tag(b"same");
        let check = || {
            cache.get_or_verify(tag, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
                None
            })
        };
        let (a, b) = block_on(async { tokio::join!(check(), check()) });
        assert_eq!((a, b), (None, None));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(cache.in_flight.lock().unwrap().is_empty());
    }

    #[test]
    fn an_abandoned_verification_leaves_nothing_behind() {
        let cache = CredentialCache::new(16, Duration::from_secs(60));
        let tag = cache.tag(b"gone");
        let mut check = Box::pin(cache.get_or_verify(tag, std::future::pending));
        let waker = std::task::Waker::noop();
        assert!(check
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending());
        assert_eq!(cache.in_flight.lock().unwrap().len(), 1);
        drop(check);
        assert!(cache.in_flight.lock().unwrap().is_empty());
    }
}
