//! The Consul KV provider end to end: a real Consul agent, the real gateway, real backends.

mod support;

use control::consul::{ClientOptions, ConsulClient, TxnOp};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use testkit::{ConsulAgent, Storage};

/// Writes to Consul KV from the test.
struct Kv {
    runtime: tokio::runtime::Runtime,
    client: ConsulClient,
}

impl Kv {
    fn new(agent: &ConsulAgent) -> Kv {
        Kv {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: ConsulClient::new(ClientOptions {
                endpoints: vec![agent.address()],
                ..Default::default()
            })
            .unwrap(),
        }
    }

    fn put(&self, key: &str, value: &str) {
        self.runtime
            .block_on(self.client.kv_put(key, value.as_bytes()))
            .unwrap();
    }

    fn put_all(&self, pairs: &[(&str, String)]) {
        let ops: Vec<TxnOp> = pairs
            .iter()
            .map(|(k, v)| TxnOp::Set {
                key: k.to_string(),
                value: v.clone().into_bytes(),
            })
            .collect();
        for chunk in ops.chunks(64) {
            self.runtime.block_on(self.client.txn(chunk)).unwrap();
        }
    }

    fn delete(&self, key: &str) {
        self.runtime
            .block_on(self.client.txn(&[TxnOp::Delete { key: key.into() }]))
            .unwrap();
    }
}

fn route(kv: &Kv, name: &str, rule: &str, backend: &Backend) {
    kv.put_all(&[
        (
            &format!("traefik/http/routers/{name}/rule"),
            rule.to_string(),
        ),
        (
            &format!("traefik/http/routers/{name}/service"),
            name.to_string(),
        ),
        (
            &format!("traefik/http/services/{name}/loadBalancer/servers/0/url"),
            backend.url(),
        ),
    ]);
}

fn consul_gateway(agent: &ConsulAgent, file: &str) -> Gateway {
    Gateway::builder()
        .entry_point("web", "")
        .static_extra("api:\n  insecure: true\n")
        .dynamic(file)
        .arg(format!("--providers.consul.endpoints={}", agent.address()))
        .start()
}

fn backend_of(gw: &Gateway, target: &str) -> Option<String> {
    try_request(gw.web(), "GET", target, &[])
        .ok()
        .and_then(|r| r.backend())
}

fn status_of(gw: &Gateway, target: &str) -> u16 {
    try_request(gw.web(), "GET", target, &[])
        .map(|r| r.status)
        .unwrap_or(0)
}

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
fn a_multi_transaction_apply_is_never_seen_half_done() {
    let agent = ConsulAgent::start(Storage::Memory);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let routers = 120;
    // v1: every router -> old-svc (A). v2: every router -> new-svc (B), old-svc removed.
    // Written key by key, a half-applied v2 has routers pointing to a service that does not
    // exist yet, or to one already deleted: those requests would get 404.
    let version = |service: &str, backend: &Backend| {
        let mut yaml = String::from("http:\n  routers:\n");
        for i in 0..routers {
            yaml.push_str(&format!(
                "    r{i}: {{rule: \"Path(`/r{i}`)\", service: {service}}}\n"
            ));
        }
        yaml.push_str(&format!(
            "  services:\n    {service}: {{loadBalancer: {{servers: [{{url: '{}'}}]}}}}\n",
            backend.url()
        ));
        yaml
    };
    let dir = TempDir::new("apply");
    let v1 = dir.join("v1.yml");
    let v2 = dir.join("v2.yml");
    std::fs::write(&v1, version("old-svc", &a)).unwrap();
    std::fs::write(&v2, version("new-svc", &b)).unwrap();
    let control_bin = std::path::Path::new(gateway_bin()).with_file_name("control");
    // 250 ms between transactions holds the half-written state open for over a second.
    let apply = |file: &std::path::Path| {
        let output = std::process::Command::new(&control_bin)
            .args([
                "config",
                "apply",
                "--txn-interval=250ms",
                "--consul",
                &agent.address(),
            ])
            .arg(file)
            .output()
            .expect("run control (built by cargo test --workspace)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    apply(&v1);
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new((0usize, 0usize, Vec::<String>::new())));
    let client = {
        let (stop, seen, addr) = (stop.clone(), seen.clone(), gw.web());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut conn = Connection::open(addr).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let target = format!("/r{}", i % routers);
                i += 1;
                let response = conn.get(&target).or_else(|_| {
                    conn = Connection::open(addr)?;
                    conn.get(&target)
                });
                let mut seen = seen.lock().unwrap();
                match response.ok().and_then(|r| r.backend()) {
                    Some(name) if name == "A" => seen.0 += 1,
                    Some(name) if name == "B" => seen.1 += 1,
                    other => seen.2.push(format!("{target}: {other:?}")),
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let output = apply(&v2);
    assert!(
        output.contains("transaction(s)") && !output.contains("in 1 transaction"),
        "{output}"
    );
    assert!(wait_until(Duration::from_secs(10), || seen
        .lock()
        .unwrap()
        .1
        > routers * 2));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let (old, new, wrong) = &*seen.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "{} requests saw a half-applied change: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(*old > 0 && *new > 0, "old {old}, new {new}");
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
    assert!(
        untrusting.wait_for_stderr("cannot reach Consul", Duration::from_secs(10)),
        "{}",
        untrusting.stderr()
    );
    assert!(
        untrusting.stderr().contains("certificate"),
        "{}",
        untrusting.stderr()
    );
    assert_eq!(status_of(&untrusting, "/tls"), 404);
}
