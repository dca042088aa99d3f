//! Traefik's static configuration (`traefik.yml` / `traefik.toml` / `--flags`): the part of it
//! this gateway supports, its defaults, and how file and flags combine.

mod flags;

pub use flags::{parse_args, Command, FlagError};

use crate::decode::{self, DecodeError, Node};
use crate::duration::GoDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Name of the entrypoint Traefik creates for its API and ping (`:8080` unless configured).
pub const INTERNAL_ENTRYPOINT: &str = "traefik";

/// The static configuration, with Traefik's key names.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StaticConfig {
    /// Listening addresses by entrypoint name.
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// Where dynamic configuration comes from.
    pub providers: Providers,
    /// The API on the `traefik` entrypoint (`api.insecure`).
    pub api: Option<Api>,
    /// The `/ping` health endpoint.
    pub ping: Option<Ping>,
    /// Logging.
    pub log: Option<Log>,
}

/// One entrypoint: a listening address and how it treats clients.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPoint {
    /// `host:port` or `:port` (all interfaces).
    pub address: String,
    /// Routers with no `entryPoints` attach to the entrypoints marked `asDefault` (all when none is).
    pub as_default: bool,
    /// Which clients' `X-Forwarded-*` headers are trusted.
    pub forwarded_headers: ForwardedHeaders,
    /// Connection life cycle and client deadlines.
    pub transport: Option<EntryPointTransport>,
    /// HTTP settings of the entrypoint.
    pub http: Option<EntryPointHttp>,
}

/// `entryPoints.<name>.http`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointHttp {
    /// Largest request head (request line and headers) accepted, in bytes (Go's
    /// `http.DefaultMaxHeaderBytes`, 1 MiB, by default); Go allows 4 KiB on top of it.
    pub max_header_bytes: Option<i64>,
    /// Middlewares applied to every router of the entrypoint, before the router's own
    /// (names are qualified with the router's provider unless they carry `@provider`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
}

/// `entryPoints.<name>.forwardedHeaders`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForwardedHeaders {
    /// Trust every client's forwarded headers.
    pub insecure: bool,
    /// Trust forwarded headers from these IPs or CIDRs.
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    /// Headers named in `Connection` that are kept instead of removed.
    pub connection: Vec<String>,
    /// Do not append the client address to `X-Forwarded-For`.
    pub not_append_x_forwarded_for: bool,
    /// Also set `X-Forwarded-Scheme` and `X-Scheme`.
    pub add_x_forwarded_scheme_headers: bool,
}

/// `entryPoints.<name>.transport`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointTransport {
    /// Shutdown timing.
    pub life_cycle: Option<LifeCycle>,
    /// Client deadlines.
    pub responding_timeouts: Option<RespondingTimeouts>,
    /// Requests served on one connection before it is closed (0, the default: no limit).
    pub keep_alive_max_requests: Option<i64>,
    /// Age after which a connection is closed after its current response (0: no limit).
    pub keep_alive_max_time: Option<GoDuration>,
}

/// `entryPoints.<name>.transport.respondingTimeouts`: Go's `http.Server` deadlines.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RespondingTimeouts {
    /// Time to read a whole request, head and body (default 60s; 0: none).
    pub read_timeout: Option<GoDuration>,
    /// Time to write a response, from the end of its request head (default 0: none).
    pub write_timeout: Option<GoDuration>,
    /// Time a keep-alive connection may wait for its next request (default 180s; 0: none).
    pub idle_timeout: Option<GoDuration>,
}

/// The client deadlines and limits of one entrypoint, with Traefik's defaults applied; `None`
/// means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// `respondingTimeouts.readTimeout`.
    pub read_timeout: Option<std::time::Duration>,
    /// `respondingTimeouts.writeTimeout`.
    pub write_timeout: Option<std::time::Duration>,
    /// `respondingTimeouts.idleTimeout`.
    pub idle_timeout: Option<std::time::Duration>,
    /// `keepAliveMaxRequests`.
    pub keep_alive_max_requests: Option<u64>,
    /// `keepAliveMaxTime`.
    pub keep_alive_max_time: Option<std::time::Duration>,
    /// `http.maxHeaderBytes`, Go's 4 KiB of slack included: the most bytes a request head
    /// may take.
    pub max_head_bytes: usize,
}

/// Go's `http.DefaultMaxHeaderBytes`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1 << 20;
/// The slack Go's server reads beyond `MaxHeaderBytes` before answering 431.
const MAX_HEADER_BYTES_SLACK: usize = 4096;

