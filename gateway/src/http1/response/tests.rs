use super::*;

const LIMIT: usize = 8192;

fn parsed(head: &[u8]) -> ParsedResponse {
    let mut parsed = ParsedResponse::new();
    assert_eq!(
        parsed.parse(head, LIMIT),
        ResponseStatus::Complete,
        "{}",
        head.escape_ascii()
    );
    parsed
}

fn status(head: &[u8]) -> ResponseStatus {
    ParsedResponse::new().parse(head, LIMIT)
}

#[test]
fn a_plain_response_reads_like_the_wire() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Empty:\r\n\r\nhello";
    let resp = parsed(buf);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.head_len(), buf.len() - 5);
    assert_eq!(resp.reason(buf), b"OK");
    assert_eq!(resp.body(false), ResponseBody::Length(5));
    assert_eq!(resp.body(true), ResponseBody::Empty);
    assert!(resp.server_keeps_alive());
    let headers: Vec<_> = resp.headers(buf).collect();
    assert_eq!(
        headers,
        [
            (&b"Content-Type"[..], &b"text/plain"[..]),
            (b"Content-Length", b"5"),
            (b"X-Empty", b""),
        ]
    );
}

#[test]
fn framing_follows_status_encoding_and_length() {
    let cases: &[(&[u8], ResponseBody)] = &[
        (
            b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            ResponseBody::Empty,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            ResponseBody::Empty,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", ResponseBody::Empty),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
            ResponseBody::Empty,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            ResponseBody::Chunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n",
            ResponseBody::Chunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            ResponseBody::Chunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            ResponseBody::UntilClose,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            ResponseBody::UntilClose,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ResponseBody::Length(0),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n",
            ResponseBody::Length(7),
        ),
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 18446744073709551615\r\n\r\n",
            ResponseBody::Length(u64::MAX),
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n", ResponseBody::UntilClose),
        (b"HTTP/1.0 200 OK\r\n\r\n", ResponseBody::UntilClose),
    ];
    for (head, body) in cases {
        assert_eq!(parsed(head).body(false), *body, "{}", head.escape_ascii());
        assert_eq!(parsed(head).body(true), ResponseBody::Empty);
    }
}

#[test]
fn keep_alive_depends_on_version_and_connection() {
    let cases: &[(&[u8], bool)] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        (
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\r\n",
            false,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n\r\n", true),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            false,
        ),
    ];
    for (head, keeps) in cases {
        assert_eq!(
            parsed(head).server_keeps_alive(),
            *keeps,
            "{}",
            head.escape_ascii()
        );
    }
}

#[test]
fn misframed_or_malformed_heads_are_invalid() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "content-length with transfer-encoding",
        ),
        (
            b"HTTP/1.1 204 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            "content-length with transfer-encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "content-length conflict",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\n",
            "content-length conflict",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
            "content-length invalid",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "content-length invalid",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
            "content-length invalid",
        ),
        (b"HTTP/1.1 099 Low\r\n\r\n", "status below 100"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "malformed head"),
        (b"HTTP/2 200 OK\r\n\r\n", "malformed head"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n",
            "malformed head",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
            "malformed head",
        ),
        (b"HTTP/1.1 200 OK\r\nX-A: b\x00c\r\n\r\n", "malformed head"),
    ];
    for (head, reason) in cases {
        assert_eq!(
            status(head),
            ResponseStatus::Invalid(reason),
            "{}",
            head.escape_ascii()
        );
    }
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_RESPONSE_HEADERS {
        many.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(status(&many), ResponseStatus::Invalid("too many headers"));
}

#[test]
fn an_empty_reason_and_bare_line_feeds_are_taken() {
    let buf = b"HTTP/1.1 200 \nContent-Length: 1\n\nx";
    let resp = parsed(buf);
    assert_eq!(resp.reason(buf), b"");
    assert_eq!(resp.head_len(), buf.len() - 1);
    assert_eq!(resp.body(false), ResponseBody::Length(1));
}

#[test]
fn heads_split_anywhere_and_beyond_the_limit() {
    let head = b"HTTP/1.1 200 OK\r\nServer: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
    let mut resp = ParsedResponse::new();
    let head_len = head.len() - 3;
    for cut in 0..head_len {
        assert_eq!(
            resp.parse(&head[..cut], LIMIT),
            ResponseStatus::Partial,
            "cut {cut}"
        );
    }
    for cut in head_len..=head.len() {
        assert_eq!(resp.parse(&head[..cut], LIMIT), ResponseStatus::Complete);
        assert_eq!(resp.head_len(), head_len);
        assert_eq!(resp.body(false), ResponseBody::Chunked);
    }
    assert_eq!(resp.parse(head, head_len), ResponseStatus::Complete);
    assert_eq!(resp.parse(head, head_len - 1), ResponseStatus::TooLarge);
    assert_eq!(resp.parse(&head[..20], 20), ResponseStatus::TooLarge);
    assert_eq!(resp.parse(&head[..20], 21), ResponseStatus::Partial);
}

#[test]
fn the_parser_is_reused_across_responses() {
    let mut resp = ParsedResponse::new();
    let first = b"HTTP/1.0 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(resp.parse(first, LIMIT), ResponseStatus::Complete);
    let second = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(resp.parse(second, LIMIT), ResponseStatus::Complete);
    assert_eq!(resp.body(false), ResponseBody::Length(2));
    assert!(resp.server_keeps_alive());
    assert_eq!(resp.headers(second).count(), 1);
    assert_eq!(resp.reason(second), b"Created");
}
