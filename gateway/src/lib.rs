//! The gateway: a Traefik-compatible edge proxy on Pingora. `main.rs` reads the command line;
//! `server` assembles entrypoints, providers and the config applier; `entrypoint` owns client
//! connections (deadlines, the lean HTTP/1 path, the hand-off to Pingora); `http1` is the lean
//! path's wire format; `proxy` the request path's policy and Pingora's `ProxyHttp`; `runtime`
//! the compiled configuration it reads; `service` how requests reach servers.

#[cfg(test)]
mod allocation_count;
pub mod api;
pub mod defaults;
pub mod entrypoint;
pub mod http1;
pub mod lifecycle;
pub mod logging;
pub mod middleware;
pub mod providers;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod service;
pub mod whoami;
