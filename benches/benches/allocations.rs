//! Heap allocations per proxied request: the gateway in-process behind a counting allocator, loaded by an allocation-free client and backend.
//!
//! `cargo bench -p benches --bench allocations` starts a raw loopback backend and the gateway
//! (one router `PathPrefix(/)` to that backend) in this process, warms up, then counts every
//! allocation the process makes over a fixed number of requests, on one keep-alive connection
//! and with a new connection per request. The client and the backend allocate nothing once
//! started (their threads' allocations are counted apart and must stay 0), so every counted
//! allocation is the gateway's (tokio and Pingora included).
//! `GATEWAY_HTTP1_PATH=pingora` in the environment forces Pingora's HTTP/1 path.

use control::decode::from_yaml_str;
use control::dynamic_decode::decode_dynamic;
use control::static_config::StaticConfig;
use gateway::server::{self, DynamicSource, GatewayOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Requests on one keep-alive connection before anything is counted.
const WARM_UP_REQUESTS: u32 = 2_000;
/// Counted requests on one keep-alive connection.
const KEEP_ALIVE_REQUESTS: u32 = 20_000;
/// `Connection: close` requests (a new connection each) before counting them.
const CLOSE_WARM_UP_REQUESTS: u32 = 200;
/// Counted `Connection: close` requests.
const CLOSE_REQUESTS: u32 = 2_000;
/// Backend threads, each serving one upstream connection at a time: more than the gateway
/// keeps open to one server under a single sequential client.
const BACKEND_THREADS: usize = 32;
/// The backend's one answer.
const BACKEND_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
/// How long any read may wait before the run fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for one request or response head and body: the exchanges here are far smaller.
const BUFFER_BYTES: usize = 16 * 1024;

/// The System allocator, counting calls and bytes.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static REALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Allocations made on the client's and the backend's threads: must stay 0 while counting.
static HARNESS_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Upper bounds (bytes) of the size classes allocations are also counted in; the last class
/// holds everything larger.
const SIZE_CLASSES: [u64; 6] = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024];
/// Allocations (new blocks and reallocations, by their new size) per size class.
static BY_SIZE: [AtomicU64; SIZE_CLASSES.len() + 1] =
    [const { AtomicU64::new(0) }; SIZE_CLASSES.len() + 1];

