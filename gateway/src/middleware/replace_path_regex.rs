//! `replacePathRegex`: rewrites the escaped request path with a regex, keeping the old one in
//! `X-Replaced-Path`.

use super::go_replace::{compile, replace_all};
use super::go_url::GoPath;
use super::replace_path::replace_path;
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use regex::Regex;
use std::future::{ready, Future};

/// A compiled `replacePathRegex`.
pub struct ReplacePathRegex {
    regex: Regex,
    replacement: String,
}

impl FromConfig<control::dynamic::ReplacePathRegex> for ReplacePathRegex {
    fn from_config(
        config: &control::dynamic::ReplacePathRegex,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let pattern = config.regex.as_deref().unwrap_or_default();
        let regex = compile(pattern.trim()).map_err(|e| {
            format!("error compiling regular expression {pattern}: error parsing regexp: {e}")
        })?;
        Ok(Self {
            regex,
            replacement: config
                .replacement
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string(),
        })
    }
}

impl HttpMiddleware for ReplacePathRegex {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let current = GoPath::of(request.uri());
        let current = if current.raw_path.is_empty() {
            current.escaped()
        } else {
            current.raw_path
        };
        if !self.regex.is_match(&current) {
            return ready(Flow::Continue);
        }
        let replaced = replace_all(&self.regex, &current, &self.replacement);
        ready(replace_path(request, &replaced))
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, forwarded, run};

    #[test]
    fn the_path_is_rewritten_and_the_old_one_kept() {
        let m = build(r#"{"replacePathRegex": {"regex": "^/api/(.*)", "replacement": "/v2/$1"}}"#)
            .unwrap();
        let request = forwarded(&m, "/api/users?q=1");
        assert_eq!(request.uri, "/v2/users?q=1");
        assert_eq!(request.headers["x-replaced-path"], "/api/users");
    }

    #[test]
    fn the_escaped_path_is_what_is_matched_and_sent() {
        let m = build(r#"{"replacePathRegex": {"regex": "^/a/(.*)", "replacement": "/b/$1"}}"#)
            .unwrap();
        let request = forwarded(&m, "/a/x%2Fy");
        assert_eq!(request.uri, "/b/x%2Fy");
        assert_eq!(request.headers["x-replaced-path"], "/a/x%2Fy");
    }

    #[test]
    fn other_paths_are_untouched() {
        let m = build(r#"{"replacePathRegex": {"regex": "^/api", "replacement": "/x"}}"#).unwrap();
        let request = forwarded(&m, "/other");
        assert_eq!(request.uri, "/other");
        assert!(request.headers.get("x-replaced-path").is_none());
    }

    #[test]
    fn a_bad_escape_in_the_result_is_a_500_and_a_bad_regex_a_config_error() {
        let m = build(r#"{"replacePathRegex": {"regex": "^/a", "replacement": "/%zz"}}"#).unwrap();
        assert_eq!(run(&m, "/a").unwrap_err().status, 500);
        let error = build(r#"{"replacePathRegex": {"regex": "(", "replacement": "/"}}"#)
            .err()
            .unwrap();
        assert!(
            error.starts_with("error compiling regular expression ("),
            "{error}"
        );
    }
}
