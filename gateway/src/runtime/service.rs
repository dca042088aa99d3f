//! Runtime services: load balancers over upstream servers and weighted services over
//! other services, built once per configuration and shared by every request.

use super::internal::InternalService;
use super::wrr::SmoothWeightedSchedule;
use http::HeaderValue;
use pingora::upstreams::peer::HttpPeer;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// How requests reach one service's servers (from a `serversTransport`).
#[derive(Debug, Clone, PartialEq)]
pub struct TransportSettings {
    /// `forwardingTimeouts.dialTimeout`.
    pub dial_timeout: Option<Duration>,
    /// `forwardingTimeouts.responseHeaderTimeout` (applied to each read from the server).
    pub response_header_timeout: Option<Duration>,
    /// `forwardingTimeouts.idleConnTimeout`.
    pub idle_timeout: Option<Duration>,
    /// `insecureSkipVerify`.
    pub insecure_skip_verify: bool,
    /// `serverName`: SNI and verified name for https servers.
    pub server_name: Option<String>,
}

impl Default for TransportSettings {
    /// Traefik's default transport: 30s dial timeout, 90s idle timeout, no response timeout.
    fn default() -> Self {
        Self {
            dial_timeout: Some(Duration::from_secs(30)),
            response_header_timeout: None,
            idle_timeout: Some(Duration::from_secs(90)),
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
    /// The connection target, with its options; cloned per request.
    pub peer: HttpPeer,
    /// `host[:port]` of the URL, sent as Host when `passHostHeader` is false.
    pub authority: HeaderValue,
    /// Path prefix of the URL, kept in front of the request path when `preservePath` is set.
    pub path_prefix: Option<String>,
}

impl Upstream {
    /// Builds a server from its URL. Host names are resolved now, off the request path.
    pub fn new(
        url: &str,
        preserve_path: bool,
        transport: &TransportSettings,
    ) -> Result<Self, String> {
        let parsed: http::Uri = url
            .parse()
            .map_err(|e| format!("server url {url:?} is not a URL: {e}"))?;
        let tls = match parsed.scheme_str() {
            Some("http") | Some("h2c") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "server url {url:?}: unsupported scheme {other:?} (use http or https)"
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
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = resolve(host, port)
            .map_err(|e| format!("server url {url:?}: cannot resolve {host:?}: {e}"))?;
        let sni = transport
            .server_name
            .clone()
            .unwrap_or_else(|| host.to_string());
        let mut peer = HttpPeer::new(address, tls, sni);
        peer.options.connection_timeout = transport.dial_timeout;
        peer.options.read_timeout = transport.response_header_timeout;
        peer.options.idle_timeout = transport.idle_timeout;
        peer.options.verify_cert = !transport.insecure_skip_verify;
        peer.options.verify_hostname = !transport.insecure_skip_verify;
        peer.options.http_upstream_request_policy =
            pingora::upstreams::peer::HttpUpstreamRequestPolicy::preserve();
        let path = parsed.path();
        let path_prefix =
            (preserve_path && path != "/" && !path.is_empty()).then(|| path.to_string());
        Ok(Self {
            url: url.to_string(),
            peer,
            authority: HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            path_prefix,
        })
    }
}

fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))
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
        let v6 = Upstream::new("http://[::1]:9000", false, &settings).unwrap();
        assert_eq!(v6.peer._address.to_string(), "[::1]:9000");
    }

    #[test]
    fn bad_urls_are_explained() {
        let settings = TransportSettings::default();
        for (url, expected) in [
            ("127.0.0.1:80", "has no scheme"),
            ("ftp://a", "unsupported scheme"),
            ("http://", "not a URL"),
        ] {
            let err = Upstream::new(url, false, &settings).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
        }
    }
}
