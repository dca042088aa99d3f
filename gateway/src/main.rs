//! The `gateway` command: reads Traefik's static configuration (file and flags) and runs.

use control::static_config::{parse_args, Command, StaticConfig};
use gateway::server::{DynamicSource, GatewayOptions};
use gateway::{defaults, logging, server};
use std::path::Path;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: configuration reloads and the request path make
/// many short-lived small allocations, which glibc's malloc serves slowly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELP: &str = "\
gateway: a Traefik-compatible edge proxy built on Pingora.

USAGE:
    gateway                          run the built-in example (127.0.0.1:8000 -> two echo backends)
    gateway --configFile=traefik.yml [--flags...]
    gateway --entryPoints.web.address=:80 --providers.file.filename=dynamic.yml [--flags...]
    gateway whoami --address=127.0.0.1:9000 [--name=NAME]
                                     run only an echo backend (for tests and benchmarks)

Flags are Traefik's static configuration keys (matched ignoring case), as --key=value or
--key value; a bare --key means true. They override the same keys of --configFile.

SUPPORTED STATIC CONFIGURATION:
    --configFile                                   YAML or TOML static configuration file
    --entryPoints.<name>.address                   host:port; :port, 0.0.0.0:port and [::]:port listen
                                                   on every interface, IPv6 and IPv4
    --entryPoints.<name>.asDefault                 routers without entryPoints attach here
    --entryPoints.<name>.forwardedHeaders.trustedIPs     IPs/CIDRs whose X-Forwarded-* are kept
    --entryPoints.<name>.forwardedHeaders.insecure       trust every client's X-Forwarded-*
    --entryPoints.<name>.forwardedHeaders.connection     Connection-named headers to keep
    --entryPoints.<name>.forwardedHeaders.notAppendXForwardedFor
    --entryPoints.<name>.forwardedHeaders.addXForwardedSchemeHeaders
    --entryPoints.<name>.transport.lifeCycle.requestAcceptGraceTimeout
                                                   time still accepting requests after SIGTERM (0s)
    --entryPoints.<name>.transport.lifeCycle.graceTimeOut
                                                   time then given to requests in flight (10s)
    --entryPoints.<name>.transport.respondingTimeouts.readTimeout | .writeTimeout | .idleTimeout
                                                   a whole request (60s), a response (none), the wait
                                                   between requests (180s)
    --entryPoints.<name>.transport.keepAliveMaxRequests | .keepAliveMaxTime
                                                   end a connection after this many requests / this age
    --entryPoints.<name>.http.maxHeaderBytes       largest request head, in bytes (1048576)
    --providers.file.filename | .directory | .watch      dynamic configuration files (watch: true)
    --providers.consul.endpoints                   Consul addresses, failed over in order (127.0.0.1:8500)
    --providers.consul.rootKey                     key prefix of the configuration (traefik)
    --providers.consul.token | .tokenFile          ACL token, or a file holding it (tokenFile: an extension)
    --providers.consul.stale                       read from any Consul server (an extension)
    --providers.consul.maxStaleness                with stale: skip servers further behind their leader (10s; an extension)
    --providers.consul.tls.ca | .cert | .key | .insecureSkipVerify
    --providers.consul.tls.serverName              name to verify Consul's certificate against (an extension)
    --providers.providersThrottleDuration          minimum time between applied changes (none)
    --api.insecure                                 creates the `traefik` entrypoint (:8080)
    --ping  --ping.entryPoint  --ping.manualRouting  --ping.terminatingStatusCode
                                                   /ping: 200 once every provider has delivered its
                                                   configuration, terminatingStatusCode (503) before
                                                   and from SIGTERM on
    --log.level                                    TRACE DEBUG INFO WARN ERROR (default ERROR)
    --log.format                                   common or json

Other Traefik keys are accepted and reported once as not supported. RUST_LOG overrides
--log.level. SIGTERM shuts down gracefully: /ping answers terminatingStatusCode, the listeners
accept for requestAcceptGraceTimeout, then close, and the gateway exits as soon as the requests
in flight are done (each entrypoint waits at most its graceTimeOut). SIGINT stops at once.
GATEWAY_HTTP1_PATH=pingora sends every HTTP/1 request through Pingora's HttpProxy instead of
the lean path (to compare the two).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("whoami") {
        return run_echo_backend(&args[1..]);
    }
    let (config_file, overrides, no_arguments) = match parse_args(args) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("gateway {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run {
            config_file,
            overrides,
            no_arguments,
        }) => (config_file, overrides, no_arguments),
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };

    let (loaded, dynamic, echo_backends) = if no_arguments {
        let backends = defaults::ECHO_BACKENDS
            .iter()
            .map(|(name, address)| (name.to_string(), address.to_string()))
            .collect();
        (
            defaults::static_config(),
            DynamicSource::Fixed(Box::new(defaults::dynamic_config())),
            backends,
        )
    } else {
        match StaticConfig::load(config_file.as_deref().map(Path::new), overrides) {
            Ok(loaded) => (loaded, DynamicSource::Providers, Vec::new()),
            Err(e) => {
                eprintln!("gateway: {e}");
                return ExitCode::from(1);
            }
        }
    };
    logging::init(&loaded.config);
    if no_arguments {
        tracing::info!("no arguments: running the built-in example; try `curl http://127.0.0.1:8000/` (see --help)");
    }
    if !loaded.ignored_keys.is_empty() {
        tracing::warn!(
            "ignoring static configuration keys this gateway does not support: {}",
            loaded.ignored_keys.join(", ")
        );
    }
    let options = GatewayOptions {
        config: loaded.config,
        dynamic,
        echo_backends,
    };
    match server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::from(1)
        }
    }
}

/// `gateway whoami --address=ADDR [--name=NAME]`.
fn run_echo_backend(args: &[String]) -> ExitCode {
    let mut address = None;
    let mut name = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let value = || inline.clone().or_else(|| iter.clone().next().cloned());
        match key {
            "--address" => address = value(),
            "--name" => name = value(),
            "-h" | "--help" => {
                println!("gateway whoami --address=HOST:PORT [--name=NAME]: an echo backend (see `gateway --help`)");
                return ExitCode::SUCCESS;
            }
            _ if inline.is_none()
                && (address.as_ref() == Some(arg) || name.as_ref() == Some(arg)) =>
            {
                continue
            }
            _ => {
                eprintln!("gateway whoami: unexpected argument {arg:?} (use --address and --name)");
                return ExitCode::from(2);
            }
        }
        if inline.is_none() {
            iter.next();
        }
    }
    let Some(address) = address else {
        eprintln!("gateway whoami: --address=HOST:PORT is required");
        return ExitCode::from(2);
    };
    let mut config = StaticConfig::default();
    config.entry_points.clear();
    let options = GatewayOptions {
        config,
        dynamic: DynamicSource::Providers,
        echo_backends: vec![(name.unwrap_or_else(|| "whoami".into()), address)],
    };
    logging::init(&options.config);
    match server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway whoami: {e}");
            ExitCode::from(1)
        }
    }
}
