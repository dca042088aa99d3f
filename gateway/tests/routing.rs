//! Router matching end to end: matchers, priorities, entrypoints, a large host table.

mod support;

use support::*;

/// A dynamic configuration with one `loadBalancer` service per backend, named as the backend.
fn services(backends: &[&Backend]) -> String {
    let mut yaml = String::from("  services:\n");
    for b in backends {
        yaml.push_str(&format!(
            "    {}:\n      loadBalancer:\n        servers:\n          - url: {}\n",
            b.name,
            b.url()
        ));
    }
    yaml
}

fn backend_of(response: &Response) -> String {
    match response.backend() {
        Some(name) => name,
        None => format!("<{} {:?}>", response.status, response.text()),
    }
}

#[test]
fn host_path_prefix_and_path() {
    let (a, b, c) = (
        Backend::start("A"),
        Backend::start("B"),
        Backend::start("C"),
    );
    let dynamic = format!(
        "http:\n  routers:\n    host:\n      rule: Host(`a.test`)\n      service: A\n    \
         prefix:\n      rule: PathPrefix(`/v1`)\n      service: B\n    \
         exact:\n      rule: Path(`/exact`)\n      service: C\n{}",
        services(&[&a, &b, &c])
    );
    let gw = Gateway::start(&dynamic);
    let web = gw.web();
    let cases: &[(&str, &str, &str)] = &[
        ("a.test", "/", "A"),
        ("a.test", "/anything/else", "A"),
        // Host is compared lowercased, with the port stripped.
        ("A.Test", "/", "A"),
        ("a.test:8080", "/", "A"),
        ("A.TEST:1", "/x", "A"),
        // PathPrefix is a plain string prefix.
        ("other.test", "/v1", "B"),
        ("other.test", "/v1/users", "B"),
        ("other.test", "/v1ary", "B"),
        // Host(`a.test`) (14 bytes) loses to PathPrefix(`/v1`) (17 bytes).
        ("a.test", "/v1/x", "B"),
        ("other.test", "/exact", "C"),
        ("other.test", "/exact?q=1", "C"),
    ];
    for (host, target, expected) in cases {
        let response = get_host(web, host, target);
        assert_eq!(
            backend_of(&response),
            *expected,
            "Host: {host} GET {target}"
        );
    }
    for (host, target) in [
        ("other.test", "/"),
        ("other.test", "/exact/more"),
        ("other.test", "/Exact"),
        ("other.test", "/v"),
        ("b.test", "/"),
        ("a.test.evil", "/"),
    ] {
        let response = get_host(web, host, target);
        assert_eq!(
            response.status,
            404,
            "Host: {host} GET {target} -> {}",
            backend_of(&response)
        );
        assert_eq!(response.text(), "404 page not found\n");
    }
}

#[test]
fn priorities() {
    let (a, b, c) = (
        Backend::start("A"),
        Backend::start("B"),
        Backend::start("C"),
    );
    let dynamic = format!(
        r#"http:
  routers:
    # p1: the longer rule wins.
    p1-host:
      rule: Host(`p1.test`)
      service: A
    p1-api:
      rule: Host(`p1.test`) && PathPrefix(`/v1`)
      service: B
    # p2: an explicit priority beats a longer rule, and a low explicit priority loses.
    p2-long:
      rule: Host(`p2.test`) && PathPrefix(`/v1`)
      service: A
    p2-explicit:
      rule: Host(`p2.test`)
      priority: 100
      service: B
    p2-low:
      rule: Host(`p2.test`) && Path(`/low`) && Method(`GET`)
      priority: 1
      service: C
    # p3: equal explicit priorities: qualified name order (alpha@file < zeta@file),
    # whatever the order in the file.
    zeta:
      rule: Host(`p3.test`)
      priority: 50
      service: C
    alpha:
      rule: Host(`p3.test`)
      priority: 50
      service: A
    mid:
      rule: Host(`p3.test`)
      priority: 50
      service: B
    # p4: equal computed priorities (both rules are 35 bytes): name order too.
    r2:
      rule: Host(`p4.test`) && PathPrefix(`/b`)
      service: B
    r1:
      rule: Host(`p4.test`) && PathRegexp(`^/`)
      service: A
    # Longer (37 bytes) but needs a header.
    r0:
      rule: Host(`p4.test`) && Header(`X-A`, `1`)
      service: C
{}"#,
        services(&[&a, &b, &c])
    );
    let gw = Gateway::start(&dynamic);
    let web = gw.web();
    let cases: &[(&str, &str, &str)] = &[
        ("p1.test", "/", "A"),
        ("p1.test", "/v1", "B"),
        ("p1.test", "/v1/deeper", "B"),
        ("p2.test", "/v1", "B"),
        ("p2.test", "/low", "B"),
        ("p2.test", "/", "B"),
        ("p3.test", "/", "A"),
        ("p4.test", "/b", "A"),
        ("p4.test", "/zzz", "A"),
    ];
    for (host, target, expected) in cases {
        let response = get_host(web, host, target);
        assert_eq!(
            backend_of(&response),
            *expected,
            "Host: {host} GET {target}"
        );
    }
}

#[test]
fn equal_priority_ties_break_by_qualified_name() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    // `web-2@file` < `web@file` because '-' (0x2d) < '@' (0x40), although `web` < `web-2`.
    // Same rule length; declared in the opposite order of the expected winner.
    let dynamic = format!(
        r#"http:
  routers:
    web:
      rule: PathPrefix(`/x`)
      priority: 5
      service: A
    web-2:
      rule: PathPrefix(`/y`) || PathPrefix(`/x`)
      priority: 5
      service: B
    t1:
      rule: Path(`/tie`)
      priority: 9
      service: B
    t0:
      rule: PathPrefix(`/ti`)
      priority: 9
      service: A
{}"#,
        services(&[&a, &b])
    );
    let gw = Gateway::start(&dynamic);
    assert_eq!(
        backend_of(&get(gw.web(), "/x")),
        "B",
        "web-2@file sorts before web@file"
    );
    assert_eq!(
        backend_of(&get(gw.web(), "/tie")),
        "A",
        "t0@file before t1@file"
    );
    assert_eq!(backend_of(&get(gw.web(), "/y")), "B");
}

