//! How long the body of a request Pingora will parse is, read from its head the way Pingora
//! frames it, so the entrypoint knows when the request has been read whole (its readTimeout
//! bounds the request, not the wait for the response).

/// A request body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// This many bytes follow the head.
    Length(u64),
    /// Chunked: it ends with its last chunk and trailers.
    Chunked,
}

/// The body framing of the complete request head at the start of `head`; `None` when the head
/// does not parse (Pingora refuses it, so its body is never read) or its framing is not one
/// Pingora reads (a `Transfer-Encoding` other than chunked: refused too).
pub fn request_body(head: &[u8]) -> Option<RequestBody> {
    let mut headers = [httparse::EMPTY_HEADER; 256];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let mut length = None;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default();
            return last
                .trim_ascii()
                .eq_ignore_ascii_case(b"chunked")
                .then_some(RequestBody::Chunked);
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value).ok()?.trim().parse().ok();
        }
    }
    Some(RequestBody::Length(length.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_read_from_the_head() {
        assert_eq!(
            request_body(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"),
            Some(RequestBody::Length(12))
        );
        assert_eq!(
            request_body(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(RequestBody::Length(0))
        );
        assert_eq!(
            request_body(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Some(RequestBody::Chunked)
        );
        assert_eq!(
            request_body(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            None
        );
        assert_eq!(request_body(b"NOT HTTP\r\n\r\n"), None);
    }
}
