//! The `udp` section of the dynamic configuration: routers and services.

use std::collections::BTreeMap;

use super::exactly_one;

/// Everything under `udp`: named routers and services.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpConfiguration {
    /// Routers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, UdpRouter>,
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, UdpService>,
}

/// A UDP router: all datagrams of its entry points go to one service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpRouter {
    /// Entry points the router listens on; empty means all UDP entry points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    /// Name of the target service.
    pub service: Option<String>,
}

/// A UDP service; exactly one of its fields must be set (see [`UdpService::kind`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpService {
    /// Load-balancer over server addresses.
    pub load_balancer: Option<UdpServersLoadBalancer>,
    /// Weighted round robin over other UDP services.
    pub weighted: Option<UdpWeightedRoundRobin>,
}

impl UdpService {
    /// Traefik's name of the one service type that is set, or an error naming what was found.
    pub fn kind(&self) -> Result<&'static str, String> {
        exactly_one(
            "UDP service",
            &[
                ("loadBalancer", self.load_balancer.is_some()),
                ("weighted", self.weighted.is_some()),
            ],
        )
    }
}

/// Load-balancer over UDP servers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpServersLoadBalancer {
    /// The servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<UdpServer>,
}

/// One UDP backend.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpServer {
    /// `host:port` of the server.
    pub address: Option<String>,
}

/// Weighted round robin over UDP services.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpWeightedRoundRobin {
    /// The weighted services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<UdpWrrService>,
}

/// A UDP service referenced by a weighted round robin.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpWrrService {
    /// Service name.
    pub name: Option<String>,
    /// Relative weight.
    pub weight: Option<i64>,
}

impl UdpWrrService {
    /// Weight; defaults to 1.
    pub fn weight(&self) -> i64 {
        self.weight.unwrap_or(1)
    }
}
