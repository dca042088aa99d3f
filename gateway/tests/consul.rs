//! The Consul KV provider end to end: a real Consul agent, the real gateway, real backends;
//! reading, failing over, TLS and tokens (the commit contract is in consul_commit.rs).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::consul::*;
use support::*;
use testkit::{ConsulAgent, Storage};

#[test]
fn keys_put_changed_and_deleted_go_live() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    route(&kv, "app", "Path(`/app`)", &a);
    let gw = consul_gateway(&agent, "");
    assert_eq!(
        backend_of(&gw, "/app").as_deref(),
        Some("A"),
        "configuration present at start-up serves at once"
    );

    route(&kv, "late", "Path(`/late`)", &b);
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/late")
            .as_deref()
            == Some("B")),
        "a new router goes live"
    );

    kv.put(
        "traefik/http/services/app/loadBalancer/servers/0/url",
        &b.url(),
    );
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/app")
            .as_deref()
            == Some("B")),
        "a changed key goes live"
    );

    for key in ["rule", "service"] {
        kv.delete(&format!("traefik/http/routers/late/{key}"));
    }
    assert!(
        wait_until(Duration::from_secs(5), || status_of(&gw, "/late") == 404),
        "a deleted router is gone"
    );
    assert_eq!(backend_of(&gw, "/app").as_deref(), Some("B"));
}

#[test]
fn a_bad_object_fails_alone_and_names_its_key() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "good", "Path(`/good`)", &a);
    route(&kv, "bad", "Path(`/bad`)", &a);
    kv.put("traefik/http/routers/bad/priority", "high");
    kv.put(
        "traefik/http/services/typo/loadBalancer/servrs/0/url",
        "http://x",
    );
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/good").as_deref(), Some("A"));
    assert_eq!(status_of(&gw, "/bad"), 404);
    assert!(
        gw.wait_for_stderr(
            "consul traefik/http/routers/bad/priority: invalid integer \"high\"",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.wait_for_stderr(
            "consul traefik/http/services/typo/loadBalancer/servrs: unknown field `servrs`",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    let api = get(gw.addr("traefik"), "/api/http/routers/bad@consul");
    assert_eq!(api.status, 200);
    assert!(
        api.text().contains("\"status\":\"disabled\"") && api.text().contains("invalid integer"),
        "{}",
        api.text()
    );

    // A broken edit of a working router keeps its last good version.
    kv.put("traefik/http/routers/good/rule", "Pth(`/good`)");
    assert!(
        gw.wait_for_stderr(
            "its last good version stays in service",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(backend_of(&gw, "/good").as_deref(), Some("A"));
}

#[test]
fn file_and_consul_providers_refer_to_each_other() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    route(&kv, "kvsvc", "Path(`/from-consul`)", &a);
    let file = format!(
        "http:\n  routers:\n    mixed:\n      rule: Path(`/mixed`)\n      service: kvsvc@consul\n    local:\n      rule: Path(`/local`)\n      service: filesvc\n  services:\n    filesvc:\n      loadBalancer:\n        servers: [{{url: '{}'}}]\n",
        b.url()
    );
    kv.put("traefik/http/routers/reverse/rule", "Path(`/reverse`)");
    kv.put("traefik/http/routers/reverse/service", "filesvc@file");
    let gw = consul_gateway(&agent, &file);
    assert_eq!(
        backend_of(&gw, "/mixed").as_deref(),
        Some("A"),
        "file router -> consul service"
    );
    assert_eq!(
        backend_of(&gw, "/reverse").as_deref(),
        Some("B"),
        "consul router -> file service"
    );
    assert_eq!(backend_of(&gw, "/local").as_deref(), Some("B"));
    assert_eq!(backend_of(&gw, "/from-consul").as_deref(), Some("A"));
    let routers = get(gw.addr("traefik"), "/api/http/routers").text();
    for name in ["mixed@file", "local@file", "kvsvc@consul", "reverse@consul"] {
        assert!(
            routers.contains(&format!("\"name\":\"{name}\"")),
            "{name}: {routers}"
        );
    }
}

#[test]
fn consul_outage_keeps_serving_and_changes_resume() {
    let mut agent = ConsulAgent::start(Storage::Disk);
    let a = Backend::start("A");
    let b = Backend::start("B");
    {
        let kv = Kv::new(&agent);
        route(&kv, "app", "Path(`/app`)", &a);
    }
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/app").as_deref(), Some("A"));

    // A client keeps sending while Consul is down and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let (stop, served, failures, addr) =
            (stop.clone(), served.clone(), failures.clone(), gw.web());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed)
                && Instant::now() < deadline
                && served.load(Ordering::Relaxed) < 200_000
            {
                match try_request(addr, "GET", "/app", &[]) {
                    Ok(r) if r.status == 200 => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        failures.lock().unwrap().push(format!("{other:?}"));
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        })
    };
    agent.kill();
    assert!(
        gw.wait_for_stderr("cannot reach Consul", Duration::from_secs(10)),
        "{}",
        gw.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    agent.restart();
    let kv = Kv::new(&agent);
    kv.put(
        "traefik/http/services/app/loadBalancer/servers/0/url",
        &b.url(),
    );
    let resumed = wait_until(Duration::from_secs(20), || {
        backend_of(&gw, "/app").as_deref() == Some("B")
    });
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    assert!(
        resumed,
        "changes did not resume after Consul came back: {}",
        gw.stderr()
    );
    assert!(
        gw.wait_for_stderr("Consul is reachable again", Duration::from_secs(5)),
        "{}",
        gw.stderr()
    );
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests while Consul was down: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(served.load(Ordering::Relaxed) > 50, "the client barely ran");
    assert_eq!(
        gw.stderr().matches("cannot reach Consul").count(),
        1,
        "logged once per state change"
    );
}

#[test]
fn a_second_endpoint_takes_over_when_the_first_is_down() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "app", "Path(`/app`)", &a);
    let dead = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::builder()
        .entry_point("web", "")
        .arg(format!(
            "--providers.consul.endpoints={dead},{}",
            agent.address()
        ))
        .arg("--providers.consul.stale=true")
        .start();
    assert_eq!(backend_of(&gw, "/app").as_deref(), Some("A"));
    kv.put("traefik/http/routers/app/rule", "Path(`/moved`)");
    assert!(wait_until(Duration::from_secs(5), || backend_of(
        &gw, "/moved"
    )
    .as_deref()
        == Some("A")));
}

