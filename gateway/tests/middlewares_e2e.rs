//! Middlewares end to end where parity with Traefik is not the question: configured in Consul
//! KV and edited live, referenced across providers (`name@file` from Consul), and a broken
//! middleware disabling only the routers that use it, with its reason in the log and the API.

mod support;

use std::time::Duration;
use support::consul::*;
use support::*;
use testkit::{ConsulAgent, Storage};

/// The request line the whoami backend saw for `GET target`.
fn forwarded_line(gw: &Gateway, target: &str) -> Option<String> {
    try_request(gw.web(), "GET", target, &[])
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| Echo::parse(&r.text()))
        .map(|e| e.request_line)
}

#[test]
fn middlewares_in_consul_kv_apply_and_reload_live() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "app", "PathPrefix(`/app`)", &a);
    route(&kv, "other", "PathPrefix(`/other`)", &a);
    kv.put_all(&[
        (
            "traefik/http/routers/app/middlewares/0",
            "strip".to_string(),
        ),
        (
            "traefik/http/middlewares/strip/stripPrefix/prefixes/0",
            "/app".to_string(),
        ),
        (
            "traefik/http/routers/other/middlewares/0",
            "add@file".to_string(),
        ),
    ]);
    let file = "http:\n  middlewares:\n    add: {addPrefix: {prefix: /from-file}}\n";
    let gw = consul_gateway(&agent, file);
    assert!(
        wait_until(Duration::from_secs(5), || forwarded_line(&gw, "/app/x")
            .as_deref()
            == Some("GET /x HTTP/1.1")),
        "a middleware from Consul KV applies: {:?}\n{}",
        forwarded_line(&gw, "/app/x"),
        gw.stderr()
    );
    assert_eq!(
        forwarded_line(&gw, "/other/y").as_deref(),
        Some("GET /from-file/other/y HTTP/1.1"),
        "a Consul router uses a middleware of the file provider by its qualified name"
    );

    kv.put(
        "traefik/http/middlewares/strip/stripPrefix/prefixes/0",
        "/ap",
    );
    assert!(
        wait_until(Duration::from_secs(5), || forwarded_line(&gw, "/app/x")
            .as_deref()
            == Some("GET /p/x HTTP/1.1")),
        "an edited middleware key goes live: {:?}",
        forwarded_line(&gw, "/app/x")
    );

    // A change that cannot be decoded (two types in one middleware) is rejected: the last
    // good version of the middleware stays in service, and the API shows the rejected change.
    kv.put("traefik/http/middlewares/strip/addPrefix/prefix", "/z");
    assert!(
        gw.wait_for_stderr(
            "middleware strip@consul: consul traefik/http/middlewares/strip: middleware has 2 types",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(
        forwarded_line(&gw, "/app/x").as_deref(),
        Some("GET /p/x HTTP/1.1")
    );
    let api: serde_json::Value =
        serde_json::from_str(&get(gw.addr("traefik"), "/api/http/middlewares/strip@consul").text())
            .unwrap();
    assert_eq!(api["status"], "warning", "{api}");
    kv.delete("traefik/http/middlewares/strip/addPrefix/prefix");

    // A middleware whose values are refused disables the routers that use it, alone.
    route(&kv, "third", "PathPrefix(`/third`)", &a);
    kv.put_all(&[
        (
            "traefik/http/routers/third/middlewares/0",
            "empty".to_string(),
        ),
        (
            "traefik/http/middlewares/empty/addPrefix/prefix",
            String::new(),
        ),
    ]);
    assert!(
        gw.wait_for_stderr(
            "router third@consul: middleware \"empty@consul\": prefix cannot be empty",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(status_of(&gw, "/third"), 404);
    let api: serde_json::Value =
        serde_json::from_str(&get(gw.addr("traefik"), "/api/http/middlewares/empty@consul").text())
            .unwrap();
    assert_eq!(api["status"], "disabled", "{api}");
    assert_eq!(
        forwarded_line(&gw, "/other/y").as_deref(),
        Some("GET /from-file/other/y HTTP/1.1"),
        "every other router keeps serving"
    );
    assert_eq!(
        forwarded_line(&gw, "/app/x").as_deref(),
        Some("GET /p/x HTTP/1.1")
    );
}
