//! The `http` section of the dynamic configuration: routers, services and servers transports
//! (middlewares live in `middlewares.rs`).

use std::collections::BTreeMap;

use crate::duration::GoDuration;

use super::exactly_one;
use super::middlewares::Middleware;
use super::tls::{Certificate, Domain};

/// Default interval between two active health checks (30s).
pub const DEFAULT_HEALTH_CHECK_INTERVAL: GoDuration = GoDuration::from_secs(30);
/// Default timeout of one active health check (5s).
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: GoDuration = GoDuration::from_secs(5);
/// Default flush interval of responses streamed to the client (100ms).
pub const DEFAULT_FLUSH_INTERVAL: GoDuration = GoDuration::from_millis(100);

/// Everything under `http`: named routers, services, middlewares and servers transports.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpConfiguration {
    /// Routers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, Router>,
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Middlewares by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub middlewares: BTreeMap<String, Middleware>,
    /// Servers transports (how to talk to backends) by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers_transports: BTreeMap<String, ServersTransport>,
}

/// An HTTP router: a rule on some entry points, leading through middlewares to a service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Router {
    /// Entry points the router listens on; empty means all (default) entry points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    /// Middlewares applied in order before the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
    /// Name of the target service.
    pub service: Option<String>,
    /// Matching rule, e.g. ``Host(`example.com`) && PathPrefix(`/api`)``.
    pub rule: Option<String>,
    /// Parent routers, for multi-layer routing (file provider and KV only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<String>,
    /// Deprecated rule syntax selector (`v2` or `v3`); unset means the static default (`v3`).
    pub rule_syntax: Option<String>,
    /// Priority among routers; unset or 0 means the length of the rule.
    pub priority: Option<i64>,
    /// TLS termination settings; "allowEmpty": `tls: true` / `""` gives an empty struct
    /// (TLS with default options).
    pub tls: Option<RouterTlsConfig>,
    /// Per-router observability switches.
    pub observability: Option<RouterObservabilityConfig>,
}

/// TLS settings of an HTTP router.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterTlsConfig {
    /// Name of the TLS options (`tls.options.<name>`); unset means `default`.
    pub options: Option<String>,
    /// Certificate resolver (ACME) used to obtain certificates.
    pub cert_resolver: Option<String>,
    /// Domains to request certificates for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
}

impl RouterTlsConfig {
    /// TLS options name; defaults to `default`.
    pub fn options(&self) -> &str {
        self.options.as_deref().unwrap_or("default")
    }
}

/// Per-router observability switches (unset switches inherit the entry point's settings).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterObservabilityConfig {
    /// Whether requests of this router are access-logged.
    pub access_logs: Option<bool>,
    /// Whether metrics are recorded for this router.
    pub metrics: Option<bool>,
    /// Whether requests of this router are traced.
    pub tracing: Option<bool>,
    /// Tracing verbosity: `minimal` or `detailed`.
    pub trace_verbosity: Option<String>,
}

impl RouterObservabilityConfig {
    /// Tracing verbosity; defaults to `minimal`.
    pub fn trace_verbosity(&self) -> &str {
        self.trace_verbosity.as_deref().unwrap_or("minimal")
    }
}

/// An HTTP service; exactly one of its fields must be set (see [`Service::kind`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Load-balancer over servers (URLs).
    pub load_balancer: Option<ServersLoadBalancer>,
    /// Highest-random-weight (sticky hashing) over other services.
    pub highest_random_weight: Option<HighestRandomWeight>,
    /// Weighted round robin over other services.
    pub weighted: Option<WeightedRoundRobin>,
    /// Main service plus mirrors receiving copies of the requests.
    pub mirroring: Option<Mirroring>,
    /// Main service with a fallback used when it is down.
    pub failover: Option<Failover>,
}

impl Service {
    /// Traefik's name of the one service type that is set, or an error naming what was found.
    pub fn kind(&self) -> Result<&'static str, String> {
        exactly_one(
            "service",
            &[
                ("loadBalancer", self.load_balancer.is_some()),
                ("highestRandomWeight", self.highest_random_weight.is_some()),
                ("weighted", self.weighted.is_some()),
                ("mirroring", self.mirroring.is_some()),
                ("failover", self.failover.is_some()),
            ],
        )
    }
}

