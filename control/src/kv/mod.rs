//! Traefik's configuration as Consul KV keys: the tree a key listing decodes into, and the
//! keys a configuration is written as (`traefik/http/routers/api/rule = Host(...)`).

mod incremental;

pub use incremental::IncrementalDecoder;

use crate::consul::KvPair;
use crate::decode::Node;
use crate::dynamic::Configuration;
use crate::dynamic_decode::{decode_dynamic, ConfigError, Decoded};
use std::collections::{BTreeMap, HashMap};

/// The sections of the root key Traefik reads; everything else under the root is ignored.
const SECTIONS: [&str; 4] = ["http", "tcp", "udp", "tls"];

/// Whether `relative` (a key below the root) belongs to a configuration section.
fn is_config_key(relative: &str) -> bool {
    let first = relative.split('/').next().unwrap_or("");
    SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(first))
}

/// The part of `key` below `prefix` (`<root>/`) when it is a configuration key: in a section
/// Traefik reads, and not a folder marker (ending in `/`).
pub fn config_relative<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(prefix)
        .filter(|relative| !relative.ends_with('/') && is_config_key(relative))
}

/// Builds the configuration tree from `(key, value)` pairs (full keys, raw values).
///
/// As Traefik: only keys under `<root>/http|tcp|udp|tls` count; names merge ignoring case;
/// numbered children are list items (ordered later, by key); a key that has children is an
/// object even if it also has a value (`tls = true` and `tls/options = x`). Folder markers
/// (keys ending in `/`) are skipped. A value that is not UTF-8 is an error for its key
/// (relative to the root, from `origin`).
pub fn tree_from_pairs<'a>(
    root: &str,
    origin: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> (Node, Vec<ConfigError>) {
    let prefix = format!("{}/", root.trim_matches('/'));
    let mut tree = Builder::default();
    let mut errors = Vec::new();
    for (key, value) in pairs {
        let Some(relative) = config_relative(&prefix, key) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(value) else {
            errors.push(ConfigError {
                origin: origin.to_string(),
                key: relative.to_string(),
                message: "the value is not UTF-8 text".into(),
            });
            continue;
        };
        tree.insert(relative.split('/').filter(|s| !s.is_empty()), text);
    }
    (tree.into_node(), errors)
}

/// Decodes Consul keys (full keys and raw values, under `root`) into a configuration, with the
/// errors of every object left out, UTF-8 errors included. `origin` names the source in errors.
pub fn decode_pairs<'a>(
    root: &str,
    origin: &str,
    pairs: impl IntoIterator<Item = &'a KvPair>,
) -> Decoded {
    let values = pairs.into_iter().map(|p| (p.key.as_str(), p.bytes()));
    let (tree, utf8_errors) = tree_from_pairs(root, origin, values);
    let mut decoded = decode_dynamic(&tree, origin);
    decoded.errors.extend(utf8_errors);
    decoded
}

/// A tree under construction, with an index of each map's names (lowercased) so that a
/// listing of many keys is built in linear time.
#[derive(Default)]
struct Builder {
    value: Option<String>,
    children: Vec<(String, Builder)>,
    index: HashMap<String, usize>,
}

impl Builder {
    /// Sets `value` at `path`; names match ignoring case; a node with children is a map
    /// whatever value it also has.
    fn insert<'a>(&mut self, mut path: impl Iterator<Item = &'a str>, value: &str) {
        let Some(name) = path.next() else {
            self.value = Some(value.to_string());
            return;
        };
        let slot = match self.index.get(&name.to_ascii_lowercase()) {
            Some(&slot) => slot,
            None => {
                self.index
                    .insert(name.to_ascii_lowercase(), self.children.len());
                self.children.push((name.to_string(), Builder::default()));
                self.children.len() - 1
            }
        };
        self.children[slot].1.insert(path, value);
    }

    fn into_node(self) -> Node {
        if self.children.is_empty() {
            return self.value.map_or(Node::Null, Node::Scalar);
        }
        Node::Map(
            self.children
                .into_iter()
                .map(|(name, child)| (name, child.into_node()))
                .collect(),
        )
    }
}

/// The keys (relative to `root`, which is prefixed) and values a configuration is written as.
///
/// Lists become numbered children, zero-padded to one width so that the lexicographic order
/// Traefik reads them in is the list's order; an empty object becomes `true` (which creates
/// it, "allowEmpty"); empty lists and unset fields write nothing.
pub fn pairs_from_config(
    root: &str,
    config: &Configuration,
) -> Result<BTreeMap<String, String>, String> {
    let value = serde_json::to_value(config)
        .map_err(|e| format!("cannot serialize the configuration: {e}"))?;
    let mut pairs = BTreeMap::new();
    flatten(root.trim_matches('/'), &value, &mut pairs)?;
    Ok(pairs)
}

