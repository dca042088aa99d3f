//! Who a request comes from, as Traefik decides it: the IP checker and ipStrategy of its
//! `pkg/ip` (remote address, X-Forwarded-For depth, excluded IPs, IPv6 subnets) and the
//! sourceCriterion extractor `rateLimit` and `inFlightReq` group requests by.

use super::{Context, RequestEdit};
use control::dynamic::{IpStrategy as IpStrategyConfig, SourceCriterion as SourceConfig};
use http::header::{HeaderName, HOST};
use std::net::{IpAddr, Ipv6Addr};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A set of IPs and CIDR ranges (Traefik's `ip.Checker`), compiled once.
#[derive(Debug, Clone)]
pub struct Checker {
    ips: Vec<IpAddr>,
    networks: Vec<Network>,
}

/// One CIDR range: the masked address and its prefix length (IPv4-mapped ranges as IPv4).
#[derive(Debug, Clone, Copy)]
struct Network {
    address: IpAddr,
    bits: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.bits) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.bits) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(ip: u32, bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        ip & (u32::MAX << (32 - u32::from(bits)))
    }
}

fn mask_v6(ip: u128, bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        ip & (u128::MAX << (128 - u32::from(bits)))
    }
}

/// Go's `net.ParseCIDR`: `address/bits`, the address masked.
fn parse_cidr(text: &str) -> Option<Network> {
    let (address, bits) = text.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    match address {
        IpAddr::V4(v4) if bits <= 32 => Some(Network {
            address: IpAddr::V4(mask_v4(u32::from(v4), bits).into()),
            bits,
        }),
        IpAddr::V6(v6) if bits <= 128 => {
            let masked = Ipv6Addr::from(mask_v6(u128::from(v6), bits));
            // Go treats a range whose masked address is IPv4-mapped as an IPv4 range.
            match masked.to_ipv4_mapped() {
                Some(v4) if bits >= 96 => Some(Network {
                    address: IpAddr::V4(v4),
                    bits: bits - 96,
                }),
                _ => Some(Network {
                    address: IpAddr::V6(masked),
                    bits,
                }),
            }
        }
        _ => None,
    }
}

impl Checker {
    /// Compiles `ranges` (IPs or CIDRs); the error is Traefik's, naming the bad entry.
    pub fn new(ranges: &[String]) -> Result<Self, String> {
        if ranges.is_empty() {
            return Err("no trusted IPs provided".into());
        }
        let mut checker = Checker {
            ips: Vec::new(),
            networks: Vec::new(),
        };
        for range in ranges {
            if let Ok(ip) = range.parse::<IpAddr>() {
                checker.ips.push(ip.to_canonical());
                continue;
            }
            match parse_cidr(range) {
                Some(network) => checker.networks.push(network),
                None => {
                    return Err(format!(
                        "parsing CIDR trusted IPs <nil>: invalid CIDR address: {range}"
                    ))
                }
            }
        }
        Ok(checker)
    }

    /// Whether `ip` is one of the IPs or in one of the ranges.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ips.contains(&ip) || self.networks.iter().any(|n| n.contains(ip))
    }

    /// Go's `Checker.Contains` on text: `Err` when it is not an IP.
    pub fn contains(&self, address: &str) -> Result<bool, String> {
        if address.is_empty() {
            return Err("empty IP address".into());
        }
        parse_addr(address)
            .map(|ip| self.contains_ip(ip))
            .ok_or_else(|| {
                format!("unable to parse address: {address}: can't parse IP from address {address}")
            })
    }

    /// Go's `Checker.IsAuthorized`: `address` may carry a port; `Err` says why it is refused.
    pub fn is_authorized(&self, address: &str) -> Result<(), String> {
        let host = split_host_port(address).unwrap_or(address);
        if self.contains(host)? {
            Ok(())
        } else {
            Err(format!("{address:?} matched none of the trusted IPs"))
        }
    }
}

/// Go's `netip.ParseAddr`, which admits an IPv6 zone (dropped here).
fn parse_addr(text: &str) -> Option<IpAddr> {
    match text.split_once('%') {
        Some((address, zone)) if !zone.is_empty() && address.contains(':') => {
            address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        }
        Some(_) => None,
        None => text.parse().ok(),
    }
}

