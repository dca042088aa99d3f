use proptest::prelude::*;

use super::*;
use control::rule::HeaderValues;

const LIMIT: usize = 8192;

fn status(head: &[u8]) -> HeadStatus {
    ParsedRequest::new().parse(head, LIMIT)
}

#[test]
fn a_curl_get_is_lean_and_reads_like_the_wire() {
    let buf = b"GET /api/items?id=7&x= HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Empty:\r\n\r\nNEXT";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.head_len(), buf.len() - 4);
    assert_eq!(parsed.content_length(), 0);
    assert!(!parsed.wants_close());
    assert!(!parsed.is_head_method());
    let view = parsed.view(buf);
    assert_eq!(view.method(), b"GET");
    assert_eq!(view.method_str(), "GET");
    assert_eq!(view.target(), b"/api/items?id=7&x=");
    assert_eq!(view.path(), b"/api/items");
    assert_eq!(view.query(), Some(&b"id=7&x="[..]));
    assert_eq!(view.target_authority(), None);
    assert_eq!(view.host(), Some(&b"Example.com:8080"[..]));
    let headers: Vec<_> = view.headers().collect();
    assert_eq!(
        headers,
        [
            (&b"Host"[..], &b"Example.com:8080"[..]),
            (b"User-Agent", b"curl/8.5.0"),
            (b"Accept", b"*/*"),
            (b"X-Empty", b""),
        ]
    );
    let name = http::HeaderName::from_static("user-agent");
    assert!(view.any_value(&name, &mut |v| v.starts_with(b"curl/")));
    assert!(!view.any_value(&name, &mut |v| v == b"wrk"));
}

#[test]
fn a_query_can_be_empty_or_absent() {
    let buf = b"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.view(buf).query(), Some(&b""[..]));
    assert_eq!(parsed.view(buf).path(), b"/a");
    let buf = b"GET /a/b/ HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.view(buf).query(), None);
    assert_eq!(parsed.view(buf).path(), b"/a/b/");
    // Escapes in the query are kept as sent (only the path is normalised).
    let buf = b"GET /search?q=a%20b&x=%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.view(buf).query(), Some(&b"q=a%20b&x=%C3%A9"[..]));
    // A `?` inside the query is part of it.
    let buf = b"GET /?a=/?b HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.view(buf).path(), b"/");
    assert_eq!(parsed.view(buf).query(), Some(&b"a=/?b"[..]));
}

#[test]
fn lengths_methods_and_connection_options() {
    let buf = b"POST /f HTTP/1.1\r\nHost: a\r\ncontent-length: 65536\r\nConnection: Keep-Alive, CLOSE\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.content_length(), MAX_LEAN_BODY);
    assert!(parsed.wants_close());
    let buf = b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: ,\r\n\r\n";
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert!(parsed.is_head_method());
    assert!(!parsed.wants_close());
    assert_eq!(parsed.content_length(), 0);
    for method in ["DELETE", "OPTIONS", "PATCH", "PURGE", "get", "M-SEARCH"] {
        let head = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(head.as_bytes()), HeadStatus::Lean, "{method}");
    }
}

#[test]
fn header_values_lose_surrounding_whitespace() {
    let buf = b"GET / HTTP/1.1\r\nHost: \t a.example \t\r\nX-A:  b c  \r\n\r\n";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    let view = parsed.view(buf);
    assert_eq!(view.header("host"), Some(&b"a.example"[..]));
    assert_eq!(view.header("x-a"), Some(&b"b c"[..]));
}

#[test]
fn the_parser_is_reused_across_requests() {
    let mut parsed = ParsedRequest::new();
    let first = b"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n";
    assert_eq!(parsed.parse(first, LIMIT), HeadStatus::Lean);
    let refused = b"GET / HTTP/1.1\r\nHost: a\r\nX-B: 1\r\nUpgrade: h2c\r\n\r\n";
    assert_eq!(
        parsed.parse(refused, LIMIT),
        HeadStatus::Fallback("upgrade")
    );
    let second = b"GET /two HTTP/1.1\r\nHost: b\r\n\r\n";
    assert_eq!(parsed.parse(second, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.content_length(), 0);
    assert!(!parsed.wants_close());
    let view = parsed.view(second);
    assert_eq!(view.path(), b"/two");
    assert_eq!(view.headers().count(), 1);
}

#[test]
fn pipelined_requests_end_at_the_first_head() {
    let buf = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.head_len(), buf.len() / 2);
    assert_eq!(parsed.view(buf).path(), b"/1");
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    let buf = b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(buf, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.head_len(), buf.len());
    assert_eq!(parsed.view(buf).method(), b"GET");
}

