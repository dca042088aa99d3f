//! Compiles the providers' dynamic configurations into one [`Snapshot`]: qualifies names,
//! resolves references, builds services and router tables, and records each object's errors.
//! An object that fails is left out alone; everything else is served.

use super::internal::{self, InternalService};
use super::registry::{fingerprint, StateRegistry};
use super::router_table::{Route, RouterTable};
use super::rule_cache::RuleCache;
use super::service::{LoadBalancer, ServiceHandler, TransportSettings, Upstream};
use super::status::{ConfigStatus, ObjectKind};
use super::wrr::SmoothWeightedSchedule;
use super::Snapshot;
use crate::middleware::{ChainBuilder, CompileEnv};
use control::dynamic::{Router, ServersTransport, Service};
use control::dynamic_decode::Decoded;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What compilation needs from the static configuration.
#[derive(Debug, Clone, Default)]
pub struct CompileContext {
    /// HTTP entrypoint names; a snapshot has one router table per name, in this order.
    pub entry_points: Vec<String>,
    /// Entrypoints of routers that name none.
    pub default_entry_points: Vec<String>,
    /// `entryPoints.<name>.http.middlewares`, by entrypoint name (none for the others):
    /// applied before the router's own, as Traefik's entrypoint models do.
    pub entry_point_middlewares: HashMap<String, Vec<String>>,
}

/// `name` as referenced from `provider`: kept when it already has `@provider`, else qualified.
pub fn qualify(name: &str, provider: &str) -> String {
    if name.contains('@') {
        name.to_string()
    } else {
        format!("{name}@{provider}")
    }
}

/// Traefik's default transport, used by services that name none.
const DEFAULT_TRANSPORT: &str = "default@internal";

/// What one compile hands to the next: compiled rules, and the state of stateful objects.
#[derive(Debug, Default)]
pub struct Carryover {
    /// Rules by source text.
    pub rules: RuleCache,
    /// Stateful objects by qualified name and configuration fingerprint.
    pub states: StateRegistry,
}

struct Compiler<'a> {
    states: &'a mut StateRegistry,
    services: BTreeMap<String, (&'a str, &'a Service)>,
    transports: HashMap<String, Result<TransportSettings, String>>,
    built: HashMap<String, Result<Arc<ServiceHandler>, String>>,
    in_progress: HashSet<String>,
    /// Who refers to each service and middleware (Traefik's `usedBy`), by qualified name.
    references: HashMap<ObjectKind, HashMap<String, Vec<String>>>,
    status: ConfigStatus,
}

