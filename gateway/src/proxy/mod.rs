//! The request path: Pingora's `ProxyHttp` for one entrypoint — the request head's checks,
//! forwarded headers, the router match on the snapshot the request started with, the gateway's
//! own services, the server pick, the upstream request rewrite, and failed forwards.

pub(crate) mod failure_log;
pub mod forwarded;
pub mod head;
pub mod intake;
pub mod request_path;
pub mod responses;

use crate::lifecycle::{InFlight, Lifecycle};
use crate::middleware::{Context as MiddlewareContext, RequestBody};
use crate::runtime::internal::InternalService;
use crate::runtime::service::{Picked, ServiceHandler};
use crate::runtime::{Route, Snapshot};
use crate::service::connection::ConnectionUse;
use crate::service::header_deadline;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use control::rule::{normalize_host, normalize_path, RequestView};
use control::static_config::StaticConfig;
use failure_log::LogBudget;
use forwarded::ForwardedPolicy;
use http::HeaderValue;
use intake::Rejection;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use responses::Answer;
use std::net::IpAddr;
use std::sync::Arc;

/// `/ping` (`ping@internal`).
#[derive(Debug, Clone)]
pub struct PingEndpoint {
    /// Status answered until every provider has delivered and once shutdown has begun.
    pub terminating_status: u16,
    /// Whether the gateway is ready for traffic.
    pub lifecycle: Arc<Lifecycle>,
}

/// What the gateway serves itself (Traefik's `@internal` services), shared by every entrypoint:
/// routers reach them through the router tables, like any other service.
#[derive(Default)]
pub struct InternalServices {
    /// `ping@internal`, when `ping` is configured.
    pub ping: Option<PingEndpoint>,
    /// `api@internal`, answered from the static configuration and the request's snapshot.
    pub api: Option<Arc<StaticConfig>>,
}

impl InternalServices {
    /// The answer of `service` to `req`, from the configuration in `snapshot`.
    fn answer(&self, service: InternalService, req: &RequestHeader, snapshot: &Snapshot) -> Answer {
        match (service, &self.ping, &self.api) {
            (InternalService::Ping, Some(ping), _) => {
                // Traefik's ping handler answers any method and path it is routed.
                if ping.lifecycle.is_ready() {
                    Answer::text(200, &b"OK"[..])
                } else {
                    let status = ping.terminating_status;
                    Answer::text(status, responses::status_text(status))
                }
            }
            (InternalService::Api, _, Some(config)) => {
                let path = req.uri.path();
                match crate::api::handle(snapshot, config, path, req.uri.query().unwrap_or("")) {
                    // Traefik's API router: 405 with no body for other methods on its paths.
                    Some(_) if !matches!(req.method, http::Method::GET | http::Method::HEAD) => {
                        Answer::empty(405)
                    }
                    Some(api) => {
                        let mut answer = Answer::json(api.status, api.body);
                        if let Some(next) = api.next_page {
                            answer = answer.header(
                                http::header::HeaderName::from_static("x-next-page"),
                                HeaderValue::from(next),
                            );
                        }
                        answer
                    }
                    None => Answer::go_error(404, responses::NOT_FOUND),
                }
            }
            (InternalService::Noop, _, _) => Answer::empty(200),
            _ => Answer::go_error(404, responses::NOT_FOUND),
        }
    }
}

/// Marks the request Pingora is handed as its connection's last (keepAliveMaxRequests,
/// keepAliveMaxTime, shutdown): the entrypoint app passes it as the session's connection
/// context, since Pingora decides keep-alive anew from the request head it reads.
#[derive(Debug, Clone, Copy)]
pub struct LastRequest;

/// The proxy logic of one entrypoint.
pub struct EntryPointProxy {
    /// Index of this entrypoint's router table in every snapshot.
    index: usize,
    snapshot: Arc<ArcSwap<Snapshot>>,
    forwarded: ForwardedPolicy,
    internal: Arc<InternalServices>,
    lifecycle: Arc<Lifecycle>,
    failures: LogBudget,
}

