//! Traefik's HTTP middlewares: one file each behind [`HttpMiddleware`], compiled once per
//! configuration ([`chain`] resolves references and chains) into the closed set [`Middleware`],
//! dispatched statically. They work on the `http` crate's types through [`RequestEdit`] and
//! [`ResponseEdit`] and on a [`Context`], never on an engine's session, so one implementation
//! serves the lean HTTP/1 path and Pingora's.

pub mod chain;
pub mod context;
pub mod edit;
pub mod go_url;

mod add_prefix;
mod auth;
mod buffering;
mod circuit_breaker;
mod client;
mod compress;
mod errors;
mod forward_auth;
mod go_cookie;
mod go_replace;
mod headers;
mod in_flight_req;
mod ip_allow_list;
mod media_type;
mod rate_limit;
mod redirect;
mod replace_path;
mod replace_path_regex;
mod retry;
mod retry_expression;
mod source;
mod strip_prefix;
mod strip_prefix_regex;

pub use chain::{Chain, ChainBuilder};
pub use context::{Context, RequestBody};
pub use edit::{RequestEdit, ResponseEdit};

use crate::proxy::responses::Answer;
use crate::runtime::registry::StateRegistry;
use crate::runtime::service::ServiceHandler;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a middleware's request phase decided.
pub enum Flow {
    /// Hand the request to the next middleware (the service, after the last).
    Continue,
    /// Answer the client with this; nothing is forwarded. The middlewares before this one
    /// see it in their response phase.
    Answer(Answer),
}

/// What a middleware needs from the path that runs it, beyond the request head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// It changes or reads the response head.
    pub response_head: bool,
    /// It reads or changes the request body.
    pub request_body: bool,
    /// It reads or changes the response body.
    pub response_body: bool,
    /// It follows the forward itself: failed connections to the server, the end of the
    /// exchange ([`HttpMiddleware::retry_after_connect_failure`], [`HttpMiddleware::done`]).
    pub forward_events: bool,
}

impl Needs {
    /// The request head alone: the lean HTTP/1 path can run it.
    pub const REQUEST_HEAD: Needs = Needs {
        response_head: false,
        request_body: false,
        response_body: false,
        forward_events: false,
    };

    /// Both heads, no body.
    pub const HEADS: Needs = Needs {
        response_head: true,
        ..Needs::REQUEST_HEAD
    };

    /// What a chain of middlewares with these needs needs.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            response_head: self.response_head || other.response_head,
            request_body: self.request_body || other.request_body,
            response_body: self.response_body || other.response_body,
            forward_events: self.forward_events || other.forward_events,
        }
    }

    /// Whether the lean HTTP/1 path can run it: it edits the request head and the response
    /// head (it relays bodies as read and takes no part in retries).
    pub fn lean(self) -> bool {
        !(self.request_body || self.response_body || self.forward_events)
    }
}

/// One Traefik middleware. Each phase has a default that does nothing.
pub trait HttpMiddleware: Send + Sync {
    /// What it needs beyond the request head.
    fn needs(&self) -> Needs {
        Needs::REQUEST_HEAD
    }

    /// Whether each router using it gets an instance with state of its own (Traefik builds
    /// a middleware per router: two routers naming one rate limit have a bucket each). Such
    /// a middleware keys its state by [`BuildContext::scope`].
    fn keeps_state_per_router(&self) -> bool {
        false
    }

    /// The request phase, in chain order: may change the request or answer it.
    fn request<R: RequestEdit>(
        &self,
        _request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        std::future::ready(Flow::Continue)
    }

    /// The phase that may replace the whole response (the `errors` pages), in reverse chain
    /// order, before [`Self::response`], for middlewares whose request phase ran: `status` is
    /// the response's so far; `Some` answer replaces its status, headers and body.
    fn replace<R: RequestEdit + ?Sized>(
        &self,
        _request: &R,
        _status: http::StatusCode,
        _context: &Context,
    ) -> impl Future<Output = Option<Answer>> + Send {
        std::future::ready(None)
    }

