//! The Consul KV provider: Traefik's dynamic configuration under `<rootKey>/`, watched with
//! blocking queries; a change applies when it is committed (see `control::consul::apply`).

use super::ProviderUpdate;
use control::consul::apply::{commit_state, CommitState};
use control::consul::watch::{watch_prefix, BLOCKING_WAIT};
use control::consul::{ClientOptions, ConsulClient, ConsulError, KvPair};
use control::dynamic_decode::Decoded;
use control::kv::IncrementalDecoder;
use control::static_config::ConsulProvider;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Provider name, as in `name@consul`.
pub const NAME: &str = "consul";

/// Decodes successive listings of `<rootKey>/`, decoding again only the objects that changed.
pub struct ListingDecoder {
    root: String,
    objects: IncrementalDecoder,
}

impl ListingDecoder {
    /// A decoder for the keys under `root`.
    pub fn new(root: &str) -> Self {
        Self {
            root: root.to_string(),
            objects: IncrementalDecoder::new(root, &format!("{NAME} {root}/")),
        }
    }

    /// The configuration of a listing; `None` while a multi-transaction change is being
    /// written. Errors print the full Consul key (`consul traefik/http/routers/api/rule: ...`).
    pub fn decode(&mut self, pairs: &[KvPair]) -> Option<Decoded> {
        if let CommitState::Pending(generation) = commit_state(&self.root, pairs) {
            tracing::info!(generation = %generation, "a change is being written to Consul; it applies when committed");
            return None;
        }
        let started = std::time::Instant::now();
        let (decoded, changed) = self.objects.decode(pairs);
        tracing::debug!(
            keys = pairs.len(),
            changed_objects = changed,
            elapsed_us = started.elapsed().as_micros() as u64,
            "decoded Consul's keys"
        );
        Some(decoded)
    }
}

/// Builds the client the provider uses; fails on bad TLS files or a bad token.
fn client(provider: &ConsulProvider) -> Result<ConsulClient, ConsulError> {
    ConsulClient::new(ClientOptions::from_provider(provider))
}

/// Reads the configuration once (before listeners open, so a restart serves the stored routes
/// from its first request). Fails on settings no client can be built from (bad TLS files or
/// token); `Ok(None)` when Consul does not answer within `timeout`. The client lives on this
/// call's own runtime: its pooled connections cannot outlive it.
pub fn initial_load(
    provider: &ConsulProvider,
    timeout: Duration,
) -> Result<Option<Decoded>, ConsulError> {
    let client = client(provider)?;
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Ok(None);
    };
    let root = provider.root_key();
    Ok(runtime.block_on(async {
        match tokio::time::timeout(timeout, client.kv_list(&format!("{root}/"), None)).await {
            Ok(Ok(listing)) => ListingDecoder::new(&root).decode(&listing.pairs),
            Ok(Err(e)) => {
                tracing::warn!("{e}; starting without Consul's configuration, which applies once Consul answers");
                None
            }
            Err(_) => {
                tracing::warn!("Consul did not answer within {timeout:?}; its configuration applies once it does");
                None
            }
        }
    }))
}

/// Watches `<rootKey>/` and sends every committed change. Runs until `updates` closes.
pub async fn watch(provider: ConsulProvider, updates: mpsc::Sender<ProviderUpdate>) {
    let client = match client(&provider) {
        Ok(client) => Arc::new(client),
        Err(e) => {
            tracing::error!("{e}; the Consul provider is not running");
            return;
        }
    };
    let root = provider.root_key();
    tracing::info!(endpoint = client.endpoint(), root = %root, "watching Consul KV");
    let mut decoder = ListingDecoder::new(&root);
    watch_prefix(client, format!("{root}/"), BLOCKING_WAIT, |pairs| {
        let decoded = decoder.decode(&pairs);
        let updates = updates.clone();
        async move {
            match decoded {
                Some(decoded) => updates
                    .send(ProviderUpdate {
                        provider: NAME,
                        result: Ok(decoded),
                    })
                    .await
                    .is_ok(),
                None => !updates.is_closed(),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, value: &str) -> KvPair {
        KvPair::new(key, value, 1)
    }

    #[test]
    fn listings_decode_with_full_keys_in_errors() {
        let pairs = [
            pair("traefik/http/routers/ok/rule", "Path(`/`)"),
            pair("traefik/http/routers/ok/service", "s"),
            pair("traefik/http/routers/bad/rule", "Path(`/`)"),
            pair("traefik/http/routers/bad/priority", "high"),
        ];
        let decoded = ListingDecoder::new("traefik").decode(&pairs).unwrap();
        assert_eq!(decoded.config.http.unwrap().routers.len(), 1);
        assert_eq!(decoded.errors[0].key, "http/routers/bad/priority");
        assert!(
            decoded.errors[0]
                .to_string()
                .starts_with("consul traefik/http/routers/bad/priority: invalid integer"),
            "{}",
            decoded.errors[0]
        );
    }

    #[test]
    fn pending_changes_are_not_decoded() {
        let pairs = [
            pair("traefik/http/routers/ok/rule", "Path(`/`)"),
            pair("traefik/_commit/generation", "1"),
            pair("traefik/_commit/pending", "2"),
        ];
        assert!(ListingDecoder::new("traefik").decode(&pairs).is_none());
    }
}
