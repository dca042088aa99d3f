//! Tests of static configuration loading.

use super::*;
use crate::decode::{from_toml_str, from_yaml_str};
use std::time::Duration;

fn load_yaml(text: &str) -> Result<LoadedStatic, StaticConfigError> {
    StaticConfig::from_tree(&from_yaml_str(text).unwrap(), "traefik.yml")
}

#[test]
fn reads_the_supported_sections_ignoring_case() {
    let loaded = load_yaml(
        "entrypoints:\n  web:\n    Address: 127.0.0.1:8000\n    forwardedHeaders:\n      trustedIPs: [10.0.0.0/8]\n      insecure: false\nproviders:\n  providersThrottleDuration: 500ms\n  file:\n    filename: dyn.yml\n    watch: false\napi:\n  insecure: true\nping: {}\nLOG:\n  level: debug\n",
    )
    .unwrap();
    let config = loaded.config;
    assert_eq!(config.entry_points["web"].address, "127.0.0.1:8000");
    assert_eq!(
        config.entry_points["web"].forwarded_headers.trusted_ips,
        ["10.0.0.0/8"]
    );
    assert_eq!(
        config.providers.providers_throttle_duration,
        Some(GoDuration::from_millis(500))
    );
    let file = config.providers.file.as_ref().unwrap();
    assert_eq!(file.filename.as_deref(), Some("dyn.yml"));
    assert!(!file.watch());
    assert_eq!(
        config.entry_points[INTERNAL_ENTRYPOINT].address, ":8080",
        "api and ping need it"
    );
    assert_eq!(config.log_directive(), "debug");
    assert_eq!(config.default_entry_points(), ["web"]);
    assert!(loaded.ignored_keys.is_empty());
}

#[test]
fn toml_reads_the_same() {
    let toml = from_toml_str("[entryPoints.web]\naddress = \":8000\"\n[providers.file]\ndirectory = \"conf.d\"\n[ping]\n").unwrap();
    let config = StaticConfig::from_tree(&toml, "traefik.toml")
        .unwrap()
        .config;
    assert_eq!(
        config.entry_points["web"].bind_address(),
        "[::]:8000",
        "`:port` is every interface, IPv6 and IPv4, as Go listens"
    );
    for (address, bound) in [
        ("0.0.0.0:80", "[::]:80"),
        ("[::]:80", "[::]:80"),
        ("127.0.0.1:80", "127.0.0.1:80"),
        ("[::1]:80", "[::1]:80"),
    ] {
        let entry_point = EntryPoint {
            address: address.into(),
            ..Default::default()
        };
        assert_eq!(entry_point.bind_address(), bound, "{address}");
    }
    assert_eq!(
        config.providers.file.unwrap().directory.as_deref(),
        Some("conf.d")
    );
    assert!(config.ping.is_some());
}

#[test]
fn defaults_follow_traefik() {
    let config = load_yaml("").unwrap().config;
    assert_eq!(config.entry_points["http"].address, ":80");
    assert!(!config.entry_points.contains_key(INTERNAL_ENTRYPOINT));
    assert_eq!(config.log_directive(), "error");
    assert_eq!(
        config.entry_points["http"].grace_time_out(),
        GoDuration::from_secs(10)
    );
    assert_eq!(
        config.entry_points["http"].request_accept_grace_timeout(),
        GoDuration::default()
    );
}

#[test]
fn life_cycle_timeouts_are_read() {
    let config = load_yaml("entryPoints:\n  web:\n    address: ':80'\n    transport:\n      lifeCycle:\n        requestAcceptGraceTimeout: 2s\n        graceTimeOut: 30s\n")
        .unwrap();
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    let web = &config.config.entry_points["web"];
    assert_eq!(web.request_accept_grace_timeout(), GoDuration::from_secs(2));
    assert_eq!(web.grace_time_out(), GoDuration::from_secs(30));
    let err = load_yaml("entryPoints:\n  web:\n    address: ':80'\n    transport:\n      lifeCycle:\n        requestAcceptGraceTimeout: soon\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entryPoints/web/transport/lifeCycle/requestAcceptGraceTimeout"),
        "{err}"
    );
}

#[test]
fn as_default_entrypoints_win() {
    let config =
        load_yaml("entryPoints:\n  a: {address: ':1'}\n  b: {address: ':2', asDefault: true}\n")
            .unwrap()
            .config;
    assert_eq!(config.default_entry_points(), ["b"]);
}

#[test]
fn unknown_sections_are_ignored_and_named() {
    let loaded = load_yaml("metrics:\n  prometheus: {}\nentryPoints:\n  web:\n    address: ':80'\n    http3: {}\nbogus: 1\n").unwrap();
    assert_eq!(
        loaded.ignored_keys,
        ["metrics", "entryPoints/web/http3", "bogus"]
    );
}

#[test]
fn bad_values_name_the_key() {
    let err = load_yaml("ping:\n  terminatingStatusCode: lots\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "traefik.yml: ping/terminatingStatusCode: invalid non-negative integer \"lots\""
        ),
        "{err}"
    );
    let err = load_yaml("entryPoints:\n  web:\n    address: nowhere\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("entryPoints/web/address"), "{err}");
    let err = load_yaml("log:\n  level: loud\n").unwrap_err().to_string();
    assert!(err.contains("log/level"), "{err}");
    let err = load_yaml("ping:\n  entryPoint: missing\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ping/entryPoint"), "{err}");
}