/// Compiles the configurations of every provider (`(provider name, decoded)`), taking the
/// rules and the object state that earlier compiles left in `carryover`.
pub fn compile(
    context: &CompileContext,
    providers: &[(String, Arc<Decoded>)],
    carryover: &mut Carryover,
) -> Snapshot {
    let Carryover { rules, states } = carryover;
    let mut compiler = Compiler {
        states,
        services: BTreeMap::new(),
        transports: HashMap::new(),
        built: HashMap::new(),
        in_progress: HashSet::new(),
        references: HashMap::new(),
        status: ConfigStatus::default(),
    };
    let mut routers: Vec<(String, &str, &Router)> = Vec::new();
    let mut middlewares = BTreeMap::new();
    for (provider, decoded) in providers {
        let Some(http) = &decoded.config.http else {
            continue;
        };
        for (name, transport) in &http.servers_transports {
            let qualified = qualify(name, provider);
            let settings = transport_settings(transport);
            let outcome = settings.as_ref().map(|_| Vec::new()).map_err(Clone::clone);
            compiler.status.record(
                ObjectKind::ServersTransport,
                &qualified,
                provider,
                outcome,
                Vec::new(),
            );
            compiler.transports.insert(qualified, settings);
        }
        for (name, service) in &http.services {
            compiler
                .services
                .insert(qualify(name, provider), (provider.as_str(), service));
        }
        for (name, middleware) in &http.middlewares {
            middlewares.insert(qualify(name, provider), (provider.as_str(), middleware));
        }
        for (name, router) in &http.routers {
            routers.push((qualify(name, provider), provider.as_str(), router));
        }
    }
    let names: Vec<String> = compiler.services.keys().cloned().collect();
    for name in names {
        let _ = compiler.service(&name);
    }
    let mut chains = ChainBuilder::new(middlewares);
    for (name, provider) in chains.names() {
        let outcome = chains.check(&name, &mut compiler).map(|_| Vec::new());
        compiler
            .status
            .record(ObjectKind::Middleware, &name, provider, outcome, Vec::new());
    }

    let routers = apply_entry_point_models(context, routers);
    let mut tables: Vec<Vec<Arc<Route>>> = vec![Vec::new(); context.entry_points.len()];
    for (name, provider, router) in &routers {
        let (name, provider, router) = (name.as_str(), *provider, router.as_ref());
        let compiled = compile_router(
            &mut compiler,
            rules,
            context,
            &mut chains,
            name,
            provider,
            router,
        );
        if let Some(service) = &router.service {
            compiler.refer(ObjectKind::Service, qualify(service, provider), name);
        }
        for middleware in &router.middlewares {
            compiler.refer(ObjectKind::Middleware, qualify(middleware, provider), name);
        }
        let (outcome, using) = match compiled {
            Ok(CompiledRouter {
                route,
                entry_points,
                warnings,
            }) => {
                let using = entry_points
                    .iter()
                    .map(|&index| context.entry_points[index].clone())
                    .collect();
                for index in entry_points {
                    tables[index].push(route.clone());
                }
                (Ok(warnings), using)
            }
            Err(error) => (Err(error), Vec::new()),
        };
        compiler
            .status
            .record(ObjectKind::Router, name, provider, outcome, using);
    }
    compiler.apply_references();
    rules.forget_unused();
    compiler.states.forget_unused();
    for (provider, decoded) in providers {
        attach_decode_errors(&mut compiler.status, provider, &decoded.errors);
    }
    Snapshot {
        tables: tables.into_iter().map(RouterTable::new).collect(),
        status: compiler.status,
        sources: providers.to_vec(),
    }
}

/// Compiles one router.
fn compile_router(
    compiler: &mut Compiler<'_>,
    rules: &mut RuleCache,
    context: &CompileContext,
    chains: &mut ChainBuilder<'_>,
    name: &str,
    provider: &str,
    router: &Router,
) -> Result<CompiledRouter, String> {
    let source = router
        .rule
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .ok_or("the router has no rule")?;
    match router.rule_syntax.as_deref() {
        None | Some("v3") => {}
        Some(other) => {
            return Err(format!(
                "ruleSyntax {other:?} is not supported; only v3 rules are"
            ))
        }
    }
    let rule = rules.get(source).map_err(|e| e.to_string())?;
    if router.tls.is_some() {
        return Err("TLS routers are not supported by this gateway yet".into());
    }
    if !router.parent_refs.is_empty() {
        return Err("parentRefs (multi-layer routing) is not supported by this gateway yet".into());
    }
    let chain = chains.chain(&router.middlewares, provider, name, compiler)?;
    let service_name = router
        .service
        .as_deref()
        .ok_or("the router has no service")?;
    let qualified_service = qualify(service_name, provider);
    let service = compiler
        .service(&qualified_service)
        .map_err(|e| format!("service {qualified_service:?}: {e}"))?;

    let mut warnings = Vec::new();
    let wanted = if router.entry_points.is_empty() {
        &context.default_entry_points
    } else {
        &router.entry_points
    };
    let mut entry_points = Vec::new();
    for entry_point in wanted {
        match context.entry_points.iter().position(|e| e == entry_point) {
            Some(index) => entry_points.push(index),
            None => warnings.push(format!("entryPoint {entry_point:?} doesn't exist")),
        }
    }
    if entry_points.is_empty() {
        return Err(match warnings.is_empty() {
            true => "no entrypoint to attach the router to".into(),
            false => warnings.join("; "),
        });
    }
    let priority = router
        .priority
        .filter(|&p| p != 0)
        .unwrap_or(source.len() as i64);
    let route = Arc::new(Route {
        name: name.to_string(),
        rule,
        priority,
        lean: service.is_lean() && chain.needs().lean(),
        chain,
        service,
        service_name: qualified_service,
    });
    Ok(CompiledRouter {
        route,
        entry_points,
        warnings,
    })
}

