//! Router-index keys: conditions on the host and path that a request must meet for a rule
//! to match it, so that the gateway tries only the routers whose conditions a request meets.

use std::collections::HashSet;
use std::sync::Arc;

use super::expr::Expr;
use super::host_keys;
use super::literals;
use super::matcher::Matcher;

/// The part of the request an [`IndexKey`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// [`super::RequestView::host`] (normalized: no ASCII uppercase).
    Host,
    /// [`super::RequestView::path`].
    Path,
}

/// A condition a request must meet for a rule to match; see [`super::Rule::index_keys`].
///
/// Texts are reference counted: the gateway files every route under each of its keys again
/// on every reload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    /// The field is exactly this text (a host: lowercase, without a trailing dot).
    Exact(Field, Arc<str>),
    /// From ``Host(`*.example.com`)``, stored as `example.com`: the host is one label
    /// without dots (Traefik also accepts an empty one), a dot, then this suffix.
    HostWildcard(Arc<str>),
    /// The field starts with these bytes.
    Prefix(Field, Arc<[u8]>),
    /// The field ends with these bytes.
    Suffix(Field, Arc<[u8]>),
    /// The field contains these bytes.
    Contains(Field, Arc<[u8]>),
    /// The field matches this regular expression (in the `regex` crate's syntax, translated
    /// from Go's): a `HostRegexp` or `PathRegexp` that requires no literal text.
    Regex(Field, Arc<str>),
}

impl IndexKey {
    /// Whether a request with this (normalized) host and path meets the condition.
    ///
    /// The gateway evaluates keys in bulk (hash lookups, one substring automaton, regex
    /// sets); this is the reference they must agree with. A [`IndexKey::Regex`] is compiled
    /// on every call.
    pub fn admits(&self, host: &str, path: &str) -> bool {
        let field = |field: &Field| match field {
            Field::Host => host.as_bytes(),
            Field::Path => path.as_bytes(),
        };
        match self {
            IndexKey::Exact(f, text) => field(f) == text.as_bytes(),
            IndexKey::HostWildcard(suffix) => host_keys::wildcard_admits(suffix, host),
            IndexKey::Prefix(f, bytes) => field(f).starts_with(bytes),
            IndexKey::Suffix(f, bytes) => field(f).ends_with(bytes),
            IndexKey::Contains(f, bytes) => {
                bytes.is_empty() || field(f).windows(bytes.len()).any(|w| w == &bytes[..])
            }
            IndexKey::Regex(f, pattern) => {
                let text = match f {
                    Field::Host => host,
                    Field::Path => path,
                };
                regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
            }
        }
    }

    /// How little the key lets through, lower is better: exact texts and host wildcards (one
    /// lookup each), then prefixes and suffixes, substrings, regexps, and last one-byte
    /// literals (such as ``PathPrefix(`/`)``, which every path meets).
    fn tier(&self) -> u8 {
        let literal = |bytes: &[u8], tier| if bytes.len() > 1 { tier } else { 4 };
        match self {
            IndexKey::Exact(..) | IndexKey::HostWildcard(_) => 0,
            IndexKey::Prefix(_, bytes) | IndexKey::Suffix(_, bytes) => literal(bytes, 1),
            IndexKey::Contains(_, bytes) => literal(bytes, 2),
            IndexKey::Regex(..) => 3,
        }
    }

    /// The field the key looks at.
    fn field(&self) -> Field {
        match self {
            IndexKey::HostWildcard(_) => Field::Host,
            IndexKey::Exact(f, _)
            | IndexKey::Prefix(f, _)
            | IndexKey::Suffix(f, _)
            | IndexKey::Contains(f, _)
            | IndexKey::Regex(f, _) => *f,
        }
    }
}

/// Keys of one matcher; `None` when it constrains neither host nor path.
fn of_matcher(matcher: &Matcher) -> Option<Vec<IndexKey>> {
    match matcher {
        Matcher::Host(host) => Some(vec![IndexKey::Exact(Field::Host, host.as_str().into())]),
        Matcher::HostWildcard(rest) => {
            if rest.is_empty() {
                // `*.` matches any single-label host: not expressible as a key.
                None
            } else if let Some(suffix) = rest.strip_prefix('.') {
                Some(vec![IndexKey::HostWildcard(suffix.into())])
            } else {
                // `*foo.com`: the first label can only be replaced by `*` before a dot,
                // so this pattern never matches anything.
                Some(Vec::new())
            }
        }
        Matcher::HostRegexp(regex) => Some(literals::keys(regex.as_str(), Field::Host)),
        Matcher::Path(path) => Some(vec![IndexKey::Exact(Field::Path, path.as_str().into())]),
        Matcher::PathPrefix(prefix) => Some(vec![IndexKey::Prefix(
            Field::Path,
            prefix.as_bytes().into(),
        )]),
        Matcher::PathRegexp(regex) => Some(literals::keys(regex.as_str(), Field::Path)),
        _ => None,
    }
}

/// Keys of an expression (a disjunction: a matching request meets at least one). `&&` takes
/// the most selective constrained operand, `||` the union when every operand is
/// constrained, `!` gives up.
pub(crate) fn of_expr(expr: &Expr) -> Option<Vec<IndexKey>> {
    match expr {
        Expr::Leaf(matcher) => of_matcher(matcher),
        Expr::Not(_) => None,
        Expr::And(operands) => {
            // Analysing a regexp costs a sixth of compiling it: operands with one come last,
            // and are skipped once another operand gives exact hosts (which they could only
            // match, not beat by much).
            let (plain, with_regexp): (Vec<&Expr>, Vec<&Expr>) = operands
                .iter()
                .partition(|operand| !mentions_regexp(operand));
            let mut best = plain
                .into_iter()
                .filter_map(of_expr)
                .min_by_key(|k| selectivity(k));
            for operand in with_regexp {
                if best.as_ref().is_some_and(|keys| exact_hosts(keys)) {
                    break;
                }
                if let Some(keys) = of_expr(operand) {
                    if best
                        .as_ref()
                        .is_none_or(|b| selectivity(&keys) < selectivity(b))
                    {
                        best = Some(keys);
                    }
                }
            }
            best
        }
        Expr::Or(operands) => {
            let mut keys: Vec<IndexKey> = Vec::new();
            let mut seen = HashSet::new();
            for operand in operands {
                for key in of_expr(operand)? {
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
            }
            Some(keys)
        }
    }
}

/// Whether a `HostRegexp` or `PathRegexp` would be analysed for the keys of `expr`.
fn mentions_regexp(expr: &Expr) -> bool {
    match expr {
        Expr::Leaf(matcher) => matches!(matcher, Matcher::HostRegexp(_) | Matcher::PathRegexp(_)),
        Expr::Not(_) => false,
        Expr::And(operands) | Expr::Or(operands) => operands.iter().any(mentions_regexp),
    }
}

/// Whether every key is an exact host or a host wildcard.
fn exact_hosts(keys: &[IndexKey]) -> bool {
    keys.iter().all(|key| {
        matches!(
            key,
            IndexKey::Exact(Field::Host, _) | IndexKey::HostWildcard(_)
        )
    })
}

/// Orders alternative key sets, best first: by their weakest key, host keys before path
/// keys (hosts usually tell routers apart, paths are often shared), then fewer keys.
fn selectivity(keys: &[IndexKey]) -> (u8, bool, usize) {
    let weakest = keys.iter().map(IndexKey::tier).max().unwrap_or(0);
    let any_path = keys.iter().any(|key| key.field() == Field::Path);
    (weakest, any_path, keys.len())
}

#[cfg(test)]
mod tests;
