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
        Self::start_with(port, &[], &[])
    }

    /// A server on `port` with these extra arguments, ready once `ports` accept too.
    fn start_with(port: u16, extra: &[&str], ports: &[u16]) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/setup installs it)");
        let server = RedisServer { child, port };
        for port in std::iter::once(port).chain(ports.iter().copied()) {
            assert!(
                wait_until(START_TIMEOUT, || port_accepts(port)),
                "redis-server did not listen on {port}"
            );
        }
        server
    }

    /// `redis-cli` on the plain port with these arguments: its output.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--no-auth-warning",
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
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
    limited_with(backend, &format!("endpoints: [\"127.0.0.1:{redis_port}\"]"))
}

/// [`limited`] with these settings (YAML flow-mapping entries) in the `redis` block.
fn limited_with(backend: &Backend, redis: &str) -> String {
    format!(
        "http:\n  routers:\n    ready:\n      rule: Path(`/ready`)\n      service: backend\n    \
         limited:\n      rule: PathPrefix(`/`)\n      priority: 1\n      service: backend\n      \
         middlewares: [limit]\n  middlewares:\n    limit:\n      rateLimit:\n        average: 10\n        \
         period: 1m\n        burst: 10\n        redis: {{{redis}, dialTimeout: 1s, readTimeout: 1s, \
         writeTimeout: 1s}}\n  services:\n    backend:\n      loadBalancer:\n        servers:\n          \
         - url: {}\n",
        backend.url()
    )
}

/// Sends `count` GETs alternately to `proxies`; the statuses in order.
fn statuses(proxies: &[std::net::SocketAddr], count: usize) -> Vec<u16> {
    (0..count)
        .map(|i| get(proxies[i % proxies.len()], "/").status)
        .collect()
}

#[test]
fn credentials_database_and_mutual_tls_are_used() {
    let certificates = testkit::TestCertificates::generate();
    let (plain, tls) = (free_port(), free_port());
    let (cert, key, ca) = (certificates.cert(), certificates.key(), certificates.ca());
    let tls_port = tls.to_string();
    let redis = RedisServer::start_with(
        plain,
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-ca-cert-file",
            ca.to_str().unwrap(),
            "--tls-auth-clients",
            "yes",
            "--requirepass",
            "s3cret",
        ],
        &[tls],
    );
    let backend = Backend::start("A");
    let settings = format!(
        "endpoints: [\"127.0.0.1:{tls}\"], username: default, password: s3cret, db: 2, \
         poolSize: 2, minIdleConns: 1, maxActiveConns: 2, \
         tls: {{ca: \"{}\", cert: \"{}\", key: \"{}\"}}",
        ca.display(),
        cert.display(),
        key.display()
    );
    let gateway = Gateway::start(&limited_with(&backend, &settings));
    for _ in 0..3 {
        assert_eq!(get(gateway.web(), "/").status, 200, "{}", gateway.stderr());
    }
    // Traefik's key, in the database configured; three of the ten tokens taken.
    let keys = redis.cli(&["-a", "s3cret", "-n", "2", "KEYS", "rate:*"]);
    assert_eq!(keys, "rate:limit@file:127.0.0.1");
    let tokens = redis.cli(&["-a", "s3cret", "-n", "2", "HGET", &keys, "tokens"]);
    let tokens: f64 = tokens.parse().unwrap();
    assert!((7.0..7.1).contains(&tokens), "{tokens}");
    let ttl: u64 = redis
        .cli(&["-a", "s3cret", "-n", "2", "TTL", &keys])
        .parse()
        .unwrap();
    assert!((1..=7).contains(&ttl), "1 + 1/rate seconds: {ttl}");

    // A wrong password: Traefik's 500 (the bucket cannot be updated).
    let wrong = settings.replace("s3cret", "wrong");
    let refused = Gateway::start(&limited_with(&backend, &wrong));
    assert_eq!(get(refused.web(), "/").status, 500);
    // No client certificate: the server refuses the handshake.
    let anonymous = settings.replace(
        &format!(", cert: \"{}\", key: \"{}\"", cert.display(), key.display()),
        "",
    );
    assert_ne!(anonymous, settings);
    let anonymous = Gateway::start(&limited_with(&backend, &anonymous));
    assert_eq!(get(anonymous.web(), "/").status, 500);
    // And a CA that did not sign the server's certificate.
    let other = testkit::TestCertificates::generate();
    let untrusted = settings.replace(&ca.display().to_string(), &other.ca().display().to_string());
    let untrusted = Gateway::start(&limited_with(&backend, &untrusted));
    assert_eq!(get(untrusted.web(), "/").status, 500);
    assert!(untrusted.stderr().contains(DOWN), "{}", untrusted.stderr());
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
    let redis = RedisServer::start_on(port);
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

    // A restart between two requests: the kept connections are stale, the request is not lost.
    drop(redis);
    let _redis = RedisServer::start_on(port);
    for proxy in proxies {
        assert_eq!(get(proxy, "/").status, 200);
    }
    for gateway in [&first, &second] {
        let log = gateway.stderr();
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
    // Without Redis, both answer alike.
    drop(redis);
    let ours = get(gateway.web(), "/");
    let theirs = get(local(traefik.port), "/");
    assert_eq!((ours.status, ours.text()), (theirs.status, theirs.text()));
    for header in ["Content-Type", "X-Content-Type-Options", "Content-Length"] {
        assert_eq!(ours.header(header), theirs.header(header), "{header}");
    }
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn an_unlimited_redis_limiter_refuses_as_traefik_does() {
    let backend = Backend::start("A");
    let redis = RedisServer::start();
    let dynamic = limited(&backend, redis.port).replace("average: 10", "average: 0");
    let gateway = Gateway::start(&dynamic);
    let traefik = start_traefik_with(&traefik_binary(), &dynamic, "", "/ready");
    // Traefik's Redis limiter has no unlimited case: every request is "bursty".
    let ours = get(gateway.web(), "/");
    let theirs = get(local(traefik.port), "/");
    assert_eq!(theirs.status, 429, "{}", theirs.text());
    assert_eq!((ours.status, ours.text()), (theirs.status, theirs.text()));
    for header in ["Content-Type", "X-Content-Type-Options", "Content-Length"] {
        assert_eq!(ours.header(header), theirs.header(header), "{header}");
    }
}
