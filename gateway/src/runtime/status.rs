//! What became of each configuration object in the running snapshot: enabled, enabled with
//! warnings, or disabled with the reason, for the logs and the API.

use control::dynamic_decode::ConfigError;
use serde::Serialize;

/// The kind of a configuration object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// The state of one object, as Traefik's API reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
}

/// Every object's state, plus the objects that could not even be decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigStatus {
    /// Objects left out at decoding (unknown field, bad value...).
    pub decode_errors: Vec<ConfigError>,
    /// Objects that decoded, in compile order.
    pub objects: Vec<ObjectStatus>,
}

impl ConfigStatus {
    /// Records an object that is enabled (`error: None`) or disabled.
    pub fn record(&mut self, kind: ObjectKind, name: &str, provider: &str, error: Option<String>) {
        self.record_with_warnings(kind, name, provider, error, Vec::new());
    }

    /// Records an object with warnings (enabled) or an error (disabled).
    pub fn record_with_warnings(
        &mut self,
        kind: ObjectKind,
        name: &str,
        provider: &str,
        error: Option<String>,
        warnings: Vec<String>,
    ) {
        let (status, error) = match error {
            Some(error) => ("disabled", vec![error]),
            None if warnings.is_empty() => ("enabled", warnings),
            None => ("warning", warnings),
        };
        self.objects.push(ObjectStatus {
            kind,
            name: name.to_string(),
            provider: provider.to_string(),
            status,
            error,
        });
    }

    /// One line per problem, for the log: decode errors, then disabled objects, then warnings.
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
                let level = if o.status == "disabled" {
                    tracing::Level::ERROR
                } else {
                    tracing::Level::WARN
                };
                let what = format!("{:?} {}", o.kind, o.name).to_lowercase();
                o.error.iter().map(move |e| (level, format!("{what}: {e}")))
            });
        decode.chain(objects)
    }
}
