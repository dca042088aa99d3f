//! The per-request header work: the request head's checks and target preparation, Traefik's
//! forwarded-header rewrite at the entrypoint and the hop-by-hop cleanup before the request goes
//! upstream.

use control::static_config::ForwardedHeaders;
use criterion::{criterion_group, criterion_main, Criterion};
use gateway::http1::request::{HeadStatus, ParsedRequest};
use gateway::proxy::forwarded::{prepare_upstream, ForwardedPolicy};
use gateway::proxy::intake;
use pingora::http::RequestHeader;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

fn request(extra: &[(&str, &str)]) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/api/v1/users?page=2", None).expect("request");
    for (name, value) in [
        ("Host", "api.example.com"),
        ("User-Agent", "bench/1.0"),
        ("Accept", "*/*"),
    ]
    .iter()
    .chain(extra)
    {
        req.append_header(name.to_string(), *value).expect("header");
    }
    req
}

/// Where a name or value is in the buffer: start and length.
/// A request head as the lean path parses it (offsets into the buffer).
fn parsed(head: &[u8]) -> ParsedRequest {
    let mut request = ParsedRequest::new();
    assert_eq!(request.parse(head, 1 << 20), HeadStatus::Lean);
    request
}

fn forwarded_headers(c: &mut Criterion) {
    let client = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    let untrusted =
        ForwardedPolicy::new(&ForwardedHeaders::default(), "gateway-host").expect("policy");
    let trusted = ForwardedPolicy::new(
        &ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/8".into()],
            ..Default::default()
        },
        "gateway-host",
    )
    .expect("policy");
    let mut group = c.benchmark_group("forwarding");
    let plain = request(&[]);
    group.bench_function("entrypoint_rewrite/plain", |b| {
        b.iter_batched(
            || plain.clone(),
            |mut req| untrusted.rewrite_incoming(black_box(&mut req), client, false),
            criterion::BatchSize::SmallInput,
        )
    });
    let proxied = request(&[
        ("X-Forwarded-For", "1.1.1.1"),
        ("X-Forwarded-Proto", "https"),
        ("Connection", "keep-alive, X-Trace"),
        ("X-Trace", "1"),
    ]);
    group.bench_function("entrypoint_rewrite/untrusted_forwarded", |b| {
        b.iter_batched(
            || proxied.clone(),
            |mut req| untrusted.rewrite_incoming(black_box(&mut req), client, false),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("entrypoint_rewrite/trusted_forwarded", |b| {
        b.iter_batched(
            || proxied.clone(),
            |mut req| trusted.rewrite_incoming(black_box(&mut req), client, false),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("intake/origin_form", |b| {
        b.iter_batched(
            || plain.clone(),
            |mut req| intake::prepare(black_box(&mut req)),
            criterion::BatchSize::SmallInput,
        )
    });
    let mut absolute = plain.clone();
    absolute
        .set_raw_path(b"http://api.example.com/api/v1/../users?page=2")
        .expect("target");
    group.bench_function("intake/absolute_form_with_dot_segments", |b| {
        b.iter_batched(
            || absolute.clone(),
            |mut req| intake::prepare(black_box(&mut req)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("upstream_cleanup", |b| {
        b.iter_batched(
            || proxied.clone(),
            |mut req| prepare_upstream(black_box(&mut req), client, true),
            criterion::BatchSize::SmallInput,
        )
    });
    // The lean path: one plan and the upstream header lines written into a reused buffer.
    let typical_bytes: &[u8] = b"GET /api/v1/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\n\
User-Agent: bench/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    let typical_head = parsed(typical_bytes);
    let typical = typical_head.view(typical_bytes);
    let mut out = Vec::with_capacity(1024);
    group.bench_function("plan_write_headers/plain", |b| {
        b.iter(|| {
            out.clear();
            let plan = untrusted.plan(black_box(&typical), client, false);
            plan.write_headers(&typical, None, &mut out);
            black_box(out.len())
        })
    });
    let forwarded_bytes: &[u8] = b"GET /api/v1/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\n\
User-Agent: bench/1.0\r\nAccept: */*\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n\
Connection: keep-alive\r\n\r\n";
    let forwarded_head = parsed(forwarded_bytes);
    let forwarded = forwarded_head.view(forwarded_bytes);
    group.bench_function("plan_write_headers/trusted_forwarded", |b| {
        b.iter(|| {
            out.clear();
            let plan = trusted.plan(black_box(&forwarded), client, false);
            plan.write_headers(&forwarded, None, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, forwarded_headers);
criterion_main!(benches);
