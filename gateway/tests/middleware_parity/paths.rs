//! Parity of the path middlewares: addPrefix, stripPrefix, replacePath, and chains of them,
//! on routers and on the entrypoint.

use crate::harness::{get, Pair};

const CONFIG: &str = r#"http:
  routers:
    add: {rule: "PathPrefix(`/add`)", service: backend, middlewares: [add-api]}
    strip: {rule: "PathPrefix(`/strip`)", service: backend, middlewares: [strip]}
    replace: {rule: "PathPrefix(`/replace`)", service: backend, middlewares: [replace]}
    chained: {rule: "PathPrefix(`/chained`)", service: backend, middlewares: [both]}
    broken: {rule: "PathPrefix(`/broken`)", service: backend, middlewares: [nowhere]}
  middlewares:
    add-api: {addPrefix: {prefix: /api}}
    strip: {stripPrefix: {prefixes: [/strip/deeper, /strip]}}
    replace: {replacePath: {path: /replaced}}
    both: {chain: {middlewares: [strip-chained, add-api]}}
    strip-chained: {stripPrefix: {prefixes: [/chained]}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
"#;

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn path_middlewares_rewrite_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        get("/add/x?q=1", "x", &[]),
        get("/add%2Fy", "x", &[]),
        get("/strip", "x", &[]),
        get("/strip/", "x", &[]),
        get("/strip/a/b?q=2", "x", &[]),
        get("/strip/deeper/z", "x", &[]),
        get("/stripped", "x", &[]),
        get("/strip/a%2Fb", "x", &[("X-Forwarded-Prefix", "/client")]),
        get("/replace/old?q=3", "x", &[]),
        get("/replace/%C3%A9", "x", &[]),
        get("/chained/in", "x", &[]),
        get("/broken", "x", &[]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn entry_point_middlewares_run_before_the_routers() {
    let pair = Pair::start(CONFIG, "http:\n  middlewares: [strip-chained@file]");
    pair.assert_same(&[
        get("/chained/add/x", "x", &[]),
        get("/chained/strip/y", "x", &[]),
        get("/add/z", "x", &[]),
    ]);
}
