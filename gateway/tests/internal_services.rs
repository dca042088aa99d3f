//! Traefik's `@internal` services in the router tables: `ping@internal` and `api@internal`
//! reached by their own routers or by the user's (`ping.manualRouting`, a secure `api`), and
//! answered as the real Traefik answers them.

mod support;

use support::*;

#[test]
fn ping_answers_every_method_and_path_under_its_prefix() {
    let gw = Gateway::start("");
    let internal = gw.addr("traefik");
    for (method, target) in [
        ("GET", "/ping"),
        ("POST", "/ping"),
        ("GET", "/ping/more"),
        ("GET", "/pingx"),
    ] {
        let response = request(internal, method, target, &[]);
        assert_eq!(
            (response.status, response.text().as_str()),
            (200, "OK"),
            "{method} {target}"
        );
    }
    assert_eq!(get(internal, "/other").status, 404);
    assert_eq!(
        get(gw.web(), "/ping").status,
        404,
        "only on ping's entrypoint"
    );
}

#[test]
fn user_routers_reach_internal_services() {
    let gw = Gateway::builder()
        .entry_point("web", "")
        .static_extra("ping:\n  manualRouting: true\napi: {}\n")
        .dynamic(
            r#"
http:
  routers:
    health:
      rule: Path(`/health`)
      service: ping@internal
    dashboard-api:
      rule: PathPrefix(`/api`)
      service: api@internal
    nothing:
      rule: Path(`/noop`)
      service: noop@internal
"#,
        )
        .start();
    let health = get(gw.web(), "/health");
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    assert_eq!(
        get(gw.addr("traefik"), "/ping").status,
        404,
        "manual routing: no ping router"
    );

    let services = get(gw.web(), "/api/http/services");
    assert_eq!(services.status, 200, "{}", services.text());
    for name in ["api@internal", "noop@internal", "ping@internal"] {
        assert!(
            services.text().contains(name),
            "{name} missing: {}",
            services.text()
        );
    }
    let routers = get(gw.web(), "/api/http/routers").text();
    assert!(routers.contains("health@file"), "{routers}");
    assert!(
        !routers.contains("\"name\":\"ping@internal\""),
        "no internal ping router: {routers}"
    );

    let post = request(gw.web(), "POST", "/api/rawdata", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405, "Traefik's API refuses other methods");
    assert!(post.body.is_empty());
    let unknown = get(gw.web(), "/api/nope");
    assert_eq!(
        (unknown.status, unknown.text().as_str()),
        (404, "404 page not found\n")
    );

    let noop = get(gw.web(), "/noop");
    assert_eq!(noop.status, 200);
    assert!(noop.body.is_empty());
}

#[test]
fn the_insecure_api_has_its_own_router() {
    let gw = Gateway::builder()
        .entry_point("web", "")
        .static_extra("api:\n  insecure: true\n")
        .dynamic("")
        .start();
    let routers = get(gw.addr("traefik"), "/api/http/routers").text();
    for name in ["api@internal", "ping@internal"] {
        assert!(routers.contains(name), "{name}: {routers}");
    }
    assert!(
        routers.contains("9223372036854775806"),
        "api's priority is MaxInt-1: {routers}"
    );
}