/// `entryPoints.<name>.transport.lifeCycle`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LifeCycle {
    /// How long the listeners keep accepting requests after SIGTERM, while `/ping` already
    /// answers the terminating status (Traefik's default 0).
    pub request_accept_grace_timeout: Option<GoDuration>,
    /// How long in-flight requests may take to finish once the listeners closed (Traefik's
    /// default 10s).
    #[serde(rename = "graceTimeOut")]
    pub grace_time_out: Option<GoDuration>,
}

impl EntryPoint {
    fn life_cycle(&self) -> Option<&LifeCycle> {
        self.transport.as_ref().and_then(|t| t.life_cycle.as_ref())
    }

    /// The client deadlines and limits, Traefik's defaults filled in (readTimeout 60s,
    /// idleTimeout 180s, writeTimeout none, no keep-alive limits, 1 MiB of headers).
    pub fn client_limits(&self) -> ClientLimits {
        let transport = self.transport.as_ref();
        let timeouts = transport.and_then(|t| t.responding_timeouts.as_ref());
        let positive = |d: Option<GoDuration>, default: GoDuration| {
            Some(d.unwrap_or(default))
                .filter(|d| d.is_positive())
                .map(GoDuration::to_std)
        };
        let max_header_bytes = self
            .http
            .as_ref()
            .and_then(|h| h.max_header_bytes)
            .filter(|n| *n > 0)
            .map_or(DEFAULT_MAX_HEADER_BYTES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        ClientLimits {
            read_timeout: positive(
                timeouts.and_then(|t| t.read_timeout),
                GoDuration::from_secs(60),
            ),
            write_timeout: positive(
                timeouts.and_then(|t| t.write_timeout),
                GoDuration::default(),
            ),
            idle_timeout: positive(
                timeouts.and_then(|t| t.idle_timeout),
                GoDuration::from_secs(180),
            ),
            keep_alive_max_requests: transport
                .and_then(|t| t.keep_alive_max_requests)
                .filter(|n| *n > 0)
                .map(|n| n as u64),
            keep_alive_max_time: positive(
                transport.and_then(|t| t.keep_alive_max_time),
                GoDuration::default(),
            ),
            max_head_bytes: max_header_bytes.saturating_add(MAX_HEADER_BYTES_SLACK),
        }
    }

    /// Time given to in-flight requests on shutdown: `transport.lifeCycle.graceTimeOut`, default 10s.
    pub fn grace_time_out(&self) -> GoDuration {
        self.life_cycle()
            .and_then(|l| l.grace_time_out)
            .unwrap_or(GoDuration::from_secs(10))
    }

    /// Time the listener keeps accepting after SIGTERM:
    /// `transport.lifeCycle.requestAcceptGraceTimeout`, default 0.
    pub fn request_accept_grace_timeout(&self) -> GoDuration {
        self.life_cycle()
            .and_then(|l| l.request_accept_grace_timeout)
            .unwrap_or_default()
    }

    /// The address to bind. As Go (Traefik) listens, `:80` and the wildcards `0.0.0.0:80` and
    /// `[::]:80` mean every interface, IPv6 and IPv4: `[::]:80`, dual-stack.
    pub fn bind_address(&self) -> String {
        if self.address.starts_with(':') {
            return format!("[::]{}", self.address);
        }
        match self.address.parse::<std::net::SocketAddr>() {
            Ok(address) if address.ip().is_unspecified() => {
                std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, address.port()))
                    .to_string()
            }
            _ => self.address.clone(),
        }
    }
}

/// `providers`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Providers {
    /// Minimum time between two applied changes. Unlike Traefik (2s by default), unset means
    /// changes apply as soon as they are read.
    pub providers_throttle_duration: Option<GoDuration>,
    /// The file provider.
    pub file: Option<FileProvider>,
    /// The Consul KV provider.
    pub consul: Option<ConsulProvider>,
}

/// `providers.consul`: Traefik's dynamic configuration read from Consul KV.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsulProvider {
    /// Consul HTTP addresses (`host:port` or URLs), tried in order, failing over to the next
    /// (default `127.0.0.1:8500`). Traefik only ever uses the first.
    pub endpoints: Vec<String>,
    /// Prefix of the configuration keys (default `traefik`).
    pub root_key: Option<String>,
    /// ACL token.
    pub token: Option<String>,
    /// A file holding the ACL token (as `CONSUL_HTTP_TOKEN_FILE`), read at start. An
    /// extension: Traefik only has `token`.
    pub token_file: Option<String>,
    /// Read from any Consul server instead of the leader (may lag; spreads the load).
    /// An extension: Traefik has no such option.
    pub stale: bool,
    /// With `stale`: the most a server may lag its leader for its answer to be used (default
    /// 10s); a server with no known leader is never used. An extension.
    pub max_staleness: Option<GoDuration>,
    /// TLS to Consul.
    pub tls: Option<ConsulTls>,
}

