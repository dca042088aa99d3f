//! `forwardAuth`: asks an authentication server about each request and lets it through on a
//! 2xx, copying the headers it names; any other answer goes to the client as the server gave it.

use super::client::{CallError, Client};
use super::edit::go_canonical;
use super::go_cookie::SetCookie;
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs};
use super::{RequestEdit, ResponseEdit};
use crate::proxy::responses::Answer;
use crate::runtime::service::{TransportSettings, Upstream};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use regex::Regex;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Go's `http.Client.Timeout` as Traefik sets it for the auth request.
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Hop-by-hop headers never sent to the auth server nor copied from its answer (Traefik's
/// list: `Trailers`, not `Trailer`; `Proxy-Authorization` is sent).
const HOP_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// What Go's client sends as `User-Agent` when the request has none at all.
const GO_USER_AGENT: &str = "Go-http-client/1.1";

/// A compiled `forwardAuth`.
pub struct ForwardAuth {
    /// The address as configured, for logs.
    address: String,
    /// Where the auth request goes; `None` when the address is not a usable URL (every request
    /// then fails with 500, as Traefik's).
    target: Option<Box<AuthTarget>>,
    client: Client,
    trust_forward_header: bool,
    /// Canonical names copied from a 2xx answer onto the request.
    auth_response_headers: Vec<HeaderName>,
    auth_response_headers_regex: Option<Regex>,
    /// Request headers sent to the auth server (all when empty).
    auth_request_headers: Vec<HeaderName>,
    max_response_body_size: Option<usize>,
    /// Whether the request body goes to the auth server too.
    forward_body: bool,
    /// The largest request body accepted with `forwardBody` (`None`: any).
    max_body_size: Option<usize>,
    add_auth_cookies_to_response: HashSet<String>,
    preserve_location_header: bool,
    preserve_request_method: bool,
    /// The auth answer's header naming the user (`headerField`).
    header_field: Option<HeaderName>,
}

/// The auth server's URL, ready to be sent to.
struct AuthTarget {
    peer: HttpPeer,
    scheme: &'static str,
    authority: String,
    /// Origin-form target (`/path?query`).
    path_and_query: String,
}

/// The auth server's cookies, kept (as the middleware's request state) for its response phase.
struct AuthCookies {
    cookies: Vec<SetCookie>,
}

impl FromConfig<control::dynamic::ForwardAuth> for ForwardAuth {
    fn from_config(
        config: &control::dynamic::ForwardAuth,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let forward_body = config.forward_body.unwrap_or(false);
        if forward_body && config.max_body_size.is_none() {
            tracing::warn!("ForwardAuth 'maxBodySize' is not configured with 'forwardBody: true', allowing unlimited request body size which can lead to DoS attacks and memory exhaustion. Please set an appropriate limit.");
        }
        let address = config.address.clone().unwrap_or_default();
        let mut target = auth_target(&address);
        if let (Some(tls), Some(target)) = (&config.tls, &mut target) {
            if tls.ca_optional.is_some() {
                tracing::warn!("CAOptional option is deprecated, TLS client authentication is a server side option, please remove any usage of this option.");
            }
            apply_tls(tls, &mut target.peer)
                .map_err(|e| format!("unable to create client TLS configuration: {e}"))?;
        }
        let auth_response_headers_regex = match config.auth_response_headers_regex.as_deref() {
            None | Some("") => None,
            Some(pattern) => Some(
                Regex::new(pattern)
                    .map_err(|e| format!("error compiling regular expression {pattern}: {e}"))?,
            ),
        };
        let names = |list: &[String]| -> Result<Vec<HeaderName>, String> {
            list.iter()
                .map(|n| {
                    HeaderName::from_bytes(n.as_bytes())
                        .map_err(|_| format!("invalid header name {n:?}"))
                })
                .collect()
        };
        let max_response_body_size = match config.max_response_body_size {
            Some(size) if size >= 0 => Some(size as usize),
            Some(_) => None,
            None => {
                tracing::warn!("ForwardAuth 'maxResponseBodySize' is not configured, allowing unlimited response body size which can lead to DoS attacks and memory exhaustion. Please set an appropriate limit.");
                None
            }
        };
        Ok(Self {
            address,
            target,
            client: Client::default(),
            trust_forward_header: config.trust_forward_header(),
            auth_response_headers: names(&config.auth_response_headers)?,
            auth_response_headers_regex,
            auth_request_headers: names(&config.auth_request_headers)?,
            max_response_body_size,
            forward_body,
            max_body_size: usize::try_from(config.max_body_size()).ok(),
            add_auth_cookies_to_response: config
                .add_auth_cookies_to_response
                .iter()
                .cloned()
                .collect(),
            preserve_location_header: config.preserve_location_header.unwrap_or(false),
            preserve_request_method: config.preserve_request_method.unwrap_or(false),
            header_field: match config.header_field.as_deref() {
                None | Some("") => None,
                Some(name) => Some(
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("invalid header name {name:?}"))?,
                ),
            },
        })
    }
}

