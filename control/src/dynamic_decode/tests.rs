//! Tests of object-by-object decoding and of merging several sources.

use super::*;
use crate::decode::from_yaml_str;

fn decode_yaml(text: &str) -> Decoded {
    decode_dynamic(&from_yaml_str(text).unwrap(), "dyn.yml")
}

#[test]
fn a_broken_object_is_dropped_alone() {
    let decoded = decode_yaml(
        r#"
http:
  routers:
    good:
      rule: Host(`a`)
      service: svc
    typo:
      rule: Host(`b`)
      servce: svc
    badPriority:
      rule: Host(`c`)
      priority: high
  services:
    svc:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:1"}]
    twoKinds:
      loadBalancer: {servers: [{url: "http://x"}]}
      weighted: {services: [{name: svc}]}
  middlewares:
    strip:
      stripPrefix: {prefixes: [/a]}
    empty: {}
"#,
    );
    let http = decoded.config.http.as_ref().unwrap();
    assert_eq!(http.routers.keys().collect::<Vec<_>>(), ["good"]);
    // (a router whose rule does not compile is covered by `bad_rules_are_object_errors`)
    assert_eq!(http.services.keys().collect::<Vec<_>>(), ["svc"]);
    assert_eq!(http.middlewares.keys().collect::<Vec<_>>(), ["strip"]);
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with("dyn.yml: http/routers/typo/servce: unknown field `servce`"),
        "{errors:#?}"
    );
    assert!(
        errors[1]
            .starts_with("dyn.yml: http/routers/badPriority/priority: invalid integer \"high\""),
        "{errors:#?}"
    );
    assert!(
        errors[2].starts_with("dyn.yml: http/services/twoKinds:"),
        "{errors:#?}"
    );
    assert!(
        errors[2].contains("loadBalancer") && errors[2].contains("weighted"),
        "{errors:#?}"
    );
    assert!(
        errors[3].starts_with("dyn.yml: http/middlewares/empty:"),
        "{errors:#?}"
    );
}

#[test]
fn unknown_sections_are_reported() {
    let decoded = decode_yaml("htp:\n  routers: {}\nhttp:\n  routerz: {}\n");
    let keys: Vec<&str> = decoded.errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["htp", "http/routerz"]);
    let decoded = decode_yaml("- a\n- b\n");
    assert_eq!(decoded.errors[0].key, "(root)");
}

#[test]
fn section_names_ignore_case() {
    let decoded =
        decode_yaml("HTTP:\n  Routers:\n    r:\n      RULE: Path(`/`)\n      Service: s\n");
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    assert_eq!(
        decoded.config.http.unwrap().routers["r"].rule.as_deref(),
        Some("Path(`/`)")
    );
}

#[test]
fn tls_certificates_are_a_list() {
    let decoded = decode_yaml("tls:\n  certificates:\n    - certFile: a.crt\n      keyFile: a.key\n    - certFile: b.crt\n      keyFile: b.key\n      bogus: 1\n");
    let tls = decoded.config.tls.unwrap();
    assert_eq!(tls.certificates.len(), 1);
    assert_eq!(decoded.errors[0].key, "tls/certificates/0001/bogus");
}

/// Every key Traefik's KV provider knows (reference/traefik-kv-keys.txt), read as Consul keys,
/// decodes without error.
#[test]
fn every_traefik_kv_key_decodes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/traefik-kv-keys.txt"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        panic!("{path} is missing: the shared reference folder must sit beside the repository");
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line.split_once(" = ").unwrap_or((line, ""));
        let key = key.trim().to_string();
        // The reference's placeholder "foobar" is no HTTP rule; give routers a real one.
        let is_http_rule = key.starts_with("traefik/http/routers/") && key.ends_with("/rule");
        let value = if is_http_rule {
            "Path(`/`)"
        } else {
            value.trim()
        };
        pairs.push((key, value.to_string()));
    }
    assert!(pairs.len() > 400, "only {} keys read", pairs.len());
    let (tree, utf8_errors) = crate::kv::tree_from_pairs(
        "traefik",
        "consul traefik/",
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
    );
    assert!(utf8_errors.is_empty());
    let decoded = decode_dynamic(&tree, "consul traefik/");
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    // The reference lists two plugin configurations under one middleware name to show both
    // key shapes; that middleware alone is (rightly) rejected for having two types.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("http/middlewares/Middleware17:") && errors[0].contains("exactly one"),
        "{errors:#?}"
    );
    let http = decoded.config.http.unwrap();
    assert!(!http.routers.is_empty() && http.middlewares.len() >= 20);
    let tcp = decoded.config.tcp.unwrap();
    assert!(!tcp.routers.is_empty() && !tcp.services.is_empty());
    let tls = decoded.config.tls.unwrap();
    assert!(!tls.certificates.is_empty() && !tls.options.is_empty() && !tls.stores.is_empty());
    assert!(!decoded.config.udp.unwrap().routers.is_empty());
}

