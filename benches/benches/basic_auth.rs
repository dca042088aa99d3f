//! basicAuth's request phase per request: cold (the bcrypt verification, off the request
//! thread, that a credential's first request pays) and cached (every later request of the
//! same credential: a keyed hash of the header and a lock-free lookup).
//!
//! `cargo bench -p benches --bench basic_auth`. The cold cases build a new middleware (with
//! an empty cache) for each request outside the measurement; bcrypt's cost is given by the
//! hash (5 is `htpasswd -B`'s default, 10 is Go's `bcrypt.DefaultCost`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gateway::middleware::{build, BuildContext, CompileEnv, Context, Flow, Middleware};
use gateway::runtime::registry::StateRegistry;
use gateway::runtime::service::ServiceHandler;
use std::future::Future;
use std::hint::black_box;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, Waker};

/// `htpasswd -nbB -C 5 bench bench-password`.
const BCRYPT_5: &str = "bench:$2y$05$f4W77zKbLVXb2MZefkmRP.R.ZtRjxZno87kwv2O811Xyz7096qqxq";
/// `htpasswd -nbB -C 10 bench bench-password`.
const BCRYPT_10: &str = "bench:$2y$10$UBXwq.OFIXv9yWXu6b446eCzo2XqlR/QRphyQKRfuYJphjF2y5xFC";
/// `Basic base64("bench:bench-password")`.
const AUTHORIZATION: &str = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=";

/// A compiler environment with its own registry (so a new one means an empty cache).
#[derive(Default)]
struct Env {
    states: StateRegistry,
}

impl CompileEnv for Env {
    fn states(&mut self) -> &mut StateRegistry {
        &mut self.states
    }

    fn service(&mut self, qualified: &str) -> Result<Arc<ServiceHandler>, String> {
        Err(format!("service {qualified:?} does not exist"))
    }
}

fn middleware(user: &str) -> Middleware {
    let config = control::dynamic::Middleware {
        basic_auth: Some(control::dynamic::BasicAuth {
            users: vec![user.to_string()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env = Env::default();
    let mut context = BuildContext {
        name: "bench@file",
        provider: "file",
        scope: "bench@file",
        env: &mut env,
    };
    build(&config, &mut context).expect("a valid basicAuth")
}

fn request() -> http::request::Parts {
    http::Request::get("/api/v1/users")
        .header("host", "api.example.com")
        .header("authorization", AUTHORIZATION)
        .body(())
        .expect("a valid request")
        .into_parts()
        .0
}

fn context() -> Context {
    Context::new(Some(IpAddr::from([192, 0, 2, 1])), false, false)
}

fn bench_basic_auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("basic_auth");
    for (name, user) in [
        ("cold_bcrypt_cost5", BCRYPT_5),
        ("cold_bcrypt_cost10", BCRYPT_10),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || (middleware(user), request()),
                |(middleware, mut request)| {
                    let flow = runtime.block_on(middleware.request(&mut request, &mut context()));
                    assert!(matches!(flow, Flow::Continue));
                    middleware
                },
                BatchSize::SmallInput,
            )
        });
    }

    // Cached: the verification done once; each request is then answered on its first poll.
    let cached = middleware(BCRYPT_10);
    let mut request = request();
    let flow = runtime.block_on(cached.request(&mut request, &mut context()));
    assert!(matches!(flow, Flow::Continue));
    let mut poll_context = std::task::Context::from_waker(Waker::noop());
    group.bench_function("cached", |b| {
        b.iter(|| {
            let mut context = context();
            let future = pin!(cached.request(black_box(&mut request), &mut context));
            match future.poll(&mut poll_context) {
                Poll::Ready(Flow::Continue) => {}
                _ => panic!("a cached credential is answered at once"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_basic_auth);
criterion_main!(benches);
