//! Differential tests of the HTTP middlewares: each case serves one configuration from a real
//! Traefik (built by scripts/install-traefik) and from the gateway, sends the same raw
//! requests to both, and compares status, response headers, bodies and the request the
//! backend received (see `middleware_parity/harness.rs`). One file per group of middlewares.
//!
//! `#[ignore]`d like `traefik_parity`: `scripts/test` runs them with `--ignored`.

mod support;

#[path = "middleware_parity/harness.rs"]
mod harness;

#[path = "middleware_parity/auth.rs"]
mod auth;
#[path = "middleware_parity/limits.rs"]
mod limits;

#[path = "middleware_parity/paths.rs"]
mod paths;

#[path = "middleware_parity/body.rs"]
mod body;
#[path = "middleware_parity/headers.rs"]
mod headers;
#[path = "middleware_parity/resilience.rs"]
mod resilience;
#[path = "middleware_parity/subrequest.rs"]
mod subrequest;
