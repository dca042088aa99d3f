//! The lean path's forwarded-header work allocates nothing for a typical head: counted by a
//! global allocator (this test binary's) that tallies each thread's allocations.

use super::*;
use crate::allocation_count::allocations_during;
use control::static_config::ForwardedHeaders;
use std::net::Ipv4Addr;

/// Where a name or value is in the buffer: start and length.
type Span = (usize, usize);

/// A head over one buffer, as the lean path parses it: names and values as offsets.
struct OffsetHead<'b> {
    buffer: &'b [u8],
    headers: &'b [(Span, Span)],
}

impl RequestHead for OffsetHead<'_> {
    fn method(&self) -> &[u8] {
        b"GET"
    }
    fn target_authority(&self) -> Option<&[u8]> {
        None
    }
    fn path(&self) -> &[u8] {
        b"/api/v1/users"
    }
    fn query(&self) -> Option<&[u8]> {
        None
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|&((n, nl), (v, vl))| (&self.buffer[n..n + nl], &self.buffer[v..v + vl]))
    }
}

#[test]
fn typical_heads_plan_and_write_without_allocating() {
    let buffer = b"Host: api.example.comUser-Agent: bench/1.0Accept: */*\
Connection: keep-aliveX-Forwarded-For: 1.1.1.1";
    let spans = [
        ((0, 4), (6, 15)),
        ((21, 10), (33, 9)),
        ((42, 6), (50, 3)),
        ((53, 10), (65, 10)),
        ((75, 15), (92, 7)),
    ];
    let client = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    let untrusted = ForwardedPolicy::new(&ForwardedHeaders::default(), "gw-host").unwrap();
    let trusted = ForwardedPolicy::new(
        &ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/8".into()],
            add_x_forwarded_scheme_headers: true,
            ..Default::default()
        },
        "gw-host",
    )
    .unwrap();
    let mut out = Vec::with_capacity(1024);
    for (policy, headers) in [
        (&untrusted, &spans[..4]),
        (&trusted, &spans[..]),
        (&trusted, &spans[..3]),
    ] {
        let head = OffsetHead { buffer, headers };
        assert_eq!(head.header("host"), Some(&b"api.example.com"[..]));
        out.clear();
        let allocations = allocations_during(|| {
            let plan = policy.plan(&head, client, false);
            plan.write_headers(&head, Some(b"backend:8080"), &mut out);
        });
        assert_eq!(allocations, 0, "{}", String::from_utf8_lossy(&out));
        let written = String::from_utf8(out.clone()).unwrap();
        assert!(written.contains("X-Forwarded-For: "), "{written}");
        assert!(written.contains("X-Real-Ip: 10.1.2.3\r\n"), "{written}");
        assert!(!written.contains("keep-alive"), "{written}");
        if headers.len() == spans.len() {
            assert!(
                written.contains("X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\n"),
                "{written}"
            );
        }
    }
    // The counter sees allocations at all.
    assert_eq!(allocations_during(|| drop(Vec::<u8>::with_capacity(8))), 1);
}
