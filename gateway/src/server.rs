//! Assembles a running gateway from a static configuration: one Pingora proxy service per
//! entrypoint, the providers, and the background task that applies their updates.

use crate::providers::{consul, file, ConfigApplier, ProviderUpdate};
use crate::proxy::forwarded::ForwardedPolicy;
use crate::proxy::{EntryPointProxy, InternalServices, PingEndpoint};
use crate::runtime::{internal, CompileContext, Snapshot};
use crate::whoami::Whoami;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use control::dynamic_decode::Decoded;
use control::static_config::{ConsulProvider, StaticConfig};
use pingora::apps::http_app::HttpServer;
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long start-up waits for Consul's first answer before opening the listeners anyway.
const CONSUL_START_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the dynamic configuration comes from.
pub enum DynamicSource {
    /// `providers.file` of the static configuration (or nothing when it has none).
    Providers,
    /// A fixed configuration served as the file provider's (the built-in default).
    Fixed(Box<Decoded>),
}

/// Everything needed to start.
pub struct GatewayOptions {
    /// The static configuration.
    pub config: StaticConfig,
    /// The dynamic configuration's source.
    pub dynamic: DynamicSource,
    /// Built-in echo backends to run beside the gateway: (name, address).
    pub echo_backends: Vec<(String, String)>,
}

/// What the background task takes over when it starts.
struct ConfigWork {
    applier: ConfigApplier,
    updates: mpsc::Receiver<ProviderUpdate>,
    file_provider: Option<control::static_config::FileProvider>,
    consul_provider: Option<ConsulProvider>,
    sender: mpsc::Sender<ProviderUpdate>,
}

/// The background task: watches providers and applies their updates.
struct ConfigTask {
    work: Mutex<Option<ConfigWork>>,
}

#[async_trait]
impl BackgroundService for ConfigTask {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let taken = self.work.lock().expect("not poisoned").take();
        let Some(ConfigWork {
            applier,
            updates,
            file_provider,
            consul_provider,
            sender,
        }) = taken
        else {
            return;
        };
        if let Some(provider) = file_provider.filter(|p| p.watch()) {
            tokio::spawn(file::watch(provider, sender.clone()));
        }
        if let Some(provider) = consul_provider {
            tokio::spawn(consul::watch(provider, sender.clone()));
        }
        drop(sender);
        tokio::select! {
            _ = applier.run(updates) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Starts the gateway and serves until SIGTERM (graceful, `graceTimeOut`) or SIGINT.
pub fn run(options: GatewayOptions) -> anyhow::Result<()> {
    let config = options.config;
    let entry_points: Vec<String> = config.entry_points.keys().cloned().collect();
    let context = CompileContext {
        entry_points: entry_points.clone(),
        default_entry_points: config.default_entry_points(),
    };
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::empty(entry_points.len())));
    let throttle = config
        .providers
        .providers_throttle_duration
        .filter(|d| d.is_positive())
        .map(|d| d.to_std());
    let mut applier = ConfigApplier::new(context, snapshot.clone(), throttle);
    applier.apply(ProviderUpdate {
        provider: internal::PROVIDER,
        result: Ok(internal::configuration(&config)),
    });

    // The first configuration is applied before any listener opens.
    let file_provider = config.providers.file.clone();
    let consul_provider = config.providers.consul.clone();
    if let Some(provider) = &consul_provider {
        let loaded = consul::initial_load(provider, CONSUL_START_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("providers.consul: {e}"))?;
        if let Some(decoded) = loaded {
            applier.apply(ProviderUpdate {
                provider: consul::NAME,
                result: Ok(decoded),
            });
        }
    }
    match options.dynamic {
        DynamicSource::Fixed(decoded) => {
            applier.apply(ProviderUpdate {
                provider: file::NAME,
                result: Ok(*decoded),
            });
        }
        DynamicSource::Providers => {
            if let Some(provider) = &file_provider {
                applier.apply(ProviderUpdate {
                    provider: file::NAME,
                    result: file::load(provider).map_err(|e| e.to_string()),
                });
            } else if consul_provider.is_none() {
                tracing::warn!(
                    "no provider is configured (providers.file or providers.consul): every request will get 404"
                );
            }
        }
    }

    let grace = config
        .entry_points
        .values()
        .map(|ep| ep.grace_time_out().to_std())
        .max()
        .unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server_conf = ServerConf {
        threads,
        grace_period_seconds: Some(grace.as_secs_f64().ceil() as u64),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, server_conf);
    server.bootstrap();

    let terminating = Arc::new(AtomicBool::new(false));
    let server_name = gethostname::gethostname().to_string_lossy().into_owned();
    let internal = Arc::new(InternalServices {
        ping: config.ping.as_ref().map(|ping| PingEndpoint {
            terminating_status: ping.terminating_status_code(),
            terminating: terminating.clone(),
        }),
        api: config.api.as_ref().map(|_| Arc::new(config.clone())),
    });
    for (index, name) in entry_points.iter().enumerate() {
        let entry_point = &config.entry_points[name];
        let forwarded = ForwardedPolicy::new(&entry_point.forwarded_headers, &server_name)
            .map_err(|e| anyhow::anyhow!("entryPoints/{name}/forwardedHeaders/{e}"))?;
        let proxy = EntryPointProxy::new(index, snapshot.clone(), forwarded, internal.clone());
        let mut service = pingora::proxy::http_proxy_service_with_name(
            &server.configuration,
            proxy,
            &format!("entrypoint {name}"),
        );
        let address = entry_point.bind_address();
        service.add_tcp(&address);
        tracing::info!(entry_point = %name, %address, "listening");
        server.add_service(service);
    }

    for (name, address) in options.echo_backends {
        let mut service = Service::new(
            format!("echo {name}"),
            HttpServer::new_app(Whoami::new(Some(name.clone()))),
        );
        service.threads = Some(1);
        service.add_tcp(&address);
        tracing::info!(backend = %name, %address, "built-in echo backend listening");
        server.add_service(service);
    }

    let (sender, updates) = mpsc::channel(16);
    let task = ConfigTask {
        work: Mutex::new(Some(ConfigWork {
            applier,
            updates,
            file_provider,
            consul_provider,
            sender,
        })),
    };
    let mut background = background_service("configuration", task);
    background.threads = Some(1);
    server.add_service(background);

    let mut phases = server.watch_execution_phase();
    std::thread::Builder::new()
        .name("shutdown-watch".into())
        .spawn(move || {
            while let Ok(phase) = phases.blocking_recv() {
                if matches!(
                    phase,
                    ExecutionPhase::GracefulTerminate | ExecutionPhase::ShutdownStarted
                ) {
                    terminating.store(true, Ordering::Relaxed);
                    tracing::info!(
                        "shutting down: in-flight requests have {}s to finish",
                        grace.as_secs_f64().ceil()
                    );
                }
            }
        })?;

    server.run_forever();
}
