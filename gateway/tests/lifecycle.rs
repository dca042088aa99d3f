//! Process life cycle: `/ping` and readiness, shutdown on SIGTERM (requestAcceptGraceTimeout,
//! in-flight requests drained, exit as soon as they are done) and SIGINT, the no-argument
//! built-in example.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::*;
use testkit::{ConsulAgent, Storage};

/// `transport.lifeCycle` YAML for an entrypoint.
fn life_cycle(request_accept_grace_timeout: &str, grace_time_out: &str) -> String {
    format!(
        "transport:\n  lifeCycle:\n    requestAcceptGraceTimeout: {request_accept_grace_timeout}\n    graceTimeOut: {grace_time_out}"
    )
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
}

/// Waits for the gateway to exit within `limit` of `since`; panics with its log otherwise.
fn exits_within(gw: &mut Gateway, since: Instant, limit: Duration, why: &str) -> Duration {
    let status = gw
        .wait_exit(limit.saturating_sub(since.elapsed()))
        .unwrap_or_else(|| {
            panic!(
                "still running {limit:?} after the signal ({why})\n{}",
                gw.stderr()
            )
        });
    assert!(status.success(), "exit status {status}\n{}", gw.stderr());
    since.elapsed()
}

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
fn ping_is_not_ready_until_every_provider_delivered() {
    // Consul is down when the gateway starts: it opens its listeners after its start-up wait
    // without Consul's configuration, and must not be sent traffic yet.
    let mut agent = ConsulAgent::start(Storage::Memory);
    agent.kill();
    let gw = Gateway::builder()
        .entry_point("web", "")
        .arg(format!("--providers.consul.endpoints={}", agent.address()))
        .start();
    let ping = get(gw.addr("traefik"), "/ping");
    assert_eq!(
        (ping.status, ping.text().as_str()),
        (503, "Service Unavailable"),
        "the file provider delivered, Consul did not"
    );
    agent.restart();
    let ready = wait_until(Duration::from_secs(20), || {
        get(gw.addr("traefik"), "/ping").status == 200
    });
    assert!(
        ready,
        "/ping still not 200 20 s after Consul came up\n{}",
        gw.stderr()
    );
    assert_eq!(get(gw.addr("traefik"), "/ping").text(), "OK");
}

#[test]
fn ping_is_not_ready_until_the_file_can_be_read() {
    let gw = Gateway::start("http: [\n");
    assert_eq!(get(gw.addr("traefik"), "/ping").status, 503);
    write_atomic(&gw.dynamic_path(), "http: {}\n");
    let ready = wait_until(Duration::from_secs(5), || {
        get(gw.addr("traefik"), "/ping").status == 200
    });
    assert!(
        ready,
        "/ping still not 200 after the file was fixed\n{}",
        gw.stderr()
    );
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_when_they_are_done() {
    let backend = Backend::start("A");
    let mut gw = Gateway::builder()
        .entry_point("web", &life_cycle("0s", "10s"))
        .dynamic(&route_all_to(&backend.url()))
        .start();
    let web = gw.web();
    assert_eq!(get(web, "/").backend().as_deref(), Some("A"));

    let in_flight = std::thread::spawn(move || {
        let started = Instant::now();
        let result = try_request(web, "GET", "/slow?wait=700ms", &[]);
        (result, started.elapsed())
    });
    // Let the request reach the backend, then ask the gateway to stop.
    std::thread::sleep(Duration::from_millis(250));
    let term_sent = Instant::now();
    gw.terminate();

    // With requestAcceptGraceTimeout 0, new connections are refused at once.
    let refused = wait_until(Duration::from_millis(300), || !accepts(web));
    let refused_after = term_sent.elapsed();

    let (result, took) = in_flight.join().expect("request thread");
    let response = result.expect("the in-flight request must complete");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.backend().as_deref(), Some("A"));
    assert!(
        took >= Duration::from_millis(650),
        "answered after {took:?}"
    );
    assert!(
        refused,
        "new connections were still accepted {refused_after:?} after SIGTERM"
    );
    assert!(!accepts(web), "and stay refused");

    // Out as soon as the request is done (about 450 ms after SIGTERM), not after graceTimeOut.
    let exited = exits_within(
        &mut gw,
        term_sent,
        Duration::from_secs(2),
        "the only request in flight ended ~450 ms after SIGTERM; graceTimeOut is 10s",
    );
    eprintln!("exited {exited:?} after SIGTERM");
}

