//! `control config validate|apply|diff|export` against a real Consul agent.

use control::consul::{ClientOptions, ConsulClient, KvPair};
use std::path::PathBuf;
use std::process::{Command, Output};
use testkit::{ConsulAgent, Storage};

fn control(args: &[&str], consul: Option<&ConsulAgent>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_control"));
    command.args(args).env_remove("CONSUL_HTTP_TOKEN");
    match consul {
        Some(agent) => command.env("CONSUL_HTTP_ADDR", agent.address()),
        None => command.env_remove("CONSUL_HTTP_ADDR"),
    };
    command.output().expect("run control")
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
