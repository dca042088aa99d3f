//! `retry` and `circuitBreaker` end to end: attempts counted on the wire, the next server picked
//! per attempt, no retry once the server got the request, request bodies replayed, backoff
//! waits; a breaker tripping on a failing backend, answering its fallback, recovering, and
//! keeping its state across a reload that did not change it.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::*;
use testkit::RecordingBackend;

/// A loopback server that counts connections and, on each, reads a request head then writes
/// its script and closes (an empty script: it closes at once; [`READ_THEN_CLOSE`]: it closes
/// after reading the head). Stopped on drop.
struct Scripted {
    port: u16,
    connections: Arc<AtomicUsize>,
    answer: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(answer: &[u8]) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(Mutex::new(answer.to_vec()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, answer, stop) = (connections.clone(), answer.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let script = answer.lock().unwrap().clone();
                    std::thread::spawn(move || serve(stream, &script));
                }
            })
        };
        Scripted {
            port,
            connections,
            answer,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn set_answer(&self, answer: &[u8]) {
        *self.answer.lock().unwrap() = answer.to_vec();
    }
}

fn serve(mut stream: TcpStream, script: &[u8]) {
    if script.is_empty() {
        return;
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    if script != READ_THEN_CLOSE {
        let _ = stream.write_all(script);
    }
}

/// The script of a server that reads the request and closes without answering.
const READ_THEN_CLOSE: &[u8] = b"-";

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(local(self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A port nothing listens on.
fn dead_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad";

fn gateway(dynamic: &str) -> Gateway {
    Gateway::start(dynamic)
}

#[test]
fn each_attempt_is_a_connection_and_the_last_failure_is_answered() {
    // A TLS server that closes every connection: each attempt fails its handshake, before
    // anything is sent, so each is retried.
    let closer = Scripted::start(b"");
    let dynamic = format!(
        r#"http:
  routers:
    r: {{rule: "PathPrefix(`/`)", service: s, middlewares: [retry]}}
  middlewares:
    retry: {{retry: {{attempts: 3}}}}
  services:
    s: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{}"}}]}}}}
"#,
        closer.port
    );
    let gw = gateway(&dynamic);
    let response = get(gw.web(), "/");
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(response.text(), "Bad Gateway");
    assert!(wait_until(Duration::from_secs(2), || closer.connections() == 3));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(closer.connections(), 3);
}

#[test]
fn a_dead_server_is_followed_by_a_live_one() {
    let live = RecordingBackend::start();
    let dynamic = format!(
        r#"http:
  routers:
    retried: {{rule: "PathPrefix(`/retried`)", service: s, middlewares: [retry]}}
    plain: {{rule: "PathPrefix(`/plain`)", service: s}}
  middlewares:
    retry: {{retry: {{attempts: 2}}}}
  services:
    s: {{loadBalancer: {{servers: [{{url: "{}"}}, {{url: "{}"}}]}}}}
"#,
        dead_url(),
        live.url()
    );
    let gw = gateway(&dynamic);
    for i in 0..6 {
        let response = get(gw.web(), &format!("/retried/{i}"));
        assert_eq!(response.status, 200, "request {i}: {response:?}");
    }
    assert_eq!(live.requests().len(), 6, "{:?}", live.requests_text());
    // Without the middleware, the dead server's turns fail.
    let statuses: Vec<u16> = (0..4)
        .map(|i| get(gw.web(), &format!("/plain/{i}")).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn post_bodies_are_replayed() {
    let live = RecordingBackend::start();
    let dynamic = format!(
        r#"http:
  routers:
    r: {{rule: "PathPrefix(`/`)", service: s, middlewares: [retry]}}
  middlewares:
    retry: {{retry: {{attempts: 2}}}}
  services:
    s: {{loadBalancer: {{servers: [{{url: "{}"}}, {{url: "{}"}}]}}}}
"#,
        dead_url(),
        live.url()
    );
    let gw = gateway(&dynamic);
    let small = b"name=value&other=1".to_vec();
    // Past Pingora's 64 KiB retry buffer: nothing was read before the connection failed.
    let large: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    for body in [&small, &large, &small, &large] {
        let response = try_request_with_body(
            gw.web(),
            "POST",
            "/upload",
            &[("Content-Type", "application/octet-stream")],
            body,
        )
        .expect("a POST through the gateway");
        assert_eq!(response.status, 200);
        assert!(
            response.body.ends_with(body),
            "the server got {} bytes",
            response.body.len()
        );
    }
    assert_eq!(live.requests().len(), 4);
}

#[test]
fn no_retry_once_the_server_got_the_request() {
    // Closes after reading the request: no answer.
    let silent = Scripted::start(READ_THEN_CLOSE);
    // Answers a head and part of the body, then closes.
    let partial =
        Scripted::start(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\npart");
    let dynamic = format!(
        r#"http:
  routers:
    silent: {{rule: "PathPrefix(`/silent`)", service: silent, middlewares: [retry]}}
    partial: {{rule: "PathPrefix(`/partial`)", service: partial, middlewares: [retry]}}
  middlewares:
    retry: {{retry: {{attempts: 4}}}}
  services:
    silent: {{loadBalancer: {{servers: [{{url: "{}"}}]}}}}
    partial: {{loadBalancer: {{servers: [{{url: "{}"}}]}}}}
"#,
        silent.url(),
        partial.url()
    );
    let gw = gateway(&dynamic);
    let response = get(gw.web(), "/silent");
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(silent.connections(), 1);
    // The head was relayed: the client sees a cut-off body, and nothing is tried again.
    let cut = try_request(gw.web(), "GET", "/partial", &[]);
    assert!(
        cut.as_ref()
            .map_or(true, |r| r.status == 200 && r.body.len() < 100),
        "{cut:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(partial.connections(), 1);
}

#[test]
fn attempts_wait_the_backoff() {
    let dynamic = format!(
        r#"http:
  routers:
    r: {{rule: "PathPrefix(`/`)", service: s, middlewares: [retry]}}
  middlewares:
    retry: {{retry: {{attempts: 3, initialInterval: 200ms}}}}
  services:
    s: {{loadBalancer: {{servers: [{{url: "{}"}}]}}}}
"#,
        dead_url()
    );
    let gw = gateway(&dynamic);
    let started = Instant::now();
    let response = get(gw.web(), "/");
    let took = started.elapsed();
    assert_eq!(response.status, 502);
    // Two waits: 200 ms then 283 ms, each ±50 %.
    assert!(
        took >= Duration::from_millis(240) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

fn breaker_config(backend: &str, fallback: &str, extra: &str) -> String {
    format!(
        r#"http:
  routers:
    guarded: {{rule: "PathPrefix(`/`)", service: s, middlewares: [breaker]}}
{extra}  middlewares:
    breaker:
      circuitBreaker:
        expression: "NetworkErrorRatio() > 0.5"
        checkPeriod: 10ms
        fallbackDuration: {fallback}
        recoveryDuration: 1s
  services:
    s: {{loadBalancer: {{servers: [{{url: "{backend}"}}]}}}}
"#
    )
}

#[test]
fn the_breaker_trips_answers_its_fallback_and_recovers() {
    let backend = Scripted::start(BAD_GATEWAY);
    let gw = gateway(&breaker_config(&backend.url(), "1s", ""));
    let first = get(gw.web(), "/");
    assert_eq!((first.status, first.text().as_str()), (502, "bad"));
    let tripped_at = Instant::now();
    let fallback = get(gw.web(), "/");
    assert_eq!(fallback.status, 503, "{fallback:?}");
    assert_eq!(fallback.text(), "Service Unavailable");
    assert_eq!(fallback.header("Content-Type"), None);
    assert_eq!(backend.connections(), 1, "the fallback reached the backend");
    backend.set_answer(OK);
    // Open for the fallback duration.
    while tripped_at.elapsed() < Duration::from_millis(800) {
        assert_eq!(get(gw.web(), "/").status, 503);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(backend.connections(), 1);
    // Then a growing share goes through while recovering, and all of it afterwards.
    let recovered = wait_until(Duration::from_secs(4), || {
        (0..5).all(|_| get(gw.web(), "/").status == 200)
    });
    assert!(recovered, "the breaker did not close again");
    assert!(tripped_at.elapsed() >= Duration::from_secs(1));
}

#[test]
fn the_breaker_keeps_its_state_across_an_unrelated_reload() {
    let backend = Scripted::start(BAD_GATEWAY);
    let gw = gateway(&breaker_config(&backend.url(), "60s", ""));
    assert_eq!(get(gw.web(), "/").status, 502);
    assert_eq!(get(gw.web(), "/").status, 503);
    backend.set_answer(OK);
    let extra = "    other: {rule: \"PathPrefix(`/other`)\", service: s}\n";
    write_atomic(
        &gw.dynamic_path(),
        &breaker_config(&backend.url(), "60s", extra),
    );
    // The new router serves once the reload is in; the breaker is still open.
    assert!(wait_until(Duration::from_secs(5), || get(
        gw.web(),
        "/other"
    )
    .status
        == 200));
    assert_eq!(get(gw.web(), "/").status, 503);
    // The first request and the new router's: the fallback reaches no server.
    assert_eq!(backend.connections(), 2);
}
