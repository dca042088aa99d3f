//! Writing a configuration to Consul KV so that a reader never sees half of it, and two
//! writers never mix theirs (the commit contract, documented in the README):
//! - `<root>/_commit/generation` counts committed changes; every transaction of an apply
//!   checks (check-index) that it is still the one the apply read.
//! - A change that fits in one Consul transaction (64 operations, 448 KiB of JSON) is written
//!   with the generation bump in that transaction, which also checks that no other apply holds
//!   `<root>/_commit/lock` and that `pending` did not change: atomic by itself.
//! - A larger change takes `<root>/_commit/lock` with a Consul session (a TTL, renewed while
//!   writing; `behavior=delete`, so a dead writer's lock disappears) in the transaction that
//!   sets `<root>/_commit/pending`, writes the keys in transactions that each check the lock
//!   is still its own (check-session), then sets `generation` and `parent`, and deletes
//!   `pending` and the lock, in a last one. Readers hold their configuration while `pending`
//!   differs from `generation`; a `pending` without a lock was abandoned, and the next apply
//!   recovers from it (it plans from what Consul holds, so it writes whatever is missing).
//!
//! Keys edited by hand (without `pending`) apply at once, as with Traefik.

use super::client::{ConsulClient, ConsulError, KvPair};
use super::commit::{generation_key, lock_key, parent_key, pending_key, CommitKeys, NO_PARENT};
use super::txn::{TxnFailure, TxnOp, MAX_TXN_BYTES, MAX_TXN_OPS};
use crate::kv::config_relative;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
/// One key's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new key.
    Add {
        /// Full key.
        key: String,
        /// Its value.
        value: String,
    },
    /// A key whose value changes.
    Update {
        /// Full key.
        key: String,
        /// The value in Consul.
        old: String,
        /// The new value.
        new: String,
    },
    /// A key no longer in the configuration.
    Remove {
        /// Full key.
        key: String,
        /// The value in Consul.
        old: String,
    },
}

impl fmt::Display for Change {
    /// `+ key = value`, `~ key = old -> new`, `- key (was value)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add { key, value } => write!(f, "+ {key} = {value}"),
            Change::Update { key, old, new } => write!(f, "~ {key} = {old} -> {new}"),
            Change::Remove { key, old } => write!(f, "- {key} (was {old})"),
        }
    }
}

/// The changes that turn the configuration keys of `current` (a listing of `root`) into
/// `desired` (full keys). Keys outside `root/http|tcp|udp|tls` are never touched.
pub fn plan(root: &str, current: &[KvPair], desired: &BTreeMap<String, String>) -> Vec<Change> {
    let prefix = format!("{root}/");
    let existing: BTreeMap<&str, String> = current
        .iter()
        .filter(|p| config_relative(&prefix, &p.key).is_some())
        .map(|p| (p.key.as_str(), p.text().into_owned()))
        .collect();
    let mut changes = Vec::new();
    for (key, value) in desired {
        match existing.get(key.as_str()) {
            None => changes.push(Change::Add {
                key: key.clone(),
                value: value.clone(),
            }),
            Some(old) if old != value => changes.push(Change::Update {
                key: key.clone(),
                old: old.clone(),
                new: value.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, old) in existing {
        if !desired.contains_key(key) {
            changes.push(Change::Remove {
                key: key.to_string(),
                old,
            });
        }
    }
    changes
}

/// How an apply writes.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Pause between the transactions of a multi-transaction change.
    pub interval: Duration,
    /// TTL of the session holding the lock during a multi-transaction change: a writer that
    /// dies loses the lock between one and two TTLs later (Consul's rule).
    pub lock_ttl: Duration,
    /// Who writes, stored in the lock for the messages of other writers and of the gateway
    /// (e.g. `control config apply v2.yml (pid 12)`).
    pub holder: String,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The generation now committed.
    pub generation: u64,
    /// Consul transactions used.
    pub transactions: usize,
    /// The generation of an abandoned change this apply completed, if there was one.
    pub recovered: Option<String>,
}

/// Why an apply wrote nothing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another writer got there first; nothing (more) was written. Retrying may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Consul failed or refused.
    #[error("{0}")]
    Failed(String),
}

/// What a check in a transaction stands for, to explain a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// `generation` is still the one read.
    Generation,
    /// No other apply holds the lock.
    LockFree,
    /// `pending` is still as read.
    Pending,
    /// This apply still holds the lock.
    OwnLock,
}

