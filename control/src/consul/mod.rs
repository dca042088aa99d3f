//! Consul for the control plane: the HTTP client, TLS to Consul, transactions, the
//! blocking-query watch, and the commit contract (the writer's side in `apply`, the keys and
//! the reader's side in `commit`).

pub mod apply;
pub mod client;
pub mod commit;
pub mod tls;
pub mod txn;
pub mod watch;

pub use client::{ClientOptions, ConsulClient, ConsulError, KvListing, KvPair};
pub use tls::TlsFiles;
pub use txn::{TxnOp, MAX_TXN_BYTES, MAX_TXN_OPS};

impl ClientOptions {
    /// Options for the gateway's `providers.consul`; reads `tokenFile`.
    pub fn from_provider(
        provider: &crate::static_config::ConsulProvider,
    ) -> Result<Self, ConsulError> {
        let token = match &provider.token_file {
            Some(path) => client::read_token_file(path, "providers.consul.tokenFile")?,
            None => provider.token.clone(),
        };
        Ok(Self {
            endpoints: provider.endpoints(),
            token,
            stale: provider.stale,
            max_staleness: provider.max_staleness(),
            tls: provider.tls.as_ref().map(TlsFiles::from),
            ..Default::default()
        })
    }
}
