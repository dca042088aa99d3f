//! The request and response heads a middleware reads and changes, as the `http` crate's types,
//! over each place a head lives: Pingora's `RequestHeader`/`ResponseHeader` (the fallback path,
//! whose header-name case is kept), `http::request::Parts` (the lean path's edited copy) and
//! the gateway's own [`Answer`]s.

use crate::proxy::responses::Answer;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use pingora::http::{RequestHeader, ResponseHeader};

/// A request head being forwarded: read through the `http` crate's types, changed in place.
pub trait RequestEdit: Send {
    /// The method.
    fn method(&self) -> &Method;
    /// The target (`/path?query`, or absolute form).
    fn uri(&self) -> &Uri;
    /// The headers.
    fn headers(&self) -> &HeaderMap;
    /// Replaces the target.
    fn set_uri(&mut self, uri: Uri);
    /// Replaces the method.
    fn set_method(&mut self, method: Method);
    /// Sets `name` to `value` alone.
    fn insert_header(&mut self, name: HeaderName, value: HeaderValue);
    /// Adds a value to `name`.
    fn append_header(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes every value of `name`.
    fn remove_header(&mut self, name: &HeaderName);
    /// Sets `name` to `value` alone, sent spelled as `spelled` (Traefik sets some headers
    /// under a configured, non-canonical name). By default, as [`RequestEdit::insert_header`].
    fn insert_header_spelled(&mut self, name: HeaderName, spelled: &str, value: HeaderValue) {
        let _ = spelled;
        self.insert_header(name, value);
    }
}

/// A response head on its way to the client.
pub trait ResponseEdit: Send {
    /// The status.
    fn status(&self) -> StatusCode;
    /// Replaces the status (and its reason phrase with Go's).
    fn set_status(&mut self, status: StatusCode);
    /// The headers.
    fn headers(&self) -> &HeaderMap;
    /// Sets `name` to `value` alone.
    fn insert_header(&mut self, name: HeaderName, value: HeaderValue);
    /// Adds a value to `name`.
    fn append_header(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes every value of `name`.
    fn remove_header(&mut self, name: &HeaderName);
}

/// A header name in Go's canonical spelling (`X-Forwarded-Prefix`), as Traefik sends the
/// headers its middlewares set.
pub fn go_canonical(name: &HeaderName) -> String {
    let mut upper = true;
    name.as_str()
        .chars()
        .map(|c| {
            let spelled = if upper { c.to_ascii_uppercase() } else { c };
            upper = c == '-';
            spelled
        })
        .collect()
}

impl RequestEdit for RequestHeader {
    fn method(&self) -> &Method {
        &self.method
    }

    fn uri(&self) -> &Uri {
        &self.uri
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn set_uri(&mut self, uri: Uri) {
        RequestHeader::set_uri(self, uri);
    }

    fn set_method(&mut self, method: Method) {
        RequestHeader::set_method(self, method);
    }

    fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        // Typed names and values cannot be refused.
        let _ = RequestHeader::insert_header(self, go_canonical(&name), value);
    }

    fn append_header(&mut self, name: HeaderName, value: HeaderValue) {
        let _ = RequestHeader::append_header(self, go_canonical(&name), value);
    }

    fn remove_header(&mut self, name: &HeaderName) {
        RequestHeader::remove_header(self, name);
    }

    fn insert_header_spelled(&mut self, name: HeaderName, spelled: &str, value: HeaderValue) {
        RequestHeader::remove_header(self, &name);
        let _ = RequestHeader::insert_header(self, spelled.to_string(), value);
    }
}

impl RequestEdit for http::request::Parts {
    fn method(&self) -> &Method {
        &self.method
    }

    fn uri(&self) -> &Uri {
        &self.uri
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn set_uri(&mut self, uri: Uri) {
        self.uri = uri;
    }

    fn set_method(&mut self, method: Method) {
        self.method = method;
    }

    fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    fn append_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.append(name, value);
    }

    fn remove_header(&mut self, name: &HeaderName) {
        self.headers.remove(name);
    }
}

impl ResponseEdit for ResponseHeader {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn set_status(&mut self, status: StatusCode) {
        // A typed status cannot be refused.
        let _ = ResponseHeader::set_status(self, status);
        let _ = self.set_reason_phrase(crate::proxy::responses::go_reason(status.as_u16()));
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        let _ = ResponseHeader::insert_header(self, go_canonical(&name), value);
    }

    fn append_header(&mut self, name: HeaderName, value: HeaderValue) {
        let _ = ResponseHeader::append_header(self, go_canonical(&name), value);
    }

    fn remove_header(&mut self, name: &HeaderName) {
        ResponseHeader::remove_header(self, name);
    }
}

impl ResponseEdit for http::response::Parts {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    fn append_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.append(name, value);
    }

    fn remove_header(&mut self, name: &HeaderName) {
        self.headers.remove(name);
    }
}

impl ResponseEdit for Answer {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn set_status(&mut self, status: StatusCode) {
        self.status = status.as_u16();
    }

    fn headers(&self) -> &HeaderMap {
        self.header_map()
    }

    fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.header_map_mut().insert(name, value);
    }

    fn append_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.header_map_mut().append(name, value);
    }

    fn remove_header(&mut self, name: &HeaderName) {
        self.header_map_mut().remove(name);
    }
}
