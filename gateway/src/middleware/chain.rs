//! Middleware chains: [`ChainBuilder`] resolves a router's (and an entrypoint's) middleware
//! names at compile time (qualified names, `chain` middlewares flattened, cycles and unknown
//! names reported as Traefik does), and a [`Chain`] runs the request and response phases.

use super::{build, BuildContext, CompileEnv, Context, Flow, Middleware, Needs};
use super::{RequestEdit, ResponseEdit};
use crate::proxy::responses::Answer;
use crate::runtime::compile::qualify;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// A router's middlewares, chains flattened, in the order they run. Cloning shares them.
#[derive(Clone, Default)]
pub struct Chain {
    members: Arc<[Arc<Middleware>]>,
    needs: Needs,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("members", &self.members.len())
            .field("needs", &self.needs)
            .finish()
    }
}

impl Chain {
    fn new(members: Vec<Arc<Middleware>>) -> Self {
        let needs = members
            .iter()
            .fold(Needs::REQUEST_HEAD, |needs, m| needs.union(m.needs()));
        Self {
            members: members.into(),
            needs,
        }
    }

    /// Whether it has no middleware (the request goes straight to the service).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// What its middlewares need beyond the request head.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// Runs the request phases in order. `Err(answer)`: a middleware answered, and the
    /// response phases of those before it have been applied to the answer.
    pub async fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> Result<(), Answer> {
        for (index, middleware) in self.members.iter().enumerate() {
            context.entered = index;
            context.current = index;
            if let Flow::Answer(mut answer) = middleware.request(request, context).await {
                if let Some(replaced) = self.respond(&*request, &mut answer, context).await {
                    answer = replaced;
                }
                return Err(answer);
            }
        }
        context.entered = self.members.len();
        Ok(())
    }

    /// Runs the replacing and response phases of the middlewares whose request phase let the
    /// request on, last first. `Some` answer replaced the response (an `errors` page): the
    /// phases of the middlewares before the one that replaced it were applied to it, not to
    /// `response`.
    pub async fn respond<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
        context: &mut Context,
    ) -> Option<Answer> {
        if !self.needs.response_head {
            return None;
        }
        let entered = context.entered.min(self.members.len());
        let mut replaced: Option<Answer> = None;
        for (index, middleware) in self.members[..entered].iter().enumerate().rev() {
            context.current = index;
            let status = match &replaced {
                Some(answer) => answer.status(),
                None => response.status(),
            };
            if let Some(answer) = middleware.replace(request, status, context).await {
                replaced = Some(answer);
            }
            match &mut replaced {
                Some(answer) => middleware.response(request, answer, context),
                None => middleware.response(request, response, context),
            }
        }
        replaced
    }

    /// Runs the response phases of the middlewares whose request phase let the request on,
    /// last first.
    pub fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        request: &R,
        response: &mut S,
        context: &mut Context,
    ) {
        if !self.needs.response_head {
            return;
        }
        let entered = context.entered.min(self.members.len());
        for (index, middleware) in self.members[..entered].iter().enumerate().rev() {
            context.current = index;
            middleware.response(request, response, context);
        }
    }

    /// Runs the request body phases in order on one chunk. `Err(answer)`: a middleware
    /// refused the body (the response phases of those before it are applied to the answer
    /// by the caller, through [`Self::response`]).
    pub fn request_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        context: &mut Context,
    ) -> Result<(), Box<Answer>> {
        if !self.needs.request_body {
            return Ok(());
        }
        for (index, middleware) in self.members.iter().enumerate() {
            context.current = index;
            if let Err(answer) = middleware.request_body(body, end_of_stream, context) {
                context.entered = index;
                return Err(answer);
            }
        }
        Ok(())
    }

    /// Runs the response body phases on one chunk of an upstream response, last middleware
    /// first, for the middlewares whose response phase ran.
    pub fn response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        context: &mut Context,
    ) -> Result<(), String> {
        if !self.needs.response_body {
            return Ok(());
        }
        let entered = context.entered.min(self.members.len());
        for (index, middleware) in self.members[..entered].iter().enumerate().rev() {
            context.current = index;
            middleware.response_body(body, end_of_stream, context)?;
        }
        Ok(())
    }
}

impl Chain {
    /// After a failed connection to the server (nothing sent): the wait before forwarding
    /// again, if a middleware whose request phase ran (the innermost first) asks for it.
    pub fn retry_after_connect_failure(&self, context: &mut Context) -> Option<Duration> {
        if !self.needs.forward_events {
            return None;
        }
        let entered = context.entered.min(self.members.len());
        self.members[..entered]
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, middleware)| {
                context.current = index;
                middleware.retry_after_connect_failure(context)
            })
    }

    /// The exchange is over, the client got `status`: tells the middlewares whose request
    /// phase let the request on, last first.
    pub fn done(&self, status: u16, context: &mut Context) {
        if !self.needs.forward_events {
            return;
        }
        let entered = context.entered.min(self.members.len());
        for (index, middleware) in self.members[..entered].iter().enumerate().rev() {
            context.current = index;
            middleware.done(status, context);
        }
    }
}

/// A middleware resolved into the leaves it stands for (a `chain` is its members).
type Members = Arc<[Leaf]>;

/// A built middleware and the qualified name of the configuration it was built from.
#[derive(Clone)]
struct Leaf {
    name: Arc<str>,
    middleware: Arc<Middleware>,
}

/// Resolves middleware names into chains, building each middleware once per compile.
pub struct ChainBuilder<'a> {
    /// Every configured middleware by qualified name, with its provider.
    configs: BTreeMap<String, (&'a str, &'a control::dynamic::Middleware)>,
    /// Each resolved middleware, flattened (a `chain` is its members).
    resolved: HashMap<String, Result<Members, String>>,
    /// Middlewares being resolved, outermost first (Traefik's recursion stack).
    stack: Vec<String>,
}

