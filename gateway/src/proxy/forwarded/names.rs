//! Header-name facts of the forwarded-header rules: managed, hop-by-hop and never-nominated
//! names, `Connection` tokens, and a one-word filter that rules out names a token list lacks.

/// Headers Traefik owns: removed from untrusted clients, never removed via `Connection`.
const MANAGED_HEADERS: [&str; 13] = [
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-prefix",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-scheme",
    "x-real-ip",
];

/// Hop-by-hop headers a proxy never forwards (Go's reverse proxy list).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers that frame the message or carry its authority: a `Connection` token naming one is
/// ignored, as it is in Go (which keeps them out of the header map), so `Connection:
/// content-length` can neither unframe a body nor `Connection: host` drop the host.
const NEVER_NOMINATED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// Case-insensitive comparison of a received name or token with a known one.
pub(super) fn is(name: &[u8], known: &str) -> bool {
    name.eq_ignore_ascii_case(known.as_bytes())
}

/// True for a header Traefik manages, including `X_Forwarded_For`-style spellings.
pub(super) fn is_managed(name: &[u8]) -> bool {
    // Every managed name starts with `x`: most headers are ruled out on one byte.
    if !name.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'x')) {
        return false;
    }
    MANAGED_HEADERS.iter().any(|managed| {
        managed.len() == name.len()
            && managed
                .bytes()
                .zip(name.iter())
                .all(|(m, &n)| m == n.to_ascii_lowercase() || (m == b'-' && n == b'_'))
    })
}

/// True for one of the standard hop-by-hop headers.
pub(super) fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP.iter().any(|hop| is(name, hop))
}

/// True for a header a `Connection` token can never remove.
pub(super) fn is_never_nominated(name: &[u8]) -> bool {
    NEVER_NOMINATED.iter().any(|never| is(name, never))
}

/// The comma-separated tokens of one header value, trimmed, empty ones skipped.
pub(super) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// Whether some value's token list holds `token` (any case).
pub(super) fn values_name<'a>(mut values: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> bool {
    values.any(|value| tokens(value).any(|t| t.eq_ignore_ascii_case(token)))
}

/// Whether `name` is a valid header name (RFC 9110 token), as `http::HeaderName` accepts.
pub(super) fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A summary of a set of header names in one word: a name the set holds always passes
/// [`NameFilter::may_hold`], most others do not, so the exact look-up behind it (a scan of the
/// `Connection` tokens) is skipped for almost every header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NameFilter(u64);

impl NameFilter {
    /// Adds `name` to the set.
    pub(super) fn insert(&mut self, name: &[u8]) {
        self.0 |= Self::bit(name);
    }

    /// False only when the set certainly lacks `name`.
    pub(super) fn may_hold(self, name: &[u8]) -> bool {
        self.0 & Self::bit(name) != 0
    }

    /// Whether nothing was added.
    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn bit(name: &[u8]) -> u64 {
        let first = name.first().map_or(0, u8::to_ascii_lowercase) as usize;
        let last = name.last().map_or(0, u8::to_ascii_lowercase) as usize;
        1 << ((name.len().wrapping_mul(7) ^ first.wrapping_mul(31) ^ last.wrapping_mul(13)) % 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_classes() {
        assert!(is_managed(b"X_Forwarded_For"));
        assert!(is_managed(b"x-real-ip"));
        assert!(!is_managed(b"x-forwarded"));
        assert!(is_hop_by_hop(b"Keep-Alive"));
        assert!(!is_hop_by_hop(b"Trailers"));
        assert!(is_never_nominated(b"HOST"));
        assert!(is_token(b"X_a.b~"));
        assert!(!is_token(b"x y"));
        assert!(!is_token(b""));
    }

    #[test]
    fn tokens_are_trimmed_and_split() {
        let found: Vec<&[u8]> = tokens(b" a ,,\tB\t, ").collect();
        assert_eq!(found, [&b"a"[..], b"B"]);
        assert!(values_name([&b"x, Upgrade"[..]].into_iter(), b"upgrade"));
        assert!(!values_name([&b"upgrades"[..]].into_iter(), b"upgrade"));
    }

    #[test]
    fn filters_hold_what_was_added() {
        let mut filter = NameFilter::default();
        assert!(filter.is_empty());
        for name in ["close", "X-Trace", "a"] {
            filter.insert(name.as_bytes());
        }
        for name in ["CLOSE", "x-trace", "A"] {
            assert!(filter.may_hold(name.as_bytes()), "{name}");
        }
        assert!(!filter.is_empty());
    }
}
