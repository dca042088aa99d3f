//! A thin Consul HTTP API client: KV reads (recursive, blocking, stale), transactions,
//! sessions, and failover between endpoints.
//!
//! Written on reqwest rather than with rs-consul because the watch and `control config apply`
//! need exactly what rs-consul lacks (see reference/consul.md): the `X-Consul-Index` of a 404,
//! per-request timeouts longer than a blocking wait, non-UTF-8-safe values, `?stale` with its
//! freshness headers, and transactions.

use super::tls::{client_tls, TlsFiles};
use super::txn::{self, TxnFailure, TxnOp, MAX_TXN_OPS};
use base64::Engine;
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a plain (non-blocking) request may take before the next endpoint is tried.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How far behind its leader a server answering a `stale` read may be (`maxStaleness`).
pub const MAX_STALENESS: Duration = Duration::from_secs(10);

/// The client-side timeout of a blocking query that waits `wait`: Consul adds up to wait/16
/// of jitter, plus a few seconds for the answer to travel.
pub fn blocking_timeout(wait: Duration) -> Duration {
    wait + wait / 16 + Duration::from_secs(3)
}

/// How a request reaches Consul.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Addresses (`host:port` or `http(s)://host:port`), tried in order.
    pub endpoints: Vec<String>,
    /// ACL token, sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// Read from any server (`?stale`) instead of the leader.
    pub stale: bool,
    /// With `stale`: the most a server may lag its leader (`X-Consul-LastContact`) for its
    /// answer to be used.
    pub max_staleness: Duration,
    /// TLS settings; with them, `host:port` endpoints use https.
    pub tls: Option<TlsFiles>,
    /// Timeout of a plain request (a blocking query gets [`blocking_timeout`] of its wait).
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            token: None,
            stale: false,
            max_staleness: MAX_STALENESS,
            tls: None,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Reads an ACL token from a file (as `CONSUL_HTTP_TOKEN_FILE`): surrounding whitespace
/// removed, an empty file meaning no token.
pub fn read_token_file(path: &str, setting: &str) -> Result<Option<String>, ConsulError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConsulError::Setup(format!("{setting}: cannot read {path}: {e}")))?;
    let token = text.trim();
    Ok((!token.is_empty()).then(|| token.to_string()))
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
    /// The session holding the key as a lock, if any.
    #[serde(default)]
    pub session: Option<String>,
}

