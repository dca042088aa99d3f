//! Consul KV transactions: the operations, their JSON form (values in base64), their encoded
//! size, Consul's limits, and why Consul rolled one back.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Most operations put in one transaction. Consul 1.22 accepts 128; older versions 64.
pub const MAX_TXN_OPS: usize = 64;

/// Most bytes of JSON body sent in one transaction. Consul refuses a body over
/// `limits.txn_max_req_len` (512 KiB by default, raft's suggested entry size); the encoded size
/// is measured exactly (values in base64), and the rest is headroom.
pub const MAX_TXN_BYTES: usize = 448 * 1024;

/// One operation of a KV transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Set a key.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Fail the whole transaction unless the key's ModifyIndex is `index`.
    CheckIndex {
        /// The key.
        key: String,
        /// Expected ModifyIndex.
        index: u64,
    },
    /// Fail the whole transaction if the key exists.
    CheckNotExists {
        /// The key.
        key: String,
    },
    /// Acquire the key as a lock for `session` and set its value; fails if another session
    /// holds it (succeeds again for the session that holds it).
    Lock {
        /// The key.
        key: String,
        /// The value written with the lock.
        value: Vec<u8>,
        /// The session acquiring it.
        session: String,
    },
    /// Fail the whole transaction unless `session` holds the key.
    CheckSession {
        /// The key.
        key: String,
        /// The session that must hold it.
        session: String,
    },
}

impl TxnOp {
    /// The key the operation is about.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Set { key, .. }
            | TxnOp::Delete { key }
            | TxnOp::CheckIndex { key, .. }
            | TxnOp::CheckNotExists { key }
            | TxnOp::Lock { key, .. }
            | TxnOp::CheckSession { key, .. } => key,
        }
    }

    /// Bytes the operation takes in a transaction's JSON body, with its separating comma.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(&TxnItem::from(self)).map_or(0, |json| json.len()) + 1
    }
}

/// The JSON body of a transaction.
pub(crate) fn encode(ops: &[TxnOp]) -> Vec<u8> {
    let items: Vec<TxnItem> = ops.iter().map(TxnItem::from).collect();
    serde_json::to_vec(&items).expect("transaction operations serialize")
}

/// One operation Consul reported when it rolled a transaction back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnFailure {
    /// Position of the failed operation in the transaction.
    pub op_index: usize,
    /// Consul's reason.
    pub what: String,
}

/// Reads the failures out of a `409 Conflict` answer to `PUT /v1/txn`.
pub(crate) fn failures(body: &[u8]) -> Vec<TxnFailure> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        errors: Option<Vec<TxnFailure>>,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()
        .and_then(|answer| answer.errors)
        .unwrap_or_else(|| {
            vec![TxnFailure {
                op_index: usize::MAX,
                what: String::from_utf8_lossy(body).trim().to_string(),
            }]
        })
}

/// A transaction operation as Consul's JSON API spells it.
#[derive(Serialize)]
struct TxnItem {
    #[serde(rename = "KV")]
    kv: TxnKv,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TxnKv {
    verb: &'static str,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

impl From<&TxnOp> for TxnItem {
    fn from(op: &TxnOp) -> Self {
        let base64 = |value: &[u8]| Some(base64::engine::general_purpose::STANDARD.encode(value));
        let (verb, value, index, session) = match op {
            TxnOp::Set { value, .. } => ("set", base64(value), None, None),
            TxnOp::Delete { .. } => ("delete", None, None, None),
            TxnOp::CheckIndex { index, .. } => ("check-index", None, Some(*index), None),
            TxnOp::CheckNotExists { .. } => ("check-not-exists", None, None, None),
            TxnOp::Lock { value, session, .. } => {
                ("lock", base64(value), None, Some(session.clone()))
            }
            TxnOp::CheckSession { session, .. } => {
                ("check-session", None, None, Some(session.clone()))
            }
        };
        TxnItem {
            kv: TxnKv {
                verb,
                key: op.key().to_string(),
                value,
                index,
                session,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_length_counts_base64_values() {
        let op = TxnOp::Set {
            key: "k".into(),
            value: vec![b'x'; 300],
        };
        // 300 bytes take 400 in base64.
        assert_eq!(
            op.encoded_len(),
            r#"{"KV":{"Verb":"set","Key":"k","Value":""}}"#.len() + 400 + 1
        );
        let body = encode(&[op.clone(), op.clone()]);
        assert_eq!(
            body.len(),
            2 * op.encoded_len() + 1,
            "[a,b] is both plus brackets minus one comma"
        );
    }

    #[test]
    fn lock_verbs_carry_the_session() {
        let body = String::from_utf8(encode(&[TxnOp::CheckSession {
            key: "traefik/_commit/lock".into(),
            session: "abc".into(),
        }]))
        .unwrap();
        assert_eq!(
            body,
            r#"[{"KV":{"Verb":"check-session","Key":"traefik/_commit/lock","Session":"abc"}}]"#
        );
    }

    #[test]
    fn failures_name_the_operation() {
        let body = br#"{"Results":null,"Errors":[{"OpIndex":1,"What":"failed to lock key \"k\", lock is already held"}]}"#;
        assert_eq!(
            failures(body),
            [TxnFailure {
                op_index: 1,
                what: "failed to lock key \"k\", lock is already held".into()
            }]
        );
        assert_eq!(failures(b"garbage")[0].what, "garbage");
    }
}