/// Traefik's entrypoint models: a router on entrypoints with `http.middlewares` is copied once
/// per such entrypoint (named `<entrypoint>-<router>` when it has several), with the
/// entrypoint's middlewares before its own; its other entrypoints keep the router as it is.
fn apply_entry_point_models<'a>(
    context: &CompileContext,
    routers: Vec<(String, &'a str, &'a Router)>,
) -> Vec<(String, &'a str, std::borrow::Cow<'a, Router>)> {
    use std::borrow::Cow;
    if context.entry_point_middlewares.is_empty() {
        return routers
            .into_iter()
            .map(|(name, provider, router)| (name, provider, Cow::Borrowed(router)))
            .collect();
    }
    let mut applied = Vec::with_capacity(routers.len());
    for (name, provider, router) in routers {
        let entry_points = if router.entry_points.is_empty() {
            &context.default_entry_points
        } else {
            &router.entry_points
        };
        if !entry_points
            .iter()
            .any(|e| context.entry_point_middlewares.contains_key(e))
        {
            applied.push((name, provider, Cow::Borrowed(router)));
            continue;
        }
        let mut plain = router.clone();
        plain.entry_points.clear();
        for entry_point in entry_points {
            let Some(model) = context.entry_point_middlewares.get(entry_point) else {
                plain.entry_points.push(entry_point.clone());
                continue;
            };
            let mut copy = router.clone();
            copy.entry_points = vec![entry_point.clone()];
            copy.middlewares = model.iter().chain(&router.middlewares).cloned().collect();
            let copy_name = if entry_points.len() > 1 {
                format!("{entry_point}-{name}")
            } else {
                name.clone()
            };
            applied.push((copy_name, provider, Cow::Owned(copy)));
        }
        if !plain.entry_points.is_empty() {
            applied.push((name, provider, Cow::Owned(plain)));
        }
    }
    applied
}

/// A router ready to be placed in the tables of its entrypoints.
struct CompiledRouter {
    route: Arc<Route>,
    /// Indices into [`CompileContext::entry_points`].
    entry_points: Vec<usize>,
    warnings: Vec<String>,
}

/// Shows objects rejected at decoding in the status: as a rejected change on the object when
/// its last good version is still served, else as a disabled object of its own. Errors outside
/// the HTTP objects are kept in `decode_errors`.
fn attach_decode_errors(
    status: &mut ConfigStatus,
    provider: &str,
    errors: &[control::dynamic_decode::ConfigError],
) {
    const SECTIONS: [(&str, ObjectKind); 4] = [
        ("http/routers/", ObjectKind::Router),
        ("http/services/", ObjectKind::Service),
        ("http/middlewares/", ObjectKind::Middleware),
        ("http/serversTransports/", ObjectKind::ServersTransport),
    ];
    for error in errors {
        let Some((kind, rest)) = SECTIONS
            .iter()
            .find_map(|(prefix, kind)| error.key.strip_prefix(prefix).map(|rest| (*kind, rest)))
        else {
            status.decode_errors.push(error.clone());
            continue;
        };
        let message = error.to_string();
        let existing = status.objects.iter_mut().find(|o| {
            let name = o.local_name();
            o.kind == kind
                && o.provider == provider
                && (rest == name || rest.strip_prefix(name).is_some_and(|r| r.starts_with('/')))
        });
        match existing {
            Some(object) => {
                object.error.push(message);
                object.rejected_change = true;
                if object.status == "enabled" {
                    object.status = "warning";
                }
            }
            None => {
                let name = rest.split('/').next().unwrap_or(rest);
                status.record(
                    kind,
                    &qualify(name, provider),
                    provider,
                    Err(message),
                    Vec::new(),
                );
            }
        }
    }
}

