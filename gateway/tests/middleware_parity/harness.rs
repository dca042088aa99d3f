//! The middleware parity harness: one dynamic configuration served by a real Traefik and by the
//! gateway in front of one raw recording backend, the same raw requests sent to both, and
//! everything compared: status line, the response headers the client sees, the body (decoded
//! when compressed), and the request the backend received (request line, headers, body).

use crate::support::traefik::{start_traefik_with, traefik_binary, Traefik};
use crate::support::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use testkit::RecordingBackend;

/// The path every configuration also routes to the backend, to know a proxy is ready.
const READY_PATH: &str = "/__parity_ready";

/// Response headers left out of the comparison: they differ by nature.
const IGNORED_RESPONSE_HEADERS: [&str; 1] = ["date"];

/// One raw request (as bytes on the wire), named for the report.
pub struct Probe {
    /// Shown when the answers differ.
    pub label: String,
    /// The request bytes.
    pub bytes: Vec<u8>,
}

/// A GET of `target` with `Host: host` and these extra header lines.
pub fn get(target: &str, host: &str, headers: &[(&str, &str)]) -> Probe {
    request("GET", target, host, headers, b"")
}

/// A request with a body (a `Content-Length` is added when the body is not empty).
pub fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Probe {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"Connection: close\r\n\r\n");
    bytes.extend_from_slice(body);
    Probe {
        label: format!("{method} {target} {headers:?}"),
        bytes,
    }
}

/// What is compared of one exchange.
#[derive(Debug, PartialEq)]
pub struct Exchange {
    /// `HTTP/1.1 401 Unauthorized`.
    pub status_line: String,
    /// `Name: value` lines as sent, sorted, without `Date`.
    pub headers: Vec<String>,
    /// The body, decoded when `Content-Encoding` is gzip, br or zstd; the backend's echo of
    /// the request is not repeated here (see `upstream`).
    pub body: String,
    /// The request the backend received (request line, sorted header lines, body), if any.
    pub upstream: Option<String>,
}

/// A Traefik and a gateway serving the same configuration, and their backend.
pub struct Pair {
    traefik: Traefik,
    gateway: Gateway,
    /// The recording backend `{backend}` in the configuration stands for.
    pub backend: RecordingBackend,
}

impl Pair {
    /// Starts both proxies with `dynamic` (YAML; `{backend}` is replaced by the recording
    /// backend's URL) and `web_extra` (YAML under the `web` entrypoint, not indented, e.g.
    /// `"http:\n  middlewares: [x@file]"`).
    pub fn start(dynamic: &str, web_extra: &str) -> Pair {
        let backend = RecordingBackend::start();
        let dynamic = with_ready_router(
            &dynamic.replace("{backend}", &backend.url()),
            &backend.url(),
        );
        let traefik_extra: String = web_extra
            .lines()
            .map(|line| format!("    {line}\n"))
            .collect();
        let traefik = start_traefik_with(&traefik_binary(), &dynamic, &traefik_extra, READY_PATH);
        let gateway = Gateway::builder()
            .entry_point("web", web_extra)
            .dynamic(&dynamic)
            .start();
        assert!(
            wait_until(START_TIMEOUT, || try_request(
                gateway.web(),
                "GET",
                READY_PATH,
                &[]
            )
            .is_ok_and(|r| r.status == 200)),
            "the gateway did not apply the configuration: {}",
            gateway.stderr()
        );
        Pair {
            traefik,
            gateway,
            backend,
        }
    }

    /// Traefik's `web` address.
    pub fn traefik(&self) -> SocketAddr {
        local(self.traefik.port)
    }

