//! HTTP middlewares (`http.middlewares.<name>.<type>`): one struct per middleware type.

use std::collections::BTreeMap;

use crate::duration::GoDuration;

use super::exactly_one;

/// Configuration of a plugin middleware: the plugin's own settings, keyed by option name.
pub type PluginConf = BTreeMap<String, String>;

/// An HTTP middleware: exactly one of the fields must be set (see [`Middleware::kind`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Middleware {
    /// Adds a path prefix.
    pub add_prefix: Option<AddPrefix>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// Request/response buffering and size limits.
    pub buffering: Option<Buffering>,
    /// A reusable list of other middlewares.
    pub chain: Option<Chain>,
    /// Circuit breaker.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Response compression; "allowEmpty": `compress: true` / `""` gives an empty struct.
    pub compress: Option<Compress>,
    /// Content-Type auto-detection; "allowEmpty": `contentType: true` / `""` gives an empty struct.
    pub content_type: Option<ContentType>,
    /// HTTP digest authentication.
    pub digest_auth: Option<DigestAuth>,
    /// Custom error pages.
    pub errors: Option<ErrorPage>,
    /// Delegated authentication.
    pub forward_auth: Option<ForwardAuth>,
    /// gRPC-Web to gRPC translation.
    pub grpc_web: Option<GrpcWeb>,
    /// Request/response headers, CORS and security headers.
    pub headers: Option<Headers>,
    /// Client IP allow list.
    pub ip_allow_list: Option<IpAllowList>,
    /// Deprecated name of the IP allow list (without `rejectStatusCode`).
    pub ip_white_list: Option<IpWhiteList>,
    /// Limit of simultaneous in-flight requests.
    pub in_flight_req: Option<InFlightReq>,
    /// Passes the client TLS certificate to the backend in headers.
    #[serde(rename = "passTLSClientCert")]
    pub pass_tls_client_cert: Option<PassTlsClientCert>,
    /// Plugin middleware: plugin name to its configuration (exactly one entry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin: BTreeMap<String, PluginConf>,
    /// Rate limiting.
    pub rate_limit: Option<RateLimit>,
    /// Redirect by regex on the URL.
    pub redirect_regex: Option<RedirectRegex>,
    /// Redirect to another scheme/port.
    pub redirect_scheme: Option<RedirectScheme>,
    /// Replaces the path.
    pub replace_path: Option<ReplacePath>,
    /// Replaces the path by regex.
    pub replace_path_regex: Option<ReplacePathRegex>,
    /// Retries failed requests.
    pub retry: Option<Retry>,
    /// Strips path prefixes.
    pub strip_prefix: Option<StripPrefix>,
    /// Strips path prefixes matching regexes.
    pub strip_prefix_regex: Option<StripPrefixRegex>,
}

impl Middleware {
    /// Traefik's name of the one middleware type that is set, or an error naming what was found.
    pub fn kind(&self) -> Result<&'static str, String> {
        let set = [
            ("addPrefix", self.add_prefix.is_some()),
            ("basicAuth", self.basic_auth.is_some()),
            ("buffering", self.buffering.is_some()),
            ("chain", self.chain.is_some()),
            ("circuitBreaker", self.circuit_breaker.is_some()),
            ("compress", self.compress.is_some()),
            ("contentType", self.content_type.is_some()),
            ("digestAuth", self.digest_auth.is_some()),
            ("errors", self.errors.is_some()),
            ("forwardAuth", self.forward_auth.is_some()),
            ("grpcWeb", self.grpc_web.is_some()),
            ("headers", self.headers.is_some()),
            ("ipAllowList", self.ip_allow_list.is_some()),
            ("ipWhiteList", self.ip_white_list.is_some()),
            ("inFlightReq", self.in_flight_req.is_some()),
            ("passTLSClientCert", self.pass_tls_client_cert.is_some()),
            ("plugin", !self.plugin.is_empty()),
            ("rateLimit", self.rate_limit.is_some()),
            ("redirectRegex", self.redirect_regex.is_some()),
            ("redirectScheme", self.redirect_scheme.is_some()),
            ("replacePath", self.replace_path.is_some()),
            ("replacePathRegex", self.replace_path_regex.is_some()),
            ("retry", self.retry.is_some()),
            ("stripPrefix", self.strip_prefix.is_some()),
            ("stripPrefixRegex", self.strip_prefix_regex.is_some()),
        ];
        let kind = exactly_one("middleware", &set)?;
        if kind == "plugin" && self.plugin.len() > 1 {
            let names: Vec<&str> = self.plugin.keys().map(String::as_str).collect();
            return Err(format!(
                "middleware has {} plugins ({}); exactly one is allowed",
                names.len(),
                names.join(", ")
            ));
        }
        Ok(kind)
    }

    /// The plugin name and its configuration, when this is a plugin middleware.
    pub fn plugin(&self) -> Option<(&str, &PluginConf)> {
        self.plugin.iter().next().map(|(k, v)| (k.as_str(), v))
    }
}

