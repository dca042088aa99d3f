//! Middleware chains: [`ChainBuilder`] resolves a router's (and an entrypoint's) middleware
//! names at compile time (qualified names, `chain` middlewares flattened, cycles and unknown
//! names reported as Traefik does), and a [`Chain`] runs the request and response phases.

use super::{build, BuildContext, CompileEnv, Context, Flow, Middleware, Needs};
use super::{RequestEdit, ResponseEdit};
use crate::proxy::responses::Answer;
use crate::runtime::compile::qualify;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A router's middlewares, chains flattened, in the order they run. Cloning shares them.
#[derive(Clone, Default)]
pub struct Chain {
    members: Members,
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
        for middleware in self.members[..entered].iter().rev() {
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
        for middleware in self.members[..entered].iter().rev() {
            middleware.response(request, response, context);
        }
    }
}

/// A middleware resolved into the leaves it stands for (a `chain` is its members).
type Members = Arc<[Arc<Middleware>]>;

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

    /// The chain of `references` as named by an object of `provider`: an error names the
    /// first middleware that cannot be applied, and why.
    pub fn chain(
        &mut self,
        references: &[String],
        provider: &str,
        env: &mut dyn CompileEnv,
    ) -> Result<Chain, String> {
        let mut members = Vec::new();
        for reference in references {
            let name = qualify(reference, provider);
            match self.resolve(&name, env) {
                Ok(resolved) => members.extend(resolved.iter().cloned()),
                Err(error) if !self.configs.contains_key(&name) => return Err(error),
                Err(error) => return Err(format!("middleware {name:?}: {error}")),
            }
        }
        Ok(Chain::new(members))
    }

    /// The middleware `name` (qualified), flattened, built once.
    pub fn resolve(&mut self, name: &str, env: &mut dyn CompileEnv) -> Result<Members, String> {
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
                .chain(&chain.middlewares, provider, env)
                .map(|chain| chain.members);
        }
        let mut context = BuildContext {
            name,
            provider,
            env,
        };
        let middleware = build(config, &mut context)?;
        Ok(Arc::from([Arc::new(middleware)]))
    }
}