impl ConsulProvider {
    /// The endpoints, or Consul's default address.
    pub fn endpoints(&self) -> Vec<String> {
        if self.endpoints.is_empty() {
            vec!["127.0.0.1:8500".into()]
        } else {
            self.endpoints.clone()
        }
    }

    /// `maxStaleness`, default 10s.
    pub fn max_staleness(&self) -> std::time::Duration {
        self.max_staleness
            .map_or(crate::consul::client::MAX_STALENESS, GoDuration::to_std)
    }

    /// The root key without surrounding slashes (default `traefik`).
    pub fn root_key(&self) -> String {
        let root = self
            .root_key
            .as_deref()
            .unwrap_or("traefik")
            .trim_matches('/');
        if root.is_empty() {
            "traefik".into()
        } else {
            root.to_string()
        }
    }
}

/// `providers.consul.tls`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsulTls {
    /// PEM file of the CA that signed Consul's certificate.
    pub ca: Option<String>,
    /// PEM file of the client certificate (with `key`).
    pub cert: Option<String>,
    /// PEM file of the client key.
    pub key: Option<String>,
    /// Do not verify Consul's certificate.
    pub insecure_skip_verify: bool,
    /// The name Consul's certificate is verified against instead of the endpoint's host (as
    /// `CONSUL_TLS_SERVER_NAME`). An extension.
    pub server_name: Option<String>,
}

/// `providers.file`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FileProvider {
    /// One dynamic configuration file.
    pub filename: Option<String>,
    /// A directory whose `.yml`, `.yaml` and `.toml` files are merged.
    pub directory: Option<String>,
    /// Reload when the file or directory changes (default true, as Traefik).
    pub watch: Option<bool>,
}

impl FileProvider {
    /// Whether changes are watched: `watch`, default true.
    pub fn watch(&self) -> bool {
        self.watch.unwrap_or(true)
    }
}

/// `api`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Api {
    /// Serve the API on the `traefik` entrypoint.
    pub insecure: bool,
}

/// `ping`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Ping {
    /// Entrypoint serving `/ping` (default `traefik`).
    pub entry_point: Option<String>,
    /// Do not serve `/ping` by itself; a router must point to `ping@internal`.
    pub manual_routing: bool,
    /// Status `/ping` answers while the gateway shuts down (default 503).
    pub terminating_status_code: Option<u16>,
}

impl Ping {
    /// Entrypoint serving `/ping`.
    pub fn entry_point(&self) -> &str {
        self.entry_point.as_deref().unwrap_or(INTERNAL_ENTRYPOINT)
    }

    /// Status answered during shutdown.
    pub fn terminating_status_code(&self) -> u16 {
        self.terminating_status_code.unwrap_or(503)
    }
}

/// `log`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Log {
    /// TRACE, DEBUG, INFO, WARN, ERROR, FATAL or PANIC (default ERROR, as Traefik).
    pub level: Option<String>,
    /// `common` (text) or `json`.
    pub format: Option<String>,
}

/// A static configuration that was read, with what was ignored.
#[derive(Debug, Clone)]
pub struct LoadedStatic {
    /// The configuration, with Traefik's effective defaults applied.
    pub config: StaticConfig,
    /// Keys present in the input that this gateway does not support (ignored).
    pub ignored_keys: Vec<String>,
}

/// Why a static configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StaticConfigError {
    /// The file could not be opened.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML/TOML.
    #[error("configuration file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What and where (line, column).
        message: String,
    },
    /// A key has a value of the wrong kind, or a value that cannot be used.
    #[error("{origin}: {error}")]
    Value {
        /// The file (with the key's line when it can be found), or "flags".
        origin: String,
        /// Key path and reason.
        error: DecodeError,
    },
}

fn invalid(path: &str, message: String) -> DecodeError {
    DecodeError {
        path: path.to_string(),
        message,
    }
}

