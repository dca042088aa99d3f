//! Parity of the middlewares that ask another server: forwardAuth (a scripted auth server whose
//! received requests are compared too) and errors (a scripted app answering the status its
//! path names, the recording backend serving the error pages).

use crate::harness::{get, request, Exchange, Pair, Probe};
use crate::support::free_port;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A loopback server answering each request (one per connection) with what `answer` makes of
/// its head, recording each head as request line and sorted header lines.
struct Scripted {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

/// How a scripted server records heads.
#[derive(Clone, Copy)]
enum Record {
    /// As received.
    All,
    /// Without the `Accept-Encoding: gzip` Go's transport adds to proxied requests (as the
    /// harness compares the backend's requests).
    ProxiedRequests,
}

impl Scripted {
    fn start(answer: fn(&str) -> String, record: Record) -> Scripted {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || serve(stream, answer, record, &recorded));
            }
        });
        Scripted { url, heads }
    }

    /// The heads received since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.heads.lock().unwrap())
    }
}

fn serve(
    mut stream: TcpStream,
    answer: fn(&str) -> String,
    record: Record,
    recorded: &Mutex<Vec<String>>,
) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let body = read_body(&mut stream, &text);
    let mut lines = text.trim_end().lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<&str> = lines
        .filter(|l| {
            matches!(record, Record::All) || !l.eq_ignore_ascii_case("accept-encoding: gzip")
        })
        .collect();
    headers.sort_unstable();
    recorded
        .lock()
        .unwrap()
        .push(format!("{request_line}\n{}\n\n{body}", headers.join("\n")));
    let _ = stream.write_all(answer(&text).as_bytes());
}

