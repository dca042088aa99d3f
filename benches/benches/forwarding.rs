//! The per-request header work: the request head's checks and target preparation, Traefik's
//! forwarded-header rewrite at the entrypoint and the hop-by-hop cleanup before the request goes
//! upstream.

use control::static_config::ForwardedHeaders;
use criterion::{criterion_group, criterion_main, Criterion};
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
    group.finish();
}

criterion_group!(benches, forwarded_headers);
criterion_main!(benches);
