//! Parity of `retry` and `circuitBreaker` where both proxies behave deterministically: a retry
//! past a dead server to the live one, a retry that runs out of attempts, breakers that trip at
//! their first answer and then answer their fallback, and a breaker refused for its expression.

use crate::harness::{get, request, Pair};
use crate::support::free_port;

fn config() -> String {
    let dead = format!("http://127.0.0.1:{}", free_port());
    format!(
        r#"http:
  routers:
    retried: {{rule: "PathPrefix(`/retried`)", service: dead-then-live, middlewares: [retry]}}
    exhausted: {{rule: "PathPrefix(`/exhausted`)", service: dead, middlewares: [retry3]}}
    network: {{rule: "PathPrefix(`/network`)", service: dead, middlewares: [network]}}
    codes: {{rule: "PathPrefix(`/codes`)", service: backend, middlewares: [codes]}}
    teapot: {{rule: "PathPrefix(`/teapot`)", service: dead, middlewares: [teapot]}}
    broken: {{rule: "PathPrefix(`/broken`)", service: backend, middlewares: [broken]}}
  middlewares:
    retry: {{retry: {{attempts: 2}}}}
    retry3: {{retry: {{attempts: 3, initialInterval: 10ms}}}}
    network: {{circuitBreaker: {{expression: "NetworkErrorRatio() > 0.1"}}}}
    codes: {{circuitBreaker: {{expression: "ResponseCodeRatio(200, 300, 0, 600) > 0.5 || LatencyAtQuantileMS(50.0) > 100000"}}}}
    teapot: {{circuitBreaker: {{expression: "NetworkErrorRatio() >= 1.0", responseCode: 418}}}}
    broken: {{circuitBreaker: {{expression: "Foo() > 0.5"}}}}
  services:
    backend: {{loadBalancer: {{servers: [{{url: "{{backend}}"}}]}}}}
    dead: {{loadBalancer: {{servers: [{{url: "{dead}"}}]}}}}
    dead-then-live: {{loadBalancer: {{servers: [{{url: "{dead}"}}, {{url: "{{backend}}"}}]}}}}
"#
    )
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn retry_moves_past_a_dead_server_like_traefik() {
    let pair = Pair::start(&config(), "");
    pair.assert_same(&[
        get("/retried/a", "x", &[]),
        get("/retried/b?q=1", "x", &[]),
        request(
            "POST",
            "/retried/c",
            "x",
            &[("Content-Type", "text/plain")],
            b"the body",
        ),
        request("PUT", "/retried/d", "x", &[], &[b'z'; 70_000]),
        get("/retried/e", "x", &[]),
        get("/exhausted", "x", &[]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn breakers_trip_and_answer_their_fallback_like_traefik() {
    let pair = Pair::start(&config(), "");
    pair.assert_same(&[
        get("/network", "x", &[]),
        get("/network", "x", &[]),
        get("/network/again", "x", &[]),
        get("/codes", "x", &[]),
        get("/codes", "x", &[]),
        get("/teapot", "x", &[]),
        get("/teapot", "x", &[]),
        request("POST", "/teapot", "x", &[], b"ignored"),
        get("/broken", "x", &[]),
    ]);
}
