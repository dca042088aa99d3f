//! The lean HTTP/1 path's wire format: request-head parse (with a read of the view, as routing
//! does), upstream response-head parse and the chunked-body scan.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::http1::chunked::ChunkedScanner;
use gateway::http1::request::{HeadStatus, ParsedRequest};
use gateway::http1::response::{ParsedResponse, ResponseStatus};
use gateway::proxy::head::RequestHead;
use std::hint::black_box;

/// Traefik's default `http.maxHeaderBytes` (1 MiB).
const MAX_HEAD: usize = 1 << 20;

/// What curl or wrk sends to a one-route service.
const CURL_GET: &[u8] = b"GET /api/v1/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 4b1c2a7e-8f51-4d0c-9d0e-2f6a7c1b3e55\r\nConnection: keep-alive\r\n\r\n";

/// A browser's navigation-like request: about 15 headers, 800 bytes.
const BROWSER_GET: &[u8] = b"GET /shop/catalog/items?category=books&sort=price HTTP/1.1\r\n\
Host: www.example-shop.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example-shop.com/shop/catalog\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cookie: session=7f3a9c2e1b4d8f6a0c5e; cart=3; theme=dark; consent=analytics%3Dno\r\n\r\n";

/// A typical upstream answer.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 1234\r\nDate: Tue, 01 Dec 2026 21:00:00 GMT\r\nServer: backend/1.0\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\nX-Request-Id: 4b1c2a7e-8f51-4d0c-9d0e-2f6a7c1b3e55\r\n\r\n";

/// A 16 KiB body in 4 KiB chunks, with a trailer.
fn chunked_body() -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(b"1000\r\n");
        body.extend_from_slice(&[b'x'; 4096]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\nX-Checksum: 1\r\n\r\n");
    body
}

fn request_heads(c: &mut Criterion) {
    let mut group = c.benchmark_group("lean_parse/request");
    let mut parsed = ParsedRequest::new();
    for (name, head) in [("curl-get", CURL_GET), ("browser-get", BROWSER_GET)] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let head = black_box(head);
                assert_eq!(parsed.parse(head, MAX_HEAD), HeadStatus::Lean);
                let view = parsed.view(head);
                black_box((view.host(), view.path(), view.query()));
            })
        });
    }
    group.finish();
}

fn response_head(c: &mut Criterion) {
    let mut parsed = ParsedResponse::new();
    c.bench_function("lean_parse/response", |b| {
        b.iter(|| {
            assert_eq!(
                parsed.parse(black_box(RESPONSE), MAX_HEAD),
                ResponseStatus::Complete
            );
            black_box((parsed.body(false), parsed.server_keeps_alive()));
        })
    });
}

fn chunked_scan(c: &mut Criterion) {
    let body = chunked_body();
    let mut group = c.benchmark_group("lean_parse/chunked");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("16KiB-whole", |b| {
        b.iter(|| {
            let scanned = ChunkedScanner::new().scan(black_box(&body)).expect("valid");
            assert!(scanned.done && scanned.used == body.len());
        })
    });
    // As read from a socket in 1 500-byte pieces.
    group.bench_function("16KiB-in-1500B-reads", |b| {
        b.iter(|| {
            let mut scanner = ChunkedScanner::new();
            let mut done = false;
            for piece in black_box(&body).chunks(1500) {
                done = scanner.scan(piece).expect("valid").done;
            }
            assert!(done);
        })
    });
    group.finish();
}

criterion_group!(benches, request_heads, response_head, chunked_scan);
criterion_main!(benches);
