//! The indexed `find()` against a brute-force scan in rank order, over generated rule sets:
//! the index may only skip routers that cannot match, never change which one wins.

use super::tests::route;
use super::*;
use control::rule::{normalize_host, normalize_path};
use http::{HeaderMap, HeaderValue, Method};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const LABELS: [&str; 5] = ["a", "b", "api", "x-1", "www"];
const DOMAINS: [&str; 3] = ["example.com", "example.org", "test"];

/// A label in random letter case (hosts are case-insensitive, paths are not).
fn any_case(rng: &mut Rng, text: &str) -> String {
    text.chars()
        .map(|c| match rng.below(3) {
            0 => c.to_ascii_uppercase(),
            _ => c,
        })
        .collect()
}

fn host_matcher(rng: &mut Rng) -> String {
    let label = rng.pick(&LABELS);
    let domain = rng.pick(&DOMAINS);
    let escaped = domain.replace('.', r"\.");
    match rng.below(16) {
        0 => format!("Host(`{}.{}`)", any_case(rng, label), any_case(rng, domain)),
        1 => format!("Host(`{label}.{domain}.`)"),
        2 => format!("Host(`*.{domain}`)"),
        3 => "Host(`*`)".to_owned(),
        4 => format!(r"HostRegexp(`^{label}\.{escaped}$`)"),
        5 => format!(r"HostRegexp(`^{label}\.example\.(com|org)$`)"),
        6 => format!(r"HostRegexp(`(?i)^{}\.{escaped}$`)", label.to_uppercase()),
        7 => format!(r"HostRegexp(`^{}\.{escaped}$`)", label.to_uppercase()),
        8 => format!(r"HostRegexp(`^[a-z0-9-]+\.{escaped}$`)"),
        9 => format!(r"HostRegexp(`^{label}\.`)"),
        10 => format!("HostRegexp(`{label}`)"),
        11 => format!(r"HostRegexp(`^[a-z0-9-]{{1,{}}}$`)", rng.below(60) + 1),
        12 => r"HostRegexp(`^.*$`)".to_owned(),
        13 => format!(r"HostRegexp(`(?m)^{label}`)"),
        14 => r"HostRegexp(`\.(com|net)$`)".to_owned(),
        _ => format!(r"HostRegexp(`^(?:{label}|www)\.{escaped}$`)"),
    }
}

fn path_matcher(rng: &mut Rng) -> String {
    let path = rng.pick(&["/", "/api", "/api/v1", "/static/x.png", "/API", "/a"]);
    match rng.below(10) {
        0 | 1 => format!("Path(`{path}`)"),
        2..=4 => format!("PathPrefix(`{path}`)"),
        5 => r"PathRegexp(`^/api/v[0-9]+/`)".to_owned(),
        6 => r"PathRegexp(`\.png$`)".to_owned(),
        7 => "PathRegexp(`/v1`)".to_owned(),
        8 => format!("PathRegexp(`^/[a-z]{{{},}}$`)", rng.below(60)),
        _ => "PathRegexp(`(?i)^/API`)".to_owned(),
    }
}

fn other_matcher(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => "Method(`POST`)".to_owned(),
        1 => "Header(`X-A`, `1`)".to_owned(),
        _ => "Query(`q`, `1`)".to_owned(),
    }
}

fn rule(rng: &mut Rng, depth: u32) -> String {
    let leaf = |rng: &mut Rng| match rng.below(8) {
        0..=3 => host_matcher(rng),
        4..=6 => path_matcher(rng),
        _ => other_matcher(rng),
    };
    if depth >= 2 {
        return leaf(rng);
    }
    match rng.below(10) {
        0..=3 => leaf(rng),
        4..=6 => format!("{} && {}", rule(rng, depth + 1), rule(rng, depth + 1)),
        7 | 8 => format!("({} || {})", rule(rng, depth + 1), rule(rng, depth + 1)),
        _ => format!("!({})", rule(rng, depth + 1)),
    }
}