impl EntryPointProxy {
    /// The proxy for the entrypoint whose router table is at `index` in each snapshot; its
    /// requests are counted in `lifecycle` while in flight.
    pub fn new(
        index: usize,
        snapshot: Arc<ArcSwap<Snapshot>>,
        forwarded: ForwardedPolicy,
        internal: Arc<InternalServices>,
        lifecycle: Arc<Lifecycle>,
    ) -> Self {
        Self {
            index,
            snapshot,
            forwarded,
            internal,
            lifecycle,
            failures: LogBudget::default(),
        }
    }

    /// Sends an answer of the gateway's own (an internal service's, a failed forward's) after
    /// the response phases of the router's middlewares.
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        mut answer: Answer,
    ) -> Result<()> {
        if let (Some(route), Some(middleware)) = (&ctx.route, &mut ctx.middleware) {
            let request = session.req_header();
            if let Some(page) = route.chain.respond(request, &mut answer, middleware).await {
                answer = page;
            }
        }
        ctx.done(answer.status);
        answer.send(session).await
    }

    /// A failed forward at WARN, within the log budget; client aborts at DEBUG.
    fn log_failure(&self, ctx: &RequestContext, status: u16, error: &Error, started: bool) {
        let router = ctx.route.as_ref().map_or("", |r| r.name.as_str());
        let service = ctx.route.as_ref().map_or("", |r| r.service_name.as_str());
        let server = ctx.picked.as_ref().map_or("", |p| p.upstream.url.as_str());
        let outcome = if started {
            "the response was cut off"
        } else {
            "request failed"
        };
        if status == 499 {
            tracing::debug!(router, service, server, status, error = %error, "{outcome}: the client went away");
            return;
        }
        if let Some(suppressed) = self.failures.admit() {
            tracing::warn!(router, service, server, status, error = %error, suppressed, "{outcome}");
        }
    }
}

/// Per-request state: the configuration the request is served with (loaded once, when it
/// starts), the client, and the router and server chosen.
pub struct RequestContext {
    snapshot: Arc<Snapshot>,
    client_ip: Option<IpAddr>,
    route: Option<Arc<Route>>,
    picked: Option<Picked>,
    /// The upstream connection of the current attempt.
    connection: ConnectionUse,
    /// The middleware chain's per-request state, once the router's chain has run.
    middleware: Option<MiddlewareContext>,
    /// A middleware (`retry`) asked for another attempt after this wait, to a new server.
    retry_after: Option<std::time::Duration>,
    /// The status of a failed forward's answer (kept if the client was gone to get it).
    failure_status: Option<u16>,
    /// Whether the middlewares were told the exchange is over ([`RequestContext::done`]).
    done: bool,
    /// The body of a response a middleware replaced (an `errors` page), sent in place of the
    /// upstream's: taken by the first body chunk.
    replaced_body: Option<Option<bytes::Bytes>>,
    /// A replacement that cannot ride on the upstream's body (it had none): sent by
    /// `fail_to_proxy` instead.
    replacement: Option<Answer>,
    /// Counts the request as in flight (shutdown waits for it) until the context is dropped.
    _in_flight: InFlight,
}

impl RequestContext {
    /// Tells the router's middlewares, once, that the client got `status`: before the last
    /// bytes go out where the path allows it, so that the next request sees what it changed.
    fn done(&mut self, status: u16) {
        if let (false, Some(route), Some(middleware)) =
            (self.done, &self.route, &mut self.middleware)
        {
            self.done = true;
            route.chain.done(status, middleware);
        }
    }
}

/// The client's address, IPv4-mapped ones (`::ffff:a.b.c.d`, a v4 client of a dual-stack
/// listener) as plain IPv4, once for trustedIPs, `ClientIP`, `X-Real-Ip` and `X-Forwarded-For`.
fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical())
}

/// The most request body read before the request phases (Pingora's retry buffer, from which
/// the body is then forwarded).
const BUFFERED_BODY_LIMIT: usize = 64 * 1024;

