//! The request path: Pingora's `ProxyHttp` for one entrypoint — forwarded headers, router
//! match on the current snapshot, server pick, upstream request rewrite, error answers.

pub mod forwarded;
pub mod request_path;
pub mod responses;

use crate::runtime::service::Picked;
use crate::runtime::Snapshot;
use crate::service::connection::ConnectionUse;
use crate::service::header_deadline;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use control::rule::{normalize_host, normalize_path, RequestView};
use control::static_config::StaticConfig;
use forwarded::ForwardedPolicy;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `/ping` on this entrypoint.
#[derive(Debug, Clone)]
pub struct PingEndpoint {
    /// Status answered once shutdown has begun.
    pub terminating_status: u16,
    /// Set when the gateway starts shutting down.
    pub terminating: Arc<AtomicBool>,
}

/// The proxy logic of one entrypoint.
pub struct EntryPointProxy {
    /// Index of this entrypoint's router table in every snapshot.
    index: usize,
    snapshot: Arc<ArcSwap<Snapshot>>,
    forwarded: ForwardedPolicy,
    internal: InternalEndpoints,
}

/// What the gateway itself serves on an entrypoint (Traefik's `@internal` services).
#[derive(Default)]
pub struct InternalEndpoints {
    /// `/ping`.
    pub ping: Option<PingEndpoint>,
    /// `/api/...`, answered from the static configuration and the current snapshot.
    pub api: Option<Arc<StaticConfig>>,
}

impl EntryPointProxy {
    /// The proxy for the entrypoint whose router table is at `index` in each snapshot.
    pub fn new(
        index: usize,
        snapshot: Arc<ArcSwap<Snapshot>>,
        forwarded: ForwardedPolicy,
        internal: InternalEndpoints,
    ) -> Self {
        Self {
            index,
            snapshot,
            forwarded,
            internal,
        }
    }

    /// Answers `/ping` and `/api/...` when this entrypoint serves them; true when answered.
    async fn serve_internal(&self, session: &mut Session) -> Result<bool> {
        let req = session.req_header();
        if !(req.method == http::Method::GET || req.method == http::Method::HEAD) {
            return Ok(false);
        }
        let path = req.uri.path();
        if let (Some(ping), "/ping") = (&self.internal.ping, path) {
            let (status, body): (u16, &'static [u8]) = if ping.terminating.load(Ordering::Relaxed) {
                (
                    ping.terminating_status,
                    responses::status_text(ping.terminating_status),
                )
            } else {
                (200, b"OK")
            };
            responses::respond(session, status, body, false).await?;
            return Ok(true);
        }
        let Some(config) = &self.internal.api else {
            return Ok(false);
        };
        let answer = {
            let snapshot = self.snapshot.load();
            crate::api::handle(&snapshot, config, path, req.uri.query().unwrap_or(""))
        };
        let Some(answer) = answer else {
            return Ok(false);
        };
        let mut header = ResponseHeader::build(answer.status, Some(3))?;
        header.insert_header("Content-Type", "application/json")?;
        if let Some(next) = answer.next_page {
            header.insert_header("X-Next-Page", next)?;
        }
        responses::write(session, header, answer.body.into()).await?;
        Ok(true)
    }
}

/// Per-request state.
#[derive(Default)]
pub struct RequestContext {
    client_ip: Option<IpAddr>,
    picked: Option<Picked>,
    /// The upstream connection of the current attempt.
    connection: ConnectionUse,
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
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
        RequestContext::default()
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        ctx.client_ip = client_ip(session);
        self.forwarded
            .rewrite_incoming(session.req_header_mut(), ctx.client_ip, false);

        if self.serve_internal(session).await? {
            return Ok(true);
        }

        // The path Traefik's entrypoint routes on and forwards: escapes normalized, dot
        // segments and repeated slashes removed.
        let raw_path = session.req_header().uri.path();
        match request_path::prepare(raw_path) {
            Ok(std::borrow::Cow::Borrowed(_)) => {}
            Ok(std::borrow::Cow::Owned(path)) => {
                let uri = &session.req_header().uri;
                let target = match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path,
                };
                let mut parts = uri.clone().into_parts();
                parts.path_and_query = target.parse().ok();
                if let Ok(uri) = http::Uri::from_parts(parts) {
                    session.req_header_mut().set_uri(uri);
                }
            }
            Err(request_path::InvalidEscape) => {
                responses::respond(session, 400, b"400 Bad Request", false).await?;
                return Ok(true);
            }
        }

        let picked = {
            let snapshot = self.snapshot.load();
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
            // None: no router matched; Some(None): its service has no server to pick.
            snapshot
                .table(self.index)
                .and_then(|table| table.find(&view))
                .map(|route| route.service.pick())
        };
        match picked {
            Some(Some(picked)) => {
                ctx.picked = Some(picked);
                Ok(false)
            }
            Some(None) => {
                responses::respond(session, 503, responses::NO_AVAILABLE_SERVER, true).await?;
                Ok(true)
            }
            None => {
                responses::respond(session, 404, responses::NOT_FOUND, true).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
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
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<()> {
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
        forwarded::prepare_upstream(
            upstream_request,
            ctx.client_ip,
            self.forwarded.appends_x_forwarded_for(),
        );
        let Some(picked) = &ctx.picked else {
            return Ok(());
        };
        let uri = &upstream_request.uri;
        let query = uri.query();
        let semicolons = query.is_some_and(|q| q.contains(';'));
        if uri.authority().is_some() || picked.upstream.path_prefix.is_some() || semicolons {
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
            upstream_request
                .insert_header(http::header::HOST, picked.upstream.authority.clone())?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        _ctx: &mut RequestContext,
    ) -> Result<()> {
        forwarded::clean_response(upstream_response);
        Ok(())
    }

    /// Failed forwards are logged by [`Self::fail_to_proxy`] at DEBUG, as Traefik does,
    /// not by Pingora at ERROR on every request.
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
        _ctx: &mut RequestContext,
    ) -> FailToProxy {
        let status = match (e.esource(), e.etype()) {
            (_, ErrorType::HTTPStatus(code)) => *code,
            (
                ErrorSource::Downstream,
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
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
        tracing::debug!(status, error = %e, "request failed");
        if status != 499 {
            let body = responses::status_text(status);
            if let Err(write_error) = responses::respond(session, status, body, false).await {
                tracing::debug!(error = %write_error, "could not send the error answer");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
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
