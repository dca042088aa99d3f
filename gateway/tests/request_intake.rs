//! What reaches a backend, byte for byte (through a raw recording backend), for request heads an
//! attacker writes: `Connection` naming framing or Host headers, odd Transfer-Encodings, bad or
//! missing Host, absolute-form and non-ASCII targets; and what a client sees when a backend dies
//! after the response has started.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::*;
use testkit::RecordingBackend;

/// Sends `bytes` on a new connection and returns everything the gateway sends until it closes
/// the connection (or 3 s pass).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream.write_all(bytes).expect("send");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    received
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until the backend has `n` requests, then a little more to catch any extra one.
fn settled_requests(backend: &RecordingBackend, n: usize) -> Vec<String> {
    wait_until(Duration::from_secs(3), || backend.requests().len() >= n);
    std::thread::sleep(Duration::from_millis(150));
    backend.requests_text()
}

#[test]
fn connection_cannot_unframe_a_body() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, content-length\r\nContent-Length: {}\r\n\r\n{smuggled}",
        smuggled.len()
    );
    let mut stream = TcpStream::connect(gw.web()).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let requests = settled_requests(&backend, 1);
    assert_eq!(
        requests.len(),
        1,
        "the body became a request: {requests:#?}"
    );
    assert!(
        requests[0].starts_with("POST /upload HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    assert!(
        requests[0].ends_with(smuggled),
        "the body is forwarded as the body"
    );
    assert!(
        requests[0].contains(&format!("Content-Length: {}\r\n", smuggled.len())),
        "Content-Length is kept: {}",
        requests[0]
    );

    let chunked = format!(
        "POST /upload HTTP/1.1\r\nHost: a.test\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
        smuggled.len()
    );
    let mut stream = TcpStream::connect(gw.web()).unwrap();
    stream.write_all(chunked.as_bytes()).unwrap();
    let requests = settled_requests(&backend, 2);
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests[1].contains(smuggled), "{}", requests[1]);
}

#[test]
fn connection_cannot_remove_host() {
    let (a, other) = (RecordingBackend::start(), RecordingBackend::start());
    let gw = Gateway::start(&host_routed(&a, &other));
    let answer = exchange(
        gw.web(),
        b"GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close, host\r\n\r\n",
    );
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    let requests = settled_requests(&a, 1);
    assert_eq!(requests.len(), 1, "routed on the Host header");
    assert!(
        requests[0].contains("\r\nHost: example.com\r\n"),
        "{}",
        requests[0]
    );
    assert!(other.requests().is_empty());
}

#[test]
fn too_many_connection_tokens_are_refused() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let tokens: Vec<String> = (0..65).map(|i| format!("x-{i}")).collect();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: {}\r\n\r\n",
        tokens.join(", ")
    );
    let answer = text(&exchange(gw.web(), request.as_bytes()));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(backend.requests().is_empty());
}

#[test]
fn transfer_encodings_other_than_chunked_get_501() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    for encodings in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let request = format!("POST / HTTP/1.1\r\nHost: a\r\n{encodings}\r\n0\r\n\r\n");
        let answer = text(&exchange(gw.web(), request.as_bytes()));
        assert!(answer.starts_with("HTTP/1.1 501"), "{encodings}: {answer}");
        assert!(
            answer.ends_with("Unsupported transfer encoding"),
            "{answer}"
        );
    }
    assert!(
        backend.requests().is_empty(),
        "{:?}",
        backend.requests_text()
    );
}

