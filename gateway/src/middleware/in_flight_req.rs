//! `inFlightReq`: caps the requests in progress per source (by default the request host),
//! each counted until its response has been sent.

use super::source::{DefaultSource, Source};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::Answer;
use crate::runtime::registry::fingerprint;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::{ready, Future};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

/// Requests in progress by source, kept across reloads that leave the middleware unchanged.
#[derive(Default)]
pub struct Counters {
    shards: [Mutex<HashMap<Box<[u8]>, i64>>; SHARDS],
    hasher: RandomState,
}

impl Counters {
    fn shard(&self, source: &[u8]) -> &Mutex<HashMap<Box<[u8]>, i64>> {
        &self.shards[(self.hasher.hash_one(source) as usize) % SHARDS]
    }

    /// Counts one more request from `source` unless `max` are in progress.
    fn acquire(&self, source: &[u8], max: i64) -> bool {
        let mut counts = self.shard(source).lock().unwrap_or_else(|p| p.into_inner());
        match counts.get_mut(source) {
            Some(count) if *count >= max => false,
            Some(count) => {
                *count += 1;
                true
            }
            None if max <= 0 => false,
            None => {
                counts.insert(source.into(), 1);
                true
            }
        }
    }

    fn release(&self, source: &[u8]) {
        let mut counts = self.shard(source).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(source) {
            *count -= 1;
            if *count <= 0 {
                counts.remove(source);
            }
        }
    }

    /// Requests in progress from `source`.
    #[cfg(test)]
    fn count(&self, source: &[u8]) -> i64 {
        let counts = self.shard(source).lock().unwrap();
        counts.get(source).copied().unwrap_or(0)
    }
}

/// One request counted; released when the request ends.
struct InFlight {
    counters: Arc<Counters>,
    source: Box<[u8]>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.release(&self.source);
    }
}

/// A compiled `inFlightReq`.
pub struct InFlightReq {
    source: Source,
    amount: i64,
    counters: Arc<Counters>,
    /// Traefik's body for a request over the limit.
    refused: Bytes,
}

impl FromConfig<control::dynamic::InFlightReq> for InFlightReq {
    fn from_config(
        config: &control::dynamic::InFlightReq,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let source = Source::new(config.source_criterion.as_ref(), DefaultSource::Host)
            .map_err(|e| format!("error creating requests limiter: {e}"))?;
        let amount = config.amount.unwrap_or(0);
        let key = fingerprint(&serde_json::to_string(config).unwrap_or_default());
        let counters =
            context
                .env
                .states()
                .get_or_make("inFlightReq", context.scope, key, Counters::default);
        Ok(Self {
            source,
            amount,
            counters,
            refused: Bytes::from(format!("max connections reached: {amount}")),
        })
    }
}

impl HttpMiddleware for InFlightReq {
    fn keeps_state_per_router(&self) -> bool {
        true
    }

    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let source = self.source.of(&*request, context);
        if !self.counters.acquire(&source, self.amount) {
            tracing::debug!(amount = self.amount, "inFlightReq: limiting request source");
            return ready(Flow::Answer(
                Answer::empty(429).with_body(self.refused.clone()),
            ));
        }
        let held = InFlight {
            counters: self.counters.clone(),
            source: Box::from(&*source),
        };
        context.hold(held);
        ready(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build_in, context, request, run_request, TestEnv};
    use crate::middleware::Middleware;

    fn counters(m: &Middleware) -> Arc<Counters> {
        match m {
            Middleware::InFlightReq(m) => m.counters.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn requests_count_until_their_context_ends() {
        let mut env = TestEnv::default();
        let m = build_in(&mut env, r#"{"inFlightReq": {"amount": 2}}"#).unwrap();
        let (mut first, mut second, mut third) = (context(), context(), context());
        assert!(matches!(
            run_request(&m, &mut request("/"), &mut first),
            Flow::Continue
        ));
        assert!(matches!(
            run_request(&m, &mut request("/"), &mut second),
            Flow::Continue
        ));
        match run_request(&m, &mut request("/"), &mut third) {
            Flow::Answer(answer) => {
                assert_eq!(answer.status, 429);
                assert_eq!(&answer.body()[..], b"max connections reached: 2");
            }
            Flow::Continue => panic!("a third request in flight"),
        }
        assert_eq!(counters(&m).count(b"example.com"), 2, "by host by default");
        drop(first);
        assert_eq!(counters(&m).count(b"example.com"), 1);
        assert!(matches!(
            run_request(&m, &mut request("/"), &mut third),
            Flow::Continue
        ));
        drop((second, third));
        assert_eq!(counters(&m).count(b"example.com"), 0);
    }

    #[test]
    fn sources_are_counted_apart_and_survive_a_reload() {
        let mut env = TestEnv::default();
        let json =
            r#"{"inFlightReq": {"amount": 1, "sourceCriterion": {"requestHeaderName": "X-User"}}}"#;
        let m = build_in(&mut env, json).unwrap();
        let mut alice = request("/");
        alice.headers.insert("x-user", "alice".parse().unwrap());
        let mut bob = request("/");
        bob.headers.insert("x-user", "bob".parse().unwrap());
        let mut held = context();
        assert!(matches!(
            run_request(&m, &mut alice, &mut held),
            Flow::Continue
        ));
        assert!(matches!(
            run_request(&m, &mut bob, &mut context()),
            Flow::Continue
        ));
        env.states.forget_unused();
        let again = build_in(&mut env, json).unwrap();
        assert!(matches!(
            run_request(&again, &mut alice, &mut context()),
            Flow::Answer(_)
        ));
        drop(held);
        assert!(matches!(
            run_request(&again, &mut alice, &mut context()),
            Flow::Continue
        ));
    }

    #[test]
    fn no_amount_admits_nothing() {
        let m = build_in(&mut TestEnv::default(), r#"{"inFlightReq": {}}"#).unwrap();
        assert!(matches!(
            run_request(&m, &mut request("/"), &mut context()),
            Flow::Answer(_)
        ));
    }
}
