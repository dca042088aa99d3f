//! Listening and client addresses as Traefik's: `:port` listens on IPv6 and IPv4 (dual-stack),
//! and an IPv4 client of such a listener (`::ffff:127.0.0.1` on the socket) is seen as
//! `127.0.0.1` by trustedIPs, `ClientIP` rules, `X-Real-Ip` and `X-Forwarded-For`.

mod support;

use std::net::{Ipv6Addr, SocketAddr};
use support::*;

fn ipv6_loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

#[test]
fn colon_port_listens_on_ipv4_and_ipv6() {
    let backend = Backend::start("A");
    let gw = Gateway::builder()
        .entry_point_on_all_interfaces("web", "")
        .dynamic(&route_all_to(&backend.url()))
        .start();
    let port = gw.port("web");
    let over_v4 = get(local(port), "/");
    assert_eq!(over_v4.backend().as_deref(), Some("A"), "{over_v4:?}");
    let over_v6 = try_request(ipv6_loopback(port), "GET", "/", &[])
        .unwrap_or_else(|e| panic!("[::1]:{port} must answer like 127.0.0.1:{port}: {e}"));
    assert_eq!(over_v6.backend().as_deref(), Some("A"), "{over_v6:?}");
    // The IPv6 client keeps its own address.
    assert_eq!(over_v6.echo().header("X-Real-Ip"), Some("::1"));
}

#[test]
fn ipv4_clients_of_a_dual_stack_listener_are_plain_ipv4() {
    let backend = Backend::start("A");
    let dynamic = format!(
        "http:\n  routers:\n    local:\n      rule: ClientIP(`127.0.0.1`)\n      service: s\n  \
         services:\n    s:\n      loadBalancer:\n        servers:\n          - url: {}\n",
        backend.url()
    );
    let gw = Gateway::builder()
        .entry_point_on_all_interfaces("web", "")
        .entry_point_on_all_interfaces("trusting", "forwardedHeaders:\n  trustedIPs: [127.0.0.1]")
        .dynamic(&dynamic)
        .start();

    // Untrusted: the gateway sets both headers from the socket's `::ffff:127.0.0.1`.
    let answer = request(
        gw.web(),
        "GET",
        "/",
        &[("X-Forwarded-For", "6.6.6.6"), ("X-Real-Ip", "6.6.6.6")],
    );
    assert_eq!(
        answer.status, 200,
        "ClientIP(`127.0.0.1`) must match: {answer:?}"
    );
    let echo = answer.echo();
    assert_eq!(echo.header("X-Real-Ip"), Some("127.0.0.1"));
    assert_eq!(echo.header("X-Forwarded-For"), Some("127.0.0.1"));

    // trustedIPs: [127.0.0.1] trusts it, so its headers are kept and it is appended.
    let echo = request(
        gw.addr("trusting"),
        "GET",
        "/",
        &[("X-Forwarded-For", "9.9.9.9"), ("X-Real-Ip", "8.8.8.8")],
    )
    .echo();
    assert_eq!(echo.header("X-Real-Ip"), Some("8.8.8.8"));
    assert_eq!(echo.header("X-Forwarded-For"), Some("9.9.9.9, 127.0.0.1"));
}
