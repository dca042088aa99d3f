//! Compiled rules kept from one configuration to the next, so a reload compiles only the
//! rules it has not seen (regexes included).

use control::rule::{Rule, RuleError};
use std::collections::HashMap;
use std::sync::Arc;

/// Rules by source text, each with the round it was last asked for.
#[derive(Debug, Default)]
pub struct RuleCache {
    rules: HashMap<String, (Arc<Rule>, u64)>,
    round: u64,
}

impl RuleCache {
    /// The compiled rule for `source`, compiling it if it is new.
    pub fn get(&mut self, source: &str) -> Result<Arc<Rule>, RuleError> {
        if let Some((rule, round)) = self.rules.get_mut(source) {
            *round = self.round;
            return Ok(rule.clone());
        }
        let rule = Arc::new(Rule::parse(source)?);
        self.rules
            .insert(source.to_string(), (rule.clone(), self.round));
        Ok(rule)
    }

    /// Forgets the rules not asked for since the last call (rules of removed routers).
    pub fn forget_unused(&mut self) {
        let round = self.round;
        self.rules.retain(|_, (_, last)| *last == round);
        self.round += 1;
    }

    /// Number of rules kept.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is kept.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_shared_and_forgotten_when_unused() {
        let mut cache = RuleCache::default();
        let first = cache.get("Path(`/a`)").unwrap();
        let again = cache.get("Path(`/a`)").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        cache.get("Path(`/b`)").unwrap();
        assert!(cache.get("Nope(`x`)").is_err());
        cache.forget_unused();
        assert_eq!(cache.len(), 2);
        cache.get("Path(`/b`)").unwrap();
        cache.forget_unused();
        assert_eq!(
            cache.len(),
            1,
            "Path(`/a`) was not used by the last configuration"
        );
    }
}
