//! The `control` command: configuration tooling around the gateway — validate a dynamic
//! configuration file, and apply it to, compare it with, or export it from Consul KV.

use clap::{Args, Parser, Subcommand};
use control::consul::apply::{execute, plan, ApplyError, ApplyOptions};
use control::consul::client::read_token_file;
use control::consul::{ClientOptions, ConsulClient, KvPair, TlsFiles};
use control::dynamic_decode::Decoded;
use control::kv::{decode_pairs, pairs_from_config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Control plane for the gateway: Traefik configuration files and Consul KV.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Work with Traefik dynamic configuration files and Consul KV.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Where the configuration lives in Consul (flags and variables as Consul's own CLI).
#[derive(Args, Clone)]
struct ConsulArgs {
    /// Consul HTTP address (`host:port` or URL).
    #[arg(
        long = "consul",
        env = "CONSUL_HTTP_ADDR",
        default_value = "127.0.0.1:8500"
    )]
    address: String,
    /// ACL token (else CONSUL_HTTP_TOKEN_FILE, then CONSUL_HTTP_TOKEN, as Consul's CLI).
    #[arg(long)]
    token: Option<String>,
    /// File holding the ACL token; wins over --token, as with Consul's CLI.
    #[arg(long)]
    token_file: Option<String>,
    /// CA certificate (PEM) to verify Consul's certificate; implies https.
    #[arg(long, env = "CONSUL_CACERT")]
    ca_file: Option<String>,
    /// Client certificate (PEM) for Consul's verify_incoming; implies https.
    #[arg(long, env = "CONSUL_CLIENT_CERT")]
    client_cert: Option<String>,
    /// Client key (PEM), with --client-cert.
    #[arg(long, env = "CONSUL_CLIENT_KEY")]
    client_key: Option<String>,
    /// The name Consul's certificate is verified against, instead of the address's host
    /// (e.g. server.dc1.consul when connecting by IP address); implies https.
    #[arg(long, env = "CONSUL_TLS_SERVER_NAME")]
    tls_server_name: Option<String>,
    /// Root key of the configuration (Traefik's providers.consul.rootKey).
    #[arg(long, default_value = "traefik")]
    root_key: String,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a dynamic configuration file (YAML or TOML) exactly as the gateway reads it;
    /// lists every problem with its key and exits 1 if there is any.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Write a dynamic configuration file to Consul KV under the root key, atomically, removing
    /// the keys it no longer has; prints the changes.
    Apply {
        /// The file to apply.
        file: PathBuf,
        /// Print the changes without writing them.
        #[arg(long)]
        dry_run: bool,
        /// Pause between the transactions of a change too large for one (over 59 keys or
        /// 448 KiB), to spread its load on Consul (e.g. `200ms`); the gateway applies it whole
        /// either way.
        #[arg(long, default_value = "0s", value_parser = parse_duration)]
        txn_interval: std::time::Duration,
        /// TTL of the Consul session holding <root>/_commit/lock while a change too large for
        /// one transaction is written: if this process dies, another apply can take over
        /// within twice the TTL. Consul accepts 10s to 24h (session_ttl_min lowers the floor).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        lock_ttl: std::time::Duration,
        #[command(flatten)]
        consul: ConsulArgs,
    },
    /// Print the changes `apply` would make.
    Diff {
        /// The file to compare with Consul.
        file: PathBuf,
        #[command(flatten)]
        consul: ConsulArgs,
    },
    /// Print the configuration stored in Consul KV as YAML.
    Export {
        #[command(flatten)]
        consul: ConsulArgs,
    },
}

fn main() -> ExitCode {
    let Commands::Config(command) = Cli::parse().command;
    let result = match command {
        ConfigCommand::Validate { file } => validate(&file).map_err(Failure::from),
        ConfigCommand::Apply {
            file,
            dry_run,
            txn_interval,
            lock_ttl,
            consul,
        } => run_async(apply(file, consul, dry_run, txn_interval, lock_ttl)),
        ConfigCommand::Diff { file, consul } => run_async(apply(
            file,
            consul,
            true,
            Default::default(),
            Default::default(),
        )),
        ConfigCommand::Export { consul } => run_async(export(consul)),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Error(message)) => {
            eprintln!("control: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Conflict(message)) => {
            eprintln!("control: {message}");
            ExitCode::from(CONFLICT_EXIT)
        }
    }
}

/// Exit status of an apply that lost a race with another writer (EX_TEMPFAIL: retrying may
/// succeed).
const CONFLICT_EXIT: u8 = 75;

/// Why a command failed.
enum Failure {
    /// Anything but a conflict: exit status 1.
    Error(String),
    /// Another writer got there first: exit status 75.
    Conflict(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Error(message)
    }
}

