//! `addPrefix`: puts a prefix in front of the request path.

use super::go_url::{set_path, GoPath};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use std::future::{ready, Future};

/// A compiled `addPrefix`.
pub struct AddPrefix {
    prefix: String,
}

impl FromConfig<control::dynamic::AddPrefix> for AddPrefix {
    fn from_config(
        config: &control::dynamic::AddPrefix,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        match config.prefix.as_deref() {
            Some(prefix) if !prefix.is_empty() => Ok(Self {
                prefix: prefix.to_string(),
            }),
            _ => Err("prefix cannot be empty".into()),
        }
    }
}

/// Go's `ensureLeadingSlash`: an empty path stays empty.
pub(super) fn ensure_leading_slash(path: String) -> String {
    if path.is_empty() || path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

impl HttpMiddleware for AddPrefix {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let mut path = GoPath::of(request.uri());
        path.path = ensure_leading_slash(format!("{}{}", self.prefix, path.path));
        if !path.raw_path.is_empty() {
            path.raw_path = ensure_leading_slash(format!("{}{}", self.prefix, path.raw_path));
        }
        set_path(request, &path);
        ready(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, forwarded};

    #[test]
    fn the_prefix_goes_in_front_of_the_path() {
        let middleware = build(r#"{"addPrefix": {"prefix": "/api"}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/users?x=1").uri, "/api/users?x=1");
    }

    #[test]
    fn a_prefix_without_a_slash_gets_one() {
        let middleware = build(r#"{"addPrefix": {"prefix": "api"}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/users").uri, "/api/users");
    }

    #[test]
    fn escapes_in_the_path_are_kept() {
        let middleware = build(r#"{"addPrefix": {"prefix": "/a"}}"#).unwrap();
        assert_eq!(forwarded(&middleware, "/b%2Fc").uri, "/a/b%2Fc");
    }

    #[test]
    fn an_empty_prefix_is_refused() {
        let error = build(r#"{"addPrefix": {"prefix": ""}}"#).err().unwrap();
        assert_eq!(error, "prefix cannot be empty");
    }
}
