//! Parity of the header and redirect middlewares: headers (custom, CORS, security headers,
//! allowedHosts), redirectScheme, redirectRegex, replacePathRegex and stripPrefixRegex.

use crate::harness::{get, request, Pair};

const CONFIG: &str = r#"http:
  routers:
    custom: {rule: "PathPrefix(`/custom`)", service: backend, middlewares: [custom]}
    custom-down: {rule: "PathPrefix(`/down`)", service: down, middlewares: [custom]}
    plain-down: {rule: "PathPrefix(`/plain-down`)", service: down}
    request-only: {rule: "PathPrefix(`/request-only`)", service: backend, middlewares: [request-only]}
    cors-lean: {rule: "PathPrefix(`/cors-lean`)", service: backend, middlewares: [cors-lean]}
    custom-removes: {rule: "PathPrefix(`/removes`)", service: backend, middlewares: [removes, custom-inner]}
    custom-redirect: {rule: "PathPrefix(`/then-redirect`)", service: backend, middlewares: [custom, to-https]}
    cors: {rule: "PathPrefix(`/cors`)", service: backend, middlewares: [cors]}
    cors-any: {rule: "PathPrefix(`/any`)", service: backend, middlewares: [cors-any]}
    secure: {rule: "PathPrefix(`/secure`)", service: backend, middlewares: [secure]}
    sts-proxied: {rule: "PathPrefix(`/sts`)", service: backend, middlewares: [sts-proxied]}
    hosts: {rule: "PathPrefix(`/hosts`)", service: backend, middlewares: [hosts]}
    to-https: {rule: "PathPrefix(`/to-https`)", service: backend, middlewares: [to-https]}
    to-https-port: {rule: "PathPrefix(`/to-port`)", service: backend, middlewares: [to-https-port]}
    to-http: {rule: "PathPrefix(`/to-http`)", service: backend, middlewares: [to-http]}
    regex: {rule: "PathPrefix(`/rr`)", service: backend, middlewares: [regex]}
    regex-permanent: {rule: "PathPrefix(`/rp`)", service: backend, middlewares: [regex-permanent]}
    regex-named: {rule: "PathPrefix(`/named`)", service: backend, middlewares: [regex-named]}
    rpr: {rule: "PathPrefix(`/rpr`)", service: backend, middlewares: [rpr]}
    spr: {rule: "PathPrefix(`/spr`)", service: backend, middlewares: [spr]}
    bad-regex: {rule: "PathPrefix(`/bad-regex`)", service: backend, middlewares: [bad-regex]}
  middlewares:
    custom:
      headers:
        customRequestHeaders: {X-Custom-Request: "on", User-Agent: "", X-Forwarded-For: "", Host: rewritten.example}
        customResponseHeaders: {X-Custom-Response: "yes"}
    request-only:
      headers:
        customRequestHeaders: {X-Forwarded-For: "", X-Added: "1", Accept: ""}
    cors-lean:
      headers:
        accessControlAllowMethods: [GET]
        accessControlMaxAge: 5
    removes:
      headers:
        customResponseHeaders: {X-Inner: ""}
    custom-inner:
      headers:
        customResponseHeaders: {X-Inner: "set", X-Inner-2: "kept"}
    cors:
      headers:
        accessControlAllowMethods: [GET, OPTIONS, PUT]
        accessControlAllowHeaders: [X-A, X-B]
        accessControlAllowOriginList: ["https://a.example"]
        accessControlAllowOriginListRegex: ['^https://[a-z]+\.regex\.example$']
        accessControlMaxAge: 100
        accessControlAllowCredentials: true
        accessControlExposeHeaders: [X-E1, X-E2]
        addVaryHeader: true
        customResponseHeaders: {Vary: Accept-Encoding}
    cors-any:
      headers:
        accessControlAllowOriginList: ["*"]
        accessControlAllowMethods: [GET]
    secure:
      headers:
        stsSeconds: 31536000
        stsIncludeSubdomains: true
        stsPreload: true
        forceSTSHeader: true
        frameDeny: true
        contentTypeNosniff: true
        browserXssFilter: true
        contentSecurityPolicy: "default-src 'self'"
        contentSecurityPolicyReportOnly: "img-src *"
        publicKey: 'pin-sha256="x"; max-age=10'
        referrerPolicy: same-origin
        permissionsPolicy: "camera=()"
        featurePolicy: "vibrate 'none'"
        customResponseHeaders: {X-Frame-Options: SAMEORIGIN}
    sts-proxied:
      headers:
        stsSeconds: 60
        customFrameOptionsValue: ALLOW-FROM https://a.example
        customBrowserXSSValue: "0"
        sslProxyHeaders: {X-Forwarded-Proto: https}
    hosts:
      headers:
        allowedHosts: [good.example]
        hostsProxyHeaders: [X-Host]
        customResponseHeaders: {X-Custom-Response: "yes"}
        contentTypeNosniff: true
    to-https: {redirectScheme: {scheme: https}}
    to-https-port: {redirectScheme: {scheme: https, port: "8443", permanent: true}}
    to-http: {redirectScheme: {scheme: http, port: "80"}}
    regex:
      redirectRegex: {regex: '^http://([^/:]+)(:\d+)?/rr/(.*)', replacement: 'https://${1}/new/$3'}
    regex-permanent:
      redirectRegex: {regex: '^(.*)/rp/old(.*)$', replacement: '$1/rp/new$2', permanent: true}
    regex-named:
      redirectRegex: {regex: '^http://(?P<host>[^/]+)/named/(?P<rest>[^?]*)', replacement: 'http://${host}/by-name/$rest$$x a'}
    rpr: {replacePathRegex: {regex: '^/rpr/([^/]*)/(.*)', replacement: '/replaced/$2/$1'}}
    spr: {stripPrefixRegex: {regex: ['/spr/[0-9]+', '/spr/[a-z]+']}}
    bad-regex: {replacePathRegex: {regex: '(', replacement: /x}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
    down: {loadBalancer: {servers: [{url: "http://127.0.0.1:1"}]}}
"#;

const PREFLIGHT: [(&str, &str); 2] = [
    ("Origin", "https://a.example"),
    ("Access-Control-Request-Method", "PUT"),
];

fn preflight(target: &str, origin: &str) -> crate::harness::Probe {
    request(
        "OPTIONS",
        target,
        "x",
        &[(PREFLIGHT[0].0, origin), PREFLIGHT[1]],
        b"",
    )
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn custom_headers_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        get(
            "/custom",
            "x",
            &[("User-Agent", "curl"), ("X-Custom-Request", "client")],
        ),
        get("/custom/x?q=1", "x", &[("X-Forwarded-For", "192.0.2.9")]),
        get("/down", "x", &[]),
        get("/plain-down", "x", &[]),
        get("/removes", "x", &[]),
        get("/request-only", "x", &[("Accept", "*/*"), ("X-Added", "0")]),
        get("/then-redirect/x?q=1", "x", &[]),
        request("HEAD", "/custom", "x", &[], b""),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn cors_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        preflight("/cors", "https://a.example"),
        preflight("/cors", "https://b.example"),
        preflight("/cors", "https://sub.regex.example"),
        preflight("/cors", "https://sub.regex.example.evil"),
        preflight("/any", "https://whoever.example"),
        preflight("/cors-lean", "https://whoever.example"),
        get("/cors-lean", "x", &[("Origin", "https://whoever.example")]),
        request(
            "OPTIONS",
            "/cors",
            "x",
            &[("Origin", "https://a.example")],
            b"",
        ),
        request("OPTIONS", "/cors", "x", &[PREFLIGHT[1]], b""),
        request("POST", "/cors", "x", &PREFLIGHT, b"body"),
        get("/cors", "x", &[("Origin", "https://a.example")]),
        get("/cors", "x", &[("Origin", "https://sub.regex.example")]),
        get("/cors", "x", &[("Origin", "https://b.example")]),
        get("/cors", "x", &[]),
        get("/any", "x", &[]),
        get("/any", "x", &[("Origin", "https://whoever.example")]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn security_headers_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        get("/secure", "x", &[]),
        get("/secure/missing", "x", &[("X-Forwarded-Proto", "https")]),
        get("/sts", "x", &[]),
        get("/sts", "x", &[("X-Forwarded-Proto", "https")]),
        get("/hosts", "good.example", &[]),
        get("/hosts", "GOOD.example", &[]),
        get("/hosts", "good.example:80", &[]),
        get("/hosts", "bad.example", &[]),
        get("/hosts", "bad.example", &[("X-Host", "good.example")]),
        get("/hosts", "good.example", &[("X-Host", "bad.example")]),
        request("POST", "/hosts", "bad.example", &[], b"x"),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn trusted_forwarded_headers_drive_ssl_detection_and_scheme_redirects() {
    let pair = Pair::start(CONFIG, "forwardedHeaders:\n  insecure: true");
    pair.assert_same(&[
        get("/sts", "x", &[("X-Forwarded-Proto", "https")]),
        get("/sts", "x", &[("X-Forwarded-Proto", "http")]),
        get("/to-https/a?b=c", "x", &[("X-Forwarded-Proto", "https")]),
        get("/to-https/a?b=c", "x", &[("X-Forwarded-Proto", "wss")]),
        get("/to-https/a?b=c", "x", &[("X-Forwarded-Proto", "bogus")]),
        get("/to-https/a", "x:443", &[("X-Forwarded-Proto", "https")]),
        get("/to-http/a", "x:8080", &[]),
        get("/to-http/a", "x", &[("X-Forwarded-Proto", "https")]),
        get("/to-port", "x:8443", &[("X-Forwarded-Proto", "https")]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn redirects_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        get("/to-https", "x", &[]),
        get("/to-https/a/b?c=d&e", "example.com", &[]),
        request("POST", "/to-https/form", "example.com", &[], b"a=1"),
        request("PUT", "/to-https", "example.com:8080", &[], b""),
        get("/to-https/%2F%20x", "[::1]:8080", &[]),
        get("/to-https/", "x:80", &[]),
        get("/to-port/p?q", "example.com:8080", &[]),
        request("DELETE", "/to-port", "example.com", &[], b""),
        get("/to-http/a", "x:8080", &[]),
        get("/to-http/a", "x", &[]),
        get("/rr/a/b?c=d", "example.com", &[]),
        get("/rr/", "example.com:8080", &[]),
        request("POST", "/rr/x", "example.com", &[], b"z"),
        get("/rrx/not-matched", "example.com", &[]),
        get("/rp/old/z?q=1", "example.com", &[]),
        request("PATCH", "/rp/old", "example.com", &[], b"z"),
        get("/rp/new", "example.com", &[]),
        get("/rr/x", "[::1]:8080", &[]),
        get("/named/a/b?c", "example.com", &[]),
        request("HEAD", "/to-https/head", "example.com", &[], b""),
        get("/to-https/x", "[::1]", &[]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn path_regex_middlewares_like_traefik() {
    let pair = Pair::start(CONFIG, "");
    pair.assert_same(&[
        get("/rpr/a/b?q=1", "x", &[]),
        get("/rpr/a%2Fb/c%20d", "x", &[]),
        get("/rpr/%C3%A9/x", "x", &[]),
        get("/rpr/nomatch", "x", &[]),
        get("/rpr/x/y", "x", &[("X-Replaced-Path", "/client")]),
        get("/spr/123/rest?q=2", "x", &[]),
        get("/spr/abc", "x", &[]),
        get("/spr/abc/x%2Fy", "x", &[]),
        get("/spr/%61bc/z", "x", &[]),
        get("/spr/ABC/z", "x", &[]),
        get("/bad-regex", "x", &[]),
    ]);
}
