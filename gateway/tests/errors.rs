//! Answers the gateway writes itself (404, 502, 503, 504) and configuration objects that are
//! dropped alone when they are broken.

mod support;

use std::time::{Duration, Instant};
use support::*;

#[test]
fn no_router_is_404_page_not_found() {
    let backend = Backend::start("A");
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: Host(`known.test`)\n      service: s\n  \
         services:\n    s:\n      loadBalancer:\n        servers:\n          - url: {}\n",
        backend.url()
    );
    let gw = Gateway::start(&dynamic);
    for (method, target) in [("GET", "/"), ("GET", "/some/path?x=1"), ("POST", "/")] {
        let response = request(gw.web(), method, target, &[("Host", "unknown.test")]);
        assert_eq!(response.status, 404, "{method} {target}");
        assert_eq!(response.body, b"404 page not found\n", "{method} {target}");
        assert_eq!(
            response.header("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(response.header("Content-Length"), Some("19"));
    }
    // An empty dynamic configuration: everything is 404.
    let empty = Gateway::start("");
    let response = get(empty.web(), "/");
    assert_eq!(response.status, 404);
    assert_eq!(response.text(), "404 page not found\n");
    // The connection stays usable after a 404.
    let mut conn = Connection::open(gw.web()).unwrap();
    for _ in 0..3 {
        assert_eq!(conn.get("/nothing").unwrap().status, 404);
    }
    assert_eq!(
        conn.send("GET", "/", &[("Host", "known.test")])
            .unwrap()
            .backend()
            .as_deref(),
        Some("A")
    );
}

#[test]
fn service_without_servers_is_503() {
    let dynamic =
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: empty\n  \
                   services:\n    empty:\n      loadBalancer:\n        servers: []\n";
    let gw = Gateway::start(dynamic);
    let response = get(gw.web(), "/x");
    assert_eq!(response.status, 503);
    assert_eq!(response.text(), "no available server\n");
}

#[test]
fn refused_backend_is_502() {
    let closed = free_port();
    let gw = Gateway::start(&route_all_to(&format!("http://127.0.0.1:{closed}")));
    let started = Instant::now();
    let response = get(gw.web(), "/x");
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(response.text(), "Bad Gateway");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The gateway keeps serving.
    assert_eq!(get(gw.web(), "/y").status, 502);
}

#[test]
fn slow_backend_is_504_after_response_header_timeout() {
    let backend = Backend::start("slow");
    let dynamic = format!(
        r#"http:
  routers:
    r:
      rule: PathPrefix(`/`)
      service: s
  services:
    s:
      loadBalancer:
        serversTransport: slow
        servers:
          - url: {}
  serversTransports:
    slow:
      forwardingTimeouts:
        responseHeaderTimeout: 200ms
"#,
        backend.url()
    );
    let gw = Gateway::start(&dynamic);
    let started = Instant::now();
    let response = get(gw.web(), "/?wait=2s");
    let elapsed = started.elapsed();
    assert_eq!(response.status, 504, "{response:?}");
    assert_eq!(response.text(), "Gateway Timeout");
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_millis(1500),
        "504 after {elapsed:?}, expected ~200ms"
    );
    // A fast answer through the same transport still works.
    let fast = get(gw.web(), "/?wait=10ms");
    assert_eq!(fast.backend().as_deref(), Some("slow"), "{fast:?}");
}

#[test]
fn a_router_with_a_bad_rule_is_dropped_alone() {
    let backend = Backend::start("A");
    let dynamic = format!(
        r#"http:
  routers:
    goodRouter:
      rule: Path(`/good`)
      service: s
    badRule:
      rule: Path(`/bad`) &&
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: {}
"#,
        backend.url()
    );
    let gw = Gateway::start(&dynamic);
    assert_eq!(get(gw.web(), "/good").backend().as_deref(), Some("A"));
    let bad = get(gw.web(), "/bad");
    assert_eq!(bad.status, 404);
    assert_eq!(bad.text(), "404 page not found\n");
    let stderr = gw.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("badRule@file"))
        .unwrap_or_else(|| panic!("no ERROR line naming badRule@file:\n{stderr}"));
    assert!(line.contains("router"), "{line}");
    assert!(
        !stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("goodRouter")),
        "{stderr}"
    );
}

#[test]
fn a_service_with_an_unknown_field_drops_its_routers_only() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    fine:
      rule: Path(`/fine`)
      service: good
    broken-user:
      rule: Path(`/broken`)
      service: broken
  services:
    good:
      loadBalancer:
        servers:
          - url: {}
    broken:
      loadBalancer:
        passHostHeadr: false
        servers:
          - url: {}
"#,
        a.url(),
        b.url()
    );
    let gw = Gateway::start(&dynamic);
    assert_eq!(get(gw.web(), "/fine").backend().as_deref(), Some("A"));
    let broken = get(gw.web(), "/broken");
    assert_eq!(broken.status, 404, "{broken:?}");
    let stderr = gw.stderr();
    assert!(
        stderr.lines().any(|l| l.contains("ERROR")
            && l.contains("http/services/broken/loadBalancer/passHostHeadr")
            && l.contains("unknown field")),
        "no ERROR naming http/services/broken/loadBalancer/passHostHeadr:\n{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("services/good")),
        "{stderr}"
    );
}

#[test]
fn a_router_with_an_unknown_field_is_named() {
    let backend = Backend::start("A");
    let dynamic = format!(
        r#"http:
  routers:
    typo:
      rule: Path(`/typo`)
      servce: s
    ok:
      rule: Path(`/ok`)
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: {}
"#,
        backend.url()
    );
    let gw = Gateway::start(&dynamic);
    assert_eq!(get(gw.web(), "/ok").backend().as_deref(), Some("A"));
    assert_eq!(get(gw.web(), "/typo").status, 404);
    let stderr = gw.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("http/routers/typo/servce: unknown field")),
        "{stderr}"
    );
}
