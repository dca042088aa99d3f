//! Configuration providers and the loop that turns their updates into live snapshots.

pub mod consul;
pub mod file;
pub mod status;

use crate::lifecycle::Lifecycle;
use crate::runtime::{compile, Carryover, CompileContext, Snapshot};
use arc_swap::ArcSwap;
use control::dynamic_decode::Decoded;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A provider's new configuration, or why it could not be read.
#[derive(Debug)]
pub struct ProviderUpdate {
    /// Provider name (`file`), used to qualify object names.
    pub provider: &'static str,
    /// The configuration, or the reason the provider's last good one stays in force.
    pub result: Result<Decoded, String>,
}

/// Keeps each provider's last good configuration and publishes a new snapshot whenever one
/// of them changes: decode, compile and swap, so a request sees the old or the new whole.
pub struct ConfigApplier {
    context: CompileContext,
    snapshot: Arc<ArcSwap<Snapshot>>,
    current: BTreeMap<&'static str, Arc<Decoded>>,
    carryover: Carryover,
    throttle: Option<Duration>,
    /// Told when a provider's first configuration is applied (readiness).
    lifecycle: Arc<Lifecycle>,
}

impl ConfigApplier {
    /// An applier publishing into `snapshot`; `throttle` is `providersThrottleDuration`;
    /// `lifecycle` learns which providers have delivered.
    pub fn new(
        context: CompileContext,
        snapshot: Arc<ArcSwap<Snapshot>>,
        throttle: Option<Duration>,
        lifecycle: Arc<Lifecycle>,
    ) -> Self {
        Self {
            context,
            snapshot,
            current: BTreeMap::new(),
            carryover: Carryover::default(),
            throttle,
            lifecycle,
        }
    }

    /// Applies one update; returns whether a new snapshot was published.
    pub fn apply(&mut self, update: ProviderUpdate) -> bool {
        let mut decoded = match update.result {
            Ok(decoded) => decoded,
            Err(message) => {
                tracing::error!(
                    provider = update.provider,
                    "{message}; keeping the last good configuration"
                );
                return false;
            }
        };
        if let Some(previous) = self.current.get(update.provider) {
            control::dynamic_decode::keep_last_good(&previous.config, &mut decoded);
        }
        if self
            .current
            .get(update.provider)
            .is_some_and(|c| **c == decoded)
        {
            tracing::debug!(provider = update.provider, "configuration unchanged");
            return false;
        }
        self.current.insert(update.provider, Arc::new(decoded));
        let started = Instant::now();
        let providers: Vec<(String, Arc<Decoded>)> = self
            .current
            .iter()
            .map(|(name, decoded)| (name.to_string(), decoded.clone()))
            .collect();
        let snapshot = compile(&self.context, &providers, &mut self.carryover);
        for (level, problem) in snapshot.status.problems() {
            if level == tracing::Level::ERROR {
                tracing::error!("{problem}");
            } else {
                tracing::warn!("{problem}");
            }
        }
        let routers = snapshot
            .status
            .objects
            .iter()
            .filter(|o| o.kind == crate::runtime::status::ObjectKind::Router)
            .count();
        self.snapshot.store(Arc::new(snapshot));
        tracing::info!(
            provider = update.provider,
            routers,
            elapsed_us = started.elapsed().as_micros() as u64,
            "configuration applied"
        );
        self.lifecycle.provider_delivered(update.provider);
        true
    }

    /// Applies updates until every sender is gone. With a throttle, changes that arrive within
    /// the throttle window after an applied one are folded into the next apply.
    pub async fn run(mut self, mut updates: mpsc::Receiver<ProviderUpdate>) {
        while let Some(update) = updates.recv().await {
            let applied = self.apply(update);
            if let (true, Some(throttle)) = (applied, self.throttle) {
                tokio::time::sleep(throttle).await;
                let mut latest: BTreeMap<&'static str, ProviderUpdate> = BTreeMap::new();
                while let Ok(update) = updates.try_recv() {
                    latest.insert(update.provider, update);
                }
                for update in latest.into_values() {
                    self.apply(update);
                }
            }
        }
    }
}
