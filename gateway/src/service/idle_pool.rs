//! The idle keep-alive connections kept per server (`maxIdleConnsPerHost`), as Go's
//! `http.Transport` keeps them: when a response ends and its server already has that many idle
//! connections, the connection is closed instead of going back to the pool.
//!
//! Pingora's pool is sized only as a whole, and it decides inside `release_http_session`, with no
//! hook, whether a finished connection is kept. What it does check there is whether the socket
//! reads end-of-stream (`test_reusable_stream`, and the pool's idle watch after it). So the count
//! is ours: every server's open connections are counted exactly by a Pingora connection
//! [`Tracer`] (called when a connection is made and when it is dropped), the requests holding one
//! by [`InUse`]; their difference is the idle connections. At the end of a response whose server
//! would have more idle connections than allowed, the read side of its socket is shut down,
//! so Pingora drops the connection instead of pooling it (on the rare turn where its readiness is
//! not seen yet, the pool's idle watch closes it right after, and a request that took it in that
//! instant is retried as on any keep-alive connection its server closed). `maxIdleConnsPerHost`
//! below zero keeps no idle connection at all: Pingora's idle timeout of zero drops each one.
//! HTTP/2 (`h2c`) connections are not counted, as in Go, where the limit is HTTP/1's.
//!
//! The lean HTTP/1 path keeps its own idle connections here too, one list per server shared by
//! every thread (a short lock, so that an idle connection is reused whichever thread the next
//! request runs on), counted in the same totals: the limit holds for both paths together.

use pingora::upstreams::peer::{Tracer, Tracing};
use std::collections::HashMap;
use std::net::Shutdown;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Every server's counts, by (`scheme://authority`, idle limit), for as long as they are used.
#[derive(Default)]
struct Registry {
    servers: HashMap<(String, usize), Weak<ServerConnections>>,
    /// Entries after the last sweep of unused ones; the next sweep comes when they doubled, so
    /// compiling many servers stays linear.
    swept_len: usize,
}

/// The connections of one server (its scheme and authority, with one idle limit), shared by
/// every compiled configuration that has the server, so counts survive reloads.
#[derive(Debug)]
pub struct ServerConnections {
    /// Connections made and not yet dropped (pooled or in use).
    open: AtomicUsize,
    /// Requests holding a connection.
    in_use: AtomicUsize,
    /// Idle connections allowed.
    max_idle: usize,
    /// The lean path's idle connections, the most recently used last.
    lean_idle: Mutex<Vec<IdleLeanConnection>>,
}

/// A connection of the lean path, counted as open while it lives.
#[derive(Debug)]
pub struct LeanConnection {
    /// The socket.
    pub stream: TcpStream,
    server: Arc<ServerConnections>,
}

