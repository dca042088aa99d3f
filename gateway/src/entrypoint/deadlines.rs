//! Go's connection deadlines on a client connection: a read deadline and a write deadline that
//! every read and write of the connection obeys, whichever path (ours or Pingora's) does the
//! reading and writing; past one, the operation fails with `TimedOut`, as in Go, so
//! `respondingTimeouts` bound a whole request and a whole response, not each read or write.

use crate::http1::chunked::ChunkedScanner;
use crate::http1::framing::RequestBody;
use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What is left of the request body being read, after which the read deadline no longer
/// applies: as in Go, readTimeout bounds reading the request, not the wait for its response
/// (while Pingora waits for the server it keeps reading the client, to see it leave).
#[derive(Debug)]
enum BodyLeft {
    /// The read deadline applies to every read.
    Unknown,
    Bytes(u64),
    Chunked(ChunkedScanner),
    /// The request has been read: reads have no deadline.
    Done,
}

impl BodyLeft {
    fn consume(&mut self, bytes: &[u8]) {
        match self {
            BodyLeft::Bytes(left) => {
                *left = left.saturating_sub(bytes.len() as u64);
                if *left == 0 {
                    *self = BodyLeft::Done;
                }
            }
            BodyLeft::Chunked(scanner) => match scanner.scan(bytes) {
                Ok(scanned) if scanned.done => *self = BodyLeft::Done,
                Ok(_) => {}
                // A malformed body fails the request; the deadline keeps applying meanwhile.
                Err(_) => *self = BodyLeft::Unknown,
            },
            BodyLeft::Unknown | BodyLeft::Done => {}
        }
    }
}

/// A client connection with deadlines. Its two timers are allocated once per connection and
/// moved, never recreated, when a deadline changes.
#[derive(Debug)]
pub struct DeadlineStream {
    inner: Stream,
    body_left: BodyLeft,
    read_deadline: Option<Instant>,
    write_deadline: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
}

impl DeadlineStream {
    /// Wraps an accepted connection, with no deadline yet.
    pub fn new(inner: Stream) -> Box<Self> {
        let far = Instant::now();
        Box::new(Self {
            inner,
            body_left: BodyLeft::Unknown,
            read_deadline: None,
            write_deadline: None,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            write_timer: Box::pin(tokio::time::sleep_until(far)),
        })
    }

    /// Reads fail with `TimedOut` from `deadline` on (`None`: never).
    pub fn set_read_deadline(&mut self, deadline: Option<Instant>) {
        self.read_deadline = deadline;
        self.body_left = BodyLeft::Unknown;
    }

    /// Lifts the read deadline once the body of the request whose head ends in `buffered` has
    /// been read: `body` frames it, `buffered` holds the bytes already read after the head.
    pub fn lift_read_deadline_after(&mut self, body: Option<RequestBody>, buffered: &[u8]) {
        self.body_left = match body {
            None => BodyLeft::Unknown,
            Some(RequestBody::Length(length)) => BodyLeft::Bytes(length),
            Some(RequestBody::Chunked) => BodyLeft::Chunked(ChunkedScanner::new()),
        };
        if matches!(self.body_left, BodyLeft::Bytes(0)) {
            self.body_left = BodyLeft::Done;
        }
        self.body_left.consume(buffered);
    }

    /// Writes fail with `TimedOut` from `deadline` on (`None`: never).
    pub fn set_write_deadline(&mut self, deadline: Option<Instant>) {
        self.write_deadline = deadline;
    }

    /// Takes back a connection handed out as a Pingora `Stream` (see [`Self::into_stream`]).
    pub fn from_stream(stream: Stream) -> Option<Box<Self>> {
        stream.into_any().downcast::<Self>().ok()
    }

    /// The connection as Pingora's `Stream`, deadlines included.
    pub fn into_stream(self: Box<Self>) -> Stream {
        self
    }
}

/// Whether `deadline` has passed, arming `timer` to wake the task when it does otherwise.
fn expired(deadline: Option<Instant>, timer: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> bool {
    let Some(deadline) = deadline else {
        return false;
    };
    if Instant::now() >= deadline {
        return true;
    }
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

fn timed_out<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "the client connection's deadline passed",
    )))
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let deadline = match this.body_left {
            BodyLeft::Done => None,
            _ => this.read_deadline,
        };
        if expired(deadline, &mut this.read_timer, cx) {
            return timed_out();
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !matches!(this.body_left, BodyLeft::Unknown | BodyLeft::Done) {
            this.body_left.consume(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if expired(this.write_deadline, &mut this.write_timer, cx) {
            return timed_out();
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if expired(this.write_deadline, &mut this.write_timer, cx) {
            return timed_out();
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if expired(this.write_deadline, &mut this.write_timer, cx) {
            return timed_out();
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for DeadlineStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for DeadlineStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for DeadlineStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for DeadlineStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> std::time::Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> std::time::Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for DeadlineStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for DeadlineStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for DeadlineStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
