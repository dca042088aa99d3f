//! `buffering`: reads whole request and response bodies before passing them on, with
//! Traefik's (oxy's) size limits, 413 answers and retry expression.

use super::retry_expression;
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs};
use super::{RequestEdit, ResponseEdit};
use crate::proxy::responses::Answer;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use std::future::{ready, Future};

/// oxy's answer to a request body over the limit (`http.StatusText(413)`).
const TOO_LARGE: &[u8] = b"Request Entity Too Large";
/// oxy's answer to a response body over the limit (its writer's error is not a size error,
/// so its default handler answers `http.StatusText(500)`).
const RESPONSE_TOO_LARGE: &[u8] = b"Internal Server Error";

/// A compiled `buffering`.
pub struct Buffering {
    /// Largest request body, when limited.
    max_request: Option<u64>,
    /// Largest response body, when limited.
    max_response: Option<u64>,
    /// The request body is held in memory up to this size before it is counted as spilled
    /// (oxy writes the rest to a file; here it stays in memory).
    mem_request: u64,
    /// The same for the response.
    mem_response: u64,
}

impl FromConfig<control::dynamic::Buffering> for Buffering {
    fn from_config(
        config: &control::dynamic::Buffering,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let limit = |value: Option<i64>| value.filter(|n| *n > 0).map(|n| n as u64);
        // Checked as oxy does; the request is not sent again (see the module's report).
        if let Some(expression) = config.retry_expression.as_deref().filter(|e| !e.is_empty()) {
            retry_expression::check(expression)?;
        }
        Ok(Self {
            max_request: limit(config.max_request_body_bytes),
            max_response: limit(config.max_response_body_bytes),
            mem_request: config.mem_request_body_bytes() as u64,
            mem_response: config.mem_response_body_bytes() as u64,
        })
    }
}

/// oxy's `SizeErrHandler` answer: 413 with the status text and no other header.
fn too_large() -> Answer {
    Answer::empty(413).with_body(TOO_LARGE)
}

/// A body being collected.
#[derive(Default)]
struct Collected {
    data: BytesMut,
    /// It went over the in-memory size (logged once).
    spilled: bool,
}

impl Collected {
    /// Adds a chunk; `false` when the total goes over `max`.
    fn add(&mut self, chunk: &[u8], max: Option<u64>, mem: u64) -> bool {
        self.data.extend_from_slice(chunk);
        let size = self.data.len() as u64;
        if !self.spilled && size > mem {
            self.spilled = true;
            tracing::trace!(size, "buffering: the body is over the in-memory size");
        }
        max.is_none_or(|max| size <= max)
    }
}

/// Per-request state of the response side.
enum ResponseState {
    /// Collecting the body, then sending it whole.
    Collecting(Collected),
    /// The body is over the limit: it is dropped and oxy's 500 sent instead.
    Replaced,
    /// No body is expected (HEAD, 1xx, 204, 304, `Content-Length: 0`, a gRPC error).
    Passing,
}

/// The per-request state: request side, then response side.
#[derive(Default)]
struct State {
    request: Collected,
    /// The request body ended (what comes after, on an upgraded connection, passes).
    request_done: bool,
    response: Option<ResponseState>,
}

