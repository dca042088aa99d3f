//! Parity of the limiting middlewares: ipAllowList and ipWhiteList (source ranges, the
//! X-Forwarded-For strategies, reject statuses, broken ranges), rateLimit (a burst, then 429
//! with when to retry) and inFlightReq.

use crate::harness::{get, Pair};

const ALLOW_LISTS: &str = r#"http:
  routers:
    allowed: {rule: "PathPrefix(`/allowed`)", service: backend, middlewares: [local]}
    denied: {rule: "PathPrefix(`/denied`)", service: backend, middlewares: [elsewhere]}
    teapot: {rule: "PathPrefix(`/teapot`)", service: backend, middlewares: [teapot]}
    depth: {rule: "PathPrefix(`/depth`)", service: backend, middlewares: [depth]}
    excluded: {rule: "PathPrefix(`/excluded`)", service: backend, middlewares: [excluded]}
    white: {rule: "PathPrefix(`/white`)", service: backend, middlewares: [white]}
    broken: {rule: "PathPrefix(`/broken`)", service: backend, middlewares: [broken]}
    subnet: {rule: "PathPrefix(`/subnet`)", service: backend, middlewares: [subnet]}
    no-content: {rule: "PathPrefix(`/no-content`)", service: backend, middlewares: [no-content]}
  middlewares:
    local: {ipAllowList: {sourceRange: ["127.0.0.0/8", "::1"]}}
    elsewhere: {ipAllowList: {sourceRange: ["10.0.0.0/8"]}}
    teapot: {ipAllowList: {sourceRange: ["10.0.0.0/8"], rejectStatusCode: 418}}
    depth: {ipAllowList: {sourceRange: ["203.0.113.0/24"], ipStrategy: {depth: 2}}}
    excluded: {ipAllowList: {sourceRange: ["203.0.113.7"], ipStrategy: {excludedIPs: ["10.0.0.0/8", "192.0.2.1"]}}}
    white: {ipWhiteList: {sourceRange: ["10.0.0.0/8"], ipStrategy: {depth: 1}}}
    broken: {ipAllowList: {sourceRange: ["10.0.0.0/8", "10.0.0.0/33"]}}
    subnet: {ipAllowList: {sourceRange: ["2001:db8:1:2::/64"], ipStrategy: {depth: 1, ipv6Subnet: 64}}}
    no-content: {ipAllowList: {sourceRange: ["10.0.0.0/8"], rejectStatusCode: 204}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
"#;

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn ip_allow_lists_admit_and_reject_like_traefik() {
    let pair = Pair::start(ALLOW_LISTS, "forwardedHeaders:\n  insecure: true");
    let xff = |value| [("X-Forwarded-For", value)];
    pair.assert_same(&[
        get("/allowed", "x", &[]),
        get("/denied", "x", &[]),
        get("/denied", "x", &xff("10.1.2.3")),
        get("/teapot", "x", &[]),
        get("/depth", "x", &xff("203.0.113.9, 10.0.0.1")),
        get("/depth", "x", &xff("10.0.0.1, 203.0.113.9")),
        get("/depth", "x", &xff("203.0.113.9")),
        get("/depth", "x", &[]),
        get("/depth", "x", &xff("203.0.113.9:4567, 10.0.0.1")),
        get("/excluded", "x", &xff("203.0.113.7, 10.9.9.9, 192.0.2.1")),
        get(
            "/excluded",
            "x",
            &xff("198.51.100.1, 203.0.113.7, 10.9.9.9"),
        ),
        get("/excluded", "x", &xff("203.0.113.8,10.0.0.1")),
        get("/excluded", "x", &xff("10.0.0.1")),
        get("/excluded", "x", &xff("junk")),
        get("/white", "x", &xff("10.0.0.1")),
        get("/white", "x", &xff("10.0.0.1, 11.0.0.1")),
        get("/broken", "x", &[]),
        get("/subnet", "x", &xff("2001:db8:1:2:aaaa::1")),
        get("/subnet", "x", &xff("2001:db8:1:3::1")),
        get("/no-content", "x", &[]),
    ]);
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn an_untrusted_x_forwarded_for_is_not_the_client() {
    let pair = Pair::start(ALLOW_LISTS, "");
    pair.assert_same(&[
        get(
            "/depth",
            "x",
            &[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")],
        ),
        get("/white", "x", &[("X-Forwarded-For", "10.0.0.1")]),
        get("/allowed", "x", &[("X-Forwarded-For", "10.0.0.1")]),
    ]);
}

const LIMITS: &str = r#"http:
  routers:
    limited: {rule: "PathPrefix(`/limited`)", service: backend, middlewares: [two-a-minute]}
    limited-too: {rule: "PathPrefix(`/also-limited`)", service: backend, middlewares: [two-a-minute]}
    per-user: {rule: "PathPrefix(`/user`)", service: backend, middlewares: [per-user]}
    per-host: {rule: "PathPrefix(`/host`)", service: backend, middlewares: [per-host]}
    unlimited: {rule: "PathPrefix(`/unlimited`)", service: backend, middlewares: [unlimited]}
    closed: {rule: "PathPrefix(`/closed`)", service: backend, middlewares: [closed]}
    one: {rule: "PathPrefix(`/one`)", service: backend, middlewares: [one]}
    clash: {rule: "PathPrefix(`/clash`)", service: backend, middlewares: [clash]}
  middlewares:
    two-a-minute: {rateLimit: {average: 2, period: 1m, burst: 2}}
    per-user: {rateLimit: {average: 1, period: 1h, sourceCriterion: {requestHeaderName: X-User}}}
    per-host: {rateLimit: {average: 1, period: 10m, burst: 1, sourceCriterion: {requestHost: true}}}
    unlimited: {rateLimit: {burst: 1}}
    closed: {inFlightReq: {amount: 0}}
    one: {inFlightReq: {amount: 1, sourceCriterion: {ipStrategy: {ipv6Subnet: 64}}}}
    clash: {inFlightReq: {amount: 1, sourceCriterion: {ipStrategy: {depth: 1}, requestHost: true}}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
"#;

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn rate_limits_admit_a_burst_then_answer_429_like_traefik() {
    let pair = Pair::start(LIMITS, "");
    let user = |name| [("X-User", name)];
    // Each probe goes to Traefik, then to the gateway: each spends its own buckets alike.
    // The wait in X-Retry-In depends on the microsecond; its presence is compared.
    pair.assert_same_masking(
        &[
            get("/limited/1", "x", &[]),
            get("/limited/2", "x", &[]),
            get("/limited/3", "x", &[]),
            get("/limited/4", "x", &[]),
            // Another router naming the same middleware has buckets of its own (one
            // middleware instance per router, as Traefik builds them).
            get("/also-limited/1", "x", &[]),
            get("/also-limited/2", "x", &[]),
            get("/also-limited/3", "x", &[]),
            get("/user", "x", &user("alice")),
            get("/user", "x", &user("alice")),
            get("/user", "x", &user("bob")),
            get("/user", "x", &[]),
            get("/user", "x", &[]),
            get("/host", "a.example", &[]),
            get("/host", "b.example", &[]),
            get("/host", "a.example", &[]),
            get("/unlimited", "x", &[]),
            get("/unlimited", "x", &[]),
            get("/unlimited", "x", &[]),
        ],
        &["X-Retry-In"],
    );
    // Past the burst, both answer 429 with a retry a minute (two per minute) away.
    for proxy in [pair.traefik(), pair.gateway()] {
        let answer = pair.exchange(proxy, &get("/limited/5", "x", &[]));
        assert_eq!(answer.status_line, "HTTP/1.1 429 Too Many Requests");
        assert!(
            answer.headers.iter().any(|h| h == "Retry-After: 30"),
            "{answer:?}"
        );
        assert!(
            answer
                .headers
                .iter()
                .any(|h| h.starts_with("X-Retry-In: 29.")),
            "{answer:?}"
        );
        assert_eq!(answer.body, "Too Many Requests");
    }
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn in_flight_limits_answer_like_traefik() {
    let pair = Pair::start(LIMITS, "");
    pair.assert_same(&[
        get("/closed", "x", &[]),
        get("/one", "x", &[]),
        get("/one", "x", &[]),
        get("/clash", "x", &[]),
    ]);
}