#[test]
fn logical_operators_and_matchers() {
    let (a, b, c) = (
        Backend::start("A"),
        Backend::start("B"),
        Backend::start("C"),
    );
    let dynamic = format!(
        r#"http:
  routers:
    or:
      rule: Host(`m.test`) && (Path(`/one`) || Path(`/two`))
      service: A
    not:
      rule: Host(`m.test`) && PathPrefix(`/neg`) && !Method(`POST`)
      service: B
    method:
      rule: Host(`m.test`) && Method(`PUT`) && Path(`/m`)
      service: C
    header:
      rule: Host(`h.test`) && Header(`X-Env`, `staging`)
      service: A
    query:
      rule: Host(`q.test`) && Query(`debug`, `1`)
      service: B
    query-flag:
      rule: Host(`q.test`) && Query(`flag`)
      service: C
{}"#,
        services(&[&a, &b, &c])
    );
    let gw = Gateway::start(&dynamic);
    let web = gw.web();
    let check = |method: &str, host: &str, target: &str, extra: &[(&str, &str)], expected: &str| {
        let mut headers = vec![("Host", host)];
        headers.extend_from_slice(extra);
        let response = request(web, method, target, &headers);
        let got = if response.status == 404 {
            "404".to_string()
        } else {
            backend_of(&response)
        };
        assert_eq!(got, expected, "{method} Host: {host} {target} {extra:?}");
    };
    check("GET", "m.test", "/one", &[], "A");
    check("GET", "m.test", "/two", &[], "A");
    check("GET", "m.test", "/three", &[], "404");
    check("GET", "m.test", "/neg", &[], "B");
    check("DELETE", "m.test", "/neg/x", &[], "B");
    check("POST", "m.test", "/neg", &[], "404");
    check("PUT", "m.test", "/m", &[], "C");
    check("GET", "m.test", "/m", &[], "404");
    check("GET", "h.test", "/", &[("X-Env", "staging")], "A");
    // Header names are matched canonically, whatever case the client uses.
    check("GET", "h.test", "/", &[("x-env", "staging")], "A");
    check("GET", "h.test", "/", &[("X-Env", "prod")], "404");
    check("GET", "h.test", "/", &[("X-Env", "Staging")], "404");
    check("GET", "h.test", "/", &[], "404");
    check("GET", "q.test", "/?debug=1", &[], "B");
    check("GET", "q.test", "/x?a=2&debug=1", &[], "B");
    check("GET", "q.test", "/?debug=2", &[], "404");
    check("GET", "q.test", "/", &[], "404");
    // Query(`flag`) matches only an empty value.
    check("GET", "q.test", "/?flag", &[], "C");
    check("GET", "q.test", "/?flag=", &[], "C");
    check("GET", "q.test", "/?flag=1", &[], "404");
}

#[test]
fn routers_attach_to_their_entrypoints() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    only-other:
      rule: Path(`/o`)
      entryPoints: [other]
      service: A
    everywhere:
      rule: Path(`/e`)
      service: B
{}"#,
        services(&[&a, &b])
    );
    let gw = Gateway::builder()
        .entry_point("web", "")
        .entry_point("other", "")
        .dynamic(&dynamic)
        .start();
    let (web, other, traefik) = (gw.addr("web"), gw.addr("other"), gw.addr("traefik"));
    assert_eq!(
        get(web, "/o").status,
        404,
        "router on [other] must not serve web"
    );
    assert_eq!(backend_of(&get(other, "/o")), "A");
    assert_eq!(backend_of(&get(web, "/e")), "B");
    assert_eq!(backend_of(&get(other, "/e")), "B");
    let internal = get(traefik, "/e");
    assert_eq!(
        internal.status,
        404,
        "routers without entryPoints must not attach to `traefik`: {}",
        backend_of(&internal)
    );
    assert_eq!(get(traefik, "/o").status, 404);
}

#[test]
fn a_thousand_host_routers() {
    let backends = [
        Backend::start("B0"),
        Backend::start("B1"),
        Backend::start("B2"),
    ];
    let mut dynamic = String::from("http:\n  routers:\n");
    for i in 0..1000 {
        dynamic.push_str(&format!(
            "    r{i}:\n      rule: Host(`h{i}.example.test`)\n      service: B{}\n",
            i % 3
        ));
    }
    dynamic.push_str(&services(&backends.iter().collect::<Vec<_>>()));
    let gw = Gateway::start(&dynamic);
    let mut conn = Connection::open(gw.web()).unwrap();
    for i in [0, 1, 2, 7, 99, 100, 333, 500, 666, 998, 999]
        .into_iter()
        .chain((0..1000).step_by(37))
    {
        let host = format!("h{i}.example.test");
        let response = conn.send("GET", "/", &[("Host", &host)]).unwrap();
        assert_eq!(backend_of(&response), format!("B{}", i % 3), "Host: {host}");
    }
    for host in [
        "h1000.example.test",
        "h1.example.test.",
        "x.h1.example.test",
        "example.test",
    ] {
        let response = conn.send("GET", "/", &[("Host", host)]).unwrap();
        let expected = if host == "h1.example.test." { 200 } else { 404 };
        assert_eq!(
            response.status,
            expected,
            "Host: {host}: {}",
            backend_of(&response)
        );
    }
}