fn transport_settings(transport: &ServersTransport) -> Result<TransportSettings, String> {
    let unsupported = [
        (!transport.root_cas.is_empty(), "rootCAs"),
        (!transport.certificates.is_empty(), "certificates"),
        (transport.spiffe.is_some(), "spiffe"),
        (transport.peer_cert_uri.is_some(), "peerCertURI"),
    ];
    if let Some((_, field)) = unsupported.iter().find(|(set, _)| *set) {
        return Err(format!("{field} is not supported by this gateway yet"));
    }
    let timeouts = transport.forwarding_timeouts();
    let positive = |d: control::duration::GoDuration| d.is_positive().then(|| d.to_std());
    Ok(TransportSettings {
        dial_timeout: positive(timeouts.dial_timeout()),
        response_header_timeout: positive(timeouts.response_header_timeout()),
        idle_timeout: positive(timeouts.idle_conn_timeout()),
        max_idle_per_server: max_idle_per_server(transport.max_idle_conns_per_host),
        insecure_skip_verify: transport.insecure_skip_verify.unwrap_or(false),
        server_name: transport.server_name.clone().filter(|s| !s.is_empty()),
    })
}

/// `maxIdleConnsPerHost` as Go's `http.Transport` reads it: 0 is Go's default of 2, a negative
/// value keeps no idle connection. Unset, it is Traefik's documented 200 (Traefik itself passes
/// 0, hence 2, for a `serversTransports` entry that does not set it).
fn max_idle_per_server(configured: Option<i64>) -> usize {
    const GO_DEFAULT_MAX_IDLE_CONNS_PER_HOST: usize = 2;
    match configured {
        None => TransportSettings::default().max_idle_per_server,
        Some(0) => GO_DEFAULT_MAX_IDLE_CONNS_PER_HOST,
        Some(n) => usize::try_from(n).unwrap_or(0),
    }
}

impl CompileEnv for Compiler<'_> {
    fn states(&mut self) -> &mut StateRegistry {
        self.states
    }

    fn service(&mut self, qualified: &str) -> Result<Arc<ServiceHandler>, String> {
        Compiler::service(self, qualified)
    }
}