/// Go's `net.SplitHostPort`, the host part: `None` when `address` has no port.
pub(crate) fn split_host_port(address: &str) -> Option<&str> {
    if let Some(rest) = address.strip_prefix('[') {
        let end = rest.find(']')?;
        let (host, after) = (&rest[..end], &rest[end + 1..]);
        let port = after.strip_prefix(':')?;
        if port.contains([':', '[', ']']) || host.contains('[') {
            return None;
        }
        return Some(host);
    }
    let colon = address.rfind(':')?;
    let host = &address[..colon];
    if host.contains([':', '[', ']']) || address[colon + 1..].contains([']', '[']) {
        return None;
    }
    Some(host)
}

/// How the client IP is chosen (Traefik's `ip.Strategy`).
#[derive(Debug, Clone)]
pub enum IpStrategy {
    /// The socket peer, optionally reduced to its IPv6 subnet.
    RemoteAddr { ipv6_subnet: Option<u8> },
    /// The `depth`-th X-Forwarded-For entry from the right.
    Depth {
        depth: usize,
        ipv6_subnet: Option<u8>,
    },
    /// The rightmost X-Forwarded-For entry not in the excluded ranges.
    Pool(Checker),
}

fn check_subnet(subnet: Option<i64>) -> Result<Option<u8>, String> {
    match subnet {
        None => Ok(None),
        Some(bits @ 1..=128) => Ok(Some(bits as u8)),
        Some(bits) => Err(format!(
            "invalid IPv6 subnet {bits} value, should be greater to 0 and lower or equal to 128"
        )),
    }
}

impl IpStrategy {
    /// Traefik's `IPStrategy.Get`: no configuration is the remote address; `depth` wins over
    /// `excludedIPs`.
    pub fn new(config: Option<&IpStrategyConfig>) -> Result<Self, String> {
        let Some(config) = config else {
            return Ok(Self::RemoteAddr { ipv6_subnet: None });
        };
        let depth = config.depth.unwrap_or(0);
        if depth > 0 {
            return Ok(Self::Depth {
                depth: usize::try_from(depth).unwrap_or(usize::MAX),
                ipv6_subnet: check_subnet(config.ipv6_subnet)?,
            });
        }
        if !config.excluded_ips.is_empty() {
            return Checker::new(&config.excluded_ips).map(Self::Pool);
        }
        Ok(Self::RemoteAddr {
            ipv6_subnet: check_subnet(config.ipv6_subnet)?,
        })
    }

    /// The client IP of a request (empty text when none can be chosen).
    pub fn ip<'r, R: RequestEdit + ?Sized>(
        &self,
        request: &'r R,
        context: &Context,
    ) -> ClientIp<'r> {
        match self {
            Self::RemoteAddr { ipv6_subnet } => match (context.client_ip, ipv6_subnet) {
                (Some(IpAddr::V6(v6)), Some(bits)) => ClientIp::Addr(subnet_of(v6, *bits)),
                (Some(ip), _) => ClientIp::Addr(ip),
                (None, _) => ClientIp::Text(""),
            },
            Self::Depth { depth, ipv6_subnet } => {
                let forwarded = x_forwarded_for(request);
                let entries = forwarded.split(',').count();
                if entries < *depth {
                    return ClientIp::Text("");
                }
                let entry = forwarded
                    .split(',')
                    .nth(entries - depth)
                    .unwrap_or_default()
                    .trim_matches(GO_SPACE);
                // Go's getIPv6SubnetIP: an IPv6 address reduced to its subnet, anything else
                // as it is.
                match (ipv6_subnet, entry.parse::<Ipv6Addr>()) {
                    (Some(bits), Ok(v6)) => ClientIp::Addr(subnet_of(v6, *bits)),
                    _ => ClientIp::Text(entry),
                }
            }
            Self::Pool(checker) => {
                let forwarded = x_forwarded_for(request);
                let entry = forwarded
                    .rsplit(',')
                    .map(|entry| entry.trim_matches(GO_SPACE))
                    .find(|entry| !entry.is_empty() && checker.contains(entry) != Ok(true));
                ClientIp::Text(entry.unwrap_or(""))
            }
        }
    }
}

/// The first address of `ip`'s subnet of `bits`.
fn subnet_of(ip: Ipv6Addr, bits: u8) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(ip), bits)))
}

