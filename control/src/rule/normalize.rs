//! Canonical request host and routing path, as Traefik computes them before matching.

use std::borrow::Cow;

/// Canonicalises a `Host` header value (or absolute-form authority) for matching.
///
/// Mirrors Traefik's request decorator (`parseHost` then `types.CanonicalDomain`): the port
/// is removed the way Go's `net.SplitHostPort` does it (`[v6]:port`, `[v6]`, `name:port`;
/// anything else with colons, such as a bare IPv6 address, is kept whole), surrounding
/// whitespace is trimmed and the result lowercased. One trailing dot is then removed, which
/// is how `Host` matchers ignore a trailing dot on the request side.
/// Borrows when the input is already in that form.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let host = strip_port(raw).trim();
    let host = host.strip_suffix('.').unwrap_or(host);
    let needs_lowercase = host.bytes().any(|b| b.is_ascii_uppercase())
        || (!host.is_ascii() && host.chars().any(char::is_uppercase));
    if needs_lowercase {
        Cow::Owned(host.to_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The host part of `host[:port]`, following Go's `net.SplitHostPort` and Traefik's
/// fallback of stripping brackets from `[v6]` or keeping the input whole on error.
fn strip_port(addr: &str) -> &str {
    if !addr.contains(':') {
        return addr;
    }
    if let Some(host) = split_host_port(addr) {
        return host;
    }
    if addr.len() >= 2 && addr.starts_with('[') && addr.ends_with(']') {
        return &addr[1..addr.len() - 1];
    }
    addr
}

/// Go's `net.SplitHostPort`, host part only; `None` where Go returns an error.
fn split_host_port(addr: &str) -> Option<&str> {
    let last_colon = addr.rfind(':')?;
    let (host, bracket_scan_from, close_scan_from) = if addr.starts_with('[') {
        let end = addr.find(']')?;
        if end + 1 != last_colon {
            return None;
        }
        (&addr[1..end], 1, end + 1)
    } else {
        let host = &addr[..last_colon];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if addr[bracket_scan_from..].contains('[') || addr[close_scan_from..].contains(']') {
        return None;
    }
    Some(host)
}

/// Characters that stay percent-encoded in the routing path: RFC 3986 reserved characters
/// plus `%` itself (Traefik's `reservedCharacters` in `pkg/muxer/http/mux.go`).
fn is_reserved(byte: u8) -> bool {
    matches!(
        byte,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%'
    )
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The byte encoded by `%XY` at `bytes[i]`, if `bytes[i..]` starts with a valid escape.
pub(crate) fn percent_byte(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let high = hex_value(*bytes.get(i + 1)?)?;
    let low = hex_value(*bytes.get(i + 2)?)?;
    Some(high << 4 | low)
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut Vec<u8>, byte: u8) {
    out.extend_from_slice(&[
        b'%',
        UPPER_HEX[usize::from(byte >> 4)],
        UPPER_HEX[usize::from(byte & 15)],
    ]);
}

/// The path that `Path`, `PathPrefix` and `PathRegexp` see.
///
/// Traefik first upper-cases every percent-escape of the raw path (entry point
/// `normalizePath`), then decodes every escape except those of reserved characters
/// (`: / ? # [ ] @ ! $ & ' ( ) * + , ; =` and `%`), which stay encoded (`withRoutingPath`).
/// So `/foo%20bar%2fbaz` becomes `/foo bar%2Fbaz`. Invalid escapes (`%` not followed by two
/// hex digits) are left as they are; Traefik answers those requests with 400 before routing
/// (the gateway's request path preparation does too). Decoded bytes that do not form valid UTF-8 are kept
/// percent-encoded (upper case), since a `&str` cannot hold them.
/// Borrows when the path has no escape to change.
pub fn normalize_path(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    let needs_work = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && match percent_byte(bytes, i) {
                Some(decoded) => {
                    !is_reserved(decoded) || bytes[i + 1..i + 3].iter().any(u8::is_ascii_lowercase)
                }
                None => false,
            }
    });
    if !needs_work {
        return Cow::Borrowed(raw);
    }

    // Decode into bytes; reserved escapes are copied in canonical (upper-case) form.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match percent_byte(bytes, i) {
            Some(byte) if is_reserved(byte) => {
                push_escaped(&mut decoded, byte);
                i += 3;
            }
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }

    match String::from_utf8(decoded) {
        Ok(path) => Cow::Owned(path),
        Err(err) => {
            let decoded = err.into_bytes();
            let mut out = Vec::with_capacity(decoded.len() + 8);
            for chunk in decoded.utf8_chunks() {
                out.extend_from_slice(chunk.valid().as_bytes());
                for &byte in chunk.invalid() {
                    push_escaped(&mut out, byte);
                }
            }
            Cow::Owned(String::from_utf8(out).expect("invalid bytes were re-encoded"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_normalization() {
        let cases = [
            ("example.com", "example.com"),
            ("EXAMPLE.Com", "example.com"),
            ("example.com:8080", "example.com"),
            ("example.com:", "example.com"),
            ("example.com.", "example.com"),
            ("Example.COM.:443", "example.com"),
            ("example.com..", "example.com."),
            ("[::1]:8080", "::1"),
            ("[::1]", "::1"),
            ("[FE80::1]", "fe80::1"),
            ("10::10", "10::10"),
            ("a:b:c", "a:b:c"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("  spaced.example  ", "spaced.example"),
            ("", ""),
            ("[::1]x", "[::1]x"),
            ("[::1]:80:90", "[::1]:80:90"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_host(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn host_normalization_borrows_when_already_normal() {
        assert!(matches!(normalize_host("example.com"), Cow::Borrowed(_)));
        assert!(matches!(normalize_host("example.com:80"), Cow::Borrowed(_)));
        assert!(matches!(normalize_host("Example.com"), Cow::Owned(_)));
    }

    #[test]
    fn path_normalization_matches_traefik() {
        let cases = [
            ("/foo%20bar", "/foo bar"),
            ("/foo%2Fbar", "/foo%2Fbar"),
            ("/foo%2fbar", "/foo%2Fbar"),
            ("/foo%20bar%2Fbaz%23qux", "/foo bar%2Fbaz%23qux"),
            ("/%41%62%7e", "/Ab~"),
            ("/caf%C3%A9", "/café"),
            ("/caf%c3%a9", "/café"),
            ("/%25", "/%25"),
            ("/%2520", "/%2520"),
            ("/%3a%3A%3f", "/%3A%3A%3F"),
            ("/%7Bpath:css%7D", "/{path:css}"),
            ("/bad%zz", "/bad%zz"),
            ("/trailing%", "/trailing%"),
            ("/trailing%2", "/trailing%2"),
            ("/%FF%41", "/%FFA"),
            ("/%e2%82", "/%E2%82"),
            ("/plain", "/plain"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_path(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn path_normalization_borrows_when_nothing_changes() {
        assert!(matches!(normalize_path("/a/b"), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/a%2Fb%3F"), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/a%zz"), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/a%2fb"), Cow::Owned(_)));
        assert!(matches!(normalize_path("/a%20b"), Cow::Owned(_)));
    }
}
