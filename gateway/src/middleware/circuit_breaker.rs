//! `circuitBreaker`: oxy's breaker (standby, tripped, recovering) over the answers of the rest
//! of the chain, tripped by a condition on rolling metrics, answering a fallback while open.

mod expression;
mod metrics;

use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs, RequestEdit};
use crate::proxy::responses::{go_status_text, Answer};
use crate::runtime::registry::fingerprint;
use expression::Condition;
use metrics::Metrics;
use std::future::{ready, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// oxy's defaults, used when a duration is unset or not positive.
const DEFAULT_CHECK_PERIOD: u64 = 100_000_000;
const DEFAULT_FALLBACK_DURATION: u64 = 10_000_000_000;
const DEFAULT_RECOVERY_DURATION: u64 = 10_000_000_000;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Closed: every request goes on, answers are measured.
    Standby,
    /// Open: every request gets the fallback until the fallback duration is over.
    Tripped,
    /// Letting a growing share of requests on (none at first, half at the end).
    Recovering,
}

/// oxy's ratio controller: while recovering, lets requests on so that the share let on stays
/// under a target growing linearly from 0 to 0.5 over the recovery duration.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    start: u64,
    allowed: u64,
    denied: u64,
}

impl Ramp {
    fn allow(&mut self, now: u64, duration: u64) -> bool {
        let target = 0.5 / duration as f64 * now.saturating_sub(self.start) as f64;
        let ratio = (self.allowed + 1) as f64 / (self.allowed + 1 + self.denied) as f64;
        if ratio < target {
            self.allowed += 1;
            true
        } else {
            self.denied += 1;
            false
        }
    }
}

struct Inner {
    state: State,
    /// End of the tripped or recovering state (ns since the epoch).
    until: u64,
    /// The condition is evaluated on the first answer after this.
    next_check: u64,
    ramp: Ramp,
    metrics: Metrics,
}

/// One breaker's state, kept across reloads that do not change its configuration.
pub struct Breaker {
    condition: Condition,
    check_period: u64,
    fallback_duration: u64,
    recovery_duration: u64,
    /// Whether the state is standby: the common case reads it without the lock.
    standby: AtomicBool,
    inner: Mutex<Inner>,
}

