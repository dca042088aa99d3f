//! Answers the gateway writes itself, byte for byte as Traefik (Go's `net/http`) writes them,
//! and the one function that sends every one of them.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

/// `404 page not found\n` (Go's `http.NotFound`), when no router matches.
pub const NOT_FOUND: &[u8] = b"404 page not found\n";
/// `no available server\n`, when a service has no server to send to (503).
pub const NO_AVAILABLE_SERVER: &[u8] = b"no available server\n";

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// A complete answer of the gateway's own: status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// A reason phrase other than the standard one (Go's `400 Bad Request: missing ...`).
    reason: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    /// Whether the connection is closed after this answer.
    pub close: bool,
}

impl Answer {
    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            reason: None,
            headers: HeaderMap::from_iter([(http::header::CONTENT_TYPE, TEXT_PLAIN)]),
            body: body.into(),
            close: false,
        }
    }

    /// An answer with no body and no `Content-Type` (Go's handler that writes nothing).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            reason: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            close: false,
        }
    }

    /// Go's `http.Error`: `text/plain` with `X-Content-Type-Options: nosniff`.
    pub fn go_error(status: u16, body: &'static [u8]) -> Self {
        Self::text(status, body).header(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
    }

    /// A failed forward as Traefik answers it: the status text as the body (`Bad Gateway`),
    /// no `Content-Type` (Traefik v3 does not sniff one); a status with no standard reason
    /// phrase gets Go's (`499 status code 499`).
    pub fn proxy_error(status: u16) -> Self {
        let mut answer = Self::empty(status).with_body(status_text(status));
        if http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .is_none()
        {
            answer.reason = Some(format!("status code {status}"));
        }
        answer
    }

    /// An `application/json` answer.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        let mut answer = Self::text(status, body);
        answer.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        answer
    }

    /// A request Go's server refuses before any handler runs: `400 Bad Request[: reason]` as
    /// both the status line and the body, and the connection closed.
    pub fn bad_request(reason: Option<&'static str>) -> Self {
        let text = match reason {
            Some(reason) => format!("Bad Request: {reason}"),
            None => "Bad Request".to_string(),
        };
        let mut answer = Self::text(400, format!("400 {text}"));
        answer.reason = reason.map(|_| text);
        answer.close = true;
        answer
    }

    /// Go's answer to a `Transfer-Encoding` it does not implement (501), connection closed.
    pub fn unsupported_transfer_encoding() -> Self {
        let mut answer = Self::text(501, &b"Unsupported transfer encoding"[..]);
        answer.close = true;
        answer
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The answer with `body` (its `Content-Length` follows it).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The headers (`Content-Length`, `Date` and `Connection` are added when it is written).
    pub fn header_map(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to change.
    pub fn header_map_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Writes the answer (its header alone for HEAD) with a `Content-Length`.
    pub async fn send(self, session: &mut Session) -> Result<()> {
        let mut header = self.response_header()?;
        if self.close {
            header.insert_header(http::header::CONNECTION, "close")?;
            session.set_keepalive(None);
        }
        close_when_shutting_down(session);
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(header), head_only)
            .await?;
        if !head_only {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }
}

impl Answer {
    /// Its response head as Pingora writes it: the headers in Go's spelling and a
    /// `Content-Length` (the body's length, also for HEAD).
    pub fn response_header(&self) -> Result<ResponseHeader> {
        let mut header = ResponseHeader::build(self.status, Some(self.headers.len() + 2))?;
        if let Some(reason) = self.reason.as_deref().or_else(|| go_reason(self.status)) {
            header.set_reason_phrase(Some(reason))?;
        }
        for (name, value) in &self.headers {
            header.append_header(crate::middleware::edit::go_canonical(name), value.clone())?;
        }
        if has_content_length(self.status) {
            header.insert_header(http::header::CONTENT_LENGTH, self.body.len())?;
        }
        Ok(header)
    }

    /// The answer as HTTP/1.1 bytes, as the Pingora path sends it (its headers, then
    /// `Content-Length`, `Date` and `Connection`), for the lean path; the body is left out
    /// when `head_only`.
    pub fn write_http1(&self, head_only: bool, keep_alive: bool, out: &mut Vec<u8>) {
        use std::io::Write;
        let reason = match self.reason.as_deref().or_else(|| go_reason(self.status)) {
            Some(reason) => reason.as_bytes(),
            None => http::StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
                .as_bytes(),
        };
        let _ = write!(out, "HTTP/1.1 {} ", self.status);
        out.extend_from_slice(reason);
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            write_title_case(out, name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if has_content_length(self.status) {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        write_header(
            out,
            b"Date",
            pingora::protocols::http::date::get_cached_date().as_bytes(),
        );
        let close = self.close || !keep_alive;
        write_header(
            out,
            b"Connection",
            if close { b"close" } else { b"keep-alive" },
        );
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Whether an answer with this status says its length: not 1xx, 204 and 304, which have no
/// body (Go's `bodyAllowedForStatus`).
fn has_content_length(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

/// Appends `name: value\r\n`.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a lowercase header name in Go's canonical spelling (`Content-Type`).
fn write_title_case(out: &mut Vec<u8>, name: &[u8]) {
    let mut upper = true;
    for &byte in name {
        out.push(if upper {
            byte.to_ascii_uppercase()
        } else {
            byte
        });
        upper = byte == b'-';
    }
}

/// Once listeners have stopped, answers say `Connection: close` and the connection ends after
/// them, as Go's server does during `Shutdown`.
pub fn close_when_shutting_down(session: &mut Session) {
    if session.is_process_shutting_down() {
        session.set_keepalive(None);
    }
}

/// Go's reason phrase where it differs from the `http` crate's (Go keeps RFC 7231's names).
pub fn go_reason(status: u16) -> Option<&'static str> {
    match status {
        413 => Some("Request Entity Too Large"),
        414 => Some("Request URI Too Long"),
        416 => Some("Requested Range Not Satisfiable"),
        _ => None,
    }
}

/// The body Traefik sends for a failed forward: the status text (`Bad Gateway`).
pub fn status_text(status: u16) -> &'static [u8] {
    match status {
        400 => b"Bad Request",
        499 => b"Client Closed Request",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        504 => b"Gateway Timeout",
        _ => b"Internal Server Error",
    }
}

/// Go's `http.StatusText`: `None` for a code Go has no text for.
pub fn go_status_text(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}
