//! The static configuration: TOML and YAML files, flags over the file, errors at startup,
//! unsupported sections, `--help`.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
fn toml_static_configuration() {
    let backend = Backend::start("A");
    let (web, internal) = (free_port(), free_port());
    let gw = Gateway::builder()
        .dynamic(&route_all_to(&backend.url()))
        .raw_static(
            "traefik.toml",
            &format!(
                r#"[entryPoints]
  [entryPoints.web]
    address = "127.0.0.1:{web}"
    [entryPoints.web.transport.lifeCycle]
      graceTimeOut = "1s"
  [entryPoints.traefik]
    address = "127.0.0.1:{internal}"

[providers.file]
  filename = "{{dir}}/dynamic.yml"
  watch = true

[ping]

[log]
  level = "INFO"
"#
            ),
        )
        .wait_port(web)
        .wait_port(internal)
        .start();
    assert_eq!(get(local(web), "/").backend().as_deref(), Some("A"));
    let ping = get(local(internal), "/ping");
    assert_eq!((ping.status, ping.text().as_str()), (200, "OK"));
    assert!(!gw.stderr().contains("ERROR"), "{}", gw.stderr());
}

#[test]
fn flags_override_the_file() {
    let backend = Backend::start("A");
    let (file_web, flag_web, file_other, flag_other, internal) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let gw = Gateway::builder()
        .dynamic(&route_all_to(&backend.url()))
        .raw_static(
            "traefik.yml",
            &format!(
                r#"entryPoints:
  web:
    address: 127.0.0.1:{file_web}
  other:
    address: 127.0.0.1:{file_other}
  traefik:
    address: 127.0.0.1:{internal}
providers:
  file:
    filename: "{{dir}}/dynamic.yml"
"#
            ),
        )
        .arg(format!("--entryPoints.web.address=127.0.0.1:{flag_web}"))
        // Flag keys match ignoring case, like Traefik's.
        .arg(format!(
            "--entrypoints.OTHER.Address=127.0.0.1:{flag_other}"
        ))
        .wait_port(flag_web)
        .wait_port(flag_other)
        .wait_port(internal)
        .start();
    assert_eq!(get(local(flag_web), "/").backend().as_deref(), Some("A"));
    assert_eq!(get(local(flag_other), "/").backend().as_deref(), Some("A"));
    assert!(
        !port_accepts(file_web),
        "the file's web address must not be used"
    );
    assert!(
        !port_accepts(file_other),
        "the file's other address must not be used"
    );
    assert!(
        gw.stderr().lines().all(|l| !l.contains("ERROR")),
        "{}",
        gw.stderr()
    );
}

#[test]
fn flags_alone_without_a_file() {
    let backend = Backend::start("A");
    let dir = TempDir::new("flags");
    let dynamic = dir.join("dyn.yml");
    std::fs::write(&dynamic, route_all_to(&backend.url())).unwrap();
    let (web, internal) = (free_port(), free_port());
    let gw = Gateway::spawn_raw(
        &[
            format!("--entryPoints.web.address=127.0.0.1:{web}"),
            format!("--entryPoints.traefik.address=127.0.0.1:{internal}"),
            format!("--providers.file.filename={}", dynamic.display()),
            "--ping".into(),
        ],
        &[("web", web), ("traefik", internal)],
    );
    assert_eq!(get(gw.web(), "/").backend().as_deref(), Some("A"));
    assert_eq!(get(gw.addr("traefik"), "/ping").text(), "OK");
}

/// Runs the gateway binary with `args` until it exits (5 s at most).
fn run_gateway(args: &[&str]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_to_exit(Path::new(gateway_bin()), &args, Duration::from_secs(5))
}

fn run_with_static(file_name: &str, content: &str) -> Finished {
    let dir = TempDir::new("static");
    let path = dir.join(file_name);
    std::fs::write(&path, content).unwrap();
    run_gateway(&[&format!("--configFile={}", path.display())])
}

/// The run exited in time, failed, and named each of `needles` on stderr.
fn assert_fails_naming(finished: &Finished, needles: &[&str]) {
    let status = finished.status.expect("the gateway must exit within 5s");
    assert!(
        !status.success(),
        "exit status {status}; stderr:\n{}",
        finished.stderr
    );
    for needle in needles {
        assert!(
            finished.stderr.contains(needle),
            "{needle}: {}",
            finished.stderr
        );
    }
}

#[test]
fn malformed_yaml_fails_and_names_the_line() {
    let port = free_port();
    let finished = run_with_static(
        "traefik.yml",
        &format!(
            "entryPoints:\n  web:\n    address: 127.0.0.1:{port}\n  bad: [unclosed\nping: {{}}\n"
        ),
    );
    assert_fails_naming(&finished, &["line", "traefik.yml"]);
    assert!(!port_accepts(port));
}

#[test]
fn malformed_toml_fails_and_names_the_line() {
    let finished = run_with_static(
        "traefik.toml",
        "[entryPoints.web]\naddress = \"127.0.0.1:1\n",
    );
    assert_fails_naming(&finished, &["line"]);
}

#[test]
fn bad_address_fails_and_names_the_key() {
    let finished = run_with_static(
        "traefik.yml",
        "entryPoints:\n  web:\n    address: nowhere\n",
    );
    assert_fails_naming(&finished, &["entryPoints/web/address", "nowhere"]);
}

#[test]
fn bad_value_from_a_flag_fails_and_names_the_key() {
    let finished = run_gateway(&["--entryPoints.web.address=nowhere"]);
    assert_fails_naming(&finished, &["entryPoints/web/address"]);
}

#[test]
fn missing_config_file_fails() {
    let finished = run_gateway(&["--configFile=/nonexistent/traefik.yml"]);
    assert_fails_naming(&finished, &["/nonexistent/traefik.yml"]);
}

#[test]
fn unsupported_sections_are_reported_once() {
    let backend = Backend::start("A");
    let gw = Gateway::builder()
        .entry_point("web", "")
        .dynamic(&route_all_to(&backend.url()))
        .static_extra("metrics:\n  prometheus:\n    addEntryPointsLabels: true\ntracing:\n  serviceName: gw\n")
        .start();
    assert_eq!(get(gw.web(), "/").backend().as_deref(), Some("A"));
    let stderr = gw.stderr();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && (l.contains("metrics") || l.contains("tracing")))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "expected one warning naming both:\n{stderr}"
    );
    assert!(
        warnings[0].contains("metrics") && warnings[0].contains("tracing"),
        "{}",
        warnings[0]
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let finished = run_gateway(&[flag]);
        assert!(
            finished.status.expect("exits").success(),
            "{flag}: {}",
            finished.stderr
        );
        assert!(
            finished.stdout.contains("USAGE"),
            "{flag}: {}",
            finished.stdout
        );
        assert!(
            finished.stdout.contains("gateway --configFile"),
            "{flag}: {}",
            finished.stdout
        );
        assert!(
            finished.stdout.contains("--entryPoints.<name>.address"),
            "{}",
            finished.stdout
        );
    }
    let finished = run_gateway(&["--version"]);
    assert!(finished.status.expect("exits").success());
    assert_eq!(
        finished.stdout.trim(),
        format!("gateway {}", env!("CARGO_PKG_VERSION"))
    );

    let finished = run_gateway(&["whoami", "--help"]);
    assert!(finished.status.expect("exits").success());
    assert!(finished.stdout.contains("whoami"), "{}", finished.stdout);

    assert_fails_naming(&run_gateway(&["stray"]), &["stray"]);
}
