//! Tests of the forwarded-header rules against Traefik's behaviour.

use super::*;
use control::static_config::ForwardedHeaders;
use pingora::http::ResponseHeader;

fn request(headers: &[(&str, &str)]) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/path", None).unwrap();
    for (name, value) in headers {
        req.append_header(name.to_string(), *value).unwrap();
    }
    req
}

fn get<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers.get(name).map(|v| v.to_str().unwrap())
}

fn policy(config: ForwardedHeaders) -> ForwardedPolicy {
    ForwardedPolicy::new(&config, "gw-host").unwrap()
}

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3)));

#[test]
fn untrusted_client_headers_are_replaced() {
    let mut req = request(&[
        ("Host", "example.com:8443"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Real-Ip", "6.6.6.6"),
        ("X_Forwarded_Proto", "https"),
        ("X-Forwarded-Prefix", "/evil"),
    ]);
    policy(ForwardedHeaders::default()).rewrite_incoming(&mut req, CLIENT, false);
    assert_eq!(get(&req, "x-forwarded-for"), None);
    assert_eq!(
        get(&req, "x_forwarded_proto"),
        None,
        "underscore spellings are managed too"
    );
    assert_eq!(get(&req, "x-forwarded-prefix"), None);
    assert_eq!(get(&req, "x-real-ip"), Some("10.1.2.3"));
    assert_eq!(get(&req, "x-forwarded-proto"), Some("http"));
    assert_eq!(get(&req, "x-forwarded-port"), Some("8443"));
    assert_eq!(get(&req, "x-forwarded-host"), Some("example.com:8443"));
    assert_eq!(get(&req, "x-forwarded-server"), Some("gw-host"));
}

#[test]
fn trusted_clients_keep_their_headers() {
    for config in [
        ForwardedHeaders {
            insecure: true,
            ..Default::default()
        },
        ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/8".into()],
            ..Default::default()
        },
        ForwardedHeaders {
            trusted_ips: vec!["10.1.2.3".into()],
            ..Default::default()
        },
    ] {
        let mut req = request(&[
            ("Host", "a"),
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Forwarded-For", "2.2.2.2"),
            ("X-Forwarded-Proto", "https"),
            ("X-Real-Ip", "1.1.1.1"),
        ]);
        policy(config).rewrite_incoming(&mut req, CLIENT, false);
        assert_eq!(
            get(&req, "x-forwarded-for"),
            Some("1.1.1.1, 2.2.2.2"),
            "folded into one"
        );
        assert_eq!(get(&req, "x-forwarded-proto"), Some("https"));
        assert_eq!(
            get(&req, "x-forwarded-port"),
            Some("443"),
            "from the trusted proto"
        );
        assert_eq!(get(&req, "x-real-ip"), Some("1.1.1.1"));
    }
    let mut req = request(&[("X-Forwarded-For", "1.1.1.1")]);
    policy(ForwardedHeaders {
        trusted_ips: vec!["192.168.0.0/16".into()],
        ..Default::default()
    })
    .rewrite_incoming(&mut req, CLIENT, false);
    assert_eq!(get(&req, "x-forwarded-for"), None);
}

#[test]
fn websocket_and_tls_protocols() {
    let mut req = request(&[("Connection", "Upgrade"), ("Upgrade", "websocket")]);
    policy(ForwardedHeaders::default()).rewrite_incoming(&mut req, CLIENT, true);
    assert_eq!(get(&req, "x-forwarded-proto"), Some("wss"));
    assert_eq!(get(&req, "x-forwarded-port"), Some("443"));
    assert_eq!(get(&req, "connection"), Some("Upgrade"));
    assert_eq!(get(&req, "upgrade"), Some("websocket"));
}

#[test]
fn connection_named_headers_are_removed_except_managed_and_kept() {
    let mut req = request(&[
        (
            "Connection",
            "keep-alive, X-Secret, X-Forwarded-Host, X-Keep",
        ),
        ("X-Secret", "1"),
        ("X-Keep", "1"),
    ]);
    let config = ForwardedHeaders {
        connection: vec!["X-Keep".into()],
        ..Default::default()
    };
    policy(config).rewrite_incoming(&mut req, CLIENT, false);
    assert_eq!(get(&req, "x-secret"), None);
    assert_eq!(get(&req, "x-keep"), Some("1"));
    assert_eq!(get(&req, "connection"), Some("X-Keep"));
}

#[test]
fn framing_and_host_headers_are_never_removed_through_connection() {
    let mut req = request(&[
        (
            "Connection",
            "content-length, Transfer-Encoding, host, X-Gone",
        ),
        ("Content-Length", "5"),
        ("Host", "a.test"),
        ("X-Gone", "1"),
    ]);
    policy(ForwardedHeaders::default()).rewrite_incoming(&mut req, CLIENT, false);
    assert_eq!(get(&req, "content-length"), Some("5"));
    assert_eq!(get(&req, "host"), Some("a.test"));
    assert_eq!(get(&req, "x-gone"), None);
    let mut req = request(&[
        ("Connection", "content-length, host"),
        ("Content-Length", "5"),
        ("Host", "a.test"),
    ]);
    prepare_upstream(&mut req, CLIENT, false);
    assert_eq!(get(&req, "content-length"), Some("5"));
    assert_eq!(get(&req, "host"), Some("a.test"));
}