/// `addPrefix`: prepends a prefix to the request path.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddPrefix {
    /// The prefix, starting with `/`.
    pub prefix: Option<String>,
}

/// `basicAuth`: HTTP basic authentication against a list of users.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuth {
    /// Users as `name:hashed-password` (htpasswd format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// File with more users, one per line.
    pub users_file: Option<String>,
    /// Realm announced to the client.
    pub realm: Option<String>,
    /// Whether the Authorization header is removed before forwarding.
    pub remove_header: Option<bool>,
    /// Header in which the authenticated user name is forwarded.
    pub header_field: Option<String>,
}

impl BasicAuth {
    /// Realm; defaults to `traefik`.
    pub fn realm(&self) -> &str {
        self.realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("traefik")
    }
}

/// `buffering`: reads whole requests/responses, with size limits and retries.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Buffering {
    /// Largest request body accepted (bytes); 0 means no limit.
    pub max_request_body_bytes: Option<i64>,
    /// Request body size above which buffering goes to disk.
    pub mem_request_body_bytes: Option<i64>,
    /// Largest response body accepted (bytes); 0 means no limit.
    pub max_response_body_bytes: Option<i64>,
    /// Response body size above which buffering goes to disk.
    pub mem_response_body_bytes: Option<i64>,
    /// Retry condition, e.g. `IsNetworkError() && Attempts() < 2`.
    pub retry_expression: Option<String>,
}

impl Buffering {
    /// In-memory request threshold; unset or 0 means 1048576 (1 MiB).
    pub fn mem_request_body_bytes(&self) -> i64 {
        self.mem_request_body_bytes
            .filter(|n| *n > 0)
            .unwrap_or(1_048_576)
    }

    /// In-memory response threshold; unset or 0 means 1048576 (1 MiB).
    pub fn mem_response_body_bytes(&self) -> i64 {
        self.mem_response_body_bytes
            .filter(|n| *n > 0)
            .unwrap_or(1_048_576)
    }
}

/// `chain`: a named list of middlewares.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chain {
    /// Middleware names, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
}

/// `circuitBreaker`: stops calling a failing service for a while.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Trip condition, e.g. `NetworkErrorRatio() > 0.5`.
    pub expression: Option<String>,
    /// Interval between evaluations of the expression.
    pub check_period: Option<GoDuration>,
    /// How long the breaker stays open before trying to recover.
    pub fallback_duration: Option<GoDuration>,
    /// How long the recovery phase lasts.
    pub recovery_duration: Option<GoDuration>,
    /// Status returned while open.
    pub response_code: Option<i64>,
}

impl CircuitBreaker {
    /// Check period; defaults to 100ms.
    pub fn check_period(&self) -> GoDuration {
        self.check_period.unwrap_or(GoDuration::from_millis(100))
    }

    /// Fallback duration; defaults to 10s.
    pub fn fallback_duration(&self) -> GoDuration {
        self.fallback_duration.unwrap_or(GoDuration::from_secs(10))
    }

    /// Recovery duration; defaults to 10s.
    pub fn recovery_duration(&self) -> GoDuration {
        self.recovery_duration.unwrap_or(GoDuration::from_secs(10))
    }

    /// Status while open; defaults to 503.
    pub fn response_code(&self) -> i64 {
        self.response_code.unwrap_or(503)
    }
}

