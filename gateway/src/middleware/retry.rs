//! `retry`: forwards a request again, to a newly picked server, when the connection to the
//! server failed before anything was sent, with Traefik's exponential backoff between attempts.

use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs, RequestEdit};
use std::future::{ready, Future};
use std::time::{Duration, Instant};

/// cenkalti/backoff's defaults that Traefik keeps: ±50 % randomization, intervals capped at
/// 60 s, no attempt once 15 minutes have passed.
const RANDOMIZATION: f64 = 0.5;
const MAX_INTERVAL: Duration = Duration::from_secs(60);
const MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);

/// A compiled `retry`.
pub struct Retry {
    attempts: u32,
    /// The first interval; zero when the backoff is Go's `ZeroBackOff`.
    initial: Duration,
    /// Each interval is the last times this: 2^(1/(attempts-1)), so that the last is about
    /// twice the first.
    multiplier: f64,
}

impl FromConfig<control::dynamic::Retry> for Retry {
    fn from_config(
        config: &control::dynamic::Retry,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let attempts = config.attempts.unwrap_or(0);
        if attempts <= 0 {
            return Err(format!(
                "incorrect (or empty) value for attempt ({attempts})"
            ));
        }
        let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
        let initial = config
            .initial_interval
            .filter(|d| d.is_positive() && attempts >= 2)
            .map_or(Duration::ZERO, |d| d.to_std());
        Ok(Self {
            attempts,
            initial,
            multiplier: 2f64.powf(1.0 / f64::from(attempts.saturating_sub(1).max(1))),
        })
    }
}

/// One request's attempts with one `retry` middleware.
struct Attempts {
    made: u32,
    /// The backoff's current (not yet randomized) interval.
    interval: Duration,
    started: Instant,
}

/// cenkalti/backoff's randomized interval: uniform in `[current - delta, current + delta]`
/// (delta = 50 % of it), from `random` in `[0, 1)`.
fn randomized(current: Duration, random: f64) -> Duration {
    let current = current.as_nanos() as f64;
    let delta = RANDOMIZATION * current;
    let (min, max) = (current - delta, current + delta);
    Duration::from_nanos((min + random * (max - min + 1.0)) as u64)
}

impl Retry {
    /// The wait before the next attempt, `None` to stop: cenkalti/backoff's `NextBackOff`.
    fn next_backoff(&self, attempts: &mut Attempts, random: f64) -> Option<Duration> {
        if self.initial.is_zero() {
            return Some(Duration::ZERO);
        }
        let elapsed = attempts.started.elapsed();
        let next = randomized(attempts.interval, random);
        attempts.interval =
            if attempts.interval.as_secs_f64() >= MAX_INTERVAL.as_secs_f64() / self.multiplier {
                MAX_INTERVAL
            } else {
                Duration::from_nanos((attempts.interval.as_nanos() as f64 * self.multiplier) as u64)
            };
        (elapsed + next <= MAX_ELAPSED).then_some(next)
    }
}

impl HttpMiddleware for Retry {
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
        if self.attempts > 1 {
            context.set_state(Attempts {
                made: 1,
                interval: self.initial,
                started: Instant::now(),
            });
        }
        ready(Flow::Continue)
    }

    fn retry_after_connect_failure(&self, context: &mut Context) -> Option<Duration> {
        let attempts = context.state_mut::<Attempts>()?;
        if attempts.made >= self.attempts {
            return None;
        }
        let wait = self.next_backoff(attempts, fastrand::f64())?;
        attempts.made += 1;
        tracing::debug!(attempt = attempts.made, ?wait, "retry: new attempt");
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, context, request, run_request};
    use crate::middleware::Middleware;

    fn retry(json: &str) -> Middleware {
        build(json).unwrap()
    }

    fn retries(middleware: &Middleware) -> Vec<Duration> {
        let mut ctx = context();
        run_request(middleware, &mut request("/"), &mut ctx);
        std::iter::from_fn(|| middleware.retry_after_connect_failure(&mut ctx)).collect()
    }

    #[test]
    fn attempts_bound_the_retries() {
        assert_eq!(
            retries(&retry(r#"{"retry": {"attempts": 1}}"#)),
            Vec::<Duration>::new()
        );
        assert_eq!(
            retries(&retry(r#"{"retry": {"attempts": 4}}"#)),
            vec![Duration::ZERO; 3]
        );
    }

    #[test]
    fn attempts_must_be_positive() {
        for (json, value) in [
            (r#"{"retry": {}}"#, 0),
            (r#"{"retry": {"attempts": 0}}"#, 0),
            (r#"{"retry": {"attempts": -2}}"#, -2),
        ] {
            let error = build(json).err().unwrap();
            assert_eq!(
                error,
                format!("incorrect (or empty) value for attempt ({value})")
            );
        }
    }

    #[test]
    fn intervals_grow_to_twice_the_first() {
        let Middleware::Retry(middleware) =
            retry(r#"{"retry": {"attempts": 3, "initialInterval": "100ms"}}"#)
        else {
            panic!("not a retry");
        };
        assert_eq!(middleware.multiplier, 2f64.sqrt());
        let mut attempts = Attempts {
            made: 1,
            interval: middleware.initial,
            started: Instant::now(),
        };
        // The middle of the randomization range is the interval itself.
        let first = middleware.next_backoff(&mut attempts, 0.5).unwrap();
        let second = middleware.next_backoff(&mut attempts, 0.5).unwrap();
        let third = middleware.next_backoff(&mut attempts, 0.5).unwrap();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert!((ms(first) - 100.0).abs() < 0.01, "{first:?}");
        assert!((ms(second) - 141.42).abs() < 0.01, "{second:?}");
        assert!((ms(third) - 200.0).abs() < 0.01, "{third:?}");
        // The extremes: half and one and a half times the interval.
        let mut low = Attempts {
            interval: middleware.initial,
            ..attempts
        };
        assert_eq!(
            middleware.next_backoff(&mut low, 0.0).unwrap(),
            Duration::from_millis(50)
        );
        assert_eq!(
            randomized(Duration::from_millis(100), 0.9999),
            Duration::from_nanos(149_990_000)
        );
    }

    #[test]
    fn intervals_are_capped_at_a_minute() {
        let Middleware::Retry(middleware) =
            retry(r#"{"retry": {"attempts": 2, "initialInterval": "50s"}}"#)
        else {
            panic!("not a retry");
        };
        let mut attempts = Attempts {
            made: 1,
            interval: middleware.initial,
            started: Instant::now(),
        };
        middleware.next_backoff(&mut attempts, 0.5);
        assert_eq!(attempts.interval, MAX_INTERVAL);
    }

    #[test]
    fn no_interval_retries_at_once() {
        let middleware = retry(r#"{"retry": {"attempts": 3, "initialInterval": "0s"}}"#);
        assert_eq!(retries(&middleware), vec![Duration::ZERO; 2]);
        assert!(middleware.needs().forward_events);
        assert!(!middleware.needs().lean());
    }
}
