//! What became of each configuration object in the running snapshot: enabled, enabled with
//! warnings, or disabled with the reason, for the logs and the API.

use control::dynamic_decode::ConfigError;
use serde::Serialize;

/// The kind of a configuration object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    /// `http.routers`.
    Router,
    /// `http.services`.
    Service,
    /// `http.middlewares`.
    Middleware,
    /// `http.serversTransports`.
    ServersTransport,
}

impl ObjectKind {
    /// Lowercase name for messages (`router`).
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Router => "router",
            ObjectKind::Service => "service",
            ObjectKind::Middleware => "middleware",
            ObjectKind::ServersTransport => "serversTransport",
        }
    }
}

/// The state of one object, as Traefik's API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectStatus {
    /// Its kind.
    pub kind: ObjectKind,
    /// Qualified name (`api@file`).
    pub name: String,
    /// The provider it came from.
    pub provider: String,
    /// `enabled`, `warning` or `disabled`.
    pub status: &'static str,
    /// Why it is disabled, or its warnings.
    pub error: Vec<String>,
    /// Routers: the entrypoints serving it. Services and middlewares: who refers to them.
    pub links: Vec<String>,
    /// Its latest change was rejected; the previous version is served.
    pub rejected_change: bool,
}

impl ObjectStatus {
    /// The name as its provider spells it (`api` for `api@file`).
    pub fn local_name(&self) -> &str {
        self.name
            .strip_suffix(self.provider.as_str())
            .and_then(|n| n.strip_suffix('@'))
            .unwrap_or(&self.name)
    }
}

/// Every object's state, plus decoding errors that belong to no HTTP object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigStatus {
    /// Decoding errors outside the HTTP objects (unknown sections, TCP, UDP, TLS objects).
    pub decode_errors: Vec<ConfigError>,
    /// Objects that decoded, in compile order.
    pub objects: Vec<ObjectStatus>,
}

impl ConfigStatus {
    /// Records an object that is enabled (`outcome` `Ok` with its warnings, if any) or
    /// disabled (`Err`).
    pub fn record(
        &mut self,
        kind: ObjectKind,
        name: &str,
        provider: &str,
        outcome: Result<Vec<String>, String>,
        links: Vec<String>,
    ) {
        let (status, error) = match outcome {
            Err(error) => ("disabled", vec![error]),
            Ok(warnings) if warnings.is_empty() => ("enabled", warnings),
            Ok(warnings) => ("warning", warnings),
        };
        self.objects.push(ObjectStatus {
            kind,
            name: name.to_string(),
            provider: provider.to_string(),
            status,
            error,
            links,
            rejected_change: false,
        });
    }

    /// One line per problem, for the log: ERROR for what is not served as configured (a
    /// disabled object, a rejected change), WARN for warnings.
    pub fn problems(&self) -> impl Iterator<Item = (tracing::Level, String)> + '_ {
        let decode = self
            .decode_errors
            .iter()
            .map(|e| (tracing::Level::ERROR, format!("{e}; the object is ignored")));
        let objects = self
            .objects
            .iter()
            .filter(|o| o.status != "enabled")
            .flat_map(|o| {
                let level = if o.status == "disabled" || o.rejected_change {
                    tracing::Level::ERROR
                } else {
                    tracing::Level::WARN
                };
                let what = format!("{} {}", o.kind.label(), o.name);
                o.error.iter().map(move |e| (level, format!("{what}: {e}")))
            });
        decode.chain(objects)
    }
}
