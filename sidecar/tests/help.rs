//! The sidecar says what it is and that it is not implemented, rather than pretending to run.

use std::process::Command;

fn sidecar(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sidecar"))
        .args(args)
        .output()
        .expect("run sidecar")
}

#[test]
fn help_prints_usage() {
    let output = sidecar(&["--help"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.to_lowercase().contains("usage") && stdout.contains("sidecar"),
        "{stdout}"
    );
}

#[test]
fn without_help_it_says_it_is_not_implemented_and_fails() {
    let output = sidecar(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not implemented"));
}
