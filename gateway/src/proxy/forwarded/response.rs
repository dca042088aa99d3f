//! Hop-by-hop headers of a response, which the client does not get: a predicate over raw
//! `(name, value)` headers for either path, and its applier to Pingora's `ResponseHeader`.

use super::names::{self, is, NameFilter};
use http::header::HeaderName;
use pingora::http::ResponseHeader;

/// Which headers of one response are hop-by-hop: the standard ones except `Transfer-Encoding`
/// and `Trailer` (which frame the response to the client), and those `Connection` names (except
/// the framing and host headers); none in a `101 Switching Protocols`, which the upgrade needs.
#[derive(Debug, Clone)]
pub struct ResponseHopByHop<F> {
    headers: F,
    switching_protocols: bool,
    /// The names `Connection` nominates (a filter: a hit is checked against the tokens).
    nominated: NameFilter,
}

impl<'h, F, I> ResponseHopByHop<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (&'h [u8], &'h [u8])>,
{
    /// The predicate for a response with `status` whose headers (as received, any case) are
    /// what `headers` iterates, each time it is called.
    pub fn new(status: u16, headers: F) -> Self {
        let mut nominated = NameFilter::default();
        for (_, value) in headers().filter(|(name, _)| is(name, "connection")) {
            for token in names::tokens(value) {
                nominated.insert(token);
            }
        }
        Self {
            headers,
            switching_protocols: status == 101,
            nominated,
        }
    }

    /// Whether the header `name` (any case) is removed from the response.
    pub fn drops(&self, name: &[u8]) -> bool {
        if self.switching_protocols || is(name, "transfer-encoding") || is(name, "trailer") {
            return false;
        }
        if names::is_hop_by_hop(name) {
            return true;
        }
        self.nominated.may_hold(name)
            && !names::is_never_nominated(name)
            && names::values_name(
                (self.headers)()
                    .filter(|(n, _)| is(n, "connection"))
                    .map(|(_, value)| value),
                name,
            )
    }
}

/// Removes hop-by-hop headers from a response (except what a 101 upgrade needs).
pub fn clean_response(resp: &mut ResponseHeader) {
    let headers = || {
        resp.headers
            .iter()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
    };
    let hop_by_hop = ResponseHopByHop::new(resp.status.as_u16(), headers);
    let dropped: Vec<HeaderName> = resp
        .headers
        .keys()
        .filter(|name| hop_by_hop.drops(name.as_str().as_bytes()))
        .cloned()
        .collect();
    for name in dropped {
        resp.remove_header(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drops(status: u16, headers: &[(&str, &str)], name: &str) -> bool {
        let raw = || headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        ResponseHopByHop::new(status, raw).drops(name.as_bytes())
    }

    #[test]
    fn raw_response_headers() {
        let headers = [
            ("CONNECTION", "x-hop, Content-Length, trailer"),
            ("X-Hop", "1"),
            ("Trailer", "X-Sum"),
            ("Content-Length", "2"),
        ];
        for hop in [
            "connection",
            "X-HOP",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-connection",
        ] {
            assert!(drops(200, &headers, hop), "{hop}");
        }
        for kept in ["trailer", "transfer-encoding", "content-length", "x-stay"] {
            assert!(!drops(200, &headers, kept), "{kept}");
        }
        assert!(!drops(101, &headers, "upgrade"));
        assert!(!drops(101, &headers, "x-hop"));
        assert!(
            !drops(200, &[("X-Hop", "1")], "x-hop"),
            "without Connection"
        );
    }
}
