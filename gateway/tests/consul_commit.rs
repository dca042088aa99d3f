//! The commit contract end to end: `control config apply` processes writing to a real Consul
//! agent while the real gateway serves, and Consul agents restarted empty or rolled back.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::consul::*;
use support::*;
use testkit::{ConsulAgent, Storage};

#[test]
fn a_multi_transaction_apply_is_never_seen_half_done() {
    let agent = ConsulAgent::start(Storage::Memory);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let routers = 120;
    // v1: every router -> old-svc (A). v2: every router -> new-svc (B), old-svc removed.
    // Written key by key, a half-applied v2 has routers pointing to a service that does not
    // exist yet, or to one already deleted: those requests would get 404.
    let dir = TempDir::new("apply");
    let v1 = dir.join("v1.yml");
    let v2 = dir.join("v2.yml");
    std::fs::write(&v1, routers_to("old-svc", &a, routers)).unwrap();
    std::fs::write(&v2, routers_to("new-svc", &b, routers)).unwrap();
    // 250 ms between transactions holds the half-written state open for over a second.
    let apply = |file: &Path| apply(&agent, &["--txn-interval=250ms"], file);
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
fn a_killed_apply_is_abandoned_when_its_lock_expires_and_the_next_apply_recovers() {
    let agent = ConsulAgent::start(Storage::Memory);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dir = TempDir::new("killed");
    let v1 = dir.join("v1.yml");
    let v2 = dir.join("v2.yml");
    let v3 = dir.join("v3.yml");
    std::fs::write(&v1, routers_to("one", &a, 3)).unwrap();
    std::fs::write(&v2, routers_to("two", &b, 120)).unwrap();
    std::fs::write(&v3, routers_to("three", &b, 3)).unwrap();
    apply(&agent, &[], &v1);
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));

    // A large apply, killed once its first chunk of keys is written.
    let kv = Kv::new(&agent);
    let mut writer = control_apply(&agent, &["--txn-interval=1s", "--lock-ttl=1s"], &v2)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start control");
    let started = wait_until(Duration::from_secs(10), || kv.has("http/routers/r100/rule"));
    writer.kill().unwrap();
    writer.wait().unwrap();
    let killed = Instant::now();
    assert!(started, "the large apply wrote nothing within 10 s");
    assert!(kv.has("_commit/pending"), "killed between its transactions");
    assert_eq!(
        backend_of(&gw, "/r0").as_deref(),
        Some("A"),
        "the half-written change is not served"
    );

    // Its session expires (between one and two TTLs), deleting the lock: abandoned.
    assert!(
        gw.wait_for_stderr(
            "the apply of generation 2 to traefik/ was abandoned half way (its lock traefik/_commit/lock is gone); the next `control config apply` recovers; keeping the configuration of generation 1 until a new commit",
            Duration::from_secs(10)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));
    assert_eq!(consul_status(&gw)["state"], "held");

    // The next apply is not blocked by the dead writer, and recovers.
    let output = apply(&agent, &[], &v3);
    assert!(
        output.contains("recovered from an apply of generation 2 abandoned half way"),
        "{output}"
    );
    let recovered = killed.elapsed();
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/r0").as_deref()
            == Some("B")),
        "{}",
        gw.stderr()
    );
    assert!(
        recovered < Duration::from_secs(8),
        "the gateway was frozen {recovered:?} after the writer died (lock TTL 1s)"
    );
    assert_eq!(
        status_of(&gw, "/r100"),
        404,
        "nothing of the abandoned change is left"
    );
    assert_eq!(consul_status(&gw)["state"], "ok");
}

