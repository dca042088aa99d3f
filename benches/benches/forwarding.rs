//! The per-request header work: the request head's checks and target preparation, Traefik's
//! forwarded-header rewrite at the entrypoint and the hop-by-hop cleanup before the request goes
//! upstream.

use control::static_config::ForwardedHeaders;
use criterion::{criterion_group, criterion_main, Criterion};
use gateway::proxy::forwarded::{prepare_upstream, ForwardedPolicy};
use gateway::proxy::head::RequestHead;
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
type Span = (usize, usize);

/// A head as the lean path keeps it: names and values as offsets into the connection's buffer.
struct OffsetHead {
    buffer: &'static [u8],
    spans: Vec<(Span, Span)>,
}

impl OffsetHead {
    /// Parses `Name: value\r\n` lines (the bench's own, well-formed) into offsets.
    fn new(buffer: &'static [u8]) -> Self {
        let mut spans = Vec::new();
        let mut at = 0;
        while let Some(end) = buffer[at..].windows(2).position(|w| w == b"\r\n") {
            let line = &buffer[at..at + end];
            let colon = line.iter().position(|&b| b == b':').expect("colon");
            spans.push(((at, colon), (at + colon + 2, end - colon - 2)));
            at += end + 2;
        }
        Self { buffer, spans }
    }
}

impl RequestHead for OffsetHead {
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
        Some(b"page=2")
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans
            .iter()
            .map(|&((n, nl), (v, vl))| (&self.buffer[n..n + nl], &self.buffer[v..v + vl]))
    }
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
    let typical = OffsetHead::new(
        b"Host: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\
Connection: keep-alive\r\n",
    );
    let mut out = Vec::with_capacity(1024);
    group.bench_function("plan_write_headers/plain", |b| {
        b.iter(|| {
            out.clear();
            let plan = untrusted.plan(black_box(&typical), client, false);
            plan.write_headers(&typical, None, &mut out);
            black_box(out.len())
        })
    });
    let forwarded = OffsetHead::new(
        b"Host: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\
X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nConnection: keep-alive, X-Trace\r\n\
X-Trace: 1\r\n",
    );
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
