//! One entrypoint's routers, ordered by priority and indexed by host and path, so the routers
//! tried for a request are those whose rule's index keys it meets.

use super::router_index::{file, lower_to_first_match, Ranks, RouterIndex, RouterIndexBuilder};
use super::service::ServiceHandler;
use crate::middleware::Chain;
use control::rule::{Field, IndexKey, RequestView, Rule};
use std::collections::HashMap;
use std::sync::Arc;

/// A compiled router.
#[derive(Debug)]
pub struct Route {
    /// Qualified name (`api@file`).
    pub name: String,
    /// The compiled rule (shared with the rule cache).
    pub rule: Arc<Rule>,
    /// Explicit priority, or the rule's length.
    pub priority: i64,
    /// The middlewares requests go through (entrypoint's, then the router's).
    pub chain: Chain,
    /// Where matching requests go.
    pub service: Arc<ServiceHandler>,
    /// The service's qualified name (`api@file`), for logs.
    pub service_name: String,
    /// Whether the lean HTTP/1 path serves this router's requests (decided when compiled:
    /// every server of its service is a plain `http://` address, and it has no middleware the
    /// lean path lacks); otherwise they go through Pingora's `HttpProxy`.
    pub lean: bool,
}

/// Routers of one entrypoint.
///
/// Order: higher priority first; equal priorities by router name (byte order), so the
/// choice between two equally ranked routers is the same on every run and every reload.
///
/// Each route is filed under every key of its rule ([`Rule::index_keys`], a disjunction of
/// conditions a matching request meets), so the best-ranked match is the best of the first
/// matches of the lists a request's host and path select; a route whose rule has no key is
/// tried for every request.
#[derive(Debug, Default)]
pub struct RouterTable {
    /// Every route, in match order.
    routes: Vec<Arc<Route>>,
    /// Ranks (indices into `routes`) of routes that can match these exact hosts: from `Host`
    /// and from `HostRegexp`s that stand for a finite set of hosts.
    by_host: HashMap<Arc<str>, Ranks>,
    /// Ranks of routes that match one label in front of these suffixes (`*.example.com`).
    by_wildcard: HashMap<Arc<str>, Ranks>,
    /// Routes whose rules may match other hosts, by their other keys.
    any_host: RouterIndex,
}

