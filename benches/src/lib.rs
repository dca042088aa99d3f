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
}

/// The rule of router `i` in `set`.
pub fn rule(set: RouterSet, i: usize) -> String {
    match set {
        RouterSet::HostIndexed => format!("Host(`r{i}.example.com`) && PathPrefix(`/api`)"),
        RouterSet::RegexpHeavy => {
            format!("HostRegexp(`^r{i}\\.example\\.(com|org)$`) && PathRegexp(`^/api/v[0-9]+/`)")
        }
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
