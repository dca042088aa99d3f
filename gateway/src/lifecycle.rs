//! The process life cycle: readiness (every provider has delivered a first configuration),
//! shutdown on SIGTERM/SIGINT, and the count of requests in flight that shutdown waits for.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;

/// What `/ping`, the request path and shutdown share about the process.
#[derive(Debug)]
pub struct Lifecycle {
    /// Set at SIGTERM: `/ping` answers the terminating status from then on.
    terminating: AtomicBool,
    /// Providers that have not delivered their first configuration yet.
    waiting: Mutex<BTreeSet<&'static str>>,
    /// `waiting` is empty (read on every `/ping` without taking the lock).
    providers_ready: AtomicBool,
    /// Requests being served, by entrypoint index (each entrypoint has its own graceTimeOut).
    entry_points: Vec<InFlightCount>,
    /// Set once the listeners are closed and shutdown waits for the counts to reach 0.
    draining: AtomicBool,
}

/// The requests in flight on one entrypoint.
#[derive(Debug, Default)]
struct InFlightCount {
    requests: AtomicUsize,
    /// Woken when the last one ends while draining.
    ended: Notify,
}

impl Lifecycle {
    /// A process with `entry_points` entrypoints (indexes `0..entry_points`) that is ready
    /// once each of `providers` has delivered a configuration.
    pub fn new(providers: impl IntoIterator<Item = &'static str>, entry_points: usize) -> Self {
        let waiting: BTreeSet<&'static str> = providers.into_iter().collect();
        Self {
            terminating: AtomicBool::new(false),
            providers_ready: AtomicBool::new(waiting.is_empty()),
            waiting: Mutex::new(waiting),
            entry_points: (0..entry_points)
                .map(|_| InFlightCount::default())
                .collect(),
            draining: AtomicBool::new(false),
        }
    }

    /// Records that `provider` delivered a configuration (the first one counts; later calls
    /// change nothing).
    pub fn provider_delivered(&self, provider: &'static str) {
        if self.providers_ready.load(Ordering::Acquire) {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.remove(provider) && waiting.is_empty() {
            self.providers_ready.store(true, Ordering::Release);
            tracing::info!("every provider has delivered its configuration: /ping answers 200");
        }
    }

    /// The providers still waited for, for the log.
    pub fn waiting_providers(&self) -> Vec<&'static str> {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.iter().copied().collect()
    }

    /// Whether a load balancer may send traffic: every provider has delivered its first
    /// configuration and shutdown has not begun. `/ping` answers 200 only then.
    pub fn is_ready(&self) -> bool {
        self.providers_ready.load(Ordering::Acquire) && !self.terminating.load(Ordering::Acquire)
    }

    /// Marks the start of shutdown (SIGTERM).
    pub fn begin_terminating(&self) {
        self.terminating.store(true, Ordering::Release);
    }

    /// Counts a request on the entrypoint at `entry_point` as in flight until the returned
    /// guard is dropped. Panics on an index out of `0..entry_points`.
    pub fn request_started(self: &Arc<Self>, entry_point: usize) -> InFlight {
        self.entry_points[entry_point]
            .requests
            .fetch_add(1, Ordering::SeqCst);
        InFlight {
            lifecycle: self.clone(),
            entry_point,
        }
    }

    /// Requests being served now on the entrypoint at `entry_point`.
    pub fn in_flight(&self, entry_point: usize) -> usize {
        self.entry_points[entry_point]
            .requests
            .load(Ordering::SeqCst)
    }

    /// Resolves once no request is in flight on the entrypoint at `entry_point`. Call it after
    /// the listeners closed: from then on, the end of its last request wakes it.
    pub async fn drained(&self, entry_point: usize) {
        self.draining.store(true, Ordering::SeqCst);
        let count = &self.entry_points[entry_point];
        // `notify_one` keeps a permit when nobody waits yet, so an end between the check and
        // the wait is not missed; a stale permit only costs one more check.
        while count.requests.load(Ordering::SeqCst) != 0 {
            count.ended.notified().await;
        }
    }
}