impl Breaker {
    fn new(condition: Condition, check_period: u64, fallback: u64, recovery: u64) -> Self {
        Self {
            condition,
            check_period,
            fallback_duration: fallback,
            recovery_duration: recovery,
            standby: AtomicBool::new(true),
            inner: Mutex::new(Inner {
                state: State::Standby,
                until: 0,
                next_check: 0,
                ramp: Ramp {
                    start: 0,
                    allowed: 0,
                    denied: 0,
                },
                metrics: Metrics::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_state(&self, inner: &mut Inner, state: State, until: u64) {
        if inner.state != state {
            tracing::debug!(from = ?inner.state, to = ?state, "circuit breaker state change");
        }
        inner.state = state;
        inner.until = until;
        self.standby
            .store(state == State::Standby, Ordering::Release);
    }

    /// Whether a request at `now` goes on (else it gets the fallback): oxy's
    /// `activateFallback`, which also moves tripped to recovering and recovering to standby.
    pub fn admit(&self, now: u64) -> bool {
        if self.standby.load(Ordering::Acquire) {
            return true;
        }
        let mut inner = self.lock();
        match inner.state {
            State::Standby => return true,
            State::Tripped if now < inner.until => return false,
            State::Tripped => {
                self.set_state(&mut inner, State::Recovering, now + self.recovery_duration);
                inner.ramp = Ramp {
                    start: now,
                    allowed: 0,
                    denied: 0,
                };
            }
            State::Recovering => {}
        }
        if now > inner.until {
            self.set_state(&mut inner, State::Standby, now);
            return true;
        }
        let duration = self.recovery_duration;
        inner.ramp.allow(now, duration)
    }

    /// Records an answer the rest of the chain gave at `now` (`status`, `latency_ns`), then
    /// evaluates the condition if a check period has passed: trips when it holds.
    pub fn observe(&self, now: u64, status: u16, latency_ns: u64) {
        let mut inner = self.lock();
        inner.metrics.record(now, status, latency_ns);
        if now <= inner.next_check {
            return;
        }
        inner.next_check = now + self.check_period;
        if inner.state == State::Tripped {
            return;
        }
        if self.condition.holds(&mut inner.metrics, now) {
            self.set_state(&mut inner, State::Tripped, now + self.fallback_duration);
            inner.metrics.reset(now);
        }
    }

    /// The current state.
    #[cfg(test)]
    pub fn state(&self) -> State {
        self.lock().state
    }
}

/// Wall-clock time in ns since the epoch, as oxy's clock.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A request let on by a breaker: when it started, to measure its latency.
struct Started {
    at: Instant,
}

/// A compiled `circuitBreaker`.
pub struct CircuitBreaker {
    breaker: Arc<Breaker>,
    fallback: Answer,
}

impl FromConfig<control::dynamic::CircuitBreaker> for CircuitBreaker {
    fn from_config(
        config: &control::dynamic::CircuitBreaker,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let expression = config.expression.as_deref().unwrap_or("");
        let condition = expression::parse(expression)
            .map_err(|e| format!("circuitBreaker expression {expression:?}: {e}"))?;
        let code = config.response_code();
        let status = u16::try_from(code)
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| format!("invalid circuitBreaker responseCode {code}"))?;
        let positive = |d: Option<control::duration::GoDuration>, default: u64| {
            d.filter(|d| d.is_positive())
                .map_or(default, |d| d.as_nanos() as u64)
        };
        let check_period = positive(config.check_period, DEFAULT_CHECK_PERIOD);
        let fallback = positive(config.fallback_duration, DEFAULT_FALLBACK_DURATION);
        let recovery = positive(config.recovery_duration, DEFAULT_RECOVERY_DURATION);
        let key = serde_json::to_string(config).unwrap_or_default();
        let breaker = context.env.states().get_or_make(
            "circuitBreaker",
            context.scope,
            fingerprint(&key),
            || Breaker::new(condition, check_period, fallback, recovery),
        );
        Ok(Self {
            breaker,
            fallback: fallback_answer(status),
        })
    }
}

/// Traefik's fallback: the status with Go's status text as the body and no `Content-Type`
/// (Traefik v3 does not sniff one), no body for a code that allows none.
fn fallback_answer(status: u16) -> Answer {
    let answer = Answer::empty(status);
    if matches!(status, 100..=199 | 204 | 304) {
        answer
    } else {
        answer.with_body(go_status_text(status).unwrap_or_default().as_bytes())
    }
}

impl HttpMiddleware for CircuitBreaker {
    fn keeps_state_per_router(&self) -> bool {
        true
    }

    fn needs(&self) -> Needs {
        Needs {
            forward_events: true,
            ..Needs::REQUEST_HEAD
        }
    }

    fn request<R: RequestEdit>(
        &self,
        _request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        if !self.breaker.admit(now()) {
            return ready(Flow::Answer(self.fallback.clone()));
        }
        context.set_state(Started { at: Instant::now() });
        ready(Flow::Continue)
    }

    fn done(&self, status: u16, context: &mut Context) {
        if let Some(started) = context.state_mut::<Started>() {
            let latency = started.at.elapsed().as_nanos() as u64;
            self.breaker.observe(now(), status, latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, build_in, context, request, run_request, TestEnv};
    use crate::middleware::Middleware;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    fn breaker(expression: &str) -> Breaker {
        Breaker::new(
            expression::parse(expression).unwrap(),
            100 * MS,
            10 * S,
            10 * S,
        )
    }

    #[test]
    fn trips_recovers_and_closes_as_oxy() {
        let b = breaker("NetworkErrorRatio() > 0.5");
        let t0 = 1_000 * S;
        assert!(b.admit(t0));
        b.observe(t0, 200, MS);
        b.observe(t0 + 10 * MS, 502, MS);
        // Checked at the first answer only: 0 errors out of 1 then.
        assert_eq!(b.state(), State::Standby);
        b.observe(t0 + 50 * MS, 502, MS);
        // Within the check period: not evaluated yet.
        assert_eq!(b.state(), State::Standby);
        b.observe(t0 + 150 * MS, 502, MS);
        assert_eq!(b.state(), State::Tripped);
        let tripped = t0 + 150 * MS;
        assert!(!b.admit(tripped + 9 * S));
        // After the fallback duration it recovers: nothing let on at first...
        let recovering = tripped + 10 * S;
        assert!(!b.admit(recovering));
        assert_eq!(b.state(), State::Recovering);
        // ...then a share growing to one half at the end of the recovery duration.
        let mut allowed = 0;
        for i in 0..100 {
            if b.admit(recovering + 5 * S + i * MS) {
                allowed += 1;
            }
        }
        assert!((20..=30).contains(&allowed), "{allowed} let on at 25 %");
        assert!(b.admit(recovering + 10 * S + 1));
        assert_eq!(b.state(), State::Standby);
    }

    #[test]
    fn a_recovering_breaker_trips_again() {
        let b = breaker("ResponseCodeRatio(500, 600, 0, 600) > 0.5");
        let t0 = 1_000 * S;
        b.observe(t0, 500, MS);
        assert_eq!(b.state(), State::Tripped);
        let later = t0 + 10 * S;
        assert!(!b.admit(later));
        assert_eq!(b.state(), State::Recovering);
        b.observe(later + S, 503, MS);
        assert_eq!(b.state(), State::Tripped);
    }

    #[test]
    fn latency_conditions() {
        let b = breaker("LatencyAtQuantileMS(50.0) > 100");
        let t0 = 1_000 * S;
        b.observe(t0, 200, 50 * MS);
        assert_eq!(b.state(), State::Standby);
        b.observe(t0 + S, 200, 300 * MS);
        b.observe(t0 + 2 * S, 200, 300 * MS);
        assert_eq!(b.state(), State::Tripped);
    }

    #[test]
    fn the_fallback_is_traefiks() {
        let answer = fallback_answer(503);
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body().as_ref(), b"Service Unavailable");
        assert!(answer.header_map().get("content-type").is_none());
        assert_eq!(fallback_answer(418).body().as_ref(), b"I'm a teapot");
        assert!(fallback_answer(599).body().is_empty());
        assert!(fallback_answer(204).body().is_empty());
    }

    #[test]
    fn configuration_errors() {
        let error = build(r#"{"circuitBreaker": {"expression": "Nope() > 1.0"}}"#)
            .err()
            .unwrap();
        assert_eq!(
            error,
            r#"circuitBreaker expression "Nope() > 1.0": unsupported function: Nope"#
        );
        let error = build(r#"{"circuitBreaker": {}}"#).err().unwrap();
        assert!(error.contains("expected operand"), "{error}");
        let error = build(
            r#"{"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5", "responseCode": 42}}"#,
        )
        .err()
        .unwrap();
        assert_eq!(error, "invalid circuitBreaker responseCode 42");
    }

    fn breaker_of(middleware: &Middleware) -> &Arc<Breaker> {
        match middleware {
            Middleware::CircuitBreaker(m) => &m.breaker,
            _ => panic!("not a circuit breaker"),
        }
    }

    #[test]
    fn state_survives_a_reload_of_the_same_configuration() {
        let mut env = TestEnv::default();
        let json = r#"{"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5", "responseCode": 500}}"#;
        let first = build_in(&mut env, json).unwrap();
        env.states.forget_unused();
        let second = build_in(&mut env, json).unwrap();
        assert!(Arc::ptr_eq(breaker_of(&first), breaker_of(&second)));
        env.states.forget_unused();
        let changed = build_in(
            &mut env,
            r#"{"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.6"}}"#,
        )
        .unwrap();
        assert!(!Arc::ptr_eq(breaker_of(&first), breaker_of(&changed)));
    }

    #[test]
    fn the_middleware_answers_the_fallback_once_tripped() {
        let middleware = build(
            r#"{"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.1", "responseCode": 429}}"#,
        )
        .unwrap();
        assert!(middleware.needs().forward_events);
        assert!(!middleware.needs().lean());
        let mut ctx = context();
        let flow = run_request(&middleware, &mut request("/"), &mut ctx);
        assert!(matches!(flow, Flow::Continue));
        middleware.done(502, &mut ctx);
        let flow = run_request(&middleware, &mut request("/"), &mut context());
        let Flow::Answer(answer) = flow else {
            panic!("the breaker did not trip");
        };
        assert_eq!(answer.status, 429);
        assert_eq!(answer.body().as_ref(), b"Too Many Requests");
    }
}
