//! Unit-test helpers for middlewares: build one from Traefik's JSON form and run its phases
//! on an `http` request.

use super::{build as build_middleware, BuildContext, CompileEnv, Context, Flow, Middleware};
use crate::proxy::responses::Answer;
use crate::runtime::registry::StateRegistry;
use crate::runtime::service::ServiceHandler;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A compiler environment with a state registry of its own and the services put in it.
#[derive(Default)]
pub struct TestEnv {
    /// Kept across builds made with the same environment.
    pub states: StateRegistry,
    /// Services by qualified name.
    pub services: HashMap<String, Arc<ServiceHandler>>,
}

/// A `loadBalancer` over the servers at `urls` (none: a service with no server).
pub fn load_balancer(urls: &[&str]) -> Arc<ServiceHandler> {
    use crate::runtime::service::{LoadBalancer, TransportSettings, Upstream};
    let settings = TransportSettings::default();
    let servers = urls
        .iter()
        .map(|url| Arc::new(Upstream::new(url, false, &settings).expect("a test server URL")))
        .collect();
    let schedule = crate::runtime::wrr::SmoothWeightedSchedule::new(&vec![1; urls.len()]);
    Arc::new(ServiceHandler::LoadBalancer(LoadBalancer {
        servers,
        schedule: schedule.map(Arc::new),
        pass_host_header: true,
    }))
}

impl CompileEnv for TestEnv {
    fn states(&mut self) -> &mut StateRegistry {
        &mut self.states
    }

    fn service(&mut self, qualified: &str) -> Result<Arc<ServiceHandler>, String> {
        self.services
            .get(qualified)
            .cloned()
            .ok_or_else(|| format!("service {qualified:?} does not exist"))
    }
}

/// Builds the middleware of a JSON configuration (`{"addPrefix": {"prefix": "/a"}}`), as
/// `test@file`.
pub fn build(json: &str) -> Result<Middleware, String> {
    build_in(&mut TestEnv::default(), json)
}

/// Builds in `env` (to see state kept across builds).
pub fn build_in(env: &mut TestEnv, json: &str) -> Result<Middleware, String> {
    let config: control::dynamic::Middleware =
        serde_json::from_str(json).map_err(|e| format!("bad test configuration: {e}"))?;
    let mut context = BuildContext {
        name: "test@file",
        provider: "file",
        scope: "test@file",
        env,
    };
    build_middleware(&config, &mut context)
}

/// A GET request for `target` from 192.0.2.1.
pub fn request(target: &str) -> http::request::Parts {
    http::Request::get(target)
        .header("host", "example.com")
        .body(())
        .expect("a valid test request")
        .into_parts()
        .0
}

/// The context of a plain-HTTP request from 192.0.2.1.
pub fn context() -> Context {
    Context::new(Some(IpAddr::from([192, 0, 2, 1])), false, false)
}

/// Runs the request phase on `request` to completion.
pub fn run_request(
    middleware: &Middleware,
    request: &mut http::request::Parts,
    context: &mut Context,
) -> Flow {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(middleware.request(request, context))
}

/// The request forwarded for a GET of `target`, or the answer given instead.
pub fn run(middleware: &Middleware, target: &str) -> Result<http::request::Parts, Box<Answer>> {
    let mut request = request(target);
    match run_request(middleware, &mut request, &mut context()) {
        Flow::Continue => Ok(request),
        Flow::Answer(answer) => Err(Box::new(answer)),
    }
}

/// The request forwarded for a GET of `target`; panics if the middleware answered.
pub fn forwarded(middleware: &Middleware, target: &str) -> http::request::Parts {
    match run(middleware, target) {
        Ok(request) => request,
        Err(answer) => panic!("the middleware answered {}", answer.status),
    }
}

/// A server on 127.0.0.1 that answers one request with `reply` (raw bytes) and hands back the
/// request head it read; its URL is `http://127.0.0.1:PORT`.
pub fn one_shot_server(
    reply: impl AsRef<[u8]> + Send + 'static,
) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
        let _ = stream.write_all(reply.as_ref());
    });
    (url, receiver)
}
