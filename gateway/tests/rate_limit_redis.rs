//! rateLimit through Redis, end to end: a real redis-server, two gateways (and, with
//! `--ignored`, a real Traefik) sharing one limit, Redis going away (Traefik's 500, logged once)
//! and coming back.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::traefik::{start_traefik_with, traefik_binary};
use support::*;

/// A `redis-server` of the test's own on 127.0.0.1, nothing persisted, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/setup installs it)");
        let server = RedisServer { child, port };
        assert!(
            wait_until(START_TIMEOUT, || port_accepts(port)),
            "redis-server did not listen on {port}"
        );
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ten requests a minute, all at once, shared through Redis at `port` (`/ready` is not limited).
fn limited(backend: &Backend, redis_port: u16) -> String {
    format!(
        "http:\n  routers:\n    ready:\n      rule: Path(`/ready`)\n      service: backend\n    limited:\n      rule: PathPrefix(`/`)\n      priority: 1\n      service: backend\n      \
         middlewares: [limit]\n  middlewares:\n    limit:\n      rateLimit:\n        average: 10\n        \
         period: 1m\n        burst: 10\n        redis:\n          endpoints: [\"127.0.0.1:{redis_port}\"]\n          \
         dialTimeout: 1s\n          readTimeout: 1s\n          writeTimeout: 1s\n  \
         services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: {}\n",
        backend.url()
    )
}

/// Sends `count` GETs alternately to `proxies`; the statuses in order.
fn statuses(proxies: &[std::net::SocketAddr], count: usize) -> Vec<u16> {
    (0..count)
        .map(|i| get(proxies[i % proxies.len()], "/").status)
        .collect()
}

const DOWN: &str = "could not insert/update bucket in Redis";
const BACK: &str = "Redis is reachable again";

#[test]
fn two_gateways_share_one_limit_and_survive_redis_going_away() {
    let backend = Backend::start("A");
    let redis = RedisServer::start();
    let dynamic = limited(&backend, redis.port);
    let first = Gateway::start(&dynamic);
    let second = Gateway::start(&dynamic);
    let proxies = [first.web(), second.web()];

    // 30 requests across both: the burst of 10 is shared, whoever serves.
    let answered = statuses(&proxies, 30);
    let admitted = answered.iter().filter(|s| **s == 200).count();
    assert!(
        (10..=11).contains(&admitted),
        "{admitted} admitted: {answered:?}"
    );
    assert!(
        answered.iter().all(|s| *s == 200 || *s == 429),
        "{answered:?}"
    );
    let refused = get(first.web(), "/");
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "one token every 6 s: {retry}");
    assert!(refused.header("X-Retry-In").is_some());
    assert_eq!(refused.text(), "Too Many Requests");

    // Redis goes away: Traefik's 500, and one log line however many requests fail.
    let port = redis.port;
    drop(redis);
    for _ in 0..5 {
        for proxy in proxies {
            let response = get(proxy, "/");
            assert_eq!(response.status, 500);
            assert_eq!(response.text(), "Could not insert/update bucket\n");
            assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
        }
    }
    for gateway in [&first, &second] {
        assert_eq!(
            gateway.stderr().matches(DOWN).count(),
            1,
            "{}",
            gateway.stderr()
        );
    }

    // Redis is back (empty): the buckets start full again, one log line each.
    let _redis = RedisServer::start_on(port);
    assert!(
        wait_until(Duration::from_secs(5), || get(first.web(), "/").status
            == 200),
        "{}",
        first.stderr()
    );
    assert_eq!(get(second.web(), "/").status, 200);
    for _ in 0..3 {
        get(first.web(), "/");
    }
    for gateway in [&first, &second] {
        let log = gateway.stderr();
        assert_eq!(log.matches(BACK).count(), 1, "{log}");
        assert_eq!(log.matches(DOWN).count(), 1, "{log}");
    }
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn a_gateway_and_traefik_share_one_limit() {
    let backend = Backend::start("A");
    let redis = RedisServer::start();
    let dynamic = limited(&backend, redis.port);
    let gateway = Gateway::start(&dynamic);
    let traefik = start_traefik_with(&traefik_binary(), &dynamic, "", "/ready");
    // The buckets are the same Redis keys (rate:limit@file:127.0.0.1) for both.
    let answered = statuses(&[gateway.web(), local(traefik.port)], 30);
    let admitted = answered.iter().filter(|s| **s == 200).count();
    assert!(
        (10..=11).contains(&admitted),
        "{admitted} admitted: {answered:?}"
    );
}
