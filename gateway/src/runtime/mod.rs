//! The compiled, immutable form of the dynamic configuration that requests are served from.

pub mod compile;
pub mod internal;
pub mod registry;
mod router_index;
pub mod router_table;
pub mod rule_cache;
pub mod service;
pub mod status;
pub mod wrr;

pub use compile::{compile, Carryover, CompileContext};
pub use router_table::{Route, RouterTable};
pub use rule_cache::RuleCache;
pub use status::ConfigStatus;

use control::dynamic_decode::Decoded;
use status::{ObjectKind, ObjectStatus};
use std::sync::Arc;

/// One consistent version of the configuration: a router table per entrypoint and the state
/// of every object. Swapped in whole; a request keeps the snapshot it started with.
#[derive(Debug, Default)]
pub struct Snapshot {
    tables: Vec<RouterTable>,
    /// Every object's state.
    pub status: ConfigStatus,
    /// The providers' configurations it was compiled from (for the API).
    sources: Vec<(String, Arc<Decoded>)>,
}

impl Snapshot {
    /// A snapshot that routes nothing (404 everywhere), for `entry_points` entrypoints.
    pub fn empty(entry_points: usize) -> Self {
        Self {
            tables: (0..entry_points).map(|_| RouterTable::default()).collect(),
            status: ConfigStatus::default(),
            sources: Vec::new(),
        }
    }

    /// The configuration of an object, as Traefik's API shows it (its dynamic configuration
    /// with Traefik's field names); `null` for an object that could not be decoded.
    pub fn object_config(&self, object: &ObjectStatus) -> serde_json::Value {
        let local = object.local_name();
        let http = self
            .sources
            .iter()
            .find(|(provider, _)| *provider == object.provider)
            .and_then(|(_, decoded)| decoded.config.http.as_ref());
        let Some(http) = http else {
            return serde_json::Value::Null;
        };
        let value = match object.kind {
            ObjectKind::Router => http.routers.get(local).map(serde_json::to_value),
            ObjectKind::Service => http.services.get(local).map(serde_json::to_value),
            ObjectKind::Middleware => http.middlewares.get(local).map(serde_json::to_value),
            ObjectKind::ServersTransport => {
                http.servers_transports.get(local).map(serde_json::to_value)
            }
        };
        value.and_then(Result::ok).unwrap_or_default()
    }

    /// The router table of the entrypoint at `index` in [`CompileContext::entry_points`].
    pub fn table(&self, index: usize) -> Option<&RouterTable> {
        self.tables.get(index)
    }
}
