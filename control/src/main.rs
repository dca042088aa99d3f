//! The `control` command: configuration tooling around the gateway — validate a dynamic
//! configuration file, and apply it to, compare it with, or export it from Consul KV.

use clap::{Args, Parser, Subcommand};
use control::consul::apply::{execute, plan};
use control::consul::{ClientOptions, ConsulClient, KvPair};
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
    /// ACL token.
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    token: Option<String>,
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
        /// Pause between the transactions of a change too large for one (over 64 keys), to
        /// spread its load on Consul (e.g. `200ms`); the gateway applies it whole either way.
        #[arg(long, default_value = "0s", value_parser = parse_duration)]
        txn_interval: std::time::Duration,
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
        ConfigCommand::Validate { file } => validate(&file),
        ConfigCommand::Apply {
            file,
            dry_run,
            txn_interval,
            consul,
        } => run_async(apply(file, consul, dry_run, txn_interval)),
        ConfigCommand::Diff { file, consul } => {
            run_async(apply(file, consul, true, Default::default()))
        }
        ConfigCommand::Export { consul } => run_async(export(consul)),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("control: {message}");
            ExitCode::from(1)
        }
    }
}

fn run_async(
    future: impl std::future::Future<Output = Result<ExitCode, String>>,
) -> Result<ExitCode, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
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

fn client(args: &ConsulArgs) -> Result<ConsulClient, String> {
    ConsulClient::new(ClientOptions {
        endpoints: vec![args.address.clone()],
        token: args.token.clone(),
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
) -> Result<ExitCode, String> {
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
    let applied = execute(&client, &root, &current, &changes, interval)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "applied {} change(s) as generation {} in {} transaction(s)",
        changes.len(),
        applied.generation,
        applied.transactions
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(args: ConsulArgs) -> Result<ExitCode, String> {
    let (_, root, pairs) = read_root(&args).await?;
    let decoded = decode_pairs(&root, &format!("consul {root}/"), &pairs);
    let yaml =
        serde_yaml::to_string(&decoded.config).map_err(|e| format!("cannot write YAML: {e}"))?;
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
