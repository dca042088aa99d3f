//! Test support shared by the integration tests of the workspace: free loopback ports, a raw
//! recording backend, and a real Consul agent (built by scripts/install-consul) on them, stopped
//! on drop.

pub mod recording;
pub use recording::RecordingBackend;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A port nothing listens on right now on 127.0.0.1 (bound by the OS, then released); never
/// the same one twice in one test process.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let listener =
            TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        if handed.insert(port) {
            return port;
        }
    }
    panic!("could not find a fresh free port");
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The repository root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Consul binary, built on first use by scripts/install-consul (cached per machine).
pub fn consul_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let output = Command::new(repository().join("scripts/install-consul"))
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/install-consul");
            assert!(output.status.success(), "scripts/install-consul failed: Consul is needed by this test (Go and the Go module proxy build it)");
            PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
        })
        .clone()
}

/// A certificate authority and a server certificate it signed, as PEM files.
pub struct TestCertificates {
    dir: PathBuf,
}

impl TestCertificates {
    /// Generates a CA and a server certificate for `127.0.0.1` and `localhost`.
    pub fn generate() -> TestCertificates {
        Self::generate_for(&["127.0.0.1", "localhost"])
    }

    /// Generates a CA and a server certificate whose subject alternative names are `names`
    /// (IP addresses or DNS names).
    pub fn generate_for(names: &[&str]) -> TestCertificates {
        let dir = std::env::temp_dir().join(format!(
            "testkit-certs-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "testkit CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server_params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server parameters");
        let server = server_params
            .signed_by(&server_key, &issuer)
            .expect("server certificate");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
        std::fs::write(dir.join("server.pem"), server.pem()).expect("write server.pem");
        std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem())
            .expect("write server-key.pem");
        TestCertificates { dir }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.join("server-key.pem")
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How an agent keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `-dev`: in memory, ready in about a second.
    Memory,
    /// A one-node server with a data directory: survives restarts, slower to elect a leader.
    Disk,
}

/// A Consul agent on random loopback ports, killed (and its data removed) on drop. Sessions
/// may have TTLs down to 1s (`session_ttl_min`), so lock expiry can be tested quickly.
pub struct ConsulAgent {
    child: Option<Child>,
    /// The HTTP API port.
    pub http_port: u16,
    /// The HTTPS API port, when started with TLS.
    pub https_port: Option<u16>,
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    acl_token: Option<String>,
    ports: [u16; 3],
    storage: Storage,
    data_dir: PathBuf,
    log: PathBuf,
}

impl ConsulAgent {
    /// Starts an agent and waits until it has a leader.
    pub fn start(storage: Storage) -> ConsulAgent {
        Self::start_with(storage, None, None)
    }

    /// Starts an in-memory agent that also serves its API over TLS with `certificates`.
    pub fn start_tls(certificates: &TestCertificates) -> ConsulAgent {
        Self::start_with(Storage::Memory, Some(certificates), None)
    }

    /// Starts an in-memory agent serving its API over TLS with `certificates` too, with ACLs
    /// enforced (default deny): only `management_token` may read or write.
    pub fn start_secured(certificates: &TestCertificates, management_token: &str) -> ConsulAgent {
        Self::start_with(
            Storage::Memory,
            Some(certificates),
            Some(management_token.to_string()),
        )
    }

    fn start_with(
        storage: Storage,
        certificates: Option<&TestCertificates>,
        acl_token: Option<String>,
    ) -> ConsulAgent {
        let data_dir = std::env::temp_dir().join(format!(
            "testkit-consul-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&data_dir).expect("create the Consul data directory");
        let mut agent = ConsulAgent {
            child: None,
            http_port: free_port(),
            https_port: certificates.map(|_| free_port()),
            tls: certificates.map(|c| (c.ca(), c.cert(), c.key())),
            acl_token,
            ports: [free_port(), free_port(), free_port()],
            storage,
            log: data_dir.with_extension("log"),
            data_dir,
        };
        agent.launch();
        agent
    }

    /// `host:port` of the HTTP API.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// `http://host:port` of the HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    fn launch(&mut self) {
        let [serf_lan, serf_wan, server] = self.ports;
        let mut command = Command::new(consul_binary());
        command.args([
            "agent",
            "-bind=127.0.0.1",
            "-client=127.0.0.1",
            "-dns-port=-1",
            "-grpc-port=-1",
            "-grpc-tls-port=-1",
            "-log-level=warn",
            "-hcl",
            "session_ttl_min = \"1s\"",
        ]);
        command.arg(format!("-http-port={}", self.http_port));
        command.arg(format!("-serf-lan-port={serf_lan}"));
        command.arg(format!("-serf-wan-port={serf_wan}"));
        command.arg(format!("-server-port={server}"));
        if let (Some(port), Some((ca, cert, key))) = (self.https_port, &self.tls) {
            command.arg("-hcl").arg(format!(
                "ports {{ https = {port} }} tls {{ defaults {{ ca_file = \"{}\" cert_file = \"{}\" key_file = \"{}\" verify_incoming = false }} }}",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        if let Some(token) = &self.acl_token {
            command.arg("-hcl").arg(format!(
                "acl {{ enabled = true default_policy = \"deny\" tokens {{ initial_management = \"{token}\" }} }}"
            ));
        }
        match self.storage {
            Storage::Memory => {
                command.arg("-dev");
            }
            Storage::Disk => {
                command.args(["-server", "-bootstrap-expect=1", "-node=testkit"]);
                command.arg(format!("-data-dir={}", self.data_dir.display()));
            }
        }
        let log = std::fs::File::create(&self.log).expect("create the Consul log");
        command
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null());
        self.child = Some(command.spawn().expect("start consul"));
        let leader_url = format!("127.0.0.1:{}", self.http_port);
        let ready = wait_until(Duration::from_secs(30), || {
            leader(&leader_url).is_some_and(|l| !l.is_empty())
        });
        assert!(
            ready,
            "Consul did not elect a leader within 30 s; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        if let Some(token) = &self.acl_token {
            // The management token exists once the leader has set up the ACL system.
            let request =
                format!("GET /v1/acl/token/self HTTP/1.0\r\nX-Consul-Token: {token}\r\n\r\n");
            let ready = wait_until(Duration::from_secs(30), || {
                get(&leader_url, &request).is_some_and(|r| r.starts_with("HTTP/1.0 200"))
            });
            assert!(
                ready,
                "Consul did not accept the management token within 30 s; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// Kills the agent (like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again on the same ports (and, with [`Storage::Disk`], the same data).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for ConsulAgent {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `GET /v1/status/leader` with a bare HTTP/1.0 request (no client crate needed).
fn leader(address: &str) -> Option<String> {
    let response = get(address, "GET /v1/status/leader HTTP/1.0\r\n\r\n")?;
    let body = response.split("\r\n\r\n").nth(1)?;
    Some(body.trim().trim_matches('"').to_string())
}

/// Sends a bare HTTP/1.0 `request` and returns the whole answer.
fn get(address: &str, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}