/// `compress`: gzip/brotli/zstd compression of responses.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Compress {
    /// Content types never compressed (`application/grpc` always is excluded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_content_types: Vec<String>,
    /// Only these content types are compressed (exclusive with the excluded list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_content_types: Vec<String>,
    /// Smallest body compressed, in bytes.
    pub min_response_body_bytes: Option<i64>,
    /// Supported encodings, in preference order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encodings: Vec<String>,
    /// Encoding used when the client sends no `Accept-Encoding` or `*`.
    pub default_encoding: Option<String>,
}

impl Compress {
    /// Minimum body size; unset or <= 0 means 1024 bytes.
    pub fn min_response_body_bytes(&self) -> i64 {
        self.min_response_body_bytes
            .filter(|n| *n > 0)
            .unwrap_or(1024)
    }

    /// Encodings; defaults to `gzip`, `br`, `zstd`.
    pub fn encodings(&self) -> Vec<&str> {
        if self.encodings.is_empty() {
            vec!["gzip", "br", "zstd"]
        } else {
            self.encodings.iter().map(String::as_str).collect()
        }
    }
}

/// `contentType`: lets the proxy sniff a missing Content-Type.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentType {
    /// Deprecated; the middleware's presence alone enables detection.
    pub auto_detect: Option<bool>,
}

/// `digestAuth`: HTTP digest authentication.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigestAuth {
    /// Users as `name:realm:encoded-password` (htdigest format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// File with more users, one per line.
    pub users_file: Option<String>,
    /// Whether the Authorization header is removed before forwarding.
    pub remove_header: Option<bool>,
    /// Realm announced to the client.
    pub realm: Option<String>,
    /// Header in which the authenticated user name is forwarded.
    pub header_field: Option<String>,
}

impl DigestAuth {
    /// Realm; defaults to `traefik`.
    pub fn realm(&self) -> &str {
        self.realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("traefik")
    }
}

/// `errors`: serves error pages from another service for some statuses.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorPage {
    /// Statuses or ranges handled: `500`, `500,502`, `500-599`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// Status (or range) to the status returned instead, e.g. `"418": 404`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_rewrites: BTreeMap<String, i64>,
    /// Service serving the error pages.
    pub service: Option<String>,
    /// Path queried on that service; `{status}`, `{originalStatus}`, `{url}` are substituted.
    pub query: Option<String>,
    /// Request headers forwarded to the error service: unset = all, empty list = none.
    pub error_request_headers: Option<Vec<String>>,
}

/// `forwardAuth`: asks an external server whether to let the request through.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardAuth {
    /// URL of the authentication server.
    pub address: Option<String>,
    /// TLS settings towards the authentication server.
    pub tls: Option<ForwardAuthTls>,
    /// Whether incoming `X-Forwarded-*` headers are trusted (deprecated).
    pub trust_forward_header: Option<bool>,
    /// Headers copied from the auth response onto the forwarded request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_response_headers: Vec<String>,
    /// Regex of auth response headers copied onto the forwarded request.
    pub auth_response_headers_regex: Option<String>,
    /// Request headers sent to the auth server; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_request_headers: Vec<String>,
    /// Largest auth response body accepted, in bytes.
    pub max_response_body_size: Option<i64>,
    /// Cookies copied from the auth response onto the client response.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_auth_cookies_to_response: Vec<String>,
    /// Header in which the authenticated user is forwarded.
    pub header_field: Option<String>,
    /// Whether the request body is sent to the auth server.
    pub forward_body: Option<bool>,
    /// Largest body forwarded to the auth server; -1 means no limit.
    pub max_body_size: Option<i64>,
    /// Whether the auth server's Location header is passed as is.
    pub preserve_location_header: Option<bool>,
    /// Whether the original method is used towards the auth server.
    pub preserve_request_method: Option<bool>,
}

impl ForwardAuth {
    /// Body size limit; defaults to -1 (unlimited).
    pub fn max_body_size(&self) -> i64 {
        self.max_body_size.unwrap_or(-1)
    }

    /// Whether `X-Forwarded-*` headers are trusted; defaults to `false`.
    pub fn trust_forward_header(&self) -> bool {
        self.trust_forward_header.unwrap_or(false)
    }
}