#[test]
fn merging_keeps_identical_and_drops_conflicting_objects() {
    let a = decode_dynamic(&from_yaml_str("http:\n  routers:\n    same: {rule: Path(`/`), service: s}\n    clash: {rule: Path(`/a`), service: s}\n").unwrap(), "a.yml");
    let b = decode_dynamic(&from_yaml_str("http:\n  routers:\n    same: {rule: Path(`/`), service: s}\n    clash: {rule: Path(`/b`), service: s}\n    only: {rule: Path(`/c`), service: s}\n").unwrap(), "b.yml");
    let merged = merge_all(vec![("a.yml".into(), a), ("b.yml".into(), b)]);
    let routers = &merged.config.http.as_ref().unwrap().routers;
    assert_eq!(routers.keys().collect::<Vec<_>>(), ["only", "same"]);
    assert_eq!(merged.errors.len(), 1);
    assert_eq!(merged.errors[0].origin, "a.yml, b.yml");
    assert_eq!(merged.errors[0].key, "http/routers/clash");
}

#[test]
fn bad_rules_are_object_errors() {
    let decoded = decode_yaml("http:\n  routers:\n    ok: {rule: Path(`/`), service: s}\n    bad: {rule: Hots(`a`), service: s}\n    none: {service: s}\n");
    let keys: Vec<&str> = decoded.errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["http/routers/bad/rule", "http/routers/none/rule"]);
    assert!(
        decoded.errors[0].message.contains("Hots"),
        "{}",
        decoded.errors[0]
    );
    assert_eq!(decoded.config.http.unwrap().routers.len(), 1);
}

#[test]
fn broken_objects_keep_their_last_good_version() {
    let before = decode_yaml("http:\n  routers:\n    a: {rule: Path(`/a`), service: s}\n    b: {rule: Path(`/b`), service: s}\n    c: {rule: Path(`/c`), service: s}\n  services:\n    s: {loadBalancer: {servers: [{url: 'http://x'}]}}\n");
    let mut after = decode_yaml("http:\n  routers:\n    a: {rule: Path(`/a2`), service: s}\n    b: {rule: Paht(`/b`), service: s}\n  services:\n    s: {loadBalancer: {servers: [{url: 'http://x'}], colour: red}}\n    new: {loadBalancer: {bogus: 1}}\n");
    keep_last_good(&before.config, &mut after);
    let http = after.config.http.as_ref().unwrap();
    assert_eq!(
        http.routers["a"].rule.as_deref(),
        Some("Path(`/a2`)"),
        "a valid change applies"
    );
    assert_eq!(
        http.routers["b"].rule.as_deref(),
        Some("Path(`/b`)"),
        "a broken change keeps the old version"
    );
    assert!(
        !http.routers.contains_key("c"),
        "a removed object is removed"
    );
    assert!(http.services.contains_key("s"));
    assert!(
        !http.services.contains_key("new"),
        "nothing to fall back to"
    );
    let messages: Vec<String> = after.errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0].contains("http/routers/b/rule")
            && messages[0].ends_with("its last good version stays in service"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("http/services/s/loadBalancer/colour")
            && messages[1].ends_with("stays in service"),
        "{messages:#?}"
    );
    assert!(!messages[2].contains("stays in service"), "{messages:#?}");
}

#[test]
fn an_error_with_nothing_to_restore_adds_no_empty_section() {
    let before = decode_yaml("tcp:\n  routers:\n    t: {rule: HostSNI(`*`), service: s}\n");
    let mut after = decode_yaml("http:\n  routers:\n    new: {rule: Paht(`/`), service: s}\n");
    keep_last_good(&before.config, &mut after);
    assert!(after.config.tcp.is_none(), "{:?}", after.config.tcp);
    assert!(!after.errors[0].message.contains("last good"));
}
