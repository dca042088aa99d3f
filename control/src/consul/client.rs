//! A thin Consul HTTP API client: KV reads (recursive, blocking, stale), transactions, and
//! endpoint failover.
//!
//! Written on reqwest rather than with rs-consul because the watch and `control config apply`
//! need exactly what rs-consul lacks (see reference/consul.md): the `X-Consul-Index` of a 404,
//! per-request timeouts longer than a blocking wait, non-UTF-8-safe values, `?stale`, and
//! transactions.

use super::tls::{client_tls, TlsFiles};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How a request reaches Consul.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Addresses (`host:port` or `http(s)://host:port`), tried in order.
    pub endpoints: Vec<String>,
    /// ACL token, sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// Read from any server (`?stale`) instead of the leader.
    pub stale: bool,
    /// TLS settings; with them, `host:port` endpoints use https.
    pub tls: Option<TlsFiles>,
}

/// One key of a KV listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvPair {
    /// Full key.
    pub key: String,
    /// Raw value (decoded from Consul's base64); `None` for a folder marker.
    #[serde(default, deserialize_with = "base64_value")]
    pub value: Option<Vec<u8>>,
    /// Raft index of the key's last change.
    pub modify_index: u64,
}

impl KvPair {
    /// A key with a text value, as Consul would list it after a change at `modify_index`.
    pub fn new(key: &str, value: &str, modify_index: u64) -> Self {
        Self {
            key: key.into(),
            value: Some(value.as_bytes().to_vec()),
            modify_index,
        }
    }

    /// The raw value; empty for a folder marker.
    pub fn bytes(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    /// The value as text, invalid UTF-8 replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.bytes())
    }

    /// Identifies a listing by its keys and their ModifyIndex (a value cannot change without
    /// its ModifyIndex changing), without keeping a copy of it.
    pub fn fingerprint<'a>(pairs: impl IntoIterator<Item = &'a KvPair>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for pair in pairs {
            pair.key.hash(&mut hasher);
            pair.modify_index.hash(&mut hasher);
        }
        hasher.finish()
    }
}

fn base64_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| base64::engine::general_purpose::STANDARD.decode(t))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// The keys under a prefix, and the index to block on for the next change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvListing {
    /// `X-Consul-Index`.
    pub index: u64,
    /// The keys, in Consul's (lexicographic) order.
    pub pairs: Vec<KvPair>,
}

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
}

/// Most operations Consul accepts in one transaction.
pub const MAX_TXN_OPS: usize = 64;

/// Why a Consul call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// No endpoint answered.
    #[error("cannot reach Consul at {endpoints}: {reason}")]
    Unreachable {
        /// The endpoints tried.
        endpoints: String,
        /// The last error.
        reason: String,
    },
    /// Consul answered with an error status.
    #[error("Consul answered {status} to {what}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The request.
        what: String,
        /// Consul's message.
        body: String,
    },
    /// A transaction was rolled back (e.g. a check-index failed).
    #[error("Consul rejected the transaction: {0}")]
    TxnRejected(String),
    /// The client could not be set up (TLS files...).
    #[error("{0}")]
    Setup(String),
}

/// A Consul client over one or more endpoints.
#[derive(Debug)]
pub struct ConsulClient {
    endpoints: Vec<String>,
    current: AtomicUsize,
    http: reqwest::Client,
    stale: bool,
}