impl KvPair {
    /// A key with a text value, as Consul would list it after a change at `modify_index`.
    pub fn new(key: &str, value: &str, modify_index: u64) -> Self {
        Self {
            key: key.into(),
            value: Some(value.as_bytes().to_vec()),
            modify_index,
            session: None,
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
            pair.session.hash(&mut hasher);
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

/// Why a Consul call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// No endpoint gave a usable answer; one reason per endpoint tried.
    #[error("cannot reach Consul: {0}")]
    Unreachable(String),
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
    /// A transaction was rolled back (a check failed, a lock is held...): nothing of it applied.
    #[error("Consul rolled the transaction back: {}", describe_failures(.0))]
    TxnRejected(Vec<TxnFailure>),
    /// The client could not be set up (TLS files, token...), or the request cannot be sent.
    #[error("{0}")]
    Setup(String),
}

fn describe_failures(failures: &[TxnFailure]) -> String {
    failures
        .iter()
        .map(|f| f.what.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a failed attempt may be sent again to the next endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A read: any failure (no connection, a timeout, 5xx, 429, a bad answer) moves on.
    Read,
    /// A write: only when Consul surely did not apply it (no connection, 429).
    Write,
}

/// An answer read in full.
struct Answer {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A Consul client over one or more endpoints.
#[derive(Debug)]
pub struct ConsulClient {
    endpoints: Vec<String>,
    current: AtomicUsize,
    http: reqwest::Client,
    stale: bool,
    max_staleness: Duration,
    request_timeout: Duration,
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
            max_staleness: options.max_staleness,
            request_timeout: options.request_timeout,
        })
    }

    /// The endpoint requests currently go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// Sends a request built by `build` to the current endpoint and reads its answer, moving on
    /// to the next endpoints (Traefik only ever uses the first) when the attempt failed in a
    /// way `retry` allows, or `accept` refuses the answer. The endpoint that answered becomes
    /// the current one.
    async fn call(
        &self,
        retry: Retry,
        timeout: Duration,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
        accept: impl Fn(&Answer) -> Result<(), String>,
    ) -> Result<Answer, ConsulError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut problems: Vec<String> = Vec::new();
        for attempt in 0..self.endpoints.len() {
            let index = (start + attempt) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let outcome = async {
                let response = build(&self.http, endpoint).timeout(timeout).send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>(Answer {
                    status,
                    headers,
                    body,
                })
            }
            .await;
            let problem = match outcome {
                Err(e) => {
                    let reason = if e.is_timeout() {
                        format!("no answer within {timeout:?}")
                    } else {
                        error_chain(&e)
                    };
                    if retry == Retry::Write && !e.is_connect() {
                        return Err(ConsulError::Unreachable(format!(
                            "{endpoint}: {reason}; the write may or may not have been applied"
                        )));
                    }
                    reason
                }
                Ok(answer) => {
                    let status = answer.status;
                    let refused = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || (status.is_server_error() && retry == Retry::Read);
                    let verdict = if refused {
                        Err(format!(
                            "answered {status}: {}",
                            String::from_utf8_lossy(&answer.body).trim()
                        ))
                    } else {
                        accept(&answer)
                    };
                    match verdict {
                        Ok(()) => {
                            if attempt > 0 {
                                self.current.store(index, Ordering::Relaxed);
                                tracing::warn!(
                                    endpoint = %endpoint,
                                    skipped = %problems.join("; "),
                                    "failed over to another Consul endpoint"
                                );
                            }
                            return Ok(answer);
                        }
                        Err(problem) => problem,
                    }
                }
            };
            problems.push(format!("{endpoint}: {problem}"));
        }
        Err(ConsulError::Unreachable(problems.join("; ")))
    }

