//! `stripPrefix`: removes the first matching prefix from the request path and tells the
//! backend in `X-Forwarded-Prefix`.

use super::add_prefix::ensure_leading_slash;
use super::go_url::{set_path, GoPath};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use http::header::{HeaderName, HeaderValue};
use std::future::{ready, Future};

/// The header that carries the stripped prefix.
pub(super) const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// A compiled `stripPrefix`.
pub struct StripPrefix {
    prefixes: Vec<String>,
    /// The deprecated `forceSlash` (an empty result becomes `/`).
    force_slash: bool,
}

impl FromConfig<control::dynamic::StripPrefix> for StripPrefix {
    fn from_config(
        config: &control::dynamic::StripPrefix,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        if config.force_slash.is_some() {
            tracing::warn!(
                middleware = context.name,
                "`forceSlash` option is deprecated, please remove any usage of this option."
            );
        }
        Ok(Self {
            prefixes: config.prefixes.clone(),
            force_slash: config.force_slash == Some(true),
        })
    }
}

/// The number of bytes of `raw` that stand for the first `decoded_len` decoded bytes.
pub(super) fn encoded_prefix_len(raw: &str, decoded_len: usize) -> usize {
    let bytes = raw.as_bytes();
    let (mut decoded, mut i) = (0, 0);
    while i < bytes.len() && decoded < decoded_len {
        i += if bytes[i] == b'%' && i + 2 < bytes.len() {
            3
        } else {
            1
        };
        decoded += 1;
    }
    i.min(raw.len())
}

impl StripPrefix {
    fn stripped(&self, rest: &str) -> String {
        if self.force_slash {
            format!("/{}", rest.strip_prefix('/').unwrap_or(rest))
        } else {
            ensure_leading_slash(rest.to_string())
        }
    }
}

impl HttpMiddleware for StripPrefix {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let mut path = GoPath::of(request.uri());
        if let Some(prefix) = self
            .prefixes
            .iter()
            .find(|p| path.path.starts_with(p.as_str()))
        {
            path.path = self.stripped(&path.path[prefix.len()..]);
            if !path.raw_path.is_empty() {
                let cut = encoded_prefix_len(&path.raw_path, prefix.len());
                path.raw_path = self.stripped(&path.raw_path[cut..]);
            }
            if let Ok(value) = HeaderValue::from_str(prefix.trim()) {
                request.append_header(X_FORWARDED_PREFIX, value);
            }
            set_path(request, &path);
        }
        ready(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, forwarded};

    #[test]
    fn the_first_matching_prefix_is_stripped() {
        let middleware = build(r#"{"stripPrefix": {"prefixes": ["/b", "/a"]}}"#).unwrap();
        let request = forwarded(&middleware, "/a/users?q=1");
        assert_eq!(request.uri, "/users?q=1");
        assert_eq!(request.headers["x-forwarded-prefix"], "/a");
    }

    #[test]
    fn stripping_the_whole_path_leaves_it_empty_and_the_target_is_slash() {
        let middleware = build(r#"{"stripPrefix": {"prefixes": ["/a"]}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/a").uri, "/");
    }

    #[test]
    fn a_prefix_that_does_not_end_at_a_slash_leaves_a_slash_in_front() {
        let middleware = build(r#"{"stripPrefix": {"prefixes": ["/ap"]}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/api/x").uri, "/i/x");
    }

    #[test]
    fn escapes_after_the_prefix_are_kept() {
        let middleware = build(r#"{"stripPrefix": {"prefixes": ["/a"]}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/a/b%2Fc").uri, "/b%2Fc");
    }

    #[test]
    fn other_paths_are_untouched() {
        let middleware = build(r#"{"stripPrefix": {"prefixes": ["/a"]}}"#).unwrap();
        let request = forwarded(&middleware, "/b");
        assert_eq!(request.uri, "/b");
        assert!(request.headers.get("x-forwarded-prefix").is_none());
    }
}
