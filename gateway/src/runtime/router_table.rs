//! One entrypoint's routers, ordered by priority and indexed by host, so the routers tried for
//! a request are those of its host plus those that can match any host.

use super::service::ServiceHandler;
use control::rule::{HostKey, RequestView, Rule};
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
    /// Where matching requests go.
    pub service: Arc<ServiceHandler>,
    /// The service's qualified name (`api@file`), for logs.
    pub service_name: String,
}

/// Routers of one entrypoint.
///
/// Order: higher priority first; equal priorities by router name (byte order), so the
/// choice between two equally ranked routers is the same on every run and every reload.
#[derive(Debug, Default)]
pub struct RouterTable {
    /// Every route, in match order.
    routes: Vec<Arc<Route>>,
    /// Ranks (indices into `routes`) of routes that can only match these exact hosts.
    by_host: HashMap<String, Vec<usize>>,
    /// Ranks of routes that match one label in front of these suffixes (`*.example.com`).
    by_wildcard: HashMap<String, Vec<usize>>,
    /// Ranks of routes that may match any host.
    any_host: Vec<usize>,
}

impl RouterTable {
    /// Builds the table; `routes` may come in any order.
    pub fn new(mut routes: Vec<Arc<Route>>) -> Self {
        routes.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut table = RouterTable::default();
        for (rank, route) in routes.iter().enumerate() {
            match route.rule.host_keys() {
                None => table.any_host.push(rank),
                Some(keys) => {
                    for key in keys {
                        let (index, host) = match key {
                            HostKey::Exact(host) => (&mut table.by_host, host),
                            HostKey::Wildcard(suffix) => (&mut table.by_wildcard, suffix),
                        };
                        let ranks = index.entry(host).or_default();
                        if ranks.last() != Some(&rank) {
                            ranks.push(rank);
                        }
                    }
                }
            }
        }
        table.routes = routes;
        table
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
        let exact = self
            .by_host
            .get(request.host)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let wildcard = request
            .host
            .split_once('.')
            .and_then(|(_, suffix)| self.by_wildcard.get(suffix))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // Each list is in rank order, so the best match is the best of each list's first match;
        // a later list only needs to look at ranks better than the best found so far.
        let mut best = usize::MAX;
        for ranks in [exact, wildcard, self.any_host.as_slice()] {
            if let Some(&rank) = ranks
                .iter()
                .take_while(|&&rank| rank < best)
                .find(|&&rank| self.routes[rank].rule.matches(request))
            {
                best = rank;
            }
        }
        self.routes.get(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::service::LoadBalancer;
    use http::{HeaderMap, Method};

    fn route(name: &str, rule: &str, priority: Option<i64>) -> Arc<Route> {
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
