//! The gateway: a Traefik-compatible edge proxy on Pingora. `main.rs` reads the command line;
//! `server` assembles entrypoints, providers and the config applier; `proxy` is the request
//! path; `runtime` the compiled configuration it reads; `service` how requests reach servers;
//! `http1` the lean HTTP/1 path's wire format.

pub mod api;
pub mod defaults;
pub mod http1;
pub mod lifecycle;
pub mod logging;
pub mod providers;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod service;
pub mod whoami;
