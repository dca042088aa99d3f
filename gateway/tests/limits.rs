//! The limiting middlewares over time, end to end (parity cannot see timing): inFlightReq
//! counts a request until its response is sent, rateLimit delays a request that a token
//! will be ready for within maxDelay and refuses one that would wait longer, and buckets
//! outlive a reload that leaves their middleware unchanged.

mod support;

use std::time::{Duration, Instant};
use support::*;

fn routed_through(backend: &Backend, middleware: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n      \
         middlewares: [m]\n  middlewares:\n    m: {middleware}\n  services:\n    s:\n      \
         loadBalancer:\n        servers:\n          - url: {}\n",
        backend.url()
    )
}

#[test]
fn in_flight_requests_are_counted_until_their_response_is_sent() {
    let backend = Backend::start("A");
    let gateway = Gateway::start(&routed_through(&backend, "{inFlightReq: {amount: 1}}"));
    let web = gateway.web();
    // The slow request may lose the one place to a probe below: it tries again (bounded).
    let slow = std::thread::spawn(move || {
        let mut status = 0;
        for _ in 0..50 {
            status = request(web, "GET", "/?wait=1s", &[("Host", "a.test")]).status;
            if status != 429 {
                break;
            }
        }
        status
    });
    // Wait until the slow request holds the one place (bounded).
    let held = wait_until(Duration::from_secs(5), || {
        request(web, "GET", "/", &[("Host", "a.test")]).status == 429
    });
    assert!(held, "{}", gateway.stderr());
    let refused = request(web, "GET", "/", &[("Host", "a.test")]);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.text(), "max connections reached: 1");
    assert_eq!(refused.header("Content-Type"), None);
    // Grouped by host by default: another host has its own place.
    assert_eq!(request(web, "GET", "/", &[("Host", "b.test")]).status, 200);
    assert_eq!(slow.join().unwrap(), 200);
    // The response is sent: the place is free again.
    assert_eq!(request(web, "GET", "/", &[("Host", "a.test")]).status, 200);
}

#[test]
fn a_short_wait_is_waited_and_a_long_one_refused() {
    let backend = Backend::start("A");
    // One a second, burst 1: maxDelay is 1 s / (2 × 1) = 500 ms.
    let gateway = Gateway::start(&routed_through(
        &backend,
        "{rateLimit: {average: 1, period: 1s, burst: 1}}",
    ));
    let web = gateway.web();
    let start = Instant::now();
    assert_eq!(get(web, "/").status, 200);
    std::thread::sleep(Duration::from_millis(600).saturating_sub(start.elapsed()));
    let sent = start.elapsed();
    let delayed = get(web, "/");
    let waited = start.elapsed() - sent;
    assert_eq!(
        delayed.status, 200,
        "a token within 500 ms: delayed, not refused"
    );
    // The token is ready 1 s after the first request's: at least that long from `sent`,
    // less a margin for the first request's own trip.
    let expected = Duration::from_secs(1).saturating_sub(sent + Duration::from_millis(100));
    assert!(
        waited >= expected,
        "waited {waited:?}, expected {expected:?}"
    );
    // Right after, the next token is about a second away: refused at once.
    let asked = Instant::now();
    let refused = get(web, "/");
    assert_eq!(refused.status, 429);
    assert!(asked.elapsed() < Duration::from_millis(400), "not delayed");
    assert_eq!(refused.header("Retry-After"), Some("1"));
    let retry_in = refused.header("X-Retry-In").unwrap();
    assert!(retry_in.ends_with("ms"), "under a second: {retry_in}");
    assert_eq!(refused.text(), "Too Many Requests");
}

#[test]
fn buckets_survive_a_reload_that_leaves_them_unchanged() {
    let backend = Backend::start("A");
    let limit = "{rateLimit: {average: 1, period: 1m, burst: 1}}";
    let dynamic = routed_through(&backend, limit);
    let gateway = Gateway::start(&dynamic);
    let web = gateway.web();
    assert_eq!(get(web, "/").status, 200);
    assert_eq!(get(web, "/").status, 429);
    let applied = |gateway: &Gateway| {
        gateway
            .stderr()
            .matches("configuration applied provider=\"file\"")
            .count()
    };

    // Another router appears: the limit's bucket is the same one.
    let before = applied(&gateway);
    let other = "    other:\n      rule: Host(`other.test`)\n      service: s\n";
    let grown = dynamic.replace("  routers:\n", &format!("  routers:\n{other}"));
    write_atomic(&gateway.dynamic_path(), &grown);
    assert!(wait_until(Duration::from_secs(5), || applied(&gateway) > before));
    assert_eq!(
        request(web, "GET", "/", &[("Host", "other.test")]).status,
        200
    );
    assert_eq!(get(web, "/").status, 429, "the bucket was kept");

    // The limit itself changes: a new bucket.
    let before = applied(&gateway);
    let changed = grown.replace("burst: 1", "burst: 2");
    write_atomic(&gateway.dynamic_path(), &changed);
    assert!(wait_until(Duration::from_secs(5), || applied(&gateway) > before));
    assert_eq!(
        get(web, "/").status,
        200,
        "a new configuration starts afresh"
    );
}