impl Compiler<'_> {
    /// Notes that `by` refers to the object `name` of `kind` (Traefik's `usedBy`).
    fn refer(&mut self, kind: ObjectKind, name: String, by: &str) {
        self.references
            .entry(kind)
            .or_default()
            .entry(name)
            .or_default()
            .push(by.to_string());
    }

    /// Copies the references noted during compilation into the objects' statuses.
    fn apply_references(&mut self) {
        for object in &mut self.status.objects {
            let by = self
                .references
                .get_mut(&object.kind)
                .and_then(|names| names.remove(object.name.as_str()));
            if let Some(by) = by {
                object.links = by;
            }
        }
    }

    /// The rotation over `weights` (all positive) of service `name`: the one of the previous
    /// configuration when the weights are the same, so a reload does not restart it.
    fn schedule(&mut self, name: &str, weights: &[u64]) -> Option<Arc<SmoothWeightedSchedule>> {
        if weights.is_empty() {
            return None;
        }
        Some(
            self.states
                .get_or_make("wrr", name, fingerprint(&weights), || {
                    SmoothWeightedSchedule::new(weights).expect("positive weights")
                }),
        )
    }

    /// Builds (once) the service with this qualified name, following `weighted` references.
    fn service(&mut self, name: &str) -> Result<Arc<ServiceHandler>, String> {
        if let Some(built) = self.built.get(name) {
            return built.clone();
        }
        let Some(&(provider, service)) = self.services.get(name) else {
            return Err("does not exist".into());
        };
        if !self.in_progress.insert(name.to_string()) {
            return Err("services refer to each other in a cycle".into());
        }
        let mut warnings = Vec::new();
        let result = self.build(name, provider, service, &mut warnings);
        self.in_progress.remove(name);
        let outcome = match &result {
            Ok(_) => Ok(warnings),
            Err(error) => Err(error.clone()),
        };
        self.status
            .record(ObjectKind::Service, name, provider, outcome, Vec::new());
        self.built.insert(name.to_string(), result.clone());
        result
    }

    fn build(
        &mut self,
        parent: &str,
        provider: &str,
        service: &Service,
        warnings: &mut Vec<String>,
    ) -> Result<Arc<ServiceHandler>, String> {
        if provider == internal::PROVIDER {
            let local = parent.strip_suffix("@internal").unwrap_or(parent);
            return InternalService::from_name(local)
                .map(|service| Arc::new(ServiceHandler::Internal(service)))
                .ok_or_else(|| format!("{parent} is not a service of the gateway's own"));
        }
        if let Some(lb) = &service.load_balancer {
            if lb.strategy() != "wrr" {
                return Err(format!(
                    "load-balancing strategy {:?} is not supported yet; use wrr",
                    lb.strategy()
                ));
            }
            if lb.sticky.is_some() {
                return Err("sticky sessions are not supported by this gateway yet".into());
            }
            if lb.health_check.is_some() || lb.passive_health_check.is_some() {
                warnings.push(
                    "health checks are not implemented yet: every server is treated as healthy"
                        .into(),
                );
            }
            let transport_name = lb
                .servers_transport
                .as_deref()
                .map_or_else(|| DEFAULT_TRANSPORT.to_string(), |t| qualify(t, provider));
            let transport = match self.transports.get(&transport_name) {
                Some(Ok(settings)) => settings.clone(),
                Some(Err(_)) => {
                    return Err(format!("serversTransport {transport_name:?} has errors"))
                }
                None if transport_name == DEFAULT_TRANSPORT => TransportSettings::default(),
                None => {
                    return Err(format!(
                        "serversTransport {transport_name:?} does not exist"
                    ))
                }
            };
            let mut servers = Vec::new();
            let mut weights = Vec::new();
            for (index, server) in lb.servers.iter().enumerate() {
                if server.weight() <= 0 {
                    continue;
                }
                let url = server
                    .url
                    .as_deref()
                    .ok_or_else(|| format!("servers/{index} has no url"))?;
                let upstream = Upstream::new(url, server.preserve_path(), &transport)
                    .map_err(|e| format!("servers/{index}: {e}"))?;
                servers.push(Arc::new(upstream));
                weights.push(server.weight() as u64);
            }
            return Ok(Arc::new(ServiceHandler::LoadBalancer(LoadBalancer {
                schedule: self.schedule(parent, &weights),
                servers,
                pass_host_header: lb.pass_host_header(),
            })));
        }
        if let Some(weighted) = &service.weighted {
            if weighted.sticky.is_some() {
                return Err("sticky sessions are not supported by this gateway yet".into());
            }
            if weighted.health_check.is_some() {
                warnings.push(
                    "health checks are not implemented yet: every service is treated as healthy"
                        .into(),
                );
            }
            let mut children = Vec::new();
            let mut weights = Vec::new();
            for (index, child) in weighted.services.iter().enumerate() {
                let child_name = child
                    .name
                    .as_deref()
                    .ok_or_else(|| format!("services/{index} has no name"))?;
                let qualified = qualify(child_name, provider);
                self.refer(ObjectKind::Service, qualified.clone(), parent);
                let handler = self
                    .service(&qualified)
                    .map_err(|e| format!("service {qualified:?}: {e}"))?;
                if child.weight() > 0 {
                    children.push(handler);
                    weights.push(child.weight() as u64);
                }
            }
            return Ok(Arc::new(ServiceHandler::Weighted {
                schedule: self.schedule(parent, &weights),
                children,
            }));
        }
        let kind = service.kind().unwrap_or("unknown");
        Err(format!(
            "service type {kind} is not supported by this gateway yet"
        ))
    }
}

#[cfg(test)]
mod tests;
