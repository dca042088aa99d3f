use super::*;
use crate::middleware::testing::{build, context, one_shot_server, request, run_request};
use crate::middleware::Flow;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// An auth server answering one request with `reply`; the request head it read comes back.
fn auth_server(reply: impl AsRef<[u8]> + Send + 'static) -> (String, mpsc::Receiver<String>) {
    one_shot_server(reply)
}

fn middleware(json: String) -> crate::middleware::Middleware {
    build(&json).unwrap()
}

#[test]
fn the_auth_request_is_a_get_with_the_forwarded_headers() {
    let (address, seen) =
        auth_server("HTTP/1.1 200 OK\r\nX-User: alice\r\nContent-Length: 0\r\n\r\n");
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}/check?a=1", "authResponseHeaders": ["X-User"], "headerField": "x-user"}}}}"#
    ));
    let mut req = request("/app/x?q=1");
    req.method = Method::POST;
    req.headers
        .insert("x-forwarded-host", HeaderValue::from_static("spoofed"));
    req.headers
        .insert("connection", HeaderValue::from_static("x-drop"));
    req.headers.insert("x-drop", HeaderValue::from_static("1"));
    req.headers
        .insert("x-user", HeaderValue::from_static("mallory"));
    let mut context = context();
    assert!(matches!(
        run_request(&auth, &mut req, &mut context),
        Flow::Continue
    ));
    assert_eq!(
        context.client_username.as_deref(),
        Some("alice"),
        "headerField"
    );
    let head = seen.recv().unwrap();
    assert!(head.starts_with("GET /check?a=1 HTTP/1.1\r\n"), "{head}");
    for line in [
        "X-Forwarded-Method: POST",
        "X-Forwarded-Proto: http",
        "X-Forwarded-Host: example.com",
        "X-Forwarded-Uri: /app/x?q=1",
        "X-Forwarded-For: 192.0.2.1",
        "Accept-Encoding: gzip",
    ] {
        assert!(
            head.contains(&format!("{line}\r\n")),
            "{line} missing in {head}"
        );
    }
    assert!(!head.to_ascii_lowercase().contains("x-drop"), "{head}");
    assert!(
        !head.contains("User-Agent"),
        "no User-Agent when the client sent none: {head}"
    );
    assert!(!head.contains("spoofed"), "{head}");
    assert_eq!(
        req.headers.get_all("x-user").iter().collect::<Vec<_>>(),
        ["alice"]
    );
}

#[test]
fn only_the_listed_headers_are_sent() {
    let (address, seen) = auth_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "authRequestHeaders": ["Authorization"]}}}}"#
    ));
    let mut req = request("/x");
    req.headers
        .insert("authorization", HeaderValue::from_static("Bearer t"));
    req.headers
        .insert("cookie", HeaderValue::from_static("a=b"));
    req.headers
        .insert("user-agent", HeaderValue::from_static("curl"));
    assert!(matches!(
        run_request(&auth, &mut req, &mut context()),
        Flow::Continue
    ));
    let head = seen.recv().unwrap();
    assert!(head.contains("Authorization: Bearer t\r\n"), "{head}");
    assert!(!head.contains("Cookie"), "{head}");
    // Go's client sends its own User-Agent when the filtered headers have none.
    assert!(
        head.contains("User-Agent: Go-http-client/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("X-Forwarded-Uri: /x\r\n"), "{head}");
}

#[test]
fn trusted_forward_headers_are_passed_on() {
    let (address, seen) = auth_server("HTTP/1.1 204 No Content\r\n\r\n");
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "trustForwardHeader": true}}}}"#
    ));
    let mut req = request("/x");
    req.headers
        .insert("x-forwarded-host", HeaderValue::from_static("front"));
    req.headers
        .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    req.headers
        .insert("user-agent", HeaderValue::from_static("curl"));
    assert!(matches!(
        run_request(&auth, &mut req, &mut context()),
        Flow::Continue
    ));
    let head = seen.recv().unwrap();
    assert!(head.contains("X-Forwarded-Host: front\r\n"), "{head}");
    assert!(
        head.contains("X-Forwarded-For: 10.0.0.1, 192.0.2.1\r\n"),
        "{head}"
    );
    assert!(head.contains("User-Agent: curl\r\n"), "{head}");
}