/// Load-balancer over a list of servers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServersLoadBalancer {
    /// Session affinity; "allowEmpty": `sticky: true` / `""` gives an empty struct.
    pub sticky: Option<Sticky>,
    /// The servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// Balancing strategy: `wrr`, `p2c`, `hrw` or `leasttime`.
    pub strategy: Option<String>,
    /// Active health check of the servers.
    pub health_check: Option<ServerHealthCheck>,
    /// Passive health check (failures of real requests).
    pub passive_health_check: Option<PassiveServerHealthCheck>,
    /// Whether the client's Host header is forwarded to the servers.
    pub pass_host_header: Option<bool>,
    /// How responses are streamed back.
    pub response_forwarding: Option<ResponseForwarding>,
    /// Name of the servers transport to use.
    pub servers_transport: Option<String>,
}

impl ServersLoadBalancer {
    /// Whether the Host header is passed through; defaults to `true`.
    pub fn pass_host_header(&self) -> bool {
        self.pass_host_header.unwrap_or(true)
    }

    /// Balancing strategy; defaults to `wrr`.
    pub fn strategy(&self) -> &str {
        self.strategy.as_deref().unwrap_or("wrr")
    }

    /// Effective flush interval of the response; defaults to 100ms.
    pub fn flush_interval(&self) -> GoDuration {
        self.response_forwarding
            .as_ref()
            .map_or(DEFAULT_FLUSH_INTERVAL, ResponseForwarding::flush_interval)
    }
}

/// Response streaming settings.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseForwarding {
    /// Interval between flushes to the client; negative flushes after every write.
    pub flush_interval: Option<GoDuration>,
}

impl ResponseForwarding {
    /// Flush interval; defaults to 100ms.
    pub fn flush_interval(&self) -> GoDuration {
        self.flush_interval.unwrap_or(DEFAULT_FLUSH_INTERVAL)
    }
}

/// One backend server of a load-balancer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    /// Server URL, e.g. `http://10.0.0.1:8080`.
    pub url: Option<String>,
    /// Relative weight for `wrr`/`hrw`; values <= 0 take the server out of rotation.
    pub weight: Option<i64>,
    /// Whether the path of `url` is prepended to the request path.
    pub preserve_path: Option<bool>,
}

impl Server {
    /// Server weight; defaults to 1.
    pub fn weight(&self) -> i64 {
        self.weight.unwrap_or(1)
    }

    /// Whether the URL path is kept; defaults to `false`.
    pub fn preserve_path(&self) -> bool {
        self.preserve_path.unwrap_or(false)
    }
}

/// Active health check of the servers of a load-balancer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerHealthCheck {
    /// Scheme used for the check, replacing the server's.
    pub scheme: Option<String>,
    /// `http` or `grpc`.
    pub mode: Option<String>,
    /// Path requested.
    pub path: Option<String>,
    /// HTTP method used.
    pub method: Option<String>,
    /// Expected status code; unset means any 2xx/3xx.
    pub status: Option<i64>,
    /// Port used instead of the server's.
    pub port: Option<i64>,
    /// Interval between checks of a healthy server.
    pub interval: Option<GoDuration>,
    /// Interval between checks of an unhealthy server.
    pub unhealthy_interval: Option<GoDuration>,
    /// Timeout of one check.
    pub timeout: Option<GoDuration>,
    /// Host header sent with the check.
    pub hostname: Option<String>,
    /// Whether redirects are followed.
    pub follow_redirects: Option<bool>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl ServerHealthCheck {
    /// Check mode; defaults to `http`.
    pub fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("http")
    }

    /// HTTP method; defaults to `GET`.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("GET")
    }

    /// Interval between checks; defaults to 30s.
    pub fn interval(&self) -> GoDuration {
        self.interval.unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL)
    }

    /// Interval while unhealthy; defaults to [`Self::interval`].
    pub fn unhealthy_interval(&self) -> GoDuration {
        self.unhealthy_interval.unwrap_or_else(|| self.interval())
    }

    /// Timeout of one check; defaults to 5s.
    pub fn timeout(&self) -> GoDuration {
        self.timeout.unwrap_or(DEFAULT_HEALTH_CHECK_TIMEOUT)
    }

    /// Whether redirects are followed; defaults to `true`.
    pub fn follow_redirects(&self) -> bool {
        self.follow_redirects.unwrap_or(true)
    }
}