/// The client IP a strategy chose: an address, or text from X-Forwarded-For (which may not be
/// an IP at all), formatted only when needed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientIp<'r> {
    /// An address (the peer's, or a subnet's first).
    Addr(IpAddr),
    /// As written in the request (empty: none).
    Text(&'r str),
}

impl std::fmt::Display for ClientIp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Addr(ip) => ip.fmt(f),
            Self::Text(text) => f.write_str(text),
        }
    }
}

impl Checker {
    /// [`is_authorized`](Self::is_authorized) for a chosen client IP.
    pub fn is_authorized_client(&self, ip: ClientIp<'_>) -> Result<(), String> {
        match ip {
            ClientIp::Addr(addr) if self.contains_ip(addr) => Ok(()),
            ClientIp::Addr(addr) => Err(format!("\"{addr}\" matched none of the trusted IPs")),
            ClientIp::Text(text) => self.is_authorized(text),
        }
    }
}

/// What Go's `strings.TrimSpace` trims (ASCII; header values hold no other).
const GO_SPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// The first X-Forwarded-For value (Go's `Header.Get`), empty when there is none.
fn x_forwarded_for<R: RequestEdit + ?Sized>(request: &R) -> &str {
    request
        .headers()
        .get(&X_FORWARDED_FOR)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .unwrap_or("")
}

/// What groups requests as one source (Traefik's `GetSourceExtractor`).
#[derive(Debug, Clone)]
pub enum Source {
    /// The client IP by this strategy.
    Ip(IpStrategy),
    /// The first value of this request header (empty when absent).
    Header(HeaderName),
    /// The request's host (Go's `req.Host`).
    Host,
}

/// The default when a sourceCriterion sets nothing: `rateLimit` groups by IP,
/// `inFlightReq` by host.
#[derive(Debug, Clone, Copy)]
pub enum DefaultSource {
    /// The remote address.
    Ip,
    /// The request host.
    Host,
}

impl Source {
    /// Compiles a sourceCriterion; errors are Traefik's.
    pub fn new(config: Option<&SourceConfig>, default: DefaultSource) -> Result<Self, String> {
        let empty = SourceConfig::default();
        let config = config.unwrap_or(&empty);
        let header = config.request_header_name.as_deref().unwrap_or("");
        let host = config.request_host.unwrap_or(false);
        let ip = config.ip_strategy.as_ref();
        if ip.is_some() && !header.is_empty() {
            return Err("iPStrategy and RequestHeaderName are mutually exclusive".into());
        }
        if ip.is_some() && host {
            return Err("iPStrategy and RequestHost are mutually exclusive".into());
        }
        if !header.is_empty() && host {
            return Err("requestHost and RequestHeaderName are mutually exclusive".into());
        }
        if let Some(strategy) = ip {
            return IpStrategy::new(Some(strategy)).map(Self::Ip);
        }
        if !header.is_empty() {
            return HeaderName::try_from(header)
                .map(Self::Header)
                .map_err(|_| format!("invalid header name {header:?}"));
        }
        if host {
            return Ok(Self::Host);
        }
        Ok(match default {
            DefaultSource::Ip => Self::Ip(IpStrategy::RemoteAddr { ipv6_subnet: None }),
            DefaultSource::Host => Self::Host,
        })
    }

    /// The source of a request, as bytes (an IP as Go prints it).
    pub fn of<'r, R: RequestEdit + ?Sized>(&self, request: &'r R, context: &Context) -> Key<'r> {
        match self {
            Self::Ip(strategy) => match strategy.ip(request, context) {
                ClientIp::Addr(ip) => Key::of_ip(ip),
                ClientIp::Text(text) => Key::Borrowed(text.as_bytes()),
            },
            Self::Header(name) => Key::Borrowed(
                request
                    .headers()
                    .get(name)
                    .map_or(&b""[..], |v| v.as_bytes()),
            ),
            Self::Host => Key::Borrowed(request_host(request)),
        }
    }
}

/// The longest IP text (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const IP_TEXT: usize = 46;

/// A source as bytes, without allocating: borrowed from the request or an IP printed inline.
pub enum Key<'r> {
    /// Part of the request.
    Borrowed(&'r [u8]),
    /// An IP's text.
    Inline([u8; IP_TEXT], u8),
}