/// Routes with few distinct priorities (ties broken by name) in shuffled order. In large
/// sets, many rules also carry a regexp that requires no literal, so that regexp sets are
/// built.
fn routes(rng: &mut Rng, count: usize) -> Vec<Arc<Route>> {
    (0..count)
        .map(|i| {
            let mut source = rule(rng, 0);
            if count > 100 {
                let k = rng.below(80) + 1;
                source = match rng.below(3) {
                    0 => format!("({source}) || PathRegexp(`^/[a-z]{{{k},}}$`)"),
                    1 => format!("HostRegexp(`^[a-z0-9-]{{1,{k}}}$`) && ({source})"),
                    _ => source,
                };
            }
            let priority = [None, Some(1), Some(50), Some(50), Some(7)][rng.below(5)];
            route(&format!("r{}", (i * 7919) % count), &source, priority)
        })
        .collect()
}

struct Request {
    host: String,
    path: String,
    method: Method,
    headers: HeaderMap,
    query: &'static str,
}

fn requests() -> Vec<Request> {
    let hosts = [
        "a.example.com",
        "A.Example.COM.",
        "api.example.org:8080",
        "www.test",
        "x-1.example.com",
        "b.b.example.com",
        ".example.com",
        "example.com",
        "a.example.net",
        "localhost",
        "api",
        "",
    ];
    let paths = [
        "/",
        "/api",
        "/api/v1/users",
        "/static/x.png",
        "/API/x",
        "/a",
        "/zz",
    ];
    let mut all = Vec::new();
    for host in hosts {
        for path in paths {
            for variant in 0..3 {
                let mut headers = HeaderMap::new();
                if variant == 1 {
                    headers.insert("x-a", HeaderValue::from_static("1"));
                }
                all.push(Request {
                    host: normalize_host(host).into_owned(),
                    path: normalize_path(path).into_owned(),
                    method: if variant == 2 {
                        Method::POST
                    } else {
                        Method::GET
                    },
                    headers,
                    query: if variant == 2 { "q=1" } else { "" },
                });
            }
        }
    }
    all
}

/// Routes in Traefik's order: priority, then name.
fn ordered(routes: &[Arc<Route>]) -> Vec<&Arc<Route>> {
    let mut ordered: Vec<&Arc<Route>> = routes.iter().collect();
    ordered.sort_by(|a, b| (-a.priority, &a.name).cmp(&(-b.priority, &b.name)));
    ordered
}

/// The first matching route, found by trying every route in order.
fn brute_force<'a>(ordered: &[&'a Arc<Route>], request: &RequestView<'_>) -> Option<&'a str> {
    ordered
        .iter()
        .find(|route| route.rule.matches(request))
        .map(|route| route.name.as_str())
}

#[test]
fn indexed_find_agrees_with_brute_force() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let requests = requests();
    let (mut found, mut missed, mut kinds) = (0, 0, std::collections::HashSet::new());
    let mut with_regex_sets = 0;
    for round in 0..150 {
        let routes = routes(&mut rng, [1, 3, 10, 40, 250][round % 5]);
        let order = ordered(&routes);
        for route in &routes {
            for key in route.rule.index_keys().unwrap_or(&[]) {
                kinds.insert(std::mem::discriminant(key));
            }
        }
        let table = RouterTable::new(routes.clone());
        with_regex_sets += usize::from(table.any_host.regex_sets() > 0);
        for request in &requests {
            let view = RequestView {
                host: &request.host,
                method: &request.method,
                path: &request.path,
                query: request.query,
                headers: &request.headers,
                client_ip: None,
            };
            let expected = brute_force(&order, &view);
            let got = table.find(&view).map(|route| route.name.as_str());
            if got != expected {
                let rules: Vec<String> = routes
                    .iter()
                    .map(|r| format!("{} ({}): {:?}", r.name, r.priority, r.rule))
                    .collect();
                panic!(
                    "host {:?} path {:?}: index found {got:?}, brute force {expected:?}\n{}",
                    request.host,
                    request.path,
                    rules.join("\n")
                );
            }
            match got {
                Some(_) => found += 1,
                None => missed += 1,
            }
        }
    }
    assert!(
        found > 5_000 && missed > 5_000,
        "found {found}, missed {missed}"
    );
    assert_eq!(kinds.len(), 6, "every kind of index key was generated");
    assert!(
        with_regex_sets >= 20,
        "{with_regex_sets} tables with regexp sets"
    );
}

