//! Traefik's forwarded-header rules: untrusted `X-Forwarded-*` removal, `X-Real-Ip` /
//! `X-Forwarded-*` defaults, `Connection`-named header removal, and hop-by-hop cleanup.

use http::header::{self, HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora::http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;

/// Headers Traefik owns: removed from untrusted clients, never removed via `Connection`.
const MANAGED_HEADERS: [&str; 13] = [
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-prefix",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-scheme",
    "x-real-ip",
];

/// Hop-by-hop headers a proxy never forwards (Go's reverse proxy list).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers that frame the message or carry its authority: a `Connection` token naming one is
/// ignored, as it is in Go (which keeps them out of the header map), so `Connection:
/// content-length` can neither unframe a body nor `Connection: host` drop the host.
const NEVER_NOMINATED: [HeaderName; 3] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::HOST,
];

/// The most `Connection` tokens a request may carry; more is answered 400.
pub const MAX_CONNECTION_TOKENS: usize = 64;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// True for a header Traefik manages, including `X_Forwarded_For`-style spellings.
fn is_managed(name: &str) -> bool {
    MANAGED_HEADERS.iter().any(|managed| {
        managed.len() == name.len()
            && managed
                .bytes()
                .zip(name.bytes())
                .all(|(m, n)| m == n.to_ascii_lowercase() || (m == b'-' && n == b'_'))
    })
}

/// One entrypoint's `forwardedHeaders` policy, compiled.
#[derive(Debug, Clone)]
pub struct ForwardedPolicy {
    insecure: bool,
    trusted: Vec<IpNet>,
    keep_connection_headers: Vec<HeaderName>,
    not_append_x_forwarded_for: bool,
    add_scheme_headers: bool,
    server_name: Option<HeaderValue>,
}