/// Passive health check: marks a server down after failed requests.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassiveServerHealthCheck {
    /// Window in which failures are counted, and how long the server stays down.
    pub failure_window: Option<GoDuration>,
    /// Consecutive failures within the window that mark the server down.
    pub max_failed_attempts: Option<i64>,
}

impl PassiveServerHealthCheck {
    /// Failure window; defaults to 10s.
    pub fn failure_window(&self) -> GoDuration {
        self.failure_window.unwrap_or(GoDuration::from_secs(10))
    }

    /// Allowed failures; defaults to 1.
    pub fn max_failed_attempts(&self) -> i64 {
        self.max_failed_attempts.unwrap_or(1)
    }
}

/// Health-status propagation for services of services; it has no settings.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {}

/// Session affinity settings.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sticky {
    /// Cookie-based affinity; "allowEmpty": `cookie: true` / `""` gives an empty struct.
    pub cookie: Option<Cookie>,
}

/// The sticky-session cookie.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cookie {
    /// Cookie name; unset means a name derived from the service name.
    pub name: Option<String>,
    /// `Secure` attribute.
    pub secure: Option<bool>,
    /// `HttpOnly` attribute.
    pub http_only: Option<bool>,
    /// `SameSite` attribute: `none`, `lax` or `strict`.
    pub same_site: Option<String>,
    /// `Max-Age` in seconds; 0 means a session cookie, negative expires it at once.
    pub max_age: Option<i64>,
    /// `Path` attribute.
    pub path: Option<String>,
    /// `Domain` attribute.
    pub domain: Option<String>,
}

impl Cookie {
    /// Cookie path; defaults to `/`.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }
}

/// Weighted round robin over other services.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedRoundRobin {
    /// The weighted services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<WrrService>,
    /// Session affinity between the services.
    pub sticky: Option<Sticky>,
    /// Health propagation; "allowEmpty": `healthCheck: true` / `""` gives an empty struct.
    pub health_check: Option<HealthCheck>,
}

/// A service referenced by a weighted round robin.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WrrService {
    /// Service name.
    pub name: Option<String>,
    /// Relative weight.
    pub weight: Option<i64>,
}

impl WrrService {
    /// Weight; defaults to 1.
    pub fn weight(&self) -> i64 {
        self.weight.unwrap_or(1)
    }
}

/// Highest random weight (rendezvous hashing on the client IP) over other services.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HighestRandomWeight {
    /// The weighted services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<HrwService>,
    /// Health propagation; "allowEmpty": `healthCheck: true` / `""` gives an empty struct.
    pub health_check: Option<HealthCheck>,
}

/// A service referenced by a highest-random-weight balancer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HrwService {
    /// Service name.
    pub name: Option<String>,
    /// Relative weight.
    pub weight: Option<i64>,
}

impl HrwService {
    /// Weight; defaults to 1.
    pub fn weight(&self) -> i64 {
        self.weight.unwrap_or(1)
    }
}

/// A main service whose requests are copied to mirrors.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mirroring {
    /// The main service (its response is returned).
    pub service: Option<String>,
    /// Whether request bodies are mirrored too.
    pub mirror_body: Option<bool>,
    /// Largest body mirrored, in bytes; -1 means no limit.
    pub max_body_size: Option<i64>,
    /// The mirrors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorService>,
    /// Health propagation; "allowEmpty": `healthCheck: true` / `""` gives an empty struct.
    pub health_check: Option<HealthCheck>,
}

impl Mirroring {
    /// Whether bodies are mirrored; defaults to `true`.
    pub fn mirror_body(&self) -> bool {
        self.mirror_body.unwrap_or(true)
    }

