//! Traefik's read-only API (`api.insecure`, on the `traefik` entrypoint): the runtime state of
//! every object with its `status` and `error`, in Traefik's JSON shapes.

use crate::runtime::status::{ObjectKind, ObjectStatus};
use crate::runtime::Snapshot;
use control::static_config::StaticConfig;
use serde_json::{json, Map, Value};

/// An API answer: status, JSON body, and Traefik's `X-Next-Page` for lists.
#[derive(Debug, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON document.
    pub body: String,
    /// Next page number for paginated lists (1 when there is none).
    pub next_page: Option<usize>,
}

impl ApiResponse {
    fn json(value: Value) -> Self {
        Self {
            status: 200,
            body: value.to_string() + "\n",
            next_page: None,
        }
    }

    fn error(status: u16, message: String) -> Self {
        Self {
            status,
            body: json!({ "message": message }).to_string() + "\n",
            next_page: None,
        }
    }
}

/// Answers `GET path?query` when `path` is an API path; `None` for any other path.
pub fn handle(
    snapshot: &Snapshot,
    config: &StaticConfig,
    path: &str,
    query: &str,
) -> Option<ApiResponse> {
    let rest = path.strip_prefix("/api")?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let objects = &snapshot.status.objects;
    Some(match segments.as_slice() {
        ["rawdata"] => ApiResponse::json(rawdata(snapshot)),
        ["overview"] => ApiResponse::json(overview(objects)),
        ["version"] => ApiResponse::json(
            json!({ "Version": env!("CARGO_PKG_VERSION"), "Codename": "gateway" }),
        ),
        ["entrypoints"] => ApiResponse::json(Value::Array(
            config
                .entry_points
                .iter()
                .map(|(name, ep)| entry_point(name, ep))
                .collect(),
        )),
        ["entrypoints", name] => match config.entry_points.get(&unescape(name)) {
            Some(ep) => ApiResponse::json(entry_point(&unescape(name), ep)),
            None => ApiResponse::error(404, format!("entry point not found: {}", unescape(name))),
        },
        ["http", section] => list(snapshot, kind_of(section)?, query),
        ["http", section, name] => {
            let kind = kind_of(section)?;
            let name = unescape(name);
            match objects.iter().find(|o| o.kind == kind && o.name == name) {
                Some(object) => ApiResponse::json(representation(snapshot, object)),
                None => ApiResponse::error(404, format!("{} not found: {name}", kind.label())),
            }
        }
        _ => return None,
    })
}

fn kind_of(section: &str) -> Option<ObjectKind> {
    match section {
        "routers" => Some(ObjectKind::Router),
        "services" => Some(ObjectKind::Service),
        "middlewares" => Some(ObjectKind::Middleware),
        _ => None,
    }
}

fn unescape(segment: &str) -> String {
    control::rule::normalize_path(segment).replace("%40", "@")
}

fn entry_point(name: &str, ep: &control::static_config::EntryPoint) -> Value {
    let mut value = serde_json::to_value(ep).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("name".into(), name.into());
    }
    value
}

/// The object's configuration with Traefik's runtime fields added.
fn runtime_info(snapshot: &Snapshot, object: &ObjectStatus) -> Map<String, Value> {
    let mut map = match snapshot.object_config(object) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if !object.error.is_empty() {
        map.insert("error".into(), json!(object.error));
    }
    map.insert("status".into(), object.status.into());
    if !object.links.is_empty() {
        let field = if object.kind == ObjectKind::Router {
            "using"
        } else {
            "usedBy"
        };
        map.insert(field.into(), json!(object.links));
    }
    map
}

/// The object as `/api/http/<kind>s` shows it: runtime info plus name, provider and type.
fn representation(snapshot: &Snapshot, object: &ObjectStatus) -> Value {
    let mut map = runtime_info(snapshot, object);
    if object.kind != ObjectKind::Router {
        let kinds = [
            "loadBalancer",
            "weighted",
            "mirroring",
            "failover",
            "highestRandomWeight",
        ];
        let kind = map
            .keys()
            .find(|k| object.kind == ObjectKind::Middleware || kinds.contains(&k.as_str()));
        if let Some(kind) = kind.cloned() {
            map.insert("type".into(), kind.to_ascii_lowercase().into());
        }
    }
    map.insert("name".into(), object.name.clone().into());
    map.insert("provider".into(), object.provider.clone().into());
    Value::Object(map)
}

fn rawdata(snapshot: &Snapshot) -> Value {
    let mut sections: Map<String, Value> = Map::new();
    for object in &snapshot.status.objects {
        let section = match object.kind {
            ObjectKind::Router => "routers",
            ObjectKind::Service => "services",
            ObjectKind::Middleware => "middlewares",
            ObjectKind::ServersTransport => continue,
        };
        if let Value::Object(map) = sections.entry(section).or_insert_with(|| json!({})) {
            map.insert(
                object.name.clone(),
                Value::Object(runtime_info(snapshot, object)),
            );
        }
    }
    Value::Object(sections)
}