    /// The response phase, in reverse chain order, for middlewares whose request phase ran:
    /// `request` is the request as forwarded (or as answered).
    fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        _request: &R,
        _response: &mut S,
        _context: &mut Context,
    ) {
    }

    /// The connection to the server failed, nothing was sent: `Some(wait)` to forward the
    /// request again after `wait`, to a server picked anew (for middlewares whose request
    /// phase let the request on, last first; the first `Some` wins). Needs `forward_events`.
    fn retry_after_connect_failure(&self, _context: &mut Context) -> Option<Duration> {
        None
    }

    /// The exchange is over: the client got `status` (for middlewares whose request phase let
    /// the request on, last first). Needs `forward_events`.
    fn done(&self, _status: u16, _context: &mut Context) {}

    /// The request body phase, in chain order, once per chunk read from the client
    /// (`end_of_stream` on the last), for middlewares that need the request body. A chunk
    /// may be held back (left `Some` and empty) and released later; `Err` answers instead
    /// of forwarding.
    fn request_body(
        &self,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        _context: &mut Context,
    ) -> Result<(), Box<Answer>> {
        Ok(())
    }

    /// The response body phase, in reverse chain order like [`Self::response`], once per
    /// chunk of an upstream response (`end_of_stream` on the last): may change, hold back
    /// (leave `Some` and empty) or add to the chunk. `Err` cuts the response off.
    fn response_body(
        &self,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        _context: &mut Context,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// What the configuration compiler lends to the middlewares it builds.
pub trait CompileEnv {
    /// State kept across reloads for objects whose configuration did not change.
    fn states(&mut self) -> &mut StateRegistry;
    /// The service with this qualified name (`errors` pages are served by one).
    fn service(&mut self, qualified: &str) -> Result<Arc<ServiceHandler>, String>;
}

/// What building a middleware can use: its names, the state kept across reloads, services.
pub struct BuildContext<'a> {
    /// The middleware's qualified name (`auth@file`).
    pub name: &'a str,
    /// Its provider (`file`).
    pub provider: &'a str,
    /// The key of the state it keeps across reloads: its name, and for a middleware that
    /// [keeps state per router](HttpMiddleware::keeps_state_per_router) the router's too.
    pub scope: &'a str,
    /// The compiler's state registry and services.
    pub env: &'a mut dyn CompileEnv,
}

