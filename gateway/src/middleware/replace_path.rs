//! `replacePath`: replaces the request path, keeping the old one in `X-Replaced-Path`.

use super::go_url::{set_path, unescape, GoPath};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::Answer;
use http::header::{HeaderName, HeaderValue};
use std::future::{ready, Future};

/// The header that carries the path as it was before the replacement.
pub(super) const X_REPLACED_PATH: HeaderName = HeaderName::from_static("x-replaced-path");

/// A compiled `replacePath`.
pub struct ReplacePath {
    path: String,
}

impl FromConfig<control::dynamic::ReplacePath> for ReplacePath {
    fn from_config(
        config: &control::dynamic::ReplacePath,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        Ok(Self {
            path: config.path.clone().unwrap_or_default(),
        })
    }
}

/// Records the current path in `X-Replaced-Path` and makes `escaped` the path (Go's
/// `URL.RawPath = escaped; URL.Path = PathUnescape(escaped)`). Traefik answers 500 with the
/// unescape error when `escaped` has a bad escape.
pub(super) fn replace_path<R: RequestEdit>(request: &mut R, escaped: &str) -> Flow {
    let current = GoPath::of(request.uri());
    let shown = if current.raw_path.is_empty() {
        current.escaped()
    } else {
        current.raw_path.clone()
    };
    if let Ok(value) = HeaderValue::from_str(&shown) {
        request.append_header(X_REPLACED_PATH, value);
    }
    let Some(path) = unescape(escaped) else {
        let bad = bad_escape(escaped);
        return Flow::Answer(
            Answer::text(500, format!("invalid URL escape {bad:?}\n")).header(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        );
    };
    set_path(
        request,
        &GoPath {
            path,
            raw_path: escaped.to_string(),
        },
    );
    Flow::Continue
}

/// The escape Go's `url.PathUnescape` complains about (`%zz`, or what is left of it).
fn bad_escape(escaped: &str) -> &str {
    let bytes = escaped.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let end = (i + 3).min(bytes.len());
            let valid = end == i + 3 && bytes[i + 1..end].iter().all(u8::is_ascii_hexdigit);
            if !valid {
                return &escaped[i..end];
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    ""
}

impl HttpMiddleware for ReplacePath {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        ready(replace_path(request, &self.path))
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, forwarded, run};

    #[test]
    fn the_path_is_replaced_and_the_old_one_kept() {
        let middleware = build(r#"{"replacePath": {"path": "/new"}}"#).unwrap();
        let request = forwarded(&middleware, "/old/x?q=1");
        assert_eq!(request.uri, "/new?q=1");
        assert_eq!(request.headers["x-replaced-path"], "/old/x");
    }

    #[test]
    fn an_escaped_replacement_is_sent_as_written() {
        let middleware = build(r#"{"replacePath": {"path": "/a%2Fb"}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/x").uri, "/a%2Fb");
    }

    #[test]
    fn a_bad_escape_is_a_500() {
        let middleware = build(r#"{"replacePath": {"path": "/a%zz"}}"#).unwrap();
        let answer = run(&middleware, "/x").unwrap_err();
        assert_eq!(answer.status, 500);
        assert_eq!(&answer.body()[..], b"invalid URL escape \"%zz\"\n");
    }
}