/// Writes `changes` under `root` by the commit contract (see the module documentation).
/// `current` is the listing `changes` were planned from; if another writer committed or began
/// writing since, nothing is written and [`ApplyError::Conflict`] says so.
pub async fn execute(
    client: &ConsulClient,
    root: &str,
    current: &[KvPair],
    changes: &[Change],
    options: &ApplyOptions,
) -> Result<Applied, ApplyError> {
    let keys = CommitKeys::read(root, current);
    if let Some((session, holder)) = keys.lock_holder() {
        return Err(busy(root, Some((session, holder))));
    }
    let writer = Writer {
        client,
        root,
        keys: &keys,
        generation: keys.generation_number() + 1,
    };
    let ops = key_ops(changes);
    let single = writer.single(&ops);
    let transactions = if fits(&single) {
        let guards = [Guard::Generation, Guard::LockFree, Guard::Pending];
        if let Err(e) = client.txn(&single).await {
            return Err(writer.explain(e, &guards, None).await);
        }
        1
    } else {
        let session = client
            .session_create(
                &format!("control config apply to {root}/"),
                options.lock_ttl,
            )
            .await
            .map_err(|e| {
                ApplyError::Failed(format!("cannot take the lock {}: {e}", lock_key(root)))
            })?;
        let written = tokio::select! {
            written = writer.in_chunks(&session, ops, options) => written,
            () = keep_alive(client, &session, options.lock_ttl) => unreachable!("the renewal never ends"),
        };
        // Releases (deletes) the lock if the change stopped half way, so the gateway sees at
        // once that it was abandoned; without an answer, the TTL does it.
        if let Err(e) = client.session_destroy(&session).await {
            tracing::debug!("could not destroy session {session}: {e}; it expires with its TTL");
        }
        written?
    };
    Ok(Applied {
        generation: writer.generation,
        transactions,
        recovered: keys.pending_generation().map(str::to_string),
    })
}

/// The key writes of `changes`.
fn key_ops(changes: &[Change]) -> Vec<TxnOp> {
    changes
        .iter()
        .map(|change| match change {
            Change::Add { key, value }
            | Change::Update {
                key, new: value, ..
            } => TxnOp::Set {
                key: key.clone(),
                value: value.clone().into_bytes(),
            },
            Change::Remove { key, .. } => TxnOp::Delete { key: key.clone() },
        })
        .collect()
}

/// Bytes of a transaction's JSON body.
fn encoded_size(ops: &[TxnOp]) -> usize {
    ops.iter().map(TxnOp::encoded_len).sum::<usize>() + 1
}

/// Whether Consul takes `ops` in one transaction.
fn fits(ops: &[TxnOp]) -> bool {
    ops.len() <= MAX_TXN_OPS && encoded_size(ops) <= MAX_TXN_BYTES
}

