//! One client connection over HTTP/1, with Go's (Traefik's) deadlines: readTimeout from the
//! accept for the first request, idleTimeout for the first bytes of each later one and then
//! readTimeout for the rest of it, writeTimeout from the end of each request head; a head cut
//! off by readTimeout gets Go's 400, one over maxHeaderBytes Go's 431. Each request is served on
//! the lean path or handed, with the bytes already read, to Pingora's `HttpProxy`; the
//! connection ends after keepAliveMaxRequests requests or once older than keepAliveMaxTime.

use super::app::{EntryPoint, EntryPointApp, Http1Path};
use super::deadlines::DeadlineStream;
use super::lean::{self, Served};
use crate::http1::framing::{request_body, RequestBody};
use crate::http1::request::{HeadStatus, ParsedRequest};
use crate::proxy::LastRequest;
use bytes::BytesMut;
use pingora::apps::HttpServerApp;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes asked of the socket per read, and the buffer a connection starts with.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// Go's answer to a request head over `MaxHeaderBytes`; the connection is closed after it.
const HEADERS_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large";

/// Go's answer to a request head that did not arrive whole within readTimeout.
const HEAD_TIMED_OUT: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";

/// Go waits for this many bytes of the next request under idleTimeout before readTimeout runs.
const IDLE_PEEK: usize = 4;

/// The state one client connection keeps across its requests: every buffer is allocated once.
pub(super) struct Connection<'a> {
    pub app: &'a EntryPointApp,
    pub entry_point: &'a EntryPoint,
    /// The client's address (IPv4-mapped ones as IPv4).
    pub client_ip: Option<IpAddr>,
    /// Bytes read from the client and not yet consumed.
    pub input: Vec<u8>,
    /// The head of the current request.
    pub request: Box<ParsedRequest>,
    /// The lean forward's buffers.
    pub lean: Box<lean::Buffers>,
    /// Requests served so far.
    served: u64,
    opened: Instant,
}

/// Where a read of client bytes ended.
#[derive(PartialEq, Eq)]
pub(super) enum Read {
    Bytes,
    Closed,
    TimedOut,
}

/// Reads more client bytes into `input`, within the stream's read deadline.
pub(super) async fn read_more(stream: &mut DeadlineStream, input: &mut Vec<u8>) -> Read {
    input.reserve(READ_CHUNK);
    match stream.read_buf(input).await {
        Ok(0) => Read::Closed,
        Ok(_) => Read::Bytes,
        Err(e) if e.kind() == ErrorKind::TimedOut => Read::TimedOut,
        Err(_) => Read::Closed,
    }
}

