//! Runtime services: load balancers over upstream servers and weighted services over
//! other services, built once per configuration and shared by every request.

use super::internal::InternalService;
use super::wrr::SmoothWeightedSchedule;
use crate::service::dial::{self, NamedServerDialer};
use crate::service::idle_pool::ServerConnections;
use http::HeaderValue;
use pingora::upstreams::peer::{HttpPeer, HttpUpstreamRequestPolicy};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How requests reach one service's servers (from a `serversTransport`).
#[derive(Debug, Clone, PartialEq)]
pub struct TransportSettings {
    /// `forwardingTimeouts.dialTimeout` (name resolution included).
    pub dial_timeout: Option<Duration>,
    /// `forwardingTimeouts.responseHeaderTimeout`: the wait for the response head only.
    pub response_header_timeout: Option<Duration>,
    /// `forwardingTimeouts.idleConnTimeout`.
    pub idle_timeout: Option<Duration>,
    /// `maxIdleConnsPerHost`: idle keep-alive connections kept per server (0: none).
    pub max_idle_per_server: usize,
    /// `insecureSkipVerify`.
    pub insecure_skip_verify: bool,
    /// `serverName`: SNI and verified name for https servers.
    pub server_name: Option<String>,
}

impl Default for TransportSettings {
    /// Traefik's default transport: 30s dial timeout, 90s idle timeout, 200 idle connections
    /// per server, no response timeout.
    fn default() -> Self {
        Self {
            dial_timeout: Some(Duration::from_secs(30)),
            response_header_timeout: None,
            idle_timeout: Some(Duration::from_secs(90)),
            max_idle_per_server: 200,
            insecure_skip_verify: false,
            server_name: None,
        }
    }
}

/// One backend server, ready to be connected to.
#[derive(Debug)]
pub struct Upstream {
    /// The server's URL as configured.
    pub url: String,
    /// The connection target, with its options; cloned per request. A server named by host name
    /// gets a placeholder address and a dialer that resolves the name at each new connection.
    pub peer: HttpPeer,
    /// For an `h2c://` server, the HTTP/1.1 target of upgrade requests (`Connection: Upgrade`
    /// cannot be carried over HTTP/2; Traefik sends them over HTTP/1.1 too).
    pub upgrade_peer: Option<HttpPeer>,
    /// `host[:port]` of the URL, sent as Host when `passHostHeader` is false.
    pub authority: HeaderValue,
    /// Path prefix of the URL, kept in front of the request path when `preservePath` is set.
    pub path_prefix: Option<String>,
    /// `responseHeaderTimeout`, watched per request (see [`crate::service::header_deadline`]).
    pub response_header_timeout: Option<Duration>,
    /// The server's HTTP/1 connection counts, for `maxIdleConnsPerHost`.
    pub connections: Arc<ServerConnections>,
    /// How the lean HTTP/1 path reaches the server, when it can: a plain `http://` server
    /// named by IP address, with no path to keep in front of the request's.
    pub lean: Option<LeanTarget>,
}

/// A server as the lean HTTP/1 path connects to it (see `crate::entrypoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeanTarget {
    /// The server's address.
    pub address: SocketAddr,
    /// `forwardingTimeouts.dialTimeout`.
    pub dial_timeout: Option<Duration>,
    /// `forwardingTimeouts.responseHeaderTimeout`.
    pub response_header_timeout: Option<Duration>,
    /// `forwardingTimeouts.idleConnTimeout`.
    pub idle_timeout: Option<Duration>,
}

