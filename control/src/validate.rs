//! Checks a dynamic configuration file the way the gateway reads it: decoding of every object
//! and compilation of every router rule. Used by `control config validate`.

use crate::decode::from_file_text;
use crate::dynamic_decode::{decode_dynamic, ConfigError, Decoded};
use crate::rule::Rule;

/// Decodes `text` (named `origin`; `.toml` is TOML, anything else YAML) and compiles its rules.
/// Returns the decoded configuration and every problem found, each naming its key.
pub fn validate_text(origin: &str, text: &str) -> Result<Decoded, String> {
    let tree = from_file_text(origin, text).map_err(|e| format!("{origin}: {e}"))?;
    let mut decoded = decode_dynamic(&tree, origin);
    let mut rule_errors = Vec::new();
    if let Some(http) = &decoded.config.http {
        for (name, router) in &http.routers {
            let key = format!("http/routers/{name}/rule");
            match router.rule.as_deref() {
                None => rule_errors.push((key, "the router has no rule".to_string())),
                Some(rule) => {
                    if let Err(e) = Rule::parse(rule) {
                        rule_errors.push((key, e.to_string()));
                    }
                }
            }
        }
    }
    decoded
        .errors
        .extend(rule_errors.into_iter().map(|(key, message)| ConfigError {
            origin: origin.to_string(),
            key,
            message,
        }));
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_decode_and_rule_errors_by_key() {
        let decoded = validate_text(
            "dyn.yml",
            "http:\n  routers:\n    ok: {rule: Path(`/`), service: s}\n    bad: {rule: Hots(`a`), service: s}\n    odd: {rule: Path(`/`), colour: red}\n",
        )
        .unwrap();
        let keys: Vec<&str> = decoded.errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["http/routers/odd/colour", "http/routers/bad/rule"]);
        assert!(
            decoded.errors[1].message.contains("Hots"),
            "{}",
            decoded.errors[1]
        );
        assert!(validate_text("dyn.yml", "http: [")
            .unwrap_err()
            .contains("line"));
    }
}