/// Writes `bytes` to the client and flushes, within the stream's write deadline.
pub(super) async fn write_all(stream: &mut DeadlineStream, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Where the request head at the start of `input` ends (just past its blank line, CRLF or a
/// bare LF as Go accepts), looking from `from` on.
fn head_end(input: &[u8], from: usize) -> Option<usize> {
    input[from..]
        .windows(2)
        .enumerate()
        .find_map(|(i, pair)| match pair {
            b"\n\n" => Some(from + i + 2),
            b"\n\r" if input.get(from + i + 2) == Some(&b'\n') => Some(from + i + 3),
            _ => None,
        })
}

/// Whether `input` holds the end of a request head, looking only at what came after
/// `scanned`, which it moves on.
fn head_ends(input: &[u8], scanned: &mut usize) -> bool {
    let found = head_end(input, scanned.saturating_sub(2)).is_some();
    *scanned = input.len();
    found
}

fn after(limit: Option<Duration>) -> Option<Instant> {
    limit.map(|limit| Instant::now() + limit)
}

/// Serves the connection until it ends.
pub(super) async fn serve(
    app: &EntryPointApp,
    entry_point: &EntryPoint,
    stream: Stream,
    shutdown: &ShutdownWatch,
) {
    let client_ip = stream.get_socket_digest().and_then(|d| {
        d.peer_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical())
    });
    let mut stream = DeadlineStream::new(stream);
    let mut connection = Connection {
        app,
        entry_point,
        client_ip,
        input: Vec::with_capacity(READ_CHUNK),
        request: Box::new(ParsedRequest::new()),
        lean: Box::new(lean::Buffers::new()),
        served: 0,
        opened: Instant::now(),
    };
    let mut shutdown = shutdown.clone();
    let limits = entry_point.limits;
    // The first request: readTimeout runs from the accept, for the wait and the whole request.
    stream.set_read_deadline(limits.read_timeout.map(|limit| connection.opened + limit));
    loop {
        if connection.served > 0 {
            if *shutdown.borrow() {
                return;
            }
            // Between requests: idleTimeout for the first bytes, then readTimeout from there.
            stream.set_read_deadline(after(limits.idle_timeout));
            while connection.input.len() < IDLE_PEEK {
                let read = tokio::select! {
                    read = read_more(&mut stream, &mut connection.input) => read,
                    // Go's Shutdown closes the connections that wait for a request.
                    _ = shutdown.changed() => return,
                };
                if read != Read::Bytes {
                    return;
                }
            }
            stream.set_read_deadline(after(limits.read_timeout));
        } else if connection.input.is_empty() {
            let read = tokio::select! {
                read = read_more(&mut stream, &mut connection.input) => read,
                _ = shutdown.changed() => return,
            };
            if read != Read::Bytes {
                return;
            }
        }
        let mut scanned = 0;
        let status = loop {
            match connection
                .request
                .parse(&connection.input, limits.max_head_bytes)
            {
                HeadStatus::Partial => {}
                // Pingora gets whole heads only, so that maxHeaderBytes is ours on both paths.
                HeadStatus::Fallback(_) if !head_ends(&connection.input, &mut scanned) => {
                    if connection.input.len() >= limits.max_head_bytes {
                        break HeadStatus::TooLarge;
                    }
                }
                status => break status,
            }
            match read_more(&mut stream, &mut connection.input).await {
                Read::Bytes => {}
                Read::Closed => return,
                Read::TimedOut => {
                    let _ = write_all(&mut stream, HEAD_TIMED_OUT).await;
                    return;
                }
            }
        };
        if status == HeadStatus::TooLarge {
            let _ = write_all(&mut stream, HEADERS_TOO_LARGE).await;
            return;
        }
        // Go's write deadline runs from the end of the request head.
        stream.set_write_deadline(after(limits.write_timeout));
        let last = connection.is_last_request(*shutdown.borrow());
        if status == HeadStatus::Lean && app.path == Http1Path::Lean {
            match lean::serve(&mut connection, &mut stream, last).await {
                Served::KeepAlive if !last => {
                    connection.served += 1;
                    continue;
                }
                Served::KeepAlive | Served::Close => return,
                Served::NotLean => {}
            }
        }
        let (reason, parsed) = match status {
            HeadStatus::Fallback(reason) => (reason, None),
            // A plain head the lean path left (forced off, or its router is not lean): its
            // framing is known already.
            _ => {
                let length = connection.request.content_length();
                let reason = match app.path {
                    Http1Path::Pingora => "GATEWAY_HTTP1_PATH=pingora",
                    Http1Path::Lean => "its router is not lean",
                };
                (reason, Some(RequestBody::Length(length)))
            }
        };
        tracing::trace!(reason, "request handed to Pingora's HttpProxy");
        match connection
            .hand_off(stream, shutdown.clone(), last, parsed)
            .await
        {
            Some(returned) => {
                stream = returned;
                connection.served += 1;
            }
            None => return,
        }
    }
}

impl Connection<'_> {
    /// Whether the request being read is the connection's last: keepAliveMaxRequests reached,
    /// keepAliveMaxTime passed (Traefik answers it with `Connection: close`), or shutdown.
    fn is_last_request(&self, shutting_down: bool) -> bool {
        let limits = &self.entry_point.limits;
        shutting_down
            || limits
                .keep_alive_max_requests
                .is_some_and(|max| self.served + 1 >= max)
            || limits
                .keep_alive_max_time
                .is_some_and(|max| self.opened.elapsed() > max)
    }

    /// Gives the connection, with the bytes read so far and its deadlines, to Pingora's
    /// `HttpProxy` for one request; returns it when the response is done and the connection
    /// may serve another.
    async fn hand_off(
        &mut self,
        mut stream: Box<DeadlineStream>,
        shutdown: ShutdownWatch,
        last: bool,
        framing: Option<RequestBody>,
    ) -> Option<Box<DeadlineStream>> {
        // readTimeout bounds reading the request; once Pingora has read it whole, reads (its
        // watch for the client leaving while the server answers) have no deadline, as in Go.
        // `framing` is the body's when the lean parser read the head; others are read here.
        if let Some(head_len) = head_end(&self.input, 0) {
            let body = framing.or_else(|| request_body(&self.input));
            stream.lift_read_deadline_after(body, &self.input[head_len..]);
        }
        let mut session = ServerSession::new_http1(stream.into_stream());
        session.set_pipelined_prefix(BytesMut::from(&self.input[..]));
        self.input.clear();
        // The wait between requests is this loop's; Pingora only needs to know whether the
        // connection is kept, which it decides from the head it reads, unless told otherwise.
        session.set_keepalive(Some(60));
        if last {
            session.set_connection_user_context(Some(Box::new(LastRequest)));
        }
        let reused = self
            .entry_point
            .proxy
            .process_new_http(session, &shutdown)
            .await?;
        let (stream, _settings) = reused.consume();
        DeadlineStream::from_stream(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::{head_end, head_ends};

    #[test]
    fn head_ends_are_found_across_reads() {
        let mut scanned = 0;
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        assert!(!head_ends(&input, &mut scanned));
        input.extend_from_slice(b"\r");
        assert!(!head_ends(&input, &mut scanned));
        input.extend_from_slice(b"\n");
        assert!(head_ends(&input, &mut scanned), "split inside CRLF CRLF");
        assert!(head_ends(b"GET / HTTP/1.1\nHost: a\n\n", &mut 0), "bare LF");
        assert!(!head_ends(b"GET / HTTP/1.1\r\nHost: a\r\nX: \n", &mut 0));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some(18));
    }
}