/// Upstream connections the backend has accepted.
static UPSTREAM_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread is the client's or a backend's (constant-initialised: reading it
    /// never allocates, so the allocator may).
    static HARNESS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation call of `size` new bytes into a block of `block` bytes, on the
/// harness's counter when a harness thread makes it.
fn count(counter: &AtomicU64, size: u64, block: u64) {
    if HARNESS_THREAD.with(Cell::get) {
        HARNESS_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    } else {
        counter.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size, Ordering::Relaxed);
        let class = SIZE_CLASSES.partition_point(|&bound| bound < block);
        BY_SIZE[class].fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(&ALLOCATIONS, layout.size() as u64, layout.size() as u64);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(&ALLOCATIONS, layout.size() as u64, layout.size() as u64);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grown = new_size.saturating_sub(layout.size()) as u64;
        count(&REALLOCATIONS, grown, new_size as u64);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The counters at one moment.
#[derive(Clone, Copy)]
struct Counts {
    allocations: u64,
    reallocations: u64,
    bytes: u64,
    harness: u64,
    upstream_connections: u64,
    by_size: [u64; SIZE_CLASSES.len() + 1],
}

impl Counts {
    fn now() -> Self {
        Counts {
            allocations: ALLOCATIONS.load(Ordering::Relaxed),
            reallocations: REALLOCATIONS.load(Ordering::Relaxed),
            bytes: BYTES.load(Ordering::Relaxed),
            harness: HARNESS_ALLOCATIONS.load(Ordering::Relaxed),
            upstream_connections: UPSTREAM_CONNECTIONS.load(Ordering::Relaxed),
            by_size: std::array::from_fn(|class| BY_SIZE[class].load(Ordering::Relaxed)),
        }
    }
}

/// Prints what `requests` requests cost between `before` and now.
fn report(label: &str, requests: u32, before: Counts, started: Instant) {
    let after = Counts::now();
    let elapsed = started.elapsed();
    assert_eq!(
        after.harness, before.harness,
        "{label}: the client or the backend allocated while counting: the count is not the gateway's alone"
    );
    let per_request = |n: u64| n as f64 / f64::from(requests);
    println!(
        "{label}: {requests} requests: {:.2} allocations/request ({:.2} new blocks + {:.2} reallocations), \
         {:.0} bytes/request, {:.1} µs/request, {} upstream connections opened",
        per_request(
            after.allocations - before.allocations + after.reallocations - before.reallocations
        ),
        per_request(after.allocations - before.allocations),
        per_request(after.reallocations - before.reallocations),
        per_request(after.bytes - before.bytes),
        elapsed.as_secs_f64() * 1e6 / f64::from(requests),
        after.upstream_connections - before.upstream_connections,
    );
    print!("  by size (allocations/request):");
    for (class, (after, before)) in after.by_size.iter().zip(before.by_size).enumerate() {
        match SIZE_CLASSES.get(class) {
            Some(bound) => print!(" <= {bound} B: {:.2};", per_request(after - before)),
            None => print!(" larger: {:.2}", per_request(after - before)),
        }
    }
    println!();
}

/// Prints how many allocations the process makes in `period` without a request: the
/// background work included in every count.
fn report_idle(period: Duration) {
    let before = Counts::now();
    std::thread::sleep(period);
    let after = Counts::now();
    println!(
        "idle: {} allocations in {period:?} without a request",
        after.allocations - before.allocations + after.reallocations - before.reallocations
    );
}

/// Serves `BACKEND_RESPONSE` to every request head on every connection, from a fixed set of
/// threads with a fixed buffer each: nothing is allocated once they run.
fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the backend");
    let address = listener.local_addr().expect("the backend's address");
    for index in 0..BACKEND_THREADS {
        let listener = listener.try_clone().expect("clone the backend listener");
        std::thread::Builder::new()
            .name(format!("backend-{index}"))
            .spawn(move || {
                HARNESS_THREAD.with(|harness| harness.set(true));
                let mut buffer = [0u8; BUFFER_BYTES];
                loop {
                    if let Ok((stream, _)) = listener.accept() {
                        UPSTREAM_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                        serve_backend_connection(stream, &mut buffer);
                    }
                }
            })
            .expect("spawn a backend thread");
    }
    address
}

/// Answers each complete request head on `stream` until the peer closes it.
fn serve_backend_connection(mut stream: TcpStream, buffer: &mut [u8]) {
    let _ = stream.set_nodelay(true);
    let mut filled = 0;
    loop {
        match stream.read(&mut buffer[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        // The gateway sends body-less GETs: every head is a whole request.
        while let Some(end) = head_end(&buffer[..filled]) {
            if stream.write_all(BACKEND_RESPONSE).is_err() {
                return;
            }
            buffer.copy_within(end..filled, 0);
            filled -= end;
        }
        if filled == buffer.len() {
            return;
        }
    }
}

/// The offset just past the first `\r\n\r\n` of `bytes`.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The value of the Content-Length header in a response head (ASCII case-insensitive name).
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        if !line[..colon].eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        let value = std::str::from_utf8(&line[colon + 1..]).ok()?;
        value.trim().parse().ok()
    })
}

/// The gateway's side of the benchmark: a raw HTTP/1.1 client with one fixed buffer.
struct Client {
    gateway: SocketAddr,
    buffer: Box<[u8; BUFFER_BYTES]>,
}