/// Client TLS settings of `forwardAuth` (CA, certificate and key are paths or PEM contents).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardAuthTls {
    /// CA used to verify the server.
    pub ca: Option<String>,
    /// Client certificate.
    pub cert: Option<String>,
    /// Client private key.
    pub key: Option<String>,
    /// Disables server certificate verification.
    pub insecure_skip_verify: Option<bool>,
    /// Deprecated and ignored.
    pub ca_optional: Option<bool>,
}

/// Client TLS settings (CA, certificate and key are paths or PEM contents).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTls {
    /// CA used to verify the server.
    pub ca: Option<String>,
    /// Client certificate.
    pub cert: Option<String>,
    /// Client private key.
    pub key: Option<String>,
    /// Disables server certificate verification.
    pub insecure_skip_verify: Option<bool>,
}

/// `grpcWeb`: converts gRPC-Web requests to gRPC.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcWeb {
    /// Allowed origins (`*` for any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<String>,
}

/// `headers`: custom headers, CORS and security headers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    /// Headers set on the request (empty value removes the header).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_request_headers: BTreeMap<String, String>,
    /// Headers set on the response (empty value removes the header).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_response_headers: BTreeMap<String, String>,
    /// `Access-Control-Allow-Credentials`.
    pub access_control_allow_credentials: Option<bool>,
    /// `Access-Control-Allow-Headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_headers: Vec<String>,
    /// `Access-Control-Allow-Methods`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_methods: Vec<String>,
    /// Allowed origins (`*` for any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_origin_list: Vec<String>,
    /// Allowed origins as regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_origin_list_regex: Vec<String>,
    /// `Access-Control-Expose-Headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_control_expose_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds.
    pub access_control_max_age: Option<i64>,
    /// Whether `Vary: Origin` is added.
    pub add_vary_header: Option<bool>,
    /// Allowed Host values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the proxied host name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts_proxy_headers: Vec<String>,
    /// Header/value pairs that mark a request as HTTPS.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security` max-age; 0 means no header.
    pub sts_seconds: Option<i64>,
    /// Adds `includeSubDomains` to STS.
    pub sts_include_subdomains: Option<bool>,
    /// Adds `preload` to STS.
    pub sts_preload: Option<bool>,
    /// Sends STS on plain HTTP too.
    #[serde(rename = "forceSTSHeader")]
    pub force_sts_header: Option<bool>,
    /// `X-Frame-Options: DENY`.
    pub frame_deny: Option<bool>,
    /// `X-Frame-Options` value (overrides `frameDeny`).
    pub custom_frame_options_value: Option<String>,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: Option<bool>,
    /// `X-XSS-Protection: 1; mode=block`.
    pub browser_xss_filter: Option<bool>,
    /// `X-XSS-Protection` value (overrides `browserXssFilter`).
    #[serde(rename = "customBrowserXSSValue")]
    pub custom_browser_xss_value: Option<String>,
    /// `Content-Security-Policy`.
    pub content_security_policy: Option<String>,
    /// `Content-Security-Policy-Report-Only`.
    pub content_security_policy_report_only: Option<String>,
    /// `Public-Key-Pins` (HPKP).
    pub public_key: Option<String>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<String>,
    /// `Permissions-Policy`.
    pub permissions_policy: Option<String>,
    /// Relaxes host, SSL and STS checks for development.
    pub is_development: Option<bool>,
    /// Deprecated `Feature-Policy`.
    pub feature_policy: Option<String>,
    /// Deprecated: redirect to HTTPS.
    pub ssl_redirect: Option<bool>,
    /// Deprecated: redirect to HTTPS with 302.
    pub ssl_temporary_redirect: Option<bool>,
    /// Deprecated: host used for the HTTPS redirect.
    pub ssl_host: Option<String>,
    /// Deprecated: always redirect to `sslHost`.
    pub ssl_force_host: Option<bool>,
}

/// How the client IP is chosen (remote address, or from `X-Forwarded-For`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpStrategy {
    /// Take the IP at this position from the right of `X-Forwarded-For` (> 0 wins).
    pub depth: Option<i64>,
    /// Take the rightmost `X-Forwarded-For` IP not in these ranges.
    #[serde(default, rename = "excludedIPs", skip_serializing_if = "Vec::is_empty")]
    pub excluded_ips: Vec<String>,
    /// Group IPv6 clients by this prefix length (1-128).
    #[serde(rename = "ipv6Subnet")]
    pub ipv6_subnet: Option<i64>,
}

