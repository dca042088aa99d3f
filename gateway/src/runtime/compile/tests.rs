//! Tests of compilation: references, unsupported features and error isolation.

use super::*;
use crate::runtime::status::ObjectStatus;
use control::decode::from_yaml_str;
use control::dynamic_decode::decode_dynamic;

fn compile_yaml(yaml: &str) -> Snapshot {
    let decoded = decode_dynamic(&from_yaml_str(yaml).unwrap(), "dyn.yml");
    let context = CompileContext {
        entry_points: vec!["web".into(), "admin".into()],
        default_entry_points: vec!["web".into()],
        ..Default::default()
    };
    compile(
        &context,
        &[("file".into(), Arc::new(decoded))],
        &mut crate::runtime::Carryover::default(),
    )
}

fn object<'a>(snapshot: &'a Snapshot, kind: ObjectKind, name: &str) -> &'a ObjectStatus {
    snapshot
        .status
        .objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name}: {:#?}", snapshot.status.objects))
}

const SERVICES: &str = "
  services:
    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}
    loop-a: {weighted: {services: [{name: loop-b}]}}
    loop-b: {weighted: {services: [{name: loop-a}]}}
    mirror: {mirroring: {service: svc}}
    checked: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}], healthCheck: {path: /health}}}
";

#[test]
fn each_router_fails_alone_with_its_reason() {
    let snapshot = compile_yaml(&format!(
        "http:
  routers:
    ok: {{rule: Path(`/ok`), service: svc}}
    missing: {{rule: Path(`/m`), service: nope}}
    cycle: {{rule: Path(`/c`), service: loop-a}}
    mirrored: {{rule: Path(`/x`), service: mirror}}
    guarded: {{rule: Path(`/g`), service: svc, middlewares: [auth]}}
    tls: {{rule: Path(`/t`), service: svc, tls: {{}}}}
    elsewhere: {{rule: Path(`/e`), service: svc, entryPoints: [admin, ghost]}}
    checked: {{rule: Path(`/h`), service: checked}}
  middlewares:
    auth: {{basicAuth: {{users: ['u:p:x']}}}}
{SERVICES}"
    ));
    let status = |name: &str| object(&snapshot, ObjectKind::Router, name);
    assert_eq!(status("ok@file").status, "enabled");
    assert_eq!(status("ok@file").links, ["web"]);
    assert_eq!(
        status("missing@file").error,
        [r#"service "nope@file": does not exist"#]
    );
    assert!(
        status("cycle@file").error[0].contains("cycle"),
        "{:?}",
        status("cycle@file")
    );
    assert!(
        status("mirrored@file").error[0].contains("mirroring is not supported"),
        "{:?}",
        status("mirrored@file")
    );
    assert!(
        status("guarded@file").error[0].contains("error parsing BasicUser: u:p:x"),
        "{:?}",
        status("guarded@file")
    );
    assert!(status("tls@file").error[0].contains("TLS"));
    assert_eq!(status("elsewhere@file").status, "warning");
    assert_eq!(
        status("elsewhere@file").error,
        [r#"entryPoint "ghost" doesn't exist"#]
    );
    assert_eq!(status("elsewhere@file").links, ["admin"]);
    assert_eq!(status("checked@file").status, "enabled");
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "checked@file").status,
        "warning"
    );
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "svc@file").links,
        ["elsewhere@file", "guarded@file", "ok@file", "tls@file"]
    );
    assert_eq!(
        object(&snapshot, ObjectKind::Middleware, "auth@file").status,
        "disabled"
    );

    assert_eq!(snapshot.table(0).unwrap().len(), 2, "ok and checked on web");
    assert_eq!(snapshot.table(1).unwrap().len(), 1, "elsewhere on admin");
}

#[test]
fn decode_errors_show_as_disabled_objects() {
    let snapshot = compile_yaml("http:\n  routers:\n    bad: {rule: Hots(`a`), service: svc}\n  services:\n    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n    odd: {loadBalancer: {colour: red}}\nhtp: {}\n");
    let bad = object(&snapshot, ObjectKind::Router, "bad@file");
    assert_eq!(bad.status, "disabled");
    assert!(
        bad.error[0].starts_with("dyn.yml: http/routers/bad/rule: "),
        "{bad:?}"
    );
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "odd@file").status,
        "disabled"
    );
    assert_eq!(
        snapshot.status.decode_errors.len(),
        1,
        "the unknown section"
    );
    assert_eq!(snapshot.status.decode_errors[0].key, "htp");
}

