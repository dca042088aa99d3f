//! A raw recording backend: answers every request with the exact bytes it received for it, and
//! keeps every connection's bytes, so tests assert what went over the wire, not a re-printing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the backend received, per connection (in accept order) and per framed request.
#[derive(Debug, Default)]
struct Recorded {
    /// Every byte read on each connection.
    connections: Vec<Vec<u8>>,
    /// Each request's bytes (head and body) as framed by its own Content-Length or chunked
    /// encoding; bytes past one request's frame start the next.
    requests: Vec<Vec<u8>>,
}

/// A backend on 127.0.0.1 that replies `200 OK` with, as the body, the bytes of the request it
/// just read, byte for byte. It frames requests only to know where one ends (Content-Length,
/// `Transfer-Encoding: chunked`, else no body); it never parses them into fields. Stopped on drop.
pub struct RecordingBackend {
    address: SocketAddr,
    recorded: Arc<Mutex<Recorded>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl RecordingBackend {
    /// Starts the backend on a free loopback port.
    pub fn start() -> RecordingBackend {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("local address");
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (recorded, stop) = (recorded.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(listener, recorded, stop))
        };
        RecordingBackend {
            address,
            recorded,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The backend's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every framed request received so far, in order, as raw bytes.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.lock().requests.clone()
    }

    /// Every byte received so far on each connection, in accept order.
    pub fn connections(&self) -> Vec<Vec<u8>> {
        self.lock().connections.clone()
    }

    /// The requests received so far, as text (lossy), for assertions and failure messages.
    pub fn requests_text(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for RecordingBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, recorded: Arc<Mutex<Recorded>>, stop: Arc<AtomicBool>) {
    let mut connections = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let index = {
                    let mut recorded = recorded.lock().unwrap_or_else(|e| e.into_inner());
                    recorded.connections.push(Vec::new());
                    recorded.connections.len() - 1
                };
                let (recorded, stop) = (recorded.clone(), stop.clone());
                connections.push(std::thread::spawn(move || {
                    serve(stream, index, &recorded, &stop)
                }));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Reads requests off one connection and answers each with its own bytes.
fn serve(mut stream: TcpStream, index: usize, recorded: &Mutex<Recorded>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        while let Some(length) = frame_length(&pending) {
            let request: Vec<u8> = pending.drain(..length).collect();
            recorded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .requests
                .push(request.clone());
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                request.len()
            );
            if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&request).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                pending.extend_from_slice(&chunk[..n]);
                recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .connections[index]
                    .extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// The length of the complete request at the start of `bytes`, once all of it has arrived.
fn frame_length(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let field = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_string())
    };
    if field("transfer-encoding").is_some_and(|te| te.ends_with("chunked")) {
        return chunked_end(bytes, head_end);
    }
    let length: usize = field("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

/// Where a chunked body that starts at `start` ends (after its last chunk and trailers).
fn chunked_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&bytes[at..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, each ending in CRLF, then an empty line.
            loop {
                let end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if at > bytes.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_by_length_chunks_or_nothing() {
        assert_eq!(
            frame_length(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET"),
            Some(27)
        );
        assert_eq!(
            frame_length(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET"),
            Some(41)
        );
        assert_eq!(
            frame_length(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"),
            None
        );
        let chunked =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT";
        assert_eq!(frame_length(chunked), Some(chunked.len() - 4));
        assert_eq!(frame_length(&chunked[..chunked.len() - 6]), None);
    }

    #[test]
    fn answers_with_the_bytes_received() {
        let backend = RecordingBackend::start();
        let mut stream = TcpStream::connect(backend.address()).unwrap();
        let request = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
        stream.write_all(request).unwrap();
        let mut answer = vec![0u8; 1024];
        let mut read = 0;
        while !answer[..read].ends_with(b"hi") {
            read += stream.read(&mut answer[read..]).unwrap();
        }
        assert!(answer[..read].ends_with(request));
        assert_eq!(backend.requests(), [request.to_vec()]);
    }
}
