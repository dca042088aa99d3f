//! `ipAllowList` and the deprecated `ipWhiteList`: only client IPs in the source ranges pass.

use super::source::{Checker, IpStrategy};
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::{go_status_text, Answer};
use std::future::{ready, Future};

/// A compiled `ipAllowList` (or `ipWhiteList`, which always rejects with 403).
pub struct IpAllowList {
    checker: Checker,
    strategy: IpStrategy,
    reject_status: u16,
    reject_text: &'static str,
}

impl FromConfig<control::dynamic::IpAllowList> for IpAllowList {
    fn from_config(
        config: &control::dynamic::IpAllowList,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        if config.source_range.is_empty() {
            return Err("sourceRange is empty, IPAllowLister not created".into());
        }
        let status = config.reject_status_code.unwrap_or(0);
        let (reject_status, reject_text) = if status == 0 {
            (403, "Forbidden")
        } else {
            u16::try_from(status)
                .ok()
                .and_then(|code| go_status_text(code).map(|text| (code, text)))
                .ok_or_else(|| format!("invalid HTTP status code {status}"))?
        };
        let checker = Checker::new(&config.source_range)
            .map_err(|e| format!("cannot parse CIDRs {}: {e}", go_list(&config.source_range)))?;
        Ok(Self {
            checker,
            strategy: IpStrategy::new(config.ip_strategy.as_ref())?,
            reject_status,
            reject_text,
        })
    }
}

impl FromConfig<control::dynamic::IpWhiteList> for IpAllowList {
    fn from_config(
        config: &control::dynamic::IpWhiteList,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        if config.source_range.is_empty() {
            return Err("sourceRange is empty, IPWhiteLister not created".into());
        }
        let checker = Checker::new(&config.source_range).map_err(|e| {
            format!(
                "cannot parse CIDR whitelist {}: {e}",
                go_list(&config.source_range)
            )
        })?;
        Ok(Self {
            checker,
            strategy: IpStrategy::new(config.ip_strategy.as_ref())?,
            reject_status: 403,
            reject_text: "Forbidden",
        })
    }
}

/// A string list as Go's `%s` prints it: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

impl HttpMiddleware for IpAllowList {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let ip = self.strategy.ip(&*request, context);
        ready(match self.checker.is_authorized_client(ip) {
            Ok(()) => {
                tracing::debug!(ip = %ip, "accepting IP");
                Flow::Continue
            }
            Err(reason) => {
                tracing::debug!(ip = %ip, %reason, "rejecting IP");
                Flow::Answer(self.reject())
            }
        })
    }
}

impl IpAllowList {
    /// Traefik's rejection: the status and its text as the body, no `Content-Type`;
    /// statuses that cannot have a body get none. An informational status is Go's interim
    /// response followed by a 200 with the text: the 200 alone here.
    fn reject(&self) -> Answer {
        match self.reject_status {
            101 | 204 | 304 => Answer::empty(self.reject_status),
            100..=199 => Answer::empty(200).with_body(self.reject_text),
            status => Answer::empty(status).with_body(self.reject_text),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::middleware::testing::{build, context, request, run, run_request};
    use crate::middleware::Flow;

    #[test]
    fn listed_ips_pass_and_others_get_403() {
        let m = build(r#"{"ipAllowList": {"sourceRange": ["192.0.2.0/24"]}}"#).unwrap();
        assert!(run(&m, "/").is_ok(), "the test client is 192.0.2.1");
        let m = build(r#"{"ipAllowList": {"sourceRange": ["10.0.0.1", "10.1.0.0/16"]}}"#).unwrap();
        let answer = run(&m, "/").unwrap_err();
        assert_eq!(answer.status, 403);
        assert_eq!(&answer.body()[..], b"Forbidden");
        assert!(
            answer.header_map().get("content-type").is_none(),
            "as Traefik"
        );
    }

    #[test]
    fn the_reject_status_is_configurable_and_checked() {
        let m = build(r#"{"ipAllowList": {"sourceRange": ["10.0.0.1"], "rejectStatusCode": 404}}"#)
            .unwrap();
        let answer = run(&m, "/").unwrap_err();
        assert_eq!(
            (answer.status, &answer.body()[..]),
            (404, &b"Not Found"[..])
        );
        let error =
            build(r#"{"ipAllowList": {"sourceRange": ["10.0.0.1"], "rejectStatusCode": 499}}"#)
                .err()
                .unwrap();
        assert_eq!(error, "invalid HTTP status code 499");
    }

    #[test]
    fn the_strategy_reads_x_forwarded_for() {
        let m = build(
            r#"{"ipAllowList": {"sourceRange": ["10.0.0.0/8"], "ipStrategy": {"depth": 2}}}"#,
        )
        .unwrap();
        let mut r = request("/");
        r.headers
            .insert("x-forwarded-for", "10.1.1.1, 203.0.113.5".parse().unwrap());
        assert!(matches!(
            run_request(&m, &mut r, &mut context()),
            Flow::Continue
        ));
        let mut r = request("/");
        r.headers
            .insert("x-forwarded-for", "203.0.113.5, 10.1.1.1".parse().unwrap());
        assert!(matches!(
            run_request(&m, &mut r, &mut context()),
            Flow::Answer(_)
        ));
    }

    #[test]
    fn configuration_errors_are_traefiks() {
        let error = build(r#"{"ipAllowList": {"sourceRange": ["10.0.0.0/8", "nope"]}}"#)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "cannot parse CIDRs [10.0.0.0/8 nope]: parsing CIDR trusted IPs <nil>: invalid CIDR address: nope"
        );
        let error = build(r#"{"ipAllowList": {}}"#).err().unwrap();
        assert_eq!(error, "sourceRange is empty, IPAllowLister not created");
        let error = build(r#"{"ipWhiteList": {"sourceRange": ["x/1"]}}"#)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "cannot parse CIDR whitelist [x/1]: parsing CIDR trusted IPs <nil>: invalid CIDR address: x/1"
        );
    }

    #[test]
    fn ip_white_list_is_the_same_with_403() {
        let m = build(r#"{"ipWhiteList": {"sourceRange": ["10.0.0.1"]}}"#).unwrap();
        assert_eq!(run(&m, "/").unwrap_err().status, 403);
        let m = build(r#"{"ipWhiteList": {"sourceRange": ["192.0.2.1"]}}"#).unwrap();
        assert!(run(&m, "/").is_ok());
    }
}