/// The target of `address`, or `None` if it is not an `http`/`https` URL.
fn auth_target(address: &str) -> Option<Box<AuthTarget>> {
    let uri: http::Uri = address.parse().ok()?;
    let scheme = match uri.scheme_str()? {
        "http" => "http",
        "https" => "https",
        _ => return None,
    };
    let transport = TransportSettings {
        dial_timeout: Some(AUTH_TIMEOUT),
        ..TransportSettings::default()
    };
    let upstream = Upstream::new(address, false, &transport).ok()?;
    let mut peer = upstream.peer.clone();
    peer.options.tracer = None;
    let path_and_query = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('?') => format!("/{p}"),
        Some(p) => p.to_string(),
    };
    Some(Box::new(AuthTarget {
        peer,
        scheme,
        authority: uri.authority()?.to_string(),
        path_and_query,
    }))
}

/// A PEM given inline, or the file it names (Traefik's rule: a path that exists is read).
fn pem_or_file(value: &str) -> Result<Vec<u8>, String> {
    if std::path::Path::new(value).exists() {
        std::fs::read(value).map_err(|e| format!("failed to read {value}: {e}"))
    } else {
        Ok(value.as_bytes().to_vec())
    }
}

/// The certificates of a PEM, each checked to parse.
fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .filter(|der| rustls::RootCertStore::empty().add(der.clone()).is_ok())
        .map(|der| der.to_vec())
        .collect()
}

/// The `tls` block: CA, client certificate, verification.
fn apply_tls(tls: &control::dynamic::ForwardAuthTls, peer: &mut HttpPeer) -> Result<(), String> {
    use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
    use rustls_pki_types::pem::PemObject;
    if let Some(ca) = tls.ca.as_deref().filter(|c| !c.is_empty()) {
        let pem = pem_or_file(ca).map_err(|_| "failed to read CA".to_string())?;
        let list = certificates(&pem);
        if list.is_empty() {
            return Err("failed to parse CA".into());
        }
        let wrapped: Vec<WrappedX509> = list
            .into_iter()
            .map(|der| WrappedX509::new(der, parse_x509))
            .collect();
        peer.options.ca = Some(Arc::from(wrapped.into_boxed_slice()));
    }
    let cert = tls.cert.as_deref().unwrap_or_default();
    let key = tls.key.as_deref().unwrap_or_default();
    if cert.is_empty() != key.is_empty() {
        return Err("both TLS cert and key must be defined".into());
    }
    if !cert.is_empty() {
        let load = |cert: &[u8], key: &[u8]| {
            let certs = certificates(cert);
            let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key).ok()?;
            (!certs.is_empty()).then(|| CertKey::new(certs, key.secret_der().to_vec()))
        };
        let pair = match load(cert.as_bytes(), key.as_bytes()) {
            Some(pair) => pair,
            None => {
                if !std::path::Path::new(cert).exists() {
                    return Err("cert file does not exist".into());
                }
                if !std::path::Path::new(key).exists() {
                    return Err("key file does not exist".into());
                }
                let read = |p: &str| std::fs::read(p).map_err(|e| e.to_string());
                load(&read(cert)?, &read(key)?)
                    .ok_or("tls: failed to find any PEM data in certificate input")?
            }
        };
        peer.client_cert_key = Some(Arc::new(pair));
    }
    let insecure = tls.insecure_skip_verify.unwrap_or(false);
    peer.options.verify_cert = !insecure;
    peer.options.verify_hostname = !insecure;
    Ok(())
}

/// The first value of `name`, as text.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The cookies of `Set-Cookie` headers as Go reads them (lines it cannot read are left out).
fn set_cookies(headers: &HeaderMap) -> Vec<SetCookie> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(SetCookie::parse)
        .collect()
}

