//! The control plane as a library: Traefik's configuration model and decoders, the rule
//! language, and (later) the Consul client, used by the gateway, the sidecar and the `control` CLI.

pub mod decode;
pub mod duration;
pub mod dynamic;
pub mod dynamic_decode;
pub mod rule;
pub mod static_config;
pub mod validate;