#[test]
fn sigterm_keeps_accepting_for_request_accept_grace_timeout() {
    let backend = Backend::start("A");
    let mut gw = Gateway::builder()
        .entry_point("web", &life_cycle("2s", "10s"))
        .entry_point("traefik", &life_cycle("2s", "10s"))
        .dynamic(&route_all_to(&backend.url()))
        .start();
    let (web, internal) = (gw.web(), gw.addr("traefik"));
    assert_eq!(get(internal, "/ping").status, 200);

    let term_sent = Instant::now();
    gw.terminate();
    let not_ready = wait_until(Duration::from_millis(500), || {
        try_request(internal, "GET", "/ping", &[]).is_ok_and(|r| r.status == 503)
    });
    assert!(
        not_ready,
        "/ping must answer 503 as soon as SIGTERM arrives"
    );
    assert_eq!(get(internal, "/ping").text(), "Service Unavailable");

    // Requests are still served, on new connections, well into the grace.
    std::thread::sleep(Duration::from_millis(500).saturating_sub(term_sent.elapsed()));
    let during = try_request(web, "GET", "/", &[]).expect("accepted during the grace");
    assert_eq!(during.backend().as_deref(), Some("A"));
    assert!(
        term_sent.elapsed() < Duration::from_millis(1900),
        "the check ran too late to prove anything: {:?}",
        term_sent.elapsed()
    );

    // Then the listeners close, and with nothing in flight the process exits.
    let refused = wait_until(Duration::from_secs(4), || !accepts(web));
    let refused_after = term_sent.elapsed();
    assert!(refused, "still accepting 4 s after SIGTERM");
    assert!(
        refused_after >= Duration::from_millis(1950),
        "refused after {refused_after:?}, before requestAcceptGraceTimeout (2s)"
    );
    let exited = exits_within(
        &mut gw,
        term_sent,
        Duration::from_secs(4),
        "requestAcceptGraceTimeout 2s and nothing in flight",
    );
    eprintln!("listeners closed {refused_after:?} and exited {exited:?} after SIGTERM");
}

#[test]
fn idle_keep_alive_connections_do_not_hold_the_exit() {
    let backend = Backend::start("A");
    let mut gw = Gateway::builder()
        .entry_point("web", &life_cycle("0s", "10s"))
        .dynamic(&route_all_to(&backend.url()))
        .start();
    let mut idle = Connection::open(gw.web()).expect("connect");
    assert_eq!(idle.get("/").expect("first request").status, 200);

    let term_sent = Instant::now();
    gw.terminate();
    let exited = exits_within(
        &mut gw,
        term_sent,
        Duration::from_secs(2),
        "one idle keep-alive connection and nothing in flight; graceTimeOut is 10s",
    );
    let after = idle.get("/");
    assert!(
        after.is_err(),
        "the idle connection must be closed: {after:?}"
    );
    eprintln!("exited {exited:?} after SIGTERM with an idle connection open");
}

#[test]
fn sigint_stops_at_once() {
    let backend = Backend::start("A");
    let mut gw = Gateway::builder()
        .entry_point("web", &life_cycle("1s", "10s"))
        .dynamic(&route_all_to(&backend.url()))
        .start();
    let web = gw.web();
    let in_flight = std::thread::spawn(move || try_request(web, "GET", "/slow?wait=5s", &[]));
    std::thread::sleep(Duration::from_millis(250));
    let sent = Instant::now();
    gw.interrupt();
    exits_within(
        &mut gw,
        sent,
        Duration::from_secs(1),
        "SIGINT does not wait for anything",
    );
    assert!(
        in_flight.join().expect("request thread").is_err(),
        "the in-flight request is cut"
    );
}

#[test]
fn sigterm_when_idle_exits_zero_quickly() {
    let mut gw = Gateway::start("");
    let term_sent = Instant::now();
    gw.terminate();
    let exited = exits_within(&mut gw, term_sent, Duration::from_secs(3), "idle");
    eprintln!("idle gateway exited {exited:?} after SIGTERM");
}

#[test]
fn no_arguments_runs_the_built_in_example() {
    // The example has fixed ports: wait a little for another run of this test to end, then
    // fail rather than pass without having run.
    let ports = [8000, 8001, 8002, 8080];
    let free = wait_until(Duration::from_secs(15), || {
        ports.iter().all(|&p| port_is_bindable(p))
    });
    let busy: Vec<u16> = ports
        .into_iter()
        .filter(|&p| !port_is_bindable(p))
        .collect();
    assert!(
        free,
        "the built-in example needs 127.0.0.1 ports {ports:?}; {busy:?} stayed in use for 15 s (see `ss -ltnp`)"
    );
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
