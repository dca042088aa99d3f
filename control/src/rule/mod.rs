//! Traefik v3 router rules: parse once per configuration, match on every request.
//!
//! A rule such as ``Host(`example.com`) && (PathPrefix(`/api`) || !Method(`GET`))`` is
//! parsed by [`Rule::parse`] into a tree of pre-compiled matchers (regexes compiled, IPs
//! parsed, names lowercased) and evaluated with [`Rule::matches`] against a borrowed
//! [`RequestView`]. [`Rule::host_keys`] tells the gateway which hosts a rule can possibly
//! match so that routers can be indexed by host.
//!
//! Layout: `lexer` (tokens and Go string literals), `parser` (grammar and error messages),
//! `matcher` (the individual matchers), `go_regex` (Go regexp syntax on top of the `regex`
//! crate), `expr` (the compiled tree), `host_keys`, `normalize` (host and path
//! canonicalisation) and `query` (allocation-free query-string scanning).

mod error;
mod expr;
mod go_regex;
mod host_keys;
mod lexer;
mod matcher;
mod normalize;
mod parser;
mod query;
#[cfg(test)]
mod tests;

pub use error::RuleError;
pub use host_keys::HostKey;
pub use normalize::{normalize_host, normalize_path};

use std::net::IpAddr;

/// A compiled router rule.
///
/// Cheap to clone (regexes are reference counted) and safe to share between threads;
/// [`Rule::matches`] takes no locks of its own and allocates only when it has to decode a
/// percent-encoded query value for a `QueryRegexp` matcher.
#[derive(Debug, Clone)]
pub struct Rule {
    root: expr::Expr,
}

impl Rule {
    /// Parses and compiles `source`, Traefik v3 syntax.
    ///
    /// Errors carry the byte offset of the offending token where one is known, and their
    /// `Display` names the rule, e.g.
    /// ``rule "Host(`a`) &&": expected a matcher after "&&" at position 12``.
    pub fn parse(source: &str) -> Result<Rule, RuleError> {
        let root = parser::parse(source).map_err(|e| e.into_rule_error(source))?;
        Ok(Rule { root })
    }

    /// Evaluates the rule against a request. The request's host and path must have been
    /// produced by [`normalize_host`] and [`normalize_path`].
    pub fn matches(&self, request: &RequestView<'_>) -> bool {
        self.root.matches(request)
    }

    /// The hosts this rule can match, for the gateway's host index.
    ///
    /// `Some(keys)` guarantees that [`Rule::matches`] is true only for requests whose host
    /// equals one of the [`HostKey::Exact`] keys, or is one label (possibly empty, never
    /// containing a dot) followed by `.` and the suffix of a [`HostKey::Wildcard`] key.
    /// `Some(vec![])` means the rule can never match. `None` means the rule may match any
    /// host (no `Host` matcher that constrains it, `HostRegexp`, a negated `Host`,
    /// ``Host(`*`)``, or an `||` with an unconstrained side).
    pub fn host_keys(&self) -> Option<Vec<HostKey>> {
        host_keys::of_expr(&self.root)
    }
}

/// The parts of a request that rules look at, borrowed from the gateway's request.
#[derive(Debug, Clone, Copy)]
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
    pub headers: &'a http::HeaderMap,
    /// Address of the socket peer (never taken from `X-Forwarded-For`), if known.
    pub client_ip: Option<IpAddr>,
}
