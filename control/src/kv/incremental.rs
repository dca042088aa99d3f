//! Decoding successive Consul listings of a large configuration in time proportional to what
//! changed: keys are grouped by object (`http/routers/<name>`), and an object whose keys and
//! their ModifyIndex are the same as in the previous listing is not decoded again.

use super::decode_pairs;
use crate::consul::KvPair;
use crate::dynamic::Configuration;
use crate::dynamic_decode::{absorb, ConfigError, Decoded};
use std::borrow::Cow;
use std::collections::HashMap;

/// One object's keys as last seen, and what they decoded to.
struct CachedObject {
    /// Fingerprint of the object's keys and their ModifyIndex, in listing order.
    fingerprint: u64,
    /// The listing it was last seen in.
    round: u64,
    decoded: Decoded,
}

/// Decodes listings of `root`, reusing the objects that did not change since the last one.
pub struct IncrementalDecoder {
    root: String,
    origin: String,
    objects: HashMap<String, CachedObject>,
    /// The configuration of every cached object, updated in place.
    config: Configuration,
    round: u64,
}

impl IncrementalDecoder {
    /// A decoder for the keys under `root`; `origin` names the source in errors.
    pub fn new(root: &str, origin: &str) -> Self {
        Self {
            root: root.trim_matches('/').to_string(),
            origin: origin.to_string(),
            objects: HashMap::new(),
            config: Configuration::default(),
            round: 0,
        }
    }

    /// Decodes a full listing of the root (in Consul's key order); returns the configuration
    /// and how many objects had to be decoded (the others came from the previous listing).
    pub fn decode(&mut self, pairs: &[KvPair]) -> (Decoded, usize) {
        self.round += 1;
        let prefix = format!("{}/", self.root);
        // An object's keys, in listing order; a name spelled in several cases (`B/rule`,
        // `b/service`) is one object, wherever Consul's byte order puts its keys.
        let mut objects: HashMap<Cow<str>, Vec<&KvPair>> = HashMap::new();
        for pair in pairs {
            if let Some(relative) = super::config_relative(&prefix, &pair.key) {
                objects.entry(object_of(relative)).or_default().push(pair);
            }
        }
        let mut decoded_now = 0;
        let round = self.round;
        for (object, keys) in objects {
            let fingerprint = KvPair::fingerprint(keys.iter().copied());
            match self.objects.get_mut(object.as_ref()) {
                Some(cached) if cached.fingerprint == fingerprint => cached.round = round,
                _ => {
                    decoded_now += 1;
                    self.replace(object.into_owned(), &keys, fingerprint);
                }
            }
        }
        let config = &mut self.config;
        self.objects.retain(|_, cached| {
            let seen = cached.round == round;
            if !seen {
                remove_objects(config, &cached.decoded.config);
            }
            seen
        });
        let mut errors: Vec<ConfigError> = self
            .objects
            .values()
            .flat_map(|c| c.decoded.errors.iter().cloned())
            .collect();
        errors.sort_by(|a, b| a.key.cmp(&b.key));
        let mut config = self.config.clone();
        drop_empty_sections(&mut config);
        (Decoded { config, errors }, decoded_now)
    }

    /// Decodes one object's keys and puts it in place of its previous version.
    fn replace(&mut self, object: String, keys: &[&KvPair], fingerprint: u64) {
        if let Some(stale) = self.objects.remove(&object) {
            remove_objects(&mut self.config, &stale.decoded.config);
        }
        let decoded = decode_pairs(&self.root, &self.origin, keys.iter().copied());
        absorb(&mut self.config, decoded.config.clone());
        self.objects.insert(
            object,
            CachedObject {
                fingerprint,
                round: self.round,
                decoded,
            },
        );
    }
}

/// Removes from `config` the objects `of` defines.
fn remove_objects(config: &mut Configuration, of: &Configuration) {
    macro_rules! sections {
        ($($scope:ident . $field:ident),* $(,)?) => {$(
            if let (Some(target), Some(source)) = (config.$scope.as_mut(), of.$scope.as_ref()) {
                for name in source.$field.keys() {
                    target.$field.remove(name);
                }
            }
        )*};
    }
    sections!(
        http.routers,
        http.services,
        http.middlewares,
        http.servers_transports,
        tcp.routers,
        tcp.services,
        tcp.middlewares,
        tcp.servers_transports,
        udp.routers,
        udp.services,
        tls.options,
        tls.stores,
    );
    if let (Some(target), Some(source)) = (config.tls.as_mut(), of.tls.as_ref()) {
        target
            .certificates
            .retain(|c| !source.certificates.contains(c));
    }
}