impl RouterTable {
    /// Builds the table; `routes` may come in any order.
    pub fn new(mut routes: Vec<Arc<Route>>) -> Self {
        routes.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        // Sized up front: growing a map of tens of thousands of hosts rehashes each one
        // several times over.
        let exact_hosts = routes
            .iter()
            .flat_map(|route| route.rule.index_keys().unwrap_or(&[]))
            .filter(|key| matches!(key, IndexKey::Exact(Field::Host, _)))
            .count();
        let mut by_host = HashMap::with_capacity(exact_hosts);
        let mut by_wildcard = HashMap::new();
        let mut any_host = RouterIndexBuilder::default();
        for (rank, route) in routes.iter().enumerate() {
            let Some(keys) = route.rule.index_keys() else {
                any_host.unindexed(rank);
                continue;
            };
            for key in keys {
                match key {
                    IndexKey::Exact(Field::Host, host) => file(&mut by_host, host.clone(), rank),
                    IndexKey::HostWildcard(suffix) => file(&mut by_wildcard, suffix.clone(), rank),
                    IndexKey::Exact(Field::Path, path) => any_host.exact_path(rank, path),
                    IndexKey::Prefix(field, prefix) => any_host.prefix(rank, *field, prefix),
                    IndexKey::Suffix(field, suffix) => any_host.suffix(rank, *field, suffix),
                    IndexKey::Contains(field, text) => any_host.substring(rank, *field, text),
                    IndexKey::Regex(field, pattern) => any_host.regex(rank, *field, pattern),
                }
            }
        }
        RouterTable {
            routes,
            by_host,
            by_wildcard,
            any_host: any_host.build(),
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The highest-ranked route matching the request, if any.
    pub fn find(&self, request: &RequestView<'_>) -> Option<&Arc<Route>> {
        let exact = self.by_host.get(request.host);
        let wildcard = request
            .host
            .split_once('.')
            .and_then(|(_, suffix)| self.by_wildcard.get(suffix));
        // Each list is in rank order, so the best match is the best of each list's first match;
        // a later list only needs to look at ranks better than the best found so far.
        let mut best = usize::MAX;
        for ranks in [exact, wildcard].into_iter().flatten() {
            lower_to_first_match(&self.routes, ranks.as_slice(), request, &mut best);
        }
        self.any_host.find(&self.routes, request, &mut best);
        self.routes.get(best)
    }
}

#[cfg(test)]
mod brute_force_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::service::LoadBalancer;
    use http::{HeaderMap, Method};

    pub(super) fn route(name: &str, rule: &str, priority: Option<i64>) -> Arc<Route> {
        Arc::new(Route {
            name: name.into(),
            rule: Arc::new(Rule::parse(rule).unwrap()),
            priority: priority.unwrap_or(rule.len() as i64),
            service: Arc::new(ServiceHandler::LoadBalancer(LoadBalancer {
                servers: vec![],
                schedule: None,
                pass_host_header: true,
            })),
            service_name: "s@file".into(),
            lean: false,
            chain: Chain::default(),
        })
    }

    fn find<'a>(table: &'a RouterTable, host: &str, path: &str) -> Option<&'a str> {
        let headers = HeaderMap::new();
        let request = RequestView {
            host,
            method: &Method::GET,
            path,
            query: "",
            headers: &headers,
            client_ip: None,
        };
        table.find(&request).map(|r| r.name.as_str())
    }

    #[test]
    fn priority_then_name() {
        let table = RouterTable::new(vec![
            route("short", "PathPrefix(`/`)", None),
            route("longer", "PathPrefix(`/api`)", None),
            route("b-explicit", "PathPrefix(`/`)", Some(100)),
            route("a-explicit", "PathPrefix(`/`)", Some(100)),
        ]);
        assert_eq!(
            find(&table, "x", "/api"),
            Some("a-explicit"),
            "equal priority: name order"
        );
        let table = RouterTable::new(vec![
            route("short", "PathPrefix(`/`)", None),
            route("longer", "PathPrefix(`/api`)", None),
        ]);
        assert_eq!(
            find(&table, "x", "/api/v1"),
            Some("longer"),
            "longer rule wins"
        );
        assert_eq!(find(&table, "x", "/other"), Some("short"));
    }

    #[test]
    fn host_index_and_catch_all_respect_rank() {
        let table = RouterTable::new(vec![
            route("host", "Host(`a.example.com`)", None),
            route(
                "host-path",
                "Host(`a.example.com`) && PathPrefix(`/x`)",
                None,
            ),
            route("wild", "Host(`*.example.com`)", Some(1000)),
            route("catch", "PathPrefix(`/`)", Some(1)),
            route("important", "PathPrefix(`/vip`)", Some(5000)),
        ]);
        assert_eq!(
            find(&table, "a.example.com", "/vip"),
            Some("important"),
            "catch-all of higher rank wins"
        );
        assert_eq!(find(&table, "a.example.com", "/x"), Some("wild"));
        assert_eq!(find(&table, "b.example.com", "/"), Some("wild"));
        assert_eq!(find(&table, "other.org", "/"), Some("catch"));
        let table = RouterTable::new(vec![
            route("host", "Host(`a.example.com`)", None),
            route(
                "host-path",
                "Host(`a.example.com`) && PathPrefix(`/x`)",
                None,
            ),
        ]);
        assert_eq!(find(&table, "a.example.com", "/x"), Some("host-path"));
        assert_eq!(find(&table, "a.example.com", "/"), Some("host"));
        assert_eq!(find(&table, "b.example.com", "/"), None);
    }

    #[test]
    fn routers_of_other_hosts_are_not_tried() {
        let mut routes: Vec<_> = (0..1000)
            .map(|i| route(&format!("r{i}"), &format!("Host(`h{i}.test`)"), None))
            .collect();
        routes.push(route("any", "Path(`/only`)", None));
        let table = RouterTable::new(routes);
        assert_eq!(table.by_host["h7.test"].len(), 1);
        assert_eq!(table.any_host.len(), 1);
        assert_eq!(find(&table, "h7.test", "/"), Some("r7"));
        assert_eq!(
            find(&table, "h7.test", "/only"),
            Some("r7"),
            "Host(`h7.test`) is the longer rule"
        );
        assert_eq!(find(&table, "elsewhere.test", "/only"), Some("any"));
    }
}
