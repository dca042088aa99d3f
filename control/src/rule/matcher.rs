//! The individual matchers (`Host`, `Path`, ...): argument checking, compilation, evaluation.

use std::net::IpAddr;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use super::error::ParseError;
use super::{go_regex, query, RequestView};

/// The matchers of Traefik v3's HTTP rule syntax (`httpFuncs` in `pkg/muxer/http/matcher.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ClientIp,
    Method,
    Host,
    HostRegexp,
    Path,
    PathRegexp,
    PathPrefix,
    Header,
    HeaderRegexp,
    Query,
    QueryRegexp,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::ClientIp,
        Kind::Method,
        Kind::Host,
        Kind::HostRegexp,
        Kind::Path,
        Kind::PathRegexp,
        Kind::PathPrefix,
        Kind::Header,
        Kind::HeaderRegexp,
        Kind::Query,
        Kind::QueryRegexp,
    ];

    /// The canonical spelling.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::ClientIp => "ClientIP",
            Kind::Method => "Method",
            Kind::Host => "Host",
            Kind::HostRegexp => "HostRegexp",
            Kind::Path => "Path",
            Kind::PathRegexp => "PathRegexp",
            Kind::PathPrefix => "PathPrefix",
            Kind::Header => "Header",
            Kind::HeaderRegexp => "HeaderRegexp",
            Kind::Query => "Query",
            Kind::QueryRegexp => "QueryRegexp",
        }
    }

    /// Looks a matcher up by name. Like Traefik (`pkg/rules/parser.go`), four spellings are
    /// accepted: canonical (`HostRegexp`), lower (`hostregexp`), upper (`HOSTREGEXP`) and
    /// title case of the lowercase form (`Hostregexp`).
    pub(crate) fn lookup(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| {
            let canonical = kind.name();
            name == canonical
                || name == canonical.to_ascii_lowercase()
                || name == canonical.to_ascii_uppercase()
                || name == title_case(canonical)
        })
    }

    /// The canonical name differing from `name` only in letter case, for "did you mean".
    pub(crate) fn suggest(name: &str) -> Option<&'static str> {
        Kind::ALL
            .into_iter()
            .map(Kind::name)
            .find(|canonical| canonical.eq_ignore_ascii_case(name))
    }

    /// Accepted argument counts.
    fn arity(self) -> &'static [usize] {
        match self {
            Kind::Header | Kind::HeaderRegexp => &[2],
            Kind::Query | Kind::QueryRegexp => &[1, 2],
            _ => &[1],
        }
    }
}

/// `Hostregexp` for `HostRegexp`: what Go's `cases.Title` makes of the lowercase name.
pub(crate) fn title_case(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A string argument and the byte offset of its literal in the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    pub(crate) value: String,
    pub(crate) position: usize,
}

/// What a `ClientIP` argument denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpMatch {
    Addr(IpAddr),
    Net(IpNet),
}

/// A compiled matcher.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// ``Host(`*`)``: every request, even one without a host.
    HostAny,
    /// `Host` with a literal name, lowercased, one trailing dot removed.
    Host(String),
    /// `Host` with a pattern starting with `*`: holds the text after the `*`, lowercased,
    /// one trailing dot removed (`.example.com` for `*.example.com`).
    HostWildcard(String),
    HostRegexp(Regex),
    Path(String),
    PathPrefix(String),
    PathRegexp(Regex),
    /// Upper-cased method.
    Method(String),
    /// `name` is `None` when no request header can ever match (invalid name, or `Host`,
    /// which Go's server removes from the header map).
    Header {
        name: Option<HeaderName>,
        value: String,
    },
    HeaderRegexp {
        name: Option<HeaderName>,
        regex: Regex,
    },
    /// `value` is empty for the one-argument form, which matches only empty values.
    Query {
        key: String,
        value: String,
    },
    QueryRegexp {
        key: String,
        regex: Regex,
    },
    ClientIp(IpMatch),
}