impl<'a> ChainBuilder<'a> {
    /// A builder over the configured middlewares (qualified name to provider and config).
    pub fn new(configs: BTreeMap<String, (&'a str, &'a control::dynamic::Middleware)>) -> Self {
        Self {
            configs,
            resolved: HashMap::new(),
            stack: Vec::new(),
        }
    }

    /// The qualified names of every configured middleware, with their providers.
    pub fn names(&self) -> Vec<(String, &'a str)> {
        self.configs
            .iter()
            .map(|(name, (provider, _))| (name.clone(), *provider))
            .collect()
    }

    /// The chain of `references` as named by `router` of `provider`: an error names the first
    /// middleware that cannot be applied, and why. Middlewares that keep state of their own
    /// (rate limits, in-flight counts, breakers) get an instance for this router, as Traefik
    /// builds one per router; the others are shared by every router that names them.
    pub fn chain(
        &mut self,
        references: &[String],
        provider: &str,
        router: &str,
        env: &mut dyn CompileEnv,
    ) -> Result<Chain, String> {
        let leaves = self.flatten(references, provider, env)?;
        let mut members = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            if !leaf.middleware.keeps_state_per_router() {
                members.push(leaf.middleware);
                continue;
            }
            let &(provider, config) = self
                .configs
                .get(&*leaf.name)
                .expect("a built middleware has its configuration");
            let scope = format!("{router}>{}", leaf.name);
            let mut context = BuildContext {
                name: &leaf.name,
                provider,
                scope: &scope,
                env: &mut *env,
            };
            let instance = build(config, &mut context)
                .map_err(|error| format!("middleware {:?}: {error}", leaf.name))?;
            members.push(Arc::new(instance));
        }
        Ok(Chain::new(members))
    }

    /// The leaves `references` (named from `provider`) stand for, chains flattened.
    fn flatten(
        &mut self,
        references: &[String],
        provider: &str,
        env: &mut dyn CompileEnv,
    ) -> Result<Vec<Leaf>, String> {
        let mut members = Vec::new();
        for reference in references {
            let name = qualify(reference, provider);
            match self.resolve(&name, env) {
                Ok(resolved) => members.extend(resolved.iter().cloned()),
                Err(error) if !self.configs.contains_key(&name) => return Err(error),
                Err(error) => return Err(format!("middleware {name:?}: {error}")),
            }
        }
        Ok(members)
    }

    /// Checks the middleware `name` (qualified): built once, chains flattened; `Err` says why
    /// it cannot be used.
    pub fn check(&mut self, name: &str, env: &mut dyn CompileEnv) -> Result<(), String> {
        self.resolve(name, env).map(|_| ())
    }

    /// The middleware `name` (qualified), flattened, built once.
    fn resolve(&mut self, name: &str, env: &mut dyn CompileEnv) -> Result<Members, String> {
        if let Some(resolved) = self.resolved.get(name) {
            return resolved.clone();
        }
        let Some(&(provider, config)) = self.configs.get(name) else {
            return Err(format!("middleware {name:?} does not exist"));
        };
        if self.stack.iter().any(|n| n == name) {
            let path: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&name.to_string()))
                .map(|n| format!("middleware:{n}"))
                .collect();
            return Err(format!(
                "could not instantiate middleware {name}: recursion detected in {}",
                path.join("->")
            ));
        }
        self.stack.push(name.to_string());
        let result = self.build_one(name, provider, config, env);
        self.stack.pop();
        self.resolved.insert(name.to_string(), result.clone());
        result
    }

    fn build_one(
        &mut self,
        name: &str,
        provider: &str,
        config: &control::dynamic::Middleware,
        env: &mut dyn CompileEnv,
    ) -> Result<Members, String> {
        config.kind()?;
        if let Some(chain) = &config.chain {
            return self
                .flatten(&chain.middlewares, provider, env)
                .map(Members::from);
        }
        let mut context = BuildContext {
            name,
            provider,
            scope: name,
            env,
        };
        let middleware = build(config, &mut context)?;
        Ok(Arc::from([Leaf {
            name: name.into(),
            middleware: Arc::new(middleware),
        }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, context, request};
    use std::io::Read;

    #[test]
    fn body_phases_run_in_order_with_state_per_middleware() {
        let compress = Arc::new(build(r#"{"compress": {}}"#).unwrap());
        let buffering = Arc::new(build(r#"{"buffering": {}}"#).unwrap());
        let chain = Chain::new(vec![compress, buffering]);
        assert!(!chain.needs().lean());
        let mut req = request("/");
        req.headers
            .insert(http::header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        let mut ctx = context();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(runtime.block_on(chain.request(&mut req, &mut ctx)).is_ok());
        let mut head = http::Response::builder()
            .header("content-type", "text/plain")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        ctx.response_body_filtered = true;
        chain.response(&req, &mut head, &mut ctx);
        assert_eq!(head.headers["content-encoding"], "gzip");
        let text = "streamed, held whole by buffering, then compressed ".repeat(50);
        let mut sent = Vec::new();
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(300).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let mut chunk = Some(Bytes::copy_from_slice(piece));
            let last = i + 1 == pieces.len();
            chain.response_body(&mut chunk, last, &mut ctx).unwrap();
            let chunk = chunk.unwrap_or_default();
            assert!(last || chunk.is_empty(), "buffering holds until the end");
            sent.extend_from_slice(&chunk);
        }
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&sent[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
    }
}