    /// Body size limit; defaults to -1 (unlimited).
    pub fn max_body_size(&self) -> i64 {
        self.max_body_size.unwrap_or(-1)
    }
}

/// A mirror: a service receiving a percentage of the requests.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MirrorService {
    /// Service name.
    pub name: Option<String>,
    /// Percentage (0-100) of requests copied.
    pub percent: Option<i64>,
}

/// A main service with a fallback used while the main one is unhealthy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failover {
    /// The main service.
    pub service: Option<String>,
    /// The fallback service.
    pub fallback: Option<String>,
    /// Health propagation; "allowEmpty" in labels and files: `healthCheck: true` / `""` gives
    /// an empty struct.
    pub health_check: Option<HealthCheck>,
}

/// How Traefik connects to HTTP backends (TLS, timeouts, pooling).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServersTransport {
    /// SNI / verification name sent to the backend.
    pub server_name: Option<String>,
    /// Disables backend certificate verification.
    pub insecure_skip_verify: Option<bool>,
    /// CA certificates (paths or PEM contents) trusted for backends.
    #[serde(default, rename = "rootCAs", skip_serializing_if = "Vec::is_empty")]
    pub root_cas: Vec<String>,
    /// Client certificates for mTLS to backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// Idle keep-alive connections kept per host; negative disables reuse.
    pub max_idle_conns_per_host: Option<i64>,
    /// Timeouts of forwarded requests.
    pub forwarding_timeouts: Option<ForwardingTimeouts>,
    /// Disables HTTP/2 towards backends.
    #[serde(rename = "disableHTTP2")]
    pub disable_http2: Option<bool>,
    /// URI SAN required in the backend certificate (deprecated in later versions).
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: Option<String>,
    /// SPIFFE authentication of backends; "allowEmpty" in labels and files.
    pub spiffe: Option<Spiffe>,
}

impl ServersTransport {
    /// The forwarding timeouts, or all defaults when the section is absent.
    pub fn forwarding_timeouts(&self) -> ForwardingTimeouts {
        self.forwarding_timeouts.clone().unwrap_or_default()
    }
}

/// SPIFFE identities accepted from backends.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spiffe {
    /// Allowed SPIFFE IDs (take precedence over the trust domain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Allowed SPIFFE trust domain.
    pub trust_domain: Option<String>,
}

/// Timeouts for requests forwarded to backends; zero disables a timeout.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardingTimeouts {
    /// Time allowed to establish a connection.
    pub dial_timeout: Option<GoDuration>,
    /// Time allowed for the response headers after the request is written.
    pub response_header_timeout: Option<GoDuration>,
    /// How long an idle keep-alive connection stays open.
    pub idle_conn_timeout: Option<GoDuration>,
    /// Silence after which an HTTP/2 ping health check is sent.
    pub read_idle_timeout: Option<GoDuration>,
    /// Time allowed for an HTTP/2 ping answer.
    pub ping_timeout: Option<GoDuration>,
}

impl ForwardingTimeouts {
    /// Dial timeout; defaults to 30s.
    pub fn dial_timeout(&self) -> GoDuration {
        self.dial_timeout.unwrap_or(GoDuration::from_secs(30))
    }

    /// Response header timeout; defaults to 0 (none).
    pub fn response_header_timeout(&self) -> GoDuration {
        self.response_header_timeout.unwrap_or_default()
    }

    /// Idle connection timeout; defaults to 90s.
    pub fn idle_conn_timeout(&self) -> GoDuration {
        self.idle_conn_timeout.unwrap_or(GoDuration::from_secs(90))
    }

    /// HTTP/2 read idle timeout; defaults to 0 (no ping health check).
    pub fn read_idle_timeout(&self) -> GoDuration {
        self.read_idle_timeout.unwrap_or_default()
    }

    /// HTTP/2 ping timeout; defaults to 15s.
    pub fn ping_timeout(&self) -> GoDuration {
        self.ping_timeout.unwrap_or(GoDuration::from_secs(15))
    }
}