/// A full decode has no section that the listing does not mention; the in-place
/// configuration may keep emptied ones.
fn drop_empty_sections(config: &mut Configuration) {
    if config.http.as_ref().is_some_and(|h| {
        h.routers.is_empty()
            && h.services.is_empty()
            && h.middlewares.is_empty()
            && h.servers_transports.is_empty()
    }) {
        config.http = None;
    }
    if config.tcp.as_ref().is_some_and(|t| {
        t.routers.is_empty()
            && t.services.is_empty()
            && t.middlewares.is_empty()
            && t.servers_transports.is_empty()
    }) {
        config.tcp = None;
    }
    if config
        .udp
        .as_ref()
        .is_some_and(|u| u.routers.is_empty() && u.services.is_empty())
    {
        config.udp = None;
    }
    if config
        .tls
        .as_ref()
        .is_some_and(|t| t.certificates.is_empty() && t.options.is_empty() && t.stores.is_empty())
    {
        config.tls = None;
    }
}

/// The object a key belongs to: its first three segments, lowercased (names merge ignoring
/// case), e.g. `http/routers/api` for `http/routers/API/rule`.
fn object_of(relative: &str) -> Cow<'_, str> {
    let end = relative
        .match_indices('/')
        .nth(2)
        .map_or(relative.len(), |(i, _)| i);
    let object = &relative[..end];
    if object.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(object.to_ascii_lowercase())
    } else {
        Cow::Borrowed(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(rule_b: (&str, u64), with_c: bool) -> Vec<KvPair> {
        let mut pairs = vec![
            KvPair::new("traefik/http/routers/a/rule", "Path(`/a`)", 1),
            KvPair::new("traefik/http/routers/a/service", "s", 1),
            KvPair::new("traefik/http/routers/B/rule", rule_b.0, rule_b.1),
            KvPair::new("traefik/http/routers/b/service", "s", 2),
            KvPair::new(
                "traefik/http/services/s/loadBalancer/servers/0/url",
                "http://x",
                3,
            ),
        ];
        if with_c {
            pairs.push(KvPair::new("traefik/http/routers/c/rule", "Path(`/c`)", 9));
        }
        // Consul lists keys in byte order: `B/rule` comes before `a/...`, apart from `b/service`.
        pairs.sort_by(|x, y| x.key.cmp(&y.key));
        pairs
    }

    #[test]
    fn only_changed_objects_are_decoded_and_the_result_equals_a_full_decode() {
        let mut decoder = IncrementalDecoder::new("traefik", "consul traefik/");
        let full = |pairs: &[KvPair]| decode_pairs("traefik", "consul traefik/", pairs);

        let first = listing(("Path(`/b`)", 2), false);
        let (decoded, count) = decoder.decode(&first);
        assert_eq!(count, 3, "everything is decoded the first time");
        assert_eq!(decoded, full(&first));
        assert_eq!(
            decoded.config.http.as_ref().unwrap().routers["B"]
                .service
                .as_deref(),
            Some("s"),
            "names merge ignoring case"
        );

        let (again, count) = decoder.decode(&first);
        assert_eq!(count, 0, "nothing changed");
        assert_eq!(again, decoded);

        let changed = listing(("Paht(`/b`)", 7), true);
        let (decoded, count) = decoder.decode(&changed);
        assert_eq!(count, 2, "router B and the new router c");
        let mut expected = full(&changed);
        expected.errors.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(decoded, expected);
        assert_eq!(
            decoded.errors.len(),
            1,
            "router B's bad rule: {:?}",
            decoded.errors
        );

        let removed = listing(("Path(`/b`)", 8), false);
        let (decoded, _) = decoder.decode(&removed);
        assert!(!decoded
            .config
            .http
            .as_ref()
            .unwrap()
            .routers
            .contains_key("c"));
        assert!(decoded.errors.is_empty());
    }
}
