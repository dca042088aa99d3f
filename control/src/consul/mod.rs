//! Consul for the control plane: the HTTP client, TLS to Consul, the blocking-query watch and
//! the atomic multi-key apply protocol.

pub mod apply;
pub mod client;
pub mod tls;
pub mod watch;

pub use client::{ClientOptions, ConsulClient, ConsulError, KvListing, KvPair, TxnOp, MAX_TXN_OPS};
pub use tls::TlsFiles;

impl ClientOptions {
    /// Options for the gateway's `providers.consul`.
    pub fn from_provider(provider: &crate::static_config::ConsulProvider) -> Self {
        Self {
            endpoints: provider.endpoints(),
            token: provider.token.clone(),
            stale: provider.stale,
            tls: provider.tls.as_ref().map(TlsFiles::from),
        }
    }
}