impl ForwardAuth {
    /// The request to the auth server, as Traefik's `writeHeader` builds it and Go's client
    /// writes it (`Host`, `User-Agent`, then the headers sorted by name).
    fn auth_request<R: RequestEdit>(
        &self,
        target: &AuthTarget,
        request: &R,
        context: &Context,
    ) -> Option<(RequestHeader, bool)> {
        let incoming = request.headers();
        // Every header but the hop-by-hop ones and those `Connection` names.
        let mut dropped: Vec<String> = HOP_HEADERS.iter().map(|s| s.to_string()).collect();
        for value in incoming.get_all(http::header::CONNECTION) {
            if let Ok(text) = value.to_str() {
                dropped.extend(
                    text.split(',')
                        .map(|t| t.trim().to_ascii_lowercase())
                        .filter(|t| !t.is_empty()),
                );
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in incoming {
            if !dropped.iter().any(|d| d == name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        if !headers.contains_key(http::header::USER_AGENT) {
            headers.insert(http::header::USER_AGENT, HeaderValue::from_static(""));
        }
        if !self.auth_request_headers.is_empty() {
            let mut kept = HeaderMap::new();
            for name in &self.auth_request_headers {
                for value in headers.get_all(name) {
                    kept.append(name.clone(), value.clone());
                }
            }
            headers = kept;
        }
        let trust = self.trust_forward_header;
        let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        if let Some(ip) = context.client_ip {
            let mut value = ip.to_string();
            let prior: Vec<&str> = incoming
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if trust && !prior.is_empty() {
                value = format!("{}, {value}", prior.join(", "));
            }
            set(&mut headers, "x-forwarded-for", &value);
        }
        let trusted = |name: &str| {
            header_text(incoming, name)
                .filter(|v| trust && !v.is_empty())
                .map(str::to_string)
        };
        let method = trusted("x-forwarded-method").unwrap_or_else(|| request.method().to_string());
        set(&mut headers, "x-forwarded-method", &method);
        let proto = trusted("x-forwarded-proto")
            .unwrap_or_else(|| if context.tls { "https" } else { "http" }.to_string());
        set(&mut headers, "x-forwarded-proto", &proto);
        if let Some(port) = trusted("x-forwarded-port") {
            set(&mut headers, "x-forwarded-port", &port);
        }
        let host = header_text(incoming, "host")
            .map(str::to_string)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        match trusted("x-forwarded-host").or((!host.is_empty()).then_some(host)) {
            Some(host) => set(&mut headers, "x-forwarded-host", &host),
            None => {
                headers.remove("x-forwarded-host");
            }
        }
        let uri = trusted("x-forwarded-uri").unwrap_or_else(|| request_uri(request.uri()));
        set(&mut headers, "x-forwarded-uri", &uri);

        let method = if self.preserve_request_method {
            request.method().clone()
        } else {
            Method::GET
        };
        let mut head =
            RequestHeader::build(method.clone(), target.path_and_query.as_bytes(), None).ok()?;
        head.insert_header("Host", target.authority.as_str()).ok()?;
        match headers.get(http::header::USER_AGENT) {
            None => head.insert_header("User-Agent", GO_USER_AGENT).ok()?,
            Some(agent) if agent.is_empty() => {}
            Some(agent) => head.insert_header("User-Agent", agent.clone()).ok()?,
        }
        let mut names: Vec<(String, &HeaderName)> = headers
            .keys()
            .filter(|n| {
                !matches!(
                    n.as_str(),
                    "host" | "user-agent" | "content-length" | "transfer-encoding" | "trailer"
                )
            })
            .map(|n| (go_canonical(n), n))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (spelled, name) in &names {
            for value in headers.get_all(*name) {
                head.append_header(spelled.clone(), value.clone()).ok()?;
            }
        }
        // Go's client announces an empty body for the methods that usually have one.
        if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            head.insert_header("Content-Length", "0").ok()?;
        }
        // Go's transport asks for gzip when the request says nothing of encodings (and undoes
        // it on the answer).
        let gzip = !headers.contains_key(http::header::ACCEPT_ENCODING)
            && !headers.contains_key(http::header::RANGE)
            && method != Method::HEAD;
        if gzip {
            head.insert_header("Accept-Encoding", "gzip").ok()?;
        }
        Some((head, gzip))
    }

    /// The body sent to the auth server (`forwardBody`), or the answer when it cannot be.
    fn body(&self, context: &Context) -> Result<Option<bytes::Bytes>, Box<Answer>> {
        if !self.forward_body {
            return Ok(None);
        }
        let Some(body) = &context.request_body else {
            return Ok(None);
        };
        if self.max_body_size.is_some_and(|max| body.bytes.len() > max) {
            tracing::debug!(max_body_size = ?self.max_body_size, "forwardAuth: request body is too large");
            return Err(Box::new(Answer::empty(401)));
        }
        if !body.complete {
            tracing::warn!(address = %self.address, "forwardAuth: the request body is larger than the gateway buffers for forwardBody (64 KiB)");
            return Err(Box::new(Answer::text(
                413,
                &b"Request Entity Too Large"[..],
            )));
        }
        // Traefik reads an unlimited body whole, empty or not; a limited one only when it has
        // bytes.
        Ok((self.max_body_size.is_none() || !body.bytes.is_empty()).then(|| body.bytes.clone()))
    }

    /// The answer to the client for a non-2xx answer of the auth server.
    fn denial(
        &self,
        target: &AuthTarget,
        head: &pingora::http::ResponseHeader,
        body: bytes::Bytes,
    ) -> Answer {
        let mut answer = Answer::empty(head.status.as_u16());
        for (name, value) in &head.headers {
            if HOP_HEADERS.contains(&name.as_str())
                || matches!(name.as_str(), "content-length" | "date")
            {
                continue;
            }
            answer.append_header(name.clone(), value.clone());
        }
        let location = header_text(&head.headers, "location").unwrap_or_default();
        if !location.is_empty() {
            if !valid_url(location) {
                tracing::debug!(address = %self.address, "the auth server's Location is not a URL");
                return Answer::empty(500);
            }
            let resolved = if self.preserve_location_header {
                location.to_string()
            } else {
                resolve_location(target, location)
            };
            if let Ok(value) = HeaderValue::from_str(&resolved) {
                answer.insert_header(http::header::LOCATION, value);
            }
        }
        answer.with_body(body)
    }
}

/// Go's `URL.RequestURI()` of a request target: the path (`/` when empty) and the query.
fn request_uri(uri: &http::Uri) -> String {
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    match uri.query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_string(),
    }
}

/// Whether Go's `url.Parse` takes it: no control characters, `%` escapes well formed.
fn valid_url(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.iter().any(|b| *b < 0x20 || *b == 0x7f) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
            if !hex(bytes.get(i + 1)) || !hex(bytes.get(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's `Response.Location()`: the `Location` resolved against the auth request's URL.
fn resolve_location(target: &AuthTarget, location: &str) -> String {
    let has_scheme = location
        .find(':')
        .filter(|&colon| colon > 0)
        .is_some_and(|colon| {
            let scheme = &location[..colon];
            scheme.as_bytes()[0].is_ascii_alphabetic()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        });
    let base = format!("{}://{}", target.scheme, target.authority);
    let base_path = target
        .path_and_query
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    if has_scheme {
        location.to_string()
    } else if location.starts_with("//") {
        format!("{}:{location}", target.scheme)
    } else if location.starts_with('/') {
        format!("{base}{}", remove_dot_segments(location))
    } else if location.starts_with('?') || location.starts_with('#') {
        format!("{base}{base_path}{location}")
    } else {
        let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        let joined = format!("{directory}{location}");
        let joined = if joined.starts_with('/') {
            joined
        } else {
            format!("/{joined}")
        };
        format!("{base}{}", remove_dot_segments(&joined))
    }
}

/// RFC 3986 dot-segment removal on the path part (the query is kept as is).
fn remove_dot_segments(reference: &str) -> String {
    let (path, rest) = match reference.find(['?', '#']) {
        Some(at) => reference.split_at(at),
        None => (reference, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing = i == last,
            ".." => {
                out.pop();
                trailing = i == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing && !path.ends_with('/') {
        path.push('/');
    }
    format!("{path}{rest}")
}

impl HttpMiddleware for ForwardAuth {
    fn needs(&self) -> Needs {
        Needs {
            response_head: !self.add_auth_cookies_to_response.is_empty(),
            request_body: self.forward_body,
            response_body: false,
            ..Needs::REQUEST_HEAD
        }
    }

    /// The auth subrequest's future is boxed: it is large, and the chain's dispatch future
    /// is as large as its largest member's, for every middleware of every chain.
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        Box::pin(self.authorize(request, context))
    }

    fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        _request: &R,
        response: &mut S,
        context: &mut Context,
    ) {
        let Some(held) = context.state_mut::<AuthCookies>() else {
            return;
        };
        // As Traefik: the response's cookies are read and written back (Go's spelling), those
        // the auth server's listed ones replace left out.
        let listed = |c: &&SetCookie| self.add_auth_cookies_to_response.contains(&c.name);
        let backend = set_cookies(response.headers());
        let lines: Vec<HeaderValue> = backend
            .iter()
            .filter(|c| !listed(c))
            .chain(held.cookies.iter().filter(listed))
            .filter_map(|c| HeaderValue::from_str(&c.to_go_string()).ok())
            .collect();
        response.remove_header(&http::header::SET_COOKIE);
        for value in lines {
            response.append_header(http::header::SET_COOKIE, value);
        }
    }
}

impl ForwardAuth {
    /// Asks the auth server about the request and applies its answer.
    async fn authorize<R: RequestEdit>(&self, request: &mut R, context: &mut Context) -> Flow {
        let Some(target) = &self.target else {
            tracing::debug!(address = %self.address, "forwardAuth: the address is not an http(s) URL");
            return Flow::Answer(Answer::empty(500));
        };
        let mut body = match self.body(context) {
            Ok(body) => body,
            Err(answer) => return Flow::Answer(*answer),
        };
        let Some((mut head, asked_gzip)) = self.auth_request(target, request, context) else {
            return Flow::Answer(Answer::empty(500));
        };
        // Go's client probes the body of a method that usually has none, and sends none if
        // it is empty.
        let usually_bodiless = matches!(
            head.method.as_str(),
            "GET" | "HEAD" | "DELETE" | "OPTIONS" | "PROPFIND" | "SEARCH"
        );
        if usually_bodiless && body.as_ref().is_some_and(|b| b.is_empty()) {
            body = None;
        }
        if body.is_some() {
            // Go's client sends a body of unknown length chunked.
            let _ = head.remove_header(&http::header::CONTENT_LENGTH);
            if head.insert_header("Transfer-Encoding", "chunked").is_err() {
                return Flow::Answer(Answer::empty(500));
            }
        }
        let mut reply = match self
            .client
            .call(
                &target.peer,
                head,
                body,
                self.max_response_body_size,
                AUTH_TIMEOUT,
            )
            .await
        {
            Ok(reply) => reply,
            Err(CallError::BodyTooLarge) => {
                tracing::debug!(address = %self.address, "forwardAuth: the auth response body is too large");
                return Flow::Answer(Answer::empty(401));
            }
            Err(CallError::Failed(error)) => {
                tracing::error!(address = %self.address, %error, "forwardAuth: error calling the auth server");
                return Flow::Answer(Answer::empty(500));
            }
        };
        let gzipped = reply
            .head
            .headers
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        if asked_gzip && gzipped {
            let mut plain = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(&reply.body[..]);
            if let Err(error) = std::io::Read::read_to_end(&mut decoder, &mut plain) {
                tracing::debug!(address = %self.address, %error, "forwardAuth: error reading the auth response body");
                return Flow::Answer(Answer::empty(500));
            }
            if self
                .max_response_body_size
                .is_some_and(|max| plain.len() > max)
            {
                return Flow::Answer(Answer::empty(401));
            }
            let _ = reply.head.remove_header(&http::header::CONTENT_ENCODING);
            let _ = reply.head.remove_header(&http::header::CONTENT_LENGTH);
            reply.body = plain.into();
        }
        if let Some(field) = &self.header_field {
            if let Some(user) = reply.head.headers.get(field) {
                context.client_username =
                    Some(String::from_utf8_lossy(user.as_bytes()).into_owned());
            }
        }
        let status = reply.head.status;
        if !(StatusCode::OK.as_u16()..300).contains(&status.as_u16()) {
            tracing::debug!(address = %self.address, status = status.as_u16(), "forwardAuth: remote error");
            return Flow::Answer(self.denial(target, &reply.head, reply.body));
        }
        let answered = &reply.head.headers;
        for name in &self.auth_response_headers {
            request.remove_header(name);
            for value in answered.get_all(name) {
                request.append_header(name.clone(), value.clone());
            }
        }
        if let Some(regex) = &self.auth_response_headers_regex {
            let matching: Vec<HeaderName> = request
                .headers()
                .keys()
                .filter(|n| regex.is_match(&go_canonical(n)))
                .cloned()
                .collect();
            for name in &matching {
                request.remove_header(name);
            }
            for name in answered.keys() {
                if regex.is_match(&go_canonical(name)) {
                    request.remove_header(name);
                    for value in answered.get_all(name) {
                        request.append_header(name.clone(), value.clone());
                    }
                }
            }
        }
        if !self.add_auth_cookies_to_response.is_empty() {
            let cookies = set_cookies(answered);
            if !cookies.is_empty() {
                context.set_state(AuthCookies { cookies });
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests;
