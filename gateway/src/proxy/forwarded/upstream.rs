//! The proxy stage's decisions (Go's reverse proxy, right before the request goes upstream),
//! made from the head as the entrypoint stage left it, read through `HeaderValues`: Pingora's
//! rewritten header map or the lean path's planned view.

use super::names::{self, is, NameFilter};
use control::rule::HeaderValues;
use http::header::{self, HeaderName};
use std::io::{self, Write};
use std::net::IpAddr;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A header the proxy stage sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpstreamSet {
    /// `Te: trailers`, when the client accepts trailers.
    Te,
    /// `Connection: Upgrade`, for a protocol upgrade.
    Connection,
    /// The protocol asked for, for a protocol upgrade.
    Upgrade,
    /// The prior `X-Forwarded-For` values and the client's address.
    ForwardedFor,
}

impl UpstreamSet {
    /// Every header the proxy stage may set.
    pub(super) const ALL: [UpstreamSet; 4] = [
        UpstreamSet::Te,
        UpstreamSet::Connection,
        UpstreamSet::Upgrade,
        UpstreamSet::ForwardedFor,
    ];

    /// The name as Traefik sends it (Go's canonical spelling).
    pub(super) fn name(self) -> &'static str {
        match self {
            UpstreamSet::Te => "Te",
            UpstreamSet::Connection => "Connection",
            UpstreamSet::Upgrade => "Upgrade",
            UpstreamSet::ForwardedFor => "X-Forwarded-For",
        }
    }
}

/// What the proxy stage removes and sets.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct UpstreamStage {
    te_trailers: bool,
    upgrade: bool,
    /// The names `Connection` nominates (a filter: a hit is checked against the tokens).
    nominated: NameFilter,
    /// The address appended to `X-Forwarded-For`.
    append: Option<IpAddr>,
}

impl UpstreamStage {
    /// The decisions for the head `entered` (as the entrypoint stage left it) from `client`.
    pub(super) fn of<S: HeaderValues + ?Sized>(
        entered: &S,
        client: Option<IpAddr>,
        append_x_forwarded_for: bool,
    ) -> Self {
        let mut names_upgrade = false;
        let mut nominated = NameFilter::default();
        entered.any_value(&header::CONNECTION, &mut |value| {
            for token in names::tokens(value) {
                names_upgrade |= is(token, "upgrade");
                if names::is_token(token) && !names::is_never_nominated(token) {
                    nominated.insert(token);
                }
            }
            false
        });
        let upgrade =
            names_upgrade && first_value(entered, &header::UPGRADE, super::is_upgrade_protocol);
        let te_trailers = entered.any_value(&header::TE, &mut |value| {
            names::tokens(value).any(|t| is(t, "trailers"))
        });
        Self {
            te_trailers,
            upgrade,
            nominated,
            append: client.filter(|_| append_x_forwarded_for),
        }
    }

    /// Whether the proxy stage removes the header `name`: a hop-by-hop one or one `Connection`
    /// names (except the framing and host headers).
    pub(super) fn drops<S: HeaderValues + ?Sized>(&self, entered: &S, name: &[u8]) -> bool {
        if names::is_hop_by_hop(name) {
            return true;
        }
        self.nominated.may_hold(name)
            && !names::is_never_nominated(name)
            && entered.any_value(&header::CONNECTION, &mut |value| {
                names::tokens(value).any(|t| t.eq_ignore_ascii_case(name))
            })
    }

    /// Whether the proxy stage sets the header `name` anew, replacing its values.
    pub(super) fn replaces(&self, name: &[u8]) -> bool {
        self.sets().any(|set| is(name, set.name()))
    }

    /// Whether the proxy stage sets `set`.
    pub(super) fn is_set(&self, set: UpstreamSet) -> bool {
        match set {
            UpstreamSet::Te => self.te_trailers,
            UpstreamSet::Connection | UpstreamSet::Upgrade => self.upgrade,
            UpstreamSet::ForwardedFor => self.append.is_some(),
        }
    }

    /// The headers the proxy stage sets.
    pub(super) fn sets(&self) -> impl Iterator<Item = UpstreamSet> + '_ {
        UpstreamSet::ALL.into_iter().filter(|&set| self.is_set(set))
    }

    /// Writes the value of `set` out, reading the head as the entrypoint stage left it.
    pub(super) fn write_value<S: HeaderValues + ?Sized>(
        &self,
        entered: &S,
        set: UpstreamSet,
        out: &mut impl Write,
    ) -> io::Result<()> {
        match set {
            UpstreamSet::Te => out.write_all(b"trailers"),
            UpstreamSet::Connection => out.write_all(b"Upgrade"),
            UpstreamSet::Upgrade => {
                let mut result = Ok(());
                first_value(entered, &header::UPGRADE, |protocol| {
                    result = out.write_all(protocol);
                    true
                });
                result
            }
            UpstreamSet::ForwardedFor => {
                let mut result = Ok(());
                first_value(entered, &X_FORWARDED_FOR, |prior| {
                    if !prior.is_empty() {
                        result = out.write_all(prior).and_then(|()| out.write_all(b", "));
                    }
                    true
                });
                match self.append {
                    Some(ip) => result.and_then(|()| write!(out, "{ip}")),
                    None => result,
                }
            }
        }
    }
}

/// Whether the first value of `name` passes `test` (false without one).
fn first_value<S: HeaderValues + ?Sized>(
    headers: &S,
    name: &HeaderName,
    mut test: impl FnMut(&[u8]) -> bool,
) -> bool {
    let mut passed = false;
    headers.any_value(name, &mut |value| {
        passed = test(value);
        true
    });
    passed
}
