//! A real Traefik process for differential tests: built once by `scripts/install-traefik`,
//! started on a free port with a file-provider configuration, killed on drop.

use super::{free_port, local, port_accepts, try_request, wait_until, TempDir, START_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running Traefik, killed on drop.
pub struct Traefik {
    child: Child,
    /// The `web` entrypoint's port.
    pub port: u16,
    _dir: TempDir,
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Traefik binary `scripts/install-traefik` builds (once) and prints.
pub fn traefik_binary() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-traefik");
    let output = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/install-traefik");
    assert!(
        output.status.success(),
        "scripts/install-traefik failed (its error is above): this test needs a real Traefik, built with Go"
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Starts Traefik with `dynamic` (file provider) and a `web` entrypoint on a free port.
/// It is ready once `GET /exact` is answered 200.
pub fn start_traefik(binary: &Path, dynamic: &str) -> Traefik {
    start_traefik_with(binary, dynamic, "", "/exact")
}

/// Like [`start_traefik`], with `web_extra` (YAML, indented for the entrypoint: e.g.
/// `"    http:\n      middlewares: [x@file]\n"`) under the `web` entrypoint, ready once
/// `GET ready_path` is answered 200.
pub fn start_traefik_with(
    binary: &Path,
    dynamic: &str,
    web_extra: &str,
    ready_path: &str,
) -> Traefik {
    let dir = TempDir::new("traefik");
    let port = free_port();
    std::fs::write(dir.join("dynamic.yml"), dynamic).unwrap();
    let static_config = format!(
        "global:\n  checkNewVersion: false\n  sendAnonymousUsage: false\nentryPoints:\n  web:\n    address: 127.0.0.1:{port}\n{web_extra}providers:\n  file:\n    filename: {}\n    watch: false\nlog:\n  level: ERROR\n",
        dir.join("dynamic.yml").display()
    );
    std::fs::write(dir.join("traefik.yml"), static_config).unwrap();
    let child = Command::new(binary)
        .arg(format!(
            "--configFile={}",
            dir.join("traefik.yml").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start traefik");
    let traefik = Traefik {
        child,
        port,
        _dir: dir,
    };
    assert!(
        wait_until(START_TIMEOUT, || port_accepts(port)),
        "traefik did not listen"
    );
    // Traefik listens before the file provider's first configuration is applied.
    assert!(
        wait_until(START_TIMEOUT, || try_request(
            local(port),
            "GET",
            ready_path,
            &[]
        )
        .is_ok_and(|r| r.status == 200)),
        "traefik did not apply the configuration"
    );
    traefik
}
