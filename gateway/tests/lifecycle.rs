//! Process life cycle: `/ping`, graceful shutdown on SIGTERM, the no-argument built-in example.

mod support;

use std::time::{Duration, Instant};
use support::*;

#[test]
fn ping_on_the_traefik_entrypoint() {
    let gw = Gateway::start("");
    let internal = gw.addr("traefik");
    let ping = get(internal, "/ping");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.text(), "OK");
    let head = request(internal, "HEAD", "/ping", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // Only on `traefik`: on `web` there is no router for /ping.
    let on_web = get(gw.web(), "/ping");
    assert_eq!(on_web.status, 404);
    assert_eq!(on_web.text(), "404 page not found\n");
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let backend = Backend::start("A");
    let mut gw = Gateway::start(&route_all_to(&backend.url()));
    let web = gw.web();
    assert_eq!(get(web, "/").backend().as_deref(), Some("A"));

    let in_flight = std::thread::spawn(move || {
        let started = Instant::now();
        let result = try_request(web, "GET", "/slow?wait=500ms", &[]);
        (result, started.elapsed())
    });
    // Let the request reach the backend, then ask the gateway to stop.
    std::thread::sleep(Duration::from_millis(250));
    let term_sent = Instant::now();
    gw.terminate();

    // New connections are refused soon after shutdown begins (well before the request ends).
    let refused = wait_until(Duration::from_millis(300), || {
        std::net::TcpStream::connect_timeout(&web, Duration::from_millis(100)).is_err()
    });
    let refused_after = term_sent.elapsed();

    let (result, took) = in_flight.join().expect("request thread");
    let response = result.expect("the in-flight request must complete");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.backend().as_deref(), Some("A"));
    assert!(
        took >= Duration::from_millis(450),
        "answered after {took:?}"
    );

    assert!(
        refused,
        "new connections were still accepted {refused_after:?} after SIGTERM"
    );
    // And stay refused.
    assert!(std::net::TcpStream::connect_timeout(&web, Duration::from_millis(200)).is_err());

    let status = gw
        .wait_exit(Duration::from_secs(3).saturating_sub(term_sent.elapsed()))
        .unwrap_or_else(|| {
            panic!(
                "still running 3s after SIGTERM (graceTimeOut 1s)\n{}",
                gw.stderr()
            )
        });
    assert!(status.success(), "exit status {status}\n{}", gw.stderr());
    eprintln!("exited {:?} after SIGTERM", term_sent.elapsed());
}

#[test]
fn sigterm_when_idle_exits_zero_quickly() {
    let mut gw = Gateway::start("");
    let term_sent = Instant::now();
    gw.terminate();
    let status = gw
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("still running 3s after SIGTERM\n{}", gw.stderr()));
    assert!(status.success(), "exit status {status}");
    eprintln!(
        "idle gateway exited {:?} after SIGTERM",
        term_sent.elapsed()
    );
}

#[test]
fn no_arguments_runs_the_built_in_example() {
    let ports = [8000, 8001, 8002, 8080];
    if let Some(busy) = ports.iter().find(|&&p| !port_is_bindable(p)) {
        eprintln!("skipping: port {busy} is already in use");
        return;
    }
    let gw = Gateway::spawn_raw(
        &[],
        &[
            ("web", 8000),
            ("whoami-1", 8001),
            ("whoami-2", 8002),
            ("traefik", 8080),
        ],
    );
    let names: Vec<String> = (0..6)
        .map(|i| {
            get(gw.web(), "/")
                .backend()
                .unwrap_or_else(|| panic!("request {i}: not a whoami answer"))
        })
        .collect();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "answers must alternate: {names:?}");
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, ["whoami-1", "whoami-2"], "{names:?}");
    assert_eq!(get(gw.addr("traefik"), "/ping").text(), "OK");
}
