//! The forwarded-header decisions for one request, made once from its head as received: what
//! the entrypoint stage (Traefik's forwarded-headers handler, before routing) drops and sets,
//! and what the proxy stage (Go's reverse proxy, before the request goes upstream) does after it.

use super::names::{self, is, NameFilter};
use super::upstream::UpstreamStage;
use super::view::PlannedHeaders;
use super::{port_of, ForwardedPolicy};
use crate::proxy::head::RequestHead;
use std::io::{self, Write};
use std::net::IpAddr;

/// A header the entrypoint stage sets, replacing every received value of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Set {
    RealIp,
    Proto,
    Port,
    ForwardedScheme,
    Scheme,
    ForwardedHost,
    ForwardedFor,
    Server,
    Connection,
    Upgrade,
}

impl Set {
    /// Every set header, in the order the entrypoint stage sets them.
    pub(super) const ALL: [Set; 10] = [
        Set::RealIp,
        Set::Proto,
        Set::Port,
        Set::ForwardedScheme,
        Set::Scheme,
        Set::ForwardedHost,
        Set::ForwardedFor,
        Set::Server,
        Set::Connection,
        Set::Upgrade,
    ];

    /// The name as Traefik sends it (Go's canonical spelling).
    pub(super) fn name(self) -> &'static str {
        match self {
            Set::RealIp => "X-Real-Ip",
            Set::Proto => "X-Forwarded-Proto",
            Set::Port => "X-Forwarded-Port",
            Set::ForwardedScheme => "X-Forwarded-Scheme",
            Set::Scheme => "X-Scheme",
            Set::ForwardedHost => "X-Forwarded-Host",
            Set::ForwardedFor => "X-Forwarded-For",
            Set::Server => "X-Forwarded-Server",
            Set::Connection => "Connection",
            Set::Upgrade => "Upgrade",
        }
    }
}

/// The value of a set header, borrowed from the policy or the head, or written out on demand.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    /// A constant (`http`, `443`, `Upgrade`).
    Static(&'static str),
    /// Bytes of the head or the policy, as they are.
    Bytes(&'a [u8]),
    /// The client's address.
    Ip(IpAddr),
    /// The received `X-Forwarded-For` values joined with `, `.
    FoldedForwardedFor,
    /// The `Connection` tokens the `connection` setting keeps, joined with `,`, then `Upgrade`
    /// when the upgrade is restored.
    KeptConnection,
}

/// Where `X-Forwarded-Port` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// The port of the host the client addressed.
    Host,
    /// `443`.
    Https,
    /// `80`.
    Http,
}

/// The entrypoint stage's work on a request that has a `Connection` header.
#[derive(Debug, Clone, Copy, Default)]
struct ConnectionPlan {
    /// The names its tokens remove (a filter: a hit is checked against the tokens).
    removed: NameFilter,
    /// Whether a token names a header the `connection` setting keeps.
    keeps: bool,
    /// Whether the tokens name `upgrade` and the request has an `Upgrade` header, whose first
    /// value is then kept alone.
    restores_upgrade: bool,
}

/// Every forwarded-header decision for one request, borrowed from its policy only: the head is
/// passed again to read values, which are written out when the request is, not stored.
#[derive(Debug, Clone)]
pub struct ForwardedPlan<'p> {
    pub(super) policy: &'p ForwardedPolicy,
    trusted: bool,
    /// Whether the head has some managed header (removed when the client is not trusted).
    managed_received: bool,
    real_ip: Option<IpAddr>,
    proto: Option<&'static str>,
    port: Option<Port>,
    scheme: bool,
    forwarded_host: bool,
    folds_forwarded_for: bool,
    connection: Option<ConnectionPlan>,
    pub(super) upstream: UpstreamStage,
}

/// What one pass over the received headers finds (managed ones only from a trusted client).
#[derive(Default)]
struct Received {
    managed: bool,
    real_ip: Option<bool>,
    proto: Option<bool>,
    proto_secure: bool,
    port: Option<bool>,
    forwarded_host: Option<bool>,
    forwarded_for: usize,
    names_upgrade: bool,
    connection: Option<ConnectionPlan>,
}

/// Records whether the first value of a header is non-empty (Go's `Header.Get(..) != ""`).
fn first_non_empty(slot: &mut Option<bool>, value: &[u8]) {
    slot.get_or_insert(!value.is_empty());
}

