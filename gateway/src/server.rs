//! Assembles a running gateway from a static configuration: one Pingora proxy service per
//! entrypoint and its listener, the providers, the background task that applies their updates,
//! and the wait for the end of a graceful shutdown.

use crate::entrypoint::{EntryPoint, EntryPointApp, Http1Path};
use crate::lifecycle::{self, Lifecycle, ShutdownSignals};
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
use pingora::listeners::TcpSocketOptions;
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::SignalKind;
use tokio::sync::{broadcast, mpsc};

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

/// Starts the gateway and serves until SIGTERM or SIGINT. SIGTERM: `/ping` answers the
/// terminating status, the listeners accept for `requestAcceptGraceTimeout`, then close, and
/// the call returns once no request is in flight (at the latest after `graceTimeOut`).
/// SIGINT: returns at once.
pub fn run(options: GatewayOptions) -> anyhow::Result<()> {
    let config = options.config;
    let entry_points: Vec<String> = config.entry_points.keys().cloned().collect();
    let context = CompileContext {
        entry_points: entry_points.clone(),
        default_entry_points: config.default_entry_points(),
        entry_point_middlewares: config
            .entry_points
            .iter()
            .filter_map(|(name, entry_point)| {
                let middlewares = &entry_point.http.as_ref()?.middlewares;
                (!middlewares.is_empty()).then(|| (name.clone(), middlewares.clone()))
            })
            .collect(),
    };
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::empty(entry_points.len())));
    let throttle = config
        .providers
        .providers_throttle_duration
        .filter(|d| d.is_positive())
        .map(|d| d.to_std());
    // The first configuration is applied before any listener opens.
    let file_provider = config.providers.file.clone();
    let consul_provider = config.providers.consul.clone();
    let file_configured =
        file_provider.is_some() || matches!(options.dynamic, DynamicSource::Fixed(_));
    let lifecycle = Arc::new(Lifecycle::new(
        [
            file_configured.then_some(file::NAME),
            consul_provider.is_some().then_some(consul::NAME),
        ]
        .into_iter()
        .flatten(),
        entry_points.len(),
    ));
    let mut applier = ConfigApplier::new(context, snapshot.clone(), throttle, lifecycle.clone());
    applier.apply(ProviderUpdate {
        provider: internal::PROVIDER,
        result: Ok(internal::configuration(&config)),
    });
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

    let terminating_status = config
        .ping
        .as_ref()
        .map_or(503, |p| p.terminating_status_code());
    let waiting = lifecycle.waiting_providers();
    if !waiting.is_empty() {
        tracing::info!(
            "/ping answers {terminating_status} until these providers deliver their first configuration: {}",
            waiting.join(", ")
        );
    }

    // Pingora closes every listener at once: the longest accept grace applies to all.
    let accept_grace = config
        .entry_points
        .values()
        .map(|ep| ep.request_accept_grace_timeout().to_std())
        .max()
        .unwrap_or_default();
    // In entrypoint index order, as the in-flight counts.
    let graces: Vec<(String, Duration)> = config
        .entry_points
        .iter()
        .map(|(name, ep)| (name.clone(), ep.grace_time_out().to_std()))
        .collect();
    let grace = graces.iter().map(|(_, g)| *g).max().unwrap_or_default();
    // The process's CPU allowance: affinity and the cgroup's quota, as the standard library
    // reads them.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let http1_path = Http1Path::from_env()?;
    if http1_path == Http1Path::Pingora {
        tracing::info!(
            "every HTTP/1 request goes through Pingora's HttpProxy (GATEWAY_HTTP1_PATH=pingora)"
        );
    }
    let server_conf = ServerConf {
        threads,
        // Pingora's pool is one LRU for all servers (this times `threads`, per entrypoint); the
        // idle connections are capped per server by `maxIdleConnsPerHost` (service::idle_pool),
        // so this is only a ceiling, high enough not to evict them first.
        upstream_keepalive_pool_size: 4096,
        // Only a backstop: `serve_until_shutdown` returns as soon as the requests in flight
        // are done, where Pingora sleeps this whole period.
        grace_period_seconds: Some(grace.as_secs_f64().ceil() as u64),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, server_conf);
    server.bootstrap();

    let ipv6 = ipv6_available();
    let server_name = gethostname::gethostname().to_string_lossy().into_owned();
    let internal = Arc::new(InternalServices {
        ping: config.ping.is_some().then(|| PingEndpoint {
            terminating_status,
            lifecycle: lifecycle.clone(),
        }),
        api: config.api.as_ref().map(|_| Arc::new(config.clone())),
    });
    // One service, so one runtime sized to the CPU allowance, for every entrypoint: our
    // connection app owns each connection and hands Pingora's proxy what it does not serve.
    let mut listeners = Vec::new();
    let mut served = Vec::new();
    for (index, name) in entry_points.iter().enumerate() {
        let entry_point = &config.entry_points[name];
        let forwarded = ForwardedPolicy::new(&entry_point.forwarded_headers, &server_name)
            .map_err(|e| anyhow::anyhow!("entryPoints/{name}/forwardedHeaders/{e}"))?;
        let proxy = EntryPointProxy::new(
            index,
            snapshot.clone(),
            forwarded.clone(),
            internal.clone(),
            lifecycle.clone(),
        );
        let proxy = Arc::new(pingora::proxy::http_proxy(&server.configuration, proxy));
        let (address, options) = listen_address(&entry_point.bind_address(), ipv6);
        let bind: SocketAddr = address
            .parse()
            .map_err(|e| anyhow::anyhow!("entryPoints/{name}/address: {address:?}: {e}"))?;
        served.push(EntryPoint::new(
            name.clone(),
            index,
            bind,
            entry_point.client_limits(),
            forwarded,
            proxy,
        ));
        tracing::info!(entry_point = %name, %address, "listening");
        listeners.push((address, options));
    }
    let app = EntryPointApp::new(served, snapshot.clone(), lifecycle.clone(), http1_path);
    let mut service = Service::new("entrypoints".to_string(), app);
    service.threads = Some(threads);
    for (address, options) in listeners {
        match options {
            Some(options) => service.add_tcp_with_settings(&address, options),
            None => service.add_tcp(&address),
        }
    }
    server.add_service(service);

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

    serve_until_shutdown(server, lifecycle, accept_grace, graces)
}

