//! The request path: Pingora's `ProxyHttp` for one entrypoint — forwarded headers, router
//! match on the current snapshot, server pick, upstream request rewrite, error answers.

pub mod forwarded;
pub mod request_path;
pub mod responses;

use crate::lifecycle::{InFlight, Lifecycle};
use crate::runtime::service::Picked;
use crate::runtime::Snapshot;
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
use std::sync::Arc;

/// `/ping` on this entrypoint.
#[derive(Debug, Clone)]
pub struct PingEndpoint {
    /// Status answered until every provider has delivered and once shutdown has begun.
    pub terminating_status: u16,
    /// Whether the gateway is ready for traffic.
    pub lifecycle: Arc<Lifecycle>,
}

/// The proxy logic of one entrypoint.
pub struct EntryPointProxy {
    /// Index of this entrypoint's router table in every snapshot.
    index: usize,
    snapshot: Arc<ArcSwap<Snapshot>>,
    forwarded: ForwardedPolicy,
    internal: InternalEndpoints,
    lifecycle: Arc<Lifecycle>,
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
    /// The proxy for the entrypoint whose router table is at `index` in each snapshot; its
    /// requests are counted in `lifecycle` while in flight.
    pub fn new(
        index: usize,
        snapshot: Arc<ArcSwap<Snapshot>>,
        forwarded: ForwardedPolicy,
        internal: InternalEndpoints,
        lifecycle: Arc<Lifecycle>,
    ) -> Self {
        Self {
            index,
            snapshot,
            forwarded,
            internal,
            lifecycle,
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
            let (status, body): (u16, &'static [u8]) = if ping.lifecycle.is_ready() {
                (200, b"OK")
            } else {
                (
                    ping.terminating_status,
                    responses::status_text(ping.terminating_status),
                )
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
pub struct RequestContext {
    client_ip: Option<IpAddr>,
    picked: Option<Picked>,
    /// Counts the request as in flight (shutdown waits for it) until the context is dropped.
    _in_flight: InFlight,
}

/// The client's address, IPv4-mapped ones (`::ffff:a.b.c.d`, a v4 client of a dual-stack
/// listener) as plain IPv4, once for trustedIPs, `ClientIP`, `X-Real-Ip` and `X-Forwarded-For`.
fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical())
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
            client_ip: None,
            picked: None,
            _in_flight: self.lifecycle.request_started(self.index),
        }
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
        _session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        match &ctx.picked {
            Some(picked) => Ok(Box::new(picked.upstream.peer.clone())),
            None => Error::e_explain(
                ErrorType::InternalError,
                "no server was picked for the request",
            ),
        }
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
