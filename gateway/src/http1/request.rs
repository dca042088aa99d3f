//! Request heads on the lean path: which requests it serves (`Lean`), which it hands to
//! Pingora (`Fallback`), and the head as byte offsets into the connection's buffer.

use std::mem::MaybeUninit;

use super::{lines_end_in_crlf, parse_length, Span};
use crate::proxy::head::RequestHead;
use crate::proxy::intake::is_valid_host_byte;

/// The most headers a lean request may have; a request with more is handed to Pingora.
pub const MAX_LEAN_HEADERS: usize = 100;
/// The largest `Content-Length` the lean path forwards; larger bodies are handed to Pingora.
pub const MAX_LEAN_BODY: u64 = 64 * 1024;

/// What [`ParsedRequest::parse`] found at the start of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadStatus {
    /// No complete head yet, and there is room for more bytes: read more.
    Partial,
    /// A complete head the lean path serves exactly as the Pingora path would.
    Lean,
    /// A head (complete or not) the lean path does not serve, with the first reason found:
    /// hand the bytes read so far to Pingora, which gives its own answer.
    Fallback(&'static str),
    /// No complete head within the size limit (Go's server answers 431).
    TooLarge,
}

/// One request head, parsed as offsets into the caller's buffer. Allocated once per
/// connection and reused for each request: parsing never allocates.
pub struct ParsedRequest {
    head_len: usize,
    method: Span,
    target: Span,
    /// Length of the target's path, before any `?`.
    path_len: u32,
    has_query: bool,
    header_count: usize,
    names: [Span; MAX_LEAN_HEADERS],
    values: [Span; MAX_LEAN_HEADERS],
    content_length: u64,
    wants_close: bool,
    is_head_method: bool,
}

impl Default for ParsedRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl ParsedRequest {
    /// An empty head, ready for [`parse`](Self::parse).
    pub fn new() -> Self {
        ParsedRequest {
            head_len: 0,
            method: Span::default(),
            target: Span::default(),
            path_len: 0,
            has_query: false,
            header_count: 0,
            names: [Span::default(); MAX_LEAN_HEADERS],
            values: [Span::default(); MAX_LEAN_HEADERS],
            content_length: 0,
            wants_close: false,
            is_head_method: false,
        }
    }

    /// Parses the request head at the start of `buf` (a head is at most `max_head_bytes`
    /// long, request line, headers and blank line included). The accessors describe the
    /// last head parsed as `Lean`, and must be read against the same buffer.
    pub fn parse(&mut self, buf: &[u8], max_head_bytes: usize) -> HeadStatus {
        self.header_count = 0;
        let window = &buf[..buf.len().min(max_head_bytes)];
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_LEAN_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(window, &mut slots);
        // What the request line already shows comes first, so that every prefix of a head
        // that is handed on gives the same reason.
        if let Err(reason) = self.read_request_line(buf, &req) {
            return HeadStatus::Fallback(reason);
        }
        match parsed {
            Ok(httparse::Status::Partial) if buf.len() >= max_head_bytes => HeadStatus::TooLarge,
            Ok(httparse::Status::Partial) => HeadStatus::Partial,
            Err(err) => HeadStatus::Fallback(rejection_reason(err)),
            Ok(httparse::Status::Complete(head_len)) => {
                self.head_len = head_len;
                if !lines_end_in_crlf(&buf[..head_len]) {
                    return HeadStatus::Fallback("bare line feed");
                }
                match self.read_headers(buf, req.headers) {
                    Ok(()) => HeadStatus::Lean,
                    Err(reason) => HeadStatus::Fallback(reason),
                }
            }
        }
    }

