//! What the backend receives: X-Forwarded-* / X-Real-Ip for trusted and untrusted clients,
//! hop-by-hop header removal (as the raw bytes a recording backend received), absolute-form
//! request targets.

mod support;

use support::*;
use testkit::RecordingBackend;

const SPOOFED: &[(&str, &str)] = &[
    ("X-Forwarded-For", "1.2.3.4"),
    ("X-Real-Ip", "1.2.3.4"),
    ("X-Forwarded-Host", "spoofed.test"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Port", "9999"),
    ("X-Forwarded-Server", "spoofed-server"),
];

fn with_host<'a>(host: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("Host", host)];
    headers.extend_from_slice(extra);
    headers
}

#[test]
fn untrusted_client_forwarded_headers_are_replaced() {
    let backend = Backend::start("A");
    let gw = Gateway::builder()
        .entry_point("web", "")
        // A trusted network that does not contain 127.0.0.1.
        .entry_point(
            "othernet",
            "forwardedHeaders:\n  trustedIPs: [10.0.0.0/8, 192.168.1.1]",
        )
        .dynamic(&route_all_to(&backend.url()))
        .start();
    for entry_point in ["web", "othernet"] {
        let response = request(
            gw.addr(entry_point),
            "GET",
            "/fwd",
            &with_host("fwd.test", SPOOFED),
        );
        let echo = response.echo();
        assert_eq!(
            echo.header_all("X-Forwarded-For"),
            ["127.0.0.1"],
            "{entry_point}: {echo:#?}"
        );
        assert_eq!(echo.header_all("X-Real-Ip"), ["127.0.0.1"], "{entry_point}");
        assert_eq!(
            echo.header_all("X-Forwarded-Host"),
            ["fwd.test"],
            "{entry_point}"
        );
        assert_eq!(
            echo.header_all("X-Forwarded-Proto"),
            ["http"],
            "{entry_point}"
        );
        assert_eq!(echo.header_all("X-Forwarded-Port"), ["80"], "{entry_point}");
        assert_eq!(
            echo.header_all("X-Forwarded-Server"),
            [echo.hostname.as_str()],
            "{entry_point}: X-Forwarded-Server is the gateway's host name"
        );
        assert!(!echo.hostname.is_empty());
        assert_eq!(echo.header_all("Host"), ["fwd.test"]);
    }
}

#[test]
fn forwarded_header_values() {
    let backend = Backend::start("A");
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let web = gw.web();
    let echo = get_host(web, "fwd.test:8443", "/p?q=1").echo();
    assert_eq!(echo.request_line, "GET /p?q=1 HTTP/1.1");
    assert_eq!(echo.header_all("X-Forwarded-Host"), ["fwd.test:8443"]);
    assert_eq!(echo.header_all("X-Forwarded-Port"), ["8443"]);
    assert_eq!(echo.header_all("X-Forwarded-Proto"), ["http"]);
    assert_eq!(echo.header_all("X-Forwarded-For"), ["127.0.0.1"]);
    assert_eq!(echo.header_all("X-Real-Ip"), ["127.0.0.1"]);
    assert_eq!(
        echo.header_all("X-Forwarded-Server"),
        [echo.hostname.as_str()]
    );
    let echo = get_host(web, "plain.test", "/").echo();
    assert_eq!(echo.header_all("X-Forwarded-Host"), ["plain.test"]);
    assert_eq!(echo.header_all("X-Forwarded-Port"), ["80"]);
}

