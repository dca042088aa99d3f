//! Stateful runtime objects carried from one compiled configuration to the next (WRR cursors
//! today; rate-limit buckets, breakers, health and sticky tables next), keyed by the object's
//! qualified name and a fingerprint of its configuration: an object whose configuration did not
//! change keeps its state across a reload; a changed or removed one starts afresh or is dropped.

use std::any::Any;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a piece of state belongs to: its kind (`wrr`) and the qualified name of its object.
type StateKey = (&'static str, String);

/// State objects by key, each with its configuration fingerprint and the round it was last used.
#[derive(Default)]
pub struct StateRegistry {
    objects: HashMap<StateKey, Kept>,
    round: u64,
}

struct Kept {
    fingerprint: u64,
    state: Arc<dyn Any + Send + Sync>,
    last_used: u64,
}

impl std::fmt::Debug for StateRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateRegistry")
            .field("objects", &self.objects.len())
            .field("round", &self.round)
            .finish()
    }
}

/// A fingerprint of whatever configuration state depends on.
pub fn fingerprint(config: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    config.hash(&mut hasher);
    hasher.finish()
}

impl StateRegistry {
    /// The state of `kind` for object `name`: the kept one when its configuration `fingerprint`
    /// is the same as when it was made, else a new one from `make`.
    pub fn get_or_make<T: Any + Send + Sync>(
        &mut self,
        kind: &'static str,
        name: &str,
        fingerprint: u64,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let round = self.round;
        let key = (kind, name.to_string());
        if let Some(kept) = self.objects.get_mut(&key) {
            if kept.fingerprint == fingerprint {
                if let Ok(state) = kept.state.clone().downcast::<T>() {
                    kept.last_used = round;
                    return state;
                }
            }
        }
        let state = Arc::new(make());
        self.objects.insert(
            key,
            Kept {
                fingerprint,
                state: state.clone(),
                last_used: round,
            },
        );
        state
    }

    /// Ends a compile: drops the state that it did not ask for (objects removed or changed).
    pub fn forget_unused(&mut self) {
        let round = self.round;
        self.objects.retain(|_, kept| kept.last_used == round);
        self.round += 1;
    }

    /// Number of state objects kept.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn unchanged_objects_keep_their_state() {
        let mut registry = StateRegistry::default();
        let first = registry.get_or_make("counter", "a@file", 1, || AtomicU32::new(0));
        first.fetch_add(5, Ordering::Relaxed);
        registry.get_or_make("counter", "b@file", 1, || AtomicU32::new(0));
        registry.forget_unused();

        let again = registry.get_or_make("counter", "a@file", 1, || AtomicU32::new(0));
        assert!(
            Arc::ptr_eq(&first, &again),
            "same object, same configuration"
        );
        assert_eq!(again.load(Ordering::Relaxed), 5);
        registry.forget_unused();
        assert_eq!(registry.len(), 1, "b was not asked for: dropped");

        let changed = registry.get_or_make("counter", "a@file", 2, || AtomicU32::new(0));
        assert_eq!(
            changed.load(Ordering::Relaxed),
            0,
            "a new configuration starts afresh"
        );
        let other_kind = registry.get_or_make("other", "a@file", 2, || AtomicU32::new(7));
        assert_eq!(
            other_kind.load(Ordering::Relaxed),
            7,
            "kinds do not share state"
        );
    }
}
