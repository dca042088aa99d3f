//! The two HTTP/1 paths agree: the same raw requests sent to a gateway on the lean path and to
//! one forced onto Pingora's `HttpProxy` (`GATEWAY_HTTP1_PATH=pingora`) reach the backend as
//! the same bytes and come back to the client as the same answers (Date aside).
//!
//! Until the lean path exists both gateways take Pingora's; the test is the regression net
//! that keeps the lean path byte-compatible once it does.

mod support;

use std::io::BufReader;
use std::time::{Duration, Instant};
use support::raw::{self, Ending};
use support::*;
use testkit::recording::RecordingBackend;

/// One gateway process and the recording backend it forwards every request to.
struct Side {
    gateway: Gateway,
    backend: RecordingBackend,
}

impl Side {
    /// A gateway with `web` (no trusted proxies) and `trusted` (127.0.0.1 trusted) entrypoints
    /// and `GATEWAY_HTTP1_PATH=path`.
    fn start(path: &str) -> Side {
        let backend = RecordingBackend::start();
        let gateway = Gateway::builder()
            .entry_point("web", "")
            .entry_point("trusted", "forwardedHeaders:\n  trustedIPs: [127.0.0.1]")
            .dynamic(&route_all_to(&backend.url()))
            .env("GATEWAY_HTTP1_PATH", path)
            // Each request's path is logged at TRACE: the test checks which one served it.
            .env("RUST_LOG", "info,gateway::entrypoint=trace")
            .start();
        Side { gateway, backend }
    }
}

/// What a client saw of one answer: status line, headers but Date, body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        let mut headers: Vec<(String, String)> = response
            .headers
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("date"))
            .collect();
        headers.sort_by_key(|(name, _)| name.to_ascii_lowercase());
        Answer {
            status: response.status,
            reason: response.reason,
            headers,
            body: in_field_order(&response.body),
        }
    }
}

/// A message with its header lines put in one order that keeps the order of the values of
/// each field (a stable sort by lowercase name): the order of different fields carries no
/// meaning (RFC 9110, 5.3), and Pingora's header map reorders them as it removes some
/// (`swap_remove`), where the lean path writes them as received. Bytes that are not a message
/// head are returned as they are.
fn in_field_order(message: &[u8]) -> Vec<u8> {
    let Some(end) = message.windows(4).position(|w| w == b"\r\n\r\n") else {
        return message.to_vec();
    };
    let head = String::from_utf8_lossy(&message[..end]);
    let mut lines: Vec<&str> = head.split("\r\n").collect();
    let mut fields = lines.split_off(1);
    fields.sort_by_key(|line| {
        line.split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    });
    let mut out = lines[0].as_bytes().to_vec();
    for field in fields {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(&message[end..]);
    out
}

/// Requests sent one after the other on one connection, to one entrypoint.
struct Conversation {
    label: &'static str,
    entry_point: &'static str,
    requests: Vec<Vec<u8>>,
}

/// What one side did with a conversation.
#[derive(Debug, PartialEq)]
struct Outcome {
    answers: Vec<Answer>,
    /// Whether the gateway closed the connection after the last answer (within 500 ms).
    closed_after: bool,
    /// The requests the backend received, as bytes.
    forwarded: Vec<Vec<u8>>,
}

/// The outcome as text, for failure messages.
fn render(outcome: &Outcome) -> String {
    let mut text = String::new();
    for answer in &outcome.answers {
        text.push_str(&format!("answer {} {}\n", answer.status, answer.reason));
        for (name, value) in &answer.headers {
            text.push_str(&format!("  {name}: {value}\n"));
        }
        text.push_str(&format!(
            "  body {:?}\n",
            String::from_utf8_lossy(&answer.body)
        ));
    }
    for forwarded in &outcome.forwarded {
        text.push_str(&format!(
            "forwarded {:?}\n",
            String::from_utf8_lossy(forwarded)
        ));
    }
    text.push_str(&format!("closed after: {}\n", outcome.closed_after));
    text
}

fn play(side: &Side, conversation: &Conversation) -> Outcome {
    let before = side.backend.requests().len();
    let mut reader = BufReader::new(raw::connect(side.gateway.addr(conversation.entry_point)));
    let answers: Vec<Answer> = conversation
        .requests
        .iter()
        .map(|request| raw::exchange(&mut reader, request).into())
        .collect();
    let ending = raw::read_until_end(&mut reader, Instant::now(), Duration::from_millis(500));
    assert!(
        ending.bytes.is_empty(),
        "{}: bytes after the last answer: {:?}",
        conversation.label,
        ending.text()
    );
    // The backend records a request before it answers it, so all are recorded by now.
    let forwarded = side.backend.requests()[before..]
        .iter()
        .map(|request| in_field_order(request))
        .collect();
    Outcome {
        answers,
        closed_after: ending.ending != Ending::StillOpen,
        forwarded,
    }
}

/// A request with `Host: paths.test:8000` (the same on both sides, so are the forwarded
/// headers derived from it), these extra header lines and this body.
fn request(method: &str, target: &str, extra: &[&str], body: &str) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: paths.test:8000\r\n");
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body);
    head.into_bytes()
}