/// Splits `ops` into transactions that each begin with `prefix` and stay within Consul's
/// limits in operations and in bytes.
fn chunks(prefix: &[TxnOp], ops: Vec<TxnOp>) -> Result<Vec<Vec<TxnOp>>, ApplyError> {
    let mut chunks: Vec<Vec<TxnOp>> = Vec::new();
    let mut chunk = prefix.to_vec();
    let mut size = encoded_size(prefix);
    for op in ops {
        let len = op.encoded_len();
        if encoded_size(prefix) + len > MAX_TXN_BYTES {
            return Err(ApplyError::Failed(format!(
                "the value of {} takes {len} bytes in a transaction, more than the {MAX_TXN_BYTES} a Consul transaction carries here (Consul's limits.txn_max_req_len is 512 KiB by default); make it smaller",
                op.key()
            )));
        }
        if chunk.len() + 1 > MAX_TXN_OPS || size + len > MAX_TXN_BYTES {
            chunks.push(std::mem::replace(&mut chunk, prefix.to_vec()));
            size = encoded_size(prefix);
        }
        chunk.push(op);
        size += len;
    }
    if chunk.len() > prefix.len() {
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// Renews `session` every half TTL, forever. A renewal that fails is only logged: the next
/// transaction's check-session is what stops a writer that lost its lock.
async fn keep_alive(client: &ConsulClient, session: &str, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 2).await;
        match client.session_renew(session).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the session {session} of this apply expired"),
            Err(e) => tracing::warn!("cannot renew the session {session} of this apply: {e}"),
        }
    }
}

/// The message of an apply that found the lock held.
fn busy(root: &str, holder: Option<(&str, &str)>) -> ApplyError {
    let who = match holder {
        Some((session, holder)) => format!(" ({holder}, session {session})"),
        None => String::new(),
    };
    ApplyError::Conflict(format!(
        "another apply is writing {root}/{who}; nothing was written: retry when it is done (a writer that died loses {} within twice its lock TTL)",
        lock_key(root)
    ))
}

/// One apply's transactions.
struct Writer<'a> {
    client: &'a ConsulClient,
    root: &'a str,
    keys: &'a CommitKeys,
    generation: u64,
}