/// Heads the lean path hands to Pingora, with the reason given.
const FALLBACKS: &[(&[u8], &str)] = &[
    (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", "http/1.0"),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "version"),
    (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "version"),
    (
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        "method CONNECT",
    ),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "method PRI"),
    (
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "target not origin-form",
    ),
    (
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "target not origin-form",
    ),
    (
        b"GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n",
        "target percent-escape",
    ),
    (
        b"GET /?q=%4 HTTP/1.1\r\nHost: a\r\n\r\n",
        "query percent-escape",
    ),
    (
        b"GET /?q=%zz&r=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "query percent-escape",
    ),
    (
        b"GET /?a=1;b=2 HTTP/1.1\r\nHost: a\r\n\r\n",
        "semicolon in query",
    ),
    (b"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n", "target byte"),
    (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", "target byte"),
    (b"GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n", "target byte"),
    (
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        "target byte",
    ),
    (
        b"GET //a HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /a/. HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /a/..?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (
        b"GET /.. HTTP/1.1\r\nHost: a\r\n\r\n",
        "path not normalised",
    ),
    (b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", "host missing"),
    (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "host empty"),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "host repeated",
    ),
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "host byte"),
    (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "host byte"),
    (b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", "host byte"),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "transfer-encoding",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: identity\r\n\r\n",
        "transfer-encoding",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "transfer-encoding",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        "content-length repeated",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\n",
        "content-length repeated",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
        "content-length not digits",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
        "content-length not digits",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        "content-length not digits",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
        "content-length not digits",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n",
        "content-length too large",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "content-length too large",
    ),
    (
        b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
        "expect",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        "connection option",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        "upgrade",
    ),
    (b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n", "te"),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\n\r\n",
        "trailer",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: timeout=5\r\n\r\n",
        "keep-alive",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: keep-alive\r\n\r\n",
        "proxy-connection",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic eA==\r\n\r\n",
        "proxy-authorization",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n\r\n",
        "connection option",
    ),
    // Smuggling shapes.
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
        "header name",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n 0\r\n\r\n",
        "header name",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        "header name",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n",
        "header name",
    ),
    (b"GET / HTTP/1.1\nHost: a\r\n\r\n", "bare line feed"),
    (b"GET / HTTP/1.1\r\nHost: a\n\r\n", "bare line feed"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\n", "bare line feed"),
    (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "bare line feed"),
    (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "header value"),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
        "header value",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A\x00: b\r\n\r\n",
        "header name",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n",
        "header value",
    ),
    (b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", "header name"),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n",
        "header name",
    ),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request line"),
    (b"GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", "request line"),
    (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "request line"),
    (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "line ending"),
];

#[test]
fn every_fallback_rule_gives_its_reason() {
    for (head, reason) in FALLBACKS {
        assert_eq!(
            status(head),
            HeadStatus::Fallback(reason),
            "{}",
            head.escape_ascii()
        );
    }
}

#[test]
fn fallbacks_are_known_as_soon_as_the_bytes_show_them() {
    assert_eq!(
        status(b"GET / HTTP/1.0\r\n"),
        HeadStatus::Fallback("http/1.0")
    );
    assert_eq!(status(b"CONNECT "), HeadStatus::Fallback("method CONNECT"));
    assert_eq!(
        status(b"GET /a/../b "),
        HeadStatus::Fallback("path not normalised")
    );
    assert_eq!(status(b"GET /\x00"), HeadStatus::Fallback("request line"));
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nX: \x01"),
        HeadStatus::Fallback("header value")
    );
    // Before the head is complete, only the request line and the bytes are judged.
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n"),
        HeadStatus::Partial
    );
}

#[test]
fn header_count_is_limited() {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_LEAN_HEADERS {
        head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    let mut full = head.clone();
    full.extend_from_slice(b"\r\n");
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(&full, LIMIT), HeadStatus::Lean);
    assert_eq!(parsed.view(&full).headers().count(), MAX_LEAN_HEADERS);
    head.extend_from_slice(b"X-Last: 1\r\n\r\n");
    assert_eq!(
        parsed.parse(&head, LIMIT),
        HeadStatus::Fallback("too many headers")
    );
}

#[test]
fn heads_beyond_the_limit_are_too_large() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    // A complete head exactly at the limit is served; one byte less and it is too large.
    assert_eq!(parsed.parse(head, head.len()), HeadStatus::Lean);
    assert_eq!(parsed.parse(head, head.len() - 1), HeadStatus::TooLarge);
    // Incomplete: partial while below the limit, too large once the limit is read.
    let cut = &head[..30];
    assert_eq!(parsed.parse(cut, 31), HeadStatus::Partial);
    assert_eq!(parsed.parse(cut, 30), HeadStatus::TooLarge);
    assert_eq!(parsed.parse(cut, 10), HeadStatus::TooLarge);
    // A request line that is already refused is handed on, however long the head.
    assert_eq!(
        parsed.parse(b"GET / HTTP/1.0\r\nX-Pad: 0123456789", 20),
        HeadStatus::Fallback("http/1.0")
    );
}