    /// The gateway's `web` address.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway.web()
    }

    /// Sends `probe` to `addr` and records what came back and what the backend received.
    pub fn exchange(&self, addr: SocketAddr, probe: &Probe) -> Exchange {
        let before = self.backend.requests().len();
        let raw = send(addr, &probe.bytes);
        // The backend records a request before it answers it.
        let upstream = (self.backend.requests().len() > before)
            .then(|| self.backend.requests().pop())
            .flatten()
            .map(|bytes| describe_request(&bytes));
        parse_exchange(&raw, upstream)
    }

    /// Sends every probe to both proxies; returns a report of each difference.
    pub fn differences(&self, probes: &[Probe]) -> Vec<String> {
        self.differences_masked(probes, |_| {})
    }

    /// As [`Pair::differences`], each exchange first passed through `mask` (to blank what
    /// differs by nature, such as a nonce).
    pub fn differences_masked(
        &self,
        probes: &[Probe],
        mask: impl Fn(&mut Exchange),
    ) -> Vec<String> {
        let mut differences = Vec::new();
        for probe in probes {
            let mut expected = self.exchange(self.traefik(), probe);
            let mut actual = self.exchange(self.gateway(), probe);
            mask(&mut expected);
            mask(&mut actual);
            if expected != actual {
                differences.push(format!(
                    "{}\n  traefik: {expected:#?}\n  gateway: {actual:#?}",
                    probe.label
                ));
            }
        }
        differences
    }

    /// Asserts that every probe is answered alike by both.
    pub fn assert_same(&self, probes: &[Probe]) {
        let differences = self.differences(probes);
        self.assert_no_differences(probes, differences);
    }

    /// Asserts that every probe is answered alike by both once `mask` has run on each answer.
    pub fn assert_same_masked(&self, probes: &[Probe], mask: impl Fn(&mut Exchange)) {
        let differences = self.differences_masked(probes, mask);
        self.assert_no_differences(probes, differences);
    }

    /// [`assert_same`](Self::assert_same) with the values of the `masked` response headers
    /// left out (both must send them or neither): values that depend on the moment (a wait).
    pub fn assert_same_masking(&self, probes: &[Probe], masked: &[&str]) {
        self.assert_same_masked(probes, |exchange| {
            for line in &mut exchange.headers {
                let name = line.split(':').next().unwrap_or_default().to_string();
                if masked.iter().any(|m| m.eq_ignore_ascii_case(&name)) {
                    *line = format!("{name}: <masked>");
                }
            }
        });
    }

    fn assert_no_differences(&self, probes: &[Probe], differences: Vec<String>) {
        assert!(
            differences.is_empty(),
            "{} of {} requests answered differently:\n{}\n(gateway log:\n{})",
            differences.len(),
            probes.len(),
            differences.join("\n"),
            self.gateway.stderr()
        );
    }
}

/// Adds the readiness router (`READY_PATH` to the backend) to a configuration, which must
/// have an `http:` section with `  routers:` (and may have `  services:`), in block style.
fn with_ready_router(dynamic: &str, backend: &str) -> String {
    let router =
        format!("    parity-ready: {{rule: \"Path(`{READY_PATH}`)\", service: parity-backend}}\n");
    let service =
        format!("    parity-backend: {{loadBalancer: {{servers: [{{url: \"{backend}\"}}]}}}}\n");
    let mut yaml = dynamic.to_string();
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    let routers = yaml
        .find("\n  routers:\n")
        .expect("a parity configuration has an http.routers section in block style");
    yaml.insert_str(routers + "\n  routers:\n".len(), &router);
    match yaml.find("\n  services:\n") {
        Some(services) => yaml.insert_str(services + "\n  services:\n".len(), &service),
        None => {
            let http = yaml.find("http:\n").expect("an http section");
            yaml.insert_str(http + "http:\n".len(), &format!("  services:\n{service}"));
        }
    }
    yaml
}

/// Sends raw bytes and reads until the server closes (every probe asks for `close`).
fn send(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(bytes).expect("send the probe");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    std::thread::sleep(Duration::from_millis(5));
    raw
}

/// The request line, sorted header lines and body of a recorded request. Go's transport adds
/// `Accept-Encoding: gzip` to requests without one (and undoes it on the answer): left out.
fn describe_request(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<&str> = lines
        .filter(|l| !l.eq_ignore_ascii_case("accept-encoding: gzip"))
        .collect();
    headers.sort_unstable();
    format!("{request_line}\n{}\n\n{body}", headers.join("\n"))
}

fn parse_exchange(raw: &[u8], upstream: Option<String>) -> Exchange {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = raw.get(split + 4..).unwrap_or_default();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<String> = lines
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
            !IGNORED_RESPONSE_HEADERS.contains(&name.as_str())
        })
        .map(str::to_string)
        .collect();
    headers.sort_unstable();
    let header = |name: &str| {
        headers.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    let body = decode(&body, header("content-encoding").as_deref());
    // The backend echoes the request it got, which from Traefik has the `Accept-Encoding`
    // Go's transport adds: the echo is compared as `upstream`, without its length.
    let body = if upstream.is_some() {
        headers.retain(|l| !l.to_ascii_lowercase().starts_with("content-length:"));
        String::new()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    Exchange {
        status_line,
        headers,
        body,
        upstream,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return body;
        };
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// Decodes a compressed body for comparison (`compress` may pick different byte streams); a
/// body that does not decode is compared as it came.
fn decode(body: &[u8], encoding: Option<&str>) -> Vec<u8> {
    let mut decoded = Vec::new();
    let ok = match encoding {
        Some("gzip") => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut decoded)
            .is_ok(),
        Some("br") => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut decoded)
            .is_ok(),
        Some("zstd") => zstd::stream::read::Decoder::new(body)
            .and_then(|mut d| d.read_to_end(&mut decoded))
            .is_ok(),
        _ => false,
    };
    if ok {
        decoded
    } else {
        body.to_vec()
    }
}