impl Drop for LeanConnection {
    fn drop(&mut self) {
        self.server.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct IdleLeanConnection {
    connection: LeanConnection,
    since: Instant,
}

/// Whether an idle connection can take a request: still open and with nothing to read. A
/// server that closed it shows end-of-stream; one that sent bytes unasked cannot be trusted.
fn is_reusable(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

impl ServerConnections {
    /// The counts of the server `key` with this idle limit: the same object for as long as any
    /// configuration or connection still refers to it.
    pub fn for_server(key: &str, max_idle: usize) -> Arc<ServerConnections> {
        static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
        let mut registry = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = (key.to_string(), max_idle);
        if let Some(existing) = registry.servers.get(&entry).and_then(Weak::upgrade) {
            return existing;
        }
        if registry.servers.len() >= 2 * registry.swept_len.max(64) {
            registry
                .servers
                .retain(|_, counts| counts.strong_count() > 0);
            registry.swept_len = registry.servers.len();
        }
        let counts = Arc::new(ServerConnections {
            open: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            max_idle,
            lean_idle: Mutex::new(Vec::new()),
        });
        registry.servers.insert(entry, Arc::downgrade(&counts));
        counts
    }

    /// The tracer to put in the server's peers: it counts their connections.
    pub fn tracer(self: &Arc<Self>) -> Tracer {
        Tracer(Box::new(ConnectionCounter(self.clone())))
    }

    /// A request starts using one of the server's connections (new or reused), whose socket is
    /// `fd`.
    pub fn start_use(self: &Arc<Self>, fd: RawFd) -> InUse {
        self.in_use.fetch_add(1, Ordering::AcqRel);
        InUse {
            server: Some(self.clone()),
            fd,
        }
    }

    /// Counts a new connection of the lean path as open, for as long as it lives.
    pub fn lean_connection(self: &Arc<Self>, stream: TcpStream) -> LeanConnection {
        self.open.fetch_add(1, Ordering::AcqRel);
        LeanConnection {
            stream,
            server: self.clone(),
        }
    }

    /// An idle lean-path connection to reuse, the most recently used first; those idle longer
    /// than `idle_timeout` (`idleConnTimeout`) or found closed are dropped on the way.
    pub fn take_lean(&self, idle_timeout: Option<Duration>) -> Option<LeanConnection> {
        loop {
            let idle = self
                .lean_idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()?;
            let fresh = idle_timeout.is_none_or(|limit| idle.since.elapsed() < limit);
            if fresh && is_reusable(&idle.connection.stream) {
                return Some(idle.connection);
            }
        }
    }

    /// Keeps a lean-path connection whose response ended cleanly for the next request, unless
    /// the server has `maxIdleConnsPerHost` idle connections already (counting both paths'),
    /// in which case it is closed. `hold` is the request's hold on it, ended here. Connections
    /// idle past `idle_timeout` are closed on the way.
    pub fn put_lean(
        &self,
        connection: LeanConnection,
        hold: InUse,
        idle_timeout: Option<Duration>,
    ) {
        if !hold.release() {
            return;
        }
        let mut idle = self.lean_idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limit) = idle_timeout {
            let expired = idle
                .iter()
                .take_while(|c| c.since.elapsed() >= limit)
                .count();
            idle.drain(..expired);
        }
        idle.push(IdleLeanConnection {
            connection,
            since: Instant::now(),
        });
    }

    /// Idle connections right now (open and not held by a request).
    pub fn idle(&self) -> usize {
        self.open
            .load(Ordering::Acquire)
            .saturating_sub(self.in_use.load(Ordering::Acquire))
    }
}

/// Counts a server's open connections for [`ServerConnections`].
#[derive(Debug)]
struct ConnectionCounter(Arc<ServerConnections>);

impl Tracing for ConnectionCounter {
    fn on_connected(&self) {
        self.0.open.fetch_add(1, Ordering::AcqRel);
    }

    fn on_disconnected(&self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }

    fn boxed_clone(&self) -> Box<dyn Tracing> {
        Box::new(ConnectionCounter(self.0.clone()))
    }
}

/// One request's hold on a connection of a server; ends when dropped or [`Self::finish`]ed.
#[derive(Debug)]
pub struct InUse {
    server: Option<Arc<ServerConnections>>,
    fd: RawFd,
}

impl InUse {
    /// The response ended and the connection is about to go back to the pool: ends the hold and,
    /// when the server would then have more idle connections than allowed, makes Pingora drop
    /// this one instead.
    ///
    /// # Safety
    ///
    /// The connection must still be open: call this while the request owns it, before Pingora
    /// releases it (`upstream_response_filter` or `upstream_response_body_filter`).
    pub unsafe fn finish(self) {
        let fd = self.fd;
        if !self.release() {
            // SAFETY: the caller guarantees the connection is open and ours during this call.
            let socket = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&socket).shutdown(Shutdown::Read);
        }
    }

    /// Ends the hold at the end of a response; whether the connection may then stay idle
    /// (false: the server would have more idle connections than `maxIdleConnsPerHost`).
    pub fn release(mut self) -> bool {
        let Some(server) = self.server.take() else {
            return false;
        };
        let still_busy = server.in_use.fetch_sub(1, Ordering::AcqRel) - 1;
        let idle_after = server
            .open
            .load(Ordering::Acquire)
            .saturating_sub(still_busy);
        let keep = idle_after <= server.max_idle;
        if !keep {
            tracing::debug!(
                idle = idle_after - 1,
                max_idle = server.max_idle,
                "closing a connection instead of pooling it: the server has enough idle ones"
            );
        }
        keep
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.in_use.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_same_server_keeps_its_counts_across_lookups() {
        let first = ServerConnections::for_server("http://counts.test:1", 3);
        let again = ServerConnections::for_server("http://counts.test:1", 3);
        assert!(Arc::ptr_eq(&first, &again));
        let other_limit = ServerConnections::for_server("http://counts.test:1", 4);
        assert!(!Arc::ptr_eq(&first, &other_limit));
    }

    #[test]
    fn a_connection_over_the_limit_is_not_kept() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let b = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = ServerConnections::for_server("http://limit.test:1", 1);
        let tracer = server.tracer();
        tracer.0.on_connected();
        tracer.0.on_connected();
        let (use_a, use_b) = (
            server.start_use(a.as_raw_fd()),
            server.start_use(b.as_raw_fd()),
        );
        assert_eq!(server.idle(), 0);
        // SAFETY: both sockets are open.
        unsafe { use_a.finish() };
        assert_eq!(server.idle(), 1);
        unsafe { use_b.finish() };
        // The second one would make two idle: its read side is shut, the first is untouched.
        let mut probe = [0u8; 1];
        b.set_nonblocking(true).unwrap();
        assert_eq!((&b).read(&mut probe).unwrap(), 0, "read side shut");
        a.set_nonblocking(true).unwrap();
        assert_eq!(
            (&a).read(&mut probe).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        tracer.0.on_disconnected();
        assert_eq!(server.idle(), 1);
    }

    #[test]
    fn a_dropped_hold_is_released() {
        let server = ServerConnections::for_server("http://drop.test:1", 1);
        let tracer = server.tracer();
        tracer.0.on_connected();
        drop(server.start_use(-1));
        assert_eq!(server.idle(), 1);
    }

    async fn connected_pair(listener: &tokio::net::TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn only_open_quiet_lean_connections_are_reused() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ServerConnections::for_server("http://lean-reuse.test:1", 8);
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (client, peer) = connected_pair(&listener).await;
            let connection = server.lean_connection(client);
            let hold = server.start_use(connection.stream.as_raw_fd());
            server.put_lean(connection, hold, None);
            peers.push(peer);
        }
        assert_eq!(server.idle(), 3);
        // The newest is answered unasked, the middle one closed: only the oldest is reusable.
        peers[2].write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        drop(peers.remove(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reused = server.take_lean(None).expect("the quiet connection");
        assert!(is_reusable(&reused.stream));
        assert!(server.take_lean(None).is_none());
        assert_eq!(server.idle(), 1, "the dropped ones are no longer counted");
    }

    #[tokio::test]
    async fn lean_connections_obey_the_idle_limit_and_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ServerConnections::for_server("http://lean-limit.test:1", 1);
        let mut peers = Vec::new();
        let mut holds = Vec::new();
        for _ in 0..2 {
            let (client, peer) = connected_pair(&listener).await;
            let connection = server.lean_connection(client);
            holds.push((server.start_use(connection.stream.as_raw_fd()), connection));
            peers.push(peer);
        }
        for (hold, connection) in holds {
            server.put_lean(connection, hold, None);
        }
        assert_eq!(
            server.idle(),
            1,
            "the second would have made two idle: closed"
        );
        let connection = server.take_lean(None).unwrap();
        let hold = server.start_use(connection.stream.as_raw_fd());
        server.put_lean(connection, hold, Some(Duration::from_millis(20)));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(
            server.take_lean(Some(Duration::from_millis(20))).is_none(),
            "expired"
        );
        assert_eq!(server.idle(), 0);
    }
}