impl ConsulClient {
    /// Builds a client; fails on unreadable TLS files.
    pub fn new(options: ClientOptions) -> Result<Self, ConsulError> {
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let endpoints: Vec<String> = options
            .endpoints
            .iter()
            .map(|e| {
                let e = e.trim().trim_end_matches('/');
                if e.contains("://") {
                    e.to_string()
                } else {
                    format!("{scheme}://{e}")
                }
            })
            .collect();
        if endpoints.is_empty() {
            return Err(ConsulError::Setup(
                "no Consul endpoint is configured".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy()
            .use_preconfigured_tls(client_tls(options.tls.as_ref()).map_err(ConsulError::Setup)?);
        // An empty token (an unset CONSUL_HTTP_TOKEN, `token: ""`) means no token.
        if let Some(token) = options.token.as_deref().filter(|t| !t.is_empty()) {
            let mut headers = reqwest::header::HeaderMap::new();
            let value = reqwest::header::HeaderValue::from_str(token).map_err(|_| {
                ConsulError::Setup("the Consul token has characters a header cannot carry".into())
            })?;
            headers.insert("X-Consul-Token", value);
            builder = builder.default_headers(headers);
        }
        let http = builder
            .build()
            .map_err(|e| ConsulError::Setup(format!("cannot set up the Consul client: {e}")))?;
        Ok(Self {
            endpoints,
            current: AtomicUsize::new(0),
            http,
            stale: options.stale,
        })
    }

    /// The endpoint requests currently go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// Sends a request built by `build` to the current endpoint, failing over to the next ones
    /// on connection errors (Traefik only ever uses the first endpoint).
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ConsulError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = String::new();
        for attempt in 0..self.endpoints.len() {
            let index = (start + attempt) % self.endpoints.len();
            match build(&self.http, &self.endpoints[index]).send().await {
                Ok(response) => {
                    if attempt > 0 {
                        self.current.store(index, Ordering::Relaxed);
                        tracing::warn!(endpoint = %self.endpoints[index], "failed over to another Consul endpoint");
                    }
                    return Ok(response);
                }
                Err(e) if e.is_timeout() && !e.is_connect() => {
                    return Err(ConsulError::Unreachable {
                        endpoints: self.endpoints[index].clone(),
                        reason: format!("request timed out: {e}"),
                    });
                }
                Err(e) => last_error = error_chain(&e),
            }
        }
        Err(ConsulError::Unreachable {
            endpoints: self.endpoints.join(", "),
            reason: last_error,
        })
    }

    /// Lists every key under `prefix`. With `block`, waits (Consul blocking query) until the
    /// index passes `block.0` or `block.1` elapses. A missing prefix is an empty listing with
    /// the index Consul reports.
    pub async fn kv_list(
        &self,
        prefix: &str,
        block: Option<(u64, Duration)>,
    ) -> Result<KvListing, ConsulError> {
        let path = format!("/v1/kv/{}", prefix.trim_start_matches('/'));
        let stale = self.stale;
        let response = self
            .send(|http, endpoint| {
                let mut request = http
                    .get(format!("{endpoint}{path}"))
                    .query(&[("recurse", "")]);
                if stale {
                    request = request.query(&[("stale", "")]);
                }
                match block {
                    Some((index, wait)) => request
                        .query(&[
                            ("index", index.max(1).to_string()),
                            ("wait", format!("{}ms", wait.as_millis())),
                        ])
                        // Consul adds up to wait/16 of jitter to a blocking query.
                        .timeout(wait + wait / 16 + Duration::from_secs(5)),
                    None => request.timeout(Duration::from_secs(30)),
                }
            })
            .await?;
        let index = response
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(KvListing {
                index,
                pairs: Vec::new(),
            });
        }
        let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(status_error(status, &format!("GET {path}"), &body));
        }
        let pairs: Vec<KvPair> =
            serde_json::from_slice(&body).map_err(|e| ConsulError::Status {
                status: status.as_u16(),
                what: format!("GET {path}"),
                body: format!("unreadable answer: {e}"),
            })?;
        Ok(KvListing { index, pairs })
    }

    /// Applies up to [`MAX_TXN_OPS`] operations atomically: all or none.
    pub async fn txn(&self, ops: &[TxnOp]) -> Result<(), ConsulError> {
        assert!(
            ops.len() <= MAX_TXN_OPS,
            "a Consul transaction takes at most {MAX_TXN_OPS} operations"
        );
        let body: Vec<TxnItem> = ops.iter().map(TxnItem::from).collect();
        let response = self
            .send(|http, endpoint| {
                http.put(format!("{endpoint}/v1/txn"))
                    .json(&body)
                    .timeout(Duration::from_secs(30))
            })
            .await?;
        let status = response.status();
        let text = response.bytes().await.map_err(|e| self.unreachable(e))?;
        match status.as_u16() {
            200 => Ok(()),
            409 => Err(ConsulError::TxnRejected(
                String::from_utf8_lossy(&text).into_owned(),
            )),
            _ => Err(status_error(status, "PUT /v1/txn", &text)),
        }
    }

    /// Writes one key (outside a transaction).
    pub async fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), ConsulError> {
        self.txn(&[TxnOp::Set {
            key: key.to_string(),
            value: value.to_vec(),
        }])
        .await
    }

    fn unreachable(&self, e: reqwest::Error) -> ConsulError {
        ConsulError::Unreachable {
            endpoints: self.endpoint().to_string(),
            reason: error_chain(&e),
        }
    }
}

fn status_error(status: reqwest::StatusCode, what: &str, body: &[u8]) -> ConsulError {
    let mut body = String::from_utf8_lossy(body).trim().to_string();
    if status == reqwest::StatusCode::FORBIDDEN {
        body.push_str(" (check the token: providers.consul.token or CONSUL_HTTP_TOKEN)");
    }
    ConsulError::Status {
        status: status.as_u16(),
        what: what.to_string(),
        body,
    }
}

/// The error with its causes, which reqwest keeps in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
}

impl From<&TxnOp> for TxnItem {
    fn from(op: &TxnOp) -> Self {
        let kv = match op {
            TxnOp::Set { key, value } => TxnKv {
                verb: "set",
                key: key.clone(),
                value: Some(base64::engine::general_purpose::STANDARD.encode(value)),
                index: None,
            },
            TxnOp::Delete { key } => TxnKv {
                verb: "delete",
                key: key.clone(),
                value: None,
                index: None,
            },
            TxnOp::CheckIndex { key, index } => TxnKv {
                verb: "check-index",
                key: key.clone(),
                value: None,
                index: Some(*index),
            },
            TxnOp::CheckNotExists { key } => TxnKv {
                verb: "check-not-exists",
                key: key.clone(),
                value: None,
                index: None,
            },
        };
        TxnItem { kv }
    }
}