impl ForwardedPolicy {
    /// Every decision of both stages for a request from `client` (over TLS or not), in one
    /// pass over its headers and without allocating, except for a trusted client's repeated
    /// `X-Forwarded-For` or kept `Connection` tokens, which are joined when read.
    pub fn plan(
        &self,
        head: &impl RequestHead,
        client: Option<IpAddr>,
        tls: bool,
    ) -> ForwardedPlan<'_> {
        let trusted = self.trusts(client);
        let seen = self.scan(head, trusted);
        let upgrade = seen.names_upgrade.then(|| head.header("upgrade")).flatten();
        let websocket = upgrade
            .is_some_and(|u| super::is_upgrade_protocol(u) && u.eq_ignore_ascii_case(b"websocket"));
        let proto = (seen.proto != Some(true)).then_some(match (websocket, tls) {
            (true, true) => "wss",
            (true, false) => "ws",
            (false, true) => "https",
            (false, false) => "http",
        });
        let port = (seen.port != Some(true)).then(|| {
            if head.host().and_then(port_of).is_some_and(|p| !p.is_empty()) {
                Port::Host
            } else if tls || (proto.is_none() && seen.proto_secure) {
                Port::Https
            } else {
                Port::Http
            }
        });
        let connection = seen.connection.map(|plan| ConnectionPlan {
            restores_upgrade: upgrade.is_some(),
            ..plan
        });
        let mut plan = ForwardedPlan {
            policy: self,
            trusted,
            managed_received: seen.managed,
            real_ip: client.filter(|_| seen.real_ip != Some(true)),
            proto,
            port,
            scheme: self.add_scheme_headers,
            forwarded_host: seen.forwarded_host != Some(true)
                && head.host().is_some_and(|h| !h.is_empty()),
            folds_forwarded_for: seen.forwarded_for > 1,
            connection,
            upstream: UpstreamStage::default(),
        };
        // The proxy stage reads the head as the entrypoint stage leaves it.
        plan.upstream = UpstreamStage::of(
            &plan.headers_for_routing(head),
            client,
            self.appends_x_forwarded_for(),
        );
        plan
    }

    fn scan(&self, head: &impl RequestHead, trusted: bool) -> Received {
        let mut seen = Received::default();
        for (name, value) in head.headers() {
            if names::is_managed(name) {
                seen.managed = true;
                if !trusted {
                    continue;
                }
                if is(name, "x-real-ip") {
                    first_non_empty(&mut seen.real_ip, value);
                } else if is(name, "x-forwarded-proto") {
                    if seen.proto.is_none() {
                        seen.proto_secure = value == b"https" || value == b"wss";
                    }
                    first_non_empty(&mut seen.proto, value);
                } else if is(name, "x-forwarded-port") {
                    first_non_empty(&mut seen.port, value);
                } else if is(name, "x-forwarded-host") {
                    first_non_empty(&mut seen.forwarded_host, value);
                } else if is(name, "x-forwarded-for") {
                    seen.forwarded_for += 1;
                }
            } else if is(name, "connection") {
                let plan = seen.connection.get_or_insert_with(ConnectionPlan::default);
                for token in names::tokens(value) {
                    seen.names_upgrade |= is(token, "upgrade");
                    if !self.nominable(token) {
                        continue;
                    }
                    if self.keeps(token) {
                        plan.keeps = true;
                    } else {
                        plan.removed.insert(token);
                    }
                }
            }
        }
        seen
    }

    /// Whether a `Connection` token can name a header to remove or keep at all.
    fn nominable(&self, token: &[u8]) -> bool {
        !names::is_managed(token) && names::is_token(token) && !names::is_never_nominated(token)
    }

    /// Whether the `connection` setting keeps the header `name` through the entrypoint stage.
    fn keeps(&self, name: &[u8]) -> bool {
        self.keep_connection_headers
            .iter()
            .any(|kept| is(name, kept.as_str()))
    }
}

impl<'p> ForwardedPlan<'p> {
    /// Whether the client's own `X-Forwarded-*` headers are kept.
    pub fn trusts_client(&self) -> bool {
        self.trusted
    }

