//! Traefik v3 router rules: parse once per configuration, match on every request.
//!
//! A rule such as ``Host(`example.com`) && (PathPrefix(`/api`) || !Method(`GET`))`` is
//! parsed by [`Rule::parse`] into a tree of pre-compiled matchers (regexes compiled, IPs
//! parsed, names lowercased) and evaluated with [`Rule::matches`] against a borrowed
//! [`RequestView`]. [`Rule::index_keys`] tells the gateway which hosts and paths a rule can
//! possibly match so that routers can be indexed by them.
//!
//! Layout: `lexer` (tokens and Go string literals), `parser` (grammar and error messages),
//! `matcher` (the individual matchers), `go_regex` (Go regexp syntax on top of the `regex`
//! crate), `expr` (the compiled tree), `index_keys` and `host_keys` (conditions for the
//! router index), `literals` (what a regexp requires of its text), `normalize` (host and
//! path canonicalisation) and `query` (allocation-free query-string scanning).

mod error;
mod expr;
pub mod go_regex;
mod host_keys;
mod index_keys;
mod lexer;
mod literals;
mod matcher;
mod normalize;
mod parser;
mod query;
#[cfg(test)]
mod tests;

pub use error::RuleError;
pub use host_keys::HostKey;
pub use index_keys::{Field, IndexKey};
pub use normalize::{normalize_host, normalize_path};

use std::net::IpAddr;

/// A compiled router rule.
///
/// Safe to share between threads (regexes are reference counted); [`Rule::matches`] takes no
/// locks of its own and allocates only when it has to decode a percent-encoded query value
/// for a `QueryRegexp` matcher.
#[derive(Debug, Clone)]
pub struct Rule {
    root: expr::Expr,
    /// Computed once at parse time: regexp literal analysis is not free, and the gateway
    /// rebuilds its router index from cached rules on every reload.
    index_keys: Option<Vec<IndexKey>>,
}

impl Rule {
    /// Parses and compiles `source`, Traefik v3 syntax.
    ///
    /// Errors carry the byte offset of the offending token where one is known, and their
    /// `Display` names the rule, e.g.
    /// ``rule "Host(`a`) &&": expected a matcher after "&&" at position 12``.
    pub fn parse(source: &str) -> Result<Rule, RuleError> {
        let root = parser::parse(source).map_err(|e| e.into_rule_error(source))?;
        let index_keys = index_keys::of_expr(&root);
        Ok(Rule { root, index_keys })
    }

    /// Evaluates the rule against a request. The request's host and path must have been
    /// produced by [`normalize_host`] and [`normalize_path`].
    pub fn matches(&self, request: &RequestView<'_>) -> bool {
        self.root.matches(request)
    }

    /// Conditions on the host and path of the requests this rule can match, for the
    /// gateway's router index.
    ///
    /// `Some(keys)` guarantees that [`Rule::matches`] is true only for requests that at least
    /// one key [admits](IndexKey::admits). `Some(&[])` means the rule can never match.
    /// `None` means no such condition is known: no `Host`, `HostRegexp`, `Path`,
    /// `PathPrefix` or `PathRegexp` constrains the rule (a negation, ``Host(`*`)``, or an
    /// `||` with an unconstrained side). A `HostRegexp` or `PathRegexp` gives the exact
    /// texts, prefixes, suffixes or substrings it requires, else the regexp itself. Keys on
    /// the host assume it is normalized as [`RequestView::host`] says (no ASCII uppercase).
    pub fn index_keys(&self) -> Option<&[IndexKey]> {
        self.index_keys.as_deref()
    }

    /// The hosts this rule can match: its [index keys](Rule::index_keys) when they are all
    /// exact hosts or host wildcards.
    ///
    /// `Some(keys)` guarantees that [`Rule::matches`] is true only for requests whose host
    /// equals one of the [`HostKey::Exact`] keys, or is one label (possibly empty, never
    /// containing a dot) followed by `.` and the suffix of a [`HostKey::Wildcard`] key.
    /// `Some(vec![])` means the rule can never match. `None` means the rule may match other
    /// hosts (no `Host` matcher that constrains it, a `HostRegexp` that is not a finite set
    /// of hosts, a negated `Host`, ``Host(`*`)``, or an `||` with a side that is not
    /// constrained by host).
    pub fn host_keys(&self) -> Option<Vec<HostKey>> {
        host_keys::of_index_keys(self.index_keys())
    }
}

/// The request headers rules read (`Header`, `HeaderRegexp`): a `http::HeaderMap`, or the
/// gateway's own parsed request head, so that rules work on either without building a map.
pub trait HeaderValues {
    /// Whether some value of the header `name` (matched case-insensitively) passes `test`,
    /// trying them in the order received.
    fn any_value(&self, name: &http::HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

impl HeaderValues for http::HeaderMap {
    fn any_value(&self, name: &http::HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(name).iter().any(|v| test(v.as_bytes()))
    }
}

/// The parts of a request that rules look at, borrowed from the gateway's request.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// Request host as returned by [`normalize_host`]: the authority of an absolute-form
    /// target if present, else the `Host` header; lowercase, no port, no IPv6 brackets, no
    /// trailing dot.
    pub host: &'a str,
    /// Request method, compared case-sensitively (as Go does).
    pub method: &'a http::Method,
    /// Request path as returned by [`normalize_path`].
    pub path: &'a str,
    /// Raw query string without the leading `?`; may be empty.
    pub query: &'a str,
    /// Request headers as received.
    pub headers: &'a dyn HeaderValues,
    /// Address of the socket peer (never taken from `X-Forwarded-For`), if known.
    pub client_ip: Option<IpAddr>,
}
