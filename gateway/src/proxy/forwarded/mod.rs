//! Traefik's forwarded-header rules: untrusted `X-Forwarded-*` removal, `X-Real-Ip` /
//! `X-Forwarded-*` defaults, `Connection`-named header removal, and hop-by-hop cleanup, decided
//! once per request by a [`ForwardedPlan`] that both HTTP/1 paths apply.

mod apply;
mod names;
mod plan;
mod response;
mod upstream;
mod view;
mod write;

pub use apply::prepare_upstream;
pub use plan::ForwardedPlan;
pub use response::{clean_response, ResponseHopByHop};
pub use view::PlannedHeaders;

use crate::proxy::head::RequestHead;
use http::header::{HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// The most `Connection` tokens a request may carry; more is answered 400.
pub const MAX_CONNECTION_TOKENS: usize = 64;

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
}

/// The request's host as the client sent it: the absolute-form target's authority, else `Host`.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.host().and_then(|host| std::str::from_utf8(host).ok())
}

/// Whether the request names more `Connection` tokens than [`MAX_CONNECTION_TOKENS`].
pub fn too_many_connection_tokens(head: &impl RequestHead) -> bool {
    head.header_values("connection")
        .flat_map(names::tokens)
        .nth(MAX_CONNECTION_TOKENS)
        .is_some()
}

/// The protocol a request asks to switch to (`Upgrade`, when `Connection` names `upgrade`), as
/// Go's reverse proxy reads it; a value that is not printable ASCII is no upgrade (Go refuses it).
pub fn upgrade_protocol(head: &impl RequestHead) -> Option<&[u8]> {
    if !names::values_name(head.header_values("connection"), b"upgrade") {
        return None;
    }
    head.header("upgrade").filter(|v| is_upgrade_protocol(v))
}

/// Whether an `Upgrade` value is one Go's reverse proxy forwards: non-empty, printable ASCII.
fn is_upgrade_protocol(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|b| (0x20..0x7f).contains(b))
}

/// Text a port can be cut from: `str` or bytes.
pub trait HostText {
    /// The text as bytes.
    fn bytes(&self) -> &[u8];
    /// The text after byte `start`, which follows an ASCII byte.
    fn after(&self, start: usize) -> &Self;
}

impl HostText for str {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
    fn after(&self, start: usize) -> &Self {
        &self[start..]
    }
}

impl HostText for [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn after(&self, start: usize) -> &Self {
        &self[start..]
    }
}

/// The port of `host:port` or `[v6]:port`.
pub fn port_of<T: HostText + ?Sized>(host: &T) -> Option<&T> {
    let bytes = host.bytes();
    let after_bracket = bytes.iter().rposition(|&b| b == b']').map_or(0, |i| i + 1);
    bytes[after_bracket..]
        .iter()
        .rposition(|&b| b == b':')
        .map(|i| host.after(after_bracket + i + 1))
}

/// Parses `10.0.0.1` or `10.0.0.0/8` (a bare address is a single-host network).
pub fn parse_ip_or_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod allocation_tests;
#[cfg(test)]
mod equivalence_tests;
#[cfg(test)]
mod tests;
