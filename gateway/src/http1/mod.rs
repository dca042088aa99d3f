//! The lean HTTP/1 path's wire format: request heads, upstream response heads and chunked
//! bodies, parsed into offsets over the connection's own buffer without allocating.

pub mod chunked;
pub mod framing;
pub mod request;
pub mod response;

/// A byte range `start..end` of the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of `part`, a sub-slice of `buf` (or empty).
    fn within(buf: &[u8], part: &[u8]) -> Self {
        if part.is_empty() {
            return Span::default();
        }
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    /// The bytes of `buf` this span covers (empty if `buf` is shorter: a caller's mistake).
    fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Whether every line of `head` ends in CRLF: httparse also takes a bare LF, which a
/// front end and a back end can read differently.
fn lines_end_in_crlf(head: &[u8]) -> bool {
    let mut previous = 0u8;
    for &byte in head {
        if byte == b'\n' && previous != b'\r' {
            return false;
        }
        previous = byte;
    }
    true
}

/// Whether `list` (a comma-separated header value) holds `token`, compared case-insensitively.
fn list_has_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

/// The value of a `Content-Length`: ASCII digits only, `None` if anything else or above `max`.
fn parse_length(value: &[u8], max: u64) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut length: u64 = 0;
    for &byte in value {
        if !byte.is_ascii_digit() {
            return None;
        }
        length = length
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
        if length > max {
            return None;
        }
    }
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation_count::allocations_during;

    #[test]
    fn parsing_and_reading_heads_never_allocates() {
        use crate::proxy::head::RequestHead;
        let request = b"POST /a/b?c=d HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nConnection: keep-alive\r\nUser-Agent: test\r\n\r\n";
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: s\r\n\r\n";
        let body = b"5;x=y\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n";
        let mut parsed_request = request::ParsedRequest::new();
        let mut parsed_response = response::ParsedResponse::new();
        let allocations = allocations_during(|| {
            for _ in 0..100 {
                assert_eq!(
                    parsed_request.parse(request, 8192),
                    request::HeadStatus::Lean
                );
                let view = parsed_request.view(request);
                assert_eq!(view.header("user-agent"), Some(&b"test"[..]));
                assert_eq!(view.headers().count(), 4);
                assert_eq!(
                    parsed_response.parse(response, 8192),
                    response::ResponseStatus::Complete
                );
                assert_eq!(parsed_response.headers(response).count(), 2);
                let mut scanner = chunked::ChunkedScanner::new();
                for piece in body.chunks(7) {
                    scanner.scan(piece).unwrap();
                }
            }
        });
        assert_eq!(allocations, 0);
    }

    #[test]
    fn bare_line_feeds_are_found() {
        assert!(lines_end_in_crlf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!lines_end_in_crlf(b"GET / HTTP/1.1\nHost: a\r\n\r\n"));
        assert!(!lines_end_in_crlf(b"\n"));
    }

    #[test]
    fn lengths_are_digits_within_the_limit() {
        assert_eq!(parse_length(b"0", 10), Some(0));
        assert_eq!(parse_length(b"0010", 10), Some(10));
        assert_eq!(parse_length(b"11", 10), None);
        assert_eq!(parse_length(b"", 10), None);
        assert_eq!(parse_length(b"+1", 10), None);
        assert_eq!(parse_length(b"1 ", 10), None);
        assert_eq!(parse_length(b"99999999999999999999999", u64::MAX), None);
        assert_eq!(
            parse_length(b"18446744073709551615", u64::MAX),
            Some(u64::MAX)
        );
    }

    #[test]
    fn token_lists() {
        assert!(list_has_token(b"keep-alive, Close", b"close"));
        assert!(!list_has_token(b"closed", b"close"));
        assert!(list_has_token(b" ,close,", b"close"));
    }
}