#[test]
fn trusted_client_forwarded_headers_are_kept() {
    let backend = Backend::start("A");
    let gw = Gateway::builder()
        .entry_point("trusted", "forwardedHeaders:\n  trustedIPs: [127.0.0.1]")
        .entry_point(
            "cidr",
            "forwardedHeaders:\n  trustedIPs: [\"10.0.0.0/8\", \"127.0.0.0/8\"]",
        )
        .entry_point("insecure", "forwardedHeaders:\n  insecure: true")
        .dynamic(&route_all_to(&backend.url()))
        .start();
    for entry_point in ["trusted", "cidr", "insecure"] {
        let addr = gw.addr(entry_point);
        let echo = request(addr, "GET", "/", &with_host("fwd.test", SPOOFED)).echo();
        assert_eq!(
            echo.header_all("X-Forwarded-For"),
            ["1.2.3.4, 127.0.0.1"],
            "{entry_point}: {echo:#?}"
        );
        assert_eq!(echo.header_all("X-Real-Ip"), ["1.2.3.4"], "{entry_point}");
        assert_eq!(
            echo.header_all("X-Forwarded-Host"),
            ["spoofed.test"],
            "{entry_point}"
        );
        assert_eq!(
            echo.header_all("X-Forwarded-Proto"),
            ["https"],
            "{entry_point}"
        );
        assert_eq!(
            echo.header_all("X-Forwarded-Port"),
            ["9999"],
            "{entry_point}"
        );
        // X-Forwarded-Server is always this gateway's.
        assert_eq!(
            echo.header_all("X-Forwarded-Server"),
            [echo.hostname.as_str()],
            "{entry_point}"
        );

        // A trusted client that sends nothing gets the defaults.
        let echo = request(addr, "GET", "/", &[("Host", "own.test")]).echo();
        assert_eq!(
            echo.header_all("X-Forwarded-For"),
            ["127.0.0.1"],
            "{entry_point}"
        );
        assert_eq!(echo.header_all("X-Real-Ip"), ["127.0.0.1"], "{entry_point}");
        assert_eq!(
            echo.header_all("X-Forwarded-Host"),
            ["own.test"],
            "{entry_point}"
        );

        // Two X-Forwarded-For lines are folded into one list, then the client is appended.
        let echo = request(
            addr,
            "GET",
            "/",
            &[
                ("X-Forwarded-For", "1.1.1.1"),
                ("X-Forwarded-For", "2.2.2.2"),
            ],
        )
        .echo();
        assert_eq!(
            echo.header_all("X-Forwarded-For"),
            ["1.1.1.1, 2.2.2.2, 127.0.0.1"],
            "{entry_point}"
        );
    }
}

#[test]
fn hop_by_hop_and_connection_named_headers_are_not_forwarded() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let response = request(
        gw.web(),
        "GET",
        "/hop",
        &[
            ("Host", "hop.test"),
            ("Connection", "X-Secret, close"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Kept", "yes"),
        ],
    );
    assert_eq!(response.status, 200);
    let wire = backend.requests_text().join("").to_ascii_lowercase();
    for name in [
        "x-secret:",
        "keep-alive:",
        "proxy-authorization:",
        "proxy-connection:",
    ] {
        assert!(!wire.contains(name), "{name} must not be forwarded: {wire}");
    }
    assert!(!wire.contains("connection: x-secret"), "{wire}");
    assert!(wire.contains("\r\nx-kept: yes\r\n"), "{wire}");
}

#[test]
fn connection_named_header_on_a_keep_alive_connection() {
    let backend = Backend::start("A");
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let mut conn = Connection::open(gw.web()).unwrap();
    for i in 0..3 {
        let echo = conn
            .send(
                "GET",
                "/ka",
                &[
                    ("Connection", "keep-alive, X-Secret"),
                    ("X-Secret", "1"),
                    ("X-Other", "2"),
                ],
            )
            .unwrap()
            .echo();
        assert_eq!(echo.header("X-Secret"), None, "request {i}: {echo:#?}");
        assert_eq!(echo.header_all("X-Other"), ["2"], "request {i}");
    }
}

fn two_hosts(a: &Backend, b: &Backend) -> String {
    format!(
        r#"http:
  routers:
    example:
      rule: Host(`example.com`)
      service: a
    other:
      rule: Host(`other.test`)
      service: b
  services:
    a:
      loadBalancer:
        servers:
          - url: {}
    b:
      loadBalancer:
        servers:
          - url: {}
"#,
        a.url(),
        b.url()
    )
}

#[test]
fn absolute_form_authority_conflicting_with_host_is_rejected() {
    // A documented difference from Traefik (README): Traefik routes on the absolute-form
    // target and ignores a different Host header (RFC 9112 3.2.2); Pingora's HTTP/1 server
    // rejects such a request with 400 before routing, which closes a host-confusion path.
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let gw = Gateway::start(&two_hosts(&a, &b));
    let response = raw_request(
        gw.web(),
        b"GET http://example.com:8080/x HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response.status, 400, "{response:?}");
}

#[test]
fn bodies_pass_through_intact() {
    let backend = Backend::start("A");
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let response = try_request_with_body(
        gw.web(),
        "POST",
        "/echo",
        &[("Content-Type", "application/octet-stream")],
        &body,
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), body.len());
    assert!(response.body == body, "the echoed body differs");

    let response = get(gw.web(), "/data?size=3000000");
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), 3_000_000);
    assert!(response.body.iter().all(|&b| b == b'|'));

    // A status chosen by the backend is passed on as is.
    let response = get(gw.web(), "/x?status=418");
    assert_eq!(response.status, 418);
    assert_eq!(response.echo().name, "A");
}