/// `ipAllowList`: only lets listed client IPs through.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpAllowList {
    /// Allowed IPs or CIDR ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_range: Vec<String>,
    /// Client IP selection; "allowEmpty": `ipStrategy: true` / `""` gives an empty struct.
    #[serde(rename = "ipStrategy")]
    pub ip_strategy: Option<IpStrategy>,
    /// Status of rejected requests.
    pub reject_status_code: Option<i64>,
}

impl IpAllowList {
    /// Rejection status; unset or 0 means 403.
    pub fn reject_status_code(&self) -> i64 {
        self.reject_status_code.filter(|c| *c != 0).unwrap_or(403)
    }
}

/// `ipWhiteList`: deprecated form of `ipAllowList` (always answers 403).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpWhiteList {
    /// Allowed IPs or CIDR ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_range: Vec<String>,
    /// Client IP selection; "allowEmpty": `ipStrategy: true` / `""` gives an empty struct.
    #[serde(rename = "ipStrategy")]
    pub ip_strategy: Option<IpStrategy>,
}

/// What groups requests as coming from one source; the fields are mutually exclusive.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceCriterion {
    /// Group by client IP, chosen by this strategy.
    #[serde(rename = "ipStrategy")]
    pub ip_strategy: Option<IpStrategy>,
    /// Group by the value of this request header.
    pub request_header_name: Option<String>,
    /// Group by request Host.
    pub request_host: Option<bool>,
}

/// `inFlightReq`: caps simultaneous requests per source.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InFlightReq {
    /// Maximum simultaneous requests; more get 429.
    pub amount: Option<i64>,
    /// How sources are grouped (default: request host).
    pub source_criterion: Option<SourceCriterion>,
}

/// `passTLSClientCert`: forwards client certificate data in headers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassTlsClientCert {
    /// Sets `X-Forwarded-Tls-Client-Cert` with the PEM certificate.
    pub pem: Option<bool>,
    /// Selects what goes into `X-Forwarded-Tls-Client-Cert-Info`.
    pub info: Option<TlsClientCertificateInfo>,
}

/// Parts of the client certificate put in `X-Forwarded-Tls-Client-Cert-Info`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsClientCertificateInfo {
    /// Validity end.
    pub not_after: Option<bool>,
    /// Validity start.
    pub not_before: Option<bool>,
    /// Subject alternative names.
    pub sans: Option<bool>,
    /// Certificate serial number.
    pub serial_number: Option<bool>,
    /// Subject fields.
    pub subject: Option<TlsClientCertificateSubjectDnInfo>,
    /// Issuer fields.
    pub issuer: Option<TlsClientCertificateIssuerDnInfo>,
}

/// Issuer distinguished-name fields to include.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsClientCertificateIssuerDnInfo {
    /// `C`.
    pub country: Option<bool>,
    /// `ST`.
    pub province: Option<bool>,
    /// `L`.
    pub locality: Option<bool>,
    /// `O`.
    pub organization: Option<bool>,
    /// `CN`.
    pub common_name: Option<bool>,
    /// `serialNumber`.
    pub serial_number: Option<bool>,
    /// `DC`.
    pub domain_component: Option<bool>,
}

/// Subject distinguished-name fields to include.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsClientCertificateSubjectDnInfo {
    /// `C`.
    pub country: Option<bool>,
    /// `ST`.
    pub province: Option<bool>,
    /// `L`.
    pub locality: Option<bool>,
    /// `O`.
    pub organization: Option<bool>,
    /// `OU`.
    pub organizational_unit: Option<bool>,
    /// `CN`.
    pub common_name: Option<bool>,
    /// `serialNumber`.
    pub serial_number: Option<bool>,
    /// `DC`.
    pub domain_component: Option<bool>,
}

