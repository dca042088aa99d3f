//! Upstream response heads on the lean path: status, framing of the body that follows and
//! whether the server keeps the connection, as byte offsets into the connection's buffer.

use std::mem::MaybeUninit;

use super::{list_has_token, parse_length, Span};

/// The most headers an upstream response may have (Pingora's limit too).
pub const MAX_RESPONSE_HEADERS: usize = 256;

/// What [`ParsedResponse::parse`] found at the start of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStatus {
    /// No complete head yet, and there is room for more bytes: read more.
    Partial,
    /// A complete, well-framed head.
    Complete,
    /// A head that cannot be forwarded, with the first reason found.
    Invalid(&'static str),
    /// No complete head within the size limit.
    TooLarge,
}

/// How the body after a response head ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (1xx, 204, 304, or the answer to a HEAD request).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked: scan it with [`ChunkedScanner`](super::chunked::ChunkedScanner).
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// One upstream response head, parsed as offsets into the caller's buffer. Allocated once
/// per connection and reused: parsing never allocates.
pub struct ParsedResponse {
    head_len: usize,
    status: u16,
    minor_version: u8,
    reason: Span,
    header_count: usize,
    names: [Span; MAX_RESPONSE_HEADERS],
    values: [Span; MAX_RESPONSE_HEADERS],
    content_length: Option<u64>,
    has_transfer_encoding: bool,
    chunked: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl Default for ParsedResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl ParsedResponse {
    /// An empty head, ready for [`parse`](Self::parse).
    pub fn new() -> Self {
        ParsedResponse {
            head_len: 0,
            status: 0,
            minor_version: 1,
            reason: Span::default(),
            header_count: 0,
            names: [Span::default(); MAX_RESPONSE_HEADERS],
            values: [Span::default(); MAX_RESPONSE_HEADERS],
            content_length: None,
            has_transfer_encoding: false,
            chunked: false,
            connection_close: false,
            connection_keep_alive: false,
        }
    }

    /// Parses the response head at the start of `buf` (at most `max_head_bytes` long). The
    /// accessors describe the last head parsed as `Complete`, read against the same buffer.
    pub fn parse(&mut self, buf: &[u8], max_head_bytes: usize) -> ResponseStatus {
        self.header_count = 0;
        let window = &buf[..buf.len().min(max_head_bytes)];
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, window, &mut slots)
        {
            Ok(httparse::Status::Partial) if buf.len() >= max_head_bytes => {
                ResponseStatus::TooLarge
            }
            Ok(httparse::Status::Partial) => ResponseStatus::Partial,
            Err(httparse::Error::TooManyHeaders) => ResponseStatus::Invalid("too many headers"),
            Err(_) => ResponseStatus::Invalid("malformed head"),
            Ok(httparse::Status::Complete(head_len)) => {
                self.head_len = head_len;
                self.status = resp.code.unwrap_or(0);
                self.minor_version = resp.version.unwrap_or(1);
                self.reason = Span::within(buf, resp.reason.unwrap_or("").as_bytes());
                if self.status < 100 {
                    return ResponseStatus::Invalid("status below 100");
                }
                match self.read_headers(buf, resp.headers) {
                    Ok(()) => ResponseStatus::Complete,
                    Err(reason) => ResponseStatus::Invalid(reason),
                }
            }
        }
    }

    fn read_headers(
        &mut self,
        buf: &[u8],
        headers: &[httparse::Header<'_>],
    ) -> Result<(), &'static str> {
        self.content_length = None;
        self.has_transfer_encoding = false;
        self.chunked = false;
        self.connection_close = false;
        self.connection_keep_alive = false;
        let mut first_length: &[u8] = &[];
        for header in headers {
            let name = header.name.as_bytes();
            let value = header.value.trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                if self.content_length.is_some() {
                    // Go's client takes repeats of the same value, and nothing else.
                    if value != first_length {
                        return Err("content-length conflict");
                    }
                } else {
                    first_length = value;
                    self.content_length =
                        Some(parse_length(value, u64::MAX).ok_or("content-length invalid")?);
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                self.has_transfer_encoding = true;
                // Only the final coding decides, across every Transfer-Encoding header.
                if let Some(last) = value
                    .split(|&b| b == b',')
                    .map(<[u8]>::trim_ascii)
                    .rfind(|coding| !coding.is_empty())
                {
                    self.chunked = last.eq_ignore_ascii_case(b"chunked");
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                self.connection_close |= list_has_token(value, b"close");
                self.connection_keep_alive |= list_has_token(value, b"keep-alive");
            }
            self.names[self.header_count] = Span::within(buf, name);
            self.values[self.header_count] = Span::within(buf, value);
            self.header_count += 1;
        }
        if self.has_transfer_encoding && self.content_length.is_some() {
            return Err("content-length with transfer-encoding");
        }
        Ok(())
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Bytes of the status line, headers and blank line.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// How the body that follows the head ends; `request_was_head` when it answers a HEAD.
    pub fn body(&self, request_was_head: bool) -> ResponseBody {
        if request_was_head || self.status < 200 || self.status == 204 || self.status == 304 {
            ResponseBody::Empty
        } else if self.chunked {
            ResponseBody::Chunked
        } else if self.has_transfer_encoding {
            // RFC 9112 §6.3: a final coding other than chunked runs until the close.
            ResponseBody::UntilClose
        } else if let Some(length) = self.content_length {
            ResponseBody::Length(length)
        } else {
            ResponseBody::UntilClose
        }
    }

    /// Whether the server keeps the connection open after this response: HTTP/1.1 unless it
    /// sent `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. A body that
    /// runs until the close ends the connection whatever this says.
    pub fn server_keeps_alive(&self) -> bool {
        if self.connection_close {
            false
        } else if self.minor_version == 0 {
            self.connection_keep_alive
        } else {
            true
        }
    }

    /// The reason phrase, as sent.
    pub fn reason<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.reason.of(buf)
    }

    /// Every header in the order received, names as sent, values without surrounding
    /// whitespace.
    pub fn headers<'b>(&'b self, buf: &'b [u8]) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 'b {
        let count = self.header_count;
        self.names[..count]
            .iter()
            .zip(&self.values[..count])
            .map(move |(name, value)| (name.of(buf), value.of(buf)))
    }
}

#[cfg(test)]
mod tests;
