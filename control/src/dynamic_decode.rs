//! Decoding a dynamic configuration tree object by object: a broken router, service or
//! middleware is dropped alone with an error naming its key; everything else is kept.

use crate::decode::{self, Node};
use crate::dynamic::{
    Configuration, HttpConfiguration, Middleware, Service, TcpConfiguration, TcpMiddleware,
    TcpService, TlsConfiguration, UdpConfiguration, UdpService,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;

/// One object (or section) of the configuration that was rejected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where it came from: a file path, or for a key-value store the provider and the root
    /// key ending in `/` (`consul traefik/`), which the key continues.
    pub origin: String,
    /// Slash-separated key of the rejected object or value, relative to the configuration's
    /// root (`http/routers/api/rule`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `dyn.yml: http/routers/api/rule: ...`, or with a KV origin the full key:
    /// `consul traefik/http/routers/api/rule: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.origin.ends_with('/') {
            write!(f, "{}{}: {}", self.origin, self.key, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.message)
        }
    }
}

/// A decoded configuration and the objects that were left out of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Every object that decoded.
    pub config: Configuration,
    /// One entry per object (or section) left out.
    pub errors: Vec<ConfigError>,
}

/// Objects that must pass a check beyond decoding (e.g. exactly one service type).
trait Check {
    /// The field the check is about, appended to the key of its errors.
    const CHECKED_FIELD: Option<&'static str> = None;

    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

macro_rules! no_check {
    ($($ty:ty),*) => { $(impl Check for $ty {})* };
}
macro_rules! kind_check {
    ($($ty:ty),*) => { $(impl Check for $ty { fn check(&self) -> Result<(), String> { self.kind().map(|_| ()) } })* };
}

/// A router needs a rule that compiles (v3 syntax).
impl Check for crate::dynamic::Router {
    const CHECKED_FIELD: Option<&'static str> = Some("rule");