    /// The head as the entrypoint stage leaves it, for the router's header rules.
    pub fn headers_for_routing<'a, H: RequestHead>(
        &'a self,
        head: &'a H,
    ) -> PlannedHeaders<'a, 'p, H> {
        PlannedHeaders::new(self, head)
    }

    pub(super) fn is_set(&self, set: Set) -> bool {
        let restores_upgrade = self.connection.is_some_and(|c| c.restores_upgrade);
        match set {
            Set::RealIp => self.real_ip.is_some(),
            Set::Proto => self.proto.is_some(),
            Set::Port => self.port.is_some(),
            Set::ForwardedScheme | Set::Scheme => self.scheme,
            Set::ForwardedHost => self.forwarded_host,
            Set::ForwardedFor => self.folds_forwarded_for,
            Set::Server => self.policy.server_name.is_some(),
            Set::Connection => self.connection.is_some_and(|c| c.keeps) || restores_upgrade,
            Set::Upgrade => restores_upgrade,
        }
    }

    /// The headers the entrypoint stage sets.
    pub(super) fn sets(&self) -> impl Iterator<Item = Set> + '_ {
        Set::ALL.into_iter().filter(|&set| self.is_set(set))
    }

    /// The set header called `name` (any case), if the entrypoint stage sets it.
    pub(super) fn set_named(&self, name: &[u8]) -> Option<Set> {
        self.sets().find(|set| is(name, set.name()))
    }

    /// Whether the entrypoint stage drops the received header `name`: a managed header from an
    /// untrusted client, one it sets anew, `Connection` itself, or one `Connection` names.
    pub(super) fn incoming_drops(&self, head: &impl RequestHead, name: &[u8]) -> bool {
        if !self.trusted && names::is_managed(name) {
            return true;
        }
        let Some(connection) = self.connection else {
            return self.set_named(name).is_some();
        };
        if is(name, "connection") || self.set_named(name).is_some() {
            return true;
        }
        connection.removed.may_hold(name)
            && self.policy.nominable(name)
            && !self.policy.keeps(name)
            && names::values_name(head.header_values("connection"), name)
    }

    /// Whether the untrusted client sent managed headers the entrypoint stage removes.
    pub(super) fn removes_managed(&self) -> bool {
        !self.trusted && self.managed_received
    }

    /// Whether `Connection` names headers the entrypoint stage removes.
    pub(super) fn removes_nominated(&self) -> bool {
        self.connection.is_some_and(|c| !c.removed.is_empty())
    }

    /// Whether the request has a `Connection` header the entrypoint stage rewrites or removes.
    pub(super) fn rewrites_connection(&self) -> bool {
        self.connection.is_some()
    }

    /// Whether the `Connection` token `token` removes its header at the entrypoint stage.
    pub(super) fn token_removes(&self, token: &[u8]) -> bool {
        self.policy.nominable(token) && !self.policy.keeps(token)
    }

    /// The `X-Forwarded-Proto` value the entrypoint stage sets, if it sets one.
    pub(super) fn proto(&self) -> Option<&'static str> {
        self.proto
    }

    /// The value of the set header `set`.
    pub(super) fn value<'a>(&'a self, head: &'a impl RequestHead, set: Set) -> Value<'a> {
        let bytes = |value: Option<&'a [u8]>| Value::Bytes(value.unwrap_or_default());
        match set {
            Set::RealIp => self.real_ip.map_or(Value::Static(""), Value::Ip),
            Set::Proto => Value::Static(self.proto.unwrap_or_default()),
            Set::Port => match self.port {
                Some(Port::Host) => bytes(head.host().and_then(port_of)),
                Some(Port::Https) => Value::Static("443"),
                Some(Port::Http) | None => Value::Static("80"),
            },
            Set::ForwardedScheme | Set::Scheme => match self.proto {
                Some(proto) => Value::Static(proto),
                None => bytes(head.header("x-forwarded-proto")),
            },
            Set::ForwardedHost => bytes(head.host()),
            Set::ForwardedFor => Value::FoldedForwardedFor,
            Set::Server => bytes(self.policy.server_name.as_ref().map(|v| v.as_bytes())),
            Set::Connection if self.connection.is_some_and(|c| c.keeps) => Value::KeptConnection,
            Set::Connection => Value::Static("Upgrade"),
            Set::Upgrade => bytes(head.header("upgrade")),
        }
    }

    /// Writes a value of [`Self::value`] out.
    pub(super) fn write_value(
        &self,
        head: &impl RequestHead,
        value: Value<'_>,
        out: &mut impl Write,
    ) -> io::Result<()> {
        match value {
            Value::Static(text) => out.write_all(text.as_bytes()),
            Value::Bytes(bytes) => out.write_all(bytes),
            Value::Ip(ip) => write!(out, "{ip}"),
            Value::FoldedForwardedFor => {
                for (i, prior) in head.header_values("x-forwarded-for").enumerate() {
                    if i > 0 {
                        out.write_all(b", ")?;
                    }
                    out.write_all(prior)?;
                }
                Ok(())
            }
            Value::KeptConnection => {
                let mut first = true;
                let kept = head
                    .header_values("connection")
                    .flat_map(names::tokens)
                    .filter(|t| self.policy.nominable(t) && self.policy.keeps(t));
                let restored = self
                    .connection
                    .is_some_and(|c| c.restores_upgrade)
                    .then_some(&b"Upgrade"[..]);
                for token in kept.chain(restored) {
                    if !first {
                        out.write_all(b",")?;
                    }
                    first = false;
                    out.write_all(token)?;
                }
                Ok(())
            }
        }
    }
}