    /// Refuses a KV answer that cannot be trusted: no `X-Consul-Index` (a blocking query
    /// cannot go on from it), or, for a stale read, a server with no known leader or one that
    /// last heard from its leader longer ago than `max_staleness`.
    fn check_read(&self, answer: &Answer) -> Result<(), String> {
        if !answer.status.is_success() && answer.status != reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        if answer
            .header("X-Consul-Index")
            .and_then(|v| v.parse::<u64>().ok())
            .is_none()
        {
            return Err("answered without a valid X-Consul-Index header (is something in front of Consul dropping it?)".into());
        }
        if self.stale {
            if answer.header("X-Consul-KnownLeader") != Some("true") {
                return Err(
                    "has no known leader, so its stale answer may be arbitrarily old".into(),
                );
            }
            let contact = answer
                .header("X-Consul-LastContact")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis);
            match contact {
                Some(contact) if contact <= self.max_staleness => {}
                Some(contact) => {
                    return Err(format!(
                        "last heard from its leader {contact:?} ago, more than the {:?} allowed (providers.consul.maxStaleness)",
                        self.max_staleness
                    ))
                }
                None => return Err("answered a stale read without X-Consul-LastContact".into()),
            }
        }
        Ok(())
    }

    /// Lists every key under `prefix`. With `block`, waits (Consul blocking query) until the
    /// index passes `block.0` or `block.1` elapses. A missing prefix is an empty listing with
    /// the index Consul reports; an answer without an index is an error, never index 0.
    pub async fn kv_list(
        &self,
        prefix: &str,
        block: Option<(u64, Duration)>,
    ) -> Result<KvListing, ConsulError> {
        let path = format!("/v1/kv/{}", prefix.trim_start_matches('/'));
        let stale = self.stale;
        let timeout = block.map_or(self.request_timeout, |(_, wait)| blocking_timeout(wait));
        let answer = self
            .call(
                Retry::Read,
                timeout,
                |http, endpoint| {
                    let mut request = http
                        .get(format!("{endpoint}{path}"))
                        .query(&[("recurse", "")]);
                    if stale {
                        request = request.query(&[("stale", "")]);
                    }
                    if let Some((index, wait)) = block {
                        request = request.query(&[
                            ("index", index.max(1).to_string()),
                            ("wait", format!("{}ms", wait.as_millis())),
                        ]);
                    }
                    request
                },
                |answer| self.check_read(answer),
            )
            .await?;
        let what = format!("GET {path}");
        if !answer.status.is_success() && answer.status != reqwest::StatusCode::NOT_FOUND {
            return Err(status_error(answer.status, &what, &answer.body));
        }
        let index = answer
            .header("X-Consul-Index")
            .and_then(|v| v.parse::<u64>().ok())
            .expect("check_read accepted only answers with an index");
        if answer.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(KvListing {
                index,
                pairs: Vec::new(),
            });
        }
        let pairs: Vec<KvPair> =
            serde_json::from_slice(&answer.body).map_err(|e| ConsulError::Status {
                status: answer.status.as_u16(),
                what,
                body: format!("unreadable answer: {e}"),
            })?;
        Ok(KvListing { index, pairs })
    }

    /// Applies up to [`MAX_TXN_OPS`] operations atomically: all or none. A rollback is
    /// [`ConsulError::TxnRejected`] with the operations that failed.
    pub async fn txn(&self, ops: &[TxnOp]) -> Result<(), ConsulError> {
        if ops.len() > MAX_TXN_OPS {
            return Err(ConsulError::Setup(format!(
                "a Consul transaction takes at most {MAX_TXN_OPS} operations, not {}",
                ops.len()
            )));
        }
        let body = txn::encode(ops);
        let answer = self
            .call(
                Retry::Write,
                self.request_timeout,
                |http, endpoint| {
                    http.put(format!("{endpoint}/v1/txn"))
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                },
                |_| Ok(()),
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(()),
            409 => Err(ConsulError::TxnRejected(txn::failures(&answer.body))),
            _ => Err(status_error(answer.status, "PUT /v1/txn", &answer.body)),
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

    /// Creates a session named `name` that expires `ttl` after its last renewal (Consul may
    /// wait up to twice as long) and then deletes the keys it locks; no lock delay.
    pub async fn session_create(&self, name: &str, ttl: Duration) -> Result<String, ConsulError> {
        let body = serde_json::json!({
            "Name": name,
            "TTL": format!("{}ms", ttl.as_millis()),
            "Behavior": "delete",
            "LockDelay": "0s",
        });
        let answer = self
            .call(
                Retry::Write,
                self.request_timeout,
                |http, endpoint| {
                    http.put(format!("{endpoint}/v1/session/create"))
                        .json(&body)
                },
                |_| Ok(()),
            )
            .await?;
        if !answer.status.is_success() {
            return Err(status_error(
                answer.status,
                "PUT /v1/session/create",
                &answer.body,
            ));
        }
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "ID")]
            id: String,
        }
        serde_json::from_slice::<Created>(&answer.body)
            .map(|created| created.id)
            .map_err(|e| ConsulError::Status {
                status: answer.status.as_u16(),
                what: "PUT /v1/session/create".into(),
                body: format!("unreadable answer: {e}"),
            })
    }

    /// Renews a session; `Ok(false)` when it no longer exists (expired or destroyed).
    pub async fn session_renew(&self, session: &str) -> Result<bool, ConsulError> {
        let what = format!("PUT /v1/session/renew/{session}");
        let answer = self
            .call(
                Retry::Write,
                self.request_timeout,
                |http, endpoint| http.put(format!("{endpoint}/v1/session/renew/{session}")),
                |_| Ok(()),
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error(answer.status, &what, &answer.body)),
        }
    }

    /// Destroys a session (releasing, here deleting, the keys it locks).
    pub async fn session_destroy(&self, session: &str) -> Result<(), ConsulError> {
        let what = format!("PUT /v1/session/destroy/{session}");
        let answer = self
            .call(
                Retry::Write,
                self.request_timeout,
                |http, endpoint| http.put(format!("{endpoint}/v1/session/destroy/{session}")),
                |_| Ok(()),
            )
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(status_error(answer.status, &what, &answer.body))
        }
    }
}

fn status_error(status: reqwest::StatusCode, what: &str, body: &[u8]) -> ConsulError {
    let mut body = String::from_utf8_lossy(body).trim().to_string();
    if status == reqwest::StatusCode::FORBIDDEN {
        body.push_str(" (check the token: providers.consul.token or tokenFile, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)");
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
