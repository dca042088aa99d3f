//! The request head as the entrypoint stage leaves it, read through a plan without rewriting
//! the head: what the router's `Header` rules see on the lean path, and what the proxy stage
//! reads there.

use super::plan::{ForwardedPlan, Value};
use crate::proxy::head::RequestHead;
use control::rule::HeaderValues;
use std::io::Write;

/// The planned values of the headers the entrypoint stage sets or drops, and the received ones
/// otherwise (see [`ForwardedPlan::headers_for_routing`]).
pub struct PlannedHeaders<'a, 'p, H> {
    plan: &'a ForwardedPlan<'p>,
    head: &'a H,
}

impl<'a, 'p, H: RequestHead> PlannedHeaders<'a, 'p, H> {
    pub(super) fn new(plan: &'a ForwardedPlan<'p>, head: &'a H) -> Self {
        Self { plan, head }
    }
}

/// Room for any address as text (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const IP_TEXT: usize = 45;

impl<H: RequestHead> HeaderValues for PlannedHeaders<'_, '_, H> {
    fn any_value(&self, name: &http::HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        let name = name.as_str();
        if let Some(set) = self.plan.set_named(name.as_bytes()) {
            return match self.plan.value(self.head, set) {
                Value::Static(text) => test(text.as_bytes()),
                Value::Bytes(bytes) => test(bytes),
                Value::Ip(ip) => {
                    let mut text = [0; IP_TEXT];
                    let mut rest = &mut text[..];
                    // An address always fits; `rest` shrinks by what was written.
                    let _ = write!(rest, "{ip}");
                    let written = IP_TEXT - rest.len();
                    test(&text[..written])
                }
                joined => {
                    // Joined values (a trusted client's repeated X-Forwarded-For, kept
                    // Connection tokens) are rare: built when a rule reads them.
                    let mut value = Vec::new();
                    let _ = self.plan.write_value(self.head, joined, &mut value);
                    test(&value)
                }
            };
        }
        if self.plan.incoming_drops(self.head, name.as_bytes()) {
            return false;
        }
        self.head.header_values(name).any(test)
    }
}