impl StaticConfig {
    /// Reads a static configuration from an optional file with flag values laid over it.
    pub fn load(file: Option<&Path>, flags: Node) -> Result<LoadedStatic, StaticConfigError> {
        let (mut tree, text) = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|source| StaticConfigError::Read {
                        path: shown.clone(),
                        source,
                    })?;
                let tree = decode::from_file_text(&shown, &text).map_err(|message| {
                    StaticConfigError::Syntax {
                        path: shown,
                        message,
                    }
                })?;
                (tree, Some(text))
            }
            None => (Node::empty_map(), None),
        };
        tree.merge(flags);
        let origin = file.map_or_else(|| "flags".to_string(), |p| p.display().to_string());
        Self::from_tree(&tree, &origin).map_err(|e| match (e, text) {
            (StaticConfigError::Value { origin, error }, Some(text)) => {
                let origin = match decode::line_of_key(&text, &error.path) {
                    Some(line) => format!("{origin}, line {line}"),
                    None => origin,
                };
                StaticConfigError::Value { origin, error }
            }
            (other, _) => other,
        })
    }

    /// Decodes a static configuration tree; `origin` names it in errors.
    pub fn from_tree(tree: &Node, origin: &str) -> Result<LoadedStatic, StaticConfigError> {
        let (result, ignored_keys) = decode::decode_lenient::<StaticConfig>(tree, "");
        let mut config = result.map_err(|error| StaticConfigError::Value {
            origin: origin.to_string(),
            error,
        })?;
        config.apply_defaults();
        config
            .validate()
            .map_err(|error| StaticConfigError::Value {
                origin: origin.to_string(),
                error,
            })?;
        Ok(LoadedStatic {
            config,
            ignored_keys,
        })
    }

    /// Traefik's effective configuration: an `http` entrypoint on `:80` when none is defined,
    /// and the `traefik` entrypoint on `:8080` when the API or ping needs it.
    fn apply_defaults(&mut self) {
        if self.entry_points.is_empty() {
            self.entry_points.insert(
                "http".into(),
                EntryPoint {
                    address: ":80".into(),
                    ..Default::default()
                },
            );
        }
        let api_needs_it = self.api.as_ref().is_some_and(|a| a.insecure);
        let ping_needs_it = self
            .ping
            .as_ref()
            .is_some_and(|p| !p.manual_routing && p.entry_point() == INTERNAL_ENTRYPOINT);
        if (api_needs_it || ping_needs_it) && !self.entry_points.contains_key(INTERNAL_ENTRYPOINT) {
            self.entry_points.insert(
                INTERNAL_ENTRYPOINT.into(),
                EntryPoint {
                    address: ":8080".into(),
                    ..Default::default()
                },
            );
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        for (name, entry_point) in &self.entry_points {
            let address = entry_point.bind_address();
            if address.parse::<std::net::SocketAddr>().is_err() {
                return Err(invalid(
                    &format!("entryPoints/{name}/address"),
                    format!(
                        "{:?} is not an address; use host:port or :port (e.g. \"127.0.0.1:8000\" or \":80\")",
                        entry_point.address
                    ),
                ));
            }
        }
        if let Some(ping) = &self.ping {
            if !ping.manual_routing && !self.entry_points.contains_key(ping.entry_point()) {
                return Err(invalid(
                    "ping/entryPoint",
                    format!(
                        "no entrypoint named {:?}; define it under entryPoints",
                        ping.entry_point()
                    ),
                ));
            }
        }
        if let Some(consul) = &self.providers.consul {
            if consul.token.as_deref().is_some_and(|t| !t.is_empty()) && consul.token_file.is_some()
            {
                return Err(invalid(
                    "providers/consul/tokenFile",
                    "both token and tokenFile are set; keep one".into(),
                ));
            }
            if consul.max_staleness.is_some_and(|d| !d.is_positive()) {
                return Err(invalid(
                    "providers/consul/maxStaleness",
                    "must be a positive duration (e.g. 10s)".into(),
                ));
            }
        }
        if let Some(level) = self.log.as_ref().and_then(|l| l.level.as_deref()) {
            if log_level_directive(level).is_none() {
                return Err(invalid(
                    "log/level",
                    format!("unknown level {level:?}; use TRACE, DEBUG, INFO, WARN, ERROR, FATAL or PANIC"),
                ));
            }
        }
        Ok(())
    }

    /// The entrypoints a router with no `entryPoints` attaches to, sorted: those marked
    /// `asDefault` if any is, else all; never the internal `traefik` one (as Traefik).
    pub fn default_entry_points(&self) -> Vec<String> {
        let any_marked = self.entry_points.values().any(|ep| ep.as_default);
        self.entry_points
            .iter()
            .filter(|(name, ep)| {
                (!any_marked || ep.as_default) && name.as_str() != INTERNAL_ENTRYPOINT
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The `tracing` filter directive for `log.level` (Traefik's default is ERROR).
    pub fn log_directive(&self) -> &'static str {
        self.log
            .as_ref()
            .and_then(|l| l.level.as_deref())
            .and_then(log_level_directive)
            .unwrap_or("error")
    }
}

/// Maps a Traefik log level to a `tracing` level name.
fn log_level_directive(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "FATAL" | "PANIC" => "error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
