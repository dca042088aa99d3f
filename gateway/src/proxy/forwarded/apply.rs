//! The Pingora path's appliers: a plan's entrypoint stage and the proxy stage carried out on
//! Pingora's `RequestHeader`, which routing reads in between.

use super::names;
use super::plan::{ForwardedPlan, Set, Value};
use super::upstream::{UpstreamSet, UpstreamStage};
use super::ForwardedPolicy;
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use std::net::IpAddr;

impl ForwardedPolicy {
    /// The entrypoint stage, before routing: drops untrusted forwarded headers, fills in
    /// `X-Real-Ip`, `X-Forwarded-Proto/Port/Host/Server`, folds `X-Forwarded-For`, and removes
    /// headers named in `Connection` (keeping managed ones and the configured exceptions).
    pub fn rewrite_incoming(&self, req: &mut RequestHeader, client: Option<IpAddr>, tls: bool) {
        let plan = self.plan(&*req, client, tls);
        plan.apply_incoming(req);
    }
}

impl ForwardedPlan<'_> {
    /// Rewrites `req` (the head the plan was made from) as the entrypoint stage leaves it.
    pub fn apply_incoming(&self, req: &mut RequestHeader) {
        // Every value first: some are read from headers removed below.
        let values = Set::ALL.map(|set| self.is_set(set).then(|| self.header_value(req, set)));
        if self.removes_managed() {
            let managed: Vec<HeaderName> = req
                .headers
                .keys()
                .filter(|name| names::is_managed(name.as_str().as_bytes()))
                .cloned()
                .collect();
            for name in managed {
                req.remove_header(&name);
            }
        }
        if self.removes_nominated() {
            let nominated: Vec<HeaderName> = req
                .headers
                .get_all(header::CONNECTION)
                .iter()
                .flat_map(|value| names::tokens(value.as_bytes()))
                .filter(|token| self.token_removes(token))
                .filter_map(|token| HeaderName::from_bytes(token).ok())
                .collect();
            for name in nominated {
                req.remove_header(&name);
            }
        }
        if self.rewrites_connection() && !self.is_set(Set::Connection) {
            req.remove_header(&header::CONNECTION);
        }
        for (set, value) in Set::ALL.into_iter().zip(values) {
            if let Some(Some(value)) = value {
                let _ = req.insert_header(set.name(), value);
            }
        }
    }

    /// The value of a set header, sharing the received one where it is copied as is.
    fn header_value(&self, req: &RequestHeader, set: Set) -> Option<HeaderValue> {
        let received = |name: HeaderName| req.headers.get(name).cloned();
        match set {
            Set::ForwardedHost if req.uri.authority().is_none() => return received(header::HOST),
            Set::ForwardedScheme | Set::Scheme if self.proto().is_none() => {
                return received(HeaderName::from_static("x-forwarded-proto"))
            }
            Set::Server => return self.policy.server_name.clone(),
            Set::Upgrade => return received(header::UPGRADE),
            _ => {}
        }
        match self.value(req, set) {
            Value::Static(text) => Some(HeaderValue::from_static(text)),
            Value::Bytes(bytes) => HeaderValue::from_bytes(bytes).ok(),
            written => {
                let mut value = Vec::new();
                self.write_value(req, written, &mut value).ok()?;
                HeaderValue::try_from(value).ok()
            }
        }
    }
}

/// The proxy stage, right before the request goes upstream (Go's reverse proxy): removes
/// hop-by-hop headers (restoring `Connection: Upgrade` and `Upgrade` for a protocol upgrade of
/// any kind, keeping `TE: trailers`) and appends the client address to `X-Forwarded-For`.
pub fn prepare_upstream(
    req: &mut RequestHeader,
    client: Option<IpAddr>,
    append_x_forwarded_for: bool,
) {
    let stage = UpstreamStage::of(&req.headers, client, append_x_forwarded_for);
    // Every value first: the upgrade's protocol is read from a header removed below.
    let values = UpstreamSet::ALL.map(|set| {
        if !stage.is_set(set) {
            return None;
        }
        match set {
            UpstreamSet::Te => Some(HeaderValue::from_static("trailers")),
            UpstreamSet::Connection => Some(HeaderValue::from_static("Upgrade")),
            UpstreamSet::Upgrade => req.headers.get(header::UPGRADE).cloned(),
            UpstreamSet::ForwardedFor => {
                let mut value = Vec::new();
                stage.write_value(&req.headers, set, &mut value).ok()?;
                HeaderValue::try_from(value).ok()
            }
        }
    });
    let dropped: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| stage.drops(&req.headers, name.as_str().as_bytes()))
        .cloned()
        .collect();
    for name in dropped {
        req.remove_header(&name);
    }
    for (set, value) in UpstreamSet::ALL.into_iter().zip(values) {
        if let Some(value) = value {
            let _ = req.insert_header(set.name(), value);
        }
    }
}
