//! Traefik's `internal` provider: the services the gateway serves itself (`ping@internal`,
//! `api@internal`, `noop@internal`) and the routers it adds for them unless routing is manual,
//! as an ordinary dynamic configuration compiled with the providers' ones.

use control::dynamic::{Configuration, HttpConfiguration, Router, Service};
use control::dynamic_decode::Decoded;
use control::static_config::{StaticConfig, INTERNAL_ENTRYPOINT};

/// Provider name, as in `api@internal`.
pub const PROVIDER: &str = "internal";

/// A service the gateway answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalService {
    /// `ping@internal`: `OK`, or the terminating status during shutdown.
    Ping,
    /// `api@internal`: Traefik's API under `/api`.
    Api,
    /// `noop@internal`: an empty 200.
    Noop,
}

impl InternalService {
    /// The service of this local name in the internal provider.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ping" => Some(Self::Ping),
            "api" => Some(Self::Api),
            "noop" => Some(Self::Noop),
            _ => None,
        }
    }
}

/// Traefik's priority for its own routers: `ping` above everything (`math.MaxInt`), `api` next.
const PING_PRIORITY: i64 = i64::MAX;
const API_PRIORITY: i64 = i64::MAX - 1;

/// The internal provider's configuration for a static configuration.
pub fn configuration(config: &StaticConfig) -> Decoded {
    let mut http = HttpConfiguration::default();
    http.services.insert("noop".into(), Service::default());
    if let Some(ping) = &config.ping {
        http.services.insert("ping".into(), Service::default());
        if !ping.manual_routing {
            http.routers.insert(
                "ping".into(),
                internal_router(
                    ping.entry_point(),
                    "PathPrefix(`/ping`)",
                    "ping",
                    PING_PRIORITY,
                ),
            );
        }
    }
    if let Some(api) = &config.api {
        http.services.insert("api".into(), Service::default());
        if api.insecure {
            http.routers.insert(
                "api".into(),
                internal_router(
                    INTERNAL_ENTRYPOINT,
                    "PathPrefix(`/api`)",
                    "api",
                    API_PRIORITY,
                ),
            );
        }
    }
    Decoded {
        config: Configuration {
            http: Some(http),
            ..Configuration::default()
        },
        errors: Vec::new(),
    }
}

fn internal_router(entry_point: &str, rule: &str, service: &str, priority: i64) -> Router {
    Router {
        entry_points: vec![entry_point.to_string()],
        rule: Some(rule.to_string()),
        service: Some(format!("{service}@{PROVIDER}")),
        priority: Some(priority),
        ..Router::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::static_config::{Api, Ping};

    #[test]
    fn routers_follow_the_static_configuration() {
        let mut config = StaticConfig {
            ping: Some(Ping::default()),
            api: Some(Api { insecure: true }),
            ..StaticConfig::default()
        };
        let http = configuration(&config).config.http.unwrap();
        assert_eq!(
            http.routers.keys().collect::<Vec<_>>(),
            ["api", "ping"],
            "both routers"
        );
        assert_eq!(http.routers["ping"].entry_points, ["traefik"]);
        assert_eq!(
            http.routers["ping"].service.as_deref(),
            Some("ping@internal")
        );
        assert_eq!(http.services.len(), 3);

        config.ping = Some(Ping {
            manual_routing: true,
            ..Ping::default()
        });
        config.api = Some(Api { insecure: false });
        let http = configuration(&config).config.http.unwrap();
        assert!(http.routers.is_empty(), "manual routing and a secure API");
        assert_eq!(
            http.services.len(),
            3,
            "the services stay for routers to use"
        );
    }
}
