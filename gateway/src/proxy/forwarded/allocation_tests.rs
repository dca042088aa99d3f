//! The lean path's forwarded-header work allocates nothing for a typical head: counted by a
//! global allocator (this test binary's) that tallies each thread's allocations.

use super::*;
use crate::allocation_count::allocations_during;
use crate::http1::request::{HeadStatus, ParsedRequest};
use control::static_config::ForwardedHeaders;
use std::net::Ipv4Addr;

#[test]
fn typical_heads_plan_and_write_without_allocating() {
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
    let typical: &[u8] = b"GET /api/v1/users HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    let forwarded: &[u8] = b"GET /api/v1/users HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n";
    let short: &[u8] = b"GET /api/v1/users HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n";
    let mut parsed = ParsedRequest::new();
    for (policy, bytes) in [
        (&untrusted, typical),
        (&trusted, forwarded),
        (&trusted, short),
    ] {
        assert_eq!(parsed.parse(bytes, 1 << 20), HeadStatus::Lean);
        let head = parsed.view(bytes);
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
        assert!(!written.contains("Connection"), "{written}");
        if bytes == forwarded {
            assert!(
                written.contains("X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\n"),
                "{written}"
            );
        }
    }
    // The counter sees allocations at all.
    assert_eq!(allocations_during(|| drop(Vec::<u8>::with_capacity(8))), 1);
}