    /// Checks and records the parts of the request line httparse has read so far.
    fn read_request_line(
        &mut self,
        buf: &[u8],
        req: &httparse::Request<'_, '_>,
    ) -> Result<(), &'static str> {
        if let Some(method) = req.method {
            match method {
                "CONNECT" => return Err("method CONNECT"),
                "PRI" => return Err("method PRI"),
                _ => {}
            }
            self.method = Span::within(buf, method.as_bytes());
            self.is_head_method = method == "HEAD";
        }
        if let Some(target) = req.path {
            let path_len = check_target(target.as_bytes())?;
            self.target = Span::within(buf, target.as_bytes());
            self.path_len = path_len as u32;
            self.has_query = path_len < target.len();
        }
        match req.version {
            Some(0) => Err("http/1.0"),
            _ => Ok(()),
        }
    }

    /// Checks and records the headers of a complete head.
    fn read_headers(
        &mut self,
        buf: &[u8],
        headers: &[httparse::Header<'_>],
    ) -> Result<(), &'static str> {
        let mut host: Option<&[u8]> = None;
        let mut content_length: Option<u64> = None;
        self.wants_close = false;
        for header in headers {
            let name = header.name.as_bytes();
            let value = header.value.trim_ascii();
            match classify(name) {
                Known::Host if host.is_some() => return Err("host repeated"),
                Known::Host => host = Some(value),
                Known::ContentLength if content_length.is_some() => {
                    return Err("content-length repeated")
                }
                Known::ContentLength => {
                    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                        return Err("content-length not digits");
                    }
                    content_length =
                        Some(parse_length(value, MAX_LEAN_BODY).ok_or("content-length too large")?);
                }
                Known::Connection => {
                    for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                        if option.eq_ignore_ascii_case(b"close") {
                            self.wants_close = true;
                        } else if !option.is_empty() && !option.eq_ignore_ascii_case(b"keep-alive")
                        {
                            return Err("connection option");
                        }
                    }
                }
                Known::Refused(reason) => return Err(reason),
                Known::Other => {}
            }
            self.names[self.header_count] = Span::within(buf, name);
            self.values[self.header_count] = Span::within(buf, value);
            self.header_count += 1;
        }
        match host {
            None => return Err("host missing"),
            Some([]) => return Err("host empty"),
            Some(host) if !host.iter().all(|&b| is_valid_host_byte(b)) => return Err("host byte"),
            Some(_) => {}
        }
        self.content_length = content_length.unwrap_or(0);
        Ok(())
    }

    /// Bytes of the request line, headers and blank line (valid after `Lean`).
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The body's length: 0 when the request has none (valid after `Lean`).
    pub fn content_length(&self) -> u64 {
        self.content_length
    }

    /// Whether the client sent `Connection: close`.
    pub fn wants_close(&self) -> bool {
        self.wants_close
    }

    /// Whether the method is `HEAD` (its response has no body).
    pub fn is_head_method(&self) -> bool {
        self.is_head_method
    }

    /// The head read against `buf`, the buffer it was parsed from.
    pub fn view<'b>(&'b self, buf: &'b [u8]) -> HeadView<'b> {
        HeadView { parsed: self, buf }
    }
}

/// The headers the lean path looks at by name.
enum Known {
    Host,
    ContentLength,
    Connection,
    /// A header whose semantics the lean path does not implement.
    Refused(&'static str),
    Other,
}

fn classify(name: &[u8]) -> Known {
    let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
    match name.len() {
        2 if is("te") => Known::Refused("te"),
        4 if is("host") => Known::Host,
        6 if is("expect") => Known::Refused("expect"),
        7 if is("upgrade") => Known::Refused("upgrade"),
        7 if is("trailer") => Known::Refused("trailer"),
        10 if is("connection") => Known::Connection,
        10 if is("keep-alive") => Known::Refused("keep-alive"),
        14 if is("content-length") => Known::ContentLength,
        16 if is("proxy-connection") => Known::Refused("proxy-connection"),
        17 if is("transfer-encoding") => Known::Refused("transfer-encoding"),
        19 if is("proxy-authorization") => Known::Refused("proxy-authorization"),
        _ => Known::Other,
    }
}

/// Checks an origin-form target whose path normalisation is the identity; returns the
/// length of its path (the bytes before any `?`).
fn check_target(target: &[u8]) -> Result<usize, &'static str> {
    if target.first() != Some(&b'/') {
        return Err("target not origin-form");
    }
    let mut path_len = target.len();
    for (i, &byte) in target.iter().enumerate() {
        match byte {
            // Escapes in the query are forwarded as sent on both paths; in the path they are
            // normalised, which the lean path leaves to Pingora's.
            b'%' if path_len < i => {
                let escape = target.get(i + 1..i + 3).unwrap_or_default();
                if escape.len() != 2 || !escape.iter().all(u8::is_ascii_hexdigit) {
                    return Err("query percent-escape");
                }
            }
            b'%' => return Err("target percent-escape"),
            b';' if path_len < i => return Err("semicolon in query"),
            b'?' if path_len == target.len() => path_len = i,
            _ if is_target_byte(byte) => {}
            _ => return Err("target byte"),
        }
    }
    if !is_clean_path(&target[..path_len]) {
        return Err("path not normalised");
    }
    Ok(path_len)
}

