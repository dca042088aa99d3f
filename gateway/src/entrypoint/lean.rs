//! The lean HTTP/1 forward: a request the parser found plain (see `crate::http1::request`) on
//! a router compiled for it is routed, rewritten straight from the connection's buffer into
//! one output buffer (the same forwarded headers as the Pingora path, from the same plan), sent
//! on a pooled upstream connection checked before reuse, and its response relayed with the same
//! cleaning, without a header map or a per-request allocation.

use super::connection::{read_more, write_all, Connection, Read, READ_CHUNK};
use super::deadlines::DeadlineStream;
use crate::http1::chunked::ChunkedScanner;
use crate::http1::request::write_request_head;
use crate::http1::response::{ParsedResponse, ResponseBody, ResponseStatus};
use crate::middleware::edit::go_canonical;
use crate::middleware::{Chain, Context as MiddlewareContext};
use crate::proxy::forwarded;
use crate::proxy::head::RequestHead;
use crate::proxy::responses::{self, Answer};
use crate::proxy::rewrite_for_server;
use crate::runtime::service::{LeanTarget, Picked};
use crate::service::idle_pool::{LeanConnection, ServerConnections};
use control::rule::{normalize_host, normalize_path, RequestView};
use pingora::http::RequestHeader;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest upstream response head accepted (a larger one is a 502).
const MAX_RESPONSE_HEAD: usize = 1 << 20;

/// How a request on the lean path ended.
pub(super) enum Served {
    /// Answered; the connection may serve another request.
    KeepAlive,
    /// Answered or failed in a way that ends the connection.
    Close,
    /// Not for the lean path after all (its router is not lean, or none matched): nothing was
    /// consumed or written; the caller hands the request to Pingora.
    NotLean,
}

/// The lean path's per-connection buffers, allocated once.
pub(super) struct Buffers {
    /// The upstream request, then the client response head.
    out: Vec<u8>,
    /// Bytes read from the server.
    upstream: Vec<u8>,
    response: ParsedResponse,
}

impl Buffers {
    pub(super) fn new() -> Self {
        Self {
            out: Vec::with_capacity(READ_CHUNK),
            upstream: Vec::with_capacity(READ_CHUNK),
            response: ParsedResponse::new(),
        }
    }
}

/// Why a forward failed, and the answer it gets when nothing was sent to the client yet.
struct Failure {
    status: u16,
    reason: String,
}