impl ForwardedPolicy {
    /// Compiles an entrypoint's `forwardedHeaders`; `server_name` is this host's name, sent as
    /// `X-Forwarded-Server`. Fails on a malformed trusted IP, naming it.
    pub fn new(
        config: &control::static_config::ForwardedHeaders,
        server_name: &str,
    ) -> Result<Self, String> {
        let trusted = config
            .trusted_ips
            .iter()
            .map(|text| {
                parse_ip_or_net(text)
                    .ok_or_else(|| format!("trustedIPs: {text:?} is not an IP address or CIDR"))
            })
            .collect::<Result<_, _>>()?;
        let keep_connection_headers = config
            .connection
            .iter()
            .map(|name| {
                HeaderName::try_from(name.as_str())
                    .map_err(|_| format!("connection: {name:?} is not a header name"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            insecure: config.insecure,
            trusted,
            keep_connection_headers,
            not_append_x_forwarded_for: config.not_append_x_forwarded_for,
            add_scheme_headers: config.add_x_forwarded_scheme_headers,
            server_name: HeaderValue::try_from(server_name)
                .ok()
                .filter(|_| !server_name.is_empty()),
        })
    }

    /// Whether the client's own `X-Forwarded-*` headers are kept.
    fn trusts(&self, client: Option<IpAddr>) -> bool {
        self.insecure || client.is_some_and(|ip| self.trusted.iter().any(|net| net.contains(&ip)))
    }

    /// Whether `X-Forwarded-For` gets the client address appended upstream.
    pub fn appends_x_forwarded_for(&self) -> bool {
        !self.not_append_x_forwarded_for
    }

    /// The entrypoint stage, before routing: drops untrusted forwarded headers, fills in
    /// `X-Real-Ip`, `X-Forwarded-Proto/Port/Host/Server`, folds `X-Forwarded-For`, and removes
    /// headers named in `Connection` (keeping managed ones and the configured exceptions).
    pub fn rewrite_incoming(&self, req: &mut RequestHeader, client: Option<IpAddr>, tls: bool) {
        if !self.trusts(client) {
            let untrusted: Vec<HeaderName> = req
                .headers
                .keys()
                .filter(|name| is_managed(name.as_str()))
                .cloned()
                .collect();
            for name in untrusted {
                req.remove_header(&name);
            }
        }
        if let Some(ip) = client {
            if header_is_empty(req, &X_REAL_IP) {
                if let Ok(value) = HeaderValue::try_from(ip.to_string()) {
                    let _ = req.insert_header("X-Real-Ip", value);
                }
            }
        }
        if header_is_empty(req, &X_FORWARDED_PROTO) {
            let proto = match (is_websocket(req), tls) {
                (true, true) => "wss",
                (true, false) => "ws",
                (false, true) => "https",
                (false, false) => "http",
            };
            set(req, "X-Forwarded-Proto", proto);
        }
        if header_is_empty(req, &X_FORWARDED_PORT) {
            if let Some(port) = forwarded_port(req, tls) {
                let _ = req.insert_header("X-Forwarded-Port", port);
            }
        }
        if self.add_scheme_headers {
            let scheme = req
                .headers
                .get(&X_FORWARDED_PROTO)
                .filter(|v| v.to_str().is_ok())
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(""));
            let _ = req.insert_header("X-Forwarded-Scheme", scheme.clone());
            let _ = req.insert_header("X-Scheme", scheme);
        }
        if header_is_empty(req, &X_FORWARDED_HOST) {
            // The Host header's value is shared as is; an absolute-form authority is copied.
            let host = match req.uri.authority() {
                Some(authority) => HeaderValue::try_from(authority.as_str()).ok(),
                None => req.headers.get(header::HOST).cloned(),
            };
            if let Some(host) = host.filter(|h| !h.is_empty()) {
                let _ = req.insert_header("X-Forwarded-Host", host);
            }
        }
        fold_x_forwarded_for(req);
        if let Some(name) = &self.server_name {
            let _ = req.insert_header("X-Forwarded-Server", name.clone());
        }
        self.remove_connection_headers(req);
    }

    fn remove_connection_headers(&self, req: &mut RequestHeader) {
        if !req.headers.contains_key(header::CONNECTION) {
            return;
        }
        let nominated: Vec<String> = connection_tokens(&req.headers)
            .map(str::to_string)
            .collect();
        let upgrade = nominated
            .iter()
            .any(|t| t.eq_ignore_ascii_case("upgrade"))
            .then(|| req.headers.get(header::UPGRADE).cloned())
            .flatten();
        let mut kept: Vec<String> = Vec::new();
        for token in nominated {
            if is_managed(&token) {
                continue;
            }
            let Ok(name) = HeaderName::try_from(token.as_str()) else {
                continue;
            };
            if NEVER_NOMINATED.contains(&name) {
                continue;
            }
            if self.keep_connection_headers.contains(&name) {
                kept.push(token);
                continue;
            }
            req.remove_header(&name);
        }
        if let Some(upgrade) = upgrade {
            kept.push("Upgrade".into());
            let _ = req.insert_header(header::UPGRADE, upgrade);
        }
        if kept.is_empty() {
            req.remove_header(&header::CONNECTION);
        } else {
            let _ = req.insert_header(header::CONNECTION, kept.join(","));
        }
    }
}

/// The proxy stage, right before the request goes upstream (Go's reverse proxy): removes
/// hop-by-hop headers (restoring `Connection: Upgrade` and `Upgrade` for a protocol upgrade of
/// any kind, keeping `TE: trailers`) and appends the client address to `X-Forwarded-For`.
pub fn prepare_upstream(
    req: &mut RequestHeader,
    client: Option<IpAddr>,
    append_x_forwarded_for: bool,
) {
    let upgrade = upgrade_protocol(req).cloned();
    let te_trailers = req.headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for name in hop_by_hop_present(&req.headers) {
        req.remove_header(&name);
    }
    if te_trailers {
        // Spelled as Go's canonical header name, as Traefik sends it.
        let _ = req.insert_header("Te", "trailers");
    }
    if let Some(protocol) = upgrade {
        let _ = req.insert_header(header::CONNECTION, "Upgrade");
        let _ = req.insert_header(header::UPGRADE, protocol);
    }
    if append_x_forwarded_for {
        if let Some(ip) = client {
            let value = match header_str(req, &X_FORWARDED_FOR).filter(|v| !v.is_empty()) {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.to_string(),
            };
            // Takes the String's buffer as is.
            if let Ok(value) = HeaderValue::try_from(value) {
                let _ = req.insert_header("X-Forwarded-For", value);
            }
        }
    }
}

/// Removes hop-by-hop headers from a response (except what a 101 upgrade needs).
pub fn clean_response(resp: &mut ResponseHeader) {
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    for name in hop_by_hop_present(&resp.headers) {
        if name != header::TRANSFER_ENCODING && name != header::TRAILER {
            resp.remove_header(&name);
        }
    }
}

/// The hop-by-hop headers present: the standard ones and those `Connection` names. Found in one
/// pass over the headers, so a message without any costs no lookups or removals.
fn hop_by_hop_present(headers: &http::HeaderMap) -> Vec<HeaderName> {
    let mut present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name))
        .cloned()
        .collect();
    if present.contains(&header::CONNECTION) {
        let nominated: Vec<HeaderName> = connection_tokens(headers)
            .filter_map(|t| HeaderName::try_from(t).ok())
            .filter(|name| {
                headers.contains_key(name)
                    && !present.contains(name)
                    && !NEVER_NOMINATED.contains(name)
            })
            .collect();
        present.extend(nominated);
    }
    present
}