/// Reads the request body for the middlewares that need it, keeping it for the forward.
async fn buffered_body(session: &mut Session) -> Result<RequestBody> {
    session.as_mut().enable_retry_buffering();
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > BUFFERED_BODY_LIMIT {
            return Ok(RequestBody {
                bytes: bytes.freeze(),
                complete: false,
            });
        }
    }
    Ok(RequestBody {
        bytes: bytes.freeze(),
        complete: true,
    })
}

/// The request as the picked server gets it: the URL's path in front when `preservePath` is
/// set, `;` query separators sent as `&` (as Traefik), and the server's `Host` when
/// `passHostHeader` is false.
pub(crate) fn rewrite_for_server(
    upstream_request: &mut RequestHeader,
    picked: &Picked,
) -> Result<()> {
    let uri = &upstream_request.uri;
    let query = uri.query();
    let semicolons = query.is_some_and(|q| q.contains(';'));
    if picked.upstream.path_prefix.is_some() || semicolons {
        // Origin-form target (`/path?query`) for the server, with the URL's path in front
        // when `preservePath` is set and `;` query separators sent as `&` (as Traefik).
        let path = match &picked.upstream.path_prefix {
            Some(prefix) => join_paths(prefix, uri.path()),
            None => uri.path().to_string(),
        };
        let target = match query {
            Some(query) if semicolons => format!("{path}?{}", query.replace(';', "&")),
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let target: http::Uri = target.parse().map_err(|e| {
            Error::because(
                ErrorType::InvalidHTTPHeader,
                "rewriting the request target",
                e,
            )
        })?;
        upstream_request.set_uri(target);
    }
    if !picked.pass_host_header {
        upstream_request.insert_header(http::header::HOST, picked.upstream.authority.clone())?;
    }
    Ok(())
}

/// Go's `singleJoiningSlash`: joins a server URL path and the request path with one `/`.
fn join_paths(prefix: &str, path: &str) -> String {
    match (prefix.ends_with('/'), path.starts_with('/')) {
        (true, true) => format!("{prefix}{}", &path[1..]),
        (false, false) => format!("{prefix}/{path}"),
        _ => format!("{prefix}{path}"),
    }
}

#[async_trait]
impl ProxyHttp for EntryPointProxy {
    type CTX = RequestContext;

    fn new_ctx(&self) -> RequestContext {
        RequestContext {
            snapshot: self.snapshot.load_full(),
            client_ip: None,
            route: None,
            picked: None,
            connection: ConnectionUse::default(),
            middleware: None,
            retry_after: None,
            failure_status: None,
            done: false,
            replaced_body: None,
            replacement: None,
            _in_flight: self.lifecycle.request_started(self.index),
        }
    }

    fn on_connection_reuse(
        &self,
        session: &mut Session,
        _ctx: &mut RequestContext,
        previous: Box<dyn std::any::Any + Send + Sync>,
    ) {
        if previous.is::<LastRequest>() {
            session.set_keepalive(None);
        }
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        ctx.client_ip = client_ip(session);
        if let Err(rejection) = intake::prepare(session.req_header_mut()) {
            let answer = match rejection {
                Rejection::BadRequest(reason) => Answer::bad_request(reason),
                Rejection::UnsupportedTransferEncoding => Answer::unsupported_transfer_encoding(),
            };
            answer.send(session).await?;
            return Ok(true);
        }
        self.forwarded
            .rewrite_incoming(session.req_header_mut(), ctx.client_ip, false);

        let route = {
            let req = session.req_header();
            let host = forwarded::request_host(req)
                .map(normalize_host)
                .unwrap_or_default();
            let path = normalize_path(req.uri.path());
            let view = RequestView {
                host: &host,
                method: &req.method,
                path: &path,
                query: req.uri.query().unwrap_or(""),
                headers: &req.headers,
                client_ip: ctx.client_ip,
            };
            ctx.snapshot
                .table(self.index)
                .and_then(|table| table.find(&view))
                .cloned()
        };
        let Some(route) = route else {
            Answer::go_error(404, responses::NOT_FOUND)
                .send(session)
                .await?;
            return Ok(true);
        };
        let service = route.service.clone();
        if !route.chain.is_empty() {
            let mut middleware = MiddlewareContext::new(ctx.client_ip, false, false);
            if route.chain.needs().request_body {
                middleware.request_body = Some(buffered_body(session).await?);
            }
            let outcome = route
                .chain
                .request(session.req_header_mut(), &mut middleware)
                .await;
            ctx.middleware = Some(middleware);
            if let Err(answer) = outcome {
                ctx.route = Some(route);
                answer.send(session).await?;
                return Ok(true);
            }
        }
        ctx.route = Some(route);
        if let ServiceHandler::Internal(internal) = &*service {
            let answer = self
                .internal
                .answer(*internal, session.req_header(), &ctx.snapshot);
            self.answer(session, ctx, answer).await?;
            return Ok(true);
        }
        match service.pick() {
            Some(picked) => {
                ctx.picked = Some(picked);
                Ok(false)
            }
            None => {
                let answer = Answer::go_error(503, responses::NO_AVAILABLE_SERVER);
                self.answer(session, ctx, answer).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        if let (Some(wait), Some(route)) = (ctx.retry_after.take(), &ctx.route) {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            // As Traefik's load balancer, each attempt picks its server.
            ctx.picked = route.service.pick();
            if ctx.picked.is_none() {
                return Error::e_explain(ErrorType::HTTPStatus(503), "no available server");
            }
        }
        match &ctx.picked {
            Some(picked) => {
                let upgrade = forwarded::upgrade_protocol(session.req_header()).is_some();
                Ok(Box::new(picked.upstream.peer_for(upgrade).clone()))
            }
            None => Error::e_explain(
                ErrorType::InternalError,
                "no server was picked for the request",
            ),
        }
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        peer: &HttpPeer,
        fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if let Some(picked) = &ctx.picked {
            let http2 = peer.options.alpn.get_min_http_version() == 2;
            // SAFETY: `fd` is the live connection Pingora is about to use for this attempt.
            unsafe { ctx.connection.start(&picked.upstream, http2, fd) };
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if let (Some(route), Some(middleware)) = (&ctx.route, &mut ctx.middleware) {
            if let Err(answer) = route.chain.request_body(body, end_of_stream, middleware) {
                let status = answer.status;
                self.answer(session, ctx, *answer).await?;
                return Error::e_explain(
                    ErrorType::HTTPStatus(status),
                    "a middleware refused the request body",
                );
            }
        }
        if end_of_stream {
            ctx.connection.request_sent();
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        ctx.connection
            .response_head(&session.req_header().method, upstream_response);
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<Option<std::time::Duration>> {
        if end_of_stream {
            ctx.connection.response_end();
        }
        Ok(None)
    }

    /// A connection that could not be made (nothing was sent) is tried again when a middleware
    /// (`retry`) asks for it and the request body can still be replayed.
    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestContext,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let (Some(route), Some(middleware)) = (&ctx.route, &mut ctx.middleware) {
            if !session.as_ref().retry_buffer_truncated() {
                if let Some(wait) = route.chain.retry_after_connect_failure(middleware) {
                    ctx.retry_after = Some(wait);
                    e.set_retry(true);
                }
            }
        }
        e
    }

    /// Pingora's policy (no retry of non-idempotent requests, retry of a failure on a reused
    /// connection), except that a response-header deadline that fired is a timeout, not retried.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestContext,
        client_reused: bool,
    ) -> Box<Error> {
        if ctx.connection.timed_out() {
            let server = ctx.picked.as_ref().map_or("", |p| p.upstream.url.as_str());
            return header_deadline::timeout_error(server, e);
        }
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        let omit = ctx
            .middleware
            .as_ref()
            .is_some_and(|m| m.omit_x_forwarded_for);
        forwarded::prepare_upstream(
            upstream_request,
            ctx.client_ip,
            self.forwarded.appends_x_forwarded_for() && !omit,
        );
        match &ctx.picked {
            Some(picked) => rewrite_for_server(upstream_request, picked),
            None => Ok(()),
        }
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        forwarded::clean_response(upstream_response);
        if let (Some(route), Some(middleware)) = (&ctx.route, &mut ctx.middleware) {
            middleware.response_body_filtered = true;
            let request = session.req_header();
            if let Some(page) = route
                .chain
                .respond(request, upstream_response, middleware)
                .await
            {
                let no_body = matches!(upstream_response.status.as_u16(), 204 | 304)
                    || upstream_response
                        .headers
                        .get(http::header::CONTENT_LENGTH)
                        .is_some_and(|length| length.as_bytes() == b"0");
                if no_body && request.method != http::Method::HEAD && !page.body().is_empty() {
                    // Pingora sends no body after a head that announced none.
                    ctx.replacement = Some(page);
                    return Error::e_explain(
                        ErrorType::InternalError,
                        "the response is replaced by a middleware's",
                    );
                }
                *upstream_response = page.response_header()?;
                ctx.replaced_body = Some(Some(page.body().clone()).filter(|b| !b.is_empty()));
            }
        }
        responses::close_when_shutting_down(session);
        Ok(())
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(replaced) = &mut ctx.replaced_body {
            *body = replaced.take();
        } else if let (Some(route), Some(middleware)) = (&ctx.route, &mut ctx.middleware) {
            if let Err(reason) = route.chain.response_body(body, end_of_stream, middleware) {
                return Error::e_explain(ErrorType::InternalError, reason);
            }
        }
        if end_of_stream {
            if let Some(head) = session.response_written() {
                ctx.done(head.status.as_u16());
            }
        }
        Ok(None)
    }

    /// Failed forwards are logged by [`Self::fail_to_proxy`], within a budget, not by Pingora
    /// at ERROR on every request.
    fn suppress_error_log(
        &self,
        _session: &Session,
        _ctx: &RequestContext,
        _error: &Error,
    ) -> bool {
        true
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestContext,
    ) -> FailToProxy {
        if let Some(page) = ctx.replacement.take() {
            let status = page.status;
            if let Err(write_error) = page.send(session).await {
                tracing::debug!(error = %write_error, "could not send the replaced response");
            }
            return FailToProxy {
                error_code: status,
                can_reuse_downstream: false,
            };
        }
        let status = match (e.esource(), e.etype()) {
            (_, ErrorType::HTTPStatus(code)) => *code,
            (
                ErrorSource::Downstream,
                ErrorType::ReadError
                | ErrorType::WriteError
                | ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::ConnectionClosed,
            ) => 499,
            (ErrorSource::Downstream, _) => 400,
            (
                _,
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout,
            ) => 504,
            (ErrorSource::Upstream, _) => 502,
            (
                _,
                ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
                | ErrorType::TLSHandshakeFailure,
            ) => 502,
            _ => 500,
        };
        // Once the response head is out, nothing more is written: the connection is closed
        // so the client sees a truncated response, never a well-formed one with an error in it.
        let started = session.response_written().is_some();
        ctx.failure_status = Some(status);
        self.log_failure(ctx, status, e, started);
        // A client that went away gets the 499 too, as from Traefik: one whose body stopped
        // coming (readTimeout) is still there to read it.
        if !started {
            let answer = Answer::proxy_error(status);
            if let Err(write_error) = self.answer(session, ctx, answer).await {
                tracing::debug!(error = %write_error, "could not send the error answer");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    /// The end of every request: the middlewares that follow the exchange (`circuitBreaker`)
    /// learn the status the client got.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestContext) {
        let status = session
            .response_written()
            .map(|head| head.status.as_u16())
            .or(ctx.failure_status)
            .unwrap_or(200);
        ctx.done(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_go() {
        assert_eq!(join_paths("/base", "/x"), "/base/x");
        assert_eq!(join_paths("/base/", "/x"), "/base/x");
        assert_eq!(join_paths("/base", "x"), "/base/x");
        assert_eq!(join_paths("/base/", "x"), "/base/x");
    }
}
