//! The request path as Traefik's entrypoint prepares it before routing (and forwards it):
//! percent-escapes uppercased, escaped unreserved characters decoded, `.`/`..` segments and
//! repeated slashes removed (Go's `URL.JoinPath()`), a trailing slash kept.

use std::borrow::Cow;

/// A path that cannot be served: a `%` not followed by two hex digits (Go answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidEscape;

/// Prepares a raw (escaped) request path; borrows it when there is nothing to change.
pub fn prepare(raw: &str) -> Result<Cow<'_, str>, InvalidEscape> {
    let needs_escape_work = raw.contains('%');
    let needs_cleaning = raw.contains("//") || raw.contains("/.") || !raw.starts_with('/');
    if !needs_escape_work && !needs_cleaning {
        return Ok(Cow::Borrowed(raw));
    }
    let normalized = if needs_escape_work {
        normalize_escapes(raw)?
    } else {
        Cow::Borrowed(raw)
    };
    let cleaned = clean(&normalized);
    Ok(if cleaned == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(cleaned)
    })
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Uppercases `%xx` escapes and decodes those of unreserved characters (RFC 3986 2.3, 6.2.2.1).
fn normalize_escapes(raw: &str) -> Result<Cow<'_, str>, InvalidEscape> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let next = raw[i..].find('%').map_or(raw.len(), |n| i + n);
            out.push_str(&raw[i..next]);
            i = next;
            continue;
        }
        let (Some(&high), Some(&low)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
            return Err(InvalidEscape);
        };
        let (Some(h), Some(l)) = (hex_value(high), hex_value(low)) else {
            return Err(InvalidEscape);
        };
        let decoded = h * 16 + l;
        if is_unreserved(decoded) {
            out.push(decoded as char);
        } else {
            out.push('%');
            out.push(high.to_ascii_uppercase() as char);
            out.push(low.to_ascii_uppercase() as char);
        }
        i += 3;
    }
    Ok(if out == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(out)
    })
}

/// Go's `path.Clean` on an absolute path, keeping a trailing slash as `URL.JoinPath` does.
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (path.ends_with('/') && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(raw: &str) -> String {
        prepare(raw).unwrap().into_owned()
    }

    #[test]
    fn clean_paths_are_borrowed() {
        assert!(matches!(prepare("/api/v1/users"), Ok(Cow::Borrowed(_))));
        assert!(matches!(prepare("/a%2Fb"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn escapes_are_normalized() {
        assert_eq!(prepared("/%61pi"), "/api");
        assert_eq!(prepared("/a%2fb"), "/a%2Fb");
        assert_eq!(prepared("/%7e%2D%2e"), "/~-.");
        assert_eq!(prepared("/caf%c3%a9"), "/caf%C3%A9");
    }

    #[test]
    fn dot_segments_and_slashes_are_removed() {
        assert_eq!(prepared("/a/./b/../c"), "/a/c");
        assert_eq!(prepared("//a///b//"), "/a/b/");
        assert_eq!(prepared("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(prepared("/a/%2e%2e/b"), "/b", "escaped dots are dots");
        assert_eq!(prepared("/"), "/");
        assert_eq!(prepared("/a/.."), "/");
        assert_eq!(prepared("/a/b/"), "/a/b/");
    }

    #[test]
    fn invalid_escapes_are_rejected() {
        for bad in ["/a%", "/a%2", "/a%zz", "/%g1"] {
            assert_eq!(prepare(bad), Err(InvalidEscape), "{bad}");
        }
    }
}
