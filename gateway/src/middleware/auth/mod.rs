//! `basicAuth` and `digestAuth`, and what they share: user lines, the 401, the forwarded user.

mod basic;
pub mod cache;
mod digest;
pub mod htpasswd;

pub use basic::BasicAuth;
pub use digest::DigestAuth;

use super::RequestEdit;
use crate::proxy::responses::Answer;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};

/// The realm announced when the configuration names none.
const DEFAULT_REALM: &str = "traefik";

/// The user lines of a configuration: the file's first (trimmed, blank lines and `#`
/// comments left out), then the inline ones, as Traefik reads them. The file is read now;
/// one that cannot be read is an error naming it, in Go's words.
fn load_lines(users_file: Option<&str>, users: &[String]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    if let Some(path) = users_file.filter(|path| !path.is_empty()) {
        let text = read_file(path)?;
        lines.extend(
            text.split('\n')
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string),
        );
    }
    lines.extend(users.iter().cloned());
    Ok(lines)
}

/// The file's text, or Go's `os.ReadFile` error (`open /x: no such file or directory`).
fn read_file(path: &str) -> Result<String, String> {
    use std::io::Read;
    let go_error = |op: &str, e: std::io::Error| {
        let text = match e.raw_os_error() {
            Some(code) => {
                let text = std::io::Error::from_raw_os_error(code).to_string();
                let text = text
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => first.to_lowercase().chain(chars).collect(),
                    None => text,
                }
            }
            None => e.to_string(),
        };
        format!("{op} {path}: {text}")
    };
    let mut file = std::fs::File::open(path).map_err(|e| go_error("open", e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| go_error("read", e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What an authenticated request carries on: the user name in a header, the
/// `Authorization` header kept or removed.
struct Forwarding {
    /// The header named by `headerField`, as spelled there.
    header_field: Option<(HeaderName, String)>,
    remove_header: bool,
}

impl Forwarding {
    fn new(header_field: Option<&str>, remove_header: Option<bool>) -> Result<Self, String> {
        let header_field = match header_field.filter(|field| !field.is_empty()) {
            None => None,
            Some(field) => Some((
                HeaderName::from_bytes(field.as_bytes())
                    .map_err(|_| format!("invalid headerField {field:?}"))?,
                field.to_string(),
            )),
        };
        Ok(Self {
            header_field,
            remove_header: remove_header.unwrap_or(false),
        })
    }

    /// Sets the user header (every value the client sent under that name replaced), then
    /// removes `Authorization` when asked.
    fn apply<R: RequestEdit>(&self, request: &mut R, user: &HeaderValue) {
        if let Some((name, spelled)) = &self.header_field {
            request.insert_header_spelled(name.clone(), spelled, user.clone());
        }
        if self.remove_header {
            request.remove_header(&AUTHORIZATION);
        }
    }
}

/// A user name as a header value, checked when the configuration is built.
fn user_value(user: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(user).map_err(|_| format!("invalid user name {user:?}"))
}

/// The challenge header value for `scheme` and a realm, checked once.
fn challenge(value: String) -> Result<HeaderValue, String> {
    HeaderValue::try_from(value).map_err(|e| format!("invalid realm: {e}"))
}

/// Traefik's 401: `text/plain`, the challenge, `401 Unauthorized\n`.
fn unauthorized(challenge: HeaderValue) -> Answer {
    let mut answer = Answer::text(401, &b"401 Unauthorized\n"[..]);
    let headers = answer.header_map_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(WWW_AUTHENTICATE, challenge);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lines_come_first_trimmed_without_comments() {
        let dir = std::env::temp_dir().join(format!("auth-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "  a:1  \n\n# comment\nb:2\r\n").unwrap();
        let lines = load_lines(Some(path.to_str().unwrap()), &["c:3".to_string()]).unwrap();
        assert_eq!(lines, ["a:1", "b:2", "c:3"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_named_in_gos_words() {
        assert_eq!(
            load_lines(Some("/nonexistent/users"), &[]).unwrap_err(),
            "open /nonexistent/users: no such file or directory"
        );
        assert_eq!(
            load_lines(Some("/"), &[]).unwrap_err(),
            "read /: is a directory"
        );
    }
}
