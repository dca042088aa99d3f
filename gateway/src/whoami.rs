//! A built-in `whoami`-style echo backend (like traefik/whoami), for the default config,
//! tests and benchmarks.
//!
//! Paths: `/bench` answers `1`; `/api` the request as JSON; `/data?size=N` N bytes; `/health`
//! `OK`; `POST /echo` the request body; anything else the request as text. On every path
//! `?wait=100ms` delays the answer and `?status=418` sets the status.

use async_trait::async_trait;
use control::duration::GoDuration;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::fmt::Write as _;
use std::time::Duration;

/// Largest `/data` answer, to keep a typo from exhausting memory.
const MAX_DATA_BYTES: usize = 64 * 1024 * 1024;

/// The echo application.
#[derive(Debug, Clone)]
pub struct Whoami {
    name: Option<String>,
    hostname: String,
}

impl Whoami {
    /// An echo backend that reports `name` (when set) on every answer.
    pub fn new(name: Option<String>) -> Self {
        Self {
            name,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        }
    }

    fn describe(&self, session: &ServerSession) -> String {
        let req = session.req_header();
        let mut text = String::with_capacity(512);
        if let Some(name) = &self.name {
            let _ = writeln!(text, "Name: {name}");
        }
        let _ = writeln!(text, "Hostname: {}", self.hostname);
        if let Some(local) = session.server_addr().and_then(|a| a.as_inet()) {
            let _ = writeln!(text, "IP: {}", local.ip());
        }
        if let Some(remote) = session.client_addr() {
            let _ = writeln!(text, "RemoteAddr: {remote}");
        }
        let _ = writeln!(text, "{} {} {:?}", req.method, req.uri, req.version);
        for (name, value) in req.headers.iter() {
            let _ = writeln!(
                text,
                "{}: {}",
                title_case(name.as_str()),
                String::from_utf8_lossy(value.as_bytes())
            );
        }
        text
    }

    fn describe_json(&self, session: &ServerSession) -> String {
        let req = session.req_header();
        let mut headers = serde_json::Map::new();
        for (name, value) in req.headers.iter() {
            let entry = headers
                .entry(title_case(name.as_str()))
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(values) = entry {
                values.push(
                    String::from_utf8_lossy(value.as_bytes())
                        .into_owned()
                        .into(),
                );
            }
        }
        serde_json::json!({
            "name": self.name,
            "hostname": self.hostname,
            "remoteAddr": session.client_addr().map(|a| a.to_string()),
            "method": req.method.as_str(),
            "url": req.uri.to_string(),
            "host": req.headers.get("host").and_then(|h| h.to_str().ok()),
            "headers": headers,
        })
        .to_string()
    }
}

/// `x-forwarded-for` -> `X-Forwarded-For`, as Go prints header names.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

async fn read_body(session: &mut ServerSession) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = session.read_request_body().await {
        body.extend_from_slice(&chunk);
    }
    body
}

#[async_trait]
impl ServeHttp for Whoami {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let query = session.req_header().uri.query().unwrap_or("").to_string();
        let body = read_body(session).await;
        if let Some(wait) = query_value(&query, "wait").and_then(|w| w.parse::<GoDuration>().ok()) {
            tokio::time::sleep(wait.to_std().min(Duration::from_secs(60))).await;
        }
        let status = query_value(&query, "status")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let (content_type, payload) = match path.as_str() {
            "/bench" => ("text/plain", b"1".to_vec()),
            "/health" => ("text/plain", b"OK".to_vec()),
            "/api" => ("application/json", self.describe_json(session).into_bytes()),
            "/echo" => ("application/octet-stream", body),
            "/data" => {
                let size = query_value(&query, "size")
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(1)
                    .min(MAX_DATA_BYTES);
                ("application/octet-stream", vec![b'|'; size])
            }
            _ => (
                "text/plain; charset=utf-8",
                self.describe(session).into_bytes(),
            ),
        };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-length", payload.len())
            .body(payload)
            .expect("static header names and values are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_print_like_go() {
        assert_eq!(title_case("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(title_case("host"), "Host");
    }

    #[test]
    fn query_values() {
        assert_eq!(query_value("a=1&wait=10ms", "wait"), Some("10ms"));
        assert_eq!(query_value("flag&a=1", "flag"), Some(""));
        assert_eq!(query_value("a=1", "b"), None);
    }
}
