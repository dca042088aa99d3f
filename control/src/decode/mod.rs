//! Decoding configuration the way Traefik does: any source into a [`Node`] tree, then the tree
//! into typed structs with case-insensitive names and errors that carry the key path.

mod de;
mod node;

pub use de::{parse_go_bool, DecodeError};
pub use node::{from_file_text, from_toml_str, from_yaml_str, line_of_key, Node};

use de::{NodeDeserializer, Unknown};
use serde::de::DeserializeOwned;

/// Decodes `node` into `T`; an unknown field is an error. `path` is the node's key path,
/// used as the prefix of error paths (`http/routers/api`).
pub fn decode<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, DecodeError> {
    let unknown = Unknown::strict();
    T::deserialize(NodeDeserializer::new(node, path.to_string(), &unknown))
}

/// Decodes `node` into `T`, skipping unknown fields; returns their key paths beside the result.
pub fn decode_lenient<T: DeserializeOwned>(
    node: &Node,
    path: &str,
) -> (Result<T, DecodeError>, Vec<String>) {
    let unknown = Unknown::lenient();
    let result = T::deserialize(NodeDeserializer::new(node, path.to_string(), &unknown));
    (result, unknown.into_skipped())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::GoDuration;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Server {
        url: String,
        weight: Option<i64>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Empty {}

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
    struct Sample {
        entry_points: Vec<String>,
        servers: Vec<Server>,
        pass_host_header: Option<bool>,
        ratio: Option<f64>,
        timeout: Option<GoDuration>,
        headers: BTreeMap<String, String>,
        tls: Option<Empty>,
    }

    fn yaml(text: &str) -> Node {
        from_yaml_str(text).unwrap()
    }

    #[test]
    fn field_names_ignore_case_and_scalars_are_parsed() {
        let node = yaml(
            "ENTRYPOINTS: [web]\nServers:\n  - URL: http://a\n    Weight: '3'\npasshostheader: 'false'\nratio: 0.5\ntimeout: 1m\nheaders:\n  X-Foo: bar\n",
        );
        let sample: Sample = decode(&node, "").unwrap();
        assert_eq!(sample.entry_points, ["web"]);
        assert_eq!(
            sample.servers,
            [Server {
                url: "http://a".into(),
                weight: Some(3)
            }]
        );
        assert_eq!(sample.pass_host_header, Some(false));
        assert_eq!(sample.ratio, Some(0.5));
        assert_eq!(sample.timeout, Some(GoDuration::from_secs(60)));
        assert_eq!(sample.headers["X-Foo"], "bar", "map keys keep their case");
        assert_eq!(sample.tls, None);
    }

    #[test]
    fn comma_joined_values_are_lists() {
        let sample: Sample =
            decode(&yaml("entryPoints: 'web, websecure'\nservers: []\n"), "").unwrap();
        assert_eq!(sample.entry_points, ["web", "websecure"]);
    }

    #[test]
    fn numbered_maps_are_lists_in_key_order() {
        let mut node = Node::empty_map();
        for (index, name) in [("2", "c"), ("10", "b"), ("0", "a")] {
            node.set_path(&["entryPoints", index], Node::Scalar(name.into()));
        }
        node.set_path(&["servers", "0", "url"], Node::Scalar("http://x".into()));
        let sample: Sample = decode(&node, "").unwrap();
        assert_eq!(
            sample.entry_points,
            ["a", "b", "c"],
            "lexicographic: 0, 10, 2"
        );
        assert_eq!(sample.servers[0].url, "http://x");
    }

    #[test]
    fn allow_empty_objects() {
        for value in ["tls: true", "tls: ''", "tls:", "tls: {}"] {
            let sample: Sample = decode(&yaml(value), "").unwrap();
            assert_eq!(sample.tls, Some(Empty {}), "{value}");
        }
        let err = decode::<Sample>(&yaml("tls: nope"), "").unwrap_err();
        assert_eq!(err.path, "tls");
    }

    #[test]
    fn go_booleans() {
        for (text, expected) in [
            ("1", true),
            ("T", true),
            ("TRUE", true),
            ("0", false),
            ("F", false),
        ] {
            let sample: Sample = decode(&yaml(&format!("passHostHeader: '{text}'")), "").unwrap();
            assert_eq!(sample.pass_host_header, Some(expected), "{text}");
        }
        let err = decode::<Sample>(&yaml("passHostHeader: yes please"), "svc").unwrap_err();
        assert_eq!(err.path, "svc/passHostHeader");
        assert!(err.message.contains("invalid boolean"), "{err}");
    }

    #[test]
    fn errors_carry_the_full_path() {
        let err = decode::<Sample>(
            &yaml("servers:\n  - url: a\n    weight: heavy\n"),
            "http/services/s",
        )
        .unwrap_err();
        assert_eq!(err.path, "http/services/s/servers/0/weight");
        assert!(err.message.contains("invalid integer \"heavy\""), "{err}");

        let err =
            decode::<Sample>(&yaml("servers:\n  - url: a\n    colour: red\n"), "x").unwrap_err();
        assert_eq!(err.path, "x/servers/0/colour");
        assert!(err.message.contains("unknown field `colour`"), "{err}");

        let err = decode::<Sample>(&yaml("servers:\n  - weight: 1\n"), "x").unwrap_err();
        assert_eq!(err.path, "x/servers/0");
        assert!(err.message.contains("missing field `url`"), "{err}");

        let err = decode::<Sample>(&yaml("timeout: 5 minutes"), "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x/timeout: invalid duration \"5 minutes\": unknown unit (use ns, us, ms, s, m or h)"
        );

        let err = decode::<Sample>(&yaml("entryPoints: {a: [1]}"), "").unwrap_err();
        assert_eq!(err.path, "entryPoints/a");
    }

    #[test]
    fn lenient_decoding_reports_unknown_fields() {
        let (sample, skipped) = decode_lenient::<Sample>(
            &yaml("entryPoints: [a]\nmetrics: {x: 1}\nservers: [{url: u, extra: 1}]\n"),
            "",
        );
        assert_eq!(sample.unwrap().entry_points, ["a"]);
        assert_eq!(skipped, ["metrics", "servers/0/extra"]);
    }
}