fn run_async(
    future: impl std::future::Future<Output = Result<ExitCode, Failure>>,
) -> Result<ExitCode, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Error(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

/// Reads and checks a file; `Err` with every problem when it has any.
fn read_checked(file: &Path) -> Result<Decoded, String> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let decoded = control::validate::validate_text(&shown, &text)?;
    if decoded.errors.is_empty() {
        return Ok(decoded);
    }
    let mut message: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    message.push(format!(
        "{shown}: {} problem(s); the gateway would leave those objects out",
        decoded.errors.len()
    ));
    Err(message.join("\n"))
}

fn validate(file: &Path) -> Result<ExitCode, String> {
    let decoded = read_checked(file)?;
    let http = decoded.config.http.unwrap_or_default();
    println!(
        "{}: valid ({} routers, {} services, {} middlewares)",
        file.display(),
        http.routers.len(),
        http.services.len(),
        http.middlewares.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The token by Consul's CLI precedence: --token-file, --token, CONSUL_HTTP_TOKEN_FILE,
/// CONSUL_HTTP_TOKEN.
fn token(args: &ConsulArgs) -> Result<Option<String>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let from_file =
        |path: &str, setting: &str| read_token_file(path, setting).map_err(|e| e.to_string());
    if let Some(path) = &args.token_file {
        return from_file(path, "--token-file");
    }
    if let Some(token) = &args.token {
        return Ok(Some(token.clone()));
    }
    if let Some(path) = env("CONSUL_HTTP_TOKEN_FILE") {
        return from_file(&path, "CONSUL_HTTP_TOKEN_FILE");
    }
    Ok(env("CONSUL_HTTP_TOKEN"))
}

fn client(args: &ConsulArgs) -> Result<ConsulClient, String> {
    let tls = TlsFiles {
        ca: args.ca_file.clone(),
        cert: args.client_cert.clone(),
        key: args.client_key.clone(),
        insecure_skip_verify: false,
        server_name: args.tls_server_name.clone(),
    };
    ConsulClient::new(ClientOptions {
        endpoints: vec![args.address.clone()],
        token: token(args)?,
        tls: (tls != TlsFiles::default()).then_some(tls),
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}

/// The client, the trimmed root key, and Consul's current listing of `<root>/`.
async fn read_root(args: &ConsulArgs) -> Result<(ConsulClient, String, Vec<KvPair>), String> {
    let root = args.root_key.trim_matches('/').to_string();
    let client = client(args)?;
    let listing = client
        .kv_list(&format!("{root}/"), None)
        .await
        .map_err(|e| e.to_string())?;
    Ok((client, root, listing.pairs))
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<control::duration::GoDuration>()
        .map(|d| d.to_std())
        .map_err(|e| e.to_string())
}

async fn apply(
    file: PathBuf,
    args: ConsulArgs,
    dry_run: bool,
    interval: std::time::Duration,
    lock_ttl: std::time::Duration,
) -> Result<ExitCode, Failure> {
    let decoded = read_checked(&file)?;
    let (client, root, current) = read_root(&args).await?;
    let desired = pairs_from_config(&root, &decoded.config)?;
    let changes = plan(&root, &current, &desired);
    for change in &changes {
        println!("{change}");
    }
    if changes.is_empty() {
        println!("no changes: Consul already holds {}", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        println!("{} change(s) not written (dry run)", changes.len());
        return Ok(ExitCode::SUCCESS);
    }
    let options = ApplyOptions {
        interval,
        lock_ttl,
        holder: format!(
            "control config apply {} (pid {})",
            file.display(),
            std::process::id()
        ),
    };
    let applied = execute(&client, &root, &current, &changes, &options)
        .await
        .map_err(|e| match e {
            ApplyError::Conflict(message) => Failure::Conflict(message),
            ApplyError::Failed(message) => Failure::Error(message),
        })?;
    if let Some(generation) = &applied.recovered {
        println!("recovered from an apply of generation {generation} abandoned half way: what it left is replaced by {}", file.display());
    }
    println!(
        "applied {} change(s) as generation {} in {} transaction(s)",
        changes.len(),
        applied.generation,
        applied.transactions
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(args: ConsulArgs) -> Result<ExitCode, Failure> {
    let (_, root, pairs) = read_root(&args).await?;
    let decoded = decode_pairs(&root, &format!("consul {root}/"), &pairs);
    let yaml = serde_yaml::to_string(&decoded.config)
        .map_err(|e| Failure::Error(format!("cannot write YAML: {e}")))?;
    print!("{yaml}");
    for error in &decoded.errors {
        eprintln!("{error}; left out of the export");
    }
    Ok(if decoded.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