#[test]
fn host_must_be_present_and_well_formed() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let answer = text(&exchange(gw.web(), b"GET / HTTP/1.1\r\n\r\n"));
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request: missing required Host header\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("400 Bad Request: missing required Host header"));
    for host in ["a b.test", "a\"b", "a<b>"] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let answer = text(&exchange(gw.web(), request.as_bytes()));
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.ends_with("malformed Host header"),
            "{host:?}: {answer}"
        );
    }
    // A control character is refused by Pingora's parser itself (a plain 400).
    let answer = text(&exchange(
        gw.web(),
        b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
    ));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // HTTP/1.0 needs no Host.
    let answer = text(&exchange(gw.web(), b"GET /old HTTP/1.0\r\n\r\n"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let requests = settled_requests(&backend, 1);
    assert_eq!(
        requests.len(),
        1,
        "only the HTTP/1.0 request: {requests:#?}"
    );
}

fn host_routed(a: &RecordingBackend, other: &RecordingBackend) -> String {
    format!(
        r#"
http:
  routers:
    a:
      rule: Host(`example.com`)
      service: a
    other:
      rule: PathPrefix(`/`)
      priority: 1
      service: other
  services:
    a:
      loadBalancer:
        servers:
          - url: {}
    other:
      loadBalancer:
        servers:
          - url: {}
"#,
        a.url(),
        other.url()
    )
}

#[test]
fn absolute_form_is_routed_on_its_authority_and_sent_in_origin_form() {
    let (a, other) = (RecordingBackend::start(), RecordingBackend::start());
    let gw = Gateway::start(&host_routed(&a, &other));
    let answer = exchange(
        gw.web(),
        b"GET http://example.com/x/../y?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    // HTTP/1.0 without Host: the target's authority is the host.
    let answer = exchange(gw.web(), b"GET http://example.com:81/z HTTP/1.0\r\n\r\n");
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    let requests = settled_requests(&a, 2);
    assert_eq!(
        requests.len(),
        2,
        "both routed to example.com: {requests:#?}"
    );
    assert!(
        requests[0].starts_with("GET /y?q=1 HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    assert!(
        requests[0].contains("\r\nHost: example.com\r\n"),
        "{}",
        requests[0]
    );
    // Upstream requests are HTTP/1.1, as Go's reverse proxy sends them.
    assert!(
        requests[1].starts_with("GET /z HTTP/1.1\r\n"),
        "{}",
        requests[1]
    );
    assert!(
        requests[1].contains("\r\nHost: example.com:81\r\n"),
        "{}",
        requests[1]
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests_text());
}

#[test]
fn non_ascii_targets_are_sent_escaped_and_non_utf8_ones_refused() {
    let backend = RecordingBackend::start();
    let gw = Gateway::start(&route_all_to(&backend.url()));
    let answer = exchange(
        gw.web(),
        b"GET /a/../caf\xc3\xa9/?x=\xc3\xa9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    let requests = settled_requests(&backend, 1);
    assert!(
        requests[0].starts_with("GET /caf%C3%A9/?x=\u{e9} HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    // Bytes that are not UTF-8 are refused by Pingora's parser (Traefik would escape them).
    for target in [&b"/\xff"[..], b"/a?x=\xe9"] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        let answer = text(&exchange(gw.web(), &request));
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    assert_eq!(backend.requests().len(), 1);
}

/// A backend that answers every connection with `head_and_part` and then closes it.
fn dying_backend(head_and_part: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(head_and_part);
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (url, handle)
}

#[test]
fn a_backend_dying_mid_body_truncates_the_response() {
    for (head_and_part, complete_end) in [
        (
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"[..],
            &b"0\r\n\r\n"[..],
        ),
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello"[..],
            &b"Bad Gateway"[..],
        ),
    ] {
        let (url, backend) = dying_backend(head_and_part);
        let gw = Gateway::start(&route_all_to(&url));
        let answer = exchange(gw.web(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        backend.join().unwrap();
        let shown = text(&answer);
        assert!(shown.starts_with("HTTP/1.1 200"), "{shown}");
        assert!(shown.contains("hello"), "{shown}");
        assert!(
            !answer.ends_with(complete_end) && !shown.contains("Bad Gateway"),
            "the client must see a cut-off response, not a complete one: {shown:?}"
        );
    }
}

#[test]
fn failed_forwards_are_logged_at_warn_with_their_route() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let gw = Gateway::start(&route_all_to(&dead));
    let response = get(gw.web(), "/");
    assert_eq!(response.status, 502);
    assert!(
        gw.wait_for_stderr(&dead, Duration::from_secs(3)),
        "no log line names the server: {}",
        gw.stderr()
    );
    let log = gw.stderr();
    let line = log.lines().find(|l| l.contains(&dead)).unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("@file"), "router and service named: {line}");
}
