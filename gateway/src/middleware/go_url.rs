//! A request path as Go's `net/url` holds it: `Path` (decoded) and `RawPath` (the escaped form,
//! kept only when it differs from Go's own escaping), so the path-rewriting middlewares change
//! and send paths byte for byte as Traefik's do.

use http::Uri;

/// Go's `url.URL` path fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoPath {
    /// `URL.Path`: decoded.
    pub path: String,
    /// `URL.RawPath`: the escaped form when it is not what escaping `path` gives, else empty.
    pub raw_path: String,
}

impl GoPath {
    /// Go's `URL.setPath(escaped)`; an escaped path with a bad `%` escape is kept as it is.
    pub fn from_escaped(escaped: &str) -> Self {
        match unescape(escaped) {
            Some(path) => {
                let raw_path = if escape(&path) == escaped {
                    String::new()
                } else {
                    escaped.to_string()
                };
                Self { path, raw_path }
            }
            None => Self {
                path: escaped.to_string(),
                raw_path: String::new(),
            },
        }
    }

    /// The path of a request target.
    pub fn of(uri: &Uri) -> Self {
        Self::from_escaped(uri.path())
    }

    /// Go's `URL.EscapedPath()`: `RawPath` when it is a valid escaping of `Path`, else `Path`
    /// escaped.
    pub fn escaped(&self) -> String {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path)
            && unescape(&self.raw_path).as_deref() == Some(self.path.as_str())
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".into();
        }
        escape(&self.path)
    }

    /// The origin-form target (Go's `URL.RequestURI()`) with `query` (without `?`), as a `Uri`;
    /// `None` if it would not be a valid target.
    pub fn target(&self, query: Option<&str>) -> Option<Uri> {
        let mut path = self.escaped();
        if path.is_empty() {
            path.push('/');
        }
        let target = match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        target.parse().ok()
    }
}

/// Sets the target of a request to `path` with its current query.
pub fn set_path(request: &mut impl super::RequestEdit, path: &GoPath) {
    let query = request.uri().query().map(str::to_owned);
    if let Some(uri) = path.target(query.as_deref()) {
        request.set_uri(uri);
    }
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Go's `unescape(s, encodePath)`: `%XX` decoded (`+` kept); `None` for a bad escape or a
/// result that is not UTF-8.
pub fn unescape(escaped: &str) -> Option<String> {
    if !escaped.contains('%') {
        return Some(escaped.to_string());
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex(*bytes.get(i + 1)?)?;
            let low = hex(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Go's `shouldEscape(c, encodePath)`.
fn should_escape(byte: u8) -> bool {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    !matches!(
        byte,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
    )
}

/// Go's `escape(s, encodePath)`.
pub fn escape(path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if should_escape(byte) {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        } else {
            out.push(byte as char);
        }
    }
    out
}

/// Go's `validEncoded(s, encodePath)`.
fn valid_encoded(raw: &str) -> bool {
    raw.bytes().all(|byte| {
        matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(byte)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_has_no_raw_path() {
        let path = GoPath::from_escaped("/a/b");
        assert_eq!(path.path, "/a/b");
        assert_eq!(path.raw_path, "");
        assert_eq!(path.escaped(), "/a/b");
    }

    #[test]
    fn an_escaped_slash_is_kept_raw() {
        let path = GoPath::from_escaped("/a%2Fb");
        assert_eq!(path.path, "/a/b");
        assert_eq!(path.raw_path, "/a%2Fb");
        assert_eq!(path.escaped(), "/a%2Fb");
    }

    #[test]
    fn escaping_follows_go() {
        assert_eq!(escape("/a b?c"), "/a%20b%3Fc");
        assert_eq!(escape("/é"), "/%C3%A9");
        assert_eq!(escape("/a+b:c@d"), "/a+b:c@d");
    }

    #[test]
    fn a_raw_path_that_no_longer_matches_is_dropped() {
        let mut path = GoPath::from_escaped("/a%2Fb");
        path.path = "/x/a/b".into();
        assert_eq!(path.escaped(), "/x/a/b");
    }

    #[test]
    fn targets_keep_the_query() {
        let path = GoPath::from_escaped("/a");
        assert_eq!(path.target(Some("q=1")).unwrap(), "/a?q=1");
        let empty = GoPath {
            path: String::new(),
            raw_path: String::new(),
        };
        assert_eq!(empty.target(None).unwrap(), "/");
    }
}