/// `rateLimit`: token-bucket rate limiting per source.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per `period`; 0 disables limiting.
    pub average: Option<i64>,
    /// Period over which `average` is counted.
    pub period: Option<GoDuration>,
    /// Bucket size (requests allowed at once).
    pub burst: Option<i64>,
    /// How sources are grouped (default: remote address).
    pub source_criterion: Option<SourceCriterion>,
    /// Shared Redis bucket instead of an in-memory one.
    pub redis: Option<Redis>,
}

impl RateLimit {
    /// Period; defaults to 1s.
    pub fn period(&self) -> GoDuration {
        self.period.unwrap_or(GoDuration::from_secs(1))
    }

    /// Burst; defaults to 1.
    pub fn burst(&self) -> i64 {
        self.burst.unwrap_or(1)
    }

    /// Average; defaults to 0 (no limit).
    pub fn average(&self) -> i64 {
        self.average.unwrap_or(0)
    }
}

/// Redis connection used by `rateLimit`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redis {
    /// `host:port` addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// TLS settings.
    pub tls: Option<ClientTls>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database index.
    pub db: Option<i64>,
    /// Initial number of connections (0 = 10 per CPU).
    pub pool_size: Option<i64>,
    /// Minimum idle connections.
    pub min_idle_conns: Option<i64>,
    /// Maximum connections (0 = unlimited).
    pub max_active_conns: Option<i64>,
    /// Socket read timeout.
    pub read_timeout: Option<GoDuration>,
    /// Socket write timeout.
    pub write_timeout: Option<GoDuration>,
    /// Connection timeout.
    pub dial_timeout: Option<GoDuration>,
}

impl Redis {
    /// Endpoints; defaults to `localhost:6379`.
    pub fn endpoints(&self) -> Vec<&str> {
        if self.endpoints.is_empty() {
            vec!["localhost:6379"]
        } else {
            self.endpoints.iter().map(String::as_str).collect()
        }
    }

    /// Read timeout; defaults to 3s.
    pub fn read_timeout(&self) -> GoDuration {
        self.read_timeout.unwrap_or(GoDuration::from_secs(3))
    }

    /// Write timeout; defaults to 3s.
    pub fn write_timeout(&self) -> GoDuration {
        self.write_timeout.unwrap_or(GoDuration::from_secs(3))
    }

    /// Dial timeout; defaults to 5s.
    pub fn dial_timeout(&self) -> GoDuration {
        self.dial_timeout.unwrap_or(GoDuration::from_secs(5))
    }
}

/// `redirectRegex`: redirects when the URL matches a regex.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectRegex {
    /// Regex matched against the full request URL.
    pub regex: Option<String>,
    /// Target URL, with `${1}`-style captures.
    pub replacement: Option<String>,
    /// Permanent (301/308) instead of temporary (302/307).
    pub permanent: Option<bool>,
}

/// `redirectScheme`: redirects to another scheme and/or port.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectScheme {
    /// Target scheme.
    pub scheme: Option<String>,
    /// Target port.
    pub port: Option<String>,
    /// Permanent (301/308) instead of temporary (302/307).
    pub permanent: Option<bool>,
}

/// `replacePath`: replaces the whole path (the original goes to `X-Replaced-Path`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacePath {
    /// The new path.
    pub path: Option<String>,
}

/// `replacePathRegex`: rewrites the path with a regex.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacePathRegex {
    /// Regex matched against the path.
    pub regex: Option<String>,
    /// Replacement, with `${1}`-style captures.
    pub replacement: Option<String>,
}

/// `retry`: reissues requests that failed at the network level.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    /// Number of attempts.
    pub attempts: Option<i64>,
    /// First backoff interval (exponential, capped at twice this); 0 retries at once.
    pub initial_interval: Option<GoDuration>,
}

/// `stripPrefix`: removes path prefixes (the removed part goes to `X-Forwarded-Prefix`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StripPrefix {
    /// Prefixes to strip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Deprecated: turn an empty result into `/`.
    pub force_slash: Option<bool>,
}

impl StripPrefix {
    /// Whether an empty stripped path becomes `/`; `false` unless set to `true`.
    pub fn force_slash(&self) -> bool {
        self.force_slash.unwrap_or(false)
    }
}

/// `stripPrefixRegex`: removes path prefixes matching regexes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StripPrefixRegex {
    /// Regexes of the prefixes to strip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex: Vec<String>,
}