#[test]
fn connection_tokens_are_capped() {
    let tokens = |n: usize| {
        (0..n)
            .map(|i| format!("x-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let at_cap = tokens(MAX_CONNECTION_TOKENS);
    assert!(!too_many_connection_tokens(&request(&[(
        "Connection",
        &at_cap
    )])));
    let over = tokens(MAX_CONNECTION_TOKENS + 1);
    assert!(too_many_connection_tokens(&request(&[(
        "Connection",
        &over
    )])));
    assert!(!too_many_connection_tokens(&request(&[])));
}

#[test]
fn scheme_headers_on_request() {
    let mut req = request(&[]);
    policy(ForwardedHeaders {
        add_x_forwarded_scheme_headers: true,
        ..Default::default()
    })
    .rewrite_incoming(&mut req, CLIENT, false);
    assert_eq!(get(&req, "x-forwarded-scheme"), Some("http"));
    assert_eq!(get(&req, "x-scheme"), Some("http"));
    assert_eq!(get(&req, "x-forwarded-port"), Some("80"));
}

#[test]
fn upstream_stage_strips_hop_by_hop_and_appends_client() {
    let mut req = request(&[
        ("Connection", "close, X-Private"),
        ("X-Private", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "secret"),
        ("TE", "trailers, gzip"),
        ("Upgrade", "h2c"),
        ("X-Forwarded-For", "1.1.1.1"),
    ]);
    prepare_upstream(&mut req, CLIENT, true);
    for gone in [
        "connection",
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(get(&req, gone), None, "{gone}");
    }
    assert_eq!(get(&req, "te"), Some("trailers"));
    assert_eq!(get(&req, "x-forwarded-for"), Some("1.1.1.1, 10.1.2.3"));

    let mut req = request(&[("Connection", "upgrade"), ("Upgrade", "WebSocket")]);
    prepare_upstream(&mut req, CLIENT, false);
    assert_eq!(get(&req, "connection"), Some("Upgrade"));
    assert_eq!(
        get(&req, "upgrade"),
        Some("WebSocket"),
        "kept as sent, as Go"
    );
    assert_eq!(get(&req, "x-forwarded-for"), None, "notAppendXForwardedFor");
}

#[test]
fn every_upgrade_protocol_is_forwarded() {
    for protocol in ["h2c", "foo/2", "TLS/1.2, HTTP/1.1"] {
        let mut req = request(&[("Connection", "keep-alive, Upgrade"), ("Upgrade", protocol)]);
        prepare_upstream(&mut req, CLIENT, false);
        assert_eq!(get(&req, "connection"), Some("Upgrade"), "{protocol}");
        assert_eq!(get(&req, "upgrade"), Some(protocol));
    }
    // Without `Connection: upgrade` there is no upgrade, and an unprintable value is none.
    let mut req = request(&[("Upgrade", "foo")]);
    prepare_upstream(&mut req, CLIENT, false);
    assert_eq!(get(&req, "upgrade"), None);
    let mut req = request(&[("Connection", "upgrade")]);
    req.insert_header("Upgrade", HeaderValue::from_bytes(b"f\too\xff").unwrap())
        .unwrap();
    prepare_upstream(&mut req, CLIENT, false);
    assert_eq!(get(&req, "upgrade"), None);
    assert_eq!(get(&req, "connection"), None);
}

#[test]
fn response_hop_by_hop_removed() {
    let mut resp = ResponseHeader::build(200, None).unwrap();
    resp.append_header("Connection", "X-Hop").unwrap();
    resp.append_header("X-Hop", "1").unwrap();
    resp.append_header("Keep-Alive", "timeout=5").unwrap();
    resp.append_header("X-Stay", "1").unwrap();
    clean_response(&mut resp);
    assert!(resp.headers.get("x-hop").is_none());
    assert!(resp.headers.get("keep-alive").is_none());
    assert!(resp.headers.get("connection").is_none());
    assert!(resp.headers.get("x-stay").is_some());
}

#[test]
fn bad_trusted_ip_is_named() {
    let err = ForwardedPolicy::new(
        &ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/99".into()],
            ..Default::default()
        },
        "h",
    )
    .unwrap_err();
    assert!(err.contains("10.0.0.0/99"), "{err}");
}

#[test]
fn ports_of_hosts() {
    assert_eq!(port_of("a:80"), Some("80"));
    assert_eq!(port_of("[::1]:8080"), Some("8080"));
    assert_eq!(port_of("[::1]"), None);
    assert_eq!(port_of("a"), None);
}
