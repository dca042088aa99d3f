//! The Consul KV provider: Traefik's dynamic configuration under `<rootKey>/`, watched with
//! blocking queries; a change applies when it is committed, and a tree that is not a successor
//! of the one in service (emptied, rolled back) is held (see `control::consul::commit`).

use super::status::{report, ProviderState};
use super::ProviderUpdate;
use control::consul::commit::{CommitGuard, Decision, Hold};
use control::consul::watch::{watch_prefix, WatchUpdate, BLOCKING_WAIT};
use control::consul::{ClientOptions, ConsulClient, ConsulError, KvPair};
use control::duration::GoDuration;
use control::dynamic_decode::Decoded;
use control::kv::IncrementalDecoder;
use control::static_config::ConsulProvider;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Provider name, as in `name@consul`.
pub const NAME: &str = "consul";

/// Environment variable overriding the blocking wait (a Go duration), for tests that need a
/// hung Consul left quickly.
pub const WAIT_VARIABLE: &str = "GATEWAY_CONSUL_WAIT";

/// Decodes successive listings of `<rootKey>/`, decoding again only the objects that changed,
/// and only those the commit guard lets through.
pub struct ListingDecoder {
    guard: CommitGuard,
    objects: IncrementalDecoder,
}

impl ListingDecoder {
    /// A decoder for the keys under `root`.
    pub fn new(root: &str) -> Self {
        Self {
            guard: CommitGuard::new(root),
            objects: IncrementalDecoder::new(root, &format!("{NAME} {root}/")),
        }
    }

    /// Forgets the decoded objects (keyed by ModifyIndex), keeping what the commit guard knows:
    /// for a listing that may come from a restarted agent.
    pub fn forget_objects(&mut self) {
        let root = self.guard.root().to_string();
        self.objects = IncrementalDecoder::new(&root, &format!("{NAME} {root}/"));
    }

    /// The configuration of a listing; `None` while it is held: a multi-transaction change
    /// being written or abandoned, a tree emptied or rolled back (logged once per state
    /// change, shown in `/api/overview`). Errors print the full Consul key
    /// (`consul traefik/http/routers/api/rule: ...`).
    pub fn decode(&mut self, pairs: &[KvPair]) -> Option<Decoded> {
        let root = self.guard.root().to_string();
        let live = self.guard.live_generation();
        match self.guard.judge(pairs) {
            Decision::Hold { hold, changed } => {
                report_hold(&root, live, &hold, changed);
                return None;
            }
            Decision::Apply { released } => {
                report_apply(&root, self.guard.live_generation(), released.as_ref());
            }
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

/// Logs a hold (once per state change: INFO for a change being written, WARN otherwise) and
/// shows it in the API; `live` is the generation in service.
fn report_hold(root: &str, live: Option<u64>, hold: &Hold, changed: bool) {
    let seen = hold.describe(root);
    let message = if hold.is_writing() {
        format!("{seen}; it applies when committed")
    } else {
        let kept = match live {
            Some(generation) => {
                format!("the configuration of generation {generation} until a new commit")
            }
            None => "the configuration in service until keys are written again".into(),
        };
        format!("{seen}; keeping {kept}")
    };
    if changed && hold.is_writing() {
        tracing::info!("{message}");
    } else if changed {
        tracing::warn!("{message}");
    }
    let state = if hold.is_writing() { "writing" } else { "held" };
    report(
        NAME,
        ProviderState {
            state,
            generation: live,
            message: Some(message),
        },
    );
}

/// Logs the end of a hold, if one ends, and shows the provider as `ok` in the API.
fn report_apply(root: &str, generation: Option<u64>, released: Option<&Hold>) {
    let shown = generation.map_or_else(|| "no generation".into(), |g| format!("generation {g}"));
    match released {
        Some(hold) if !hold.is_writing() => tracing::warn!(
            "Consul's {root}/ tree is coherent again ({shown}); applying it (it was held: {})",
            hold.describe(root)
        ),
        Some(_) => tracing::info!("applying the change committed to {root}/ ({shown})"),
        None => {}
    }
    report(
        NAME,
        ProviderState {
            state: "ok",
            generation,
            message: None,
        },
    );
}

/// How long one blocking query waits: [`BLOCKING_WAIT`], or [`WAIT_VARIABLE`].
fn blocking_wait() -> Duration {
    std::env::var(WAIT_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<GoDuration>().ok())
        .filter(|d| d.is_positive())
        .map_or(BLOCKING_WAIT, GoDuration::to_std)
}

/// Builds the client the provider uses; fails on bad TLS files, token or token file.
fn client(provider: &ConsulProvider) -> Result<ConsulClient, ConsulError> {
    let mut options = ClientOptions::from_provider(provider)?;
    options.request_timeout = options.request_timeout.min(blocking_wait());
    ConsulClient::new(options)
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
    watch_prefix(
        client,
        format!("{root}/"),
        blocking_wait(),
        |update: WatchUpdate| {
            if update.reread {
                decoder.forget_objects();
            }
            let decoded = decoder.decode(&update.pairs);
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
        },
    )
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
