//! How requests reach their servers (a `serversTransport` on Pingora): host names resolved when
//! a connection is made, the idle connections kept per server, and the response-header deadline.

pub mod connection;
pub mod dial;
pub mod header_deadline;
pub mod idle_pool;
pub mod resolver;