impl Client {
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.gateway).expect("connect to the gateway");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("a read timeout");
        stream
    }

    /// Sends `request` and reads one whole response: an error unless it is a whole 200.
    fn exchange(&mut self, stream: &mut TcpStream, request: &[u8]) -> io::Result<()> {
        stream.write_all(request)?;
        let buffer = &mut self.buffer[..];
        let mut filled = 0;
        let end = loop {
            let n = stream.read(&mut buffer[filled..])?;
            if n == 0 {
                return Err(io::Error::other(
                    "the gateway closed the connection before answering",
                ));
            }
            filled += n;
            if let Some(end) = head_end(&buffer[..filled]) {
                break end;
            }
        };
        if !buffer.starts_with(b"HTTP/1.1 200 ") {
            return Err(io::Error::other(format!(
                "the gateway answered {:?}",
                String::from_utf8_lossy(&buffer[..end])
            )));
        }
        let length = content_length(&buffer[..end])
            .ok_or_else(|| io::Error::other("no Content-Length in the response"))?;
        let mut body_read = filled - end;
        while body_read < length {
            let n = stream.read(&mut buffer[..])?;
            if n == 0 {
                return Err(io::Error::other(
                    "the gateway closed the connection inside the body",
                ));
            }
            body_read += n;
        }
        if body_read != length {
            return Err(io::Error::other("bytes after the response body"));
        }
        Ok(())
    }

    /// `count` requests on `stream`, one after the other.
    fn keep_alive(&mut self, stream: &mut TcpStream, count: u32) {
        for _ in 0..count {
            self.exchange(
                stream,
                b"GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: allocations\r\n\r\n",
            )
            .expect("a keep-alive request");
        }
    }

    /// `count` requests with `Connection: close`, each on a new connection read to its end.
    fn close_each(&mut self, count: u32) {
        for _ in 0..count {
            let mut stream = self.connect();
            self.exchange(
                &mut stream,
                b"GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: allocations\r\nConnection: close\r\n\r\n",
            )
            .expect("a Connection: close request");
            // The gateway's side of this connection is done once it has closed it.
            let n = stream
                .read(&mut self.buffer[..])
                .expect("read to the close");
            assert_eq!(n, 0, "bytes after a Connection: close response");
        }
    }

    /// Polls with single requests until the gateway answers 200 (at most 30 s).
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = io::Error::other("not tried");
        while Instant::now() < deadline {
            match TcpStream::connect(self.gateway).and_then(|mut stream| {
                stream.set_read_timeout(Some(IO_TIMEOUT))?;
                self.exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
            }) {
                Ok(()) => return,
                Err(error) => last = error,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway did not answer 200 within 30 s: {last}");
    }
}

/// A free loopback port for the gateway's entrypoint.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Starts the gateway on a background thread: entrypoint `web` on `port`, one router
/// `PathPrefix(/)` to `backend`.
fn start_gateway(port: u16, backend: SocketAddr) {
    let static_yaml = format!("entryPoints:\n  web:\n    address: 127.0.0.1:{port}\n");
    let tree = from_yaml_str(&static_yaml).expect("static YAML");
    let config = StaticConfig::from_tree(&tree, "allocations bench")
        .expect("a valid static configuration")
        .config;
    let dynamic_yaml = format!(
        "http:\n  routers:\n    all:\n      rule: PathPrefix(`/`)\n      service: backend\n  \
         services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: http://{backend}\n"
    );
    let tree = from_yaml_str(&dynamic_yaml).expect("dynamic YAML");
    let dynamic = decode_dynamic(&tree, "allocations bench");
    assert!(dynamic.errors.is_empty(), "{:?}", dynamic.errors);
    let options = GatewayOptions {
        config,
        dynamic: DynamicSource::Fixed(Box::new(dynamic)),
        echo_backends: Vec::new(),
    };
    std::thread::Builder::new()
        .name("gateway".into())
        .spawn(move || {
            if let Err(error) = server::run(options) {
                eprintln!("allocations: the gateway stopped: {error}");
                std::process::exit(1);
            }
        })
        .expect("spawn the gateway thread");
}

fn main() {
    let path = std::env::var("GATEWAY_HTTP1_PATH").unwrap_or_default();
    let backend = start_backend();
    let port = free_port();
    start_gateway(port, backend);
    let mut client = Client {
        gateway: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        buffer: Box::new([0; BUFFER_BYTES]),
    };
    client.wait_until_ready();
    HARNESS_THREAD.with(|harness| harness.set(true));
    println!(
        "GATEWAY_HTTP1_PATH={}: gateway on 127.0.0.1:{port}, backend on {backend}",
        if path.is_empty() { "(unset)" } else { &path }
    );

    let mut stream = client.connect();
    client.keep_alive(&mut stream, WARM_UP_REQUESTS);
    report_idle(Duration::from_secs(1));
    let (before, started) = (Counts::now(), Instant::now());
    client.keep_alive(&mut stream, KEEP_ALIVE_REQUESTS);
    report("keep-alive", KEEP_ALIVE_REQUESTS, before, started);
    drop(stream);

    client.close_each(CLOSE_WARM_UP_REQUESTS);
    let (before, started) = (Counts::now(), Instant::now());
    client.close_each(CLOSE_REQUESTS);
    report("Connection: close", CLOSE_REQUESTS, before, started);
    // Pingora's server never returns: end the process here.
    std::process::exit(0);
}
