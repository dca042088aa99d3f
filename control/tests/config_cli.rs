//! `control config validate|apply|diff|export` against a real Consul agent.

use control::consul::{ClientOptions, ConsulClient, KvPair};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use testkit::{ConsulAgent, Storage};

/// The Consul CLI variables `control` reads, removed so the tests do not depend on the shell.
const CONSUL_VARIABLES: [&str; 7] = [
    "CONSUL_HTTP_ADDR",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "CONSUL_CACERT",
    "CONSUL_CLIENT_CERT",
    "CONSUL_CLIENT_KEY",
    "CONSUL_TLS_SERVER_NAME",
];

/// `control` with only the Consul variables `env` sets.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_control"));
    command.args(args);
    for name in CONSUL_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

fn control(args: &[&str], consul: Option<&ConsulAgent>) -> Output {
    let address = consul.map(ConsulAgent::address);
    let env: Vec<(&str, &str)> = address
        .iter()
        .map(|a| ("CONSUL_HTTP_ADDR", a.as_str()))
        .collect();
    command(args, &env).output().expect("run control")
}

/// Starts `control` without waiting for it.
fn spawn_control(args: &[&str], agent: &ConsulAgent) -> Child {
    command(args, &[("CONSUL_HTTP_ADDR", &agent.address())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start control")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Files(PathBuf);

impl Files {
    fn new(label: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("control-cli-{label}-{}", testkit::free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keys(agent: &ConsulAgent) -> Vec<KvPair> {
    let client = ConsulClient::new(ClientOptions {
        endpoints: vec![agent.address()],
        ..Default::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client.kv_list("traefik/", None))
        .unwrap()
        .pairs
}

fn value(pairs: &[KvPair], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.text().into_owned())
}

const V1: &str = "http:
  routers:
    api:
      rule: Host(`api.test`)
      service: api
      entryPoints: [web]
    old:
      rule: Path(`/old`)
      service: api
  services:
    api:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9001
";

const V2: &str = "http:
  routers:
    api:
      rule: Host(`api.test`) && PathPrefix(`/v2`)
      service: api
      entryPoints: [web]
  services:
    api:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9001
          - url: http://127.0.0.1:9002
";

#[test]
fn validate_lists_every_problem_with_its_key() {
    let files = Files::new("validate");
    let good = files.write("good.yml", V1);
    let output = control(&["config", "validate", &good], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("valid (2 routers, 1 services, 0 middlewares)"));

    let bad = files.write("bad.toml", "[http.routers.a]\nrule = \"Hots(`x`)\"\nservice = \"s\"\n[http.routers.b]\nrule = \"Path(`/`)\"\npriority = \"high\"\n");
    let output = control(&["config", "validate", &bad], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "bad.toml: http/routers/a/rule: rule \"Hots(`x`)\": unknown matcher \"Hots\""
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml: http/routers/b/priority: invalid integer \"high\""),
        "{stderr}"
    );
    assert!(stderr.contains("2 problem(s)"), "{stderr}");

    let broken = files.write("broken.yml", "http:\n  routers: [\n");
    let output = control(&["config", "validate", &broken], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("line"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn apply_diff_and_export_round_trip_through_consul() {
    let agent = ConsulAgent::start(Storage::Memory);
    let files = Files::new("apply");
    let v1 = files.write("v1.yml", V1);
    let v2 = files.write("v2.yml", V2);

    let output = control(&["config", "apply", "--dry-run", &v1], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("+ traefik/http/routers/api/rule = Host(`api.test`)"),
        "{}",
        text(&output.stdout)
    );
    assert!(keys(&agent).is_empty(), "a dry run writes nothing");

    let output = control(&["config", "apply", &v1], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("as generation 1 in 1 transaction(s)"),
        "{}",
        text(&output.stdout)
    );
    let pairs = keys(&agent);
    assert_eq!(
        value(&pairs, "traefik/http/routers/api/rule").as_deref(),
        Some("Host(`api.test`)")
    );
    assert_eq!(
        value(&pairs, "traefik/http/routers/api/entryPoints/0").as_deref(),
        Some("web")
    );
    assert_eq!(
        value(
            &pairs,
            "traefik/http/services/api/loadBalancer/servers/0/url"
        )
        .as_deref(),
        Some("http://127.0.0.1:9001")
    );
    assert_eq!(
        value(&pairs, "traefik/_commit/generation").as_deref(),
        Some("1")
    );

    let output = control(&["config", "diff", &v1], Some(&agent));
    assert!(
        text(&output.stdout).contains("no changes"),
        "{}",
        text(&output.stdout)
    );

    let output = control(&["config", "diff", &v2], Some(&agent));
    let diff = text(&output.stdout);
    assert!(diff.contains("~ traefik/http/routers/api/rule = Host(`api.test`) -> Host(`api.test`) && PathPrefix(`/v2`)"), "{diff}");
    assert!(
        diff.contains(
            "+ traefik/http/services/api/loadBalancer/servers/1/url = http://127.0.0.1:9002"
        ),
        "{diff}"
    );
    assert!(diff.contains("- traefik/http/routers/old/rule"), "{diff}");

    let output = control(&["config", "apply", &v2], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let pairs = keys(&agent);
    assert_eq!(
        value(&pairs, "traefik/http/routers/old/rule"),
        None,
        "keys no longer in the file are removed"
    );
    assert_eq!(
        value(&pairs, "traefik/_commit/generation").as_deref(),
        Some("2")
    );

    let output = control(&["config", "export"], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let exported = control::decode::from_yaml_str(&text(&output.stdout)).unwrap();
    let expected = control::decode::from_yaml_str(V2).unwrap();
    assert_eq!(
        control::dynamic_decode::decode_dynamic(&exported, "export").config,
        control::dynamic_decode::decode_dynamic(&expected, "v2").config
    );
}

#[test]
fn large_changes_commit_in_several_transactions() {
    let agent = ConsulAgent::start(Storage::Memory);
    let files = Files::new("large");
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..100 {
        yaml.push_str(&format!(
            "    r{i}: {{rule: \"Path(`/r{i}`)\", service: s}}\n"
        ));
    }
    yaml.push_str(
        "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9001'}]}}\n",
    );
    let file = files.write("large.yml", &yaml);
    let output = control(&["config", "apply", &file], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("applied 201 change(s) as generation 1 in 6 transaction(s)"),
        "{stdout}"
    );
    let pairs = keys(&agent);
    assert_eq!(
        value(&pairs, "traefik/_commit/pending"),
        None,
        "the pending marker is gone once committed"
    );
    assert_eq!(
        value(&pairs, "traefik/http/routers/r99/rule").as_deref(),
        Some("Path(`/r99`)")
    );
}

/// A configuration of `routers` routers all sending to service `service`: two keys each.
fn routers(service: &str, routers: usize) -> String {
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..routers {
        yaml.push_str(&format!(
            "    {service}{i}: {{rule: \"Path(`/{service}{i}`)\", service: {service}}}\n"
        ));
    }
    yaml.push_str(&format!(
        "  services:\n    {service}: {{loadBalancer: {{servers: [{{url: 'http://127.0.0.1:9001'}}]}}}}\n"
    ));
    yaml
}

/// Whether Consul holds exactly the configuration of `file` (`diff` finds nothing to change).
fn holds_exactly(agent: &ConsulAgent, file: &str) -> bool {
    let output = control(&["config", "diff", file], Some(agent));
    text(&output.stdout).contains("no changes")
}

#[test]
fn concurrent_applies_never_mix_and_the_loser_says_why() {
    let agent = ConsulAgent::start(Storage::Memory);
    let files = Files::new("race");
    let large = files.write("large.yml", &routers("a", 100));
    let small = files.write("small.yml", V1);

    // A small apply in the middle of a large one (201 keys, 6 transactions, 300 ms apart).
    let writer = spawn_control(&["config", "apply", "--txn-interval=300ms", &large], &agent);
    assert!(
        testkit::wait_until(Duration::from_secs(10), || value(
            &keys(&agent),
            "traefik/_commit/pending"
        )
        .is_some()),
        "the large apply did not start"
    );
    let loser = control(&["config", "apply", &small], Some(&agent));
    let stderr = text(&loser.stderr);
    assert_eq!(loser.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("another apply is writing traefik/ (control config apply")
            && stderr.contains("nothing was written: retry when it is done"),
        "{stderr}"
    );
    let winner = writer.wait_with_output().unwrap();
    assert!(winner.status.success(), "{}", text(&winner.stderr));
    assert!(
        holds_exactly(&agent, &large),
        "the tree is the large file's, whole"
    );
    assert_eq!(
        value(&keys(&agent), "traefik/_commit/generation").as_deref(),
        Some("1"),
        "the small apply never committed"
    );

    // Two large applies started together: one commits, the other writes nothing.
    let b = files.write("b.yml", &routers("b", 100));
    let c = files.write("c.yml", &routers("c", 100));
    let first = spawn_control(&["config", "apply", "--txn-interval=500ms", &b], &agent);
    let second = spawn_control(&["config", "apply", "--txn-interval=500ms", &c], &agent);
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    let (winner, loser, winner_file) = match codes.as_slice() {
        [Some(0), Some(75)] => (&outputs[0], &outputs[1], &b),
        [Some(75), Some(0)] => (&outputs[1], &outputs[0], &c),
        _ => panic!(
            "expected one success and one conflict: {codes:?}\n{}\n{}",
            text(&outputs[0].stderr),
            text(&outputs[1].stderr)
        ),
    };
    assert!(
        text(&winner.stdout).contains("as generation 2"),
        "{}",
        text(&winner.stdout)
    );
    let stderr = text(&loser.stderr);
    assert!(
        stderr.contains("another apply") && stderr.contains("retry"),
        "{stderr}"
    );
    assert!(
        holds_exactly(&agent, winner_file),
        "the tree is the winner's file, whole"
    );
}

#[test]
fn large_values_are_split_by_transaction_size() {
    let agent = ConsulAgent::start(Storage::Memory);
    let files = Files::new("bytes");
    // 8 rules of 100 KB: 1.07 MB of JSON in base64, over Consul's 512 KiB per transaction,
    // though far under its 64 operations.
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..8 {
        let path = format!("/{i}{}", "x".repeat(100_000));
        yaml.push_str(&format!(
            "    r{i}: {{rule: \"Path(`{path}`)\", service: s}}\n"
        ));
    }
    yaml.push_str(
        "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9001'}]}}\n",
    );
    let file = files.write("large-values.yml", &yaml);
    let output = control(&["config", "apply", &file], Some(&agent));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("applied 17 change(s) as generation 1 in 5 transaction(s)"),
        "{stdout}"
    );
    assert!(holds_exactly(&agent, &file));
}

#[test]
fn token_file_and_tls_server_name() {
    let certificates = testkit::TestCertificates::generate_for(&["server.dc1.consul"]);
    let agent = ConsulAgent::start_secured(&certificates, "management-token");
    let files = Files::new("secured");
    let v1 = files.write("v1.yml", V1);
    let token_file = files.write("token", "management-token\n");
    let address = format!("https://127.0.0.1:{}", agent.https_port.unwrap());
    let ca = certificates.ca().display().to_string();
    let mut env = vec![
        ("CONSUL_HTTP_ADDR", address.as_str()),
        ("CONSUL_CACERT", ca.as_str()),
        ("CONSUL_HTTP_TOKEN_FILE", token_file.as_str()),
        ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
    ];
    let output = command(&["config", "apply", &v1], &env).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = command(&["config", "export"], &env).output().unwrap();
    assert!(
        text(&output.stdout).contains("Host(`api.test`)"),
        "{}",
        text(&output.stdout)
    );

    // The certificate names server.dc1.consul, not the address it is reached at.
    let without_name: Vec<_> = env
        .iter()
        .copied()
        .filter(|(name, _)| *name != "CONSUL_TLS_SERVER_NAME")
        .collect();
    let output = command(&["config", "export"], &without_name)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("certificate"),
        "{}",
        text(&output.stderr)
    );

    // Without the token, Consul refuses the write, and the message says where tokens come from.
    env.retain(|(name, _)| *name != "CONSUL_HTTP_TOKEN_FILE");
    let v2 = files.write("v2.yml", V2);
    let output = command(&["config", "apply", &v2], &env).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Permission denied") && stderr.contains("CONSUL_HTTP_TOKEN_FILE"),
        "{stderr}"
    );
}

#[test]
fn apply_refuses_invalid_files_and_reports_unreachable_consul() {
    let files = Files::new("refuse");
    let bad = files.write(
        "bad.yml",
        "http:\n  routers:\n    a: {rule: Hots(`x`), service: s}\n",
    );
    let output = control(&["config", "apply", "--consul", "127.0.0.1:1", &bad], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("http/routers/a/rule"),
        "{}",
        text(&output.stderr)
    );

    let good = files.write("good.yml", V1);
    let output = control(
        &[
            "config",
            "apply",
            "--consul",
            &format!("127.0.0.1:{}", testkit::free_port()),
            &good,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot reach Consul"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn help_prints_usage() {
    let output = control(&["--help"], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.to_lowercase().contains("usage") && stdout.contains("control"),
        "{stdout}"
    );
}