/// The request's host as the client sent it: the absolute-form target's authority, else `Host`.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header_str(req, &header::HOST))
}

/// Whether the request names more `Connection` tokens than [`MAX_CONNECTION_TOKENS`].
pub fn too_many_connection_tokens(req: &RequestHeader) -> bool {
    req.headers.contains_key(header::CONNECTION)
        && connection_tokens(&req.headers)
            .nth(MAX_CONNECTION_TOKENS)
            .is_some()
}

fn connection_tokens(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The protocol a request asks to switch to (`Upgrade`, when `Connection` names `upgrade`), as
/// Go's reverse proxy reads it; a value that is not printable ASCII is no upgrade (Go refuses it).
pub fn upgrade_protocol(req: &RequestHeader) -> Option<&HeaderValue> {
    if !connection_tokens(&req.headers).any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return None;
    }
    req.headers
        .get(header::UPGRADE)
        .filter(|v| !v.is_empty() && v.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)))
}

fn is_websocket(req: &RequestHeader) -> bool {
    upgrade_protocol(req).is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The port the client addressed: from the host, else 443 or 80 (no allocation for those).
fn forwarded_port(req: &RequestHeader, tls: bool) -> Option<HeaderValue> {
    if let Some(port) = request_host(req)
        .and_then(port_of)
        .filter(|p| !p.is_empty())
    {
        return HeaderValue::try_from(port).ok();
    }
    let proto = header_str(req, &X_FORWARDED_PROTO).unwrap_or_default();
    Some(HeaderValue::from_static(
        if tls || proto == "https" || proto == "wss" {
            "443"
        } else {
            "80"
        },
    ))
}

/// The port of `host:port` or `[v6]:port`.
fn port_of(host: &str) -> Option<&str> {
    let after_bracket = host.rfind(']').map_or(0, |i| i + 1);
    host[after_bracket..]
        .rfind(':')
        .map(|i| &host[after_bracket + i + 1..])
}

fn fold_x_forwarded_for(req: &mut RequestHeader) {
    if req
        .headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .nth(1)
        .is_none()
    {
        return;
    }
    let values: Vec<&str> = req
        .headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.len() > 1 {
        let joined = values.join(", ");
        set(req, "X-Forwarded-For", &joined);
    }
}

fn header_str<'a>(req: &'a RequestHeader, name: &HeaderName) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_is_empty(req: &RequestHeader, name: &HeaderName) -> bool {
    header_str(req, name).is_none_or(str::is_empty)
}

fn set(req: &mut RequestHeader, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::try_from(value) {
        let _ = req.insert_header(name, value);
    }
}

/// Parses `10.0.0.1` or `10.0.0.0/8` (a bare address is a single-host network).
pub fn parse_ip_or_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests;
