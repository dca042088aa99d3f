//! What a middleware knows of the request beyond its head: the client, the connection, and what
//! earlier phases left for later ones (held permits, values the response phase needs).

use bytes::Bytes;
use std::any::Any;
use std::net::IpAddr;

/// The request body as read before the request phases, for a chain that needs it
/// ([`super::Needs::request_body`]); the body is still forwarded as received.
#[derive(Debug, Clone, Default)]
pub struct RequestBody {
    /// The body, or its first bytes when it is longer than the engine buffers.
    pub bytes: Bytes,
    /// Whether `bytes` is the whole body.
    pub complete: bool,
}

/// Per-request facts and state shared by the middlewares of one chain.
pub struct Context {
    /// The client's address (the socket peer), IPv4-mapped addresses as IPv4.
    pub client_ip: Option<IpAddr>,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// Whether the request came on HTTP/2 (as Go's `r.ProtoMajor == 2`).
    pub http2: bool,
    /// Whether a middleware removed `X-Forwarded-For` so that none is sent (Traefik's
    /// `customRequestHeaders` with `X-Forwarded-For: ""`): the proxy does not add the client's.
    pub omit_x_forwarded_for: bool,
    /// The request body, when the chain needs it.
    pub request_body: Option<RequestBody>,
    /// The authenticated user, for the access log's `ClientUsername` (forwardAuth's
    /// `headerField`).
    pub client_username: Option<String>,
    /// Things held until the request ends (an in-flight permit, a breaker's probe), dropped
    /// with the context.
    held: Vec<Box<dyn Any + Send + Sync>>,
    /// How many middlewares of the chain let the request on (their response phases run).
    pub(crate) entered: usize,
    /// The chain index of the middleware whose phase runs (keys [`Self::state_mut`]).
    pub(crate) current: usize,
    /// Whether the body phases will see the response's body (an upstream response on the
    /// Pingora path), not so for the gateway's own answers.
    pub response_body_filtered: bool,
    /// Per-request state of body phases (an encoder, a buffer), by chain index; empty, and
    /// not allocated, for chains that keep none.
    states: Vec<(usize, Box<dyn Any + Send + Sync>)>,
}

impl Context {
    /// The context of a request from `client_ip`.
    pub fn new(client_ip: Option<IpAddr>, tls: bool, http2: bool) -> Self {
        Self {
            client_ip,
            tls,
            http2,
            omit_x_forwarded_for: false,
            request_body: None,
            client_username: None,
            held: Vec::new(),
            entered: 0,
            current: 0,
            response_body_filtered: false,
            states: Vec::new(),
        }
    }

    /// Keeps `value` until the request ends (the context is dropped).
    pub fn hold(&mut self, value: impl Any + Send + Sync) {
        self.held.push(Box::new(value));
    }

    /// Keeps `value` as the running middleware's state for this request (replacing any).
    pub fn set_state<T: Any + Send + Sync>(&mut self, value: T) {
        let current = self.current;
        match self.states.iter_mut().find(|(index, _)| *index == current) {
            Some(slot) => slot.1 = Box::new(value),
            None => self.states.push((current, Box::new(value))),
        }
    }

    /// The running middleware's state for this request, if it kept one of type `T`.
    pub fn state_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        let current = self.current;
        self.states
            .iter_mut()
            .find(|(index, _)| *index == current)
            .and_then(|(_, state)| state.downcast_mut())
    }
}
