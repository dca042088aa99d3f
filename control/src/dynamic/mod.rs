//! Typed model of Traefik v3's dynamic configuration (`http`, `tcp`, `udp`, `tls`), field for
//! field with Traefik's key spelling, plus accessors that apply Traefik's defaults.

pub mod http;
pub mod middlewares;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use http::*;
pub use middlewares::*;
pub use tcp::*;
pub use tls::*;
pub use udp::*;

/// The root of the dynamic configuration, as read from a file or a KV tree.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Configuration {
    /// HTTP routers, services, middlewares and servers transports.
    pub http: Option<HttpConfiguration>,
    /// TCP routers, services, middlewares and servers transports.
    pub tcp: Option<TcpConfiguration>,
    /// UDP routers and services.
    pub udp: Option<UdpConfiguration>,
    /// Certificates, TLS options and certificate stores.
    pub tls: Option<TlsConfiguration>,
}

/// The one type set on an object, from `(Traefik's name, whether it is set)` pairs; an error
/// naming what was found otherwise (`what` names the object in it).
pub(crate) fn exactly_one(
    what: &str,
    types: &[(&'static str, bool)],
) -> Result<&'static str, String> {
    let found: Vec<&'static str> = types
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("{what} has no type; exactly one is allowed")),
        many => Err(format!(
            "{what} has {} types ({}); exactly one is allowed",
            many.len(),
            many.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::GoDuration;

    const DOC: &str = r#"
http:
  routers:
    web:
      entryPoints: [web, websecure]
      middlewares: [strip, auth]
      service: app
      rule: "Host(`example.com`) && PathPrefix(`/api`)"
      priority: 10
      tls:
        certResolver: le
        domains:
          - main: example.com
            sans: [www.example.com]
      observability:
        accessLogs: false
    plain:
      rule: "Path(`/`)"
      service: app
      tls: {}
  services:
    app:
      loadBalancer:
        servers:
          - url: http://10.0.0.1:8080
          - url: http://10.0.0.2:8080/base
            weight: 3
            preservePath: true
        sticky:
          cookie:
            name: sess
            httpOnly: true
        healthCheck:
          path: /health
          interval: 10s
          headers:
            X-Check: "1"
        passiveHealthCheck:
          maxFailedAttempts: 3
        serversTransport: tr
    split:
      weighted:
        services:
          - name: app
            weight: 2
          - name: other
        healthCheck: {}
    mirrored:
      mirroring:
        service: app
        mirrors:
          - name: other
            percent: 10
    backup:
      failover:
        service: app
        fallback: other
    hrw:
      highestRandomWeight:
        services:
          - name: app
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/api]
    auth:
      basicAuth:
        users: ["user:$apr1$x$y"]
    hdr:
      headers:
        customRequestHeaders:
          X-Foo: bar
        sslRedirect: true
        forceSTSHeader: true
        customBrowserXSSValue: "0"
    allow:
      ipAllowList:
        sourceRange: [10.0.0.0/8]
        ipStrategy:
          depth: 2
          excludedIPs: [10.0.0.1]
          ipv6Subnet: 64
    limit:
      rateLimit:
        average: 100
        sourceCriterion:
          requestHeaderName: X-User
    breaker:
      circuitBreaker:
        expression: "NetworkErrorRatio() > 0.5"
    gz:
      compress: {}
    errs:
      errors:
        status: ["500-599"]
        statusRewrites:
          "418": 404
        service: errsvc
        query: "/{status}.html"
    cert:
      passTLSClientCert:
        pem: true
        info:
          subject:
            commonName: true
    plug:
      plugin:
        demo:
          headerName: X-Demo
          count: 3
  serversTransports:
    tr:
      serverName: backend.local
      insecureSkipVerify: true
      rootCAs: [/ca.pem]
      disableHTTP2: true
      peerCertURI: spiffe://x
      forwardingTimeouts:
        responseHeaderTimeout: 42
      spiffe:
        trustDomain: example.org
tcp:
  routers:
    db:
      entryPoints: [pg]
      rule: "HostSNI(`*`)"
      service: pg
      tls:
        passthrough: true
  services:
    pg:
      loadBalancer:
        servers:
          - address: 10.0.0.5:5432
        proxyProtocol:
          version: 1
    pgw:
      weighted:
        services:
          - name: pg
  middlewares:
    few:
      inFlightConn:
        amount: 5
    allow:
      ipAllowList:
        sourceRange: [10.0.0.0/8]
  serversTransports:
    ttr:
      dialTimeout: 5s
      tls:
        serverName: db.local
udp:
  routers:
    dns:
      entryPoints: [dns]
      service: dns
  services:
    dns:
      loadBalancer:
        servers:
          - address: 10.0.0.53:53
tls:
  certificates:
    - certFile: /c.pem
      keyFile: /k.pem
      stores: [default]
  options:
    default:
      minVersion: VersionTLS13
      sniStrict: true
      clientAuth:
        caFiles: [/ca.pem]
    modern:
      alpnProtocols: [h2]
  stores:
    default:
      defaultCertificate:
        certFile: /d.pem
        keyFile: /dk.pem
      defaultGeneratedCert:
        resolver: le
        domain:
          main: example.com
"#;

    fn doc() -> Configuration {
        serde_yaml::from_str(DOC).expect("document decodes")
    }

    #[test]
    fn decodes_http_routers() {
        let cfg = doc();
        let http = cfg.http.as_ref().unwrap();
        let web = &http.routers["web"];
        assert_eq!(web.entry_points, ["web", "websecure"]);
        assert_eq!(web.middlewares, ["strip", "auth"]);
        assert_eq!(web.service.as_deref(), Some("app"));
        assert_eq!(web.priority, Some(10));
        let tls = web.tls.as_ref().unwrap();
        assert_eq!(tls.cert_resolver.as_deref(), Some("le"));
        assert_eq!(tls.options(), "default");
        assert_eq!(tls.domains[0].main.as_deref(), Some("example.com"));
        assert_eq!(tls.domains[0].sans, ["www.example.com"]);
        let obs = web.observability.as_ref().unwrap();
        assert_eq!(obs.access_logs, Some(false));
        assert_eq!(obs.metrics, None);
        assert_eq!(obs.trace_verbosity(), "minimal");
        assert_eq!(http.routers["plain"].tls, Some(RouterTlsConfig::default()));
    }

    #[test]
    fn decodes_http_services_with_defaults() {
        let cfg = doc();
        let services = &cfg.http.as_ref().unwrap().services;
        let lb = services["app"].load_balancer.as_ref().unwrap();
        assert_eq!(services["app"].kind(), Ok("loadBalancer"));
        assert!(lb.pass_host_header());
        assert_eq!(lb.strategy(), "wrr");
        assert_eq!(lb.flush_interval(), GoDuration::from_millis(100));
        assert_eq!(lb.servers[0].weight(), 1);
        assert!(!lb.servers[0].preserve_path());
        assert_eq!(lb.servers[1].weight(), 3);
        assert!(lb.servers[1].preserve_path());
        let cookie = lb.sticky.as_ref().unwrap().cookie.as_ref().unwrap();
        assert_eq!(cookie.name.as_deref(), Some("sess"));
        assert_eq!(cookie.http_only, Some(true));
        assert_eq!(cookie.path(), "/");
        let hc = lb.health_check.as_ref().unwrap();
        assert_eq!(hc.interval(), GoDuration::from_secs(10));
        assert_eq!(hc.unhealthy_interval(), GoDuration::from_secs(10));
        assert_eq!(hc.timeout(), GoDuration::from_secs(5));
        assert_eq!(hc.mode(), "http");
        assert!(hc.follow_redirects());
        assert_eq!(hc.headers["X-Check"], "1");
        let passive = lb.passive_health_check.as_ref().unwrap();
        assert_eq!(passive.max_failed_attempts(), 3);
        assert_eq!(passive.failure_window(), GoDuration::from_secs(10));

        let wrr = services["split"].weighted.as_ref().unwrap();
        assert_eq!(services["split"].kind(), Ok("weighted"));
        assert_eq!(wrr.services[0].weight(), 2);
        assert_eq!(wrr.services[1].weight(), 1);
        assert_eq!(wrr.health_check, Some(HealthCheck {}));

        let mirroring = services["mirrored"].mirroring.as_ref().unwrap();
        assert!(mirroring.mirror_body());
        assert_eq!(mirroring.max_body_size(), -1);
        assert_eq!(mirroring.mirrors[0].percent, Some(10));
        assert_eq!(services["backup"].kind(), Ok("failover"));
        assert_eq!(services["hrw"].kind(), Ok("highestRandomWeight"));
    }

    #[test]
    fn decodes_middlewares() {
        let cfg = doc();
        let mws = &cfg.http.as_ref().unwrap().middlewares;
        assert_eq!(mws["strip"].kind(), Ok("stripPrefix"));
        assert_eq!(mws["auth"].basic_auth.as_ref().unwrap().realm(), "traefik");
        let hdr = mws["hdr"].headers.as_ref().unwrap();
        assert_eq!(hdr.custom_request_headers["X-Foo"], "bar");
        assert_eq!(hdr.ssl_redirect, Some(true));
        assert_eq!(hdr.force_sts_header, Some(true));
        assert_eq!(hdr.custom_browser_xss_value.as_deref(), Some("0"));
        let allow = mws["allow"].ip_allow_list.as_ref().unwrap();
        assert_eq!(allow.reject_status_code(), 403);
        let strategy = allow.ip_strategy.as_ref().unwrap();
        assert_eq!(strategy.depth, Some(2));
        assert_eq!(strategy.excluded_ips, ["10.0.0.1"]);
        assert_eq!(strategy.ipv6_subnet, Some(64));
        let limit = mws["limit"].rate_limit.as_ref().unwrap();
        assert_eq!(limit.average(), 100);
        assert_eq!(limit.burst(), 1);
        assert_eq!(limit.period(), GoDuration::from_secs(1));
        let breaker = mws["breaker"].circuit_breaker.as_ref().unwrap();
        assert_eq!(breaker.check_period(), GoDuration::from_millis(100));
        assert_eq!(breaker.fallback_duration(), GoDuration::from_secs(10));
        assert_eq!(breaker.recovery_duration(), GoDuration::from_secs(10));
        assert_eq!(breaker.response_code(), 503);
        let gz = mws["gz"].compress.as_ref().unwrap();
        assert_eq!(mws["gz"].kind(), Ok("compress"));
        assert_eq!(gz.encodings(), ["gzip", "br", "zstd"]);
        assert_eq!(gz.min_response_body_bytes(), 1024);
        let errs = mws["errs"].errors.as_ref().unwrap();
        assert_eq!(errs.status_rewrites["418"], 404);
        assert_eq!(errs.error_request_headers, None);
        let cert = mws["cert"].pass_tls_client_cert.as_ref().unwrap();
        assert_eq!(mws["cert"].kind(), Ok("passTLSClientCert"));
        let subject = cert.info.as_ref().unwrap().subject.as_ref().unwrap();
        assert_eq!(subject.common_name, Some(true));
        assert_eq!(mws["plug"].kind(), Ok("plugin"));
        let (name, conf) = mws["plug"].plugin().unwrap();
        assert_eq!(name, "demo");
        assert_eq!(conf["count"], "3");

        let http = cfg.http.as_ref().unwrap();
        let tr = &http.servers_transports["tr"];
        assert_eq!(tr.root_cas, ["/ca.pem"]);
        assert_eq!(tr.disable_http2, Some(true));
        assert_eq!(tr.peer_cert_uri.as_deref(), Some("spiffe://x"));
        let timeouts = tr.forwarding_timeouts();
        assert_eq!(timeouts.dial_timeout(), GoDuration::from_secs(30));
        assert_eq!(timeouts.idle_conn_timeout(), GoDuration::from_secs(90));
        assert_eq!(timeouts.ping_timeout(), GoDuration::from_secs(15));
        assert_eq!(
            timeouts.response_header_timeout(),
            GoDuration::from_secs(42)
        );
    }

    #[test]
    fn decodes_tcp_udp_tls() {
        let cfg = doc();
        let tcp = cfg.tcp.as_ref().unwrap();
        assert!(tcp.routers["db"].tls.as_ref().unwrap().passthrough());
        let pg = &tcp.services["pg"];
        assert_eq!(pg.kind(), Ok("loadBalancer"));
        let lb = pg.load_balancer.as_ref().unwrap();
        assert_eq!(lb.servers[0].address.as_deref(), Some("10.0.0.5:5432"));
        assert_eq!(lb.proxy_protocol.as_ref().unwrap().version(), 1);
        assert_eq!(lb.termination_delay(), 100);
        assert_eq!(tcp.services["pgw"].kind(), Ok("weighted"));
        assert_eq!(
            tcp.services["pgw"].weighted.as_ref().unwrap().services[0].weight(),
            1
        );
        assert_eq!(tcp.middlewares["few"].kind(), Ok("inFlightConn"));
        assert_eq!(tcp.middlewares["allow"].kind(), Ok("ipAllowList"));
        let ttr = &tcp.servers_transports["ttr"];
        assert_eq!(ttr.dial_timeout(), GoDuration::from_secs(5));
        assert_eq!(ttr.dial_keep_alive(), GoDuration::from_secs(15));
        assert_eq!(ttr.termination_delay(), GoDuration::from_millis(100));

        let udp = cfg.udp.as_ref().unwrap();
        assert_eq!(udp.routers["dns"].service.as_deref(), Some("dns"));
        assert_eq!(udp.services["dns"].kind(), Ok("loadBalancer"));

        let tls = cfg.tls.as_ref().unwrap();
        assert_eq!(tls.certificates[0].stores, ["default"]);
        assert_eq!(
            tls.certificates[0].certificate().cert_file.as_deref(),
            Some("/c.pem")
        );
        let default = &tls.options["default"];
        assert_eq!(default.min_version(), "VersionTLS13");
        assert!(default.sni_strict());
        assert_eq!(default.alpn_protocols(), ["h2", "http/1.1", "acme-tls/1"]);
        assert_eq!(
            default.client_auth.as_ref().unwrap().client_auth_type(),
            "RequireAndVerifyClientCert"
        );
        assert_eq!(tls.options["modern"].alpn_protocols(), ["h2"]);
        assert_eq!(tls.options["modern"].min_version(), "VersionTLS12");
        let store = &tls.stores["default"];
        assert_eq!(
            store
                .default_certificate
                .as_ref()
                .unwrap()
                .key_file
                .as_deref(),
            Some("/dk.pem")
        );
        assert_eq!(
            store
                .default_generated_cert
                .as_ref()
                .unwrap()
                .resolver
                .as_deref(),
            Some("le")
        );
    }

    #[test]
    fn round_trips_through_yaml() {
        let cfg = doc();
        let text = serde_yaml::to_string(&cfg).unwrap();
        let again: Configuration = serde_yaml::from_str(&text).unwrap();
        assert_eq!(again, cfg);
        // Unset options are not serialized.
        assert!(!text.contains("null"), "{text}");
        assert!(text.contains("rootCAs"), "{text}");
        assert!(text.contains("passTLSClientCert"), "{text}");
    }

    #[test]
    fn rejects_unknown_router_field() {
        let err = serde_yaml::from_str::<Configuration>(
            "http:\n  routers:\n    r:\n      rule: x\n      serviceName: app\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("serviceName"), "{err}");
        let err = serde_yaml::from_str::<Configuration>("https:\n  routers: {}\n").unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }

    #[test]
    fn middleware_kind_counts_types() {
        let none = Middleware::default();
        assert_eq!(
            none.kind(),
            Err("middleware has no type; exactly one is allowed".to_string())
        );
        let one = Middleware {
            headers: Some(Headers::default()),
            ..Default::default()
        };
        assert_eq!(one.kind(), Ok("headers"));
        let two = Middleware {
            add_prefix: Some(AddPrefix::default()),
            headers: Some(Headers::default()),
            ..Default::default()
        };
        assert_eq!(
            two.kind(),
            Err("middleware has 2 types (addPrefix, headers); exactly one is allowed".to_string())
        );
        let mut plugins = Middleware::default();
        plugins.plugin.insert("a".into(), PluginConf::new());
        assert_eq!(plugins.kind(), Ok("plugin"));
        plugins.plugin.insert("b".into(), PluginConf::new());
        assert!(plugins.kind().unwrap_err().contains("2 plugins (a, b)"));
    }

    #[test]
    fn service_kind_counts_types() {
        assert_eq!(
            Service::default().kind(),
            Err("service has no type; exactly one is allowed".to_string())
        );
        let two = Service {
            load_balancer: Some(ServersLoadBalancer::default()),
            weighted: Some(WeightedRoundRobin::default()),
            ..Default::default()
        };
        assert_eq!(
            two.kind(),
            Err("service has 2 types (loadBalancer, weighted); exactly one is allowed".to_string())
        );
        let one = Service {
            mirroring: Some(Mirroring::default()),
            ..Default::default()
        };
        assert_eq!(one.kind(), Ok("mirroring"));

        assert!(TcpService::default()
            .kind()
            .unwrap_err()
            .starts_with("TCP service has no type"));
        let tcp_two = TcpService {
            load_balancer: Some(TcpServersLoadBalancer::default()),
            weighted: Some(TcpWeightedRoundRobin::default()),
        };
        assert!(tcp_two
            .kind()
            .unwrap_err()
            .contains("2 types (loadBalancer, weighted)"));
        assert!(UdpService::default().kind().is_err());
        let udp_one = UdpService {
            weighted: Some(UdpWeightedRoundRobin::default()),
            ..Default::default()
        };
        assert_eq!(udp_one.kind(), Ok("weighted"));
    }
}
