//! Hot reload of the file provider: no failed request while the file changes under load,
//! a broken file keeps the last good configuration, directories pick up new files.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn route_to(backend: &Backend, revision: usize) -> String {
    format!("# revision {revision}\n{}", route_all_to(&backend.url()))
}

/// Polls with fresh connections until `name` answers; returns whether it did within `timeout`.
fn answers_from(addr: std::net::SocketAddr, name: &str, timeout: Duration) -> bool {
    wait_until(timeout, || {
        try_request(addr, "GET", "/poll", &[])
            .ok()
            .and_then(|r| r.backend())
            .as_deref()
            == Some(name)
    })
}

struct LoadReport {
    ok: usize,
    from_a: usize,
    from_b: usize,
    connections: usize,
    failures: Vec<String>,
}

/// Sends GETs over keep-alive connections (a new one every 200 requests) until `stop`, 20 s
/// or 50 000 requests; every answer must be a 200 from A or B.
fn load(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> LoadReport {
    let started = Instant::now();
    let mut report = LoadReport {
        ok: 0,
        from_a: 0,
        from_b: 0,
        connections: 0,
        failures: Vec::new(),
    };
    let mut conn: Option<Connection> = None;
    let mut on_this_connection = 0;
    while !stop.load(Ordering::Relaxed)
        && started.elapsed() < Duration::from_secs(20)
        && report.ok + report.failures.len() < 50_000
        && report.failures.len() < 20
    {
        if conn.is_none() || on_this_connection >= 200 {
            match Connection::open(addr) {
                Ok(c) => {
                    conn = Some(c);
                    report.connections += 1;
                    on_this_connection = 0;
                }
                Err(e) => {
                    report.failures.push(format!("connect: {e}"));
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        on_this_connection += 1;
        match c.get("/load") {
            Ok(response) => match response.backend().as_deref() {
                Some("A") => {
                    report.ok += 1;
                    report.from_a += 1;
                }
                Some("B") => {
                    report.ok += 1;
                    report.from_b += 1;
                }
                _ => report.failures.push(format!(
                    "request {}: {} {:?}",
                    report.ok,
                    response.status,
                    response.text()
                )),
            },
            Err(e) => {
                report.failures.push(format!("request {}: {e}", report.ok));
                conn = None;
            }
        }
    }
    report
}

#[test]
fn reload_under_load_loses_no_request() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let gw = Gateway::start(&route_to(&a, 0));
    let web = gw.web();
    assert!(answers_from(web, "A", Duration::from_secs(2)));

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || load(web, stop))
    };
    let path = gw.dynamic_path();
    let mut switch_times = Vec::new();
    for revision in 1..=20 {
        let target = if revision % 2 == 1 { &b } else { &a };
        let content = route_to(target, revision);
        let started = Instant::now();
        if revision % 4 == 0 {
            write_in_place(&path, &content);
        } else {
            write_atomic(&path, &content);
        }
        let switched = answers_from(web, &target.name, Duration::from_secs(2));
        if !switched {
            stop.store(true, Ordering::Relaxed);
        }
        assert!(
            switched,
            "revision {revision}: backend {} did not answer within 2s",
            target.name
        );
        switch_times.push(started.elapsed());
        // Let the load run on this revision for a moment.
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let report = client.join().expect("load thread");
    assert!(
        report.failures.is_empty(),
        "{} failed requests (of {}), first: {:#?}",
        report.failures.len(),
        report.ok + report.failures.len(),
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(
        report.ok >= 100,
        "the load loop sent only {} requests",
        report.ok
    );
    assert!(
        report.from_a > 0 && report.from_b > 0,
        "A {} B {}",
        report.from_a,
        report.from_b
    );
    eprintln!(
        "reload under load: {} requests on {} connections, switch times {:?}",
        report.ok, report.connections, switch_times
    );

    // A file that does not parse: the last good configuration (A) keeps serving.
    let errors_before = gw
        .stderr()
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("dynamic.yml"))
        .count();
    assert_eq!(errors_before, 0, "{}", gw.stderr());
    write_atomic(
        &path,
        "http:\n  routers:\n    all: {rule: PathPrefix(`/`), service: [\n",
    );
    assert!(
        wait_until(Duration::from_secs(2), || gw
            .stderr()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("dynamic.yml"))),
        "no error naming dynamic.yml:\n{}",
        gw.stderr()
    );
    let mut conn = Connection::open(web).unwrap();
    for i in 0..50 {
        let response = conn.get("/after-broken").unwrap();
        assert_eq!(
            response.backend().as_deref(),
            Some("A"),
            "request {i}: {response:?}"
        );
    }

    // Fixed: the new configuration applies.
    write_atomic(&path, &route_to(&b, 21));
    assert!(
        answers_from(web, "B", Duration::from_secs(2)),
        "{}",
        gw.stderr()
    );
}

#[test]
fn in_place_rewrite_of_a_watched_file() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let gw = Gateway::start(&route_to(&a, 0));
    let web = gw.web();
    assert!(answers_from(web, "A", Duration::from_secs(2)));
    for revision in 1..=4 {
        let target = if revision % 2 == 1 { &b } else { &a };
        write_in_place(&gw.dynamic_path(), &route_to(target, revision));
        assert!(
            answers_from(web, &target.name, Duration::from_secs(2)),
            "revision {revision}"
        );
    }
}

