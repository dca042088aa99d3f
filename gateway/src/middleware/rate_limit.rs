//! `rateLimit`: a token bucket per source with Traefik's average/period/burst semantics and
//! its delay-or-reject rule, kept in memory (at most 65 536 sources) or shared through Redis.

mod local;
mod redis;
mod resp;

use super::source::{DefaultSource, Source};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::Answer;
use crate::runtime::registry::fingerprint;
use control::duration::GoDuration;
use http::header::{HeaderName, HeaderValue};
use local::LocalLimiter;
use redis::RedisLimiter;
use std::sync::Arc;
use std::time::Duration;

/// How many sources the in-memory limiter tracks at most (Traefik's `maxSources`).
pub const MAX_SOURCES: usize = 65_536;

/// The limits Traefik derives from a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Tokens per second; `f64::INFINITY` when `average` is 0 (no limit).
    pub rate: f64,
    /// Bucket size, at least 1.
    pub burst: i64,
    /// Longest wait a request is delayed by instead of rejected.
    pub max_delay: Duration,
    /// Seconds an idle bucket is kept.
    pub ttl_secs: u64,
}

impl Limits {
    /// Traefik's derivation: rate = average / period; maxDelay = 1 / (2 × whole rate), 500 ms
    /// under one request per second; the TTL grows as the rate falls below 1.
    pub fn new(config: &control::dynamic::RateLimit) -> Result<Self, String> {
        let burst = config.burst().max(1);
        let period = config.period().as_nanos();
        if period < 0 {
            return Err(format!(
                "negative value not valid for period: {}",
                GoDuration::from_nanos(period)
            ));
        }
        let period = if period == 0 { 1_000_000_000 } else { period };
        let average = config.average();
        let (rate, max_delay) = if average > 0 {
            let rate = average.saturating_mul(1_000_000_000) as f64 / period as f64;
            let max_delay = if rate < 1.0 {
                Duration::from_millis(500)
            } else {
                // Go divides a second by the whole part of the rate, doubled.
                Duration::from_nanos(1_000_000_000 / ((rate as u64).saturating_mul(2)).max(1))
            };
            (rate, max_delay)
        } else {
            (f64::INFINITY, Duration::ZERO)
        };
        let ttl_secs = if rate >= 1.0 {
            2
        } else if rate > 0.0 {
            1 + (1.0 / rate) as u64
        } else {
            1
        };
        Ok(Self {
            rate,
            burst,
            max_delay,
            ttl_secs,
        })
    }
}

enum Limiter {
    /// `average` 0 in memory: every request passes.
    Unlimited,
    Local(Arc<LocalLimiter>),
    Redis(Arc<RedisLimiter>),
}

/// A compiled `rateLimit`.
pub struct RateLimit {
    source: Source,
    max_delay: Duration,
    limiter: Limiter,
}

impl FromConfig<control::dynamic::RateLimit> for RateLimit {
    fn from_config(
        config: &control::dynamic::RateLimit,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let source = Source::new(config.source_criterion.as_ref(), DefaultSource::Ip)
            .map_err(|e| format!("getting source extractor: {e}"))?;
        let limits = Limits::new(config)?;
        let key = fingerprint(&serde_json::to_string(config).unwrap_or_default());
        let limiter = match &config.redis {
            Some(redis) => {
                let made = RedisLimiter::new(context.name, limits, redis)
                    .map_err(|e| format!("creating redis limiter: {e}"))?;
                Limiter::Redis(context.env.states().get_or_make(
                    "rateLimit.redis",
                    context.name,
                    key,
                    || made,
                ))
            }
            None if limits.rate.is_infinite() => Limiter::Unlimited,
            // Local buckets are the router's own (Traefik builds a limiter per router); the
            // Redis ones are shared by name, as Traefik's keys are.
            None => Limiter::Local(context.env.states().get_or_make(
                "rateLimit",
                context.scope,
                key,
                || LocalLimiter::new(limits),
            )),
        };
        Ok(Self {
            source,
            max_delay: limits.max_delay,
            limiter,
        })
    }
}

const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const X_RETRY_IN: HeaderName = HeaderName::from_static("x-retry-in");

/// Traefik's answer to a request that would wait too long: 429 with when to retry.
fn too_many_requests(delay: Duration) -> Answer {
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    let retry_in = GoDuration::from_nanos(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX));
    Answer::empty(429)
        .with_body("Too Many Requests")
        .header(RETRY_AFTER, HeaderValue::from(seconds))
        .header(
            X_RETRY_IN,
            HeaderValue::try_from(retry_in.to_string()).unwrap_or(HeaderValue::from_static("0s")),
        )
}

impl HttpMiddleware for RateLimit {
    fn keeps_state_per_router(&self) -> bool {
        matches!(self.limiter, Limiter::Local(_))
    }

