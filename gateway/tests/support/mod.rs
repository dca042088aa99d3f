//! End-to-end test harness: free ports, temporary directories, the `gateway` process (and
//! `gateway whoami` echo backends) as guards that are killed on drop, and a tiny HTTP/1.1
//! client over `std::net::TcpStream`.
//!
//! Every test file includes this module with `mod support;`, so some helpers are unused in
//! some files.
#![allow(dead_code)]

pub mod consul;
pub mod raw;
pub mod traefik;

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a process may take to open its ports.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Path of the `gateway` binary under test.
pub fn gateway_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gateway")
}

// ---------------------------------------------------------------------------------------------
// Ports and directories
// ---------------------------------------------------------------------------------------------

pub use testkit::{free_port, port_accepts, wait_until};

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether 127.0.0.1:port can be bound right now (nothing else uses it).
pub fn port_is_bindable(port: u16) -> bool {
    TcpListener::bind(local(port)).is_ok()
}

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "gateway-e2e-{label}-{}-{}-{nanos}",
            std::process::id(),
            DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Replaces `path` the way editors do: write a temporary file beside it, then rename it over.
/// A dynamic configuration sending every request (`PathPrefix(`/`)`) to the one server `url`.
pub fn route_all_to(url: &str) -> String {
    format!(
        "http:\n  routers:\n    all:\n      rule: PathPrefix(`/`)\n      service: s\n  \
         services:\n    s:\n      loadBalancer:\n        servers:\n          - url: {url}\n"
    )
}

pub fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap().to_string_lossy(),
        DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, content).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename over");
}

