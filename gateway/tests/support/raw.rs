//! Raw TCP clients for the deadline tests: bytes dribbled on a schedule, and everything a
//! connection receives until it ends, with when and how it ended.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How a connection's input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer closed its side (FIN): `read` returned 0.
    Closed,
    /// The peer reset the connection (RST).
    Reset,
    /// Nothing ended it within the time the reader waited.
    StillOpen,
}

impl Ending {
    /// Closed by the peer, with a FIN or a reset.
    pub fn is_closed(self) -> bool {
        self != Ending::StillOpen
    }
}

/// What a connection received until it ended, times measured from a caller-chosen start.
#[derive(Debug, Clone)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub ending: Ending,
    /// When the first byte arrived.
    pub first_byte: Option<Duration>,
    /// When the input ended (or the reader gave up).
    pub ended: Duration,
}

impl Received {
    /// The bytes, as text (lossy), for assertions and failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A loopback connection with Nagle off, so each dribbled byte leaves at once.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
        .set_write_timeout(Some(super::IO_TIMEOUT))
        .expect("write timeout");
    stream
}

/// Reads everything until the peer closes or resets, or until `limit` after `start` has passed.
pub fn read_until_end(
    reader: &mut BufReader<TcpStream>,
    start: Instant,
    limit: Duration,
) -> Received {
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut chunk = [0u8; 64 * 1024];
    let ending = loop {
        let remaining = limit.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            break Ending::StillOpen;
        }
        reader
            .get_ref()
            .set_read_timeout(Some(remaining))
            .expect("read timeout");
        match reader.read(&mut chunk) {
            Ok(0) => break Ending::Closed,
            Ok(n) => {
                first_byte.get_or_insert_with(|| start.elapsed());
                bytes.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break Ending::StillOpen;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break Ending::Reset,
        }
    };
    Received {
        bytes,
        ending,
        first_byte,
        ended: start.elapsed(),
    }
}

/// Reads `stream` on another thread until it ends (see [`read_until_end`]).
pub fn spawn_reader(
    stream: &TcpStream,
    start: Instant,
    limit: Duration,
) -> std::thread::JoinHandle<Received> {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    std::thread::spawn(move || read_until_end(&mut reader, start, limit))
}

/// Writes `bytes` one at a time, `every` apart; returns how many were written before a write
/// failed (the peer closed) or all of them.
pub fn dribble(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> usize {
    for (sent, byte) in bytes.iter().enumerate() {
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            return sent;
        }
        std::thread::sleep(every);
    }
    bytes.len()
}

/// A keep-alive request head with `Host: deadlines.test`.
pub fn get_head(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: deadlines.test\r\n\r\n").into_bytes()
}

/// Sends one keep-alive request and reads its answer.
pub fn exchange(reader: &mut BufReader<TcpStream>, request: &[u8]) -> super::Response {
    reader
        .get_ref()
        .set_read_timeout(Some(super::IO_TIMEOUT))
        .expect("read timeout");
    reader.get_mut().write_all(request).expect("send request");
    super::read_response(reader, request.starts_with(b"HEAD "))
        .unwrap_or_else(|e| panic!("no answer to {:?}: {e}", String::from_utf8_lossy(request)))
}