impl Matcher {
    /// Compiles a matcher call. `position` is the offset of the matcher name.
    pub(crate) fn build(
        kind: Kind,
        position: usize,
        args: Vec<Arg>,
    ) -> Result<Matcher, ParseError> {
        let name = kind.name();
        let arity = kind.arity();
        if !arity.contains(&args.len()) {
            let expected = match arity {
                [1] => "exactly 1 argument".to_owned(),
                [n] => format!("exactly {n} arguments"),
                _ => "1 or 2 arguments".to_owned(),
            };
            return Err(ParseError::at(
                position,
                format!("matcher {name} expects {expected}, got {}", args.len()),
            ));
        }
        if let Some((index, arg)) = args.iter().enumerate().find(|(_, a)| a.value.is_empty()) {
            return Err(ParseError::at(
                arg.position,
                format!("matcher {name}: argument {} is empty", index + 1),
            ));
        }
        let mut args = args.into_iter();
        let first = args.next().expect("arity checked");
        let second = args.next();
        let regex = |arg: &Arg| {
            go_regex::compile(&arg.value).map_err(|err| {
                ParseError::at(
                    arg.position,
                    format!(
                        "matcher {name}: invalid regular expression {:?}: {err}",
                        arg.value
                    ),
                )
            })
        };
        Ok(match kind {
            Kind::Host => host(first)?,
            Kind::HostRegexp => {
                require_ascii(name, &first)?;
                Matcher::HostRegexp(regex(&first)?)
            }
            Kind::Path => Matcher::Path(path(name, first)?),
            Kind::PathPrefix => Matcher::PathPrefix(path(name, first)?),
            Kind::PathRegexp => Matcher::PathRegexp(regex(&first)?),
            Kind::Method => Matcher::Method(first.value.to_uppercase()),
            Kind::Header => Matcher::Header {
                name: header_name(&first.value),
                value: second.expect("arity checked").value,
            },
            Kind::HeaderRegexp => Matcher::HeaderRegexp {
                name: header_name(&first.value),
                regex: regex(&second.expect("arity checked"))?,
            },
            Kind::Query => Matcher::Query {
                key: first.value,
                value: second.map(|arg| arg.value).unwrap_or_default(),
            },
            // Traefik's one-argument QueryRegexp is the one-argument Query.
            Kind::QueryRegexp => match second {
                Some(pattern) => Matcher::QueryRegexp {
                    key: first.value,
                    regex: regex(&pattern)?,
                },
                None => Matcher::Query {
                    key: first.value,
                    value: String::new(),
                },
            },
            Kind::ClientIp => Matcher::ClientIp(client_ip(&first)?),
        })
    }

    /// Evaluates the matcher.
    pub(crate) fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Matcher::HostAny => true,
            Matcher::Host(host) => !req.host.is_empty() && req.host == host,
            Matcher::HostWildcard(rest) => wildcard_matches(rest, req.host),
            Matcher::HostRegexp(re) => re.is_match(req.host),
            Matcher::Path(path) => req.path == path,
            Matcher::PathPrefix(prefix) => req.path.starts_with(prefix.as_str()),
            Matcher::PathRegexp(re) => re.is_match(req.path),
            Matcher::Method(method) => req.method.as_str() == method,
            Matcher::Header { name, value } => name
                .as_ref()
                .is_some_and(|name| req.headers.any_value(name, &mut |v| v == value.as_bytes())),
            Matcher::HeaderRegexp { name, regex } => name.as_ref().is_some_and(|name| {
                req.headers
                    .any_value(name, &mut |v| match std::str::from_utf8(v) {
                        Ok(text) => regex.is_match(text),
                        Err(_) => regex.is_match(&String::from_utf8_lossy(v)),
                    })
            }),
            Matcher::Query { key, value } => {
                query::any_value(req.query, key, |raw| query::decoded_eq(raw, value))
            }
            Matcher::QueryRegexp { key, regex } => query::any_value(req.query, key, |raw| {
                query::decode(raw).is_some_and(|text| regex.is_match(&text))
            }),
            Matcher::ClientIp(expected) => req.client_ip.is_some_and(|ip| {
                let ip = ip.to_canonical();
                match expected {
                    IpMatch::Addr(addr) => *addr == ip,
                    IpMatch::Net(net) => net.contains(&ip),
                }
            }),
        }
    }
}

/// Traefik's `DomainMatchHostExpression` for a pattern `*<rest>`: the request host with its
/// first label replaced by `*` must equal the pattern.
pub(crate) fn wildcard_matches(rest: &str, host: &str) -> bool {
    if host.is_empty() {
        return false;
    }
    match host.find('.') {
        Some(dot) => &host[dot..] == rest,
        None => rest.is_empty(),
    }
}

fn require_ascii(name: &str, arg: &Arg) -> Result<(), ParseError> {
    if arg.value.is_ascii() {
        Ok(())
    } else {
        Err(ParseError::at(
            arg.position,
            format!(
                "matcher {name}: non-ASCII characters are not allowed in {:?} (use the punycode form, xn--...)",
                arg.value
            ),
        ))
    }
}

