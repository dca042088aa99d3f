//! Host-index keys: which hosts a rule can possibly match.

use super::expr::Expr;
use super::matcher::Matcher;

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
            HostKey::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|label| !label.contains('.')),
        }
    }
}

/// Keys of one matcher; `None` when it may match any host.
fn of_matcher(matcher: &Matcher) -> Option<Vec<HostKey>> {
    match matcher {
        Matcher::Host(host) => Some(vec![HostKey::Exact(host.clone())]),
        Matcher::HostWildcard(rest) => {
            if rest.is_empty() {
                // `*.` matches any single-label host: not expressible as a key.
                None
            } else if let Some(suffix) = rest.strip_prefix('.') {
                Some(vec![HostKey::Wildcard(suffix.to_owned())])
            } else {
                // `*foo.com`: the first label can only be replaced by `*` before a dot,
                // so this pattern never matches anything.
                Some(Vec::new())
            }
        }
        _ => None,
    }
}

/// Keys of an expression: `&&` takes the smallest constrained operand, `||` the union when
/// every operand is constrained, `!` gives up.
pub(crate) fn of_expr(expr: &Expr) -> Option<Vec<HostKey>> {
    match expr {
        Expr::Leaf(matcher) => of_matcher(matcher),
        Expr::Not(_) => None,
        Expr::And(operands) => operands.iter().filter_map(of_expr).min_by_key(Vec::len),
        Expr::Or(operands) => {
            let mut keys: Vec<HostKey> = Vec::new();
            for operand in operands {
                for key in of_expr(operand)? {
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
            Some(keys)
        }
    }
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
