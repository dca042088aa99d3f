//! The error returned when a rule fails to parse or compile.

use std::fmt;

/// Why a rule was rejected: the rule text, the byte offset of the problem where known, and
/// a message naming the matcher or token involved.
///
/// Displays as `rule "<source>": <message> at position <offset>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {source_text:?}: {message}{}", AtPosition(*.position))]
pub struct RuleError {
    source_text: String,
    position: Option<usize>,
    message: String,
}

impl RuleError {
    /// The rule text that failed.
    pub fn rule(&self) -> &str {
        &self.source_text
    }

    /// Byte offset into the rule where the problem was found, if known.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The message without the rule text or position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Formats ` at position N`, or nothing when the position is unknown.
struct AtPosition(Option<usize>);

impl fmt::Display for AtPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(position) => write!(f, " at position {position}"),
            None => Ok(()),
        }
    }
}

/// An error found while parsing, before the rule text is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) position: Option<usize>,
    pub(crate) message: String,
}

impl ParseError {
    /// An error located at byte offset `position`.
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
        ParseError {
            position: Some(position),
            message: message.into(),
        }
    }

    /// Attaches the rule text.
    pub(crate) fn into_rule_error(self, source: &str) -> RuleError {
        RuleError {
            source_text: source.to_owned(),
            position: self.position,
            message: self.message,
        }
    }
}
