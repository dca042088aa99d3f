//! The checks and rewrites of a request head before anything routes on it, as Go's `net/http`
//! server (Traefik's) makes them: framing (`Transfer-Encoding`), `Host`, and the request target
//! (absolute-form, bytes outside ASCII, escapes and dot segments), leaving an origin-form target.

use super::request_path;
use http::header::{self, HeaderValue};
use pingora::http::RequestHeader;
use std::borrow::Cow;

/// Why a request is answered by the gateway instead of being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// 400, with Go's reason (`missing required Host header`), or none for a plain 400.
    BadRequest(Option<&'static str>),
    /// 501: a `Transfer-Encoding` other than one plain `chunked` (Go: unsupported transfer encoding).
    UnsupportedTransferEncoding,
}

/// Checks the head and rewrites its target to the origin-form that is routed on and forwarded.
/// A target without an authority and with nothing to clean is left untouched (no allocation).
pub fn prepare(req: &mut RequestHeader) -> Result<(), Rejection> {
    check_transfer_encoding(req)?;
    if super::forwarded::too_many_connection_tokens(req) {
        return Err(Rejection::BadRequest(None));
    }
    let target = split_target(req.raw_path());
    let authority = target.authority.map(<[u8]>::to_vec);
    let new_target = match target.path_and_query {
        // `OPTIONS *`: nothing to clean.
        b"*" => None,
        bytes => match (origin_form(bytes)?, &authority) {
            // Clean already, but the authority goes: the server gets origin-form (it is ASCII).
            (None, Some(_)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            (cleaned, _) => cleaned,
        },
    };
    check_host(req)?;
    if let Some(authority) = authority {
        // The target's authority is the request's host (RFC 9112 3.2.2); Pingora has already
        // refused a Host header that disagrees with it.
        if !req.headers.contains_key(header::HOST) {
            let host =
                HeaderValue::from_bytes(&authority).map_err(|_| Rejection::BadRequest(None))?;
            req.insert_header(header::HOST, host)
                .map_err(|_| Rejection::BadRequest(None))?;
        }
    }
    match new_target {
        Some(target) => set_target(req, &target),
        None => Ok(()),
    }
}

fn set_target(req: &mut RequestHeader, target: &str) -> Result<(), Rejection> {
    let uri: http::Uri = target.parse().map_err(|_| Rejection::BadRequest(None))?;
    req.set_uri(uri);
    Ok(())
}

/// Go reads a body only with no `Transfer-Encoding` or with exactly one, `chunked`.
fn check_transfer_encoding(req: &RequestHeader) -> Result<(), Rejection> {
    let mut values = req.headers.get_all(header::TRANSFER_ENCODING).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(()),
        (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(Rejection::UnsupportedTransferEncoding),
    }
}

/// HTTP/1.1 needs a Host header, and a Host header must be a valid host (Go's rules).
/// Go asks for Host even when the target is in absolute-form.
fn check_host(req: &RequestHeader) -> Result<(), Rejection> {
    match req.headers.get(header::HOST) {
        None if req.version == http::Version::HTTP_11 && req.method != http::Method::CONNECT => {
            Err(Rejection::BadRequest(Some("missing required Host header")))
        }
        None => Ok(()),
        Some(host) if host.as_bytes().iter().all(|&b| is_valid_host_byte(b)) => Ok(()),
        Some(_) => Err(Rejection::BadRequest(Some("malformed Host header"))),
    }
}

/// Go's `httpguts.ValidHostHeader` alphabet: letters, digits and `!$%&'()*+,-.:;=[]_~`.
pub(crate) fn is_valid_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&byte)
}

/// A request target cut into its authority (absolute-form only) and its path and query.
struct Target<'a> {
    authority: Option<&'a [u8]>,
    path_and_query: &'a [u8],
}

/// Splits `http://host:port/p?q` into `host:port` and `/p?q`; other forms have no authority.
fn split_target(raw: &[u8]) -> Target<'_> {
    let no_authority = Target {
        authority: None,
        path_and_query: raw,
    };
    if raw.first().is_some_and(|&b| b == b'/' || b == b'*') {
        return no_authority;
    }
    let Some(scheme_end) = raw.windows(3).position(|w| w == b"://") else {
        return no_authority;
    };
    if !raw[..scheme_end]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return no_authority;
    }
    let rest = &raw[scheme_end + 3..];
    let authority_end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    Target {
        authority: Some(&rest[..authority_end]),
        path_and_query: &rest[authority_end..],
    }
}

/// The cleaned origin-form of a path-and-query, or `None` when it is already clean. Path bytes
/// above ASCII are percent-encoded as Go's `URL.EscapedPath` sends them, the query is kept as
/// sent (Pingora's parser has already refused control characters, spaces and bytes that are not
/// UTF-8); a bad `%` escape in the path is a 400.
fn origin_form(target: &[u8]) -> Result<Option<String>, Rejection> {
    let text = std::str::from_utf8(target).map_err(|_| Rejection::BadRequest(None))?;
    let (raw_path, query) = match text.find('?') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let escaped = escape_non_ascii(raw_path)?;
    let had_path = !escaped.is_empty();
    let prepared = request_path::prepare(if had_path { &escaped } else { "/" })
        .map_err(|request_path::InvalidEscape| Rejection::BadRequest(None))?;
    let unchanged =
        had_path && matches!(prepared, Cow::Borrowed(_)) && matches!(escaped, Cow::Borrowed(_));
    if unchanged {
        return Ok(None);
    }
    Ok(Some(match query {
        Some(query) => format!("{prepared}?{query}"),
        None => prepared.into_owned(),
    }))
}

