//! `headers`: custom request and response headers, CORS (preflights answered here), security
//! headers and the allowed-hosts check, in Traefik's order.

use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs};
use super::{RequestEdit, ResponseEdit};
use crate::proxy::responses::Answer;
use base64::Engine;
use http::header::{self, HeaderName, HeaderValue};
use http::Method;
use regex::Regex;
use std::future::{ready, Future};

const ALLOW_CREDENTIALS: HeaderName = header::ACCESS_CONTROL_ALLOW_CREDENTIALS;
const TRUE: HeaderValue = HeaderValue::from_static("true");

/// A compiled `headers`.
pub struct Headers {
    /// Custom request headers: `None` removes the header.
    request_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// Whether an empty `X-Forwarded-For` (spelled so) asks the proxy to send none.
    omits_x_forwarded_for: bool,
    /// Custom response headers: `None` removes the header.
    response_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// `None` when no CORS field is set (no preflight handling).
    cors: Option<Box<Cors>>,
    /// `None` when no security field is set.
    secure: Option<Box<Secure>>,
}

struct Cors {
    allow_credentials: bool,
    allow_headers: Option<HeaderValue>,
    allow_methods: Option<HeaderValue>,
    origins: Vec<String>,
    origin_regexes: Vec<Regex>,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
    add_vary: bool,
}

struct Secure {
    allowed_hosts: Vec<String>,
    hosts_proxy_headers: Vec<HeaderName>,
    ssl_proxy_headers: Vec<(HeaderName, String)>,
    is_development: bool,
    /// `Strict-Transport-Security`, and whether plain HTTP gets it too.
    sts: Option<(HeaderValue, bool)>,
    /// `Public-Key-Pins` (TLS only).
    public_key: Option<HeaderValue>,
    /// Headers sent on every response.
    always: Vec<(HeaderName, HeaderValue)>,
    /// Content-Security-Policy(-Report-Only) templates with a nonce.
    nonce_policies: Vec<(HeaderName, String)>,
}

fn value(text: &str, field: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text)
        .map_err(|_| format!("{field}: {text:?} is not a valid header value"))
}

fn name(text: &str, field: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| format!("{field}: {text:?} is not a valid header name"))
}

fn custom(
    headers: &std::collections::BTreeMap<String, String>,
    field: &str,
) -> Result<Vec<(HeaderName, Option<HeaderValue>)>, String> {
    headers
        .iter()
        .map(|(key, val)| {
            let val = if val.is_empty() {
                None
            } else {
                Some(value(val, field)?)
            };
            Ok((name(key, field)?, val))
        })
        .collect()
}

fn joined(list: &[String], field: &str) -> Result<Option<HeaderValue>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    value(&list.join(","), field).map(Some)
}

/// The `$NONCE` placeholder as the secure library rewrites it.
const NONCE_SLOT: &str = "%[1]s";