#[test]
fn references_can_name_their_provider() {
    let snapshot = compile_yaml("http:\n  routers:\n    r: {rule: Path(`/`), service: svc@file}\n    s: {rule: Path(`/s`), service: svc@other}\n  services:\n    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n");
    assert_eq!(
        object(&snapshot, ObjectKind::Router, "r@file").status,
        "enabled"
    );
    assert_eq!(
        object(&snapshot, ObjectKind::Router, "s@file").error,
        [r#"service "svc@other": does not exist"#]
    );
}

#[test]
fn bad_server_urls_and_transports_disable_their_service() {
    let snapshot = compile_yaml("http:\n  services:\n    a: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}, {url: 'nope:80'}]}}\n    b: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}], serversTransport: ghost}}\n    c: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}], serversTransport: st}}\n  serversTransports:\n    st: {forwardingTimeouts: {dialTimeout: 1s}}\n");
    assert!(object(&snapshot, ObjectKind::Service, "a@file").error[0].starts_with("servers/1: "));
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "b@file").error,
        [r#"serversTransport "ghost@file" does not exist"#]
    );
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "c@file").status,
        "enabled"
    );
}

#[test]
fn max_idle_conns_per_host_reads_as_go_reads_it() {
    let settings = |json: &str| {
        let transport: ServersTransport = serde_json::from_str(json).unwrap();
        transport_settings(&transport).unwrap()
    };
    assert_eq!(
        settings("{}").max_idle_per_server,
        200,
        "unset: Traefik's 200"
    );
    let idle = |n: i64| settings(&format!(r#"{{"maxIdleConnsPerHost": {n}}}"#)).max_idle_per_server;
    assert_eq!(idle(7), 7);
    assert_eq!(idle(0), 2, "0: Go's default");
    assert_eq!(idle(-1), 0, "negative: none kept");
    let timeouts = settings(r#"{"forwardingTimeouts": {"responseHeaderTimeout": "500ms"}}"#);
    assert_eq!(
        timeouts.response_header_timeout,
        Some(std::time::Duration::from_millis(500))
    );
}

#[test]
fn a_server_whose_name_does_not_resolve_keeps_its_service() {
    let snapshot = compile_yaml("http:\n  services:\n    s: {loadBalancer: {servers: [{url: 'http://no-such-host.invalid:80'}, {url: 'http://127.0.0.1:1'}]}}\n");
    assert_eq!(
        object(&snapshot, ObjectKind::Service, "s@file").status,
        "enabled"
    );
}

#[test]
fn round_robin_continues_across_a_reload_that_leaves_its_service_alone() {
    let context = CompileContext {
        entry_points: vec!["web".into()],
        default_entry_points: vec!["web".into()],
        ..Default::default()
    };
    let config = |other_rule: &str| {
        let yaml = format!(
            "http:
  routers:
    r: {{rule: Path(`/`), service: s}}
    other: {{rule: Path(`{other_rule}`), service: s}}
  services:
    s: {{loadBalancer: {{servers: [{{url: 'http://127.0.0.1:1'}}, {{url: 'http://127.0.0.1:2'}}]}}}}
"
        );
        vec![(
            "file".to_string(),
            Arc::new(decode_dynamic(&from_yaml_str(&yaml).unwrap(), "dyn.yml")),
        )]
    };
    let pick = |snapshot: &Snapshot| {
        let headers = http::HeaderMap::new();
        let view = control::rule::RequestView {
            host: "",
            method: &http::Method::GET,
            path: "/",
            query: "",
            headers: &headers,
            client_ip: None,
        };
        let route = snapshot.table(0).unwrap().find(&view).unwrap();
        route.service.pick().unwrap().upstream.url.clone()
    };
    let mut carryover = crate::runtime::Carryover::default();
    let before = compile(&context, &config("/a"), &mut carryover);
    assert_eq!(pick(&before), "http://127.0.0.1:1");
    let after = compile(&context, &config("/b"), &mut carryover);
    assert_eq!(pick(&after), "http://127.0.0.1:2", "the rotation went on");
    let changed_weights = "http:
  routers:
    r: {rule: Path(`/`), service: s}
  services:
    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1', weight: 2}, {url: 'http://127.0.0.1:2'}]}}
";
    let decoded = decode_dynamic(&from_yaml_str(changed_weights).unwrap(), "dyn.yml");
    let reweighted = compile(
        &context,
        &[("file".into(), Arc::new(decoded))],
        &mut carryover,
    );
    assert_eq!(
        pick(&reweighted),
        "http://127.0.0.1:1",
        "new weights start afresh"
    );
}

#[test]
fn a_middleware_that_fails_disables_only_the_routers_that_use_it() {
    let snapshot = compile_yaml(
        "http:
  routers:
    plain: {rule: Path(`/p`), service: svc}
    prefixed: {rule: Path(`/a`), service: svc, middlewares: [add]}
    broken: {rule: Path(`/b`), service: svc, middlewares: [add, empty]}
    unknown: {rule: Path(`/u`), service: svc, middlewares: [nope]}
    looped: {rule: Path(`/l`), service: svc, middlewares: [loop-a]}
    doubled: {rule: Path(`/d`), service: svc, middlewares: [two]}
    elsewhere: {rule: Path(`/e`), service: svc, middlewares: [add@other]}
  middlewares:
    add: {addPrefix: {prefix: /x}}
    empty: {addPrefix: {prefix: ''}}
    loop-a: {chain: {middlewares: [loop-b]}}
    loop-b: {chain: {middlewares: [loop-a]}}
    two: {addPrefix: {prefix: /x}, stripPrefix: {prefixes: [/y]}}
  services:
    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}
",
    );
    let router = |name: &str| object(&snapshot, ObjectKind::Router, name);
    let middleware = |name: &str| object(&snapshot, ObjectKind::Middleware, name);
    assert_eq!(router("plain@file").status, "enabled");
    assert_eq!(router("prefixed@file").status, "enabled");
    assert_eq!(
        router("broken@file").error,
        [r#"middleware "empty@file": prefix cannot be empty"#]
    );
    assert_eq!(middleware("empty@file").error, ["prefix cannot be empty"]);
    assert_eq!(middleware("add@file").status, "enabled");
    assert_eq!(
        router("unknown@file").error,
        [r#"middleware "nope@file" does not exist"#]
    );
    assert_eq!(
        router("elsewhere@file").error,
        [r#"middleware "add@other" does not exist"#]
    );
    assert!(
        router("looped@file").error[0].contains(
            "recursion detected in middleware:loop-a@file->middleware:loop-b@file->middleware:loop-a@file"
        ),
        "{:?}",
        router("looped@file")
    );
    assert_eq!(middleware("loop-b@file").status, "disabled");
    assert!(
        middleware("two@file").error[0].contains("addPrefix"),
        "{:?}",
        middleware("two@file")
    );
    assert_eq!(router("doubled@file").status, "disabled");
    assert_eq!(
        snapshot.table(0).unwrap().len(),
        2,
        "plain and prefixed serve"
    );
}

#[test]
fn entry_point_middlewares_split_routers_per_entry_point_as_traefik_models_do() {
    let decoded = decode_dynamic(
        &from_yaml_str(
            "http:
  routers:
    both: {rule: Path(`/b`), service: svc, entryPoints: [web, admin]}
    one: {rule: Path(`/o`), service: svc, entryPoints: [web]}
    plain: {rule: Path(`/p`), service: svc, entryPoints: [admin]}
  middlewares:
    add: {addPrefix: {prefix: /x}}
  services:
    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}
",
        )
        .unwrap(),
        "dyn.yml",
    );
    let context = CompileContext {
        entry_points: vec!["web".into(), "admin".into()],
        default_entry_points: vec!["web".into()],
        entry_point_middlewares: [("web".to_string(), vec!["add".to_string()])].into(),
    };
    let snapshot = compile(
        &context,
        &[("file".into(), Arc::new(decoded))],
        &mut crate::runtime::Carryover::default(),
    );
    let router = |name: &str| object(&snapshot, ObjectKind::Router, name);
    assert_eq!(router("web-both@file").links, ["web"]);
    assert_eq!(router("both@file").links, ["admin"]);
    assert_eq!(router("one@file").links, ["web"]);
    assert_eq!(router("plain@file").links, ["admin"]);
    let web = snapshot.table(0).unwrap();
    let admin = snapshot.table(1).unwrap();
    assert_eq!(web.len(), 2);
    assert_eq!(admin.len(), 2);
    assert_eq!(
        object(&snapshot, ObjectKind::Middleware, "add@file").status,
        "enabled"
    );
}
