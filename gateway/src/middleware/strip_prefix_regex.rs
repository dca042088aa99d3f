//! `stripPrefixRegex`: removes the prefix the first matching regex finds in the request path
//! and tells the backend in `X-Forwarded-Prefix`.

use super::add_prefix::ensure_leading_slash;
use super::go_replace::compile;
use super::go_url::{set_path, GoPath};
use super::strip_prefix::{encoded_prefix_len, X_FORWARDED_PREFIX};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use http::header::HeaderValue;
use regex::Regex;
use std::future::{ready, Future};

/// A compiled `stripPrefixRegex`.
pub struct StripPrefixRegex {
    regexes: Vec<Regex>,
}

impl FromConfig<control::dynamic::StripPrefixRegex> for StripPrefixRegex {
    fn from_config(
        config: &control::dynamic::StripPrefixRegex,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let regexes = config
            .regex
            .iter()
            .map(|pattern| {
                compile(pattern.trim()).map_err(|e| format!("error parsing regexp: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { regexes })
    }
}

impl HttpMiddleware for StripPrefixRegex {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let mut path = GoPath::of(request.uri());
        for regex in &self.regexes {
            let Some(found) = regex.find(&path.path) else {
                continue;
            };
            let prefix = found.as_str();
            if prefix.is_empty() || !path.path.starts_with(prefix) {
                continue;
            }
            let prefix = prefix.to_string();
            if let Ok(value) = HeaderValue::from_str(&prefix) {
                request.append_header(X_FORWARDED_PREFIX, value);
            }
            path.path = ensure_leading_slash(path.path[prefix.len()..].to_string());
            if !path.raw_path.is_empty() {
                let cut = encoded_prefix_len(&path.raw_path, prefix.len());
                path.raw_path = ensure_leading_slash(path.raw_path[cut..].to_string());
            }
            set_path(request, &path);
            break;
        }
        ready(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, forwarded};

    #[test]
    fn the_matched_prefix_is_stripped() {
        let m = build(r#"{"stripPrefixRegex": {"regex": ["/x/[a-z]+", "/api/v[0-9]+"]}}"#).unwrap();
        let request = forwarded(&m, "/api/v2/users?q=1");
        assert_eq!(request.uri, "/users?q=1");
        assert_eq!(request.headers["x-forwarded-prefix"], "/api/v2");
    }

    #[test]
    fn a_match_that_is_not_a_prefix_is_skipped() {
        let m = build(r#"{"stripPrefixRegex": {"regex": ["/b"]}}"#).unwrap();
        let request = forwarded(&m, "/a/b");
        assert_eq!(request.uri, "/a/b");
        assert!(request.headers.get("x-forwarded-prefix").is_none());
    }

    #[test]
    fn escapes_after_the_prefix_are_kept() {
        let m = build(r#"{"stripPrefixRegex": {"regex": ["^/[a-z]+"]}}"#).unwrap();
        assert_eq!(forwarded(&m, "/abc/x%2Fy").uri, "/x%2Fy");
        assert_eq!(forwarded(&m, "/abc").uri, "/");
    }

    #[test]
    fn a_bad_regex_is_a_config_error() {
        assert!(build(r#"{"stripPrefixRegex": {"regex": ["("]}}"#).is_err());
    }
}
