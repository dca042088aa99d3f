//! The lean path's upstream header lines: a plan applied while the head is written out, with
//! no header map built and nothing allocated once the output buffer has room.

use super::names::is;
use super::plan::ForwardedPlan;
use crate::proxy::head::RequestHead;

impl ForwardedPlan<'_> {
    /// Writes every header line the request goes upstream with (`Name: value\r\n`): the
    /// received headers both stages keep, as received, then the headers they set, spelled as
    /// Traefik sends them. `host` replaces the `Host` value (a service with `passHostHeader:
    /// false`). Neither the request line nor the blank line that ends the head.
    pub fn write_headers(&self, head: &impl RequestHead, host: Option<&[u8]>, out: &mut Vec<u8>) {
        let entered = self.headers_for_routing(head);
        let upstream = &self.upstream;
        if let Some(host) = host {
            line(out, b"Host", host);
        }
        for (name, value) in head.headers() {
            let dropped = (host.is_some() && is(name, "host"))
                || self.incoming_drops(head, name)
                || upstream.drops(&entered, name)
                || upstream.replaces(name);
            if !dropped {
                line(out, name, value);
            }
        }
        for set in self.sets() {
            let name = set.name().as_bytes();
            if upstream.drops(&entered, name) || upstream.replaces(name) {
                continue;
            }
            start(out, name);
            // Writing into a Vec cannot fail.
            let _ = self.write_value(head, self.value(head, set), out);
            out.extend_from_slice(b"\r\n");
        }
        for set in upstream.sets() {
            start(out, set.name().as_bytes());
            let _ = upstream.write_value(&entered, set, out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn start(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    start(out, name);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
