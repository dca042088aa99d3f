//! The `tcp` section of the dynamic configuration: routers, services, middlewares and
//! servers transports.

use std::collections::BTreeMap;

use crate::duration::GoDuration;

use super::exactly_one;
use super::http::{
    HealthCheck, Spiffe, DEFAULT_HEALTH_CHECK_INTERVAL, DEFAULT_HEALTH_CHECK_TIMEOUT,
};
use super::tls::{Certificate, Domain};

/// Everything under `tcp`: named routers, services, middlewares and servers transports.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpConfiguration {
    /// Routers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, TcpRouter>,
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, TcpService>,
    /// Middlewares by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub middlewares: BTreeMap<String, TcpMiddleware>,
    /// Servers transports by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers_transports: BTreeMap<String, TcpServersTransport>,
}

/// A TCP router: an SNI/IP rule on some entry points leading to a service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpRouter {
    /// Entry points the router listens on; empty means all (default) entry points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    /// TCP middlewares applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
    /// Name of the target service.
    pub service: Option<String>,
    /// Matching rule, e.g. ``HostSNI(`example.com`)``.
    pub rule: Option<String>,
    /// Deprecated rule syntax selector (`v2` or `v3`).
    pub rule_syntax: Option<String>,
    /// Priority among routers; unset or 0 means the length of the rule.
    pub priority: Option<i64>,
    /// TLS settings; "allowEmpty": `tls: true` / `""` gives an empty struct (TLS termination).
    pub tls: Option<RouterTcpTlsConfig>,
}

/// TLS settings of a TCP router.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterTcpTlsConfig {
    /// Forward the TLS stream untouched instead of terminating it.
    pub passthrough: Option<bool>,
    /// Name of the TLS options; unset means `default`.
    pub options: Option<String>,
    /// Certificate resolver (ACME) used to obtain certificates.
    pub cert_resolver: Option<String>,
    /// Domains to request certificates for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
}

impl RouterTcpTlsConfig {
    /// Whether TLS is passed through; defaults to `false`.
    pub fn passthrough(&self) -> bool {
        self.passthrough.unwrap_or(false)
    }

    /// TLS options name; defaults to `default`.
    pub fn options(&self) -> &str {
        self.options.as_deref().unwrap_or("default")
    }
}

/// A TCP service; exactly one of its fields must be set (see [`TcpService::kind`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpService {
    /// Load-balancer over server addresses.
    pub load_balancer: Option<TcpServersLoadBalancer>,
    /// Weighted round robin over other TCP services.
    pub weighted: Option<TcpWeightedRoundRobin>,
}

impl TcpService {
    /// Traefik's name of the one service type that is set, or an error naming what was found.
    pub fn kind(&self) -> Result<&'static str, String> {
        exactly_one(
            "TCP service",
            &[
                ("loadBalancer", self.load_balancer.is_some()),
                ("weighted", self.weighted.is_some()),
            ],
        )
    }
}

/// Load-balancer over TCP servers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpServersLoadBalancer {
    /// The servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<TcpServer>,
    /// Name of the TCP servers transport to use.
    pub servers_transport: Option<String>,
    /// Deprecated (use the servers transport): PROXY protocol towards the servers;
    /// "allowEmpty": `proxyProtocol: true` / `""` gives an empty struct (version 2).
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Deprecated (use the servers transport): half-close delay in milliseconds;
    /// negative waits forever.
    pub termination_delay: Option<i64>,
    /// Active health check; "allowEmpty": `healthCheck: true` / `""` gives an empty struct.
    pub health_check: Option<TcpServerHealthCheck>,
}

impl TcpServersLoadBalancer {
    /// Deprecated termination delay in milliseconds; defaults to 100.
    pub fn termination_delay(&self) -> i64 {
        self.termination_delay.unwrap_or(100)
    }
}

/// One TCP backend.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpServer {
    /// `host:port` of the server.
    pub address: Option<String>,
    /// Whether to speak TLS to the server.
    pub tls: Option<bool>,
}

/// PROXY protocol header sent to backends.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyProtocol {
    /// Protocol version, 1 or 2.
    pub version: Option<i64>,
}

impl ProxyProtocol {
    /// Version; defaults to 2.
    pub fn version(&self) -> i64 {
        self.version.unwrap_or(2)
    }
}

