//! Differential tests of the HTTP middlewares: each case serves one configuration from a real
//! Traefik (built by scripts/install-traefik) and from the gateway, sends the same raw
//! requests to both, and compares status, response headers, bodies and the request the
//! backend received (see `middleware_parity/harness.rs`). One file per group of middlewares.
//!
//! `#[ignore]`d like `traefik_parity`: `scripts/test` runs them with `--ignored`.

mod support;

#[path = "middleware_parity/harness.rs"]
mod harness;

#[path = "middleware_parity/paths.rs"]
mod paths;

#[path = "middleware_parity/subrequest.rs"]
mod subrequest;
