//! The HTTP client of the middlewares that ask another server (`forwardAuth`, `errors`): one
//! request and its whole answer over Pingora's pooled connector, within a deadline.

use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::upstreams::peer::HttpPeer;
use std::time::Duration;

/// A pooled client: connections are kept per peer between requests.
pub struct Client {
    connector: Box<Connector>,
}

/// A complete answer.
pub struct Reply {
    /// Its status and headers.
    pub head: ResponseHeader,
    /// Its body, whole.
    pub body: Bytes,
}

/// Why a request got no usable answer.
#[derive(Debug)]
pub enum CallError {
    /// It could not be sent, or its answer could not be read in time.
    Failed(String),
    /// The answer's body is larger than allowed.
    BodyTooLarge,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            connector: Box::new(Connector::new(None)),
        }
    }
}

impl Client {
    /// Sends `request` (with `body`, if any, framed as its head says) to `peer` and reads the whole answer, within
    /// `deadline`; a body over `max_body` bytes is refused.
    pub async fn call(
        &self,
        peer: &HttpPeer,
        request: RequestHeader,
        body: Option<Bytes>,
        max_body: Option<usize>,
        deadline: Duration,
    ) -> Result<Reply, CallError> {
        match tokio::time::timeout(deadline, self.exchange(peer, request, body, max_body)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Failed(format!(
                "no answer within {}s",
                deadline.as_secs()
            ))),
        }
    }

    async fn exchange(
        &self,
        peer: &HttpPeer,
        request: RequestHeader,
        body: Option<Bytes>,
        max_body: Option<usize>,
    ) -> Result<Reply, CallError> {
        let failed = |e: Box<pingora::Error>| CallError::Failed(e.to_string());
        let (mut session, _reused) = self
            .connector
            .get_http_session(peer)
            .await
            .map_err(failed)?;
        session
            .write_request_header(Box::new(request))
            .await
            .map_err(failed)?;
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            session
                .write_request_body(body, true)
                .await
                .map_err(failed)?;
        }
        session.finish_request_body().await.map_err(failed)?;
        loop {
            session.read_response_header().await.map_err(failed)?;
            let informational = session
                .response_header()
                .is_some_and(|h| h.status.is_informational() && h.status != 101);
            if !informational {
                break;
            }
        }
        let head = session
            .response_header()
            .cloned()
            .ok_or_else(|| CallError::Failed("no response header".into()))?;
        let mut collected = BytesMut::new();
        while let Some(chunk) = session.read_response_body().await.map_err(failed)? {
            collected.extend_from_slice(&chunk);
            if max_body.is_some_and(|max| collected.len() > max) {
                return Err(CallError::BodyTooLarge);
            }
        }
        if session.response_done() {
            self.connector
                .release_http_session(session, peer, peer.options.idle_timeout)
                .await;
        }
        Ok(Reply {
            head,
            body: collected.freeze(),
        })
    }
}
