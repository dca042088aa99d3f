//! Answers the gateway writes itself, byte for byte as Traefik (Go's `net/http`) writes them.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

/// `404 page not found\n` (Go's `http.NotFound`), when no router matches.
pub const NOT_FOUND: &[u8] = b"404 page not found\n";
/// `no available server\n`, when a service has no server to send to (503).
pub const NO_AVAILABLE_SERVER: &[u8] = b"no available server\n";

/// Writes a complete `text/plain` answer; `nosniff` adds `X-Content-Type-Options: nosniff`
/// as Go's `http.Error` does.
pub async fn respond(
    session: &mut Session,
    status: u16,
    body: &'static [u8],
    nosniff: bool,
) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(4))?;
    header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    if nosniff {
        header.insert_header("X-Content-Type-Options", "nosniff")?;
    }
    write(session, header, Bytes::from_static(body)).await
}

/// Writes a complete answer with `header` (to which `Content-Length` is added) and `body`;
/// a HEAD request gets the header alone.
pub async fn write(session: &mut Session, mut header: ResponseHeader, body: Bytes) -> Result<()> {
    header.insert_header("Content-Length", body.len())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// The body Traefik sends for a failed forward: the status text (`Bad Gateway`).
pub fn status_text(status: u16) -> &'static [u8] {
    match status {
        499 => b"Client Closed Request",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        504 => b"Gateway Timeout",
        _ => b"Internal Server Error",
    }
}
