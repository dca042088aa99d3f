//! The control plane as a library: Traefik's configuration model and decoders, the rule
//! language, the Consul client and KV mapping, used by the gateway, the sidecar and the `control` CLI.

pub mod consul;
pub mod decode;
pub mod duration;
pub mod dynamic;
pub mod dynamic_decode;
pub mod kv;
pub mod rule;
pub mod static_config;
pub mod validate;
