//! The read-only view of a request head that the request path's policy reads (forwarded
//! headers, hop-by-hop rules, routing, and the middlewares to come), so that one implementation
//! serves both HTTP/1 paths: Pingora's `RequestHeader` and the lean path's parsed head, which
//! keeps its headers as offsets into the connection's buffer.

use pingora::http::RequestHeader;

/// A request head as received.
pub trait RequestHead {
    /// The method, as sent.
    fn method(&self) -> &[u8];
    /// The authority of an absolute-form target (`GET http://host/path`), if it has one.
    fn target_authority(&self) -> Option<&[u8]>;
    /// The target's path, as sent (still escaped).
    fn path(&self) -> &[u8];
    /// The target's query, without the `?`, if it has one.
    fn query(&self) -> Option<&[u8]>;
    /// Every header in the order received, as (name, value). Names are as sent or lowercase:
    /// compare them case-insensitively.
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_;

    /// The values of the header `name` (any case), in the order received.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of the header `name` (any case).
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The host the client addressed: the absolute-form target's authority, else `Host`.
    fn host(&self) -> Option<&[u8]> {
        self.target_authority().or_else(|| self.header("host"))
    }
}

impl RequestHead for RequestHeader {
    fn method(&self) -> &[u8] {
        self.method.as_str().as_bytes()
    }

    fn target_authority(&self) -> Option<&[u8]> {
        self.uri.authority().map(|a| a.as_str().as_bytes())
    }

    fn path(&self) -> &[u8] {
        self.uri.path().as_bytes()
    }

    fn query(&self) -> Option<&[u8]> {
        self.uri.query().map(str::as_bytes)
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        // The map's own lookup: no scan of every header.
        self.headers.get_all(name).into_iter().map(|v| v.as_bytes())
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingora_heads_read_like_the_wire() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.set_uri("http://example.com:81/a%20b?x=1".parse().unwrap());
        req.append_header("X-Forwarded-For", "1.1.1.1").unwrap();
        req.append_header("x-forwarded-for", "2.2.2.2").unwrap();
        req.append_header("Host", "ignored.example").unwrap();
        assert_eq!(req.method(), b"GET");
        assert_eq!(req.path(), b"/a%20b");
        assert_eq!(req.query(), Some(&b"x=1"[..]));
        assert_eq!(req.host(), Some(&b"example.com:81"[..]));
        let forwarded: Vec<&[u8]> = req.header_values("X-FORWARDED-FOR").collect();
        assert_eq!(forwarded, [&b"1.1.1.1"[..], b"2.2.2.2"]);
        assert_eq!(req.headers().count(), 3);
        assert_eq!(req.header("missing"), None);
    }
}
