//! Log setup: `tracing` at Traefik's `log.level` (overridable with `RUST_LOG`), text or JSON.

use control::static_config::StaticConfig;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for `config`'s `log.level` and `log.format`.
/// Pingora's own `log` records are routed through it too.
pub fn init(config: &StaticConfig) {
    // Pingora reports its own life cycle at INFO; that is shown from DEBUG on.
    let level = config.log_directive();
    let pingora = if matches!(level, "debug" | "trace") {
        level
    } else {
        "warn"
    };
    let directives = format!("{level},pingora_core={pingora},pingora_proxy={pingora}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let json = config
        .log
        .as_ref()
        .and_then(|l| l.format.as_deref())
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("logging could not be set up: {e}");
    }
}