fn conversations() -> Vec<Conversation> {
    let spoofed = [
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Host: spoofed.example",
        "X-Forwarded-Proto: https",
        "X-Real-Ip: 198.51.100.7",
    ];
    let one = |label, entry_point, request| Conversation {
        label,
        entry_point,
        requests: vec![request],
    };
    vec![
        one("GET", "web", request("GET", "/plain", &[], "")),
        one(
            "GET with a query",
            "web",
            request("GET", "/search?q=a%20b&x=1&x=2", &["Accept: */*"], ""),
        ),
        one(
            "POST with a small body",
            "web",
            request(
                "POST",
                "/submit",
                &["Content-Type: text/plain"],
                "hello world",
            ),
        ),
        Conversation {
            label: "three requests on one keep-alive connection",
            entry_point: "web",
            requests: vec![
                request("GET", "/one", &[], ""),
                request("GET", "/two?x=y", &["User-Agent: paths-test"], ""),
                request("POST", "/three", &[], "body of three"),
            ],
        },
        one(
            "forwarded headers from an untrusted client",
            "web",
            request("GET", "/untrusted", &spoofed, ""),
        ),
        one(
            "forwarded headers from a trusted client",
            "trusted",
            request("GET", "/trusted", &spoofed, ""),
        ),
        one(
            "Connection: close",
            "web",
            request("GET", "/close", &["Connection: close"], ""),
        ),
        // Last: the recording backend answers HEAD with a body too, which spoils the upstream
        // connection for any later request.
        one("HEAD", "web", request("HEAD", "/head", &[], "")),
    ]
}

#[test]
fn lean_and_pingora_paths_forward_and_answer_the_same() {
    let lean = Side::start("lean");
    let pingora = Side::start("pingora");
    // Every request here is a plain one on a lean router: all take the lean path.
    let mut lean_served = 0;
    for conversation in conversations() {
        lean_served += conversation.requests.len();
        let on_lean = play(&lean, &conversation);
        let on_pingora = play(&pingora, &conversation);
        let label = conversation.label;
        assert_eq!(
            on_lean.forwarded.len(),
            conversation.requests.len(),
            "{label}:\n{}",
            render(&on_lean)
        );
        for (answer, forwarded) in on_lean.answers.iter().zip(&on_lean.forwarded) {
            assert_eq!(answer.status, 200, "{label}: {answer:?}");
            let head_request = forwarded.starts_with(b"HEAD ");
            if !head_request {
                assert_eq!(
                    &answer.body, forwarded,
                    "{label}: the echo is not what was forwarded"
                );
            }
        }
        let closes = label == "Connection: close";
        assert_eq!(
            on_lean.closed_after,
            closes,
            "{label}:\n{}",
            render(&on_lean)
        );
        let (lean_log, pingora_log) = (lean.gateway.stderr(), pingora.gateway.stderr());
        assert_eq!(
            lean_log.matches("request on the lean path").count(),
            lean_served,
            "{label}: the lean gateway did not serve every request on the lean path"
        );
        assert!(
            !pingora_log.contains("request on the lean path"),
            "{label}: GATEWAY_HTTP1_PATH=pingora took the lean path"
        );
        assert!(
            on_lean == on_pingora,
            "{label}: the paths differ\n-- lean:\n{}-- pingora:\n{}",
            render(&on_lean),
            render(&on_pingora)
        );
    }
}
