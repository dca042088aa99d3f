//! Traefik-style command-line flags (`--entryPoints.web.address=:80`) read into a config tree.
//!
//! Parsed by hand: the flag names are open-ended dotted paths into the configuration
//! (`--entryPoints.<any name>.address`), which derive-based parsers such as clap cannot declare.

use crate::decode::Node;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Run with an optional configuration file and flag values laid over it.
    Run {
        /// `--configFile`.
        config_file: Option<String>,
        /// Every other `--key=value` as a tree; a bare `--key` means `true`.
        overrides: Node,
        /// True when no argument at all was given.
        no_arguments: bool,
    },
}

/// A command line that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FlagError(String);

/// Reads Traefik-style arguments: `--configFile=FILE` (or `--configfile FILE`), `--help`/`-h`,
/// `--version`, and any `--dotted.key[=value]`, matched ignoring case like Traefik.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, FlagError> {
    let args: Vec<String> = args.into_iter().collect();
    let mut config_file = None;
    let mut overrides = Node::empty_map();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "-h" || arg.eq_ignore_ascii_case("--help") {
            return Ok(Command::Help);
        }
        if arg.eq_ignore_ascii_case("--version") {
            return Ok(Command::Version);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(FlagError(format!(
                "unexpected argument {arg:?}: flags look like --entryPoints.web.address=:80 (see --help)"
            )));
        };
        let (key, value) = match flag.split_once('=') {
            Some((key, value)) => (key, value.to_string()),
            None => match args.get(i) {
                Some(next) if !next.starts_with("--") => {
                    i += 1;
                    (flag, next.clone())
                }
                _ => (flag, "true".to_string()),
            },
        };
        let path: Vec<&str> = key.split('.').collect();
        if key.is_empty() || path.iter().any(|segment| segment.is_empty()) {
            return Err(FlagError(format!(
                "malformed flag {arg:?}: empty name segment"
            )));
        }
        if key.eq_ignore_ascii_case("configFile") {
            config_file = Some(value);
            continue;
        }
        overrides.set_path(&path, Node::Scalar(value));
    }
    Ok(Command::Run {
        config_file,
        overrides,
        no_arguments: args.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Option<String>, Node) {
        match parse_args(args.iter().map(|s| s.to_string())).unwrap() {
            Command::Run {
                config_file,
                overrides,
                ..
            } => (config_file, overrides),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dotted_flags_build_a_tree() {
        let (file, tree) = run(&[
            "--entryPoints.web.address=127.0.0.1:8000",
            "--providers.file.filename",
            "dyn.yml",
            "--ping",
            "--api.insecure=true",
            "--configfile=traefik.yml",
        ]);
        assert_eq!(file.as_deref(), Some("traefik.yml"));
        let address = tree
            .get("entrypoints")
            .and_then(|e| e.get("web"))
            .and_then(|w| w.get("address"));
        assert_eq!(address, Some(&Node::Scalar("127.0.0.1:8000".into())));
        let filename = tree
            .get("providers")
            .and_then(|p| p.get("file"))
            .and_then(|f| f.get("filename"));
        assert_eq!(filename, Some(&Node::Scalar("dyn.yml".into())));
        assert_eq!(tree.get("ping"), Some(&Node::Scalar("true".into())));
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(parse_args(["--help".to_string()]).unwrap(), Command::Help);
        assert_eq!(parse_args(["-h".to_string()]).unwrap(), Command::Help);
        assert_eq!(
            parse_args(["--version".to_string()]).unwrap(),
            Command::Version
        );
        assert!(parse_args(["stray".to_string()])
            .unwrap_err()
            .to_string()
            .contains("stray"));
        assert!(parse_args(["--a..b=1".to_string()]).is_err());
        match parse_args(Vec::<String>::new()).unwrap() {
            Command::Run { no_arguments, .. } => assert!(no_arguments),
            other => panic!("{other:?}"),
        }
    }
}