/// Rewrites `path` in place (truncate + write).
pub fn write_in_place(path: &Path, content: &str) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .open(path)
        .expect("open for writing");
    file.write_all(content.as_bytes()).expect("write");
    file.sync_all().ok();
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Waits until every port accepts TCP; panics (with `describe()`) when the process exits or
/// `START_TIMEOUT` passes.
fn wait_for_ports(child: &mut Child, ports: &[u16], describe: impl Fn() -> String) {
    let deadline = Instant::now() + START_TIMEOUT;
    for &port in ports {
        loop {
            if port_accepts(port) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "process exited ({status}) before port {port} opened\n{}",
                    describe()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "port {port} did not open within {START_TIMEOUT:?}\n{}",
                    describe()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn kill_and_wait(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Sends SIGTERM to `pid` with the `kill` command.
pub fn sigterm(pid: u32) {
    send_signal(pid, "TERM");
}

/// Sends the signal `name` (`TERM`, `INT`) to `pid` with the `kill` command.
pub fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// An echo backend: `gateway whoami --address=127.0.0.1:PORT --name=NAME`, killed on drop.
pub struct Backend {
    child: Child,
    pub name: String,
    pub port: u16,
}

impl Backend {
    pub fn start(name: &str) -> Backend {
        let port = free_port();
        let mut child = Command::new(gateway_bin())
            .arg("whoami")
            .arg(format!("--address=127.0.0.1:{port}"))
            .arg(format!("--name={name}"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gateway whoami");
        wait_for_ports(&mut child, &[port], || format!("backend {name}"));
        Backend {
            child,
            name: name.to_string(),
            port,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
    }
}

/// Where the dynamic configuration comes from.
enum Provider {
    /// `providers.file.filename: <dir>/dynamic.yml` with this content.
    File(String),
    /// `providers.file.directory: <dir>/dynamic.d` with these files.
    Directory(Vec<(String, String)>),
}

/// Builds the static configuration of a gateway process.
pub struct GatewayBuilder {
    dir: TempDir,
    /// (name, port, extra YAML lines under the entrypoint).
    entry_points: Vec<(String, u16, String)>,
    /// Entrypoints listening on `:port` (every interface) instead of `127.0.0.1:port`.
    all_interfaces: Vec<String>,
    provider: Provider,
    extra_static: String,
    args: Vec<String>,
    log_level: Option<String>,
    raw_static: Option<(String, String)>,
    wait_ports: Vec<u16>,
    envs: Vec<(String, String)>,
}

impl GatewayBuilder {
    /// Adds an entrypoint on a free port. `extra` is YAML placed under it (any indentation;
    /// it is re-indented), e.g. `"forwardedHeaders:\n  trustedIPs: [127.0.0.1]"`.
    pub fn entry_point(mut self, name: &str, extra: &str) -> Self {
        self.entry_points
            .push((name.to_string(), free_port(), extra.to_string()));
        self
    }

    /// Like [`Self::entry_point`], listening on `:port`: every interface, IPv6 and IPv4.
    pub fn entry_point_on_all_interfaces(mut self, name: &str, extra: &str) -> Self {
        self.all_interfaces.push(name.to_string());
        self.entry_point(name, extra)
    }

    /// The content of `dynamic.yml` (`providers.file.filename`).
    pub fn dynamic(mut self, yaml: &str) -> Self {
        self.provider = Provider::File(yaml.to_string());
        self
    }

    /// Use `providers.file.directory` with these files instead of one file.
    pub fn dynamic_directory(mut self, files: &[(&str, &str)]) -> Self {
        self.provider = Provider::Directory(
            files
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_string()))
                .collect(),
        );
        self
    }

    /// Top-level YAML appended to the generated static configuration.
    pub fn static_extra(mut self, yaml: &str) -> Self {
        self.extra_static.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.extra_static.push('\n');
        }
        self
    }

    /// An extra command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// An environment variable of the gateway process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// Writes this static file (name relative to the temp dir; `{dir}` in `content` is
    /// replaced with the temp dir path) and passes `--configFile` to it instead of the
    /// generated one. The dynamic provider file (`{dir}/dynamic.yml`) is still written.
    /// Use with `wait_port`.
    pub fn raw_static(mut self, file_name: &str, content: &str) -> Self {
        self.raw_static = Some((file_name.to_string(), content.to_string()));
        self
    }

    /// A port to wait for before `start` returns (in addition to the entrypoints).
    pub fn wait_port(mut self, port: u16) -> Self {
        self.wait_ports.push(port);
        self
    }

    fn static_yaml(&self) -> String {
        let mut yaml = String::from("entryPoints:\n");
        for (name, port, extra) in &self.entry_points {
            let host = if self.all_interfaces.contains(name) {
                ""
            } else {
                "127.0.0.1"
            };
            let _ = writeln!(yaml, "  {name}:\n    address: \"{host}:{port}\"");
            let has_transport = extra
                .lines()
                .any(|l| l.trim_start().starts_with("transport:"));
            if !has_transport {
                yaml.push_str("    transport:\n      lifeCycle:\n        graceTimeOut: 1s\n");
            }
            yaml.push_str(&indent(extra, 4));
        }
        match &self.provider {
            Provider::File(_) => {
                let _ = writeln!(
                    yaml,
                    "providers:\n  file:\n    filename: {}",
                    self.dir.join("dynamic.yml").display()
                );
            }
            Provider::Directory(_) => {
                let _ = writeln!(
                    yaml,
                    "providers:\n  file:\n    directory: {}",
                    self.dir.join("dynamic.d").display()
                );
            }
        }
        if !self.extra_static.lines().any(|l| l.starts_with("ping:")) {
            yaml.push_str("ping: {}\n");
        }
        yaml.push_str(&self.extra_static);
        yaml
    }

    /// Writes the files, spawns the process and waits until its ports accept connections.
    pub fn start(mut self) -> Gateway {
        if !self.entry_points.iter().any(|(n, _, _)| n == "traefik") && self.raw_static.is_none() {
            self.entry_points
                .push(("traefik".into(), free_port(), String::new()));
        }
        let dir = self.dir.path().to_path_buf();
        match &self.provider {
            Provider::File(content) => {
                std::fs::write(dir.join("dynamic.yml"), content).expect("write dynamic.yml")
            }
            Provider::Directory(files) => {
                let sub = dir.join("dynamic.d");
                std::fs::create_dir_all(&sub).expect("create dynamic.d");
                for (name, content) in files {
                    std::fs::write(sub.join(name), content).expect("write dynamic file");
                }
            }
        }
        let static_path = match &self.raw_static {
            Some((name, content)) => {
                let path = dir.join(name);
                std::fs::write(&path, content.replace("{dir}", &dir.display().to_string()))
                    .expect("write static file");
                path
            }
            None => {
                let path = dir.join("traefik.yml");
                std::fs::write(&path, self.static_yaml()).expect("write traefik.yml");
                path
            }
        };
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr.log");
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("create stdout.log");
        let mut command = Command::new(gateway_bin());
        command.arg(format!("--configFile={}", static_path.display()));
        if let Some(level) = &self.log_level {
            command.arg(format!("--log.level={level}"));
        }
        // The process inherits the test's environment (scripts/test sets GATEWAY_HTTP1_PATH
        // there); `env` entries override it.
        command
            .args(&self.args)
            // The test's own RUST_LOG would change the log lines asserted on; one set with
            // `env` is the test's choice.
            .env_remove("RUST_LOG")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            // Plain log lines (no ANSI colours) for the stderr assertions.
            .env("NO_COLOR", "1")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut child = command.spawn().expect("spawn gateway");
        let mut ports: Vec<u16> = self.entry_points.iter().map(|(_, p, _)| *p).collect();
        if self.raw_static.is_some() {
            ports.clear();
        }
        ports.extend(&self.wait_ports);
        let describe = || {
            format!(
                "static config:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&static_path).unwrap_or_default(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        };
        wait_for_ports(&mut child, &ports, describe);
        let gateway = Gateway {
            child,
            ports: self
                .entry_points
                .iter()
                .map(|(n, p, _)| (n.clone(), *p))
                .collect(),
            stderr_path,
            dir: self.dir,
        };
        // The listeners come up before the file watcher is armed: a test that rewrites the file
        // right away would race it. The watcher says when it is armed at INFO and below.
        let logs_info = self
            .log_level
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("INFO") || l.eq_ignore_ascii_case("DEBUG"));
        if self.raw_static.is_none() && logs_info {
            assert!(
                gateway.wait_for_stderr(
                    "watching the file provider's configuration",
                    Duration::from_secs(10)
                ),
                "the file watcher did not start:\n{}",
                gateway.stderr()
            );
        }
        gateway
    }
}

fn indent(text: &str, by: usize) -> String {
    let min = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "{}{}", " ".repeat(by), &line[min..]);
    }
    out
}

/// A running gateway, killed (SIGKILL) and reaped on drop.
pub struct Gateway {
    child: Child,
    ports: Vec<(String, u16)>,
    stderr_path: PathBuf,
    dir: TempDir,
}

impl Gateway {
    /// A gateway with a `web` entrypoint and the `traefik` one (ping), both on free ports,
    /// and `dynamic.yml` with this content.
    pub fn start(dynamic: &str) -> Gateway {
        Gateway::builder()
            .entry_point("web", "")
            .dynamic(dynamic)
            .start()
    }

    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            dir: TempDir::new("gw"),
            entry_points: Vec::new(),
            all_interfaces: Vec::new(),
            provider: Provider::File(String::new()),
            extra_static: String::new(),
            args: Vec::new(),
            log_level: Some("INFO".into()),
            raw_static: None,
            wait_ports: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// Runs `gateway ARGS` as is (no generated configuration), in a fresh temp dir, and waits
    /// until these named ports accept connections.
    pub fn spawn_raw(args: &[String], ports: &[(&str, u16)]) -> Gateway {
        let dir = TempDir::new("raw");
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr.log");
        let mut child = Command::new(gateway_bin())
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn gateway");
        let wait: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
        wait_for_ports(&mut child, &wait, || {
            format!(
                "stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        Gateway {
            child,
            ports: ports.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            stderr_path,
            dir,
        }
    }

    /// Port of the entrypoint `name`.
    pub fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("no entrypoint {name}"))
    }

    /// Address of the entrypoint `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        local(self.port(name))
    }

    /// Address of the `web` entrypoint.
    pub fn web(&self) -> SocketAddr {
        self.addr("web")
    }

    /// `<dir>/dynamic.yml`.
    pub fn dynamic_path(&self) -> PathBuf {
        self.dir.join("dynamic.yml")
    }

    /// `<dir>/dynamic.d` (directory provider).
    pub fn dynamic_dir(&self) -> PathBuf {
        self.dir.join("dynamic.d")
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`; returns whether it did within `timeout`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.stderr().contains(needle))
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        sigterm(self.child.id());
    }

    /// Sends SIGINT.
    pub fn interrupt(&self) {
        send_signal(self.child.id(), "INT");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
        if std::thread::panicking() {
            let stderr = self.stderr();
            let tail: String = stderr
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("---- gateway stderr (last 60 lines) ----\n{tail}\n----");
        }
    }
}

/// Output of a process that ran to its end.
pub struct Finished {
    /// `None` when it was killed after the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `program args` with `RUST_LOG` unset, killing it after `timeout`.
pub fn run_to_exit(program: &Path, args: &[String], timeout: Duration) -> Finished {
    let dir = TempDir::new("run");
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            kill_and_wait(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of this header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The whoami text answer, parsed (panics with the answer if it is not one).
    pub fn echo(&self) -> Echo {
        Echo::parse(&self.text()).unwrap_or_else(|| {
            panic!(
                "not a whoami answer: status {} headers {:?} body {:?}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }

    /// The whoami backend name (`Name:` line), if this is a 200 whoami answer.
    pub fn backend(&self) -> Option<String> {
        if self.status != 200 {
            return None;
        }
        Echo::parse(&self.text()).map(|e| e.name)
    }
}

/// What a whoami backend reports about the request it received.
#[derive(Debug, Clone)]
pub struct Echo {
    pub name: String,
    pub hostname: String,
    /// `GET /path?query HTTP/1.1`.
    pub request_line: String,
    pub headers: Vec<(String, String)>,
}

impl Echo {
    pub fn parse(text: &str) -> Option<Echo> {
        let mut name = None;
        let mut hostname = String::new();
        let mut request_line = None;
        let mut headers = Vec::new();
        for line in text.lines() {
            if request_line.is_none() {
                let first = line.split_whitespace().next().unwrap_or("");
                if first.ends_with(':') {
                    let value = line[first.len()..].trim().to_string();
                    match first {
                        "Name:" => name = Some(value),
                        "Hostname:" => hostname = value,
                        _ => {}
                    }
                } else if !line.is_empty() {
                    request_line = Some(line.to_string());
                }
            } else if let Some((n, v)) = line.split_once(": ") {
                headers.push((n.to_string(), v.to_string()));
            } else if let Some(n) = line.strip_suffix(':') {
                headers.push((n.to_string(), String::new()));
            }
        }
        Some(Echo {
            name: name?,
            hostname,
            request_line: request_line?,
            headers,
        })
    }

    /// The request target the backend saw (`/path?query`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn build_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let _ = write!(head, "Host: {addr}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if close
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        head.push_str("Connection: close\r\n");
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one response from `reader`. `head` says the request was HEAD (no body).
pub fn read_response(reader: &mut impl BufRead, head: bool) -> io::Result<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status_line = line.trim_end().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status line {status_line:?}"),
        ));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status line {status_line:?}"),
        )
    })?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad header {trimmed:?}"),
            )
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) {
        // Interim answer: the real one follows.
        return read_response(reader, head);
    }
    if head || status == 204 || status == 304 {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if size == 0 {
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = response.body.len();
            response.body.resize(start + size, 0);
            reader.read_exact(&mut response.body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad length {length:?}"))
        })?;
        response.body.resize(length, 0);
        reader.read_exact(&mut response.body)?;
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// One request on a new connection (`Connection: close` unless a Connection header is given;
/// `Host: <addr>` unless a Host header is given).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    try_request_with_body(addr, method, target, headers, b"")
}

pub fn try_request_with_body(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    stream.write_all(&build_request(addr, method, target, headers, body, true))?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, method.eq_ignore_ascii_case("HEAD"))
}

/// Like [`try_request`], panicking on I/O errors.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    try_request(addr, method, target, headers)
        .unwrap_or_else(|e| panic!("{method} {target} on {addr} ({headers:?}): {e}"))
}

/// `GET target` with `Host: host`.
pub fn get_host(addr: SocketAddr, host: &str, target: &str) -> Response {
    request(addr, "GET", target, &[("Host", host)])
}

/// `GET target` with `Host: <addr>`.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[])
}

/// Sends these exact bytes and reads one answer.
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    stream.write_all(bytes)?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, false)
}

/// A keep-alive connection for many requests.
pub struct Connection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> io::Result<Connection> {
        Ok(Connection {
            addr,
            reader: BufReader::new(connect(addr)?),
        })
    }

    /// Sends one request (keep-alive) and reads its answer.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let bytes = build_request(self.addr, method, target, headers, b"", false);
        self.reader.get_mut().write_all(&bytes)?;
        let response = read_response(&mut self.reader, method.eq_ignore_ascii_case("HEAD"))?;
        Ok(response)
    }

    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send("GET", target, &[])
    }
}

/// Sends `n` GETs over keep-alive connections (reopening when the server closes one) and
/// counts the whoami names of the answers; panics on any non-200 answer.
pub fn count_backends(
    addr: SocketAddr,
    host: &str,
    target: &str,
    n: usize,
) -> Vec<(String, usize)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut conn = Connection::open(addr).expect("connect");
    let mut done = 0;
    let mut errors = 0;
    while done < n {
        assert!(Instant::now() < deadline, "count_backends took over 30s");
        match conn.send("GET", target, &[("Host", host)]) {
            Ok(response) => {
                let name = response
                    .backend()
                    .unwrap_or_else(|| panic!("request {done}: not a whoami 200: {response:?}"));
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((name, 1)),
                }
                done += 1;
                if response
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    conn = Connection::open(addr).expect("reconnect");
                }
            }
            Err(e) => {
                errors += 1;
                assert!(errors < 5, "too many connection errors: {e}");
                conn = Connection::open(addr).expect("reconnect");
            }
        }
    }
    counts.sort();
    counts
}

/// Count for `name` in `count_backends` output.
pub fn count_of(counts: &[(String, usize)], name: &str) -> usize {
    counts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, c)| *c)
}