/// Where to listen for a configured `address`, with the socket options: the IPv6 wildcard
/// `[::]` dual-stack (IPv4 clients too, as Go listens for `:80`), or `0.0.0.0` when this
/// machine has no IPv6.
fn listen_address(address: &str, ipv6: bool) -> (String, Option<TcpSocketOptions>) {
    match address.parse::<SocketAddr>() {
        Ok(socket) if socket.ip() == Ipv6Addr::UNSPECIFIED => {
            if ipv6 {
                let mut options = TcpSocketOptions::default();
                options.ipv6_only = Some(false);
                (address.to_string(), Some(options))
            } else {
                let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, socket.port()));
                tracing::warn!(
                    "{address}: this machine has no IPv6; listening on {v4} (IPv4 only)"
                );
                (v4.to_string(), None)
            }
        }
        _ => (address.to_string(), None),
    }
}

/// Whether an IPv6 socket can be bound here (no IPv6 in the kernel: it cannot).
fn ipv6_available() -> bool {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// Runs Pingora on its own thread and returns when the process should exit: once the
/// requests in flight after SIGTERM are done on every entrypoint (each bounded by its
/// `graces` entry, by entrypoint index), or when Pingora stops (SIGINT). Pingora itself
/// would sleep its whole grace period.
fn serve_until_shutdown(
    server: Server,
    lifecycle: Arc<Lifecycle>,
    accept_grace: Duration,
    graces: Vec<(String, Duration)>,
) -> anyhow::Result<()> {
    let mut phases = server.watch_execution_phase();
    let signals = ShutdownSignals::new(lifecycle.clone(), accept_grace);
    let pingora = std::thread::Builder::new()
        .name("pingora".into())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(signals),
            })
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let graceful = runtime.block_on(async {
        loop {
            match phases.recv().await {
                // The listeners were told to close (after requestAcceptGraceTimeout).
                Ok(ExecutionPhase::GracefulTerminate) => return true,
                Ok(ExecutionPhase::ShutdownStarted) | Err(broadcast::error::RecvError::Closed) => {
                    return false
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            }
        }
    });
    if graceful {
        runtime.block_on(drain(&lifecycle, &graces));
        return Ok(());
    }
    pingora
        .join()
        .map_err(|_| anyhow::anyhow!("the server stopped on a panic (see the log above)"))
}

/// Waits until every entrypoint has no request in flight or its graceTimeOut (`graces`, by
/// entrypoint index) has passed, or SIGINT: Traefik's exit, once all its entrypoints are shut.
async fn drain(lifecycle: &Lifecycle, graces: &[(String, Duration)]) {
    let mut interrupt = lifecycle::handle_signal(SignalKind::interrupt(), "SIGINT");
    let in_flight: usize = (0..graces.len()).map(|i| lifecycle.in_flight(i)).sum();
    tracing::info!(
        in_flight,
        "listeners closed; waiting for the requests in flight (up to each entrypoint's graceTimeOut)"
    );
    let started = tokio::time::Instant::now();
    // One after the other against deadlines from the same start: ends when the last
    // entrypoint is done or out of time.
    let every_entry_point = async {
        for (index, (name, grace)) in graces.iter().enumerate() {
            let drained = lifecycle.drained(index);
            if tokio::time::timeout_at(started + *grace, drained)
                .await
                .is_err()
            {
                tracing::warn!(
                    entry_point = %name,
                    in_flight = lifecycle.in_flight(index),
                    "graceTimeOut ({grace:?}) passed with requests still in flight; they end with the process"
                );
            }
        }
    };
    tokio::select! {
        _ = every_entry_point => tracing::info!("shutdown complete; exiting"),
        _ = lifecycle::next_signal(&mut interrupt) => tracing::info!("SIGINT: exiting at once"),
    }
}
