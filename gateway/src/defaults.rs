//! The configuration the gateway runs with when started with no arguments: an entrypoint on
//! 127.0.0.1:8000 routing to two built-in echo backends, so one command shows a proxied answer.

use control::decode::from_yaml_str;
use control::dynamic_decode::{decode_dynamic, Decoded};
use control::static_config::{LoadedStatic, StaticConfig};

/// The built-in static configuration (Traefik's format).
pub const STATIC_YAML: &str = include_str!("../defaults/traefik.yml");
/// The built-in dynamic configuration (Traefik's format).
pub const DYNAMIC_YAML: &str = include_str!("../defaults/dynamic.yml");
/// The echo backends the built-in configuration routes to: (name, address).
pub const ECHO_BACKENDS: [(&str, &str); 2] = [
    ("whoami-1", "127.0.0.1:8001"),
    ("whoami-2", "127.0.0.1:8002"),
];

/// The built-in static configuration.
pub fn static_config() -> LoadedStatic {
    let tree = from_yaml_str(STATIC_YAML).expect("the built-in static configuration is valid YAML");
    StaticConfig::from_tree(&tree, "built-in traefik.yml")
        .expect("the built-in static configuration is valid")
}

/// The built-in dynamic configuration.
pub fn dynamic_config() -> Decoded {
    let tree =
        from_yaml_str(DYNAMIC_YAML).expect("the built-in dynamic configuration is valid YAML");
    decode_dynamic(&tree, "built-in dynamic.yml")
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_configuration_is_clean() {
        let loaded = super::static_config();
        assert!(loaded.ignored_keys.is_empty());
        assert_eq!(loaded.config.entry_points["web"].address, "127.0.0.1:8000");
        let dynamic = super::dynamic_config();
        assert!(dynamic.errors.is_empty(), "{:?}", dynamic.errors);
    }
}
