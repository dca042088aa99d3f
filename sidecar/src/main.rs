//! The `sidecar` command: a Linkerd-compatible mTLS sidecar. Not implemented yet; it says so
//! instead of pretending to run.

use std::process::ExitCode;

const HELP: &str = "\
sidecar: a lightweight mTLS sidecar that speaks Linkerd's identity and wire protocol,
finding peers through Consul.

STATUS: not implemented yet. This binary only prints this help.

USAGE:
    sidecar --help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    eprintln!("sidecar: not implemented yet; see `sidecar --help`");
    ExitCode::from(2)
}