/// Active health check of TCP servers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpServerHealthCheck {
    /// Port used instead of the server's.
    pub port: Option<i64>,
    /// Payload sent after connecting.
    pub send: Option<String>,
    /// Reply expected.
    pub expect: Option<String>,
    /// Interval between checks of a healthy server.
    pub interval: Option<GoDuration>,
    /// Interval between checks of an unhealthy server.
    pub unhealthy_interval: Option<GoDuration>,
    /// Timeout of one check.
    pub timeout: Option<GoDuration>,
}

impl TcpServerHealthCheck {
    /// Interval; defaults to 30s.
    pub fn interval(&self) -> GoDuration {
        self.interval.unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL)
    }

    /// Interval while unhealthy; defaults to [`Self::interval`].
    pub fn unhealthy_interval(&self) -> GoDuration {
        self.unhealthy_interval.unwrap_or_else(|| self.interval())
    }

    /// Timeout; defaults to 5s.
    pub fn timeout(&self) -> GoDuration {
        self.timeout.unwrap_or(DEFAULT_HEALTH_CHECK_TIMEOUT)
    }
}

/// Weighted round robin over TCP services.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpWeightedRoundRobin {
    /// The weighted services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<TcpWrrService>,
    /// Health propagation; "allowEmpty": `healthCheck: true` / `""` gives an empty struct.
    pub health_check: Option<HealthCheck>,
}

/// A TCP service referenced by a weighted round robin.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpWrrService {
    /// Service name.
    pub name: Option<String>,
    /// Relative weight.
    pub weight: Option<i64>,
}

impl TcpWrrService {
    /// Weight; defaults to 1.
    pub fn weight(&self) -> i64 {
        self.weight.unwrap_or(1)
    }
}

/// A TCP middleware: exactly one of the fields must be set (see [`TcpMiddleware::kind`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpMiddleware {
    /// Limit of simultaneous connections per client IP.
    pub in_flight_conn: Option<TcpInFlightConn>,
    /// Deprecated name of `ipAllowList`.
    pub ip_white_list: Option<TcpIpAllowList>,
    /// Client IP allow list.
    pub ip_allow_list: Option<TcpIpAllowList>,
}

impl TcpMiddleware {
    /// Traefik's name of the one middleware type that is set, or an error naming what was found.
    pub fn kind(&self) -> Result<&'static str, String> {
        exactly_one(
            "TCP middleware",
            &[
                ("inFlightConn", self.in_flight_conn.is_some()),
                ("ipWhiteList", self.ip_white_list.is_some()),
                ("ipAllowList", self.ip_allow_list.is_some()),
            ],
        )
    }
}

/// `inFlightConn`: caps simultaneous connections per client IP.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpInFlightConn {
    /// Maximum simultaneous connections; more are closed.
    pub amount: Option<i64>,
}

/// `ipAllowList` / `ipWhiteList` for TCP: only listed client IPs may connect.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpIpAllowList {
    /// Allowed IPs or CIDR ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_range: Vec<String>,
}

/// How Traefik connects to TCP backends.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpServersTransport {
    /// Interval between TCP keep-alive probes; negative disables them.
    pub dial_keep_alive: Option<GoDuration>,
    /// Time allowed to connect; 0 means none.
    pub dial_timeout: Option<GoDuration>,
    /// PROXY protocol towards the servers; "allowEmpty": `proxyProtocol: true` / `""` gives an
    /// empty struct (version 2).
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Delay before fully closing after one side half-closed; negative waits forever.
    pub termination_delay: Option<GoDuration>,
    /// TLS towards the servers; "allowEmpty": `tls: true` / `""` gives an empty struct.
    pub tls: Option<TlsClientConfig>,
}

impl TcpServersTransport {
    /// Keep-alive interval; defaults to 15s.
    pub fn dial_keep_alive(&self) -> GoDuration {
        self.dial_keep_alive.unwrap_or(GoDuration::from_secs(15))
    }

    /// Dial timeout; defaults to 30s.
    pub fn dial_timeout(&self) -> GoDuration {
        self.dial_timeout.unwrap_or(GoDuration::from_secs(30))
    }

    /// Termination delay; defaults to 100ms.
    pub fn termination_delay(&self) -> GoDuration {
        self.termination_delay
            .unwrap_or(GoDuration::from_millis(100))
    }
}

/// TLS client settings towards TCP backends.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsClientConfig {
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
    /// URI SAN required in the backend certificate.
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: Option<String>,
    /// SPIFFE authentication of backends; "allowEmpty" in labels and files.
    pub spiffe: Option<Spiffe>,
}