    fn check(&self) -> Result<(), String> {
        match self.rule.as_deref().filter(|r| !r.trim().is_empty()) {
            None => Err("the router has no rule".into()),
            Some(rule) => crate::rule::Rule::parse(rule)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

no_check!(
    crate::dynamic::ServersTransport,
    crate::dynamic::TcpRouter,
    crate::dynamic::TcpServersTransport,
    crate::dynamic::UdpRouter,
    crate::dynamic::TlsOptions,
    crate::dynamic::Store,
    crate::dynamic::CertAndStores
);
kind_check!(Service, Middleware, TcpService, TcpMiddleware, UdpService);

/// Collects decoded objects and errors for one source.
struct Decoder<'a> {
    origin: &'a str,
    errors: Vec<ConfigError>,
}

impl Decoder<'_> {
    fn error(&mut self, key: String, message: impl Into<String>) {
        self.errors.push(ConfigError {
            origin: self.origin.to_string(),
            key,
            message: message.into(),
        });
    }

    fn object<T: DeserializeOwned + Check>(&mut self, node: &Node, key: String) -> Option<T> {
        match decode::decode::<T>(node, &key) {
            Ok(object) => match object.check() {
                Ok(()) => Some(object),
                Err(message) => {
                    let key = match T::CHECKED_FIELD {
                        Some(field) => format!("{key}/{field}"),
                        None => key,
                    };
                    self.error(key, message);
                    None
                }
            },
            Err(e) => {
                self.error(e.path, e.message);
                None
            }
        }
    }

    /// Decodes every named object of a section into `out`, each on its own.
    fn named<T: DeserializeOwned + Check>(
        &mut self,
        node: &Node,
        key: &str,
        out: &mut BTreeMap<String, T>,
    ) {
        match node {
            Node::Map(entries) => {
                for (name, object) in entries {
                    if let Some(decoded) = self.object(object, format!("{key}/{name}")) {
                        out.insert(name.clone(), decoded);
                    }
                }
            }
            Node::Null => {}
            other => self.error(
                key.to_string(),
                format!("expected a map of named objects, found {}", other.kind()),
            ),
        }
    }

    /// Calls `each` with the lowercase name, original name and node of every entry of a section
    /// map; reports a section that is not a map.
    fn sections(
        &mut self,
        node: &Node,
        key: &str,
        mut each: impl FnMut(&mut Self, &str, &str, &Node) -> bool,
    ) {
        match node {
            Node::Map(entries) => {
                for (name, child) in entries {
                    let path = if key.is_empty() {
                        name.clone()
                    } else {
                        format!("{key}/{name}")
                    };
                    if !each(self, &name.to_ascii_lowercase(), &path, child) {
                        self.error(path, format!("unknown section {name:?}"));
                    }
                }
            }
            Node::Null => {}
            other => {
                let key = if key.is_empty() { "(root)" } else { key };
                self.error(
                    key.to_string(),
                    format!("expected a map, found {}", other.kind()),
                )
            }
        }
    }
}

/// Decodes a dynamic configuration tree (from a file, a directory or Consul KV). `origin`
/// names the source in errors.
pub fn decode_dynamic(tree: &Node, origin: &str) -> Decoded {
    let mut d = Decoder {
        origin,
        errors: Vec::new(),
    };
    let mut config = Configuration::default();
    d.sections(tree, "", |d, name, path, node| {
        match name {
            "http" => {
                let http = config.http.get_or_insert_with(HttpConfiguration::default);
                d.sections(node, path, |d, name, path, node| {
                    match name {
                        "routers" => d.named(node, path, &mut http.routers),
                        "services" => d.named(node, path, &mut http.services),
                        "middlewares" => d.named(node, path, &mut http.middlewares),
                        "serverstransports" => d.named(node, path, &mut http.servers_transports),
                        _ => return false,
                    }
                    true
                });
            }
            "tcp" => {
                let tcp = config.tcp.get_or_insert_with(TcpConfiguration::default);
                d.sections(node, path, |d, name, path, node| {
                    match name {
                        "routers" => d.named(node, path, &mut tcp.routers),
                        "services" => d.named(node, path, &mut tcp.services),
                        "middlewares" => d.named(node, path, &mut tcp.middlewares),
                        "serverstransports" => d.named(node, path, &mut tcp.servers_transports),
                        _ => return false,
                    }
                    true
                });
            }
            "udp" => {
                let udp = config.udp.get_or_insert_with(UdpConfiguration::default);
                d.sections(node, path, |d, name, path, node| {
                    match name {
                        "routers" => d.named(node, path, &mut udp.routers),
                        "services" => d.named(node, path, &mut udp.services),
                        _ => return false,
                    }
                    true
                });
            }
            "tls" => {
                let tls = config.tls.get_or_insert_with(TlsConfiguration::default);
                d.sections(node, path, |d, name, path, node| {
                    match name {
                        "options" => d.named(node, path, &mut tls.options),
                        "stores" => d.named(node, path, &mut tls.stores),
                        "certificates" => {
                            let mut listed = BTreeMap::new();
                            d.named(&as_numbered_map(node), path, &mut listed);
                            tls.certificates.extend(listed.into_values());
                        }
                        _ => return false,
                    }
                    true
                });
            }
            _ => return false,
        }
        true
    });
    Decoded {
        config,
        errors: d.errors,
    }
}

/// A list as a map keyed by zero-padded index (so key order is list order); a KV-style
/// numbered map is kept as it is.
fn as_numbered_map(node: &Node) -> Node {
    match node {
        Node::List(items) => Node::Map(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{i:04}"), item.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Merges the configurations of several sources (the files of a directory) as Traefik's file
/// provider does: an object defined identically in several sources is kept once; defined with
/// different content, it is dropped, with an error naming every source that defines it.
pub fn merge_all(parts: Vec<(String, Decoded)>) -> Decoded {
    let mut merged = Decoded::default();
    let mut http = Vec::new();
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    let mut tls = Vec::new();
    for (origin, part) in parts {
        merged.errors.extend(part.errors);
        let config = part.config;
        http.extend(config.http.map(|c| (origin.clone(), c)));
        tcp.extend(config.tcp.map(|c| (origin.clone(), c)));
        udp.extend(config.udp.map(|c| (origin.clone(), c)));
        tls.extend(config.tls.map(|c| (origin.clone(), c)));
    }
    let errors = &mut merged.errors;
    if !http.is_empty() {
        merged.config.http = Some(HttpConfiguration {
            routers: merge_named(&mut http, |c| &mut c.routers, "http/routers", errors),
            services: merge_named(&mut http, |c| &mut c.services, "http/services", errors),
            middlewares: merge_named(
                &mut http,
                |c| &mut c.middlewares,
                "http/middlewares",
                errors,
            ),
            servers_transports: merge_named(
                &mut http,
                |c| &mut c.servers_transports,
                "http/serversTransports",
                errors,
            ),
        });
    }
    if !tcp.is_empty() {
        merged.config.tcp = Some(TcpConfiguration {
            routers: merge_named(&mut tcp, |c| &mut c.routers, "tcp/routers", errors),
            services: merge_named(&mut tcp, |c| &mut c.services, "tcp/services", errors),
            middlewares: merge_named(&mut tcp, |c| &mut c.middlewares, "tcp/middlewares", errors),
            servers_transports: merge_named(
                &mut tcp,
                |c| &mut c.servers_transports,
                "tcp/serversTransports",
                errors,
            ),
        });
    }
    if !udp.is_empty() {
        merged.config.udp = Some(UdpConfiguration {
            routers: merge_named(&mut udp, |c| &mut c.routers, "udp/routers", errors),
            services: merge_named(&mut udp, |c| &mut c.services, "udp/services", errors),
        });
    }
    if !tls.is_empty() {
        let mut certificates = Vec::new();
        for (_, part) in &mut tls {
            for certificate in std::mem::take(&mut part.certificates) {
                if !certificates.contains(&certificate) {
                    certificates.push(certificate);
                }
            }
        }
        merged.config.tls = Some(TlsConfiguration {
            certificates,
            options: merge_named(&mut tls, |c| &mut c.options, "tls/options", errors),
            stores: merge_named(&mut tls, |c| &mut c.stores, "tls/stores", errors),
        });
    }
    merged
}

/// Merges one named section across sources; see [`merge_all`].
fn merge_named<C, T: PartialEq>(
    parts: &mut [(String, C)],
    section: fn(&mut C) -> &mut BTreeMap<String, T>,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, T> {
    let mut definitions: BTreeMap<String, Vec<(String, T)>> = BTreeMap::new();
    for (origin, part) in parts.iter_mut() {
        for (name, object) in std::mem::take(section(part)) {
            definitions
                .entry(name)
                .or_default()
                .push((origin.clone(), object));
        }
    }
    let mut merged = BTreeMap::new();
    for (name, mut found) in definitions {
        if found.iter().all(|(_, object)| *object == found[0].1) {
            merged.insert(name, found.swap_remove(0).1);
        } else {
            let origins: Vec<&str> = found.iter().map(|(origin, _)| origin.as_str()).collect();
            errors.push(ConfigError {
                origin: origins.join(", "),
                key: format!("{key}/{name}"),
                message:
                    "defined with different content in several files; every definition is ignored"
                        .into(),
            });
        }
    }
    merged
}

/// Moves every object of `from` into `into` (objects of the same name are replaced).
pub fn absorb(into: &mut Configuration, from: Configuration) {
    let Configuration {
        http,
        tcp,
        udp,
        tls,
    } = from;
    if let Some(http) = http {
        let target = into.http.get_or_insert_with(Default::default);
        target.routers.extend(http.routers);
        target.services.extend(http.services);
        target.middlewares.extend(http.middlewares);
        target.servers_transports.extend(http.servers_transports);
    }
    if let Some(tcp) = tcp {
        let target = into.tcp.get_or_insert_with(Default::default);
        target.routers.extend(tcp.routers);
        target.services.extend(tcp.services);
        target.middlewares.extend(tcp.middlewares);
        target.servers_transports.extend(tcp.servers_transports);
    }
    if let Some(udp) = udp {
        let target = into.udp.get_or_insert_with(Default::default);
        target.routers.extend(udp.routers);
        target.services.extend(udp.services);
    }
    if let Some(tls) = tls {
        let target = into.tls.get_or_insert_with(Default::default);
        target.certificates.extend(tls.certificates);
        target.options.extend(tls.options);
        target.stores.extend(tls.stores);
    }
}

/// For every object rejected in `next` that `previous` (the same source's last applied
/// configuration) had, keeps the previous version, so a broken edit never takes down what was
/// working; the error says so. An object that is simply gone from `next` stays gone.
pub fn keep_last_good(previous: &Configuration, next: &mut Decoded) {
    for error in &mut next.errors {
        if restore(previous, &mut next.config, &error.key) {
            error
                .message
                .push_str("; its last good version stays in service");
        }
    }
}

/// Copies the object that `key` points into from `previous` to `next` when `next` lacks it.
fn restore(previous: &Configuration, next: &mut Configuration, key: &str) -> bool {
    macro_rules! sections {
        ($($scope:ident . $field:ident => $prefix:literal),* $(,)?) => {$(
            if let Some(old) = previous.$scope.as_ref() {
                if let Some((name, object)) = restorable(&old.$field, next.$scope.as_ref().map(|s| &s.$field), $prefix, key) {
                    next.$scope.get_or_insert_with(Default::default).$field.insert(name.clone(), object.clone());
                    return true;
                }
            }
        )*};
    }
    sections!(
        http.routers => "http/routers",
        http.services => "http/services",
        http.middlewares => "http/middlewares",
        http.servers_transports => "http/serversTransports",
        tcp.routers => "tcp/routers",
        tcp.services => "tcp/services",
        tcp.middlewares => "tcp/middlewares",
        tcp.servers_transports => "tcp/serversTransports",
        udp.routers => "udp/routers",
        udp.services => "udp/services",
        tls.options => "tls/options",
        tls.stores => "tls/stores",
    );
    false
}

/// The previous object `key` points into (`<prefix>/<name>[/...]`), when `next` lacks it.
fn restorable<'a, T>(
    previous: &'a BTreeMap<String, T>,
    next: Option<&BTreeMap<String, T>>,
    prefix: &str,
    key: &str,
) -> Option<(&'a String, &'a T)> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    previous
        .iter()
        .find(|(name, _)| {
            rest == name.as_str()
                || rest
                    .strip_prefix(name.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .filter(|(name, _)| !next.is_some_and(|next| next.contains_key(*name)))
}

#[cfg(test)]
mod tests;
