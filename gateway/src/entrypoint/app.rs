//! The entrypoints' connection application: finds which entrypoint a connection came in on and
//! serves it; which HTTP/1 path requests may take is chosen here for the whole process.

use super::connection;
use crate::lifecycle::Lifecycle;
use crate::proxy::failure_log::LogBudget;
use crate::proxy::forwarded::ForwardedPolicy;
use crate::proxy::EntryPointProxy;
use crate::runtime::Snapshot;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use control::static_config::ClientLimits;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::net::SocketAddr;
use std::sync::Arc;

/// The environment variable that picks the HTTP/1 path: `pingora` sends every request through
/// Pingora's `HttpProxy` (to compare the paths, or to rule the lean one out); unset or `lean`
/// lets the routers compiled for it take the lean path.
pub const HTTP1_PATH_VARIABLE: &str = "GATEWAY_HTTP1_PATH";

/// Which HTTP/1 path requests may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http1Path {
    /// Lean routers' requests take the lean path; the rest go to Pingora.
    Lean,
    /// Every request goes to Pingora's `HttpProxy`.
    Pingora,
}

impl Http1Path {
    /// The path chosen by [`HTTP1_PATH_VARIABLE`]; an unknown value is an error naming it.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(HTTP1_PATH_VARIABLE).as_deref() {
            Err(_) | Ok("") | Ok("lean") => Ok(Self::Lean),
            Ok("pingora") => Ok(Self::Pingora),
            Ok(other) => anyhow::bail!(
                "{HTTP1_PATH_VARIABLE}={other:?}: use `lean` (the default) or `pingora`"
            ),
        }
    }
}

/// One entrypoint as its connections are served.
pub struct EntryPoint {
    /// The entrypoint's name, for logs.
    pub name: String,
    /// Index of its router table in every snapshot (and of its in-flight count).
    pub index: usize,
    /// The address it listens on.
    pub bind: SocketAddr,
    /// Client deadlines and limits.
    pub limits: ClientLimits,
    /// Its `forwardedHeaders` policy.
    pub forwarded: ForwardedPolicy,
    /// Pingora's proxy for the requests the lean path leaves.
    pub proxy: Arc<HttpProxy<EntryPointProxy>>,
    /// Failed lean forwards logged, within a budget.
    pub(super) failures: LogBudget,
}

impl EntryPoint {
    /// An entrypoint listening on `bind`.
    pub fn new(
        name: String,
        index: usize,
        bind: SocketAddr,
        limits: ClientLimits,
        forwarded: ForwardedPolicy,
        proxy: Arc<HttpProxy<EntryPointProxy>>,
    ) -> Self {
        Self {
            name,
            index,
            bind,
            limits,
            forwarded,
            proxy,
            failures: LogBudget::default(),
        }
    }

    /// Whether a connection accepted on `local` is this entrypoint's: the same address, or the
    /// same port when listening on a wildcard (`[::]` takes IPv4 clients as `::ffff:a.b.c.d`).
    fn accepts(&self, local: SocketAddr) -> bool {
        local.port() == self.bind.port()
            && (self.bind.ip().is_unspecified()
                || self.bind.ip().to_canonical() == local.ip().to_canonical())
    }
}

/// The application every entrypoint's listener feeds.
pub struct EntryPointApp {
    entry_points: Vec<EntryPoint>,
    /// The current configuration.
    pub(super) snapshot: Arc<ArcSwap<Snapshot>>,
    /// In-flight counts and readiness.
    pub(super) lifecycle: Arc<Lifecycle>,
    /// Which HTTP/1 path requests may take.
    pub(super) path: Http1Path,
}

impl EntryPointApp {
    /// The application for `entry_points`, serving from `snapshot`.
    pub fn new(
        entry_points: Vec<EntryPoint>,
        snapshot: Arc<ArcSwap<Snapshot>>,
        lifecycle: Arc<Lifecycle>,
        path: Http1Path,
    ) -> Self {
        Self {
            entry_points,
            snapshot,
            lifecycle,
            path,
        }
    }

    fn entry_point_of(&self, stream: &Stream) -> Option<&EntryPoint> {
        let digest = stream.get_socket_digest()?;
        let local = *digest.local_addr()?.as_inet()?;
        // More specific binds first: an address beats a wildcard on the same port.
        self.entry_points
            .iter()
            .filter(|ep| ep.accepts(local))
            .min_by_key(|ep| ep.bind.ip().is_unspecified())
    }
}

#[async_trait]
impl ServerApp for EntryPointApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Some(entry_point) = self.entry_point_of(&stream) else {
            tracing::error!("a connection came in on a listener no entrypoint owns; closing it");
            return None;
        };
        connection::serve(self, entry_point, stream, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        // Pingora's proxies learn that the process is shutting down from their cleanup.
        for entry_point in &self.entry_points {
            entry_point.proxy.http_cleanup().await;
        }
    }
}
