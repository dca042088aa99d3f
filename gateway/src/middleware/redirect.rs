//! `redirectRegex` and `redirectScheme`: answer with a redirect to the request URL rewritten by
//! a regex (the scheme one is a fixed regex), rebuilt and re-serialized as Go's `net/url` does.

use super::go_replace::{compile, replace_all};
use super::go_url::{unescape, GoPath};
use super::headers::request_host;
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::Answer;
use http::header::{self, HeaderValue};
use http::Method;
use regex::Regex;
use std::future::{ready, Future};
use std::sync::LazyLock;

/// Splits an absolute-form request target: scheme, host, `:port`, the rest.
static ABSOLUTE_TARGET: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"^(https?):\/\/(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$")
        .expect("the absolute-target regex compiles")
});

/// What `redirectScheme` matches the client URL with.
const SCHEME_PATTERN: &str = r"^(https?:\/\/)?(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$";

/// The regex, the replacement and the kind of redirect, shared by both middlewares.
struct Redirect {
    regex: Regex,
    replacement: String,
    permanent: bool,
}

impl Redirect {
    /// Redirects when the regex matches `old` and rewriting changes it; otherwise the request
    /// goes on.
    fn decide(&self, old: &str, method: &Method) -> Flow {
        if !self.regex.is_match(old) {
            return Flow::Continue;
        }
        let new = replace_all(&self.regex, old, &self.replacement);
        let Some(location) = go_url_string(&new) else {
            return Flow::Answer(unparsable());
        };
        if new == old {
            return Flow::Continue;
        }
        let status = match (self.permanent, method == Method::GET) {
            (false, true) => 302,
            (false, false) => 307,
            (true, true) => 301,
            (true, false) => 308,
        };
        let Ok(location) = HeaderValue::from_bytes(location.as_bytes()) else {
            return Flow::Answer(unparsable());
        };
        let text = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        // Traefik's redirect has no `Content-Type` (its writer is not the one that sniffs).
        Flow::Answer(
            Answer::empty(status)
                .with_body(text)
                .header(header::LOCATION, location),
        )
    }
}

/// Traefik's answer when the rewritten URL does not parse: its error handler takes Go's
/// `url.Error` for a network error, so 502 with the status text.
fn unparsable() -> Answer {
    Answer::empty(502).with_body("Bad Gateway")
}

/// Go's `Request.RequestURI` as a middleware sees it: the target as sent (or as rewritten by an
/// earlier middleware); an HTTP/2 request's is its `:path`.
fn request_uri<R: RequestEdit + ?Sized>(request: &R, context: &Context) -> String {
    let uri = request.uri();
    if context.http2 || uri.scheme().is_none() {
        return uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    }
    uri.to_string()
}

/// The URL as the client sent it: scheme, host, port and target, an absolute target's parts
/// winning over `Host`.
struct ClientUrl {
    scheme: &'static str,
    host: String,
    port: String,
    uri: String,
}

impl ClientUrl {
    fn of<R: RequestEdit + ?Sized>(request: &R, context: &Context, split_port: bool) -> Self {
        let host = request_host(request);
        let (host, port) = match split_port.then(|| split_host_port(host)).flatten() {
            Some((h, p)) => (h.to_string(), format!(":{p}")),
            None => (host.to_string(), String::new()),
        };
        let target = request_uri(request, context);
        let mut url = ClientUrl {
            scheme: "http",
            host,
            port,
            uri: String::new(),
        };
        match ABSOLUTE_TARGET.captures(&target) {
            None => url.uri = target,
            Some(parts) => {
                url.scheme = if &parts[1] == "https" {
                    "https"
                } else {
                    "http"
                };
                if let Some(h) = parts.get(2).filter(|h| !h.is_empty()) {
                    url.host = h.as_str().to_string();
                }
                if let Some(p) = parts.get(3).filter(|p| !p.is_empty()) {
                    url.port = p.as_str().to_string();
                }
                url.uri = parts[4].to_string();
            }
        }
        if context.tls {
            url.scheme = "https";
        }
        url
    }