#[test]
fn consul_over_tls_with_a_private_ca() {
    let certificates = testkit::TestCertificates::generate();
    let agent = ConsulAgent::start_tls(&certificates);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "app", "Path(`/app`)", &a);
    let https = format!("https://127.0.0.1:{}", agent.https_port.unwrap());

    let gw = Gateway::builder()
        .entry_point("web", "")
        .arg(format!("--providers.consul.endpoints={https}"))
        .arg(format!(
            "--providers.consul.tls.ca={}",
            certificates.ca().display()
        ))
        .start();
    assert_eq!(
        backend_of(&gw, "/app").as_deref(),
        Some("A"),
        "{}",
        gw.stderr()
    );
    kv.put("traefik/http/routers/app/rule", "Path(`/tls`)");
    assert!(wait_until(Duration::from_secs(5), || backend_of(
        &gw, "/tls"
    )
    .as_deref()
        == Some("A")));

    // Without the CA, Consul's certificate is not trusted: nothing is read, and the log says why.
    let untrusting = Gateway::builder()
        .entry_point("web", "")
        .arg(format!("--providers.consul.endpoints={https}"))
        .start();
    assert_consul_certificate_refused(&untrusting, "/tls");
}

/// The gateway could not read Consul because of its certificate, says so, and routes nothing.
fn assert_consul_certificate_refused(gw: &Gateway, path: &str) {
    assert!(
        gw.wait_for_stderr("cannot reach Consul", Duration::from_secs(10)),
        "{}",
        gw.stderr()
    );
    assert!(gw.stderr().contains("certificate"), "{}", gw.stderr());
    assert_eq!(status_of(gw, path), 404);
}