impl Failure {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// Serves the request whose head `connection.request` holds, if its router is lean.
pub(super) async fn serve(
    connection: &mut Connection<'_>,
    client: &mut DeadlineStream,
    last: bool,
) -> Served {
    let entry_point = connection.entry_point;
    let snapshot = connection.app.snapshot.load();
    let head_len = connection.request.head_len();
    let body_len = connection.request.content_length() as usize;
    let wants_close = connection.request.wants_close();
    let head_only = connection.request.is_head_method();

    // Route and rewrite while the head is borrowed from the input buffer (a router with
    // middlewares gets an owned copy of the head for them to change).
    let (route, picked, target, idempotent, mut owned) = {
        let view = connection.request.view(&connection.input);
        let plan = entry_point
            .forwarded
            .plan(&view, connection.client_ip, false);
        let host = view
            .host()
            .and_then(|h| std::str::from_utf8(h).ok())
            .map(normalize_host)
            .unwrap_or_default();
        // The parser admits printable ASCII targets only.
        let path = normalize_path(std::str::from_utf8(view.path()).unwrap_or("/"));
        let query = view
            .query()
            .and_then(|q| std::str::from_utf8(q).ok())
            .unwrap_or("");
        let Ok(method) = http::Method::from_bytes(view.method()) else {
            return Served::NotLean;
        };
        let headers = plan.headers_for_routing(&view);
        let request = RequestView {
            host: &host,
            method: &method,
            path: &path,
            query,
            headers: &headers,
            client_ip: connection.client_ip,
        };
        let Some(route) = snapshot
            .table(entry_point.index)
            .and_then(|table| table.find(&request))
            .filter(|route| route.lean)
            .cloned()
        else {
            return Served::NotLean;
        };
        let Some(picked) = route.service.pick() else {
            return Served::NotLean;
        };
        let Some(target) = picked.upstream.lean else {
            return Served::NotLean;
        };
        let out = &mut connection.lean.out;
        out.clear();
        if !route.chain.is_empty() {
            let Some(head) = view.to_request_header() else {
                return Served::NotLean;
            };
            let idempotent = method.is_idempotent();
            (route, picked, target, idempotent, Some(head))
        } else {
            out.extend_from_slice(view.method());
            out.push(b' ');
            out.extend_from_slice(view.target());
            out.extend_from_slice(b" HTTP/1.1\r\n");
            let host_override =
                (!picked.pass_host_header).then(|| picked.upstream.authority.as_bytes());
            plan.write_headers(&view, host_override, out);
            out.extend_from_slice(b"\r\n");
            (route, picked, target, method.is_idempotent(), None)
        }
    };
    let _in_flight = connection.app.lifecycle.request_started(entry_point.index);
    tracing::trace!(router = %route.name, "request on the lean path");

    // The body, whole (the parser admits small ones only), within readTimeout; past it, the
    // client gets Traefik's answer to a body it could not read.
    while connection.input.len() < head_len + body_len {
        match read_more(client, &mut connection.input).await {
            Read::Bytes => {}
            Read::Closed => return Served::Close,
            Read::TimedOut => {
                let out = &mut connection.lean.out;
                out.clear();
                Answer::proxy_error(499).write_http1(head_only, false, out);
                let _ = write_all(client, out).await;
                return Served::Close;
            }
        }
    }
    // The middlewares' context lives until the exchange ends: what they hold (an in-flight
    // count) is released once the response has been relayed.
    let mut context = MiddlewareContext::new(connection.client_ip, false, false);
    if let Some(head) = &mut owned {
        let client_ip = connection.client_ip;
        let forwarded = &entry_point.forwarded;
        forwarded.rewrite_incoming(head, client_ip, false);
        let outcome = route.chain.request(head, &mut context).await;
        let out = &mut connection.lean.out;
        if let Err(answer) = outcome {
            connection.input.drain(..head_len + body_len);
            let keep_alive = !(last || wants_close || answer.close);
            out.clear();
            answer.write_http1(head_only, keep_alive, out);
            if write_all(client, out).await.is_err() || !keep_alive {
                return Served::Close;
            }
            return Served::KeepAlive;
        }
        let append = forwarded.appends_x_forwarded_for() && !context.omit_x_forwarded_for;
        forwarded::prepare_upstream(head, client_ip, append);
        if rewrite_for_server(head, &picked).is_err() {
            return Served::Close;
        }
        write_request_head(head, out);
    }
    let buffers = &mut *connection.lean;
    buffers
        .out
        .extend_from_slice(&connection.input[head_len..head_len + body_len]);
    connection.input.drain(..head_len + body_len);

    let close_after = last || wants_close;
    let connections = &picked.upstream.connections;
    let editing = owned.as_ref().and_then(|head| {
        route
            .chain
            .needs()
            .response_head
            .then_some(ResponseEditing {
                chain: &route.chain,
                request: head,
                context: &mut context,
            })
    });
    let outcome = exchange(
        buffers,
        client,
        &target,
        connections,
        idempotent,
        head_only,
        close_after,
        editing,
    )
    .await;
    match outcome {
        Ok(kept) => {
            if kept && !close_after {
                Served::KeepAlive
            } else {
                Served::Close
            }
        }
        Err((failure, response_started)) => {
            log_failure(
                connection,
                &route.name,
                &route.service_name,
                &picked,
                &failure,
                response_started,
            );
            if !response_started {
                let out = &mut connection.lean.out;
                out.clear();
                // A failed forward closes the connection, as on the Pingora path.
                let mut answer = Answer::proxy_error(failure.status);
                if let Some(head) = &owned {
                    route.chain.response(head, &mut answer, &mut context);
                }
                answer.write_http1(head_only, false, out);
                let _ = write_all(client, out).await;
            }
            Served::Close
        }
    }
}

fn log_failure(
    connection: &Connection<'_>,
    router: &str,
    service: &str,
    picked: &Picked,
    failure: &Failure,
    started: bool,
) {
    let outcome = if started {
        "the response was cut off"
    } else {
        "request failed"
    };
    let server = picked.upstream.url.as_str();
    if failure.status == 499 {
        tracing::debug!(router, service, server, status = 499, error = %failure.reason, "{outcome}: the client went away");
        return;
    }
    if let Some(suppressed) = connection.entry_point.failures.admit() {
        tracing::warn!(
            router,
            service,
            server,
            status = failure.status,
            error = %failure.reason,
            suppressed,
            "{outcome}"
        );
    }
}

/// The response phases of a router's middlewares, for a chain that changes response heads.
struct ResponseEditing<'a> {
    chain: &'a Chain,
    /// The request as forwarded.
    request: &'a RequestHeader,
    context: &'a mut MiddlewareContext,
}

impl ResponseEditing<'_> {
    /// Runs the response phases on the relayed headers and writes the result, names in Go's
    /// canonical spelling as Traefik sends them (the status line is already written).
    fn write_edited<'h>(
        self,
        status: u16,
        relayed: impl Iterator<Item = (&'h [u8], &'h [u8])>,
        out: &mut Vec<u8>,
    ) {
        let mut head = http::Response::new(()).into_parts().0;
        head.status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        for (name, value) in relayed {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                head.headers.append(name, value);
            }
        }
        self.chain.response(self.request, &mut head, self.context);
        for (name, value) in &head.headers {
            responses::write_header(out, go_canonical(name).as_bytes(), value.as_bytes());
        }
    }
}