/// One request in flight; dropping it ends the request's count (see
/// [`Lifecycle::request_started`]).
#[derive(Debug)]
pub struct InFlight {
    lifecycle: Arc<Lifecycle>,
    entry_point: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let count = &self.lifecycle.entry_points[self.entry_point];
        if count.requests.fetch_sub(1, Ordering::SeqCst) == 1
            && self.lifecycle.draining.load(Ordering::SeqCst)
        {
            count.ended.notify_one();
        }
    }
}

/// Pingora's shutdown trigger, with Traefik's timing: SIGTERM makes `/ping` answer the
/// terminating status at once, the listeners keep accepting for `accept_grace`
/// (`requestAcceptGraceTimeout`), then Pingora closes them. SIGINT stops at once, also during
/// that grace.
pub struct ShutdownSignals {
    lifecycle: Arc<Lifecycle>,
    accept_grace: Duration,
}

impl ShutdownSignals {
    /// Signals for `lifecycle`; `accept_grace` is the longest `requestAcceptGraceTimeout`.
    pub fn new(lifecycle: Arc<Lifecycle>, accept_grace: Duration) -> Self {
        Self {
            lifecycle,
            accept_grace,
        }
    }
}

#[async_trait]
impl ShutdownSignalWatch for ShutdownSignals {
    async fn recv(&self) -> ShutdownSignal {
        let mut terminate = handle_signal(SignalKind::terminate(), "SIGTERM");
        let mut interrupt = handle_signal(SignalKind::interrupt(), "SIGINT");
        tokio::select! {
            _ = next_signal(&mut terminate) => {}
            _ = next_signal(&mut interrupt) => {
                tracing::info!("SIGINT: stopping at once");
                return ShutdownSignal::FastShutdown;
            }
        }
        self.lifecycle.begin_terminating();
        if !self.accept_grace.is_zero() {
            tracing::info!(
                "SIGTERM: /ping answers the terminating status; still accepting requests for {:?} (requestAcceptGraceTimeout)",
                self.accept_grace
            );
            tokio::select! {
                _ = tokio::time::sleep(self.accept_grace) => {}
                _ = next_signal(&mut interrupt) => {
                    tracing::info!("SIGINT: stopping at once");
                    return ShutdownSignal::FastShutdown;
                }
            }
        }
        tracing::info!("SIGTERM: closing the listeners; in-flight requests are finishing");
        ShutdownSignal::GracefulTerminate
    }
}

/// A handler for `kind`; `None` (logged) when it cannot be installed, in which case the
/// signal keeps its default action of ending the process.
pub fn handle_signal(kind: SignalKind, name: &str) -> Option<Signal> {
    signal(kind)
        .inspect_err(|e| {
            tracing::error!(
                "cannot handle {name} ({e}); it will end the process without a graceful shutdown"
            );
        })
        .ok()
}

/// The next delivery of `signal`; never, when it has no handler.
pub async fn next_signal(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_provider_delivered_and_until_terminating() {
        let lifecycle = Lifecycle::new(["consul", "file"], 1);
        assert!(!lifecycle.is_ready());
        lifecycle.provider_delivered("file");
        lifecycle.provider_delivered("file");
        assert!(!lifecycle.is_ready());
        assert_eq!(lifecycle.waiting_providers(), ["consul"]);
        lifecycle.provider_delivered("consul");
        assert!(lifecycle.is_ready());
        lifecycle.begin_terminating();
        assert!(!lifecycle.is_ready());
    }

    #[test]
    fn no_provider_means_ready() {
        assert!(Lifecycle::new([], 1).is_ready());
    }

    #[tokio::test]
    async fn drained_waits_for_the_last_request_of_its_entrypoint() {
        let lifecycle = Arc::new(Lifecycle::new([], 2));
        let first = lifecycle.request_started(0);
        let second = lifecycle.request_started(0);
        let elsewhere = lifecycle.request_started(1);
        assert_eq!(lifecycle.in_flight(0), 2);
        let waiter = tokio::spawn({
            let lifecycle = lifecycle.clone();
            async move { lifecycle.drained(0).await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one request is still in flight");
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("drained once the last request ended")
            .unwrap();
        // With nothing in flight it resolves at once, whatever other entrypoints do.
        tokio::time::timeout(Duration::from_millis(100), lifecycle.drained(0))
            .await
            .unwrap();
        assert_eq!(lifecycle.in_flight(1), 1);
        drop(elsewhere);
        assert_eq!(lifecycle.in_flight(1), 0);
    }
}