/// Builds a middleware from its configuration, once per configuration.
pub trait FromConfig<C>: Sized {
    /// The middleware, or why the configuration cannot be used.
    fn from_config(config: &C, context: &mut BuildContext<'_>) -> Result<Self, String>;
}

macro_rules! middlewares {
    (
        variants { $($variant:ident($module:ident::$type:ident)),* $(,)? }
        fields { $($field:ident => $built:ident),* $(,)? }
    ) => {
        /// A compiled middleware: one variant per implemented Traefik type.
        pub enum Middleware {
            $(
                #[doc = concat!("`", stringify!($module), "`")]
                $variant($module::$type),
            )*
        }

        impl Middleware {
            /// What it needs beyond the request head.
            pub fn needs(&self) -> Needs {
                match self {
                    $(Self::$variant(m) => m.needs(),)*
                }
            }

            /// Whether each router using it gets an instance of its own.
            pub fn keeps_state_per_router(&self) -> bool {
                match self {
                    $(Self::$variant(m) => m.keeps_state_per_router(),)*
                }
            }

            /// Its request phase.
            pub async fn request<R: RequestEdit>(&self, request: &mut R, context: &mut Context) -> Flow {
                match self {
                    $(Self::$variant(m) => m.request(request, context).await,)*
                }
            }

            /// Its replacing phase.
            pub async fn replace<R: RequestEdit + ?Sized>(
                &self,
                request: &R,
                status: http::StatusCode,
                context: &Context,
            ) -> Option<Answer> {
                match self {
                    $(Self::$variant(m) => m.replace(request, status, context).await,)*
                }
            }

            /// Its response phase.
            pub fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
                &self,
                request: &R,
                response: &mut S,
                context: &mut Context,
            ) {
                match self {
                    $(Self::$variant(m) => m.response(request, response, context),)*
                }
            }

            /// Whether to forward again after a failed connection, and after what wait.
            pub fn retry_after_connect_failure(&self, context: &mut Context) -> Option<Duration> {
                match self {
                    $(Self::$variant(m) => m.retry_after_connect_failure(context),)*
                }
            }

            /// The end of the exchange.
            pub fn done(&self, status: u16, context: &mut Context) {
                match self {
                    $(Self::$variant(m) => m.done(status, context),)*
                }
            }

            /// Its request body phase.
            pub fn request_body(
                &self,
                body: &mut Option<Bytes>,
                end_of_stream: bool,
                context: &mut Context,
            ) -> Result<(), Box<Answer>> {
                match self {
                    $(Self::$variant(m) => m.request_body(body, end_of_stream, context),)*
                }
            }

            /// Its response body phase.
            pub fn response_body(
                &self,
                body: &mut Option<Bytes>,
                end_of_stream: bool,
                context: &mut Context,
            ) -> Result<(), String> {
                match self {
                    $(Self::$variant(m) => m.response_body(body, end_of_stream, context),)*
                }
            }
        }

        /// Builds the middleware `config` describes (not a chain: see [`ChainBuilder`]).
        pub fn build(
            config: &control::dynamic::Middleware,
            context: &mut BuildContext<'_>,
        ) -> Result<Middleware, String> {
            $(
                if let Some(settings) = &config.$field {
                    return FromConfig::from_config(settings, context).map(Middleware::$built);
                }
            )*
            let kind = config.kind()?;
            Err(format!("middleware type {kind} is not supported by this gateway yet"))
        }
    };
}

middlewares! {
    variants {
        AddPrefix(add_prefix::AddPrefix),
        BasicAuth(auth::BasicAuth),
        DigestAuth(auth::DigestAuth),
        CircuitBreaker(circuit_breaker::CircuitBreaker),
        Buffering(buffering::Buffering),
        Compress(compress::Compress),
        InFlightReq(in_flight_req::InFlightReq),
        IpAllowList(ip_allow_list::IpAllowList),
        RateLimit(rate_limit::RateLimit),
        Errors(errors::Errors),
        ForwardAuth(forward_auth::ForwardAuth),
        ReplacePath(replace_path::ReplacePath),
        Retry(retry::Retry),
        Headers(headers::Headers),
        RedirectRegex(redirect::RedirectRegex),
        RedirectScheme(redirect::RedirectScheme),
        ReplacePathRegex(replace_path_regex::ReplacePathRegex),
        StripPrefix(strip_prefix::StripPrefix),
        StripPrefixRegex(strip_prefix_regex::StripPrefixRegex),
    }
    fields {
        add_prefix => AddPrefix,
        basic_auth => BasicAuth,
        digest_auth => DigestAuth,
        circuit_breaker => CircuitBreaker,
        buffering => Buffering,
        compress => Compress,
        in_flight_req => InFlightReq,
        ip_allow_list => IpAllowList,
        ip_white_list => IpAllowList,
        rate_limit => RateLimit,
        errors => Errors,
        forward_auth => ForwardAuth,
        replace_path => ReplacePath,
        retry => Retry,
        headers => Headers,
        redirect_regex => RedirectRegex,
        redirect_scheme => RedirectScheme,
        replace_path_regex => ReplacePathRegex,
        strip_prefix => StripPrefix,
        strip_prefix_regex => StripPrefixRegex,
    }
}

#[cfg(test)]
pub(crate) mod testing;
