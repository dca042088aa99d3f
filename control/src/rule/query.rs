//! Query-string scanning for `Query` and `QueryRegexp`, without building a map.
//!
//! Follows Go's `url.ParseQuery` as Traefik runs it: Traefik's entry points wrap handlers in
//! `http.AllowQuerySemicolons`, so `;` separates pairs just like `&`; empty pairs are
//! skipped; a pair without `=` has an empty value; keys and values are form-decoded (`+` is
//! a space, `%XX` a byte) and a pair whose key or value has an invalid escape is ignored.

use std::borrow::Cow;

use super::normalize::percent_byte;

/// One `key=value` pair, still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawPair<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
}

/// The non-empty pairs of a raw query string, in order.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = RawPair<'_>> {
    query
        .split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => RawPair { key, value },
            None => RawPair {
                key: pair,
                value: "",
            },
        })
}

/// Decoded bytes of a form-encoded component, or `None` at the first invalid escape.
fn decoded_bytes(raw: &str) -> impl Iterator<Item = Option<u8>> + '_ {
    let bytes = raw.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let &byte = bytes.get(i)?;
        Some(match byte {
            b'%' => {
                let decoded = percent_byte(bytes, i);
                // Stop after an invalid escape: the caller gives up on the component.
                i = if decoded.is_some() {
                    i + 3
                } else {
                    bytes.len()
                };
                decoded
            }
            b'+' => {
                i += 1;
                Some(b' ')
            }
            other => {
                i += 1;
                Some(other)
            }
        })
    })
}

/// Whether the form-decoded `raw` is valid and equals `expected`, without allocating.
pub(crate) fn decoded_eq(raw: &str, expected: &str) -> bool {
    let mut expected = expected.bytes();
    for byte in decoded_bytes(raw) {
        match byte {
            Some(byte) if expected.next() == Some(byte) => {}
            _ => return false,
        }
    }
    expected.next().is_none()
}

/// The form-decoded text of `raw`, borrowed when there is nothing to decode; `None` if it
/// has an invalid escape. Bytes that are not UTF-8 become U+FFFD, which is also how Go's
/// regexp engine reads them.
pub(crate) fn decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains(['%', '+']) {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = decoded_bytes(raw).collect::<Option<Vec<u8>>>()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => Cow::Owned(text),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    })
}

/// Whether some pair has form-decoded key `key` and a value accepted by `accept`. Pairs
/// whose key or value cannot be decoded are skipped, as Go does.
pub(crate) fn any_value(query: &str, key: &str, mut accept: impl FnMut(&str) -> bool) -> bool {
    pairs(query).any(|pair| decoded_eq(pair.key, key) && accept(pair.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_ampersand_and_semicolon_and_skips_empty_pairs() {
        let got: Vec<_> = pairs("a=1&&b;c=&d=x=y").collect();
        assert_eq!(
            got,
            vec![
                RawPair {
                    key: "a",
                    value: "1"
                },
                RawPair {
                    key: "b",
                    value: ""
                },
                RawPair {
                    key: "c",
                    value: ""
                },
                RawPair {
                    key: "d",
                    value: "x=y"
                },
            ]
        );
        assert_eq!(pairs("").count(), 0);
    }

    #[test]
    fn form_decoding() {
        assert!(decoded_eq("a+b%20c", "a b c"));
        assert!(decoded_eq("%C3%A9t%c3%a9", "été"));
        assert!(decoded_eq("", ""));
        assert!(!decoded_eq("ab", "abc"));
        assert!(!decoded_eq("abc", "ab"));
        assert!(!decoded_eq("a%2", "a%2"));
        assert!(!decoded_eq("a%zz", "a%zz"));
        assert_eq!(decode("plain").unwrap(), "plain");
        assert!(matches!(decode("plain"), Some(Cow::Borrowed(_))));
        assert_eq!(decode("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(decode("%FF").unwrap(), "\u{FFFD}");
        assert_eq!(decode("%G0"), None);
    }

    #[test]
    fn any_value_decodes_keys() {
        assert!(any_value("x=1&my+key=2", "my key", |v| v == "2"));
        assert!(any_value("my%20key=2", "my key", |v| v == "2"));
        assert!(!any_value("my%2key=2", "my%2key", |_| true));
        assert!(!any_value("other=2", "my key", |_| true));
    }
}