#[test]
fn unusable_answers_are_not_applied_and_the_next_endpoint_is_asked() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "app", "Path(`/app`)", &a);
    let url = a.url();
    let fake_keys = [
        ("traefik/http/routers/fake/rule", "Path(`/fake`)"),
        ("traefik/http/routers/fake/service", "app"),
        (
            "traefik/http/services/app/loadBalancer/servers/0/url",
            url.as_str(),
        ),
    ];
    let no_leader = FakeConsul::start(
        &fake_keys,
        &[
            ("X-Consul-Index", "5"),
            ("X-Consul-KnownLeader", "false"),
            ("X-Consul-LastContact", "0"),
        ],
    );
    let lagging = FakeConsul::start(
        &fake_keys,
        &[
            ("X-Consul-Index", "5"),
            ("X-Consul-KnownLeader", "true"),
            ("X-Consul-LastContact", "60000"),
        ],
    );
    let no_index = FakeConsul::start(
        &fake_keys,
        &[
            ("X-Consul-KnownLeader", "true"),
            ("X-Consul-LastContact", "0"),
        ],
    );
    let failing = FakeConsul::answering("500 Internal Server Error", &[], &[]);
    let limited = FakeConsul::answering("429 Too Many Requests", &[], &[]);
    let endpoints = [&no_leader, &lagging, &no_index, &failing, &limited]
        .iter()
        .map(|fake| fake.address())
        .chain([agent.address()])
        .collect::<Vec<_>>()
        .join(",");
    let gw = Gateway::builder()
        .entry_point("web", "")
        .arg(format!("--providers.consul.endpoints={endpoints}"))
        .arg("--providers.consul.stale=true")
        .arg("--providers.consul.maxStaleness=5s")
        .start();
    assert_eq!(
        backend_of(&gw, "/app").as_deref(),
        Some("A"),
        "{}",
        gw.stderr()
    );
    assert_eq!(status_of(&gw, "/fake"), 404, "no fake answer was applied");
    for reason in [
        "has no known leader",
        "last heard from its leader 60s ago, more than the 5s allowed (providers.consul.maxStaleness)",
        "answered without a valid X-Consul-Index header",
        "answered 500 Internal Server Error",
        "answered 429 Too Many Requests",
    ] {
        assert!(gw.stderr().contains(reason), "{reason}: {}", gw.stderr());
    }
    kv.put("traefik/http/routers/app/rule", "Path(`/moved`)");
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/moved")
            .as_deref()
            == Some("A")),
        "the watch goes on with the endpoint that answered: {}",
        gw.stderr()
    );
}

#[test]
fn a_hung_endpoint_is_left_for_the_next_one() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let a = Backend::start("A");
    route(&kv, "app", "Path(`/app`)", &a);
    let hung = HungEndpoint::start();
    let started = Instant::now();
    // Blocking queries wait 2 s instead of 50 s: requests time out after 2 s (plain) and
    // 5.1 s (blocking) instead of 10 s and 56 s.
    let gw = Gateway::builder()
        .entry_point("web", "")
        .env("GATEWAY_CONSUL_WAIT", "2s")
        .arg(format!(
            "--providers.consul.endpoints={},{}",
            hung.address(),
            agent.address()
        ))
        .start();
    assert!(
        wait_until(Duration::from_secs(20), || backend_of(&gw, "/app")
            .as_deref()
            == Some("A")),
        "{}",
        gw.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        gw.stderr().contains("no answer within 2s"),
        "{}",
        gw.stderr()
    );
    kv.put("traefik/http/routers/app/rule", "Path(`/moved`)");
    assert!(wait_until(Duration::from_secs(5), || backend_of(
        &gw, "/moved"
    )
    .as_deref()
        == Some("A")));
}

#[test]
fn a_token_file_and_a_tls_server_name() {
    let certificates = testkit::TestCertificates::generate_for(&["server.dc1.consul"]);
    let agent = ConsulAgent::start_secured(&certificates, "management-token");
    let kv = Kv::with_token(&agent, Some("management-token"));
    let a = Backend::start("A");
    route(&kv, "app", "Path(`/app`)", &a);
    let dir = TempDir::new("token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "management-token\n").unwrap();
    let https = format!("https://127.0.0.1:{}", agent.https_port.unwrap());
    let secured = |server_name: bool| {
        let mut builder = Gateway::builder()
            .entry_point("web", "")
            .arg(format!("--providers.consul.endpoints={https}"))
            .arg(format!(
                "--providers.consul.tokenFile={}",
                token_file.display()
            ))
            .arg(format!(
                "--providers.consul.tls.ca={}",
                certificates.ca().display()
            ));
        if server_name {
            builder = builder.arg("--providers.consul.tls.serverName=server.dc1.consul");
        }
        builder.start()
    };
    let gw = secured(true);
    assert_eq!(
        backend_of(&gw, "/app").as_deref(),
        Some("A"),
        "{}",
        gw.stderr()
    );

    // The certificate names server.dc1.consul, not 127.0.0.1.
    assert_consul_certificate_refused(&secured(false), "/app");
}
