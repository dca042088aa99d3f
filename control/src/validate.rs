//! Checks a dynamic configuration file the way the gateway reads it (every object decoded and
//! checked, rules compiled). Used by `control config validate`.

use crate::decode::from_file_text;
use crate::dynamic_decode::{decode_dynamic, Decoded};

/// Decodes `text` (named `origin`; `.toml` is TOML, anything else YAML). Returns the decoded
/// configuration with every problem found, each naming its key, or the syntax error.
pub fn validate_text(origin: &str, text: &str) -> Result<Decoded, String> {
    let tree = from_file_text(origin, text).map_err(|e| format!("{origin}: {e}"))?;
    Ok(decode_dynamic(&tree, origin))
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
        assert_eq!(keys, ["http/routers/bad/rule", "http/routers/odd/colour"]);
        assert!(
            decoded.errors[0].message.contains("Hots"),
            "{}",
            decoded.errors[0]
        );
        assert!(validate_text("dyn.yml", "http: [")
            .unwrap_err()
            .contains("line"));
    }
}