impl Upstream {
    /// Builds a server from its URL. A host name is not resolved here: it is looked up when a
    /// connection is made, so a name that does not resolve fails its requests (502), not the
    /// configuration.
    pub fn new(
        url: &str,
        preserve_path: bool,
        transport: &TransportSettings,
    ) -> Result<Self, String> {
        let parsed: http::Uri = url
            .parse()
            .map_err(|e| format!("server url {url:?} is not a URL: {e}"))?;
        let (tls, http2) = match parsed.scheme_str() {
            Some("http") => (false, false),
            Some("h2c") => (false, true),
            Some("https") => (true, false),
            Some(other) => {
                return Err(format!(
                    "server url {url:?}: unsupported scheme {other:?} (use http, https or h2c)"
                ))
            }
            None => {
                return Err(format!(
                    "server url {url:?} has no scheme (write http://{url})"
                ))
            }
        };
        let authority = parsed
            .authority()
            .ok_or_else(|| format!("server url {url:?} has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("server url {url:?} has no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let connections = ServerConnections::for_server(
            &format!(
                "{}://{}",
                parsed.scheme_str().unwrap_or_default(),
                authority
            ),
            transport.max_idle_per_server,
        );
        let target = Target {
            host,
            port,
            tls,
            transport,
            connections: &connections,
        };
        let path = parsed.path();
        let path_prefix =
            (preserve_path && path != "/" && !path.is_empty()).then(|| path.to_string());
        let lean = match (
            tls || http2 || path_prefix.is_some(),
            host.parse::<IpAddr>(),
        ) {
            (false, Ok(ip)) => Some(LeanTarget {
                address: SocketAddr::new(ip, port),
                dial_timeout: transport.dial_timeout,
                response_header_timeout: transport.response_header_timeout,
                idle_timeout: transport.idle_timeout,
            }),
            _ => None,
        };
        Ok(Self {
            url: url.to_string(),
            peer: target.peer(http2),
            upgrade_peer: http2.then(|| target.peer(false)),
            authority: HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            path_prefix,
            response_header_timeout: transport.response_header_timeout,
            connections,
            lean,
        })
    }

    /// The target of a request: upgrade requests to an `h2c` server go over HTTP/1.1.
    pub fn peer_for(&self, upgrade: bool) -> &HttpPeer {
        match (&self.upgrade_peer, upgrade) {
            (Some(http1), true) => http1,
            _ => &self.peer,
        }
    }
}

/// What a server's peers are built from.
struct Target<'a> {
    host: &'a str,
    port: u16,
    tls: bool,
    transport: &'a TransportSettings,
    connections: &'a Arc<ServerConnections>,
}

impl Target<'_> {
    /// The peer speaking HTTP/1.1 (or, with `http2`, HTTP/2 with prior knowledge, as `h2c`).
    fn peer(&self, http2: bool) -> HttpPeer {
        let transport = self.transport;
        let sni = transport
            .server_name
            .clone()
            .unwrap_or_else(|| self.host.to_string());
        let mut peer = match self.host.parse::<IpAddr>() {
            Ok(ip) => HttpPeer::new(SocketAddr::new(ip, self.port), self.tls, sni),
            Err(_) => {
                let mut peer = HttpPeer::new(dial::placeholder_address(self.port), self.tls, sni);
                peer.group_key = dial::pool_group(self.host);
                peer.options.custom_l4 = Some(Arc::new(NamedServerDialer::new(
                    self.host,
                    self.port,
                    transport.dial_timeout,
                )));
                peer
            }
        };
        peer.options.connection_timeout = transport.dial_timeout;
        // No `read_timeout`: it would bound every read of the body too (see header_deadline).
        peer.options.idle_timeout = match transport.max_idle_per_server {
            // Dropped as soon as it is released: no idle connection is kept.
            0 => Some(Duration::ZERO),
            _ => transport.idle_timeout,
        };
        peer.options.verify_cert = !transport.insecure_skip_verify;
        peer.options.verify_hostname = !transport.insecure_skip_verify;
        peer.options.http_upstream_request_policy = HttpUpstreamRequestPolicy::preserve();
        if http2 {
            // Plaintext with a minimum of 2: Pingora speaks HTTP/2 with prior knowledge. One
            // stream per connection, so a response-header deadline never cuts another request.
            peer.options.set_http_version(2, 2);
        } else {
            peer.options.tracer = Some(self.connections.tracer());
        }
        peer
    }
}

/// A compiled service.
#[derive(Debug)]
pub enum ServiceHandler {
    /// `loadBalancer`: smooth weighted round robin over servers.
    LoadBalancer(LoadBalancer),
    /// `weighted`: smooth weighted round robin over other services.
    Weighted {
        /// The child services.
        children: Vec<Arc<ServiceHandler>>,
        /// Rotation over `children`; `None` when every weight is 0.
        schedule: Option<Arc<SmoothWeightedSchedule>>,
    },
    /// A service the gateway answers itself (`api@internal`).
    Internal(InternalService),
}