#[test]
fn a_denial_goes_to_the_client_with_the_location_resolved() {
    let (address, _seen) = auth_server(
        "HTTP/1.1 302 Found\r\nLocation: /login?next=1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\ngo",
    );
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}/auth"}}}}"#
    ));
    let mut req = request("/x");
    let Flow::Answer(answer) = run_request(&auth, &mut req, &mut context()) else {
        panic!("the denial was not answered");
    };
    assert_eq!(answer.status, 302);
    assert_eq!(answer.body().as_ref(), b"go");
    let headers = answer.header_map();
    assert_eq!(
        headers["location"],
        format!("{address}/login?next=1").as_str()
    );
    assert_eq!(headers["content-type"], "text/plain");
    assert!(!headers.contains_key("connection"));
}

#[test]
fn a_preserved_location_is_sent_as_is() {
    let (address, _seen) = auth_server(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: login\r\nContent-Length: 0\r\n\r\n",
    );
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "preserveLocationHeader": true}}}}"#
    ));
    let Flow::Answer(answer) = run_request(&auth, &mut request("/"), &mut context()) else {
        panic!("the denial was not answered");
    };
    assert_eq!(answer.header_map()["location"], "login");
}

#[test]
fn an_unreachable_auth_server_is_a_500() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "http://127.0.0.1:{port}"}}}}"#
    ));
    let Flow::Answer(answer) = run_request(&auth, &mut request("/"), &mut context()) else {
        panic!("no answer");
    };
    assert_eq!(answer.status, 500);
    assert!(answer.body().is_empty());
}

#[test]
fn a_too_large_auth_body_is_a_401() {
    let (address, _seen) =
        auth_server("HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n0123456789");
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "maxResponseBodySize": 4}}}}"#
    ));
    let Flow::Answer(answer) = run_request(&auth, &mut request("/"), &mut context()) else {
        panic!("no answer");
    };
    assert_eq!(answer.status, 401);
}

#[test]
fn configuration_errors_are_traefiks() {
    let error =
        build(r#"{"forwardAuth": {"address": "http://a", "authResponseHeadersRegex": "("}}"#)
            .err()
            .unwrap();
    assert!(
        error.starts_with("error compiling regular expression (:"),
        "{error}"
    );
    let error = build(r#"{"forwardAuth": {"address": "https://a", "tls": {"cert": "x"}}}"#)
        .err()
        .unwrap();
    assert_eq!(
        error,
        "unable to create client TLS configuration: both TLS cert and key must be defined"
    );
    let error = build(r#"{"forwardAuth": {"address": "https://a", "tls": {"ca": "nothing"}}}"#)
        .err()
        .unwrap();
    assert_eq!(
        error,
        "unable to create client TLS configuration: failed to parse CA"
    );
}

#[test]
fn locations_resolve_like_go() {
    let target = auth_target("http://auth:9000/a/b?x=1").unwrap();
    assert_eq!(
        resolve_location(&target, "/login"),
        "http://auth:9000/login"
    );
    assert_eq!(resolve_location(&target, "c"), "http://auth:9000/a/c");
    assert_eq!(resolve_location(&target, "../c"), "http://auth:9000/c");
    assert_eq!(resolve_location(&target, "//sso/x"), "http://sso/x");
    assert_eq!(resolve_location(&target, "https://sso/x"), "https://sso/x");
    assert_eq!(
        resolve_location(&target, "?y=2"),
        "http://auth:9000/a/b?y=2"
    );
}

/// A TLS auth server (the testkit certificate for 127.0.0.1) answering 204 to one request on
/// each of `connections` connections; with `client_ca`, it requires a client certificate.
fn tls_auth_server(
    certificates: &testkit::TestCertificates,
    client_ca: bool,
    connections: usize,
) -> String {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificates.cert())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(certificates.key()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(certificates.ca()).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut stream = rustls::StreamOwned::new(connection, tcp);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            if !head.is_empty() {
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let _ = stream.flush();
            }
        }
    });
    address
}

