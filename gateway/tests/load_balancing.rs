//! Load balancing end to end: smooth weighted round robin over servers and over services,
//! weight 0, `passHostHeader`, `preservePath`.

mod support;

use support::*;

#[test]
fn server_weights_3_to_1() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    r:
      rule: PathPrefix(`/`)
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: {}
            weight: 3
          - url: {}
            weight: 1
"#,
        a.url(),
        b.url()
    );
    let gw = Gateway::start(&dynamic);
    let counts = count_backends(gw.web(), "lb.test", "/", 400);
    let (na, nb) = (count_of(&counts, "A"), count_of(&counts, "B"));
    assert_eq!(na + nb, 400, "{counts:?}");
    assert!(
        na.abs_diff(300) <= 8 && nb.abs_diff(100) <= 8,
        "expected 300/100 ±8, got {counts:?}"
    );
}

#[test]
fn weighted_service_of_two_services() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    r:
      rule: PathPrefix(`/`)
      service: split
  services:
    split:
      weighted:
        services:
          - name: sa
            weight: 1
          - name: sb
            weight: 1
    sa:
      loadBalancer:
        servers:
          - url: {}
    sb:
      loadBalancer:
        servers:
          - url: {}
"#,
        a.url(),
        b.url()
    );
    let gw = Gateway::start(&dynamic);
    let counts = count_backends(gw.web(), "w.test", "/", 400);
    let (na, nb) = (count_of(&counts, "A"), count_of(&counts, "B"));
    assert_eq!(na + nb, 400, "{counts:?}");
    assert!(
        na.abs_diff(200) <= 8 && nb.abs_diff(200) <= 8,
        "expected 200/200 ±8, got {counts:?}"
    );
}

#[test]
fn weight_zero_server_is_never_used() {
    let (a, b, c) = (
        Backend::start("A"),
        Backend::start("B"),
        Backend::start("C"),
    );
    let dynamic = format!(
        r#"http:
  routers:
    r:
      rule: PathPrefix(`/`)
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: {}
            weight: 0
          - url: {}
          - url: {}
            weight: 1
"#,
        a.url(),
        b.url(),
        c.url()
    );
    let gw = Gateway::start(&dynamic);
    let counts = count_backends(gw.web(), "z.test", "/", 100);
    assert_eq!(count_of(&counts, "A"), 0, "{counts:?}");
    assert_eq!(count_of(&counts, "B"), 50, "{counts:?}");
    assert_eq!(count_of(&counts, "C"), 50, "{counts:?}");
}

#[test]
fn pass_host_header() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    kept:
      rule: Host(`kept.test`)
      service: kept
    replaced:
      rule: Host(`replaced.test`)
      service: replaced
  services:
    kept:
      loadBalancer:
        servers:
          - url: {}
    replaced:
      loadBalancer:
        passHostHeader: false
        servers:
          - url: {}
"#,
        a.url(),
        b.url()
    );
    let gw = Gateway::start(&dynamic);
    let kept = get_host(gw.web(), "kept.test", "/h").echo();
    assert_eq!(kept.name, "A");
    assert_eq!(kept.header_all("Host"), ["kept.test"]);
    let replaced = get_host(gw.web(), "replaced.test", "/h").echo();
    assert_eq!(replaced.name, "B");
    assert_eq!(
        replaced.header_all("Host"),
        [format!("127.0.0.1:{}", b.port)]
    );
    assert_eq!(
        replaced.header("X-Forwarded-Host"),
        Some("replaced.test"),
        "X-Forwarded-Host keeps the client's host"
    );
}

#[test]
fn preserve_path() {
    let (a, b) = (Backend::start("A"), Backend::start("B"));
    let dynamic = format!(
        r#"http:
  routers:
    preserved:
      rule: Host(`keep.test`)
      service: preserved
    ignored:
      rule: Host(`drop.test`)
      service: ignored
  services:
    preserved:
      loadBalancer:
        servers:
          - url: {}/base
            preservePath: true
    ignored:
      loadBalancer:
        servers:
          - url: {}/base
"#,
        a.url(),
        b.url()
    );
    let gw = Gateway::start(&dynamic);
    let web = gw.web();
    let preserved = get_host(web, "keep.test", "/x").echo();
    assert_eq!(preserved.name, "A");
    assert_eq!(preserved.request_line, "GET /base/x HTTP/1.1");
    let with_query = get_host(web, "keep.test", "/x/y?a=1&b=2").echo();
    assert_eq!(with_query.target(), "/base/x/y?a=1&b=2");
    let ignored = get_host(web, "drop.test", "/x").echo();
    assert_eq!(ignored.name, "B");
    assert_eq!(ignored.request_line, "GET /x HTTP/1.1");
    let ignored_query = get_host(web, "drop.test", "/x?q=1").echo();
    assert_eq!(ignored_query.target(), "/x?q=1");
}