impl Cors {
    fn build(config: &control::dynamic::Headers) -> Result<Option<Self>, String> {
        let defined = config.access_control_allow_credentials == Some(true)
            || !config.access_control_allow_headers.is_empty()
            || !config.access_control_allow_methods.is_empty()
            || !config.access_control_allow_origin_list.is_empty()
            || !config.access_control_allow_origin_list_regex.is_empty()
            || !config.access_control_expose_headers.is_empty()
            || config.access_control_max_age.is_some_and(|age| age != 0)
            || config.add_vary_header == Some(true);
        if !defined {
            return Ok(None);
        }
        let origin_regexes = config
            .access_control_allow_origin_list_regex
            .iter()
            .map(|pattern| {
                super::go_replace::compile(pattern)
                    .map_err(|e| format!("error occurred during origin parsing: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            allow_credentials: config.access_control_allow_credentials == Some(true),
            allow_headers: joined(
                &config.access_control_allow_headers,
                "accessControlAllowHeaders",
            )?,
            allow_methods: joined(
                &config.access_control_allow_methods,
                "accessControlAllowMethods",
            )?,
            origins: config.access_control_allow_origin_list.clone(),
            origin_regexes,
            expose_headers: joined(
                &config.access_control_expose_headers,
                "accessControlExposeHeaders",
            )?,
            max_age: HeaderValue::from(config.access_control_max_age.unwrap_or(0)),
            add_vary: config.add_vary_header == Some(true),
        }))
    }

    /// The `Access-Control-Allow-Origin` value for `origin`: the list entry (`*` or the
    /// origin itself) or, by regex, the origin.
    fn allowed_origin(&self, origin: &str) -> Option<HeaderValue> {
        if let Some(item) = self.origins.iter().find(|o| *o == "*" || *o == origin) {
            return HeaderValue::from_str(item).ok();
        }
        if self.origin_regexes.iter().any(|r| r.is_match(origin)) {
            return HeaderValue::from_str(origin).ok();
        }
        None
    }

    /// Whether the response phase changes anything.
    fn touches_responses(&self) -> bool {
        !self.origins.is_empty()
            || !self.origin_regexes.is_empty()
            || self.allow_credentials
            || self.expose_headers.is_some()
            || self.add_vary
    }

    /// Traefik's answer to a preflight: 200, no body, the CORS headers.
    fn preflight(&self, origin: &str) -> Answer {
        let mut answer = Answer::empty(200);
        if self.allow_credentials {
            answer = answer.header(ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(v) = &self.allow_headers {
            answer = answer.header(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
        }
        if let Some(v) = &self.allow_methods {
            answer = answer.header(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
        }
        if let Some(v) = self.allowed_origin(origin) {
            answer = answer.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        answer.header(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone())
    }

    fn respond<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
    ) {
        if let Some(v) = self.allowed_origin(first(request.headers(), &header::ORIGIN)) {
            response.insert_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        if self.allow_credentials {
            response.insert_header(ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(v) = &self.expose_headers {
            response.insert_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
        if !self.add_vary {
            return;
        }
        let vary = first(response.headers(), &header::VARY);
        if vary == "Origin" {
            return;
        }
        let vary = if vary.is_empty() {
            "Origin".to_string()
        } else {
            format!("{vary},Origin")
        };
        if let Ok(v) = HeaderValue::from_str(&vary) {
            response.insert_header(header::VARY, v);
        }
    }
}

/// Go's `Header.Get`: the first value, `""` when absent (or not text).
fn first<'a>(headers: &'a http::HeaderMap, name: &HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Go's `Request.Host`: the authority of an absolute-form (or HTTP/2) target, else `Host`.
pub(super) fn request_host<R: RequestEdit + ?Sized>(request: &R) -> &str {
    match request.uri().authority() {
        Some(authority) => authority.as_str(),
        None => first(request.headers(), &header::HOST),
    }
}

impl Secure {
    fn build(config: &control::dynamic::Headers) -> Result<Option<Self>, String> {
        let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        let on = |b: Option<bool>| b == Some(true);
        let defined = !config.allowed_hosts.is_empty()
            || !config.hosts_proxy_headers.is_empty()
            || on(config.ssl_redirect)
            || on(config.ssl_temporary_redirect)
            || on(config.ssl_force_host)
            || set(&config.ssl_host)
            || !config.ssl_proxy_headers.is_empty()
            || config.sts_seconds.is_some()
            || on(config.sts_include_subdomains)
            || on(config.sts_preload)
            || on(config.force_sts_header)
            || on(config.frame_deny)
            || set(&config.custom_frame_options_value)
            || on(config.content_type_nosniff)
            || on(config.browser_xss_filter)
            || set(&config.custom_browser_xss_value)
            || set(&config.content_security_policy)
            || set(&config.content_security_policy_report_only)
            || set(&config.public_key)
            || set(&config.referrer_policy)
            || set(&config.feature_policy)
            || set(&config.permissions_policy)
            || on(config.is_development);
        if !defined {
            return Ok(None);
        }
        let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let sts = match config.sts_seconds.unwrap_or(0) {
            0 => None,
            seconds => {
                let mut sts = format!("max-age={seconds}");
                if on(config.sts_include_subdomains) {
                    sts.push_str("; includeSubDomains");
                }
                if on(config.sts_preload) {
                    sts.push_str("; preload");
                }
                Some((value(&sts, "stsSeconds")?, on(config.force_sts_header)))
            }
        };
        let mut always = Vec::new();
        let mut nonce_policies = Vec::new();
        let frame = text(&config.custom_frame_options_value)
            .or_else(|| on(config.frame_deny).then(|| "DENY".to_string()));
        if let Some(frame) = frame {
            always.push((
                header::X_FRAME_OPTIONS,
                value(&frame, "customFrameOptionsValue")?,
            ));
        }
        if on(config.content_type_nosniff) {
            always.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        let xss = text(&config.custom_browser_xss_value)
            .or_else(|| on(config.browser_xss_filter).then(|| "1; mode=block".to_string()));
        if let Some(xss) = xss {
            always.push((
                header::X_XSS_PROTECTION,
                value(&xss, "customBrowserXSSValue")?,
            ));
        }
        let policies = [
            (
                header::CONTENT_SECURITY_POLICY,
                &config.content_security_policy,
            ),
            (
                header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
                &config.content_security_policy_report_only,
            ),
        ];
        let policies: Vec<(HeaderName, String)> = policies
            .into_iter()
            .filter_map(|(n, p)| text(p).map(|p| (n, p.replace("$NONCE", "'nonce-%[1]s'"))))
            .collect();
        if policies.iter().any(|(_, p)| p.contains(NONCE_SLOT)) {
            nonce_policies = policies;
        } else {
            for (n, p) in policies {
                always.push((n, value(&p, "contentSecurityPolicy")?));
            }
        }
        if let Some(referrer) = text(&config.referrer_policy) {
            always.push((header::REFERRER_POLICY, value(&referrer, "referrerPolicy")?));
        }
        if let Some(permissions) = text(&config.permissions_policy) {
            let n = HeaderName::from_static("permissions-policy");
            always.push((n, value(&permissions, "permissionsPolicy")?));
        }
        Ok(Some(Self {
            allowed_hosts: config.allowed_hosts.clone(),
            hosts_proxy_headers: config
                .hosts_proxy_headers
                .iter()
                .map(|h| name(h, "hostsProxyHeaders"))
                .collect::<Result<_, _>>()?,
            ssl_proxy_headers: config
                .ssl_proxy_headers
                .iter()
                .map(|(k, v)| Ok((name(k, "sslProxyHeaders")?, v.clone())))
                .collect::<Result<_, String>>()?,
            is_development: on(config.is_development),
            sts,
            public_key: text(&config.public_key)
                .map(|k| value(&k, "publicKey"))
                .transpose()?,
            always,
            nonce_policies,
        }))
    }

    fn touches_responses(&self) -> bool {
        self.sts.is_some()
            || self.public_key.is_some()
            || !self.always.is_empty()
            || !self.nonce_policies.is_empty()
    }

    /// Whether the request came over TLS, directly or as the SSL proxy headers say.
    fn is_ssl<R: RequestEdit + ?Sized>(&self, request: &R, context: &Context) -> bool {
        context.tls
            || self
                .ssl_proxy_headers
                .iter()
                .any(|(n, v)| first(request.headers(), n) == v)
    }

    /// The host the allow list checks: the first non-empty proxy header, else the request's.
    fn host<'a, R: RequestEdit + ?Sized>(&self, request: &'a R) -> &'a str {
        self.hosts_proxy_headers
            .iter()
            .map(|n| first(request.headers(), n))
            .find(|h| !h.is_empty())
            .unwrap_or_else(|| request_host(request))
    }

    fn host_allowed<R: RequestEdit + ?Sized>(&self, request: &R) -> bool {
        if self.allowed_hosts.is_empty() || self.is_development {
            return true;
        }
        let host = self.host(request);
        self.allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    fn respond<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
        context: &Context,
    ) {
        let ssl = self.is_ssl(request, context);
        if let Some((sts, force)) = &self.sts {
            if (ssl || *force) && !self.is_development {
                response.insert_header(header::STRICT_TRANSPORT_SECURITY, sts.clone());
            }
        }
        for (n, v) in &self.always {
            response.insert_header(n.clone(), v.clone());
        }
        if let Some(key) = &self.public_key {
            if ssl && !self.is_development {
                response.insert_header(HeaderName::from_static("public-key-pins"), key.clone());
            }
        }
        if !self.nonce_policies.is_empty() {
            let nonce = nonce();
            for (n, template) in &self.nonce_policies {
                if let Ok(v) = HeaderValue::from_str(&with_nonce(template, &nonce)) {
                    response.insert_header(n.clone(), v);
                }
            }
        }
    }
}

/// 16 random bytes, base64 without padding (the secure library's CSP nonce).
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_le_bytes();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Go's `fmt.Sprintf(template, nonce)` for the verbs a policy can hold: `%[1]s` and `%%`.
fn with_nonce(template: &str, nonce: &str) -> String {
    template.replace(NONCE_SLOT, nonce).replace("%%", "%")
}

impl FromConfig<control::dynamic::Headers> for Headers {
    fn from_config(
        config: &control::dynamic::Headers,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let ignored = [
            ("sslRedirect", config.ssl_redirect.is_some()),
            (
                "sslTemporaryRedirect",
                config.ssl_temporary_redirect.is_some(),
            ),
            ("sslHost", config.ssl_host.is_some()),
            ("sslForceHost", config.ssl_force_host.is_some()),
            ("featurePolicy", config.feature_policy.is_some()),
        ];
        for (field, _) in ignored.iter().filter(|(_, set)| *set) {
            tracing::warn!(
                middleware = context.name,
                "`{field}` is deprecated and has no effect (as in Traefik v3)"
            );
        }
        let secure = Secure::build(config)?;
        let cors = Cors::build(config)?;
        let has_custom =
            !config.custom_request_headers.is_empty() || !config.custom_response_headers.is_empty();
        if secure.is_none() && cors.is_none() && !has_custom {
            return Err("headers configuration not valid".into());
        }
        Ok(Self {
            request_headers: custom(&config.custom_request_headers, "customRequestHeaders")?,
            omits_x_forwarded_for: config
                .custom_request_headers
                .get("X-Forwarded-For")
                .is_some_and(String::is_empty),
            response_headers: custom(&config.custom_response_headers, "customResponseHeaders")?,
            cors: cors.map(Box::new),
            secure: secure.map(Box::new),
        })
    }
}

impl Headers {
    /// The custom and CORS response headers (the outer half of Traefik's pair of handlers).
    fn respond_outer<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
    ) {
        for (n, v) in &self.response_headers {
            match v {
                Some(v) => response.insert_header(n.clone(), v.clone()),
                None => response.remove_header(n),
            }
        }
        if let Some(cors) = &self.cors {
            cors.respond(request, response);
        }
    }

    fn run<R: RequestEdit>(&self, request: &mut R, context: &mut Context) -> Flow {
        if let Some(cors) = &self.cors {
            let headers = request.headers();
            let origin = first(headers, &header::ORIGIN);
            if request.method() == Method::OPTIONS
                && !origin.is_empty()
                && !first(headers, &header::ACCESS_CONTROL_REQUEST_METHOD).is_empty()
            {
                return Flow::Answer(cors.preflight(origin));
            }
        }
        for (n, v) in &self.request_headers {
            match v {
                Some(v) => request.insert_header(n.clone(), v.clone()),
                None => request.remove_header(n),
            }
        }
        if self.omits_x_forwarded_for {
            context.omit_x_forwarded_for = true;
        }
        if let Some(secure) = &self.secure {
            if !secure.host_allowed(&*request) {
                let mut answer = Answer::go_error(500, b"Bad Host\n");
                self.respond_outer(&*request, &mut answer);
                return Flow::Answer(answer);
            }
        }
        Flow::Continue
    }
}

impl HttpMiddleware for Headers {
    fn needs(&self) -> Needs {
        let responds = !self.response_headers.is_empty()
            || self.cors.as_ref().is_some_and(|c| c.touches_responses())
            || self.secure.as_ref().is_some_and(|s| s.touches_responses());
        if responds {
            Needs::HEADS
        } else {
            Needs::REQUEST_HEAD
        }
    }

    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        ready(self.run(request, context))
    }

    fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
        context: &mut Context,
    ) {
        if let Some(secure) = &self.secure {
            secure.respond(request, response, context);
        }
        self.respond_outer(request, response);
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, context, request, run, run_request};
    use crate::middleware::{Flow, Middleware, Needs};
    use crate::proxy::responses::Answer;

    fn respond(middleware: &Middleware, request: &http::request::Parts, tls: bool) -> Answer {
        let mut answer = Answer::text(200, "ok");
        let mut context = context();
        context.tls = tls;
        middleware.response(request, &mut answer, &mut context);
        answer
    }

    #[test]
    fn custom_headers_are_set_and_removed() {
        let m = build(
            r#"{"headers": {"customRequestHeaders": {"X-A": "1", "User-Agent": ""},
                "customResponseHeaders": {"X-B": "2", "Content-Type": ""}}}"#,
        )
        .unwrap();
        let mut req = request("/");
        req.headers.insert("user-agent", "curl".parse().unwrap());
        assert!(matches!(
            run_request(&m, &mut req, &mut context()),
            Flow::Continue
        ));
        assert_eq!(req.headers["x-a"], "1");
        assert!(req.headers.get("user-agent").is_none());
        let answer = respond(&m, &req, false);
        assert_eq!(answer.header_map()["x-b"], "2");
        assert!(answer.header_map().get("content-type").is_none());
        assert_eq!(m.needs(), Needs::HEADS);
    }

    #[test]
    fn request_headers_alone_stay_on_the_lean_path() {
        let m = build(r#"{"headers": {"customRequestHeaders": {"X-A": "1"}}}"#).unwrap();
        assert_eq!(m.needs(), Needs::REQUEST_HEAD);
        let m = build(r#"{"headers": {"allowedHosts": ["a"]}}"#).unwrap();
        assert_eq!(m.needs(), Needs::REQUEST_HEAD);
    }

    #[test]
    fn an_empty_configuration_is_refused() {
        let error = build(r#"{"headers": {}}"#).err().unwrap();
        assert_eq!(error, "headers configuration not valid");
        let error = build(r#"{"headers": {"accessControlAllowOriginListRegex": ["("]}}"#)
            .err()
            .unwrap();
        assert!(
            error.starts_with("error occurred during origin parsing"),
            "{error}"
        );
    }

    #[test]
    fn a_preflight_is_answered() {
        let m = build(
            r#"{"headers": {"accessControlAllowMethods": ["GET", "PUT"],
                "accessControlAllowHeaders": ["X-A"], "accessControlAllowCredentials": true,
                "accessControlAllowOriginListRegex": ["^https://.*\\.example\\.com$"],
                "accessControlMaxAge": 100, "customResponseHeaders": {"X-B": "2"}}}"#,
        )
        .unwrap();
        let mut req = request("/");
        req.method = http::Method::OPTIONS;
        req.headers
            .insert("origin", "https://a.example.com".parse().unwrap());
        req.headers
            .insert("access-control-request-method", "PUT".parse().unwrap());
        let Flow::Answer(answer) = run_request(&m, &mut req, &mut context()) else {
            panic!("a preflight is answered");
        };
        let headers = answer.header_map();
        assert_eq!(answer.status, 200);
        assert!(answer.body().is_empty());
        assert_eq!(headers["access-control-allow-methods"], "GET,PUT");
        assert_eq!(headers["access-control-allow-headers"], "X-A");
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://a.example.com"
        );
        assert_eq!(headers["access-control-max-age"], "100");
        assert!(headers.get("x-b").is_none());
    }

    #[test]
    fn simple_requests_get_cors_headers_and_vary() {
        let m = build(
            r#"{"headers": {"accessControlAllowOriginList": ["https://a"],
                "accessControlExposeHeaders": ["X-1", "X-2"], "addVaryHeader": true}}"#,
        )
        .unwrap();
        let mut req = request("/");
        req.headers.insert("origin", "https://a".parse().unwrap());
        let mut answer =
            Answer::text(200, "ok").header(http::header::VARY, "Accept".parse().unwrap());
        m.response(&req, &mut answer, &mut context());
        let headers = answer.header_map();
        assert_eq!(headers["access-control-allow-origin"], "https://a");
        assert_eq!(headers["access-control-expose-headers"], "X-1,X-2");
        assert_eq!(headers["vary"], "Accept,Origin");
        req.headers.insert("origin", "https://b".parse().unwrap());
        let answer = respond(&m, &req, false);
        assert!(answer
            .header_map()
            .get("access-control-allow-origin")
            .is_none());
        assert_eq!(answer.header_map()["vary"], "Origin");
    }

    #[test]
    fn security_headers_follow_tls_and_the_ssl_proxy_headers() {
        let m = build(
            r#"{"headers": {"stsSeconds": 60, "stsIncludeSubdomains": true, "stsPreload": true,
                "frameDeny": true, "contentTypeNosniff": true, "browserXssFilter": true,
                "contentSecurityPolicy": "default-src 'self'", "referrerPolicy": "no-referrer",
                "permissionsPolicy": "camera=()", "publicKey": "pin", "featurePolicy": "x",
                "sslProxyHeaders": {"X-Forwarded-Proto": "https"}}}"#,
        )
        .unwrap();
        let req = request("/");
        let plain = respond(&m, &req, false);
        let headers = plain.header_map();
        assert!(headers.get("strict-transport-security").is_none());
        assert!(headers.get("public-key-pins").is_none());
        assert!(headers.get("feature-policy").is_none());
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-xss-protection"], "1; mode=block");
        assert_eq!(headers["content-security-policy"], "default-src 'self'");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["permissions-policy"], "camera=()");
        let tls = respond(&m, &req, true);
        assert_eq!(
            tls.header_map()["strict-transport-security"],
            "max-age=60; includeSubDomains; preload"
        );
        assert_eq!(tls.header_map()["public-key-pins"], "pin");
        let mut proxied = request("/");
        proxied
            .headers
            .insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(respond(&m, &proxied, false)
            .header_map()
            .contains_key("strict-transport-security"));
    }

    #[test]
    fn nonces_are_fresh_and_shared_by_both_policies() {
        let m = build(
            r#"{"headers": {"contentSecurityPolicy": "script-src $NONCE",
                "contentSecurityPolicyReportOnly": "script-src $NONCE 100%%"}}"#,
        )
        .unwrap();
        let answer = respond(&m, &request("/"), false);
        let csp = answer.header_map()["content-security-policy"]
            .to_str()
            .unwrap();
        let nonce = csp
            .strip_prefix("script-src 'nonce-")
            .unwrap()
            .strip_suffix('\'')
            .unwrap();
        assert_eq!(nonce.len(), 22);
        assert_eq!(
            answer.header_map()["content-security-policy-report-only"],
            format!("script-src 'nonce-{nonce}' 100%").as_str()
        );
    }

    #[test]
    fn unknown_hosts_get_bad_host_with_the_custom_response_headers() {
        let m = build(
            r#"{"headers": {"allowedHosts": ["good.example"], "hostsProxyHeaders": ["X-Host"],
                "customResponseHeaders": {"X-B": "2"}, "frameDeny": true}}"#,
        )
        .unwrap();
        let answer = run(&m, "/").unwrap_err();
        assert_eq!(answer.status, 500);
        assert_eq!(&answer.body()[..], b"Bad Host\n");
        assert_eq!(answer.header_map()["x-b"], "2");
        assert!(answer.header_map().get("x-frame-options").is_none());
        let mut req = request("/");
        req.headers
            .insert("x-host", "GOOD.example".parse().unwrap());
        assert!(matches!(
            run_request(&m, &mut req, &mut context()),
            Flow::Continue
        ));
    }

    #[test]
    fn every_field_of_the_key_list_builds() {
        let m = build(
            r#"{"headers": {"accessControlAllowCredentials": true,
                "accessControlAllowHeaders": ["foobar", "foobar"],
                "accessControlAllowMethods": ["foobar", "foobar"],
                "accessControlAllowOriginList": ["foobar", "foobar"],
                "accessControlAllowOriginListRegex": ["foobar", "foobar"],
                "accessControlExposeHeaders": ["foobar", "foobar"],
                "accessControlMaxAge": 42, "addVaryHeader": true,
                "allowedHosts": ["foobar", "foobar"], "browserXssFilter": true,
                "contentSecurityPolicy": "foobar", "contentSecurityPolicyReportOnly": "foobar",
                "contentTypeNosniff": true, "customBrowserXSSValue": "foobar",
                "customFrameOptionsValue": "foobar",
                "customRequestHeaders": {"name0": "foobar", "name1": "foobar"},
                "customResponseHeaders": {"name0": "foobar", "name1": "foobar"},
                "featurePolicy": "foobar", "forceSTSHeader": true, "frameDeny": true,
                "hostsProxyHeaders": ["foobar", "foobar"], "isDevelopment": true,
                "permissionsPolicy": "foobar", "publicKey": "foobar", "referrerPolicy": "foobar",
                "sslForceHost": true, "sslHost": "foobar",
                "sslProxyHeaders": {"name0": "foobar", "name1": "foobar"}, "sslRedirect": true,
                "sslTemporaryRedirect": true, "stsIncludeSubdomains": true, "stsPreload": true,
                "stsSeconds": 42}}"#,
        )
        .unwrap();
        assert_eq!(m.needs(), Needs::HEADS);
        // isDevelopment: no host check, no STS even when forced.
        let answer = respond(&m, &request("/"), false);
        assert!(answer
            .header_map()
            .get("strict-transport-security")
            .is_none());
        assert_eq!(answer.header_map()["x-frame-options"], "foobar");
        assert!(run(&m, "/").is_ok());
    }

    #[test]
    fn an_empty_x_forwarded_for_asks_for_none() {
        let m = build(r#"{"headers": {"customRequestHeaders": {"X-Forwarded-For": ""}}}"#).unwrap();
        let mut req = request("/");
        let mut context = context();
        assert!(matches!(
            run_request(&m, &mut req, &mut context),
            Flow::Continue
        ));
        assert!(context.omit_x_forwarded_for);
    }
}
