//! Parity of the body middlewares: compress (each encoding, q-values, small bodies, type
//! lists, HEAD, statuses without a body) and buffering (413s for bodies over the limits),
//! against a backend that answers the bodies and types a probe asks for.

use crate::harness::{get, request, Pair, Probe};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// A backend answering `/<anything>?size=N&type=T&status=S&encoding=E&framing=chunked`:
/// N bytes of text, with that `Content-Type` (none when `type` is absent), status,
/// `Content-Encoding` and framing (a `Content-Length` unless chunked).
struct BodyBackend {
    port: u16,
}

impl BodyBackend {
    fn start() -> BodyBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the body backend");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        BodyBackend { port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("/").to_string();
        let head_request = line.starts_with("HEAD ");
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.replace("%2F", "/").replace("%20", " "))
        };
        let size: usize = param("size").and_then(|s| s.parse().ok()).unwrap_or(0);
        let status = param("status").unwrap_or_else(|| "200".into());
        let text = text(size);
        let reason = match status.as_str() {
            "204" => "No Content",
            "206" => "Partial Content",
            "304" => "Not Modified",
            "404" => "Not Found",
            _ => "OK",
        };
        let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
        if let Some(kind) = param("type") {
            head.push_str(&format!("Content-Type: {kind}\r\n"));
        }
        if let Some(encoding) = param("encoding") {
            head.push_str(&format!("Content-Encoding: {encoding}\r\n"));
        }
        if status == "206" {
            head.push_str(&format!(
                "Content-Range: bytes 0-{}/99999\r\n",
                size.max(1) - 1
            ));
        }
        let no_body = head_request || status == "204" || status == "304";
        let chunked = param("framing").as_deref() == Some("chunked");
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else if status != "204" && status != "304" {
            head.push_str(&format!("Content-Length: {size}\r\n\r\n"));
        } else {
            head.push_str("\r\n");
        }
        let mut out = head.into_bytes();
        if !no_body {
            if chunked {
                for piece in text.chunks(1000) {
                    out.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else {
                out.extend_from_slice(&text);
            }
        }
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// `size` bytes of hexadecimal text from a fixed pseudo-random sequence: it compresses to
/// about half, so that compressed bodies are over Go's 2048-byte chunking buffer (a smaller
/// one gets a `Content-Length` from Go's server, see the module's notes).
fn text(size: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..size)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b"0123456789abcdef"[(state >> 16) as usize % 16]
        })
        .collect()
}

/// Routes `/<name>/...` through middleware `<name>` to the body backend, and `/echo` through
/// `limited` to the recording backend.
fn config(files: &BodyBackend) -> String {
    r#"http:
  routers:
    default: {rule: "PathPrefix(`/default`)", service: files, middlewares: [default]}
    ordered: {rule: "PathPrefix(`/ordered`)", service: files, middlewares: [ordered]}
    excluding: {rule: "PathPrefix(`/excluding`)", service: files, middlewares: [excluding]}
    buffered: {rule: "PathPrefix(`/buffered`)", service: files, middlewares: [limited]}
    echo: {rule: "PathPrefix(`/echo`)", service: backend, middlewares: [limited]}
  middlewares:
    default: {compress: {}}
    ordered:
      compress:
        encodings: [zstd, br, gzip]
        defaultEncoding: br
        minResponseBodyBytes: 100
        includedContentTypes: [application/json, text/plain; charset=utf-8]
    excluding: {compress: {excludedContentTypes: [text/event-stream, image/png]}}
    limited: {buffering: {maxRequestBodyBytes: 100, maxResponseBodyBytes: 3000}}
  services:
    backend: {loadBalancer: {servers: [{url: "{backend}"}]}}
    files: {loadBalancer: {servers: [{url: "{files}"}]}}
"#
    .replace("{files}", &files.url())
}

