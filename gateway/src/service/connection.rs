//! One request's use of an upstream connection, from the moment Pingora hands it over
//! (`connected_to_upstream`) to the end of the response: arms and disarms the response-header
//! deadline and gives the connection back to the idle-pool count when the response ends.

use super::header_deadline::HeaderDeadline;
use super::idle_pool::InUse;
use crate::runtime::service::Upstream;
use http::{Method, StatusCode};
use pingora::http::ResponseHeader;
use std::os::fd::RawFd;

/// What the proxy phases track about the connection of the current attempt.
#[derive(Debug, Default)]
pub struct ConnectionUse {
    deadline: Option<HeaderDeadline>,
    in_use: Option<InUse>,
    /// The response switched protocols: the connection is a tunnel now and is never pooled.
    upgraded: bool,
}

impl ConnectionUse {
    /// A new attempt got the connection `fd` to `upstream`; `http2` when it is an HTTP/2 one.
    ///
    /// # Safety
    ///
    /// `fd` must be the descriptor of the connection Pingora is about to send this request on,
    /// and this must be called from `connected_to_upstream`, while that connection is open.
    pub unsafe fn start(&mut self, upstream: &Upstream, http2: bool, fd: RawFd) {
        // The previous attempt's hold and deadline end here.
        *self = ConnectionUse::default();
        if let Some(timeout) = upstream.response_header_timeout {
            // SAFETY: forwarded from the caller.
            match unsafe { HeaderDeadline::new(fd, timeout) } {
                Ok(deadline) => self.deadline = Some(deadline),
                Err(e) => tracing::warn!(
                    server = %upstream.url,
                    error = %e,
                    "cannot watch responseHeaderTimeout on this connection"
                ),
            }
        }
        if !http2 {
            self.in_use = Some(upstream.connections.start_use(fd));
        }
    }

    /// The request's last byte was handed to the connection: the server's time to answer starts.
    pub fn request_sent(&mut self) {
        if let Some(deadline) = &mut self.deadline {
            deadline.arm();
        }
    }

    /// The response head arrived (to a `method` request); when no body follows it (HEAD, 204,
    /// 304, `Content-Length: 0`), it is the end of the response too.
    pub fn response_head(&mut self, method: &Method, response: &ResponseHeader) {
        let status = response.status;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        if let Some(deadline) = &mut self.deadline {
            deadline.disarm();
        }
        let bodyless = method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || response
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|length| length.as_bytes() == b"0");
        if status == StatusCode::SWITCHING_PROTOCOLS {
            self.upgraded = true;
        } else if bodyless {
            self.response_end();
        }
    }

    /// The response's last byte arrived; the connection goes back to Pingora next.
    pub fn response_end(&mut self) {
        if self.upgraded {
            return;
        }
        if let Some(in_use) = self.in_use.take() {
            // SAFETY: called from the response filters, while the request still owns the
            // connection (Pingora releases it after the response is through them).
            unsafe { in_use.finish() };
        }
    }

    /// Whether the response-header deadline cut this attempt's connection.
    pub fn timed_out(&self) -> bool {
        self.deadline.as_ref().is_some_and(HeaderDeadline::fired)
    }
}