fn host(arg: Arg) -> Result<Matcher, ParseError> {
    if arg.value == "*" {
        return Ok(Matcher::HostAny);
    }
    require_ascii("Host", &arg)?;
    let lower = arg.value.to_ascii_lowercase();
    let host = lower.strip_suffix('.').unwrap_or(&lower);
    Ok(match host.strip_prefix('*') {
        Some(rest) => Matcher::HostWildcard(rest.to_owned()),
        None => Matcher::Host(host.to_owned()),
    })
}

fn path(name: &str, arg: Arg) -> Result<String, ParseError> {
    if arg.value.starts_with('/') {
        Ok(arg.value)
    } else {
        Err(ParseError::at(
            arg.position,
            format!("matcher {name}: path {:?} must start with \"/\"", arg.value),
        ))
    }
}

/// The header a rule refers to. Go canonicalises the key and looks it up in a map that never
/// holds `Host`; an invalid name can never be present in a request.
fn header_name(key: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(key.as_bytes())
        .ok()
        .filter(|name| name != http::header::HOST)
}

/// An IP address or CIDR block, as Go's `net.ParseIP` / `net.ParseCIDR` read them.
/// IPv4-mapped IPv6 forms are folded to IPv4, as Go's comparisons do.
fn client_ip(arg: &Arg) -> Result<IpMatch, ParseError> {
    if let Ok(addr) = arg.value.parse::<IpAddr>() {
        return Ok(IpMatch::Addr(addr.to_canonical()));
    }
    match arg.value.parse::<IpNet>() {
        Ok(IpNet::V6(net))
            if net.prefix_len() >= 96 && net.network().to_ipv4_mapped().is_some() =>
        {
            let v4 = net.network().to_ipv4_mapped().expect("checked");
            let net = ipnet::Ipv4Net::new(v4, net.prefix_len() - 96).expect("prefix <= 32");
            Ok(IpMatch::Net(IpNet::V4(net)))
        }
        Ok(net) => Ok(IpMatch::Net(net)),
        Err(_) => Err(ParseError::at(
            arg.position,
            format!(
                "matcher ClientIP: {:?} is not a valid IP address or CIDR block",
                arg.value
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_name_spellings() {
        for name in [
            "HostRegexp",
            "hostregexp",
            "HOSTREGEXP",
            "Hostregexp",
            "ClientIP",
            "clientip",
            "CLIENTIP",
            "Clientip",
            "Host",
            "host",
            "HOST",
            "PathPrefix",
            "Pathprefix",
        ] {
            assert!(Kind::lookup(name).is_some(), "{name}");
        }
        for name in [
            "hostRegexp",
            "HostRegExp",
            "HOSTregexp",
            "ClientIp",
            "clientIP",
            "Hots",
            "pathPrefix",
        ] {
            assert!(Kind::lookup(name).is_none(), "{name}");
        }
        assert_eq!(Kind::suggest("hostRegexp"), Some("HostRegexp"));
        assert_eq!(Kind::suggest("Hots"), None);
    }

    #[test]
    fn wildcard_semantics() {
        assert!(wildcard_matches(".example.com", "a.example.com"));
        assert!(wildcard_matches(".example.com", ".example.com"));
        assert!(!wildcard_matches(".example.com", "example.com"));
        assert!(!wildcard_matches(".example.com", "a.b.example.com"));
        assert!(!wildcard_matches(".example.com", "a.otherexample.com"));
        assert!(wildcard_matches("", "localhost"));
        assert!(!wildcard_matches("", "a.b"));
        assert!(!wildcard_matches("", ""));
        assert!(!wildcard_matches("foo.com", "xfoo.com"));
    }

    #[test]
    fn client_ip_forms() {
        let arg = |value: &str| Arg {
            value: value.to_owned(),
            position: 0,
        };
        assert_eq!(
            client_ip(&arg("::ffff:10.0.0.1")).unwrap(),
            IpMatch::Addr("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            client_ip(&arg("::ffff:10.0.0.0/104")).unwrap(),
            IpMatch::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            client_ip(&arg("2001:db8::/32")).unwrap(),
            IpMatch::Net("2001:db8::/32".parse().unwrap())
        );
        for bad in [
            "1",
            "300.1.1.1",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "01.2.3.4",
        ] {
            assert!(client_ip(&arg(bad)).is_err(), "{bad}");
        }
    }
}
