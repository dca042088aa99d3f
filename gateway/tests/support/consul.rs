//! Consul for the end-to-end tests: writing keys from the test, a gateway reading a real
//! agent, `control config apply` run as a process, and fake endpoints for what a real agent
//! cannot be made to do here (hang, lose its leader, lag, drop its index header).

use super::*;
use control::consul::{ClientOptions, ConsulClient, KvPair, TxnOp};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use testkit::ConsulAgent;

/// Writes to Consul KV from the test.
pub struct Kv {
    runtime: tokio::runtime::Runtime,
    client: ConsulClient,
}

impl Kv {
    pub fn new(agent: &ConsulAgent) -> Kv {
        Kv::with_token(agent, None)
    }

    /// A writer sending `token` (for agents with ACLs).
    pub fn with_token(agent: &ConsulAgent, token: Option<&str>) -> Kv {
        Kv {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: ConsulClient::new(ClientOptions {
                endpoints: vec![agent.address()],
                token: token.map(str::to_string),
                ..Default::default()
            })
            .unwrap(),
        }
    }

    pub fn put(&self, key: &str, value: &str) {
        self.runtime
            .block_on(self.client.kv_put(key, value.as_bytes()))
            .unwrap();
    }

    pub fn put_all(&self, pairs: &[(&str, String)]) {
        let ops: Vec<TxnOp> = pairs
            .iter()
            .map(|(k, v)| TxnOp::Set {
                key: k.to_string(),
                value: v.clone().into_bytes(),
            })
            .collect();
        for chunk in ops.chunks(64) {
            self.runtime.block_on(self.client.txn(chunk)).unwrap();
        }
    }

    pub fn delete(&self, key: &str) {
        self.delete_all(&[key]);
    }

    /// Deletes `keys` in one transaction.
    pub fn delete_all(&self, keys: &[&str]) {
        let ops: Vec<TxnOp> = keys
            .iter()
            .map(|key| TxnOp::Delete {
                key: key.to_string(),
            })
            .collect();
        self.runtime.block_on(self.client.txn(&ops)).unwrap();
    }

    /// The keys under `traefik/`.
    pub fn list(&self) -> Vec<KvPair> {
        self.runtime
            .block_on(self.client.kv_list("traefik/", None))
            .unwrap()
            .pairs
    }

    /// Whether `traefik/<key>` exists.
    pub fn has(&self, key: &str) -> bool {
        let key = format!("traefik/{key}");
        self.list().iter().any(|p| p.key == key)
    }
}

/// A router `name` with `rule`, sending to a service of the same name with one server.
pub fn route(kv: &Kv, name: &str, rule: &str, backend: &Backend) {
    kv.put_all(&[
        (
            &format!("traefik/http/routers/{name}/rule"),
            rule.to_string(),
        ),
        (
            &format!("traefik/http/routers/{name}/service"),
            name.to_string(),
        ),
        (
            &format!("traefik/http/services/{name}/loadBalancer/servers/0/url"),
            backend.url(),
        ),
    ]);
}

/// A dynamic configuration of `routers` routers `/r0`, `/r1`... all sending to service
/// `service`, whose one server is `backend`.
pub fn routers_to(service: &str, backend: &Backend, routers: usize) -> String {
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..routers {
        yaml.push_str(&format!(
            "    r{i}: {{rule: \"Path(`/r{i}`)\", service: {service}}}\n"
        ));
    }
    yaml.push_str(&format!(
        "  services:\n    {service}: {{loadBalancer: {{servers: [{{url: '{}'}}]}}}}\n",
        backend.url()
    ));
    yaml
}

/// A gateway reading `agent` (and the file provider with `file`), with the API on.
pub fn consul_gateway(agent: &ConsulAgent, file: &str) -> Gateway {
    Gateway::builder()
        .entry_point("web", "")
        .static_extra("api:\n  insecure: true\n")
        .dynamic(file)
        .arg(format!("--providers.consul.endpoints={}", agent.address()))
        .start()
}

/// The backend that answered `GET target`, if one did.
pub fn backend_of(gw: &Gateway, target: &str) -> Option<String> {
    try_request(gw.web(), "GET", target, &[])
        .ok()
        .and_then(|r| r.backend())
}

/// The status of `GET target` (0 when the request failed).
pub fn status_of(gw: &Gateway, target: &str) -> u16 {
    try_request(gw.web(), "GET", target, &[])
        .map(|r| r.status)
        .unwrap_or(0)
}

/// The Consul provider's entry of `/api/overview`'s `providerStatus`.
pub fn consul_status(gw: &Gateway) -> serde_json::Value {
    let overview: serde_json::Value =
        serde_json::from_str(&get(gw.addr("traefik"), "/api/overview").text()).unwrap();
    overview["providerStatus"]["consul"].clone()
}

/// The `control` binary next to the gateway's (built by `cargo build -p control`, as `cargo
/// test --workspace` does).
pub fn control_bin() -> PathBuf {
    let path = Path::new(gateway_bin()).with_file_name("control");
    assert!(
        path.exists(),
        "{} is missing: build it with cargo build -p control",
        path.display()
    );
    path
}

/// `control config apply ARGS FILE` against `agent`.
pub fn control_apply(agent: &ConsulAgent, args: &[&str], file: &Path) -> Command {
    let mut command = Command::new(control_bin());
    command
        .args(["config", "apply", "--consul", &agent.address()])
        .args(args)
        .arg(file)
        .env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE");
    command
}

/// Runs `control config apply ARGS FILE` to its end and asserts it succeeded; its stdout.
pub fn apply(agent: &ConsulAgent, args: &[&str], file: &Path) -> String {
    let output = control_apply(agent, args, file)
        .output()
        .expect("run control");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A TCP endpoint that accepts connections and never answers (a hung agent). Stops on drop.
pub struct HungEndpoint {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HungEndpoint {
    pub fn start() -> HungEndpoint {
        Self::serve(|_| {})
    }

    /// Calls `answer` with every accepted connection (in the accepting thread), holding it
    /// open until drop.
    fn serve(answer: impl Fn(&mut TcpStream) + Send + 'static) -> HungEndpoint {
        let listener = TcpListener::bind(local(0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nonblocking(false).ok();
                            stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
                            answer(&mut stream);
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        HungEndpoint {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for HungEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fake Consul answering every request with the same KV listing and headers (the meta
/// headers a real agent sends, as given). Stops on drop.
pub struct FakeConsul(HungEndpoint);

impl FakeConsul {
    /// Answers `200` with the keys `pairs` (key, text value) and `headers`.
    pub fn start(pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> FakeConsul {
        Self::answering("200 OK", pairs, headers)
    }

    /// Answers with `status` (`500 Internal Server Error`), the keys `pairs` and `headers`.
    pub fn answering(status: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> FakeConsul {
        use base64::Engine;
        let listing: Vec<serde_json::Value> = pairs
            .iter()
            .map(|(key, value)| {
                serde_json::json!({
                    "Key": key,
                    "Value": base64::engine::general_purpose::STANDARD.encode(value),
                    "Flags": 0, "CreateIndex": 5, "ModifyIndex": 5, "LockIndex": 0,
                })
            })
            .collect();
        let body = serde_json::to_string(&listing).unwrap();
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let answer = format!("{head}\r\n{body}");
        FakeConsul(HungEndpoint::serve(move |stream| {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                request.push(byte[0]);
            }
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }))
    }

    pub fn address(&self) -> String {
        self.0.address()
    }
}