#[test]
fn flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("static-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traefik.yml");
    std::fs::write(&path, "entryPoints:\n  web:\n    address: ':80'\n").unwrap();
    let mut flags = Node::empty_map();
    flags.set_path(
        &["entrypoints", "web", "address"],
        Node::Scalar("127.0.0.1:81".into()),
    );
    let config = StaticConfig::load(Some(&path), flags).unwrap().config;
    assert_eq!(config.entry_points["web"].address, "127.0.0.1:81");
    std::fs::write(
        &path,
        "log:\n  level: DEBUG\nentryPoints:\n  web:\n    address: nowhere\n",
    )
    .unwrap();
    let err = StaticConfig::load(Some(&path), Node::empty_map())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("traefik.yml, line 5: entryPoints/web/address"),
        "{err}"
    );
    std::fs::write(&path, "entryPoints:\n  web: [\n").unwrap();
    let err = StaticConfig::load(Some(&path), Node::empty_map())
        .unwrap_err()
        .to_string();
    assert!(err.contains("line"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn consul_provider_keys_and_defaults() {
    let config = load_yaml("providers:\n  consul:\n    endpoints: [127.0.0.1:8501, 'http://10.0.0.2:8500']\n    rootKey: /gw/\n    token: secret\n    stale: true\n    tls: {ca: ca.pem, insecureSkipVerify: true}\n")
        .unwrap()
        .config;
    let consul = config.providers.consul.unwrap();
    assert_eq!(
        consul.endpoints(),
        ["127.0.0.1:8501", "http://10.0.0.2:8500"]
    );
    assert_eq!(consul.root_key(), "gw");
    assert_eq!(consul.token.as_deref(), Some("secret"));
    assert!(consul.stale);
    assert!(consul.tls.unwrap().insecure_skip_verify);
    let mut flags = Node::empty_map();
    flags.set_path(
        &["providers", "consul", "endpoints"],
        Node::Scalar("a:1,b:2".into()),
    );
    let consul = StaticConfig::from_tree(&flags, "flags")
        .unwrap()
        .config
        .providers
        .consul
        .unwrap();
    assert_eq!(
        consul.endpoints(),
        ["a:1", "b:2"],
        "comma-joined flag values are lists"
    );
    assert_eq!(consul.root_key(), "traefik");
    assert_eq!(consul.max_staleness(), std::time::Duration::from_secs(10));
}

#[test]
fn consul_provider_extensions() {
    let config = load_yaml("providers:\n  consul:\n    tokenFile: /run/secrets/consul\n    stale: true\n    maxStaleness: 2s\n    tls: {ca: ca.pem, serverName: server.dc1.consul}\n")
        .unwrap()
        .config;
    let consul = config.providers.consul.unwrap();
    assert_eq!(consul.token_file.as_deref(), Some("/run/secrets/consul"));
    assert_eq!(consul.max_staleness(), std::time::Duration::from_secs(2));
    assert_eq!(
        consul.tls.unwrap().server_name.as_deref(),
        Some("server.dc1.consul")
    );
    let err = load_yaml("providers:\n  consul:\n    token: t\n    tokenFile: f\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("providers/consul/tokenFile: both token and tokenFile are set"),
        "{err}"
    );
    let err = load_yaml("providers:\n  consul:\n    maxStaleness: 0s\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("providers/consul/maxStaleness"), "{err}");
}

#[test]
fn client_limits_have_traefiks_defaults() {
    let config = load_yaml("entryPoints:\n  web: {address: ':80'}\n")
        .unwrap()
        .config;
    let limits = config.entry_points["web"].client_limits();
    assert_eq!(limits.read_timeout, Some(Duration::from_secs(60)));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(180)));
    assert_eq!(limits.write_timeout, None);
    assert_eq!(limits.keep_alive_max_requests, None);
    assert_eq!(limits.keep_alive_max_time, None);
    assert_eq!(limits.max_head_bytes, (1 << 20) + 4096);
}

#[test]
fn client_limits_are_read_from_transport_and_http() {
    let config = load_yaml(
        "entryPoints:\n  web:\n    address: ':80'\n    transport:\n      respondingTimeouts: {readTimeout: 2s, writeTimeout: 3s, idleTimeout: 0}\n      keepAliveMaxRequests: 5\n      keepAliveMaxTime: 1m\n    http: {maxHeaderBytes: 100}\n",
    )
    .unwrap();
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    let limits = config.config.entry_points["web"].client_limits();
    assert_eq!(limits.read_timeout, Some(Duration::from_secs(2)));
    assert_eq!(limits.write_timeout, Some(Duration::from_secs(3)));
    assert_eq!(limits.idle_timeout, None);
    assert_eq!(limits.keep_alive_max_requests, Some(5));
    assert_eq!(limits.keep_alive_max_time, Some(Duration::from_secs(60)));
    assert_eq!(limits.max_head_bytes, 100 + 4096);
}