fn length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl HttpMiddleware for Buffering {
    fn needs(&self) -> Needs {
        Needs {
            response_head: true,
            request_body: true,
            response_body: true,
            ..Needs::REQUEST_HEAD
        }
    }

    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        if let (Some(max), Some(length)) = (self.max_request, length(request.headers())) {
            if length > max {
                tracing::debug!(length, max, "buffering: request body over the limit");
                return ready(Flow::Answer(too_large()));
            }
        }
        context.set_state(State::default());
        ready(Flow::Continue)
    }

    fn request_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        context: &mut Context,
    ) -> Result<(), Box<Answer>> {
        let Some(state) = context.state_mut::<State>().filter(|s| !s.request_done) else {
            return Ok(());
        };
        state.request_done = end_of_stream;
        let Some(chunk) = body.take() else {
            // The end, with no data: what was held goes now.
            if !state.request.data.is_empty() {
                *body = Some(std::mem::take(&mut state.request.data).freeze());
            }
            return Ok(());
        };
        if !state
            .request
            .add(&chunk, self.max_request, self.mem_request)
        {
            return Err(Box::new(too_large()));
        }
        *body = Some(if end_of_stream {
            std::mem::take(&mut state.request.data).freeze()
        } else {
            Bytes::new()
        });
        Ok(())
    }

    fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
        context: &mut Context,
    ) {
        let filtered = context.response_body_filtered;
        let Some(state) = context.state_mut::<State>() else {
            return;
        };
        let status = response.status();
        let headers = response.headers();
        let grpc_error = headers
            .get("grpc-status")
            .is_some_and(|v| !v.is_empty() && v.as_bytes() != b"0");
        let declared = length(headers);
        let no_body = request.method() == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || declared == Some(0)
            || grpc_error;
        if !filtered || no_body {
            state.response = Some(ResponseState::Passing);
            return;
        }
        if let (Some(max), Some(declared)) = (self.max_response, declared) {
            if declared > max {
                state.response = Some(ResponseState::Replaced);
                let names: Vec<_> = response.headers().keys().cloned().collect();
                for name in &names {
                    response.remove_header(name);
                }
                response.set_status(StatusCode::INTERNAL_SERVER_ERROR);
                response.insert_header(
                    header::CONTENT_LENGTH,
                    HeaderValue::from(RESPONSE_TOO_LARGE.len()),
                );
                return;
            }
        }
        state.response = Some(ResponseState::Collecting(Collected::default()));
    }

    fn response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        context: &mut Context,
    ) -> Result<(), String> {
        let Some(State {
            response: Some(state),
            ..
        }) = context.state_mut::<State>()
        else {
            return Ok(());
        };
        match state {
            ResponseState::Passing => Ok(()),
            ResponseState::Replaced => {
                *body = Some(if end_of_stream {
                    Bytes::from_static(RESPONSE_TOO_LARGE)
                } else {
                    Bytes::new()
                });
                Ok(())
            }
            ResponseState::Collecting(collected) => {
                let chunk = body.take().unwrap_or_default();
                if !collected.add(&chunk, self.max_response, self.mem_response) {
                    return Err(format!(
                        "buffering: the response body is over {} bytes",
                        self.max_response.unwrap_or_default()
                    ));
                }
                *body = Some(if end_of_stream {
                    std::mem::take(&mut collected.data).freeze()
                } else {
                    Bytes::new()
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, context, request, run_request};
    use crate::middleware::Middleware;

    fn post(length: usize) -> http::request::Parts {
        let mut req = request("/");
        req.method = Method::POST;
        req.headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        req
    }

    #[test]
    fn a_declared_body_over_the_limit_is_refused_before_forwarding() {
        let middleware = build(r#"{"buffering": {"maxRequestBodyBytes": 10}}"#).unwrap();
        let mut ctx = context();
        match run_request(&middleware, &mut post(11), &mut ctx) {
            Flow::Answer(answer) => {
                assert_eq!(answer.status, 413);
                assert_eq!(&answer.body()[..], TOO_LARGE);
                assert!(answer.header_map().get(header::CONTENT_TYPE).is_none());
            }
            Flow::Continue => panic!("forwarded"),
        }
        assert!(matches!(
            run_request(&middleware, &mut post(10), &mut context()),
            Flow::Continue
        ));
    }

    #[test]
    fn the_request_body_is_held_until_its_end_and_limited_as_it_comes() {
        let middleware = build(r#"{"buffering": {"maxRequestBodyBytes": 8}}"#).unwrap();
        let mut ctx = context();
        let mut req = request("/");
        assert!(matches!(
            run_request(&middleware, &mut req, &mut ctx),
            Flow::Continue
        ));
        let mut chunk = Some(Bytes::from_static(b"abcd"));
        middleware
            .request_body(&mut chunk, false, &mut ctx)
            .unwrap();
        assert_eq!(chunk.as_deref(), Some(&b""[..]));
        let mut chunk = Some(Bytes::from_static(b"efgh"));
        middleware.request_body(&mut chunk, true, &mut ctx).unwrap();
        assert_eq!(chunk.as_deref(), Some(&b"abcdefgh"[..]));

        let mut ctx = context();
        let _ = run_request(&middleware, &mut request("/"), &mut ctx);
        let mut chunk = Some(Bytes::from_static(b"0123456789"));
        let answer = middleware
            .request_body(&mut chunk, false, &mut ctx)
            .unwrap_err();
        assert_eq!(answer.status, 413);

        // After the end (an upgraded connection), data passes as it comes.
        let mut ctx = context();
        let _ = run_request(&middleware, &mut request("/"), &mut ctx);
        let mut end = None;
        middleware.request_body(&mut end, true, &mut ctx).unwrap();
        assert!(end.is_none());
        let mut frame = Some(Bytes::from_static(b"websocket frame over the limit"));
        middleware
            .request_body(&mut frame, false, &mut ctx)
            .unwrap();
        assert_eq!(
            frame.as_deref(),
            Some(&b"websocket frame over the limit"[..])
        );
    }

    fn response_phase(middleware: &Middleware, response: &mut http::response::Parts) -> Context {
        let mut ctx = context();
        let req = request("/");
        let _ = run_request(middleware, &mut req.clone(), &mut ctx);
        ctx.response_body_filtered = true;
        middleware.response(&req, response, &mut ctx);
        ctx
    }

    #[test]
    fn a_declared_response_over_the_limit_becomes_oxys_500() {
        let middleware = build(r#"{"buffering": {"maxResponseBodyBytes": 4}}"#).unwrap();
        let mut response = http::Response::builder()
            .header("content-length", "5")
            .header("x-backend", "1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut ctx = response_phase(&middleware, &mut response);
        assert_eq!(response.status, 500);
        assert!(response.headers.get("x-backend").is_none());
        assert_eq!(response.headers["content-length"], "21");
        let mut chunk = Some(Bytes::from_static(b"hello"));
        middleware
            .response_body(&mut chunk, true, &mut ctx)
            .unwrap();
        assert_eq!(chunk.as_deref(), Some(RESPONSE_TOO_LARGE));
    }

    #[test]
    fn a_streamed_response_is_sent_whole() {
        let middleware = build(r#"{"buffering": {"maxResponseBodyBytes": 6}}"#).unwrap();
        let mut response = http::Response::new(()).into_parts().0;
        let mut ctx = response_phase(&middleware, &mut response);
        let mut chunk = Some(Bytes::from_static(b"abc"));
        middleware
            .response_body(&mut chunk, false, &mut ctx)
            .unwrap();
        assert_eq!(chunk.as_deref(), Some(&b""[..]));
        let mut chunk = Some(Bytes::from_static(b"def"));
        middleware
            .response_body(&mut chunk, true, &mut ctx)
            .unwrap();
        assert_eq!(chunk.as_deref(), Some(&b"abcdef"[..]));
    }

    #[test]
    fn a_bad_retry_expression_is_a_configuration_error() {
        assert!(build(
            r#"{"buffering": {"retryExpression": "IsNetworkError() && Attempts() < 2"}}"#
        )
        .is_ok());
        assert!(build(r#"{"buffering": {"retryExpression": "Nope()"}}"#).is_err());
    }
}