    async fn request<R: RequestEdit>(&self, request: &mut R, context: &mut Context) -> Flow {
        let delay = match &self.limiter {
            Limiter::Unlimited => return Flow::Continue,
            Limiter::Local(limiter) => limiter.allow(&self.source.of(&*request, context)),
            Limiter::Redis(limiter) => {
                let source = self.source.of(&*request, context);
                // Boxed: the Redis exchange's future would size every chain's.
                match Box::pin(limiter.allow(&source)).await {
                    Ok(Some(delay)) => delay,
                    Ok(None) => {
                        return Flow::Answer(Answer::go_error(429, b"No bursty traffic allowed\n"))
                    }
                    Err(()) => {
                        return Flow::Answer(Answer::go_error(
                            500,
                            b"Could not insert/update bucket\n",
                        ))
                    }
                }
            }
        };
        if delay > self.max_delay {
            return Flow::Answer(too_many_requests(delay));
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, build_in, run, TestEnv};

    fn limits(json: &str) -> Limits {
        Limits::new(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn limits_are_derived_as_traefik_does() {
        let l = limits(r#"{"average": 100}"#);
        assert_eq!((l.rate, l.burst, l.ttl_secs), (100.0, 1, 2));
        assert_eq!(l.max_delay, Duration::from_millis(5));
        let l = limits(r#"{"average": 3, "period": "2s", "burst": 10}"#);
        assert_eq!(l.rate, 1.5);
        assert_eq!(
            l.max_delay,
            Duration::from_millis(500),
            "whole part of 1.5 is 1"
        );
        let l = limits(r#"{"average": 1, "period": "1m", "burst": 0}"#);
        assert_eq!((l.burst, l.ttl_secs), (1, 60 + 1));
        assert_eq!(l.max_delay, Duration::from_millis(500));
        let l = limits(r#"{"average": 0}"#);
        assert!(l.rate.is_infinite());
        assert_eq!((l.max_delay, l.ttl_secs), (Duration::ZERO, 2));
        let l = limits(r#"{"average": 7, "period": 0}"#);
        assert_eq!(l.rate, 7.0, "period 0 is one second");
        let error = Limits::new(&serde_json::from_str(r#"{"period": "-1s"}"#).unwrap());
        assert_eq!(
            error.unwrap_err(),
            "negative value not valid for period: -1s"
        );
    }

    #[test]
    fn the_429_carries_when_to_retry() {
        let answer = too_many_requests(Duration::from_millis(2500));
        assert_eq!(answer.status, 429);
        assert_eq!(&answer.body()[..], b"Too Many Requests");
        assert_eq!(answer.header_map()["retry-after"], "3");
        assert_eq!(answer.header_map()["x-retry-in"], "2.5s");
        let answer = too_many_requests(Duration::from_secs(59));
        assert_eq!(answer.header_map()["retry-after"], "59");
        assert_eq!(answer.header_map()["x-retry-in"], "59s");
    }

    #[test]
    fn a_burst_passes_then_requests_are_rejected() {
        let m = build(r#"{"rateLimit": {"average": 1, "period": "1m", "burst": 3}}"#).unwrap();
        for _ in 0..3 {
            assert!(run(&m, "/").is_ok());
        }
        let answer = run(&m, "/").unwrap_err();
        assert_eq!(answer.status, 429);
        let retry: u64 = answer.header_map()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=60).contains(&retry), "{retry}");
    }

    #[test]
    fn no_average_is_no_limit() {
        let m = build(r#"{"rateLimit": {"burst": 1}}"#).unwrap();
        for _ in 0..20 {
            assert!(run(&m, "/").is_ok());
        }
    }

    #[test]
    fn buckets_survive_a_rebuild_with_the_same_configuration() {
        let mut env = TestEnv::default();
        let json = r#"{"rateLimit": {"average": 1, "period": "1m", "burst": 1}}"#;
        let m = build_in(&mut env, json).unwrap();
        assert!(run(&m, "/").is_ok());
        env.states.forget_unused();
        let again = build_in(&mut env, json).unwrap();
        assert_eq!(run(&again, "/").unwrap_err().status, 429, "same bucket");
        env.states.forget_unused();
        let changed = build_in(
            &mut env,
            r#"{"rateLimit": {"average": 1, "period": "1m", "burst": 2}}"#,
        )
        .unwrap();
        assert!(
            run(&changed, "/").is_ok(),
            "a new configuration starts afresh"
        );
    }

    #[test]
    fn criteria_errors_are_traefiks() {
        let error = build(
            r#"{"rateLimit": {"sourceCriterion": {"ipStrategy": {}, "requestHeaderName": "X"}}}"#,
        )
        .err()
        .unwrap();
        assert_eq!(
            error,
            "getting source extractor: iPStrategy and RequestHeaderName are mutually exclusive"
        );
    }
}
