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
}

impl Context {
    /// The context of a request from `client_ip`.
    pub fn new(client_ip: Option<IpAddr>, tls: bool, http2: bool) -> Self {
        Self {
            client_ip,
            tls,
            http2,
            request_body: None,
            client_username: None,
            held: Vec::new(),
            entered: 0,
        }
    }

    /// Keeps `value` until the request ends (the context is dropped).
    pub fn hold(&mut self, value: impl Any + Send + Sync) {
        self.held.push(Box::new(value));
    }

    /// The values of type `T` held so far, oldest first (what a request phase left for the
    /// response phase).
    pub fn held<T: Any>(&self) -> impl Iterator<Item = &T> {
        self.held
            .iter()
            .filter_map(|value| value.downcast_ref::<T>())
    }
}
