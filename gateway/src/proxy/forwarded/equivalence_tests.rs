//! Both paths give one result: a plan applied to Pingora's `RequestHeader` in its two stages
//! and serialised, and the same plan written by `write_headers` from a byte-level head, send
//! the same header lines upstream, and routing reads the same values between the stages.

use super::*;
use control::rule::HeaderValues;
use control::static_config::ForwardedHeaders;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A request head over plain bytes, as the lean path keeps one (names as sent, in order).
struct RawHead {
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RequestHead for RawHead {
    fn method(&self) -> &[u8] {
        b"GET"
    }

    fn target_authority(&self) -> Option<&[u8]> {
        let rest = self.target.strip_prefix(b"http://")?;
        let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        Some(&rest[..end])
    }

    fn path(&self) -> &[u8] {
        let start = self
            .target_authority()
            .map_or(0, |a| "http://".len() + a.len());
        let path = &self.target[start..];
        &path[..path.iter().position(|&b| b == b'?').unwrap_or(path.len())]
    }

    fn query(&self) -> Option<&[u8]> {
        let at = self.target.iter().position(|&b| b == b'?')?;
        Some(&self.target[at + 1..])
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers.iter().map(|(n, v)| (&n[..], &v[..]))
    }
}

/// One request through one entrypoint.
#[derive(Debug, Clone)]
struct Case {
    config: ForwardedHeaders,
    server_name: &'static str,
    client: Option<IpAddr>,
    tls: bool,
    target: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    /// The server's authority when the service has `passHostHeader: false`.
    host: Option<&'static str>,
}

/// Header lines as (name, value), sorted: a multiset.
type Lines = Vec<(String, Vec<u8>)>;

fn lines(wire: &[u8]) -> Lines {
    let mut found: Lines = wire
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let line = line.strip_suffix(b"\r").expect("CRLF");
            let colon = line.iter().position(|&b| b == b':').expect("colon");
            let value = line[colon + 1..].strip_prefix(b" ").expect("space");
            (
                String::from_utf8(line[..colon].to_vec()).expect("name"),
                value.to_vec(),
            )
        })
        .collect();
    found.sort();
    found
}

/// Every header name routing may ask about for this case, lowercase.
fn asked_names(case: &Case) -> Vec<HeaderName> {
    let fixed = [
        "x-real-ip",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-scheme",
        "x-scheme",
        "x-forwarded-host",
        "x-forwarded-for",
        "x-forwarded-server",
        "x-forwarded-prefix",
        "x_forwarded_for",
        "connection",
        "upgrade",
        "te",
        "keep-alive",
        "host",
    ];
    let mut names: Vec<HeaderName> = fixed
        .iter()
        .map(|n| HeaderName::from_static(n))
        .chain(
            case.headers
                .iter()
                .map(|(n, _)| HeaderName::try_from(n.as_str()).unwrap()),
        )
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

fn all_values(headers: &dyn HeaderValues, name: &HeaderName) -> Vec<Vec<u8>> {
    let mut values = Vec::new();
    headers.any_value(name, &mut |v| {
        values.push(v.to_vec());
        false
    });
    values
}

/// Runs `case` through both paths and compares what routing reads and what goes upstream.
fn assert_paths_agree(case: &Case) {
    let policy = ForwardedPolicy::new(&case.config, case.server_name).unwrap();

    let mut req = RequestHeader::build("GET", b"/p", None).unwrap();
    if case.target.starts_with("http://") {
        req.set_uri(case.target.parse().unwrap());
    }
    for (name, value) in &case.headers {
        req.append_header(name.clone(), HeaderValue::from_bytes(value).unwrap())
            .unwrap();
    }
    let raw = RawHead {
        target: case.target.as_bytes().to_vec(),
        headers: case
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect(),
    };

    policy.rewrite_incoming(&mut req, case.client, case.tls);
    let plan = policy.plan(&raw, case.client, case.tls);
    let routing = plan.headers_for_routing(&raw);
    for name in asked_names(case) {
        assert_eq!(
            all_values(&req.headers, &name),
            all_values(&routing, &name),
            "routing reads {name} differently: {case:#?}"
        );
    }
    assert_eq!(
        upgrade_protocol(&req).is_some(),
        plan.upstream.is_set(upstream::UpstreamSet::Upgrade),
        "upgrade: {case:#?}"
    );

    let mut upstream = req.clone();
    prepare_upstream(&mut upstream, case.client, policy.appends_x_forwarded_for());
    if let Some(host) = case.host {
        upstream.insert_header(http::header::HOST, host).unwrap();
    }
    let mut pingora_wire = Vec::new();
    upstream.header_to_h1_wire(&mut pingora_wire);

    let mut lean_wire = Vec::new();
    plan.write_headers(&raw, case.host.map(str::as_bytes), &mut lean_wire);
    assert_eq!(
        lines(&pingora_wire),
        lines(&lean_wire),
        "upstream headers differ: {case:#?}\nPingora:\n{}\nlean:\n{}",
        String::from_utf8_lossy(&pingora_wire),
        String::from_utf8_lossy(&lean_wire),
    );
}

const V4: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
const V6: Option<IpAddr> = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));

fn case(headers: &[(&str, &str)]) -> Case {
    Case {
        config: ForwardedHeaders::default(),
        server_name: "gw-host",
        client: V4,
        tls: false,
        target: "/p",
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        host: None,
    }
}

fn trusted() -> ForwardedHeaders {
    ForwardedHeaders {
        trusted_ips: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
        ..Default::default()
    }
}