    fn text(&self) -> String {
        format!("{}://{}{}{}", self.scheme, self.host, self.port, self.uri)
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`; `None` when it is not one.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let colon = hostport.rfind(':')?;
    let (host, port) = (&hostport[..colon], &hostport[colon + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        if inner.contains(['[', ']']) {
            return None;
        }
        return Some((inner, port));
    }
    if host.contains([':', '[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

/// Go's `url.Parse(text).String()`: the scheme lowercased, the host checked, the path
/// re-escaped where Go escapes it, query and fragment kept; `None` where Go refuses to parse.
fn go_url_string(text: &str) -> Option<String> {
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let (text, fragment) = match text.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (text, None),
    };
    if let Some(fragment) = fragment {
        unescape(fragment)?;
    }
    let mut out = String::with_capacity(text.len() + 8);
    let (scheme, rest) = split_scheme(text)?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    if let Some(scheme) = &scheme {
        out.push_str(scheme);
        out.push(':');
    }
    if scheme.is_some() && !rest.starts_with('/') {
        // Opaque (`mailto:x`): kept as written.
        out.push_str(rest);
    } else {
        let authority_and_path = rest
            .strip_prefix("//")
            .filter(|_| scheme.is_some() || !rest.starts_with("///"));
        let path = if let Some(authority_and_path) = authority_and_path {
            let (authority, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            let authority = go_authority(scheme.as_deref(), authority)?;
            if !authority.is_empty() || !path.is_empty() {
                out.push_str("//");
            }
            out.push_str(&authority);
            path
        } else {
            if scheme.is_none() && rest.split('/').next().is_some_and(|s| s.contains(':')) {
                return None;
            }
            rest
        };
        unescape(path)?;
        out.push_str(&GoPath::from_escaped(path).escaped());
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        out.push('#');
        out.push_str(&go_fragment(fragment)?);
    }
    Some(out)
}

/// Go's `EscapedFragment()` of a parsed fragment: as written when it is a valid escaping,
/// else escaped.
fn go_fragment(raw: &str) -> Option<String> {
    let fragment = unescape(raw)?;
    let kept = |b: u8| b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=?@!()*".contains(&b);
    if raw.bytes().all(|b| kept(b) || b"'[]%".contains(&b)) {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(fragment.len() + 8);
    for &byte in fragment.as_bytes() {
        if kept(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(out)
}

/// Go's `getScheme`: the lowercased scheme and the rest; `None` for `:` first (missing scheme).
fn split_scheme(text: &str) -> Option<(Option<String>, &str)> {
    for (i, c) in text.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return None,
            ':' => return Some((Some(text[..i].to_ascii_lowercase()), &text[i + 1..])),
            _ => return Some((None, text)),
        }
    }
    Some((None, text))
}

/// Go's `parseAuthority` then `String()` of the authority: `None` where Go refuses it (a bad
/// port, a bad IP literal, an unbracketed colon in an http(s) host, a bad character or escape);
/// the userinfo kept as written, the host re-escaped as Go escapes hosts.
fn go_authority(scheme: Option<&str>, authority: &str) -> Option<String> {
    let (user, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let valid_port = |port: &str| {
        port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    match host.rfind('[') {
        Some(i) if i > 0 => return None,
        Some(_) => {
            let close = host.rfind(']')?;
            if !valid_port(&host[close + 1..]) {
                return None;
            }
            let literal = &host[1..close];
            let address = literal.split_once("%25").map_or(literal, |(a, _)| a);
            host_unescape(address)?.parse::<std::net::Ipv6Addr>().ok()?;
        }
        None => {
            if let Some(first) = host.find(':') {
                let last = host.rfind(':').unwrap_or(first);
                let strict = matches!(scheme, Some("http" | "https"));
                let colon = if strict { first } else { last };
                if !valid_port(&host[colon..]) {
                    return None;
                }
            }
        }
    }
    let host = host_unescape(host)?;
    let mut out = String::with_capacity(authority.len());
    if let Some(user) = user {
        out.push_str(user);
        out.push('@');
    }
    for &byte in host.as_bytes() {
        if host_byte_ok(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(out)
}

/// Whether Go leaves a host byte unescaped.
fn host_byte_ok(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&byte)
}

/// Go's `unescape(host, encodeHost)`: ASCII bytes must be allowed in hosts, and only `%25` and
/// escapes of non-ASCII bytes are accepted.
fn host_unescape(host: &str) -> Option<String> {
    let bytes = host.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'%' {
            let high = bytes
                .get(i + 1)
                .copied()
                .and_then(|b| (b as char).to_digit(16))?;
            if high < 8 && host.get(i..i + 3) != Some("%25") {
                return None;
            }
        } else if byte < 0x80 && !host_byte_ok(byte) {
            return None;
        }
    }
    unescape(host)
}

/// A compiled `redirectRegex`.
pub struct RedirectRegex {
    redirect: Redirect,
}

impl FromConfig<control::dynamic::RedirectRegex> for RedirectRegex {
    fn from_config(
        config: &control::dynamic::RedirectRegex,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let pattern = config.regex.as_deref().unwrap_or_default();
        Ok(Self {
            redirect: Redirect {
                regex: compile(pattern)?,
                replacement: config.replacement.clone().unwrap_or_default(),
                permanent: config.permanent == Some(true),
            },
        })
    }
}

impl HttpMiddleware for RedirectRegex {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let old = ClientUrl::of(&*request, context, false).text();
        ready(self.redirect.decide(&old, request.method()))
    }
}

/// A compiled `redirectScheme`.
pub struct RedirectScheme {
    redirect: Redirect,
}

impl FromConfig<control::dynamic::RedirectScheme> for RedirectScheme {
    fn from_config(
        config: &control::dynamic::RedirectScheme,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let scheme = config.scheme.as_deref().unwrap_or_default();
        if scheme.is_empty() {
            return Err("you must provide a target scheme".into());
        }
        let port = config.port.as_deref().unwrap_or_default();
        let default_port =
            (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
        let port = if port.is_empty() || default_port {
            String::new()
        } else {
            format!(":{port}")
        };
        Ok(Self {
            redirect: Redirect {
                regex: compile(SCHEME_PATTERN)?,
                replacement: format!("{scheme}://${{2}}{port}${{4}}"),
                permanent: config.permanent == Some(true),
            },
        })
    }
}

impl HttpMiddleware for RedirectScheme {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let mut url = ClientUrl::of(&*request, context, true);
        let proto = request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
            url.scheme = "http";
        } else if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
            url.scheme = "https";
        } else if !proto.is_empty() {
            tracing::debug!(proto, "Invalid X-Forwarded-Proto");
        }
        if (url.scheme == "http" && url.port == ":80")
            || (url.scheme == "https" && url.port == ":443")
        {
            url.port.clear();
        }
        ready(self.redirect.decide(&url.text(), request.method()))
    }
}

#[cfg(test)]
mod tests {
    use super::go_url_string;
    use crate::middleware::testing::{build, context, request, run, run_request};
    use crate::middleware::Flow;

    fn location(
        json: &str,
        method: http::Method,
        target: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let m = build(json).unwrap();
        let mut req = request(target);
        req.method = method;
        for (n, v) in headers {
            req.headers.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        match run_request(&m, &mut req, &mut context()) {
            Flow::Answer(a) => {
                let loc = a
                    .header_map()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string());
                (a.status, loc.unwrap_or_default())
            }
            Flow::Continue => (0, String::new()),
        }
    }

    const TO_HTTPS: &str = r#"{"redirectScheme": {"scheme": "https"}}"#;

    #[test]
    fn scheme_redirects_keep_the_path_and_query() {
        assert_eq!(
            location(TO_HTTPS, http::Method::GET, "/a?b=1", &[]),
            (302, "https://example.com/a?b=1".into())
        );
        assert_eq!(
            location(TO_HTTPS, http::Method::POST, "/a", &[]),
            (307, "https://example.com/a".into())
        );
        let permanent =
            r#"{"redirectScheme": {"scheme": "https", "permanent": true, "port": "8443"}}"#;
        assert_eq!(
            location(
                permanent,
                http::Method::GET,
                "/",
                &[("host", "example.com:8080")]
            ),
            (301, "https://example.com:8443/".into())
        );
        assert_eq!(
            location(permanent, http::Method::PUT, "/", &[]),
            (308, "https://example.com:8443/".into())
        );
    }

    #[test]
    fn no_scheme_redirect_when_already_there() {
        assert_eq!(
            location(
                TO_HTTPS,
                http::Method::GET,
                "/",
                &[("x-forwarded-proto", "https")]
            ),
            (0, String::new())
        );
        assert_eq!(
            location(
                TO_HTTPS,
                http::Method::GET,
                "/",
                &[("x-forwarded-proto", "https"), ("host", "h:443")]
            ),
            (0, String::new())
        );
        let answer = run(&build(TO_HTTPS).unwrap(), "/x").unwrap_err();
        assert_eq!(&answer.body()[..], b"Found");
        assert!(answer.header_map().get("content-type").is_none());
    }

    #[test]
    fn a_scheme_is_required() {
        assert_eq!(
            build(r#"{"redirectScheme": {"port": "1"}}"#).err().unwrap(),
            "you must provide a target scheme"
        );
    }

    #[test]
    fn regex_redirects_expand_groups() {
        let json = r#"{"redirectRegex": {"regex": "^http://([^/]+)/old/(.*)", "replacement": "https://${1}/new/$2"}}"#;
        assert_eq!(
            location(json, http::Method::GET, "/old/x?q=1", &[]),
            (302, "https://example.com/new/x?q=1".into())
        );
        assert_eq!(
            location(json, http::Method::GET, "/other", &[]),
            (0, String::new())
        );
        assert!(build(r#"{"redirectRegex": {"regex": "(", "replacement": "x"}}"#).is_err());
    }

    #[test]
    fn locations_are_reserialized_as_go_does() {
        // What Go 1.26's `url.Parse(u).String()` gives (`None`: a parse error).
        let cases: &[(&str, Option<&str>)] = &[
            ("HTTPS://h/a b", Some("https://h/a%20b")),
            ("/x?y#", Some("/x?y")),
            ("http://h:80x/", None),
            ("http://h/%zz", None),
            ("mailto:a@b", Some("mailto:a@b")),
            ("http://[::1]:8080/p", Some("http://[::1]:8080/p")),
            ("https://::1:8080/p", None),
            ("http://[1.2.3.4]/", None),
            ("http://a b/", None),
            ("http:/x", Some("http:/x")),
            ("///x", Some("///x")),
            ("//h/p", Some("//h/p")),
            ("http://", Some("http:")),
            ("http://h", Some("http://h")),
            ("http://h?", Some("http://h?")),
            ("http://h/p?a?b#f%20g", Some("http://h/p?a?b#f%20g")),
            ("http://u:p@h/x", Some("http://u:p@h/x")),
            ("http://h/é", Some("http://h/%C3%A9")),
            ("http://h/a%2Fb", Some("http://h/a%2Fb")),
            ("http://h/a\"b", Some("http://h/a%22b")),
            ("http://h%41/", None),
            ("http://h%C3%A9/", Some("http://h%C3%A9/")),
            ("http://hé/", Some("http://h%C3%A9/")),
            ("x:y", Some("x:y")),
            ("a/b:c", Some("a/b:c")),
            ("http://h/#", Some("http://h/")),
            ("http://h/a b?c d#e f", Some("http://h/a%20b?c d#e%20f")),
            ("ftp://a:1:2/", Some("ftp://a:1:2/")),
            ("http://h:/", Some("http://h:/")),
            ("http://[::1%25eth0]:1/", Some("http://[::1%25eth0]:1/")),
            ("http://h/{x}|^`", Some("http://h/%7Bx%7D%7C%5E%60")),
            ("http://h/%7e", Some("http://h/%7e")),
        ];
        for (url, expected) in cases {
            assert_eq!(go_url_string(url).as_deref(), *expected, "{url}");
        }
    }
}