/// Connects to `target` within its dialTimeout.
async fn connect(target: &LeanTarget) -> Result<TcpStream, Failure> {
    let connect = TcpStream::connect(target.address);
    let stream = match target.dial_timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| Failure::new(504, format!("dial tcp {}: i/o timeout", target.address)))?,
        None => connect.await,
    }
    .map_err(|e| Failure::new(502, format!("dial tcp {}: {e}", target.address)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends `buffers.out` to the server and relays the response to the client. `Ok(kept)`: the
/// response was relayed whole, and `kept` says whether the client connection may go on.
/// `Err((failure, started))`: `started` says whether the client got part of a response.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    buffers: &mut Buffers,
    client: &mut DeadlineStream,
    target: &LeanTarget,
    connections: &Arc<ServerConnections>,
    idempotent: bool,
    head_only: bool,
    close_after: bool,
    editing: Option<ResponseEditing<'_>>,
) -> Result<bool, (Failure, bool)> {
    let not_started = |failure| (failure, false);
    // A pooled connection the server closed meanwhile fails before any response byte: the
    // request is sent again once, on a new connection (an idempotent one even if it may have
    // been read; any request when it could not be written).
    let mut upstream: LeanConnection;
    // The request's hold on its connection, from the moment it is taken: it is not idle.
    let mut hold;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let pooled = if attempt == 1 {
            connections.take_lean(target.idle_timeout)
        } else {
            None
        };
        let reused = pooled.is_some();
        upstream = match pooled {
            Some(connection) => connection,
            None => connections.lean_connection(connect(target).await.map_err(not_started)?),
        };
        hold = connections.start_use(upstream.stream.as_raw_fd());
        if let Err(e) = upstream.stream.write_all(&buffers.out).await {
            if reused {
                continue;
            }
            return Err(not_started(Failure::new(
                502,
                format!("writing the request: {e}"),
            )));
        }
        match read_response_head(buffers, &mut upstream.stream, target).await {
            Ok(()) => break,
            Err(HeadFailure::ClosedEarly) if reused && idempotent => continue,
            Err(HeadFailure::ClosedEarly) => {
                return Err(not_started(Failure::new(
                    502,
                    "the server closed the connection before answering",
                )))
            }
            Err(HeadFailure::Failed(failure)) => return Err(not_started(failure)),
        }
    }
    let response = &buffers.response;
    let head_len = response.head_len();
    let body = response.body(head_only);
    let server_keeps_alive = response.server_keeps_alive();
    let rechunk = matches!(body, ResponseBody::UntilClose);

    // The client's head, cleaned as the Pingora path cleans it.
    let out = &mut buffers.out;
    out.clear();
    let _ = write!(out, "HTTP/1.1 {} ", response.status());
    out.extend_from_slice(response.reason(&buffers.upstream));
    out.extend_from_slice(b"\r\n");
    let hop_by_hop =
        forwarded::ResponseHopByHop::new(response.status(), || response.headers(&buffers.upstream));
    let relayed = response.headers(&buffers.upstream).filter(|(name, _)| {
        !(hop_by_hop.drops(name)
            || name.eq_ignore_ascii_case(b"date")
            || name.eq_ignore_ascii_case(b"connection"))
    });
    match editing {
        None => {
            for (name, value) in relayed {
                responses::write_header(out, name, value);
            }
        }
        Some(editing) => editing.write_edited(response.status(), relayed, out),
    }
    if rechunk {
        responses::write_header(out, b"Transfer-Encoding", b"chunked");
    }
    responses::write_header(
        out,
        b"Date",
        pingora::protocols::http::date::get_cached_date().as_bytes(),
    );
    let keep = !close_after;
    responses::write_header(
        out,
        b"Connection",
        if keep { b"keep-alive" } else { b"close" },
    );
    out.extend_from_slice(b"\r\n");

    // The body: what came with the head, then the rest as it arrives.
    let started = |failure| (failure, true);
    let mut clean_end = true;
    match body {
        ResponseBody::Empty => {
            clean_end = buffers.upstream.len() == head_len;
            write_all(client, out)
                .await
                .map_err(|e| started(Failure::new(499, e.to_string())))?;
        }
        ResponseBody::Length(_) | ResponseBody::Chunked => {
            let mut end = match body {
                ResponseBody::Length(length) => BodyEnd::Length(length),
                _ => BodyEnd::Chunked(ChunkedScanner::new()),
            };
            let mut from = head_len;
            loop {
                let (used, done) = end.take(&buffers.upstream[from..]).map_err(started)?;
                out.extend_from_slice(&buffers.upstream[from..from + used]);
                if done && from + used < buffers.upstream.len() {
                    // The server sent more than the response: its connection is not reused.
                    clean_end = false;
                }
                write_all(client, out)
                    .await
                    .map_err(|e| started(Failure::new(499, e.to_string())))?;
                out.clear();
                if done {
                    break;
                }
                buffers.upstream.clear();
                from = 0;
                read_upstream(&mut upstream.stream, &mut buffers.upstream)
                    .await
                    .map_err(started)?;
            }
        }
        ResponseBody::UntilClose => {
            clean_end = false;
            let mut from = head_len;
            loop {
                let data = &buffers.upstream[from..];
                if !data.is_empty() {
                    let _ = write!(out, "{:x}\r\n", data.len());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                buffers.upstream.clear();
                from = 0;
                buffers.upstream.reserve(READ_CHUNK);
                let read = upstream.stream.read_buf(&mut buffers.upstream).await;
                let ended = !matches!(read, Ok(n) if n > 0);
                if ended {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                write_all(client, out)
                    .await
                    .map_err(|e| started(Failure::new(499, e.to_string())))?;
                out.clear();
                if ended {
                    break;
                }
            }
        }
    }
    if clean_end && server_keeps_alive {
        connections.put_lean(upstream, hold, target.idle_timeout);
    }
    Ok(keep)
}

/// Where a framed response body ends.
enum BodyEnd {
    /// This many bytes are left.
    Length(u64),
    Chunked(ChunkedScanner),
}

impl BodyEnd {
    /// How many of `bytes` (the next ones received) belong to the body, and whether it ends
    /// with them.
    fn take(&mut self, bytes: &[u8]) -> Result<(usize, bool), Failure> {
        match self {
            BodyEnd::Length(left) => {
                let used = (bytes.len() as u64).min(*left);
                *left -= used;
                Ok((used as usize, *left == 0))
            }
            BodyEnd::Chunked(scanner) => scanner
                .scan(bytes)
                .map(|scanned| (scanned.used, scanned.done))
                .map_err(|e| Failure::new(502, format!("chunked body: {e}"))),
        }
    }
}

/// Why no response head came.
enum HeadFailure {
    /// The server closed the connection before sending a byte.
    ClosedEarly,
    Failed(Failure),
}

/// Reads a response head into `buffers.upstream` (1xx interim responses are skipped), within
/// responseHeaderTimeout.
async fn read_response_head(
    buffers: &mut Buffers,
    upstream: &mut TcpStream,
    target: &LeanTarget,
) -> Result<(), HeadFailure> {
    buffers.upstream.clear();
    let read_head = async {
        loop {
            match buffers.response.parse(&buffers.upstream, MAX_RESPONSE_HEAD) {
                ResponseStatus::Complete if (100..200).contains(&buffers.response.status()) => {
                    let interim = buffers.response.head_len();
                    buffers.upstream.drain(..interim);
                    continue;
                }
                ResponseStatus::Complete => return Ok(()),
                ResponseStatus::Invalid(reason) => {
                    return Err(HeadFailure::Failed(Failure::new(
                        502,
                        format!("malformed response: {reason}"),
                    )))
                }
                ResponseStatus::TooLarge => {
                    return Err(HeadFailure::Failed(Failure::new(
                        502,
                        "response head too large",
                    )))
                }
                ResponseStatus::Partial => {}
            }
            buffers.upstream.reserve(READ_CHUNK);
            match upstream.read_buf(&mut buffers.upstream).await {
                Ok(0) if buffers.upstream.is_empty() => return Err(HeadFailure::ClosedEarly),
                Err(_) if buffers.upstream.is_empty() => return Err(HeadFailure::ClosedEarly),
                Ok(0) => {
                    return Err(HeadFailure::Failed(Failure::new(
                        502,
                        "the server closed the connection mid-head",
                    )))
                }
                Err(e) => {
                    return Err(HeadFailure::Failed(Failure::new(
                        502,
                        format!("reading the response: {e}"),
                    )))
                }
                Ok(_) => {}
            }
        }
    };
    match target.response_header_timeout {
        Some(limit) => tokio::time::timeout(limit, read_head)
            .await
            .unwrap_or_else(|_| {
                Err(HeadFailure::Failed(Failure::new(
                    504,
                    "timeout awaiting response headers",
                )))
            }),
        None => read_head.await,
    }
}

/// Reads more of the response body; the end of the stream before the body's end is a failure.
async fn read_upstream(upstream: &mut TcpStream, into: &mut Vec<u8>) -> Result<(), Failure> {
    into.reserve(READ_CHUNK);
    match upstream.read_buf(into).await {
        Ok(0) => Err(Failure::new(
            502,
            "the server closed the connection mid-body",
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::new(502, format!("reading the response body: {e}"))),
    }
}
