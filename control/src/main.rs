//! The `control` command: configuration tooling around the gateway (validate now; apply, diff
//! and export to Consul KV come with the Consul provider).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Control plane for the gateway and sidecar.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Work with Traefik dynamic configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a dynamic configuration file (YAML or TOML) exactly as the gateway reads it;
    /// lists every problem with its key and exits 1 if there is any.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Write a dynamic configuration file to Consul KV (not implemented yet).
    Apply {
        /// The file to apply.
        file: PathBuf,
    },
    /// Show what `apply` would change in Consul KV (not implemented yet).
    Diff {
        /// The file to compare.
        file: PathBuf,
    },
    /// Print the configuration stored in Consul KV as YAML (not implemented yet).
    Export,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Commands::Config(ConfigCommand::Validate { file }) => validate(&file),
        Commands::Config(
            ConfigCommand::Apply { .. } | ConfigCommand::Diff { .. } | ConfigCommand::Export,
        ) => {
            eprintln!(
                "control: this command needs the Consul KV provider, which is not implemented yet"
            );
            ExitCode::from(2)
        }
    }
}

fn validate(file: &PathBuf) -> ExitCode {
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("control: cannot read {shown}: {e}");
            return ExitCode::from(2);
        }
    };
    match control::validate::validate_text(&shown, &text) {
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
        Ok(decoded) if decoded.errors.is_empty() => {
            let http = decoded.config.http.unwrap_or_default();
            println!(
                "{shown}: valid ({} routers, {} services, {} middlewares)",
                http.routers.len(),
                http.services.len(),
                http.middlewares.len()
            );
            ExitCode::SUCCESS
        }
        Ok(decoded) => {
            for error in &decoded.errors {
                eprintln!("{error}");
            }
            eprintln!(
                "{shown}: {} problem(s); the gateway would leave those objects out",
                decoded.errors.len()
            );
            ExitCode::from(1)
        }
    }
}