fn overview(objects: &[ObjectStatus]) -> Value {
    let count = |kind: ObjectKind| {
        let of_kind = || objects.iter().filter(move |o| o.kind == kind);
        json!({
            "total": of_kind().count(),
            "warnings": of_kind().filter(|o| o.status == "warning").count(),
            "errors": of_kind().filter(|o| o.status == "disabled").count(),
        })
    };
    let mut providers: Vec<&str> = objects.iter().map(|o| o.provider.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    let mut overview = json!({
        "http": {
            "routers": count(ObjectKind::Router),
            "services": count(ObjectKind::Service),
            "middlewares": count(ObjectKind::Middleware),
        },
        "tcp": {},
        "udp": {},
        "features": { "tracing": "", "metrics": "", "accessLog": false },
        "providers": providers,
    });
    // Beyond Traefik (its clients ignore the field): e.g. the Consul provider holding its last
    // committed configuration.
    let states = crate::providers::status::states();
    if !states.is_empty() {
        overview["providerStatus"] = json!(states);
    }
    overview
}

/// A page of one kind's objects, sorted by name, filtered by `status` and `search`.
fn list(snapshot: &Snapshot, kind: ObjectKind, query: &str) -> ApiResponse {
    let objects = &snapshot.status.objects;
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    };
    let number = |key: &str, default: usize| match param(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("invalid request: {key}: {v}")),
    };
    let (per_page, page) = match (number("per_page", 100), number("page", 1)) {
        (Ok(per_page), Ok(page)) => (per_page, page),
        (Err(e), _) | (_, Err(e)) => return ApiResponse::error(400, e),
    };
    let status = param("status").filter(|s| !s.is_empty());
    let search = param("search")
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    let mut selected: Vec<&ObjectStatus> = objects
        .iter()
        .filter(|o| o.kind == kind)
        .filter(|o| status.is_none_or(|s| o.status == s))
        .filter(|o| {
            search
                .as_deref()
                .is_none_or(|s| o.name.to_ascii_lowercase().contains(s))
        })
        .collect();
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    let start = (page - 1) * per_page;
    if start >= selected.len() && !(start == 0 && selected.is_empty()) {
        return ApiResponse::error(
            400,
            format!("invalid request: page: {page}, per_page: {per_page}"),
        );
    }
    let end = (start + per_page).min(selected.len());
    let mut response = ApiResponse::json(Value::Array(
        selected[start..end]
            .iter()
            .map(|o| representation(snapshot, o))
            .collect(),
    ));
    response.next_page = Some(if end < selected.len() { page + 1 } else { 1 });
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{compile, CompileContext};
    use control::decode::from_yaml_str;
    use control::dynamic_decode::decode_dynamic;
    use std::sync::Arc;

    fn snapshot() -> Snapshot {
        let yaml = "http:\n  routers:\n    good: {rule: Path(`/`), service: svc}\n    bad: {rule: Hots(`a`), service: svc}\n  services:\n    svc:\n      loadBalancer:\n        servers: [{url: 'http://127.0.0.1:1'}]\n";
        let decoded = decode_dynamic(&from_yaml_str(yaml).unwrap(), "dyn.yml");
        let context = CompileContext {
            entry_points: vec!["web".into()],
            default_entry_points: vec!["web".into()],
            ..Default::default()
        };
        compile(
            &context,
            &[("file".into(), Arc::new(decoded))],
            &mut crate::runtime::Carryover::default(),
        )
    }

    fn body(response: &ApiResponse) -> Value {
        serde_json::from_str(&response.body).unwrap()
    }

    #[test]
    fn routers_carry_status_errors_and_entrypoints() {
        let snapshot = snapshot();
        let config = StaticConfig::default();
        let response = handle(&snapshot, &config, "/api/http/routers", "").unwrap();
        let routers = body(&response);
        assert_eq!(routers[0]["name"], "bad@file");
        assert_eq!(routers[0]["status"], "disabled");
        assert!(routers[0]["error"][0]
            .as_str()
            .unwrap()
            .starts_with("dyn.yml: http/routers/bad/rule: rule \"Hots(`a`)\""));
        assert_eq!(routers[1]["name"], "good@file");
        assert_eq!(routers[1]["status"], "enabled");
        assert_eq!(routers[1]["using"], json!(["web"]));
        assert_eq!(routers[1]["rule"], "Path(`/`)");
        assert_eq!(response.next_page, Some(1));

        let one = handle(&snapshot, &config, "/api/http/services/svc%40file", "").unwrap();
        let service = body(&one);
        assert_eq!(service["type"], "loadbalancer");
        assert_eq!(
            service["usedBy"],
            json!(["good@file"]),
            "bad@file was rejected before compiling"
        );
        let missing = handle(&snapshot, &config, "/api/http/routers/nope@file", "").unwrap();
        assert_eq!(missing.status, 404);
        assert_eq!(body(&missing)["message"], "router not found: nope@file");
    }

    #[test]
    fn pagination_filters_and_overview() {
        let snapshot = snapshot();
        let config = StaticConfig::default();
        let page = handle(&snapshot, &config, "/api/http/routers", "per_page=1&page=1").unwrap();
        assert_eq!(body(&page).as_array().unwrap().len(), 1);
        assert_eq!(page.next_page, Some(2));
        let enabled = handle(&snapshot, &config, "/api/http/routers", "status=enabled").unwrap();
        assert_eq!(body(&enabled)[0]["name"], "good@file");
        assert_eq!(
            handle(&snapshot, &config, "/api/http/routers", "page=9")
                .unwrap()
                .status,
            400
        );
        let overview = body(&handle(&snapshot, &config, "/api/overview", "").unwrap());
        assert_eq!(
            overview["http"]["routers"],
            json!({"total": 2, "warnings": 0, "errors": 1})
        );
        let raw = body(&handle(&snapshot, &config, "/api/rawdata", "").unwrap());
        assert_eq!(raw["routers"]["good@file"]["status"], "enabled");
        assert!(handle(&snapshot, &config, "/ping", "").is_none());
        assert!(
            handle(&snapshot, &config, "/api/nope", "").is_none(),
            "Go's 404 page"
        );
    }
}