/// The body after `head`, decoded when chunked (chunk sizes may differ between senders).
fn read_body(stream: &mut TcpStream, head: &str) -> String {
    let mut body = Vec::new();
    if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !(raw.ends_with(b"\r\n0\r\n\r\n") || raw == b"0\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => raw.push(byte[0]),
                _ => break,
            }
        }
        let mut rest = &raw[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(&String::from_utf8_lossy(&rest[..end]), 16).unwrap_or(0);
            if size == 0 || rest.len() < end + 2 + size {
                break;
            }
            body.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[(end + 4 + size).min(rest.len())..];
        }
    } else if let Some(length) = header(head, "content-length").and_then(|v| v.parse().ok()) {
        body.resize(length, 0);
        let _ = stream.read_exact(&mut body);
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The value of a request header in a raw head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn response(status: &str, headers: &[&str], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for line in headers {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text
}

/// The auth server: what it answers is chosen by the request's `X-Auth-Answer`.
fn auth_answer(head: &str) -> String {
    match header(head, "x-auth-answer").unwrap_or("allow") {
        "deny" => response(
            "401 Unauthorized",
            &[
                "WWW-Authenticate: Basic realm=\"gw\"",
                "Content-Type: text/plain; charset=utf-8",
                "X-Reason: nope",
                "Set-Cookie: auth-session=gone; Path=/",
            ],
            "denied\n",
        ),
        "redirect" => response(
            "302 Found",
            &["Location: /login?next=%2Fapp", "Content-Type: text/html"],
            "<a href=\"/login\">login</a>",
        ),
        "redirect-relative" => response(
            "303 See Other",
            &["Location: ../sso/start", "Content-Type: text/plain"],
            "",
        ),
        "redirect-absolute" => response(
            "307 Temporary Redirect",
            &[
                "Location: https://sso.example/start?x=1",
                "Content-Type: text/plain",
            ],
            "away",
        ),
        "forbidden" => response("403 Forbidden", &["X-Reason: no"], ""),
        "bare" => response("418 I'm a teapot", &[], "<html><body>no type</body></html>"),
        "bare-text" => response("429 Too Many Requests", &[], "slow down"),
        _ => response(
            "200 OK",
            &[
                "X-Auth-User: alice",
                "X-Auth-Extra-Role: admin",
                "X-Auth-Extra-Team: a",
                "X-Other: not copied",
                "Set-Cookie: auth-session=s1; Path=/; HttpOnly",
                "Set-Cookie: tracking=t1",
                "Content-Type: text/plain",
            ],
            "ok",
        ),
    }
}

/// The app behind `errors`: answers the status its path ends with (`/e/404`), with a body
/// unless the path has `/empty/`.
fn app_answer(head: &str) -> String {
    let target = head.split(' ').nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    let code: u16 = path
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        418 => "I'm a teapot",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let body = if path.contains("/empty/") || head.starts_with("HEAD ") {
        String::new()
    } else {
        format!("app says {code}\n")
    };
    let cookies = if path.contains("/cookie") {
        "Set-Cookie: app=1; path=/a; secure; Max-Age=60\r\nSet-Cookie: auth-session=stale\r\nSet-Cookie: not a cookie\r\nSet-Cookie: when=1; expires=Wed, 21-Oct-2015 07:28:00 GMT\r\n"
    } else {
        ""
    };
    let mut text = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nX-App: yes\r\n{cookies}Content-Length: {}\r\nConnection: close\r\n\r\n",
        if head.starts_with("HEAD ") { 10 } else { body.len() }
    );
    text.push_str(&body);
    text
}

/// Sends every probe to both proxies and compares the exchanges and what `server` received.
fn assert_same_with(pair: &Pair, server: &Scripted, probes: &[Probe]) {
    let mut differences = Vec::new();
    for probe in probes {
        server.take();
        let traefik: (Exchange, Vec<String>) =
            (pair.exchange(pair.traefik(), probe), server.take());
        let gateway: (Exchange, Vec<String>) =
            (pair.exchange(pair.gateway(), probe), server.take());
        if traefik != gateway {
            differences.push(format!(
                "{}\n  traefik: {traefik:#?}\n  gateway: {gateway:#?}",
                probe.label
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} requests answered differently:\n{}",
        differences.len(),
        probes.len(),
        differences.join("\n")
    );
}

const AUTH: &str = r#"http:
  routers:
    auth: {rule: "PathPrefix(`/auth`)", service: backend, middlewares: [auth]}
    trusted: {rule: "PathPrefix(`/trusted`)", service: backend, middlewares: [auth-trusted]}
    filtered: {rule: "PathPrefix(`/filtered`)", service: backend, middlewares: [auth-filtered]}
    cookies: {rule: "PathPrefix(`/cookies`)", service: backend, middlewares: [auth-cookies]}
    preserve: {rule: "PathPrefix(`/preserve`)", service: backend, middlewares: [auth-preserve]}
    down: {rule: "PathPrefix(`/down`)", service: backend, middlewares: [auth-down]}
    chained: {rule: "PathPrefix(`/chained`)", service: backend, middlewares: [strip, auth]}
    body: {rule: "PathPrefix(`/body/`)", service: backend, middlewares: [auth-body]}
    body-any: {rule: "PathPrefix(`/body-any`)", service: backend, middlewares: [auth-body-any]}
  middlewares:
    auth:
      forwardAuth:
        address: "{auth}/verify?from=gw"
        authResponseHeaders: [X-Auth-User, X-Auth-Missing]
        authResponseHeadersRegex: "^X-Auth-Extra"
    auth-trusted: {forwardAuth: {address: "{auth}/verify", trustForwardHeader: true}}
    auth-filtered: {forwardAuth: {address: "{auth}/verify", authRequestHeaders: [X-Auth-Answer, Authorization]}}
    auth-cookies: {forwardAuth: {address: "{auth}/verify", addAuthCookiesToResponse: [auth-session]}}
    auth-preserve: {forwardAuth: {address: "{auth}/base/verify", preserveLocationHeader: true, preserveRequestMethod: true}}
    auth-down: {forwardAuth: {address: "http://127.0.0.1:{closed}/verify"}}
    strip: {stripPrefix: {prefixes: [/chained]}}
    auth-body: {forwardAuth: {address: "{auth}/verify", forwardBody: true, maxBodySize: 8}}
    auth-body-any: {forwardAuth: {address: "{auth}/verify", forwardBody: true, preserveRequestMethod: true}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
"#;

fn auth_pair(web_extra: &str) -> (Pair, Scripted) {
    let auth = Scripted::start(auth_answer, Record::All);
    let config = AUTH
        .replace("{auth}", &auth.url)
        .replace("{closed}", &free_port().to_string());
    (Pair::start(&config, web_extra), auth)
}

fn with_answer<'a>(answer: &'a str, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("X-Auth-Answer", answer)];
    headers.extend_from_slice(more);
    headers
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn forward_auth_allows_denies_and_redirects_like_traefik() {
    let (pair, auth) = auth_pair("");
    let spoofing = [
        ("X-Auth-User", "mallory"),
        ("X-Auth-Extra-Old", "1"),
        ("X-Forwarded-Host", "spoofed"),
        ("X-Forwarded-Uri", "/spoofed"),
        ("X-Forwarded-Method", "PUT"),
        ("User-Agent", "probe/1"),
        ("Proxy-Authorization", "Basic eA=="),
    ];
    assert_same_with(
        &pair,
        &auth,
        &[
            get("/auth/a?q=1", "x", &[]),
            get("/auth/b", "app.example:8080", &spoofing),
            get(
                "/auth/c",
                "x",
                &with_answer("deny", &[("Authorization", "Basic eA==")]),
            ),
            get("/auth/d", "x", &with_answer("redirect", &[])),
            get("/auth/e", "x", &with_answer("redirect-relative", &[])),
            get("/auth/f", "x", &with_answer("redirect-absolute", &[])),
            get("/auth/g", "x", &with_answer("forbidden", &[])),
            get("/auth/i", "x", &with_answer("bare", &[])),
            get("/auth/j", "x", &with_answer("bare-text", &[])),
            request("POST", "/auth/h", "x", &[], b"body"),
            get("/trusted/a", "x", &spoofing),
            get(
                "/filtered/a",
                "x",
                &[("Authorization", "Bearer t"), ("Cookie", "c=1")],
            ),
            get(
                "/filtered/b",
                "x",
                &with_answer("deny", &[("User-Agent", "probe/1")]),
            ),
            get("/cookies/a", "x", &[]),
            get("/cookies/b", "x", &with_answer("deny", &[])),
            request(
                "DELETE",
                "/preserve/a",
                "x",
                &with_answer("redirect-relative", &[]),
                b"",
            ),
            request(
                "POST",
                "/preserve/b",
                "x",
                &with_answer("redirect", &[]),
                b"xyz",
            ),
            get("/down/a", "x", &[]),
            get("/chained/x/y?z=1", "x", &[]),
        ],
    );
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn forward_auth_forwards_bodies_like_traefik() {
    let (pair, auth) = auth_pair("");
    assert_same_with(
        &pair,
        &auth,
        &[
            request("POST", "/body/a", "x", &[], b"hello"),
            request("POST", "/body/b", "x", &[], b"eight..."),
            request("POST", "/body/c", "x", &[], b"nine....."),
            get("/body/d", "x", &[]),
            request("PUT", "/body/e", "x", &with_answer("deny", &[]), b"payload"),
            request("POST", "/body-any/a", "x", &[], b"any size of body"),
            request(
                "PATCH",
                "/body-any/b",
                "x",
                &with_answer("redirect", &[]),
                b"x",
            ),
            request("POST", "/body-any/c", "x", &with_answer("deny", &[]), b""),
            request("DELETE", "/body-any/d", "x", &[], b""),
        ],
    );
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn forward_auth_trusts_forwarded_headers_like_traefik() {
    let (pair, auth) = auth_pair("forwardedHeaders:\n  insecure: true");
    let forwarded = [
        ("X-Forwarded-Host", "front.example"),
        ("X-Forwarded-Uri", "/original?x=1"),
        ("X-Forwarded-Method", "PATCH"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "8443"),
        ("X-Forwarded-For", "203.0.113.9, 198.51.100.2"),
    ];
    assert_same_with(
        &pair,
        &auth,
        &[
            get("/trusted/a", "x", &forwarded),
            get("/auth/a", "x", &forwarded),
            get("/trusted/b", "x", &[]),
        ],
    );
}

const ERRORS: &str = r#"http:
  routers:
    errors: {rule: "PathPrefix(`/e`)", service: app, middlewares: [errors]}
    rewrite: {rule: "PathPrefix(`/r`)", service: app, middlewares: [errors-rewrite]}
    plain: {rule: "PathPrefix(`/p`)", service: app, middlewares: [errors-plain]}
    down: {rule: "PathPrefix(`/down`)", service: dead, middlewares: [errors]}
    none: {rule: "PathPrefix(`/none`)", service: app, middlewares: [errors-nowhere]}
    denied: {rule: "PathPrefix(`/denied`)", service: app, middlewares: [errors-rewrite, auth]}
    cookies: {rule: "PathPrefix(`/cookie`)", service: app, middlewares: [auth-cookies]}
  middlewares:
    errors: {errors: {status: ["500-599", "404"], service: pages, query: "/page/{status}?from={url}&was={originalStatus}"}}
    errors-rewrite:
      errors:
        status: ["400-499"]
        statusRewrites: {"404": 410, "418-419": 400}
        service: pages
        query: "{status}.html"
    errors-plain: {errors: {status: ["503"], service: pages}}
    errors-nowhere: {errors: {status: ["500"], service: empty, query: "/x"}}
    auth: {forwardAuth: {address: "{auth}/verify"}}
    auth-cookies: {forwardAuth: {address: "{auth}/verify", addAuthCookiesToResponse: [auth-session]}}
  services:
    app: {loadBalancer: {servers: [{url: "{app}"}]}}
    pages: {loadBalancer: {servers: [{url: "{backend}"}]}}
    dead: {loadBalancer: {servers: [{url: "http://127.0.0.1:{closed}"}]}}
    empty: {loadBalancer: {servers: []}}
"#;

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn errors_serve_pages_like_traefik() {
    let app = Scripted::start(app_answer, Record::ProxiedRequests);
    let auth = Scripted::start(auth_answer, Record::All);
    let config = ERRORS
        .replace("{app}", &app.url)
        .replace("{auth}", &auth.url)
        .replace("{closed}", &free_port().to_string());
    let pair = Pair::start(&config, "");
    assert_same_with(
        &pair,
        &app,
        &[
            get("/e/500", "x", &[]),
            get("/e/404?q=a%20b", "site.example", &[("Accept", "text/html")]),
            get("/e/200", "x", &[]),
            get("/e/403", "x", &[]),
            request("HEAD", "/e/500", "x", &[], b""),
            get("/e/empty/500", "x", &[]),
            request(
                "POST",
                "/e/503",
                "x",
                &[("Content-Type", "text/plain")],
                b"data",
            ),
            get("/r/404", "x", &[]),
            get("/r/418", "x", &[]),
            get("/r/401", "x", &[]),
            get("/r/500", "x", &[]),
            get("/p/503", "x", &[]),
            get("/down/a", "x", &[]),
            get("/none/500", "x", &[]),
            get("/denied/200", "x", &[("X-Auth-Answer", "deny")]),
            get("/denied/200", "x", &[]),
            get("/cookie/200", "x", &[]),
            get("/cookie/500", "x", &[("X-Auth-Answer", "deny")]),
        ],
    );
}