impl Key<'_> {
    fn of_ip(ip: IpAddr) -> Self {
        use std::io::Write;
        let mut bytes = [0; IP_TEXT];
        let mut cursor = &mut bytes[..];
        let _ = write!(cursor, "{ip}");
        let len = IP_TEXT - cursor.len();
        Key::Inline(bytes, len as u8)
    }
}

impl std::ops::Deref for Key<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Key::Borrowed(bytes) => bytes,
            Key::Inline(bytes, len) => &bytes[..usize::from(*len)],
        }
    }
}

/// Go's `req.Host`: the target's authority when absolute, else the Host header.
fn request_host<R: RequestEdit + ?Sized>(request: &R) -> &[u8] {
    if let Some(authority) = request.uri().authority() {
        return authority.as_str().as_bytes();
    }
    request
        .headers()
        .get(HOST)
        .map_or(&b""[..], |v| v.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{context, request};

    fn checker(ranges: &[&str]) -> Checker {
        Checker::new(&ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn cidrs_and_ips_are_matched_as_go_does() {
        let c = checker(&[
            "10.0.0.0/8",
            "192.0.2.7",
            "2001:db8::/32",
            "::ffff:172.16.0.0/112",
        ]);
        assert!(c.contains_ip("10.200.3.4".parse().unwrap()));
        assert!(
            c.contains_ip("::ffff:10.1.1.1".parse().unwrap()),
            "IPv4-mapped"
        );
        assert!(c.contains_ip("192.0.2.7".parse().unwrap()));
        assert!(!c.contains_ip("192.0.2.8".parse().unwrap()));
        assert!(c.contains_ip("2001:db8:1::5".parse().unwrap()));
        assert!(!c.contains_ip("2001:db9::5".parse().unwrap()));
        assert!(
            c.contains_ip("172.16.9.9".parse().unwrap()),
            "mapped range is IPv4"
        );
        assert!(!c.contains_ip("172.17.0.1".parse().unwrap()));
        assert_eq!(c.contains("fe80::1%eth0"), Ok(false), "zones are admitted");
        assert!(c.contains("10.0.0.1:80").is_err(), "no port in Contains");
        assert!(
            c.is_authorized("10.0.0.1:80").is_ok(),
            "IsAuthorized drops the port"
        );
        assert!(c.is_authorized("[2001:db8::1]:443").is_ok());
        assert_eq!(
            c.is_authorized("11.0.0.1"),
            Err(r#""11.0.0.1" matched none of the trusted IPs"#.into())
        );
        assert_eq!(c.is_authorized(""), Err("empty IP address".into()));
        let whole = checker(&["0.0.0.0/0"]);
        assert!(whole.contains_ip("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_are_named_in_traefiks_words() {
        for bad in [
            "10.0.0.0/33",
            "foo",
            "10.0.0/8",
            "10.0.0.0/",
            "::/129",
            "010.0.0.1",
        ] {
            let error = Checker::new(&[bad.to_string()]).unwrap_err();
            assert_eq!(
                error,
                format!("parsing CIDR trusted IPs <nil>: invalid CIDR address: {bad}")
            );
        }
        assert_eq!(Checker::new(&[]).unwrap_err(), "no trusted IPs provided");
    }

    #[test]
    fn host_and_port_split_as_go_does() {
        assert_eq!(split_host_port("1.2.3.4:80"), Some("1.2.3.4"));
        assert_eq!(split_host_port("1.2.3.4:"), Some("1.2.3.4"));
        assert_eq!(split_host_port("[::1]:80"), Some("::1"));
        assert_eq!(split_host_port("1.2.3.4"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]"), None);
    }

    fn with_xff(value: &str) -> http::request::Parts {
        let mut r = request("/");
        r.headers.insert("x-forwarded-for", value.parse().unwrap());
        r
    }

    fn strategy(json: &str) -> IpStrategy {
        let config: IpStrategyConfig = serde_json::from_str(json).unwrap();
        IpStrategy::new(Some(&config)).unwrap()
    }

    #[test]
    fn strategies_choose_the_client_ip() {
        let ctx = context();
        let r = with_xff("1.1.1.1, 2.2.2.2 ,3.3.3.3");
        let remote = IpStrategy::new(None).unwrap();
        assert_eq!(remote.ip(&r, &ctx).to_string(), "192.0.2.1");
        assert_eq!(
            strategy(r#"{"depth": 1}"#).ip(&r, &ctx).to_string(),
            "3.3.3.3"
        );
        assert_eq!(
            strategy(r#"{"depth": 2}"#).ip(&r, &ctx).to_string(),
            "2.2.2.2"
        );
        assert_eq!(
            strategy(r#"{"depth": 3}"#).ip(&r, &ctx).to_string(),
            "1.1.1.1"
        );
        assert_eq!(strategy(r#"{"depth": 4}"#).ip(&r, &ctx).to_string(), "");
        assert_eq!(
            strategy(r#"{"depth": 1}"#)
                .ip(&request("/"), &ctx)
                .to_string(),
            "",
            "no header: one empty entry"
        );
        let pool = strategy(r#"{"excludedIPs": ["3.3.3.0/24", "2.2.2.2"]}"#);
        assert_eq!(pool.ip(&r, &ctx).to_string(), "1.1.1.1");
        assert_eq!(pool.ip(&with_xff("3.3.3.3"), &ctx).to_string(), "");
        assert_eq!(
            pool.ip(&with_xff("junk, 3.3.3.3,"), &ctx).to_string(),
            "junk"
        );
        assert_eq!(
            strategy(r#"{"depth": 1, "excludedIPs": ["3.3.3.3"]}"#)
                .ip(&r, &ctx)
                .to_string(),
            "3.3.3.3",
            "depth wins"
        );
        let v6 = with_xff("2001:db8:aaaa:bbbb:cccc::1, 10.0.0.1");
        let subnet = strategy(r#"{"depth": 2, "ipv6Subnet": 64}"#);
        assert_eq!(subnet.ip(&v6, &ctx).to_string(), "2001:db8:aaaa:bbbb::");
        let subnet = strategy(r#"{"depth": 1, "ipv6Subnet": 64}"#);
        assert_eq!(
            subnet.ip(&v6, &ctx).to_string(),
            "10.0.0.1",
            "IPv4 as it is"
        );
        let remote6 = strategy(r#"{"ipv6Subnet": 48}"#);
        let ctx6 = Context::new(Some("2001:db8:1:2::9".parse().unwrap()), false, false);
        assert_eq!(remote6.ip(&r, &ctx6).to_string(), "2001:db8:1::");
    }

    #[test]
    fn bad_subnets_are_refused() {
        for json in [r#"{"ipv6Subnet": 0}"#, r#"{"depth": 1, "ipv6Subnet": 129}"#] {
            let config: IpStrategyConfig = serde_json::from_str(json).unwrap();
            let error = IpStrategy::new(Some(&config)).unwrap_err();
            assert!(error.starts_with("invalid IPv6 subnet "), "{error}");
        }
    }

    #[test]
    fn criteria_are_exclusive_and_default_per_middleware() {
        let parse = |json: &str| serde_json::from_str::<SourceConfig>(json).unwrap();
        let error = Source::new(
            Some(&parse(r#"{"ipStrategy": {}, "requestHost": true}"#)),
            DefaultSource::Ip,
        )
        .unwrap_err();
        assert_eq!(error, "iPStrategy and RequestHost are mutually exclusive");
        let error = Source::new(
            Some(&parse(r#"{"requestHeaderName": "X", "requestHost": true}"#)),
            DefaultSource::Ip,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "requestHost and RequestHeaderName are mutually exclusive"
        );
        let ctx = context();
        let mut r = request("/");
        r.headers.insert("x-user", "alice".parse().unwrap());
        let by_ip = Source::new(None, DefaultSource::Ip).unwrap();
        assert_eq!(&*by_ip.of(&r, &ctx), b"192.0.2.1");
        let by_host = Source::new(None, DefaultSource::Host).unwrap();
        assert_eq!(&*by_host.of(&r, &ctx), b"example.com");
        let by_header = Source::new(
            Some(&parse(r#"{"requestHeaderName": "X-User"}"#)),
            DefaultSource::Ip,
        )
        .unwrap();
        assert_eq!(&*by_header.of(&r, &ctx), b"alice");
        assert_eq!(&*by_header.of(&request("/"), &ctx), b"");
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let ctx6 = Context::new(Some(longest), false, false);
        assert_eq!(&*by_ip.of(&r, &ctx6), longest.to_string().as_bytes());
    }
}