/// Every prefix of `head` is `Partial` or gives the whole head's answer; a `Lean` head is
/// `Partial` until its blank line, then `Lean` with the same length.
fn assert_split_anywhere(head: &[u8]) {
    let mut parsed = ParsedRequest::new();
    let whole = parsed.parse(head, LIMIT);
    let head_len = parsed.head_len();
    for cut in 0..head.len() {
        let prefix = parsed.parse(&head[..cut], LIMIT);
        match whole {
            HeadStatus::Lean if cut < head_len => {
                assert_eq!(prefix, HeadStatus::Partial, "cut {cut}")
            }
            HeadStatus::Lean => {
                assert_eq!(prefix, HeadStatus::Lean, "cut {cut}");
                assert_eq!(parsed.head_len(), head_len);
            }
            _ => assert!(
                prefix == HeadStatus::Partial || prefix == whole,
                "{} cut at {cut}: {prefix:?}, whole {whole:?}",
                head.escape_ascii()
            ),
        }
    }
}

#[test]
fn heads_split_anywhere_give_the_same_answer() {
    let lean: &[&[u8]] = &[
        b"GET /api/items?id=7 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for head in lean {
        assert_eq!(status(head), HeadStatus::Lean);
        assert_split_anywhere(head);
    }
    for (head, _) in FALLBACKS {
        assert_split_anywhere(head);
    }
}

/// A header name that the lean path has no rule for.
fn plain_header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$&'*+.^_`|~-]{0,15}".prop_filter("a name with a rule", |name| {
        matches!(classify(name.as_bytes()), Known::Other)
    })
}

fn lean_head() -> impl Strategy<Value = (String, String, Option<String>, Vec<(String, String)>)> {
    (
        "[A-Z]{1,7}".prop_filter("refused methods", |m| m != "CONNECT" && m != "PRI"),
        proptest::collection::vec("[A-Za-z0-9._~!$&'()*+,;=:@-]{1,8}", 0..5)
            .prop_filter("dot segments", |segments| {
                segments.iter().all(|s| s != "." && s != "..")
            })
            .prop_map(|segments| format!("/{}", segments.join("/"))),
        proptest::option::of("[A-Za-z0-9._~!$&'()*+,=:@/?-]{0,12}"),
        proptest::collection::vec((plain_header_name(), "[ -~]{0,20}"), 0..10).prop_map(
            |headers| {
                headers
                    .into_iter()
                    .map(|(name, value)| (name, value.trim().to_string()))
                    .collect()
            },
        ),
    )
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), limit in 1usize..400) {
        let mut parsed = ParsedRequest::new();
        if parsed.parse(&bytes, limit) == HeadStatus::Lean {
            let view = parsed.view(&bytes);
            prop_assert!(view.path().starts_with(b"/"));
            prop_assert!(parsed.head_len() <= bytes.len().min(limit));
        }
    }

    #[test]
    fn mutated_heads_never_panic(at in 0usize..120, byte in any::<u8>()) {
        let mut head = b"POST /a/b?c=d HTTP/1.1\r\nHost: a.example\r\nContent-Length: 2\r\nX-Long-Header-Name: value\r\n\r\nab".to_vec();
        let at = at % head.len();
        head[at] = byte;
        let mut parsed = ParsedRequest::new();
        if parsed.parse(&head, LIMIT) == HeadStatus::Lean {
            prop_assert!(parsed.view(&head).headers().count() >= 1);
        }
    }

    #[test]
    fn lean_heads_round_trip((method, path, query, headers) in lean_head(), host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?") {
        let target = match &query {
            Some(query) => format!("{path}?{query}"),
            None => path.clone(),
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut parsed = ParsedRequest::new();
        prop_assert_eq!(parsed.parse(head.as_bytes(), LIMIT), HeadStatus::Lean);
        prop_assert_eq!(parsed.head_len(), head.len());
        let view = parsed.view(head.as_bytes());
        prop_assert_eq!(view.method_str(), method.as_str());
        prop_assert_eq!(view.target(), target.as_bytes());
        prop_assert_eq!(view.path(), path.as_bytes());
        prop_assert_eq!(view.query(), query.as_deref().map(str::as_bytes));
        let mut expected = vec![(&b"Host"[..], host.as_bytes())];
        expected.extend(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        prop_assert_eq!(view.headers().collect::<Vec<_>>(), expected);
    }
}
