//! Client connections: our Pingora `ServerApp` that every entrypoint's listener feeds (one
//! service on one runtime, Pingora still owning listeners, upgrades and shutdown), the client
//! deadlines and limits, the lean HTTP/1 forward, and the hand-off of every other request to
//! Pingora's `HttpProxy` on the same connection.

mod app;
mod connection;
mod deadlines;
mod lean;

pub use app::{EntryPoint, EntryPointApp, Http1Path};
