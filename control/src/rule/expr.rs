//! The compiled expression tree and its evaluation.

use super::matcher::Matcher;
use super::RequestView;

/// A compiled rule expression. `And`/`Or` chains are flattened into one node each.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Leaf(Matcher),
    Not(Box<Expr>),
    /// True when every operand is true; evaluated left to right, stopping early.
    And(Vec<Expr>),
    /// True when some operand is true; evaluated left to right, stopping early.
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates the expression; no allocation besides what matchers need.
    pub(crate) fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Expr::Leaf(matcher) => matcher.matches(req),
            Expr::Not(inner) => !inner.matches(req),
            Expr::And(operands) => operands.iter().all(|e| e.matches(req)),
            Expr::Or(operands) => operands.iter().any(|e| e.matches(req)),
        }
    }

    /// `left && right`, merging into an existing `And` chain.
    pub(crate) fn and(left: Expr, right: Expr) -> Expr {
        match left {
            Expr::And(mut operands) => {
                operands.push(right);
                Expr::And(operands)
            }
            left => Expr::And(vec![left, right]),
        }
    }

    /// `left || right`, merging into an existing `Or` chain.
    pub(crate) fn or(left: Expr, right: Expr) -> Expr {
        match left {
            Expr::Or(mut operands) => {
                operands.push(right);
                Expr::Or(operands)
            }
            left => Expr::Or(vec![left, right]),
        }
    }
}
