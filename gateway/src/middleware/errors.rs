//! `errors`: when the response's status is in the configured ranges, the client gets instead the
//! page another service answers to a GET of `query`, with the (possibly rewritten) status.

use super::client::Client;
use super::edit::go_canonical;
use super::{BuildContext, Context, FromConfig, HttpMiddleware, Needs, RequestEdit};
use crate::proxy::forwarded::{clean_response, prepare_upstream};
use crate::proxy::responses::{self, Answer};
use crate::runtime::compile::qualify;
use crate::runtime::service::ServiceHandler;
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use pingora::http::RequestHeader;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long the error page may take (Traefik's service has no deadline of its own here; this
/// bounds a server that never answers).
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Inclusive status ranges (Traefik's `types.HTTPCodeRanges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<(i64, i64)>);

impl StatusRanges {
    /// Parses `500`, `500-599` items as Traefik does (Go's `strconv.Atoi` messages).
    pub fn parse(items: &[String]) -> Result<Self, String> {
        let mut ranges = Vec::with_capacity(items.len());
        for item in items {
            let mut codes = item.split('-');
            let low = codes.next().unwrap_or_default();
            let high = codes.next().unwrap_or(low);
            ranges.push((atoi(low)?, atoi(high)?));
        }
        Ok(Self(ranges))
    }

    /// Whether `status` is in one of the ranges.
    pub fn contains(&self, status: u16) -> bool {
        let status = i64::from(status);
        self.0
            .iter()
            .any(|&(low, high)| low <= status && status <= high)
    }
}

/// Go's `strconv.Atoi`, with its error text.
fn atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    text.parse()
        .map_err(|_| format!("strconv.Atoi: parsing {text:?}: value out of range"))
}

/// A compiled `errors`.
pub struct Errors {
    ranges: StatusRanges,
    /// `(from, to)`, in key order.
    rewrites: Vec<(StatusRanges, u16)>,
    service: Arc<ServiceHandler>,
    query: String,
    /// Request headers sent to the page service: `None` for all.
    request_headers: Option<Vec<HeaderName>>,
    client: Client,
}

impl FromConfig<control::dynamic::ErrorPage> for Errors {
    fn from_config(
        config: &control::dynamic::ErrorPage,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let ranges = StatusRanges::parse(&config.status)?;
        let name = qualify(
            config.service.as_deref().unwrap_or_default(),
            context.provider,
        );
        let service = context.env.service(&name).map_err(|e| {
            if e.ends_with("does not exist") {
                format!("the service {name:?} does not exist")
            } else {
                format!("the service {name:?}: {e}")
            }
        })?;
        let mut rewrites = Vec::with_capacity(config.status_rewrites.len());
        for (from, to) in &config.status_rewrites {
            let to = u16::try_from(*to)
                .ok()
                .filter(|to| (100..=999).contains(to))
                .ok_or_else(|| format!("statusRewrites: {to} is not an HTTP status"))?;
            rewrites.push((StatusRanges::parse(std::slice::from_ref(from))?, to));
        }
        let request_headers = match &config.error_request_headers {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        HeaderName::from_bytes(n.as_bytes())
                            .map_err(|_| format!("invalid header name {n:?}"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Self {
            ranges,
            rewrites,
            service,
            query: config.query.clone().unwrap_or_default(),
            request_headers,
            client: Client::default(),
        })
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What the page request needs, taken from the request before waiting.
enum Page {
    /// The request to send, and the status the client gets.
    Fetch { head: Box<RequestHeader>, code: u16 },
    /// Answered at once.
    Now(Answer),
}

impl Errors {
    /// The status the client gets for `status` (`statusRewrites`).
    fn code_for(&self, status: u16) -> u16 {
        self.rewrites
            .iter()
            .find(|(from, _)| from.contains(status))
            .map_or(status, |&(_, to)| to)
    }

    /// The page request for a response of `status` to `request`.
    fn page<R: RequestEdit + ?Sized>(&self, request: &R, status: u16, context: &Context) -> Page {
        let code = self.code_for(status);
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let mut target = String::from("/");
        if !self.query.is_empty() {
            let scheme = if context.tls { "https" } else { "http" };
            let path = request.uri().path();
            let slash = if path.is_empty() || path.starts_with('/') {
                ""
            } else {
                "/"
            };
            let original = match request.uri().query() {
                Some(query) if !query.is_empty() => {
                    format!("{scheme}://{host}{slash}{path}?{query}")
                }
                _ => format!("{scheme}://{host}{slash}{path}"),
            };
            target = format!("/{}", self.query.trim_start_matches('/'))
                .replace("{status}", &code.to_string())
                .replace("{originalStatus}", &status.to_string())
                .replace("{url}", &query_escape(&original));
        }
        let failed = || {
            let text = StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            Page::Now(Answer::text(code, format!("{text}\n")).header(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
        };
        let Ok(mut head) = RequestHeader::build(Method::GET, target.as_bytes(), None) else {
            return failed();
        };
        for (name, value) in request.headers() {
            if matches!(name.as_str(), "content-length" | "transfer-encoding") {
                continue;
            }
            if let Some(allowed) = &self.request_headers {
                if name != http::header::HOST && !allowed.contains(name) {
                    continue;
                }
            }
            if head
                .append_header(go_canonical(name), value.clone())
                .is_err()
            {
                return failed();
            }
        }
        if head.insert_header(http::header::HOST, host).is_err() {
            return failed();
        }
        Page::Fetch {
            head: Box::new(head),
            code,
        }
    }

    /// The page from the service, with `code`.
    async fn fetch(&self, mut head: RequestHeader, code: u16) -> Answer {
        let Some(picked) = self.service.pick() else {
            return Answer::go_error(code, responses::NO_AVAILABLE_SERVER);
        };
        prepare_upstream(&mut head, None, false);
        if crate::proxy::rewrite_for_server(&mut head, &picked).is_err() {
            return Answer::text(code, responses::status_text(500));
        }
        let peer = picked.upstream.peer_for(false);
        match self.client.call(peer, head, None, None, PAGE_TIMEOUT).await {
            Ok(mut reply) => {
                clean_response(&mut reply.head);
                let mut answer = Answer::empty(code);
                let headers = answer.header_map_mut();
                for (name, value) in &reply.head.headers {
                    if !matches!(name.as_str(), "content-length" | "date") {
                        headers.append(name.clone(), value.clone());
                    }
                }
                answer.with_body(reply.body)
            }
            Err(error) => {
                tracing::debug!(server = %picked.upstream.url, ?error, "errors: the error page could not be fetched");
                Answer::text(code, responses::status_text(502))
            }
        }
    }
}

impl HttpMiddleware for Errors {
    fn needs(&self) -> Needs {
        Needs {
            response_head: true,
            request_body: false,
            response_body: true,
            ..Needs::REQUEST_HEAD
        }
    }

    fn replace<R: RequestEdit + ?Sized>(
        &self,
        request: &R,
        status: StatusCode,
        context: &Context,
    ) -> impl Future<Output = Option<Answer>> + Send {
        let page = self
            .ranges
            .contains(status.as_u16())
            .then(|| self.page(request, status.as_u16(), context));
        async move {
            match page? {
                Page::Now(answer) => Some(answer),
                Page::Fetch { head, code } => Some(self.fetch(*head, code).await),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_traefik() {
        let ranges = StatusRanges::parse(&["500-599".into(), "404".into()]).unwrap();
        assert!(ranges.contains(404) && ranges.contains(500) && ranges.contains(599));
        assert!(!ranges.contains(403) && !ranges.contains(600));
        assert_eq!(
            StatusRanges::parse(&["500,502".into()]).unwrap_err(),
            "strconv.Atoi: parsing \"500,502\": invalid syntax"
        );
        assert_eq!(
            StatusRanges::parse(&["x-5".into()]).unwrap_err(),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(
            query_escape("http://x/a b?q=1&r=é"),
            "http%3A%2F%2Fx%2Fa+b%3Fq%3D1%26r%3D%C3%A9"
        );
    }

    use crate::middleware::testing::{build_in, context, load_balancer, request, TestEnv};
    use std::sync::mpsc;

    /// A page server answering one request with `reply`; the request head it read comes back.
    fn page_server(reply: &'static str) -> (String, mpsc::Receiver<String>) {
        crate::middleware::testing::one_shot_server(reply)
    }

    fn errors_with(pages: Arc<ServiceHandler>, json: &str) -> crate::middleware::Middleware {
        let mut env = TestEnv::default();
        env.services.insert("pages@file".into(), pages);
        build_in(&mut env, json).unwrap()
    }

    fn replaced(
        middleware: &crate::middleware::Middleware,
        target: &str,
        status: u16,
    ) -> Option<Answer> {
        let request = request(target);
        let status = StatusCode::from_u16(status).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(middleware.replace(&request, status, &context()))
    }

    #[test]
    fn a_status_in_range_gets_the_page_with_that_status() {
        let (url, seen) = page_server(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: 4\r\n\r\npage",
        );
        let errors = errors_with(
            load_balancer(&[&url]),
            r#"{"errors": {"status": ["500-599"], "service": "pages", "query": "/err/{status}?u={url}"}}"#,
        );
        let page = replaced(&errors, "/x?a=1", 502).expect("a page");
        assert_eq!(page.status, 502);
        assert_eq!(page.body().as_ref(), b"page");
        assert_eq!(page.header_map()["content-type"], "text/html");
        assert!(!page.header_map().contains_key("connection"));
        let head = seen.recv().unwrap();
        assert!(
            head.starts_with("GET /err/502?u=http%3A%2F%2Fexample.com%2Fx%3Fa%3D1 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("Host: example.com\r\n"), "{head}");
        assert!(
            replaced(&errors, "/x", 404).is_none(),
            "404 is not in range"
        );
    }

    #[test]
    fn rewritten_statuses_and_the_original_one() {
        let (url, seen) = page_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let errors = errors_with(
            load_balancer(&[&url]),
            r#"{"errors": {"status": ["400-499"], "statusRewrites": {"404": 410}, "service": "pages", "query": "{status}-{originalStatus}.html"}}"#,
        );
        assert_eq!(replaced(&errors, "/", 404).unwrap().status, 410);
        assert!(seen
            .recv()
            .unwrap()
            .starts_with("GET /410-404.html HTTP/1.1\r\n"));
    }

    #[test]
    fn a_page_service_without_servers_answers_no_available_server() {
        let errors = errors_with(
            load_balancer(&[]),
            r#"{"errors": {"status": ["500"], "service": "pages"}}"#,
        );
        let page = replaced(&errors, "/", 500).unwrap();
        assert_eq!(page.status, 500);
        assert_eq!(page.body().as_ref(), b"no available server\n");
    }

    #[test]
    fn an_unknown_service_is_a_configuration_error() {
        let error = crate::middleware::testing::build(
            r#"{"errors": {"status": ["500"], "service": "pages"}}"#,
        )
        .err()
        .unwrap();
        assert_eq!(error, "the service \"pages@file\" does not exist");
    }
}