fn flatten(
    path: &str,
    value: &serde_json::Value,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            out.insert(path.to_string(), b.to_string());
        }
        Value::Number(n) => {
            out.insert(path.to_string(), n.to_string());
        }
        Value::String(s) => {
            out.insert(path.to_string(), s.clone());
        }
        Value::Array(items) => {
            let width = items.len().saturating_sub(1).to_string().len();
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{path}/{index:0width$}"), item, out)?;
            }
        }
        Value::Object(map) if map.is_empty() => {
            out.insert(path.to_string(), "true".into());
        }
        Value::Object(map) => {
            for (name, child) in map {
                if name.is_empty() || name.contains('/') {
                    return Err(format!(
                        "{path}: the name {name:?} cannot be a Consul key segment"
                    ));
                }
                flatten(&format!("{path}/{name}"), child, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::from_yaml_str;
    use crate::dynamic_decode::decode_dynamic;

    fn decode_text_pairs(pairs: &[(&str, &str)]) -> crate::dynamic_decode::Decoded {
        let (tree, errors) = tree_from_pairs(
            "traefik",
            "consul traefik/",
            pairs.iter().map(|(k, v)| (*k, v.as_bytes())),
        );
        assert!(errors.is_empty(), "{errors:?}");
        decode_dynamic(&tree, "consul")
    }

    #[test]
    fn keys_decode_as_traefik_reads_them() {
        let decoded = decode_text_pairs(&[
            ("traefik/http/routers/api/rule", "Host(`a`)"),
            ("traefik/http/routers/api/service", "svc"),
            ("traefik/http/routers/api/entryPoints", "web,websecure"),
            ("traefik/http/routers/api/tls", "true"),
            ("traefik/http/routers/api/middlewares/10", "m10"),
            ("traefik/http/routers/api/middlewares/2", "m2"),
            ("traefik/HTTP/Routers/api/PRIORITY", "7"),
            (
                "traefik/http/services/svc/loadBalancer/servers/0/url",
                "http://a",
            ),
            (
                "traefik/http/services/svc/loadBalancer/servers/1/url",
                "http://b",
            ),
            (
                "traefik/http/services/svc/loadBalancer/servers/1/weight",
                "3",
            ),
            (
                "traefik/http/middlewares/h/headers/customRequestHeaders/X-Foo",
                "bar",
            ),
            ("traefik/http/middlewares/c/compress", ""),
            ("traefik/other/ignored", "x"),
            ("traefik/http/", ""),
            ("elsewhere/http/routers/x/rule", "Path(`/`)"),
        ]);
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        let http = decoded.config.http.unwrap();
        let api = &http.routers["api"];
        assert_eq!(api.entry_points, ["web", "websecure"]);
        assert_eq!(
            api.middlewares,
            ["m10", "m2"],
            "lexicographic key order: /10 before /2"
        );
        assert_eq!(api.priority, Some(7), "names merge ignoring case");
        assert!(api.tls.is_some());
        let servers = &http.services["svc"].load_balancer.as_ref().unwrap().servers;
        assert_eq!(servers[1].weight, Some(3));
        assert_eq!(
            http.middlewares["h"]
                .headers
                .as_ref()
                .unwrap()
                .custom_request_headers["X-Foo"],
            "bar",
            "map keys keep their case"
        );
        assert!(http.middlewares["c"].compress.is_some(), "allowEmpty");
        assert_eq!(http.routers.len(), 1);
    }

    #[test]
    fn a_key_with_children_is_an_object() {
        for order in [
            [
                ("traefik/http/routers/r/tls", "true"),
                ("traefik/http/routers/r/tls/options", "strict"),
            ],
            [
                ("traefik/http/routers/r/tls/options", "strict"),
                ("traefik/http/routers/r/tls", "true"),
            ],
        ] {
            let mut pairs = order.to_vec();
            pairs.push(("traefik/http/routers/r/rule", "Path(`/`)"));
            let decoded = decode_text_pairs(&pairs);
            let router = &decoded.config.http.unwrap().routers["r"];
            assert_eq!(
                router.tls.as_ref().unwrap().options.as_deref(),
                Some("strict"),
                "{order:?}"
            );
        }
    }

    #[test]
    fn non_utf8_values_are_named() {
        let pairs: [(&str, &[u8]); 1] = [("traefik/http/routers/r/rule", &[0xff, 0xfe])];
        let (_, errors) = tree_from_pairs("traefik", "consul traefik/", pairs);
        assert_eq!(
            errors[0].to_string(),
            "consul traefik/http/routers/r/rule: the value is not UTF-8 text"
        );
    }

    #[test]
    fn configurations_round_trip_through_keys() {
        let yaml = "http:\n  routers:\n    r:\n      rule: Path(`/`)\n      service: s\n      middlewares: [a, b, c, d, e, f, g, h, i, j, k, l]\n      tls: {}\n  services:\n    s:\n      loadBalancer:\n        passHostHeader: false\n        servers:\n          - url: http://a\n            weight: 2\n  middlewares:\n    a:\n      headers:\n        customRequestHeaders: {X-Foo: bar}\n  serversTransports:\n    t:\n      forwardingTimeouts: {dialTimeout: 1m30s}\n";
        let original = decode_dynamic(&from_yaml_str(yaml).unwrap(), "f").config;
        let pairs = pairs_from_config("traefik", &original).unwrap();
        assert_eq!(pairs["traefik/http/routers/r/middlewares/00"], "a");
        assert_eq!(pairs["traefik/http/routers/r/middlewares/11"], "l");
        assert_eq!(pairs["traefik/http/routers/r/tls"], "true");
        assert_eq!(
            pairs["traefik/http/serversTransports/t/forwardingTimeouts/dialTimeout"],
            "1m30s"
        );
        let decoded = decode_text_pairs(
            &pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        assert_eq!(decoded.config, original);
    }
}