#[test]
fn listed_heads_agree() {
    let inputs: Vec<Vec<(&str, &str)>> = vec![
        vec![("Host", "api.example.com"), ("Accept", "*/*")],
        vec![
            ("Host", "example.com:8443"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("x-forwarded-for", "7.7.7.7"),
            ("X-Real-Ip", "6.6.6.6"),
            ("X_Forwarded_Proto", "https"),
            ("X_Forwarded_For", "5.5.5.5"),
            ("X-Forwarded-Prefix", "/evil"),
            ("X-Forwarded-Host", ""),
        ],
        vec![
            ("Host", "a"),
            (
                "Connection",
                "keep-alive, X-Secret, X-Forwarded-Host, X-Keep, x_real_ip",
            ),
            ("Connection", "te, Cookie"),
            ("X-Secret", "1"),
            ("X-Keep", "1"),
            ("Cookie", "c=1"),
            ("TE", "trailers"),
            ("Keep-Alive", "timeout=5"),
            ("X-Forwarded-Host", "orig.test"),
        ],
        vec![
            ("Host", "ws.test"),
            ("Connection", "keep-alive, Upgrade"),
            ("Upgrade", "websocket"),
            ("Upgrade", "h2c"),
        ],
        vec![
            ("Host", "h2c.test"),
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAA"),
        ],
        vec![("Host", "a"), ("Upgrade", "websocket")],
        vec![
            ("Host", "a"),
            (
                "Connection",
                "content-length, Transfer-Encoding, host, X-Gone, connection",
            ),
            ("Content-Length", "5"),
            ("X-Gone", "1"),
            ("TE", "gzip, trailers"),
            ("Trailer", "X-Sum"),
            ("Proxy-Authorization", "secret"),
            ("Proxy-Connection", "keep-alive"),
        ],
        vec![
            ("Host", "[::1]:8080"),
            ("X-Forwarded-Proto", "wss"),
            ("X-Forwarded-Port", ""),
            ("X-Forwarded-For", ""),
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Real-Ip", ""),
            ("X-Scheme", "ftp"),
        ],
        vec![("Connection", ","), ("Host", "a:")],
    ];
    let mut cases = Vec::new();
    for headers in &inputs {
        for client in [V4, V6, None] {
            for config in [ForwardedHeaders::default(), trusted()] {
                let mut case = case(headers);
                case.client = client;
                case.config = config;
                cases.push(case.clone());
                case.tls = true;
                case.config.connection = vec!["X-Keep".into(), "te".into()];
                case.config.add_x_forwarded_scheme_headers = true;
                cases.push(case.clone());
                case.config.not_append_x_forwarded_for = true;
                case.target = "http://abs.test:81/p?q";
                case.host = Some("backend:9000");
                case.server_name = "";
                cases.push(case);
            }
        }
    }
    for case in &cases {
        assert_paths_agree(case);
    }
}

/// Header names the generated heads draw from: managed ones in odd spellings, hop-by-hop
/// ones, ones `Connection` tokens below name, and plain ones.
const NAMES: [&str; 24] = [
    "Host",
    "X-Forwarded-For",
    "x-forwarded-for",
    "X_Forwarded_For",
    "X-Real-Ip",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Forwarded-Host",
    "X-Forwarded-Server",
    "X-Scheme",
    "Connection",
    "connection",
    "Upgrade",
    "TE",
    "Trailer",
    "Keep-Alive",
    "Proxy-Authorization",
    "Content-Length",
    "X-Keep",
    "X-Secret",
    "Accept",
    "Cookie",
    "close",
    "HTTP2-Settings",
];

/// Values the generated headers draw from, `Connection` token lists among them.
const VALUES: [&str; 22] = [
    "",
    "1.1.1.1",
    "2.2.2.2, 3.3.3.3",
    "https",
    "wss",
    "websocket",
    "WebSocket",
    "h2c",
    "trailers, gzip",
    "keep-alive, X-Secret",
    "Upgrade",
    "close",
    "X-Forwarded-For, X-Keep, x_real_ip",
    "te, upgrade",
    "host, content-length, Transfer-Encoding",
    "a.test:8443",
    "[::1]:80",
    "b.test",
    "Cookie,Keep-Alive,,",
    "\tspaced ",
    "x-secret, HTTP2-Settings, connection",
    "caf\u{e9}",
];

fn arbitrary_case() -> impl Strategy<Value = Case> {
    let header = (0..NAMES.len(), 0..VALUES.len())
        .prop_map(|(n, v)| (NAMES[n].to_string(), VALUES[v].as_bytes().to_vec()));
    let clients = [None, V4, V6, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))];
    (
        proptest::collection::vec(header, 0..12),
        0..clients.len(),
        any::<[bool; 6]>(),
        0..3usize,
    )
        .prop_map(move |(headers, client, flags, keep)| {
            let [insecure, trust, tls, absolute, pass_host, scheme] = flags;
            Case {
                config: ForwardedHeaders {
                    insecure,
                    trusted_ips: if trust { trusted().trusted_ips } else { vec![] },
                    connection: [
                        vec![],
                        vec!["X-Keep".into()],
                        vec!["x-keep".into(), "TE".into(), "upgrade".into()],
                    ][keep]
                        .clone(),
                    not_append_x_forwarded_for: absolute && scheme,
                    add_x_forwarded_scheme_headers: scheme,
                },
                server_name: if pass_host { "gw-host" } else { "" },
                client: clients[client],
                tls,
                target: if absolute {
                    "http://abs.test:81/p"
                } else {
                    "/p"
                },
                headers,
                host: (!pass_host).then_some("backend:9000"),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_heads_agree(case in arbitrary_case()) {
        assert_paths_agree(&case);
    }
}
