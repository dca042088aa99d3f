//! The DNS resolver for server host names: asynchronous, and caching each answer for its TTL.

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveError, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

/// Longest time a "no such name" answer is kept, whatever its SOA says: a server whose name is
/// created after the gateway asked for it is reached within these seconds.
const NEGATIVE_MAX_TTL: Duration = Duration::from_secs(5);

/// How many names (with their answers) the cache keeps.
const CACHE_SIZE: usize = 1024;

/// Resolves the host names of servers.
///
/// It reads `/etc/resolv.conf` (name servers, search domains, `ndots`, timeouts) and
/// `/etc/hosts` as the system resolver does, and keeps each answer for the TTL of its records,
/// so a name is asked again only once its records expire; a failed lookup is kept at most
/// [`NEGATIVE_MAX_TTL`]. (Traefik goes through Go's resolver, which caches nothing.)
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("name_servers", &self.inner.config().name_servers().len())
            .finish()
    }
}

impl Resolver {
    /// The process-wide resolver on the system's configuration, built on first use.
    pub fn system() -> &'static Resolver {
        static SYSTEM: OnceLock<Resolver> = OnceLock::new();
        SYSTEM.get_or_init(|| {
            let builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
                tracing::warn!(
                    error = %e,
                    "cannot read the system resolver configuration (/etc/resolv.conf): server host names resolve only from /etc/hosts"
                );
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                    TokioConnectionProvider::default(),
                )
            });
            Resolver::finish(builder)
        })
    }

    /// A resolver that asks only these name servers (over UDP), with the system's other options.
    pub fn with_name_servers(servers: &[SocketAddr]) -> Resolver {
        let mut group = NameServerConfigGroup::new();
        for server in servers {
            group.merge(NameServerConfigGroup::from_ips_clear(
                &[server.ip()],
                server.port(),
                false,
            ));
        }
        let config = ResolverConfig::from_parts(None, Vec::new(), group);
        Resolver::finish(TokioResolver::builder_with_config(
            config,
            TokioConnectionProvider::default(),
        ))
    }

    fn finish(mut builder: hickory_resolver::ResolverBuilder<TokioConnectionProvider>) -> Resolver {
        let options = builder.options_mut();
        options.cache_size = CACHE_SIZE;
        options.negative_max_ttl = Some(NEGATIVE_MAX_TTL);
        Resolver {
            inner: builder.build(),
        }
    }

    /// The address to connect to for `host:port`: the first address of the answer (IPv4
    /// addresses first, as the resolver asks for A records before AAAA).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ResolveError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let answer = self.inner.lookup_ip(host).await?;
        answer
            .iter()
            .next()
            .map(|ip| SocketAddr::new(ip, port))
            .ok_or_else(|| ResolveError::from(format!("{host} has no address")))
    }
}

#[cfg(test)]
mod tests;
