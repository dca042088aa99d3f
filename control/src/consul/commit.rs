//! The commit contract's keys under `<root>/_commit/`, and the reader's side of it: whether a
//! listing of `<root>/` may replace the configuration in service, or is held (a change being
//! written or abandoned half way, a Consul that came back empty or rolled back).
//!
//! The writer's side is `apply`; the README's "Atomic changes: the commit contract" is the
//! user's description of both.

use super::client::KvPair;

/// The folder of the commit keys under the root key (outside what Traefik reads).
pub const COMMIT_FOLDER: &str = "_commit";

/// `<root>/_commit/generation`: the number of the last committed change.
pub fn generation_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/generation")
}

/// `<root>/_commit/pending`: the generation a multi-transaction change is writing.
pub fn pending_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/pending")
}

/// `<root>/_commit/lock`: held by the session of the apply writing a multi-transaction change.
pub fn lock_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/lock")
}

/// `<root>/_commit/parent`: the ModifyIndex of the generation key a commit replaced (`none`
/// when there was none), which tells a commit made on top of a held tree.
pub fn parent_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/parent")
}

/// How `_commit/parent` records a tree that had no generation key.
pub const NO_PARENT: &str = "none";

/// A key's value and ModifyIndex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The value, trimmed.
    pub value: String,
    /// Its ModifyIndex.
    pub modify_index: u64,
}

/// The commit keys of one listing of `<root>/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitKeys {
    /// `_commit/generation`.
    pub generation: Option<Stamp>,
    /// `_commit/pending`.
    pub pending: Option<Stamp>,
    /// `_commit/parent`.
    pub parent: Option<Stamp>,
    /// `_commit/lock` (its value describes the writer).
    pub lock: Option<Stamp>,
    /// The session holding `_commit/lock`, if it is locked.
    pub lock_session: Option<String>,
}

impl CommitKeys {
    /// Reads the commit keys out of a listing of `root`.
    pub fn read(root: &str, pairs: &[KvPair]) -> Self {
        let find = |key: String| pairs.iter().find(|p| p.key == key);
        let stamp = |pair: &KvPair| Stamp {
            value: pair.text().trim().to_string(),
            modify_index: pair.modify_index,
        };
        let lock = find(lock_key(root));
        Self {
            generation: find(generation_key(root)).map(stamp),
            pending: find(pending_key(root)).map(stamp),
            parent: find(parent_key(root)).map(stamp),
            lock: lock.map(stamp),
            lock_session: lock.and_then(|p| p.session.clone()),
        }
    }

    /// The committed generation; 0 when there is none or it is not a number.
    pub fn generation_number(&self) -> u64 {
        self.generation
            .as_ref()
            .and_then(|g| g.value.parse().ok())
            .unwrap_or(0)
    }

    /// The generation a change is being written to, when `pending` is set and differs from
    /// `generation`.
    pub fn pending_generation(&self) -> Option<&str> {
        let pending = self.pending.as_ref()?;
        let committed = self.generation.as_ref().map(|g| g.value.as_str());
        (committed != Some(pending.value.as_str())).then_some(pending.value.as_str())
    }

    /// The session holding the lock and the writer it describes.
    pub fn lock_holder(&self) -> Option<(&str, &str)> {
        let session = self.lock_session.as_deref()?;
        let holder = self.lock.as_ref().map_or("", |l| l.value.as_str());
        Some((session, holder))
    }
}

/// Why a listing is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// An apply holds the lock and is writing this generation.
    Writing {
        /// The generation being written.
        generation: String,
        /// The writer, as its lock describes it.
        holder: String,
    },
    /// `pending` is set but the lock of its writer is gone (its session expired): the change
    /// was abandoned half way.
    Abandoned {
        /// The generation that was being written.
        generation: String,
    },
    /// The tree is empty, after a listing that had keys.
    Empty,
    /// The generation is lower than the one in service.
    RolledBack {
        /// The generation in service.
        from: u64,
        /// The generation Consul now has.
        to: u64,
    },
    /// The generation key is gone while the tree still has keys.
    GenerationVanished,
    /// The generation key does not hold a number.
    BadGeneration {
        /// Its value.
        value: String,
    },
}

impl Hold {
    /// What was seen, naming the keys under `root`.
    pub fn describe(&self, root: &str) -> String {
        match self {
            Hold::Writing { generation, holder } => {
                format!("an apply is writing generation {generation} to {root}/ ({holder})")
            }
            Hold::Abandoned { generation } => format!(
                "the apply of generation {generation} to {root}/ was abandoned half way (its lock {} is gone); the next `control config apply` recovers",
                lock_key(root)
            ),
            Hold::Empty => format!("Consul's {root}/ tree is empty"),
            Hold::RolledBack { from, to } => {
                format!("{} went from {from} to {to}", generation_key(root))
            }
            Hold::GenerationVanished => format!("{} vanished", generation_key(root)),
            Hold::BadGeneration { value } => {
                format!("{} is {value:?}, not a number", generation_key(root))
            }
        }
    }

    /// Whether this is the ordinary wait for a change being written (not a problem).
    pub fn is_writing(&self) -> bool {
        matches!(self, Hold::Writing { .. })
    }
}

/// What to do with a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply it; `released` is the hold it ends, if there was one.
    Apply {
        /// The hold that ends.
        released: Option<Hold>,
    },
    /// Keep the configuration in service.
    Hold {
        /// Why.
        hold: Hold,
        /// The hold is new or its reason changed since the last listing (worth a log line).
        changed: bool,
    },
}