/// A load balancer over upstream servers.
#[derive(Debug)]
pub struct LoadBalancer {
    /// The servers with a positive weight.
    pub servers: Vec<Arc<Upstream>>,
    /// Rotation over `servers`; `None` when there is no server. Kept across reloads that leave
    /// the weights as they are.
    pub schedule: Option<Arc<SmoothWeightedSchedule>>,
    /// `passHostHeader` (default true).
    pub pass_host_header: bool,
}

/// The server chosen for one request, and how to address it.
#[derive(Debug, Clone)]
pub struct Picked {
    /// The server.
    pub upstream: Arc<Upstream>,
    /// Whether the client's Host header is kept.
    pub pass_host_header: bool,
}

impl ServiceHandler {
    /// Whether every server this service can pick is reachable by the lean HTTP/1 path.
    pub fn is_lean(&self) -> bool {
        match self {
            ServiceHandler::LoadBalancer(lb) => lb.servers.iter().all(|s| s.lean.is_some()),
            ServiceHandler::Weighted { children, .. } => children.iter().all(|c| c.is_lean()),
            ServiceHandler::Internal(_) => false,
        }
    }

    /// Chooses the server for the next request; `None` means no server is available (503),
    /// as for an internal service reached through a `weighted` one.
    pub fn pick(&self) -> Option<Picked> {
        match self {
            ServiceHandler::LoadBalancer(lb) => {
                let index = lb.schedule.as_ref()?.pick();
                Some(Picked {
                    upstream: lb.servers[index].clone(),
                    pass_host_header: lb.pass_host_header,
                })
            }
            ServiceHandler::Weighted { children, schedule } => {
                children[schedule.as_ref()?.pick()].pick()
            }
            ServiceHandler::Internal(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_from_url() {
        let settings = TransportSettings::default();
        let upstream = Upstream::new("http://127.0.0.1:8081/base", true, &settings).unwrap();
        assert_eq!(upstream.authority, "127.0.0.1:8081");
        assert_eq!(upstream.path_prefix.as_deref(), Some("/base"));
        assert_eq!(upstream.peer._address.to_string(), "127.0.0.1:8081");
        let ignored = Upstream::new("http://127.0.0.1:8081/base", false, &settings).unwrap();
        assert_eq!(
            ignored.path_prefix, None,
            "the path is ignored unless preservePath"
        );
        let tls = Upstream::new("https://localhost", false, &settings).unwrap();
        assert_eq!(tls.peer.sni, "localhost");
        assert!(tls.peer._address.to_string().ends_with(":443"));
        assert!(
            tls.peer.options.custom_l4.is_some(),
            "a name is resolved by the dialer"
        );
        assert_eq!(
            ignored.lean.map(|t| t.address.to_string()).as_deref(),
            Some("127.0.0.1:8081")
        );
        assert!(upstream.lean.is_none(), "a kept path is the Pingora path's");
        assert!(tls.lean.is_none(), "https is the Pingora path's");
        let v6 = Upstream::new("http://[::1]:9000", false, &settings).unwrap();
        assert_eq!(v6.peer._address.to_string(), "[::1]:9000");
        assert!(
            v6.peer.options.custom_l4.is_none(),
            "an address needs no lookup"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_not_an_error_here() {
        let settings = TransportSettings::default();
        assert!(Upstream::new("http://no-such-host.invalid:81", false, &settings).is_ok());
    }

    #[test]
    fn h2c_speaks_http2_except_for_upgrades() {
        let settings = TransportSettings::default();
        let upstream = Upstream::new("h2c://127.0.0.1:8081", false, &settings).unwrap();
        let alpn = |peer: &HttpPeer| peer.options.alpn.get_min_http_version();
        assert!(!upstream.peer.is_tls());
        assert_eq!(alpn(upstream.peer_for(false)), 2);
        assert_eq!(alpn(upstream.peer_for(true)), 1);
        let plain = Upstream::new("http://127.0.0.1:8081", false, &settings).unwrap();
        assert_eq!(alpn(plain.peer_for(true)), 1);
    }

    #[test]
    fn bad_urls_are_explained() {
        let settings = TransportSettings::default();
        for (url, expected) in [
            ("127.0.0.1:80", "has no scheme"),
            ("ftp://a", "unsupported scheme"),
            ("http://", "not a URL"),
            ("ws://a", "unsupported scheme"),
        ] {
            let err = Upstream::new(url, false, &settings).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
        }
    }
}
