//! Generated configurations shared by the criterion benchmarks (`cargo bench -p benches`).

use control::consul::KvPair;
use control::decode::from_yaml_str;
use control::dynamic_decode::{decode_dynamic, Decoded};

/// What the routers of a generated configuration match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterSet {
    /// `Host(`rN.example.com`) && PathPrefix(`/api`)`: the host index finds candidates.
    HostIndexed,
    /// `HostRegexp(...) && PathRegexp(...)`: every router may match any host.
    RegexpHeavy,
    /// `PathPrefix(`/svcN/`)` without a host: every router may match any host.
    PathOnly,
    /// `HostRegexp(`^[a-z]{A}[0-9]{B}$`)`, distinct for each router: regexps that require
    /// no literal text, so no prefix, suffix or substring can index them.
    RegexpNoLiteral,
}

/// The rule of router `i` in `set`.
pub fn rule(set: RouterSet, i: usize) -> String {
    match set {
        RouterSet::HostIndexed => format!("Host(`r{i}.example.com`) && PathPrefix(`/api`)"),
        RouterSet::RegexpHeavy => {
            format!("HostRegexp(`^r{i}\\.example\\.(com|org)$`) && PathRegexp(`^/api/v[0-9]+/`)")
        }
        RouterSet::PathOnly => format!("PathPrefix(`/svc{i}/`)"),
        RouterSet::RegexpNoLiteral => {
            let (letters, digits) = no_literal_shape(i);
            format!("HostRegexp(`^[a-z]{{{letters}}}[0-9]{{{digits}}}$`)")
        }
    }
}

/// Letters and digits in the hosts of router `i` (below 10 000) of
/// [`RouterSet::RegexpNoLiteral`]. They shrink as `i` grows, so that the last router has the
/// shortest rule and the greatest name among its equals: it is tried last.
fn no_literal_shape(i: usize) -> (usize, usize) {
    assert!(i < 10_000, "at most 10 000 routers");
    (109 - i / 100, 109 - i % 100)
}

/// A request (host, path) that router `i` of `set` matches and no router after it in that
/// set does.
pub fn request(set: RouterSet, i: usize) -> (String, String) {
    match set {
        RouterSet::HostIndexed | RouterSet::RegexpHeavy => {
            (format!("r{i}.example.com"), "/api/v1/users".into())
        }
        RouterSet::PathOnly => ("www.example.com".into(), format!("/svc{i}/users")),
        RouterSet::RegexpNoLiteral => {
            let (letters, digits) = no_literal_shape(i);
            ("a".repeat(letters) + &"1".repeat(digits), "/".into())
        }
    }
}

/// A request (host, path) that no router of `set` matches: what a 404 costs.
pub fn missing_request(set: RouterSet) -> (String, String) {
    match set {
        RouterSet::HostIndexed | RouterSet::RegexpHeavy => {
            ("nothing.example.net".into(), "/api/v1/users".into())
        }
        RouterSet::PathOnly => ("www.example.com".into(), "/nothing/here".into()),
        RouterSet::RegexpNoLiteral => ("nothing.example.net".into(), "/".into()),
    }
}

/// A dynamic configuration of `routers` routers over 100 services, decoded.
pub fn configuration(set: RouterSet, routers: usize) -> Decoded {
    let mut yaml = String::from("http:\n  routers:\n");
    for i in 0..routers {
        yaml.push_str(&format!(
            "    r{i}:\n      rule: \"{}\"\n      service: s{}\n",
            rule(set, i).replace('\\', "\\\\"),
            i % 100
        ));
    }
    yaml.push_str("  services:\n");
    for i in 0..100 {
        yaml.push_str(&format!(
            "    s{i}:\n      loadBalancer:\n        servers: [{{url: 'http://127.0.0.1:{}'}}]\n",
            9000 + i
        ));
    }
    let decoded = decode_dynamic(&from_yaml_str(&yaml).expect("valid YAML"), "bench");
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    decoded
}

/// The Consul KV listing of `routers` host-indexed routers over 100 services, in key order.
pub fn kv_listing(routers: usize) -> Vec<KvPair> {
    let pair = |key: String, value: String| KvPair::new(&key, &value, 7);
    let mut pairs = Vec::with_capacity(routers * 2 + 100);
    for i in 0..routers {
        pairs.push(pair(
            format!("traefik/http/routers/r{i}/rule"),
            rule(RouterSet::HostIndexed, i),
        ));
        pairs.push(pair(
            format!("traefik/http/routers/r{i}/service"),
            format!("s{}", i % 100),
        ));
    }
    for i in 0..100 {
        pairs.push(pair(
            format!("traefik/http/services/s{i}/loadBalancer/servers/0/url"),
            format!("http://127.0.0.1:{}", 9000 + i),
        ));
    }
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    pairs
}