/// The path as Go's `URL.EscapedPath` sends it. A raw path with bytes above ASCII is not a
/// valid escaping for Go, which then sends its decoded path escaped anew (so `%2F` becomes `/`
/// there); an ASCII path is borrowed as it is.
fn escape_non_ascii(path: &str) -> Result<Cow<'_, str>, Rejection> {
    if path.is_ascii() {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = percent_decode(path.as_bytes())?;
    let mut out = String::with_capacity(decoded.len() + 16);
    for byte in decoded {
        if is_kept_in_go_paths(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(Cow::Owned(out))
}

/// Go's `shouldEscape(c, encodePath)` is false: unreserved characters and `$&+,/:;=@`.
fn is_kept_in_go_paths(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&byte)
}

/// Every `%XX` decoded; a bad escape is a 400.
fn percent_decode(text: &[u8]) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'%' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let hex = |at: usize| {
            text.get(at)
                .and_then(|&b| (b as char).to_digit(16))
                .ok_or(Rejection::BadRequest(None))
        };
        out.push((hex(i + 1)? * 16 + hex(i + 2)?) as u8);
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &[u8], host: Option<&str>) -> RequestHeader {
        let mut req = RequestHeader::build(method, b"/", None).unwrap();
        req.set_raw_path(target).unwrap();
        if let Some(host) = host {
            req.insert_header(header::HOST, host).unwrap();
        }
        req
    }

    fn prepared(target: &[u8], host: Option<&str>) -> Result<(String, Option<String>), Rejection> {
        let mut req = head("GET", target, host);
        prepare(&mut req)?;
        let host = req
            .headers
            .get(header::HOST)
            .map(|h| h.to_str().unwrap().to_string());
        Ok((String::from_utf8(req.raw_path().to_vec()).unwrap(), host))
    }

    #[test]
    fn clean_origin_form_is_untouched() {
        let (target, host) = prepared(b"/api/v1?x=1", Some("a.test")).unwrap();
        assert_eq!(target, "/api/v1?x=1");
        assert_eq!(host.as_deref(), Some("a.test"));
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let (target, host) = prepared(b"http://a.test:81/x?y=1", Some("a.test:81")).unwrap();
        assert_eq!(target, "/x?y=1");
        assert_eq!(host.as_deref(), Some("a.test:81"));
        let (target, _) = prepared(b"http://a.test", Some("a.test")).unwrap();
        assert_eq!(target, "/");
        let (target, _) = prepared(b"http://a.test/a/../b//c", Some("a.test")).unwrap();
        assert_eq!(target, "/b/c");
    }

    #[test]
    fn absolute_form_gives_host_when_absent() {
        let mut req = head("GET", b"http://a.test/x", None);
        req.set_version(http::Version::HTTP_10);
        prepare(&mut req).unwrap();
        assert_eq!(req.headers[header::HOST], "a.test");
        assert_eq!(req.raw_path(), b"/x");
    }

    #[test]
    fn non_ascii_bytes_are_escaped() {
        let (target, _) = prepared("/café/?q=é".as_bytes(), Some("a")).unwrap();
        assert_eq!(
            target, "/caf%C3%A9/?q=é",
            "the query is sent as it came, as Go does"
        );
    }

    #[test]
    fn bad_escapes_are_rejected() {
        for bad in [&b"/a%zz"[..], b"/a%", b"http://a/%g0"] {
            assert_eq!(
                prepared(bad, Some("a")),
                Err(Rejection::BadRequest(None)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn host_is_required_and_checked() {
        assert_eq!(
            prepared(b"/", None),
            Err(Rejection::BadRequest(Some("missing required Host header")))
        );
        for bad in ["a b", "a\tb", "a\"b", "a<b>"] {
            let mut req = head("GET", b"/", None);
            req.insert_header(
                header::HOST,
                HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            )
            .unwrap();
            assert_eq!(
                prepare(&mut req),
                Err(Rejection::BadRequest(Some("malformed Host header"))),
                "{bad:?}"
            );
        }
        let mut old = head("GET", b"/", None);
        old.set_version(http::Version::HTTP_10);
        assert_eq!(prepare(&mut old), Ok(()), "HTTP/1.0 needs no Host");
        assert!(prepared(b"/", Some("[::1]:80")).is_ok());
    }

    #[test]
    fn only_plain_chunked_is_a_transfer_encoding() {
        let with = |values: &[&str]| {
            let mut req = head("POST", b"/", Some("a"));
            for value in values {
                req.append_header(header::TRANSFER_ENCODING, *value)
                    .unwrap();
            }
            prepare(&mut req)
        };
        assert_eq!(with(&[]), Ok(()));
        assert_eq!(with(&["chunked"]), Ok(()));
        assert_eq!(with(&["Chunked"]), Ok(()));
        for bad in [
            &["gzip, chunked"][..],
            &["chunked", "chunked"],
            &["identity"],
        ] {
            assert_eq!(
                with(bad),
                Err(Rejection::UnsupportedTransferEncoding),
                "{bad:?}"
            );
        }
    }
}
