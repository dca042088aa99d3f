//! What a middleware chain costs a request: Traefik's typical chain (ipAllowList, rateLimit,
//! headers, stripPrefix, basicAuth with its credentials already verified) against no chain, on
//! the Pingora path (the chain's request and response phases on Pingora's heads) and on the lean
//! path (the parsed head copied for the chain, the chain, the upstream head written).

use control::decode::from_yaml_str;
use control::dynamic_decode::decode_dynamic;
use control::rule::RequestView;
use control::static_config::ForwardedHeaders;
use criterion::{criterion_group, criterion_main, Criterion};
use gateway::http1::request::{write_request_head, HeadStatus, ParsedRequest};
use gateway::middleware::{Chain, Context};
use gateway::proxy::forwarded::{prepare_upstream, ForwardedPolicy};
use gateway::runtime::{compile, Carryover, CompileContext};
use pingora::http::{RequestHeader, ResponseHeader};
use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

/// `bench:bench` as `{SHA}`, the hash the compare scenario gives every peer.
const CONFIG: &str = r#"http:
  routers:
    plain: {rule: "PathPrefix(`/plain`)", service: backend}
    chained: {rule: "PathPrefix(`/mw`)", service: backend, middlewares: [ip, rate, headers, strip, auth]}
  middlewares:
    ip: {ipAllowList: {sourceRange: [10.0.0.0/8]}}
    rate: {rateLimit: {average: 100000000, burst: 100000000}}
    headers: {headers: {customRequestHeaders: {X-Bench: "1"}, customResponseHeaders: {X-Served: bench}}}
    strip: {stripPrefix: {prefixes: [/mw]}}
    auth: {basicAuth: {users: ["bench:{SHA}5cicUp3MubQnFvTZEY1hB5yIPZ4="]}}
  services:
    backend: {loadBalancer: {servers: [{url: "http://127.0.0.1:9"}]}}
"#;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

/// The chain of the router that serves `path`.
fn chain_for(path: &str) -> Chain {
    let decoded = decode_dynamic(&from_yaml_str(CONFIG).expect("yaml"), "bench.yml");
    let context = CompileContext {
        entry_points: vec!["web".into()],
        default_entry_points: vec!["web".into()],
        ..Default::default()
    };
    let snapshot = compile(
        &context,
        &[("file".into(), Arc::new(decoded))],
        &mut Carryover::default(),
    );
    let headers = http::HeaderMap::new();
    let view = RequestView {
        host: "api.example.com",
        method: &http::Method::GET,
        path,
        query: "",
        headers: &headers,
        client_ip: Some(CLIENT),
    };
    let route = snapshot.table(0).and_then(|t| t.find(&view)).cloned();
    let route = route.unwrap_or_else(|| panic!("no router for {path}: {:#?}", snapshot.status));
    route.chain.clone()
}

/// Polls a future that is ready at once (the chain on a verified credential never waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the chain waited"),
    }
}

const RAW: &[u8] = b"GET /mw/api/v1/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\nAuthorization: Basic YmVuY2g6YmVuY2g=\r\n\r\n";

fn pingora_request() -> RequestHeader {
    let mut parsed = ParsedRequest::new();
    assert_eq!(parsed.parse(RAW, 1 << 20), HeadStatus::Lean);
    parsed.view(RAW).to_request_header().expect("a head")
}

fn chain_overhead(c: &mut Criterion) {
    let chain = chain_for("/mw/x");
    assert!(!chain.is_empty());
    let no_chain = chain_for("/plain");
    let policy = ForwardedPolicy::new(&ForwardedHeaders::default(), "bench-host").expect("policy");
    let request = pingora_request();
    let response = ResponseHeader::build(200, Some(4)).expect("response");
    // The credential is verified once (cold), then served from the cache, as in steady state.
    {
        let mut head = request.clone();
        let mut context = Context::new(Some(CLIENT), false, false);
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(chain.request(&mut head, &mut context));
        assert!(outcome.is_ok(), "the typical chain lets the request on");
    }

    let mut group = c.benchmark_group("middleware_chain");
    for (name, chain) in [("no_chain", &no_chain), ("typical_chain", &chain)] {
        group.bench_function(format!("pingora_path/{name}"), |b| {
            b.iter_batched(
                || (request.clone(), response.clone()),
                |(mut head, mut response)| {
                    if !chain.is_empty() {
                        let mut context = Context::new(Some(CLIENT), false, false);
                        let _ = ready(chain.request(&mut head, &mut context));
                        chain.response(&head, &mut response, &mut context);
                    }
                    black_box((head, response))
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }

    let mut parsed = ParsedRequest::new();
    let mut out = Vec::with_capacity(4096);
    group.bench_function("lean_path/no_chain", |b| {
        b.iter(|| {
            assert_eq!(parsed.parse(black_box(RAW), 1 << 20), HeadStatus::Lean);
            let view = parsed.view(RAW);
            let plan = policy.plan(&view, Some(CLIENT), false);
            out.clear();
            plan.write_headers(&view, None, &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("lean_path/typical_chain", |b| {
        b.iter(|| {
            assert_eq!(parsed.parse(black_box(RAW), 1 << 20), HeadStatus::Lean);
            let mut head = parsed.view(RAW).to_request_header().expect("a head");
            policy.rewrite_incoming(&mut head, Some(CLIENT), false);
            let mut context = Context::new(Some(CLIENT), false, false);
            let _ = ready(chain.request(&mut head, &mut context));
            prepare_upstream(&mut head, Some(CLIENT), true);
            write_request_head(&head, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, chain_overhead);
criterion_main!(benches);