impl Writer<'_> {
    /// `generation` is still the one read.
    fn generation_guard(&self) -> TxnOp {
        let key = generation_key(self.root);
        match &self.keys.generation {
            Some(stamp) => TxnOp::CheckIndex {
                key,
                index: stamp.modify_index,
            },
            None => TxnOp::CheckNotExists { key },
        }
    }

    /// No apply holds the lock: it does not exist, or is still the unlocked key read (locking
    /// it changes its ModifyIndex).
    fn lock_free_guard(&self) -> TxnOp {
        let key = lock_key(self.root);
        match (&self.keys.lock, &self.keys.lock_session) {
            (Some(stamp), None) => TxnOp::CheckIndex {
                key,
                index: stamp.modify_index,
            },
            _ => TxnOp::CheckNotExists { key },
        }
    }

    /// `pending` is still as read.
    fn pending_guard(&self) -> TxnOp {
        let key = pending_key(self.root);
        match &self.keys.pending {
            Some(stamp) => TxnOp::CheckIndex {
                key,
                index: stamp.modify_index,
            },
            None => TxnOp::CheckNotExists { key },
        }
    }

    /// The new generation and the one it replaces.
    fn commit_ops(&self) -> [TxnOp; 2] {
        let parent = self
            .keys
            .generation
            .as_ref()
            .map_or_else(|| NO_PARENT.to_string(), |g| g.modify_index.to_string());
        [
            TxnOp::Set {
                key: generation_key(self.root),
                value: self.generation.to_string().into_bytes(),
            },
            TxnOp::Set {
                key: parent_key(self.root),
                value: parent.into_bytes(),
            },
        ]
    }

    /// The whole change as one transaction: the guards, the keys, the commit.
    fn single(&self, ops: &[TxnOp]) -> Vec<TxnOp> {
        let mut all = vec![
            self.generation_guard(),
            self.lock_free_guard(),
            self.pending_guard(),
        ];
        all.extend_from_slice(ops);
        all.extend(self.commit_ops());
        if self.keys.pending.is_some() {
            all.push(TxnOp::Delete {
                key: pending_key(self.root),
            });
        }
        all
    }

    /// A change too large for one transaction, under the lock held by `session`; returns the
    /// number of transactions.
    async fn in_chunks(
        &self,
        session: &str,
        ops: Vec<TxnOp>,
        options: &ApplyOptions,
    ) -> Result<usize, ApplyError> {
        let lock = lock_key(self.root);
        let own_lock = TxnOp::CheckSession {
            key: lock.clone(),
            session: session.to_string(),
        };
        let chunks = chunks(&[own_lock.clone(), self.generation_guard()], ops)?;
        let total = chunks.len() + 2;
        let begin = [
            self.generation_guard(),
            TxnOp::Lock {
                key: lock.clone(),
                value: options.holder.clone().into_bytes(),
                session: session.to_string(),
            },
            self.pending_guard(),
            TxnOp::Set {
                key: pending_key(self.root),
                value: self.generation.to_string().into_bytes(),
            },
        ];
        let guards = [Guard::Generation, Guard::LockFree, Guard::Pending];
        if let Err(e) = self.client.txn(&begin).await {
            return Err(self.explain(e, &guards, None).await);
        }
        let mut commit = vec![own_lock, self.generation_guard()];
        commit.extend(self.commit_ops());
        commit.push(TxnOp::Delete {
            key: pending_key(self.root),
        });
        commit.push(TxnOp::Delete { key: lock });
        let guards = [Guard::OwnLock, Guard::Generation];
        for (done, chunk) in chunks.iter().chain(std::iter::once(&commit)).enumerate() {
            tokio::time::sleep(options.interval).await;
            if let Err(e) = self.client.txn(chunk).await {
                return Err(self.explain(e, &guards, Some((done + 1, total))).await);
            }
        }
        Ok(total)
    }

    /// Turns a failed transaction into a message saying what happened and what to do;
    /// `guards` are the checks at the start of the transaction, `progress` the transactions
    /// already written of a multi-transaction change.
    async fn explain(
        &self,
        error: ConsulError,
        guards: &[Guard],
        progress: Option<(usize, usize)>,
    ) -> ApplyError {
        let root = self.root;
        let kept = match self.keys.generation_number() {
            0 => "the configuration it has".to_string(),
            n => format!("generation {n}"),
        };
        let stopped = match progress {
            Some((done, total)) => format!(
                "it stopped after {done} of {total} transactions; the gateway keeps {kept} and the next apply completes the change"
            ),
            None => "nothing was written".to_string(),
        };
        let ConsulError::TxnRejected(failures) = &error else {
            return ApplyError::Failed(format!("{error}; {stopped}"));
        };
        if let Some(denied) = failures
            .iter()
            .find(|f| f.what.contains("Permission denied") || f.what.contains("ACL not found"))
        {
            return ApplyError::Failed(format!(
                "Consul refused the write: {}; check the token (--token, --token-file, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE); {stopped}",
                denied.what
            ));
        }
        let failed = failures
            .iter()
            .find_map(|TxnFailure { op_index, .. }| guards.get(*op_index).copied());
        match failed {
            Some(Guard::Generation) => ApplyError::Conflict(format!(
                "{} changed since this apply read the keys (another apply committed); {stopped}: run apply again, it reads the keys afresh",
                generation_key(root)
            )),
            Some(Guard::LockFree) => {
                let lock = self
                    .client
                    .kv_list(&lock_key(root), None)
                    .await
                    .ok()
                    .and_then(|listing| listing.pairs.into_iter().next());
                let holder = lock.as_ref().and_then(|pair| {
                    pair.session
                        .as_deref()
                        .map(|session| (session, pair.value.as_deref().unwrap_or_default()))
                });
                let text = holder.map(|(s, h)| (s, String::from_utf8_lossy(h).into_owned()));
                busy(root, text.as_ref().map(|(s, h)| (*s, h.as_str())))
            }
            Some(Guard::Pending) => ApplyError::Conflict(format!(
                "another apply began writing {root}/ since this one read the keys; {stopped}: retry when it is done"
            )),
            Some(Guard::OwnLock) => ApplyError::Conflict(format!(
                "this apply lost its lock {} (its session expired: was the process paused for longer than its lock TTL?); {stopped}",
                lock_key(root)
            )),
            None => ApplyError::Failed(format!("{error}; {stopped}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, value: &str) -> KvPair {
        KvPair::new(key, value, 1)
    }

    #[test]
    fn plans_adds_updates_and_removals_of_config_keys_only() {
        let current = [
            pair("traefik/http/routers/a/rule", "Path(`/a`)"),
            pair("traefik/http/routers/b/rule", "Path(`/b`)"),
            pair("traefik/_commit/generation", "4"),
            pair("traefik/notes", "kept"),
        ];
        let desired: BTreeMap<String, String> = [
            ("traefik/http/routers/a/rule", "Path(`/a2`)"),
            ("traefik/http/routers/c/rule", "Path(`/c`)"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let lines: Vec<String> = plan("traefik", &current, &desired)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "~ traefik/http/routers/a/rule = Path(`/a`) -> Path(`/a2`)",
                "+ traefik/http/routers/c/rule = Path(`/c`)",
                "- traefik/http/routers/b/rule (was Path(`/b`))",
            ]
        );
    }

    fn set(key: &str, bytes: usize) -> TxnOp {
        TxnOp::Set {
            key: key.into(),
            value: vec![b'v'; bytes],
        }
    }

    #[test]
    fn chunks_respect_operations_and_bytes() {
        let prefix = [
            TxnOp::CheckSession {
                key: "traefik/_commit/lock".into(),
                session: "s".into(),
            },
            TxnOp::CheckIndex {
                key: "traefik/_commit/generation".into(),
                index: 7,
            },
        ];
        let small: Vec<TxnOp> = (0..200).map(|i| set(&format!("k{i}"), 10)).collect();
        let by_count = chunks(&prefix, small).unwrap();
        assert_eq!(
            by_count.iter().map(Vec::len).collect::<Vec<_>>(),
            [64, 64, 64, 16],
            "62 keys and the two checks per transaction"
        );
        assert!(by_count.iter().all(|c| c[..2] == prefix));

        // 100 KiB values take 133 KiB in base64: three per transaction.
        let large: Vec<TxnOp> = (0..7).map(|i| set(&format!("k{i}"), 100 * 1024)).collect();
        let by_size = chunks(&prefix, large).unwrap();
        assert_eq!(by_size.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 3]);
        assert!(by_size.iter().all(|c| fits(c)));
        assert!(encoded_size(&by_size[0]) > 400 * 1024);

        let err = chunks(&prefix, vec![set("huge", 400 * 1024)]).unwrap_err();
        assert!(err.to_string().contains("the value of huge takes"), "{err}");
    }

    #[test]
    fn a_small_change_is_one_guarded_transaction() {
        let current = [
            KvPair::new("traefik/_commit/generation", "4", 40),
            KvPair::new("traefik/_commit/pending", "5", 41),
        ];
        let keys = CommitKeys::read("traefik", &current);
        let client = ConsulClient::new(crate::consul::ClientOptions {
            endpoints: vec!["127.0.0.1:1".into()],
            ..Default::default()
        })
        .unwrap();
        let writer = Writer {
            client: &client,
            root: "traefik",
            keys: &keys,
            generation: 5,
        };
        let ops = writer.single(&[set("traefik/http/routers/a/rule", 3)]);
        let verbs: Vec<String> = ops
            .iter()
            .map(|op| {
                format!("{op:?}")
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            verbs,
            ["CheckIndex", "CheckNotExists", "CheckIndex", "Set", "Set", "Set", "Delete"],
            "generation, lock, pending (abandoned, so recovered); the key; generation, parent; pending"
        );
        assert_eq!(
            ops[5],
            TxnOp::Set {
                key: "traefik/_commit/parent".into(),
                value: b"40".to_vec()
            }
        );
    }
}
