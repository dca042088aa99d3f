//! Connections to servers named by host name: the name is resolved each time a connection is
//! made, so a pooled connection is reused without a lookup (as Go's dialer does for Traefik), and
//! a name that does not resolve fails that connection alone (502), never the configuration.

use super::resolver::Resolver;
use async_trait::async_trait;
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr as PeerAddress;
use pingora::protocols::l4::stream::Stream;
use pingora::{Error, ErrorType, Result};
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The address a named server's peer carries: never connected to (the dialer resolves the name),
/// it only has to be the same for every peer of the server so that their connections pool
/// together; [`pool_group`] keeps servers on the same port apart.
pub fn placeholder_address(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}

/// The connection-pool group of a named server (Pingora's `HttpPeer::group_key`): a hash of its
/// name, so that named servers sharing [`placeholder_address`] never share connections.
pub fn pool_group(host: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    host.to_ascii_lowercase().hash(&mut hasher);
    hasher.finish()
}

/// Makes TCP connections to `host:port`, resolving `host` first; Pingora then adds TLS when the
/// server is `https`.
#[derive(Debug)]
pub struct NamedServerDialer {
    host: String,
    port: u16,
    /// `dialTimeout`, covering the lookup and the connect (as Go's `Dialer.Timeout`).
    timeout: Option<Duration>,
    resolver: &'static Resolver,
}

impl NamedServerDialer {
    /// A dialer for `host:port` through the system resolver.
    pub fn new(host: &str, port: u16, timeout: Option<Duration>) -> Self {
        Self {
            host: host.to_string(),
            port,
            timeout,
            resolver: Resolver::system(),
        }
    }

    async fn dial(&self) -> Result<Stream> {
        // The failure is the request's: a 502, logged at WARN with the error by the proxy.
        let address = self
            .resolver
            .resolve(&self.host, self.port)
            .await
            .map_err(|e| {
                Error::explain(
                    ErrorType::ConnectError,
                    format!("cannot resolve {:?}: {e}", self.host),
                )
            })?;
        let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorType::ConnectRefused,
                std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable => {
                    ErrorType::ConnectNoRoute
                }
                _ => ErrorType::ConnectError,
            };
            Error::because(kind, format!("connecting to {} ({address})", self.host), e)
        })?;
        Ok(stream.into())
    }
}

#[async_trait]
impl L4Connect for NamedServerDialer {
    async fn connect(&self, _placeholder: &PeerAddress) -> Result<Stream> {
        match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, self.dial()).await {
                Ok(result) => result,
                Err(_) => Error::e_explain(
                    ErrorType::ConnectTimedout,
                    format!(
                        "resolving and connecting to {}:{} took over {limit:?}",
                        self.host, self.port
                    ),
                ),
            },
            None => self.dial().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_servers_pool_apart() {
        assert_ne!(pool_group("a.example"), pool_group("b.example"));
        assert_eq!(pool_group("A.example"), pool_group("a.example"));
    }
}
