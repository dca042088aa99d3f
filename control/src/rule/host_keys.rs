//! Host-index keys: which hosts a rule can possibly match (the host part of its index keys).

use super::index_keys::{Field, IndexKey};

/// A host (or family of hosts) a rule can match; see [`super::Rule::host_keys`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostKey {
    /// Exactly this host: lowercase, without a trailing dot (as [`super::normalize_host`]
    /// produces it).
    Exact(String),
    /// From ``Host(`*.example.com`)``, stored as the suffix `example.com`: any host made of
    /// one label without dots (Traefik also accepts an empty one), a dot, then the suffix.
    Wildcard(String),
}

impl HostKey {
    /// Whether `host` (normalized) is admitted by this key.
    pub fn admits(&self, host: &str) -> bool {
        match self {
            HostKey::Exact(exact) => host == exact,
            HostKey::Wildcard(suffix) => wildcard_admits(suffix, host),
        }
    }
}

/// Whether `host` is one label without dots (possibly empty), a dot, then `suffix`.
pub(crate) fn wildcard_admits(suffix: &str, host: &str) -> bool {
    host.strip_suffix(suffix)
        .and_then(|front| front.strip_suffix('.'))
        .is_some_and(|label| !label.contains('.'))
}

/// The host keys of a rule whose index keys are all exact hosts or host wildcards.
pub(crate) fn of_index_keys(keys: Option<&[IndexKey]>) -> Option<Vec<HostKey>> {
    keys?
        .iter()
        .map(|key| match key {
            IndexKey::Exact(Field::Host, host) => Some(HostKey::Exact(host.to_string())),
            IndexKey::HostWildcard(suffix) => Some(HostKey::Wildcard(suffix.to_string())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits() {
        let exact = HostKey::Exact("example.com".into());
        assert!(exact.admits("example.com"));
        assert!(!exact.admits("a.example.com"));
        let wildcard = HostKey::Wildcard("example.com".into());
        assert!(wildcard.admits("a.example.com"));
        assert!(wildcard.admits(".example.com"));
        assert!(!wildcard.admits("example.com"));
        assert!(!wildcard.admits("a.b.example.com"));
        assert!(!wildcard.admits("aexample.com"));
    }
}