/// What is in service: the commit keys of the listing last applied.
#[derive(Debug, Clone)]
struct Live {
    /// The generation key and its number, when the listing had a numeric one.
    generation: Option<(u64, Stamp)>,
    /// The listing had keys.
    had_keys: bool,
}

/// A hold on a tree that is not a successor of the one in service.
#[derive(Debug, Clone)]
struct Incoherence {
    hold: Hold,
    /// The generation key's ModifyIndex last seen while holding (`None`: absent).
    mark: Option<u64>,
}

/// The reader's side of the commit contract, one per watched root. See [`CommitGuard::judge`].
#[derive(Debug, Clone)]
pub struct CommitGuard {
    root: String,
    live: Option<Live>,
    incoherence: Option<Incoherence>,
    reported: Option<Hold>,
}

impl CommitGuard {
    /// A guard for the keys under `root`, with nothing in service yet.
    pub fn new(root: &str) -> Self {
        Self {
            root: root.to_string(),
            live: None,
            incoherence: None,
            reported: None,
        }
    }

    /// The root key.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The generation of the configuration in service, if it had one.
    pub fn live_generation(&self) -> Option<u64> {
        self.live
            .as_ref()
            .and_then(|l| l.generation.as_ref())
            .map(|(n, _)| *n)
    }

    /// Decides whether the listing `pairs` replaces the configuration in service; when it
    /// does, it becomes the one in service. The rules:
    /// - `pending` set (and not equal to `generation`): held while a change is written, and
    ///   after its writer's lock is gone (abandoned), until a commit removes it.
    /// - A tree that is empty after one with keys, whose generation is lower than the one in
    ///   service, whose generation vanished or is not a number: held, until the generation in
    ///   service comes back, a higher one appears, or a commit is made on top of the held tree
    ///   (its `_commit/parent` names the generation key the guard last saw while holding, which
    ///   is what `control config apply` writes). A tree that never had a generation is held
    ///   only when it goes empty, until it has keys again.
    /// - Anything else applies at once, as with Traefik (keys edited by hand included).
    pub fn judge(&mut self, pairs: &[KvPair]) -> Decision {
        let keys = CommitKeys::read(&self.root, pairs);
        let pending = keys
            .pending_generation()
            .map(|generation| match keys.lock_holder() {
                Some((session, holder)) => Hold::Writing {
                    generation: generation.to_string(),
                    holder: format!("{holder}, session {session}"),
                },
                None => Hold::Abandoned {
                    generation: generation.to_string(),
                },
            });
        let mark = keys.generation.as_ref().map(|g| g.modify_index);
        let released_now = match &self.incoherence {
            Some(held) => pending.is_none() && self.releases(held, &keys, pairs),
            None => false,
        };
        if released_now {
            self.incoherence = None;
        } else {
            match self.incoherent(&keys, pairs) {
                Some(hold) => {
                    self.incoherence = Some(Incoherence { hold, mark });
                }
                None => {
                    if let Some(held) = &mut self.incoherence {
                        held.mark = mark;
                    }
                }
            }
        }
        let hold = pending.or_else(|| self.incoherence.as_ref().map(|i| i.hold.clone()));
        match hold {
            Some(hold) => {
                let changed = self.reported.as_ref() != Some(&hold);
                self.reported = Some(hold.clone());
                Decision::Hold { hold, changed }
            }
            None => {
                self.live = Some(Live {
                    generation: keys.generation.as_ref().and_then(|g| {
                        g.value
                            .parse::<u64>()
                            .ok()
                            .map(|number| (number, g.clone()))
                    }),
                    had_keys: !pairs.is_empty(),
                });
                Decision::Apply {
                    released: self.reported.take(),
                }
            }
        }
    }

    /// Why the tree is not a successor of the one in service, if it is not.
    fn incoherent(&self, keys: &CommitKeys, pairs: &[KvPair]) -> Option<Hold> {
        let live = self.live.as_ref()?;
        if pairs.is_empty() {
            return live.had_keys.then_some(Hold::Empty);
        }
        let (from, _) = live.generation.as_ref()?;
        let Some(generation) = &keys.generation else {
            return Some(Hold::GenerationVanished);
        };
        match generation.value.parse::<u64>() {
            Err(_) => Some(Hold::BadGeneration {
                value: generation.value.clone(),
            }),
            Ok(to) if to < *from => Some(Hold::RolledBack { from: *from, to }),
            Ok(_) => None,
        }
    }

    /// Whether a committed listing ends the hold `held` (see [`CommitGuard::judge`]).
    fn releases(&self, held: &Incoherence, keys: &CommitKeys, pairs: &[KvPair]) -> bool {
        let Some(live) = &self.live else {
            return true;
        };
        let Some((live_number, live_stamp)) = &live.generation else {
            return !pairs.is_empty();
        };
        let Some(generation) = &keys.generation else {
            return false;
        };
        if generation == live_stamp
            || generation
                .value
                .parse::<u64>()
                .is_ok_and(|number| number > *live_number)
        {
            return true;
        }
        let mark = held
            .mark
            .map_or_else(|| NO_PARENT.to_string(), |index| index.to_string());
        keys.parent
            .as_ref()
            .is_some_and(|parent| parent.value == mark)
            && held.mark != Some(generation.modify_index)
    }
}

#[cfg(test)]
mod tests;