#[test]
fn a_restarted_empty_consul_is_held_until_a_new_commit() {
    let mut agent = ConsulAgent::start(Storage::Memory);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dir = TempDir::new("restarted");
    let v1 = dir.join("v1.yml");
    let v2 = dir.join("v2.yml");
    std::fs::write(&v1, routers_to("one", &a, 3)).unwrap();
    std::fs::write(&v2, routers_to("two", &b, 3)).unwrap();
    apply(&agent, &[], &v1);
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));
    assert_eq!(consul_status(&gw)["generation"], 1);

    // A dev agent restarted: the same port, nothing in it.
    agent.restart();
    let empty = "Consul's traefik/ tree is empty; keeping the configuration of generation 1 until a new commit";
    assert!(
        gw.wait_for_stderr(empty, Duration::from_secs(20)),
        "{}",
        gw.stderr()
    );
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));
    let status = consul_status(&gw);
    assert_eq!(status["state"], "held", "{status}");
    assert_eq!(status["generation"], 1, "{status}");

    // A key written by hand is no commit.
    let kv = Kv::new(&agent);
    route(&kv, "r0", "Path(`/r0`)", &b);
    assert!(
        gw.wait_for_stderr(
            "traefik/_commit/generation vanished; keeping the configuration of generation 1 until a new commit",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("A"));

    // A new commit releases the hold.
    apply(&agent, &[], &v2);
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/r1").as_deref()
            == Some("B")),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.stderr().contains(
            "Consul's traefik/ tree is coherent again (generation 1); applying it (it was held: traefik/_commit/generation vanished)"
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(consul_status(&gw)["state"], "ok");
    assert_eq!(gw.stderr().matches(empty).count(), 1, "logged once");
}

#[test]
fn a_rolled_back_generation_is_held_until_a_new_commit() {
    let agent = ConsulAgent::start(Storage::Memory);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dir = TempDir::new("rollback");
    let files: Vec<_> = ["v1.yml", "v2.yml", "v3.yml"]
        .iter()
        .map(|name| dir.join(name))
        .collect();
    std::fs::write(&files[0], routers_to("one", &a, 3)).unwrap();
    std::fs::write(&files[1], routers_to("two", &b, 3)).unwrap();
    std::fs::write(&files[2], routers_to("three", &a, 3)).unwrap();
    apply(&agent, &[], &files[0]);
    apply(&agent, &[], &files[1]);
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("B"));

    // As a snapshot restore would: an older generation, and keys edited.
    let kv = Kv::new(&agent);
    kv.put("traefik/_commit/generation", "1");
    kv.put("traefik/http/routers/r0/rule", "Path(`/moved`)");
    assert!(
        gw.wait_for_stderr(
            "traefik/_commit/generation went from 2 to 1; keeping the configuration of generation 2 until a new commit",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        status_of(&gw, "/moved"),
        404,
        "the edit on the rolled-back tree is held"
    );
    assert_eq!(backend_of(&gw, "/r0").as_deref(), Some("B"));

    let output = apply(&agent, &[], &files[2]);
    assert!(output.contains("as generation 2"), "{output}");
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/r0").as_deref()
            == Some("A")),
        "{}",
        gw.stderr()
    );
    assert_eq!(consul_status(&gw)["generation"], 2);
}

#[test]
fn an_emptied_hand_edited_tree_is_held_until_it_has_keys_again() {
    let agent = ConsulAgent::start(Storage::Memory);
    let kv = Kv::new(&agent);
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    route(&kv, "app", "Path(`/app`)", &a);
    let gw = consul_gateway(&agent, "");
    assert_eq!(backend_of(&gw, "/app").as_deref(), Some("A"));
    kv.put("traefik/http/routers/app/rule", "Path(`/edited`)");
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/edited")
            .as_deref()
            == Some("A")),
        "without a generation, edits apply at once"
    );

    // Every key gone at once: what a restarted dev agent looks like.
    kv.delete_all(&[
        "traefik/http/routers/app/rule",
        "traefik/http/routers/app/service",
        "traefik/http/services/app/loadBalancer/servers/0/url",
    ]);
    assert!(
        gw.wait_for_stderr(
            "Consul's traefik/ tree is empty; keeping the configuration in service until keys are written again",
            Duration::from_secs(5)
        ),
        "{}",
        gw.stderr()
    );
    assert_eq!(backend_of(&gw, "/edited").as_deref(), Some("A"));

    route(&kv, "app", "Path(`/again`)", &b);
    assert!(
        wait_until(Duration::from_secs(5), || backend_of(&gw, "/again")
            .as_deref()
            == Some("B")),
        "{}",
        gw.stderr()
    );
    assert_eq!(status_of(&gw, "/edited"), 404);
}
