//! Writing a configuration to Consul KV so that a reader never sees half of it.
//!
//! The contract (documented in the README):
//! - `<root>/_commit/generation` counts applied changes. A change that fits in one Consul
//!   transaction (64 operations) is written with the generation bump in that transaction:
//!   atomic by itself.
//! - A larger change first sets `<root>/_commit/pending` to the new generation, then writes
//!   the keys in transactions of 64, then in a last transaction sets `generation` and deletes
//!   `pending`. While `pending` differs from `generation`, the gateway keeps its current
//!   configuration; it applies the whole change at once when the last transaction lands.
//! - Every apply checks (check-index) that nobody else applied in between.
//!
//! Keys edited by hand (without `pending`) apply at once, as with Traefik.

use super::client::{ConsulClient, ConsulError, KvPair, TxnOp, MAX_TXN_OPS};
use crate::kv::config_relative;
use std::collections::BTreeMap;
use std::fmt;

/// The folder of the commit keys under the root key (outside what Traefik reads).
pub const COMMIT_FOLDER: &str = "_commit";

/// `<root>/_commit/generation`.
pub fn generation_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/generation")
}

/// `<root>/_commit/pending`.
pub fn pending_key(root: &str) -> String {
    format!("{root}/{COMMIT_FOLDER}/pending")
}

/// Whether the keys under `root` form a committed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitState {
    /// Nothing is being written.
    Committed,
    /// A multi-transaction change to this generation is being written.
    Pending(String),
}

/// Reads the commit keys out of a listing of `root`.
pub fn commit_state(root: &str, pairs: &[KvPair]) -> CommitState {
    let value = |key: String| {
        pairs
            .iter()
            .find(|p| p.key == key)
            .and_then(|p| p.value.as_deref())
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
    };
    match (value(pending_key(root)), value(generation_key(root))) {
        (Some(pending), generation) if generation.as_deref() != Some(pending.as_str()) => {
            CommitState::Pending(pending)
        }
        _ => CommitState::Committed,
    }
}

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

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The generation now committed.
    pub generation: u64,
    /// Consul transactions used.
    pub transactions: usize,
}

/// Writes `changes` under `root` by the commit contract (see the module documentation),
/// pausing `interval` between transactions (to spread a large change's load on Consul).
/// `current` is the listing `changes` were planned from; if another writer committed since,
/// nothing is written and an error says so.
pub async fn execute(
    client: &ConsulClient,
    root: &str,
    current: &[KvPair],
    changes: &[Change],
    interval: std::time::Duration,
) -> Result<Applied, ConsulError> {
    let generation_key = generation_key(root);
    let existing = current.iter().find(|p| p.key == generation_key);
    let old_generation = existing
        .map(|p| p.text().trim().parse::<u64>().unwrap_or(0))
        .unwrap_or(0);
    let generation = old_generation + 1;
    // Nobody else may commit between our read and our write.
    let guard = match existing {
        Some(pair) => TxnOp::CheckIndex {
            key: generation_key.clone(),
            index: pair.modify_index,
        },
        None => TxnOp::CheckNotExists {
            key: generation_key.clone(),
        },
    };
    let commit = TxnOp::Set {
        key: generation_key.clone(),
        value: generation.to_string().into_bytes(),
    };
    let ops: Vec<TxnOp> = changes
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
        .collect();
    let rejected = |e: ConsulError| {
        match e {
        ConsulError::TxnRejected(_) => ConsulError::TxnRejected(format!(
            "{generation_key} changed since the keys were read (another apply ran); read again and retry"
        )),
        other => other,
    }
    };

    if ops.len() + 2 <= MAX_TXN_OPS {
        let mut all = vec![guard];
        all.extend(ops);
        all.push(commit);
        client.txn(&all).await.map_err(rejected)?;
        return Ok(Applied {
            generation,
            transactions: 1,
        });
    }

    let pending_key = pending_key(root);
    client
        .txn(&[
            guard,
            TxnOp::Set {
                key: pending_key.clone(),
                value: generation.to_string().into_bytes(),
            },
        ])
        .await
        .map_err(rejected)?;
    for chunk in ops.chunks(MAX_TXN_OPS) {
        tokio::time::sleep(interval).await;
        client.txn(chunk).await?;
    }
    tokio::time::sleep(interval).await;
    client
        .txn(&[commit, TxnOp::Delete { key: pending_key }])
        .await?;
    Ok(Applied {
        generation,
        // The pending mark, the chunks, and the commit.
        transactions: ops.len().div_ceil(MAX_TXN_OPS) + 2,
    })
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

    #[test]
    fn commit_state_from_keys() {
        assert_eq!(commit_state("traefik", &[]), CommitState::Committed);
        let committed = [pair("traefik/_commit/generation", "3")];
        assert_eq!(commit_state("traefik", &committed), CommitState::Committed);
        let pending = [
            pair("traefik/_commit/generation", "3"),
            pair("traefik/_commit/pending", "4"),
        ];
        assert_eq!(
            commit_state("traefik", &pending),
            CommitState::Pending("4".into())
        );
        let first = [pair("traefik/_commit/pending", "1")];
        assert_eq!(
            commit_state("traefik", &first),
            CommitState::Pending("1".into())
        );
    }
}