#[test]
fn broken_object_in_a_reload_keeps_the_others() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let gw = Gateway::start(&route_to(&a, 0));
    let web = gw.web();
    let next = format!(
        r#"http:
  routers:
    all:
      rule: PathPrefix(`/`)
      service: current
    bad:
      rule: Path(`/bad`) ||
      service: old
  services:
    current:
      loadBalancer:
        servers:
          - url: {}
    old:
      loadBalancer:
        servers:
          - url: {}
"#,
        b.url(),
        a.url()
    );
    write_atomic(&gw.dynamic_path(), &next);
    assert!(
        answers_from(web, "B", Duration::from_secs(2)),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.wait_for_stderr("bad@file", Duration::from_secs(2)),
        "{}",
        gw.stderr()
    );
    let stderr = gw.stderr();
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("ERROR") && line.contains("bad@file")),
        "{stderr}"
    );
    // The broken router (to A) is gone, so /bad falls through to the catch-all (B).
    assert_eq!(get(web, "/bad").backend().as_deref(), Some("B"));
}

#[test]
fn directory_provider_picks_up_new_files() {
    let (a, c) = (Backend::start("A"), Backend::start("C"));
    let services = format!(
        r#"http:
  services:
    svc-a:
      loadBalancer:
        servers:
          - url: {}
    svc-c:
      loadBalancer:
        servers:
          - url: {}
"#,
        a.url(),
        c.url()
    );
    let routers = "http:\n  routers:\n    a:\n      rule: Path(`/a`)\n      service: svc-a\n";
    let gw = Gateway::builder()
        .entry_point("web", "")
        .dynamic_directory(&[("routers.yml", routers), ("services.yml", &services)])
        .start();
    let web = gw.web();
    assert_eq!(get(web, "/a").backend().as_deref(), Some("A"));
    assert_eq!(get(web, "/c").status, 404);

    let third = gw.dynamic_dir().join("more.toml");
    write_atomic(
        &third,
        "[http.routers.c]\nrule = \"Path(`/c`)\"\nservice = \"svc-c\"\n",
    );
    assert!(
        wait_until(Duration::from_secs(2), || try_request(
            web,
            "GET",
            "/c",
            &[]
        )
        .ok()
        .and_then(|r| r.backend())
        .as_deref()
            == Some("C")),
        "router c from the new file did not appear:\n{}",
        gw.stderr()
    );
    assert_eq!(get(web, "/a").backend().as_deref(), Some("A"));

    // Removing the file removes its router.
    std::fs::remove_file(&third).unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || try_request(
            web,
            "GET",
            "/c",
            &[]
        )
        .map(|r| r.status)
        .ok()
            == Some(404)),
        "{}",
        gw.stderr()
    );
    assert_eq!(get(web, "/a").backend().as_deref(), Some("A"));
}
