//! `forwardingTimeouts.responseHeaderTimeout`: the time a server has to send its response head
//! once the request has been written. A response whose head came in time streams for as long
//! as it lasts.
//!
//! Pingora has no header-only timeout: `HttpPeer::options.read_timeout` bounds every single read,
//! body included, so it cut long streams (a server-sent-events stream quiet for longer than the
//! timeout), and no hook may change it once the head is in. So the deadline is a timer of ours:
//! armed when the request's last byte is handed to the connection (`request_body_filter` at end
//! of stream), disarmed when the response head arrives (`upstream_response_filter`). When it
//! fires it shuts the connection down, which ends Pingora's pending read of the head; the
//! request's error is then reported as a read timeout (504, as Go's `ResponseHeaderTimeout`).
//! The timer holds a duplicate of the socket's descriptor, so it can never shut down another
//! connection that reused the number after this one was closed; the duplicate is closed as soon
//! as the deadline is disarmed.

use std::net::Shutdown;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The response-header deadline of one request on one connection.
#[derive(Debug)]
pub struct HeaderDeadline {
    timeout: Duration,
    shared: Arc<Shared>,
    timer: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    /// The duplicate descriptor; taken (and closed) by whoever gets to it first: the timer that
    /// fires or the disarming.
    socket: Mutex<Option<OwnedFd>>,
    fired: AtomicBool,
}

impl HeaderDeadline {
    /// A deadline for the connection whose descriptor is `fd`, not armed yet.
    ///
    /// # Safety
    ///
    /// `fd` must be an open socket for the duration of this call (Pingora's
    /// `connected_to_upstream` hands out the descriptor of the live connection).
    pub unsafe fn new(fd: RawFd, timeout: Duration) -> std::io::Result<Self> {
        // SAFETY: the caller guarantees `fd` is open during this call; the borrow ends here.
        let duplicate = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        Ok(Self {
            timeout,
            shared: Arc::new(Shared {
                socket: Mutex::new(Some(duplicate)),
                fired: AtomicBool::new(false),
            }),
            timer: None,
        })
    }

    /// Starts the clock (once: later calls, and calls after [`Self::disarm`], do nothing).
    pub fn arm(&mut self) {
        if self.timer.is_some() || self.disarmed() {
            return;
        }
        let shared = self.shared.clone();
        let timeout = self.timeout;
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let socket = shared
                .socket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(socket) = socket {
                shared.fired.store(true, Ordering::Release);
                // Wakes the pending read with end-of-stream; dropping the stream closes the
                // duplicate (the connection itself stays Pingora's until it drops it).
                let _ = std::net::TcpStream::from(socket).shutdown(Shutdown::Both);
            }
        }));
    }

    /// The head arrived (or the request is over): the deadline can no longer fire.
    pub fn disarm(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        drop(
            self.shared
                .socket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }

    fn disarmed(&self) -> bool {
        self.shared
            .socket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Whether the deadline fired and shut the connection down.
    pub fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::Acquire)
    }
}

/// The error of a request whose deadline fired: a read timeout from the server (504), which is
/// never retried (`cause` is what Pingora saw: the connection it was reading ended).
pub fn timeout_error(server: &str, cause: Box<pingora::Error>) -> Box<pingora::Error> {
    let mut error = pingora::Error::because(
        pingora::ErrorType::ReadTimedout,
        format!("no response head from {server} within responseHeaderTimeout"),
        cause,
    );
    error.set_retry(false);
    error.as_up();
    error
}

impl Drop for HeaderDeadline {
    fn drop(&mut self) {
        self.disarm();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn fires_and_shuts_the_connection_down() {
        let (client, mut server) = socket_pair();
        // SAFETY: `client` is open.
        let mut deadline =
            unsafe { HeaderDeadline::new(client.as_raw_fd(), Duration::from_millis(50)) }.unwrap();
        deadline.arm();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(deadline.fired());
        // The server sees the connection end.
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(server.read(&mut [0; 1]).unwrap(), 0);
    }

    #[tokio::test]
    async fn disarmed_in_time_never_fires() {
        let (client, mut server) = socket_pair();
        // SAFETY: `client` is open.
        let mut deadline =
            unsafe { HeaderDeadline::new(client.as_raw_fd(), Duration::from_millis(50)) }.unwrap();
        deadline.arm();
        deadline.disarm();
        deadline.arm();
        assert!(
            deadline.timer.is_none(),
            "a disarmed deadline is not armed again"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!deadline.fired());
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let still_open = server.read(&mut [0; 1]).unwrap_err();
        assert_eq!(still_open.kind(), std::io::ErrorKind::WouldBlock);
        drop(client);
    }
}