/// RFC 3986's `pchar` without `%`, plus `/` and `?`: every byte `http::Uri` and Go's
/// `url.ParseRequestURI` both take as is.
fn is_target_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte)
}

/// Whether `path` (starting with `/`) has no empty, `.` or `..` segment except a final
/// empty one (a trailing slash), so that removing dot segments and merging slashes
/// leave it as it is.
fn is_clean_path(path: &[u8]) -> bool {
    let mut segments = path[1..].split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == b"." || segment == b".." {
            return false;
        }
    }
    true
}

fn rejection_reason(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "header name",
        httparse::Error::HeaderValue => "header value",
        httparse::Error::NewLine => "line ending",
        httparse::Error::Token => "request line",
        httparse::Error::Version => "version",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Status => "status",
    }
}

/// A lean request head read against its buffer.
#[derive(Clone, Copy)]
pub struct HeadView<'b> {
    parsed: &'b ParsedRequest,
    buf: &'b [u8],
}

impl<'b> HeadView<'b> {
    /// The raw request target (path and query, as sent).
    pub fn target(&self) -> &'b [u8] {
        self.parsed.target.of(self.buf)
    }

    /// The method (an HTTP token, hence ASCII).
    pub fn method_str(&self) -> &'b str {
        std::str::from_utf8(self.parsed.method.of(self.buf)).unwrap_or("")
    }

    /// Every header in the order received, names as sent.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 'b {
        let (parsed, buf) = (self.parsed, self.buf);
        let count = parsed.header_count;
        parsed.names[..count]
            .iter()
            .zip(&parsed.values[..count])
            .map(move |(name, value)| (name.of(buf), value.of(buf)))
    }
}

impl HeadView<'_> {
    /// An owned copy (header names as sent) for middlewares to change; `None` if a header
    /// name is not UTF-8 or a value not a valid header value.
    pub fn to_request_header(&self) -> Option<pingora::http::RequestHeader> {
        let count = self.parsed.header_count;
        let mut head =
            pingora::http::RequestHeader::build(self.method(), self.target(), Some(count)).ok()?;
        for (name, value) in self.header_pairs() {
            let name = std::str::from_utf8(name).ok()?.to_string();
            let value = http::HeaderValue::from_bytes(value).ok()?;
            head.append_header(name, value).ok()?;
        }
        Some(head)
    }
}

/// Writes a request head as HTTP/1.1 (request line, headers with their names as kept, the
/// blank line) into `out`, replacing what it held.
pub fn write_request_head(head: &pingora::http::RequestHeader, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.raw_path());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    head.header_to_h1_wire(out);
    out.extend_from_slice(b"\r\n");
}

impl RequestHead for HeadView<'_> {
    fn method(&self) -> &[u8] {
        self.parsed.method.of(self.buf)
    }

    fn target_authority(&self) -> Option<&[u8]> {
        None
    }

    fn path(&self) -> &[u8] {
        let path_len = self.parsed.path_len as usize;
        self.target().get(..path_len).unwrap_or_default()
    }

    fn query(&self) -> Option<&[u8]> {
        let query_start = self.parsed.path_len as usize + 1;
        let target = self.target();
        self.parsed
            .has_query
            .then(|| target.get(query_start..).unwrap_or_default())
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.header_pairs()
    }
}

impl control::rule::HeaderValues for HeadView<'_> {
    fn any_value(&self, name: &http::HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        let name = name.as_str().as_bytes();
        self.header_pairs()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && test(v))
    }
}

#[cfg(test)]
mod tests;
