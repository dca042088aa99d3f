//! Differential test: the same Traefik v3 file-provider configuration served by a real Traefik
//! (built from the Go module proxy by scripts/install-traefik) and by the gateway, the same
//! requests sent to both, and every answer compared: status, which backend answered, the
//! request line and Host the backend saw, the forwarded headers, and the bodies of errors.
//!
//! It is `#[ignore]`d, so a plain `cargo test` reports it as ignored rather than passing it
//! unrun where Traefik cannot be built (no Go toolchain); `scripts/test` (CI) runs it with
//! `--ignored`, and there a Traefik that cannot be built fails it.

mod support;

use std::net::SocketAddr;
use support::traefik::{start_traefik, traefik_binary};
use support::*;

/// What is compared of one answer.
#[derive(Debug, PartialEq)]
struct Observed {
    status: u16,
    backend: Option<String>,
    request_line: Option<String>,
    forwarded: Vec<(String, Vec<String>)>,
    error_body: Option<String>,
}

const COMPARED_HEADERS: [&str; 12] = [
    "Host",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Real-Ip",
    "X-Custom",
    "Connection",
    "Keep-Alive",
    "X-Secret",
    "Proxy-Authorization",
    "Te",
];

fn observe(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Observed {
    let response = try_request(addr, method, target, headers)
        .unwrap_or_else(|e| panic!("{method} {target} {headers:?} to {addr}: {e}"));
    let echo = Echo::parse(&response.text());
    match echo {
        Some(echo) => Observed {
            status: response.status,
            backend: Some(echo.name.clone()),
            request_line: Some(echo.request_line.clone()),
            forwarded: COMPARED_HEADERS
                .iter()
                .map(|name| {
                    let values = echo
                        .header_all(name)
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    (name.to_string(), values)
                })
                .collect(),
            error_body: None,
        },
        None => Observed {
            status: response.status,
            backend: None,
            request_line: None,
            forwarded: Vec::new(),
            error_body: Some(response.text()),
        },
    }
}

fn dynamic_config(backends: &[(&str, String)], dead: u16) -> String {
    let mut yaml = String::from(
        r#"http:
  routers:
    host-a: {rule: "Host(`a.test`)", service: A}
    host-a-api: {rule: "Host(`a.test`) && PathPrefix(`/api`)", service: B}
    host-regexp: {rule: "HostRegexp(`^[a-z]+\\.regex\\.test$`)", service: C}
    exact: {rule: "Path(`/exact`)", service: D}
    products: {rule: "PathPrefix(`/products`)", service: E}
    items: {rule: "PathRegexp(`^/items/[0-9]+$`)", service: F}
    method-post: {rule: "Method(`POST`) && PathPrefix(`/m`)", service: A}
    method-any: {rule: "PathPrefix(`/m`)", service: B}
    header: {rule: "Header(`X-Env`, `staging`) && PathPrefix(`/h`)", service: C}
    header-regexp: {rule: "HeaderRegexp(`X-Ver`, `^v[0-9]+$`) && PathPrefix(`/h`)", service: D}
    query: {rule: "Query(`mode`, `fast`) && PathPrefix(`/q`)", service: E}
    query-flag: {rule: "Query(`flag`) && PathPrefix(`/q`)", service: F}
    query-regexp: {rule: "QueryRegexp(`id`, `^[0-9]{3}$`) && PathPrefix(`/q`)", service: A}
    client-local: {rule: "ClientIP(`127.0.0.0/8`) && PathPrefix(`/ip`)", service: B}
    client-private: {rule: "ClientIP(`10.0.0.0/8`) && PathPrefix(`/ip`)", priority: 1000, service: C}
    negation: {rule: "PathPrefix(`/not`) && !Method(`GET`)", service: D}
    either: {rule: "Path(`/or1`) || Path(`/or2`)", service: E}
    priority-low: {rule: "PathPrefix(`/prio`)", priority: 10, service: F}
    priority-lower: {rule: "PathPrefix(`/prio/x`)", priority: 5, service: A}
    encoded: {rule: "Path(`/a%2Fb`)", service: B}
    plain: {rule: "Path(`/c/d`)", service: C}
    grouped: {rule: "(Path(`/p1`) || Path(`/p2`)) && Method(`GET`)", service: D}
    empty: {rule: "PathPrefix(`/empty`)", service: nothing}
    dead: {rule: "PathPrefix(`/dead`)", service: dead}
    no-host: {rule: "PathPrefix(`/nohost`)", service: nohost}
    preserved: {rule: "PathPrefix(`/keep`)", service: preserved}
    slow: {rule: "PathPrefix(`/slow`)", service: slow}
  serversTransports:
    impatient:
      forwardingTimeouts: {responseHeaderTimeout: 300ms}
  services:
    nothing: {loadBalancer: {servers: []}}
"#,
    );
    for (name, url) in backends {
        yaml.push_str(&format!(
            "    {name}: {{loadBalancer: {{servers: [{{url: \"{url}\"}}]}}}}\n"
        ));
    }
    let a = &backends[0].1;
    yaml.push_str(&format!(
        "    dead: {{loadBalancer: {{servers: [{{url: \"http://127.0.0.1:{dead}\"}}]}}}}\n    nohost: {{loadBalancer: {{passHostHeader: false, servers: [{{url: \"{a}\"}}]}}}}\n    preserved: {{loadBalancer: {{servers: [{{url: \"{a}/base\", preservePath: true}}]}}}}\n    slow: {{loadBalancer: {{serversTransport: impatient, servers: [{{url: \"{a}\"}}]}}}}\n"
    ));
    yaml
}

/// A request sent to both proxies: method, target, headers.
type Probe = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// The requests sent to both proxies.
fn requests() -> Vec<Probe> {
    let host = |h: &'static str| vec![("Host", h)];
    vec![
        ("GET", "/", host("a.test")),
        ("GET", "/", host("A.TEST")),
        ("GET", "/", host("a.test:8080")),
        ("GET", "/", host("a.test.")),
        ("GET", "/api/users", host("a.test")),
        ("GET", "/apix", host("a.test")),
        ("GET", "/", host("b.test")),
        ("GET", "/", host("www.regex.test")),
        ("GET", "/", host("WWW.REGEX.TEST")),
        ("GET", "/", host("w1.regex.test")),
        ("GET", "/exact", host("x")),
        ("GET", "/exact/", host("x")),
        ("GET", "/%65xact", host("x")),
        ("GET", "/a/../exact", host("x")),
        ("GET", "//exact", host("x")),
        ("GET", "/./exact", host("x")),
        ("GET", "/products", host("x")),
        ("GET", "/products-for-sale?x=1", host("x")),
        ("GET", "/PRODUCTS", host("x")),
        ("GET", "/items/42", host("x")),
        ("GET", "/items/42/x", host("x")),
        ("GET", "/items/%34%32", host("x")),
        ("GET", "/a/%2e%2e/exact", host("x")),
        ("GET", "/EXACT", host("x")),
        ("POST", "/m", host("x")),
        ("GET", "/m", host("x")),
        ("DELETE", "/m/x", host("x")),
        ("GET", "/h", vec![("Host", "x"), ("X-Env", "staging")]),
        ("GET", "/h", vec![("Host", "x"), ("x-env", "staging")]),
        ("GET", "/h", vec![("Host", "x"), ("X-Env", "prod")]),
        (
            "GET",
            "/h",
            vec![("Host", "x"), ("X-Env", "prod"), ("X-Env", "staging")],
        ),
        ("GET", "/h", vec![("Host", "x"), ("X-Env", "prod, staging")]),
        ("GET", "/h", vec![("Host", "x"), ("X-Ver", "v12")]),
        ("GET", "/h", vec![("Host", "x"), ("X-Ver", "12")]),
        ("GET", "/q?mode=fast", host("x")),
        ("GET", "/q?mode=slow", host("x")),
        ("GET", "/q?flag", host("x")),
        ("GET", "/q?flag=", host("x")),
        ("GET", "/q?flag=1", host("x")),
        ("GET", "/q?id=123", host("x")),
        ("GET", "/q?id=1234", host("x")),
        ("GET", "/q?a=1;mode=fast", host("x")),
        ("GET", "/q?mode=f%61st", host("x")),
        ("GET", "/ip", host("x")),
        ("GET", "/not", host("x")),
        ("PUT", "/not", host("x")),
        ("GET", "/or1", host("x")),
        ("GET", "/or2", host("x")),
        ("GET", "/or3", host("x")),
        ("GET", "/prio/x", host("x")),
        ("GET", "/a%2Fb", host("x")),
        ("GET", "/a%2fb", host("x")),
        ("GET", "/a/b", host("x")),
        ("GET", "/c%2Fd", host("x")),
        ("GET", "/c/d", host("x")),
        ("GET", "/p1", host("x")),
        ("POST", "/p2", host("x")),
        ("GET", "/empty", host("x")),
        ("GET", "/dead", host("x")),
        ("GET", "/nohost/x?y=1", host("x")),
        ("GET", "/keep/x?y=1", host("x")),
        ("GET", "/slow?wait=2s", host("x")),
        ("GET", "/slow?wait=10ms", host("x")),
        ("GET", "/nothing-here", host("x")),
        ("HEAD", "/nothing-here", host("x")),
        (
            "GET",
            "/exact",
            vec![
                ("Host", "x"),
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Real-Ip", "6.6.6.6"),
                ("X-Forwarded-Proto", "https"),
                ("X-Custom", "kept"),
            ],
        ),
        (
            "GET",
            "/exact",
            vec![
                ("Host", "x"),
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Authorization", "Basic eA=="),
                ("TE", "trailers"),
            ],
        ),
        (
            "GET",
            "/exact",
            vec![("Host", "x:9999"), ("X-Forwarded-Host", "evil")],
        ),
    ]
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn routes_and_answers_like_traefik() {
    let binary = traefik_binary();
    let names = ["A", "B", "C", "D", "E", "F"];
    let backends: Vec<Backend> = names.iter().map(|n| Backend::start(n)).collect();
    let urls: Vec<(&str, String)> = names
        .iter()
        .zip(&backends)
        .map(|(n, b)| (*n, b.url()))
        .collect();
    let dynamic = dynamic_config(&urls, free_port());

    let traefik = start_traefik(&binary, &dynamic);
    let gateway = Gateway::start(&dynamic);

    let mut differences = Vec::new();
    let requests = requests();
    for (method, target, headers) in &requests {
        let expected = observe(local(traefik.port), method, target, headers);
        let actual = observe(gateway.web(), method, target, headers);
        if expected != actual {
            differences.push(format!(
                "{method} {target} {headers:?}\n  traefik: {expected:?}\n  gateway: {actual:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} requests answered differently:\n{}",
        differences.len(),
        requests.len(),
        differences.join("\n")
    );
}

/// The request line and header lines of the last request `backend` received, headers sorted;
/// `Accept-Encoding: gzip`, which Go's transport adds to requests without one (and undoes on
/// the answer), is left out.
fn last_request_on_the_wire(backend: &testkit::RecordingBackend) -> (String, Vec<String>) {
    let requests = backend.requests_text();
    let last = requests.last().expect("the backend received the request");
    let head = last.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<String> = lines
        .filter(|l| !l.eq_ignore_ascii_case("accept-encoding: gzip"))
        .map(str::to_string)
        .collect();
    headers.sort();
    (request_line, headers)
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn forwards_the_same_bytes_as_traefik() {
    let binary = traefik_binary();
    let backend = testkit::RecordingBackend::start();
    let dynamic = route_all_to(&backend.url());
    let traefik = start_traefik(&binary, &dynamic);
    let gateway = Gateway::start(&dynamic);
    let probes: [&[u8]; 7] = [
        b"GET /p?q=1 HTTP/1.1\r\nHost: fwd.test:8443\r\n\r\n",
        b"GET /a/./b/../c//d HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\n\r\n",
        b"GET /k HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret, content-length\r\nX-Secret: 1\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\n\r\n",
        b"GET http://abs.test/x?y=1 HTTP/1.1\r\nHost: abs.test\r\n\r\n",
        b"GET http://abs.test:81/z HTTP/1.0\r\n\r\n",
        "GET /caf\u{e9}/%7e%2fx?q=\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes(),
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Custom: kept\r\n\r\nhello",
    ];
    let mut differences = Vec::new();
    for probe in probes {
        let before = backend.requests().len();
        let _ = raw_request(local(traefik.port), probe);
        wait_until(START_TIMEOUT, || backend.requests().len() > before);
        let expected = last_request_on_the_wire(&backend);
        let before = backend.requests().len();
        let _ = raw_request(gateway.web(), probe);
        wait_until(START_TIMEOUT, || backend.requests().len() > before);
        let actual = last_request_on_the_wire(&backend);
        if expected != actual {
            differences.push(format!(
                "{}\n  traefik: {expected:?}\n  gateway: {actual:?}",
                String::from_utf8_lossy(probe).escape_debug()
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} requests reached the backend differently:\n{}",
        differences.len(),
        probes.len(),
        differences.join("\n")
    );
}