/// Asserts that both answer alike but for one known difference: a compressed body that
/// ends within Go's 2048-byte chunking buffer gets a `Content-Length` from Go's server (the
/// handler finished before anything was flushed), while the gateway, whose response head
/// leaves before the body is compressed, sends it chunked.
fn assert_same_but_small_compressed_framing(pair: &Pair, probes: &[Probe]) {
    let mut differences = Vec::new();
    for probe in probes {
        let mut expected = pair.exchange(pair.traefik(), probe);
        let actual = pair.exchange(pair.gateway(), probe);
        let compressed = expected
            .headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-encoding:"));
        if compressed
            && actual
                .headers
                .iter()
                .any(|h| h == "Transfer-Encoding: chunked")
        {
            if let Some(length) = expected
                .headers
                .iter()
                .position(|h| h.starts_with("Content-Length:"))
            {
                expected.headers[length] = "Transfer-Encoding: chunked".into();
                expected.headers.sort_unstable();
            }
        }
        if expected != actual {
            differences.push(format!(
                "{}\n  traefik: {expected:#?}\n  gateway: {actual:#?}",
                probe.label
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A chunked POST to `/echo` of these chunks.
fn chunked_post(chunks: &[&[u8]]) -> Probe {
    let mut bytes =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for chunk in chunks {
        bytes.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    Probe {
        label: format!("chunked POST /echo of {} chunks", chunks.len()),
        bytes,
    }
}

fn accept(target: &str, encoding: &str) -> Probe {
    get(target, "x", &[("Accept-Encoding", encoding)])
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn compress_negotiates_and_encodes_like_traefik() {
    let files = BodyBackend::start();
    let pair = Pair::start(&config(&files), "");
    let big = "/default/a?size=5000&type=text/plain";
    pair.assert_same(&[
        accept(big, "gzip"),
        accept(big, "br"),
        accept(big, "zstd"),
        accept(big, "gzip, br, zstd"),
        accept(big, "zstd, br"),
        accept(big, "gzip;q=0.5, br;q=0.8"),
        accept(big, "gzip;q=0.9, zstd;q=0.9"),
        accept(big, "br;q=0, zstd"),
        accept(big, "deflate"),
        accept(big, "*"),
        accept(big, "identity"),
        accept(big, ""),
        get(big, "x", &[]),
        accept(big, "br, gzip;q=0.4"),
        accept("/default/a?size=1023&type=text/plain", "gzip"),
        accept("/default/a?size=1023&type=text/plain", "br"),
        accept("/default/a?size=0&type=text/plain", "gzip"),
        accept("/default/a?size=5000&type=application/grpc", "gzip"),
        accept(
            "/default/a?size=5000&type=text/plain&encoding=deflate",
            "br",
        ),
        accept("/default/a?size=5000&type=text/plain&status=404", "gzip"),
        accept("/default/a?size=0&status=204", "gzip"),
        accept("/default/a?size=0&status=304", "zstd"),
        accept("/default/a?size=5000&type=text/plain&status=206", "gzip"),
        accept("/default/a?size=5000&type=text/plain&status=206", "br"),
        accept(
            "/default/a?size=5000&type=text/plain&framing=chunked",
            "gzip",
        ),
        request("HEAD", big, "x", &[("Accept-Encoding", "gzip")], b""),
        get(
            big,
            "x",
            &[
                ("Accept-Encoding", "gzip"),
                ("Content-Type", "application/grpc"),
            ],
        ),
    ]);
    assert_same_but_small_compressed_framing(
        &pair,
        &[
            accept("/default/a?size=1024&type=text/plain", "gzip"),
            accept("/default/a?size=1024&type=text/plain", "br"),
            accept("/default/a?size=1024&type=text/plain", "zstd"),
        ],
    );
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn compress_options_apply_like_traefik() {
    let files = BodyBackend::start();
    let pair = Pair::start(&config(&files), "");
    assert_same_but_small_compressed_framing(
        &pair,
        &[
            accept(
                "/ordered/a?size=500&type=application/json",
                "gzip, br, zstd",
            ),
            accept("/ordered/a?size=500&type=application/json", "gzip, br"),
            accept("/ordered/a?size=500&type=application/json", "gzip"),
            accept("/ordered/a?size=500&type=application/json", "*"),
            get("/ordered/a?size=500&type=application/json", "x", &[]),
            accept("/ordered/a?size=99&type=application/json", "zstd"),
            accept("/ordered/a?size=100&type=application/json", "zstd"),
            accept("/ordered/a?size=500&type=text/html", "zstd"),
            accept("/ordered/a?size=500&type=text/plain", "br"),
            accept("/ordered/a?size=500&type=text/plain;%20charset=utf-8", "br"),
            accept(
                "/ordered/a?size=500&type=text/plain;%20charset=utf-8",
                "gzip",
            ),
            accept("/excluding/a?size=5000&type=text/event-stream", "gzip"),
            accept("/excluding/a?size=5000&type=image/png", "zstd"),
            accept("/excluding/a?size=5000&type=text/html", "br"),
        ],
    );
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn buffering_limits_bodies_like_traefik() {
    let files = BodyBackend::start();
    let pair = Pair::start(&config(&files), "");
    pair.assert_same(&[
        request("POST", "/echo", "x", &[], &[b'a'; 50]),
        request("POST", "/echo", "x", &[], &[b'a'; 100]),
        request("POST", "/echo", "x", &[], &[b'a'; 101]),
        request("POST", "/echo", "x", &[], &[b'a'; 5000]),
        get("/buffered/a?size=3000&type=text/plain", "x", &[]),
        get("/buffered/a?size=3001&type=text/plain", "x", &[]),
        get("/buffered/a?size=0&status=204", "x", &[]),
        request(
            "HEAD",
            "/buffered/a?size=5000&type=text/plain",
            "x",
            &[],
            b"",
        ),
        // Over the limit as it comes: 413 (Traefik reads it all before connecting; the
        // gateway has sent the head, not the body, and drops the upstream connection).
        chunked_post(&[&[b'a'; 60][..], &[b'b'; 60][..]]),
    ]);
}