fn allows(json: String) -> bool {
    let auth = middleware(json);
    match run_request(&auth, &mut request("/"), &mut context()) {
        Flow::Continue => true,
        Flow::Answer(answer) => {
            assert_eq!(answer.status, 500, "a TLS failure is a 500");
            false
        }
    }
}

#[test]
fn https_auth_servers_are_verified_with_the_configured_ca() {
    let certificates = testkit::TestCertificates::generate();
    let ca = certificates.ca().display().to_string();
    let address = tls_auth_server(&certificates, false, 3);
    assert!(allows(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "tls": {{"ca": "{ca}"}}}}}}"#
    )));
    assert!(
        !allows(format!(r#"{{"forwardAuth": {{"address": "{address}"}}}}"#)),
        "an unknown CA is refused"
    );
    assert!(allows(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "tls": {{"insecureSkipVerify": true}}}}}}"#
    )));
}

#[test]
fn a_client_certificate_is_presented_when_configured() {
    let certificates = testkit::TestCertificates::generate();
    let ca = certificates.ca().display().to_string();
    let cert = certificates.cert().display().to_string();
    let key = certificates.key().display().to_string();
    let address = tls_auth_server(&certificates, true, 2);
    assert!(allows(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "tls": {{"ca": "{ca}", "cert": "{cert}", "key": "{key}"}}}}}}"#
    )));
    assert!(
        !allows(format!(
            r#"{{"forwardAuth": {{"address": "{address}", "tls": {{"ca": "{ca}"}}}}}}"#
        )),
        "the server wants a client certificate"
    );
}

#[test]
fn listed_auth_cookies_replace_the_backends() {
    let (address, _seen) = auth_server(
        "HTTP/1.1 200 OK\r\nSet-Cookie: auth-session=s1; Path=/\r\nSet-Cookie: tracking=t1\r\nX-Auth-Extra-Role: admin\r\nContent-Length: 0\r\n\r\n",
    );
    let auth = middleware(format!(
        r#"{{"forwardAuth": {{"address": "{address}", "addAuthCookiesToResponse": ["auth-session"], "authResponseHeadersRegex": "^X-Auth-Extra"}}}}"#
    ));
    assert!(
        auth.needs().response_head && auth.needs().lean(),
        "response heads are edited on both paths"
    );
    let mut req = request("/");
    req.headers
        .insert("x-auth-extra-old", HeaderValue::from_static("1"));
    let mut context = context();
    assert!(matches!(
        run_request(&auth, &mut req, &mut context),
        Flow::Continue
    ));
    assert!(!req.headers.contains_key("x-auth-extra-old"));
    assert_eq!(req.headers["x-auth-extra-role"], "admin");
    let (mut response, ()) = http::Response::builder()
        .header("set-cookie", "app=1; path=/a; secure")
        .header("set-cookie", "not a cookie")
        .header("set-cookie", "auth-session=stale")
        .body(())
        .unwrap()
        .into_parts();
    auth.response(&req, &mut response, &mut context);
    let cookies: Vec<_> = response.headers.get_all("set-cookie").iter().collect();
    assert_eq!(
        cookies,
        ["app=1; Path=/a; Secure", "auth-session=s1; Path=/"]
    );
}

#[test]
fn a_gzipped_denial_is_decoded_as_go_does() {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"denied, in full").unwrap();
    let gzipped = encoder.finish().unwrap();
    let mut reply = format!(
        "HTTP/1.1 401 Unauthorized\r\nContent-Encoding: gzip\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        gzipped.len()
    )
    .into_bytes();
    reply.extend_from_slice(&gzipped);
    let (address, _seen) = auth_server(reply);
    let auth = middleware(format!(r#"{{"forwardAuth": {{"address": "{address}"}}}}"#));
    let Flow::Answer(answer) = run_request(&auth, &mut request("/"), &mut context()) else {
        panic!("no answer");
    };
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body().as_ref(), b"denied, in full");
    assert!(!answer.header_map().contains_key("content-encoding"));
}