#[test]
fn regexp_and_path_routers_are_keyed() {
    let mut routes: Vec<_> = (0..200)
        .map(|i| {
            route(
                &format!("re{i}"),
                &format!(
                    r"HostRegexp(`^r{i}\.example\.(com|org)$`) && PathRegexp(`^/api/v[0-9]+/`)"
                ),
                None,
            )
        })
        .collect();
    routes.extend(
        (0..200).map(|i| route(&format!("p{i}"), &format!("PathPrefix(`/svc{i}/`)"), None)),
    );
    routes.push(route(
        "broad",
        r"HostRegexp(`^[a-z]+$`) && Method(`POST`)",
        None,
    ));
    let table = RouterTable::new(routes);
    assert_eq!(table.by_host.len(), 400, "two exact hosts per HostRegexp");
    assert_eq!(table.by_host["r7.example.org"].len(), 1);
    assert_eq!(
        table.any_host.len(),
        201,
        "path prefixes and the regexp set"
    );
    let headers = HeaderMap::new();
    let find = |host: &str, path: &str, method: &Method| {
        let view = RequestView {
            host,
            method,
            path,
            query: "",
            headers: &headers,
            client_ip: None,
        };
        table.find(&view).map(|route| route.name.clone())
    };
    assert_eq!(
        find("r7.example.org", "/api/v2/x", &Method::GET).as_deref(),
        Some("re7")
    );
    assert_eq!(
        find("r7.example.org", "/svc7/x", &Method::GET).as_deref(),
        Some("p7")
    );
    assert_eq!(
        find("r7.example.net", "/svc17/", &Method::GET).as_deref(),
        Some("p17")
    );
    assert_eq!(
        find("nothing", "/", &Method::POST).as_deref(),
        Some("broad")
    );
    assert_eq!(find("nothing", "/", &Method::GET), None);
}

#[test]
fn regexp_sets_of_several_chunks_keep_rank_order() {
    let mut rng = Rng(42);
    let routes: Vec<_> = (0..300)
        .map(|i| {
            let method = ["GET", "POST"][rng.below(2)];
            let rule = format!(
                "HostRegexp(`^[a-z]{{1,{}}}[0-9]*$`) && Method(`{method}`)",
                i + 1
            );
            route(&format!("r{i}"), &rule, Some([1, 2, 3][rng.below(3)]))
        })
        .collect();
    assert!(routes.iter().all(|route| matches!(
        route.rule.index_keys(),
        Some([IndexKey::Regex(Field::Host, _)])
    )));
    let table = RouterTable::new(routes.clone());
    let headers = HeaderMap::new();
    let mut found = 0;
    for letters in [1, 5, 64, 130, 200, 299, 300, 301] {
        for method in [Method::GET, Method::POST] {
            let host = "q".repeat(letters) + "42";
            let view = RequestView {
                host: &host,
                method: &method,
                path: "/",
                query: "",
                headers: &headers,
                client_ip: None,
            };
            let expected = brute_force(&ordered(&routes), &view);
            assert_eq!(
                table.find(&view).map(|r| r.name.as_str()),
                expected,
                "{letters} {method}"
            );
            found += usize::from(expected.is_some());
        }
    }
    // Short hosts match routers of every chunk (both methods); 301 letters match none.
    assert!((10..16).contains(&found), "{found} matches");
}
