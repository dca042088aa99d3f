//! Rule-level tests: every matcher, precedence, errors, host-key soundness.

// The formulas below are written to mirror the rules, not to be minimal.
#![allow(clippy::nonminimal_bool, clippy::type_complexity)]

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

/// An owned request for tests; `view()` normalizes host and path like the gateway will.
#[derive(Clone)]
struct Req {
    host: String,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    client_ip: Option<IpAddr>,
}

impl Req {
    /// A GET request to a URL-ish `host[:port]/path?query`.
    fn get(target: &str) -> Req {
        let (authority, rest) = match target.find('/') {
            Some(i) => target.split_at(i),
            None => (target, "/"),
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Req {
            host: normalize_host(authority).into_owned(),
            method: Method::GET,
            path: normalize_path(path).into_owned(),
            query: query.to_owned(),
            headers: HeaderMap::new(),
            client_ip: None,
        }
    }

    fn method(mut self, method: &str) -> Req {
        self.method = Method::from_bytes(method.as_bytes()).unwrap();
        self
    }

    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
        self
    }

    fn ip(mut self, ip: &str) -> Req {
        self.client_ip = Some(ip.parse().unwrap());
        self
    }

    fn view(&self) -> RequestView<'_> {
        RequestView {
            host: &self.host,
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            client_ip: self.client_ip,
        }
    }
}

fn rule(source: &str) -> Rule {
    Rule::parse(source).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts the rule matches exactly the requests marked `true`.
fn check(source: &str, cases: &[(Req, bool)]) {
    let compiled = rule(source);
    for (req, expected) in cases {
        assert_eq!(
            compiled.matches(&req.view()),
            *expected,
            "rule {source}: host={:?} method={} path={:?} query={:?} headers={:?} ip={:?}",
            req.host,
            req.method,
            req.path,
            req.query,
            req.headers,
            req.client_ip
        );
    }
}

fn get(target: &str) -> Req {
    Req::get(target)
}

fn err(source: &str) -> RuleError {
    match Rule::parse(source) {
        Ok(_) => panic!("rule {source} should not parse"),
        Err(e) => e,
    }
}

/// Asserts the error message contains every fragment and the error sits at `position`.
fn check_err(source: &str, position: Option<usize>, fragments: &[&str]) {
    let e = err(source);
    let text = e.to_string();
    for fragment in fragments {
        assert!(
            text.contains(fragment),
            "{source}: {text:?} does not contain {fragment:?}"
        );
    }
    assert_eq!(e.position(), position, "{source}: {text}");
    assert_eq!(e.rule(), source);
}

#[test]
fn host() {
    check(
        "Host(`example.com`)",
        &[
            (get("example.com"), true),
            (get("example.com:8080"), true),
            (get("example.com/path"), true),
            (get("EXAMPLE.COM/path"), true),
            (get("example.com./path"), true),
            (get("example.org"), false),
            (get("www.example.com"), false),
            (get(""), false),
        ],
    );
    check(
        "Host(`EXAMPLE.com.`)",
        &[
            (get("example.com"), true),
            (get("example.com."), true),
            (get("example.org."), false),
        ],
    );
    check(
        "Host(`10::10`)",
        &[
            (get("[10::10]/foo"), true),
            (get("[10::10]:80"), true),
            (get("[10::11]"), false),
        ],
    );
    check(
        "Host(`127.0.0.1`)",
        &[(get("127.0.0.1:80"), true), (get("127.0.0.2"), false)],
    );
    check(
        "Host(`xn--9t9h.com`)",
        &[(get("xn--9t9h.com"), true), (get("🦭.com"), false)],
    );
}

#[test]
fn host_wildcards() {
    check(
        "Host(`*.example.com`)",
        &[
            (get("test.example.com"), true),
            (get("OTHER.example.com:443"), true),
            (get("test.example.com."), true),
            (get("example.com"), false),
            (get("a.b.example.com"), false),
            (get("test.otherexample.com"), false),
        ],
    );
    check(
        "Host(`*`)",
        &[
            (get("example.com"), true),
            (get("localhost"), true),
            (get(""), true),
        ],
    );
    check(
        "Host(`*.`)",
        &[
            (get("localhost"), true),
            (get("example.com"), false),
            (get(""), false),
        ],
    );
    check(
        "Host(`*foo.com`)",
        &[(get("xfoo.com"), false), (get("a.foo.com"), false)],
    );
}

#[test]
fn host_regexp() {
    check(
        r"HostRegexp(`^[a-zA-Z-]+\.com$`)",
        &[
            (get("example.com"), true),
            (get("example.com:8080"), true),
            (get("EXAMPLE.com"), true),
            (get("example.org"), false),
        ],
    );
    // Unanchored, and the host is already lowercase.
    check(
        "HostRegexp(`ample`)",
        &[(get("example.com"), true), (get("other.org"), false)],
    );
    check(
        "HostRegexp(`^[A-Z]+\\.com$`)",
        &[(get("EXAMPLE.com"), false)],
    );
    check(
        r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)",
        &[(get("example.com"), false)],
    );
}

#[test]
fn path_matchers() {
    check(
        "Path(`/css`)",
        &[
            (get("example.com/css"), true),
            (get("example.com/css/"), false),
            (get("example.com/css/main.css"), false),
            (get("example.com/"), false),
            (get("example.com/CSS"), false),
        ],
    );
    check(
        "PathPrefix(`/products`)",
        &[
            (get("x/products"), true),
            (get("x/products/1"), true),
            (get("x/products-for-sale"), true),
            (get("x/product"), false),
            (get("x/Products"), false),
        ],
    );
    check(
        "PathRegexp(`^/(css|js)`)",
        &[
            (get("x/css"), true),
            (get("x/js/main.js"), true),
            (get("x/CSS"), false),
            (get("x/html"), false),
        ],
    );
    check("PathRegexp(`css`)", &[(get("x/static/css/a"), true)]);
    check(
        r#"PathRegexp("/{path:(css|js)}")"#,
        &[
            (get("x/{path:css}"), true),
            (get("x/%7Bpath:js%7D/"), true),
            (get("x/css"), false),
        ],
    );
}

#[test]
fn path_matchers_see_the_normalized_path() {
    check(
        "Path(`/foo bar`)",
        &[(get("x/foo%20bar"), true), (get("x/foo%2520bar"), false)],
    );
    check(
        "Path(`/a%2Fb`)",
        &[
            (get("x/a%2Fb"), true),
            (get("x/a%2fb"), true),
            (get("x/a/b"), false),
        ],
    );
    check(
        "Path(`/a/b`)",
        &[(get("x/a%2Fb"), false), (get("x/a%2fb"), false)],
    );
    check(
        "PathPrefix(`/api/`)",
        &[(get("x/api%2Fv1"), false), (get("x/%61pi/v1"), true)],
    );
    check("Path(`/café`)", &[(get("x/caf%C3%A9"), true)]);
}

#[test]
fn method() {
    check(
        "Method(`GET`)",
        &[
            (get("x/"), true),
            (get("x/").method("POST"), false),
            (get("x/").method("get"), false),
        ],
    );
    check(
        "Method(`get`)",
        &[(get("x/"), true), (get("x/").method("get"), false)],
    );
    check("Method(`purge`)", &[(get("x/").method("PURGE"), true)]);
}

#[test]
fn header() {
    let rule = "Header(`x-forwarded-proto`, `https`)";
    check(
        rule,
        &[
            (get("x/").header("X-Forwarded-Proto", "https"), true),
            (get("x/").header("x-forwarded-proto", "https"), true),
            (
                get("x/")
                    .header("X-Forwarded-Proto", "http")
                    .header("X-Forwarded-Proto", "https"),
                true,
            ),
            (get("x/").header("X-Forwarded-Proto", "HTTPS"), false),
            (get("x/").header("X-Forwarded-Proto", "http, https"), false),
            (get("x/").header("X-Forwarded-Host", "https"), false),
            (get("x/"), false),
        ],
    );
    check(
        "Header(`X-Name`, `café`)",
        &[(get("x/").header("x-name", "café"), true)],
    );
    // Go removes Host from the header map, and an invalid name is never sent.
    check(
        "Header(`Host`, `x`)",
        &[(get("x/").header("host", "x"), false)],
    );
    check("Header(`bad name`, `x`)", &[(get("x/"), false)]);
}

#[test]
fn header_regexp() {
    check(
        "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
        &[
            (get("x/").header("X-Forwarded-Proto", "http"), true),
            (get("x/").header("X-Forwarded-Proto", "https"), true),
            (get("x/").header("X-Forwarded-Proto", "HTTPS"), false),
            (
                get("x/")
                    .header("X-Forwarded-Proto", "ws")
                    .header("X-Forwarded-Proto", "https"),
                true,
            ),
            (get("x/").header("X-Forwarded-Host", "http"), false),
        ],
    );
    check(
        "HeaderRegexp(`User-Agent`, `curl`)",
        &[(get("x/").header("user-agent", "xx curl/8"), true)],
    );
    check(
        "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
        &[
            (get("x/").header("X-Forwarded-Proto", "https"), false),
            (
                get("x/").header("X-Forwarded-Proto", "http{secure:s}"),
                true,
            ),
        ],
    );
}

#[test]
fn query() {
    check(
        "Query(`q`, `traefik`)",
        &[
            (get("x/"), false),
            (get("x/?q=traefik"), true),
            (get("x/?rel=ddg&q=traefik"), true),
            (get("x/?q=traefik&q=proxy"), true),
            (get("x/?q=awesome&q=traefik"), true),
            (get("x/?q=nginx"), false),
            (get("x/?q=TRAEFIK"), false),
            (get("x/?Q=traefik"), false),
            (get("x/?rel=traefik"), false),
            (get("x/?a=1;q=traefik"), true),
            (get("x/?q=tra%65fik"), true),
            (get("x/?q=traefik%zz"), false),
        ],
    );
    check(
        "Query(`mobile`)",
        &[
            (get("x/"), false),
            (get("x/?mobile"), true),
            (get("x/?mobile="), true),
            (get("x/?mobile=true"), false),
            (get("x/?mobile=true&mobile"), true),
            (get("x/?mobiles"), false),
        ],
    );
    check(
        "Query(`my key`, `a b+c`)",
        &[
            (get("x/?my+key=a+b%2Bc"), true),
            (get("x/?my%20key=a%20b%2bc"), true),
            (get("x/?my+key=a+b+c"), false),
        ],
    );
    // A pair with an invalid escape anywhere is ignored.
    check(
        "Query(`k`)",
        &[(get("x/?k=%zz"), false), (get("x/?k%zz"), false)],
    );
}

#[test]
fn query_regexp() {
    check(
        "QueryRegexp(`q`, `^(traefik|nginx)$`)",
        &[
            (get("x/"), false),
            (get("x/?q=traefik"), true),
            (get("x/?rel=ddg&q=nginx"), true),
            (get("x/?q=awesome&q=traefik"), true),
            (get("x/?q=NGINX"), false),
            (get("x/?Q=nginx"), false),
            (get("x/?q=haproxy"), false),
            (get("x/?q=%6Eginx"), true),
        ],
    );
    check(
        "QueryRegexp(`q`, `^.*$`)",
        &[
            (get("x/?q=anything"), true),
            (get("x/?q"), true),
            (get("x/?r=1"), false),
        ],
    );
    check(
        "QueryRegexp(`q`, `^a b$`)",
        &[(get("x/?q=a+b"), true), (get("x/?q=a%20b"), true)],
    );
    // One argument: same as Query with one argument.
    check(
        "QueryRegexp(`q`)",
        &[(get("x/?q"), true), (get("x/?q=1"), false)],
    );
}

#[test]
fn client_ip() {
    check(
        "ClientIP(`127.0.0.1`)",
        &[
            (get("x/").ip("127.0.0.1"), true),
            (get("x/").ip("::ffff:127.0.0.1"), true),
            (get("x/").ip("192.168.1.1"), false),
            (get("x/"), false),
        ],
    );
    check(
        "ClientIP(`192.168.1.0/24`)",
        &[
            (get("x/").ip("192.168.1.1"), true),
            (get("x/").ip("192.168.1.255"), true),
            (get("x/").ip("192.168.2.1"), false),
            (get("x/").ip("::ffff:192.168.1.7"), true),
        ],
    );
    check(
        "ClientIP(`192.168.1.9/24`)",
        &[(get("x/").ip("192.168.1.1"), true)],
    );
    check(
        "ClientIP(`2001:db8::/32`)",
        &[
            (get("x/").ip("2001:db8::1"), true),
            (get("x/").ip("2001:db9::1"), false),
            (get("x/").ip("10.0.0.1"), false),
        ],
    );
    check(
        "ClientIP(`::1`)",
        &[
            (get("x/").ip("::1"), true),
            (get("x/").ip("127.0.0.1"), false),
        ],
    );
    check(
        "ClientIP(`::ffff:10.0.0.0/104`)",
        &[
            (get("x/").ip("10.1.2.3"), true),
            (get("x/").ip("11.0.0.1"), false),
        ],
    );
}

#[test]
fn precedence_and_grouping() {
    let a = "Host(`a`)";
    let b = "Path(`/b`)";
    let c = "Method(`POST`)";
    let table = |host: &str, path: &str, post: bool| {
        let req = get(&format!("{host}{path}"));
        if post {
            req.method("POST")
        } else {
            req
        }
    };
    // Every combination of the three atoms.
    let mut requests = Vec::new();
    for (host, va) in [("a", true), ("z", false)] {
        for (path, vb) in [("/b", true), ("/z", false)] {
            for vc in [true, false] {
                requests.push((table(host, path, vc), va, vb, vc));
            }
        }
    }
    let formulas: Vec<(String, fn(bool, bool, bool) -> bool)> = vec![
        (format!("{a} || {b} && {c}"), |a, b, c| a || (b && c)),
        (format!("{a} && {b} || {c}"), |a, b, c| (a && b) || c),
        (format!("({a} || {b}) && {c}"), |a, b, c| (a || b) && c),
        (format!("!{a} && {b}"), |a, b, _| !a && b),
        (format!("!({a} && {b})"), |a, b, _| !(a && b)),
        (format!("!{a} || !{b}"), |a, b, _| !a || !b),
        (format!("!!{a}"), |a, _, _| a),
        (format!("!(!({a} && {b}))"), |a, b, _| a && b),
        (format!("((({a})))"), |a, _, _| a),
        (format!("{a} && !({b} || !{c})"), |a, b, c| a && !(b || !c)),
        (format!("{a}||{b}&&!{c}||{c}"), |a, b, c| {
            a || (b && !c) || c
        }),
        (format!("({a} && {b}) || (({a}) && {c})"), |a, b, c| {
            (a && b) || (a && c)
        }),
    ];
    for (source, truth) in formulas {
        let compiled = rule(&source);
        for (req, va, vb, vc) in &requests {
            assert_eq!(
                compiled.matches(&req.view()),
                truth(*va, *vb, *vc),
                "{source} with a={va} b={vb} c={vc}"
            );
        }
    }
}

#[test]
fn whitespace_between_tokens() {
    let compiled = rule(" \tHost ( `a` )\n&&\r\n!  Path(\"/x\" , ) ");
    assert!(compiled.matches(&get("a/y").view()));
    assert!(!compiled.matches(&get("a/x").view()));
}

#[test]
fn trailing_comma_is_accepted_as_in_go() {
    check(
        "Header(`X-A`, `1`,)",
        &[(get("x/").header("x-a", "1"), true)],
    );
}

#[test]
fn argument_escapes() {
    check(r#"Path("/a\tb")"#, &[(get("x/a%09b"), true)]);
    check(r#"Path("/caf\u00e9")"#, &[(get("x/caf%C3%A9"), true)]);
    check(r#"Path("/caf\xc3\xa9")"#, &[(get("x/caf%C3%A9"), true)]);
    check(r#"Path("/caf\303\251")"#, &[(get("x/caf%C3%A9"), true)]);
    check(r#"Path("/\"q\"")"#, &[(get("x/%22q%22"), true)]);
    // Backslashes in raw strings reach the regex untouched; in double quotes they must be
    // doubled.
    check(
        r"PathRegexp(`^/\d+$`)",
        &[(get("x/42"), true), (get("x/4a"), false)],
    );
    check(r#"PathRegexp("^/\\d+$")"#, &[(get("x/42"), true)]);
    check_err(
        r#"PathRegexp("^/\d+$")"#,
        Some(14),
        &["invalid escape sequence \\d"],
    );
}

#[test]
fn name_case_variants() {
    for source in [
        "PathPrefix(`/css`)",
        "pathprefix(`/css`)",
        "PATHPREFIX(`/css`)",
        "Pathprefix(`/css`)",
    ] {
        check(source, &[(get("x/css/a"), true), (get("x/js"), false)]);
    }
    for source in [
        "ClientIP(`::1`)",
        "clientip(`::1`)",
        "CLIENTIP(`::1`)",
        "Clientip(`::1`)",
    ] {
        rule(source);
    }
    for source in [
        "pathPrefix(`/css`)",
        "PathprefiX(`/css`)",
        "ClientIp(`::1`)",
        "hOST(`a`)",
    ] {
        check_err(
            source,
            Some(0),
            &["unknown matcher", "names are accepted as"],
        );
    }
}

#[test]
fn rules_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Rule>();
    assert_send_sync::<RuleError>();
}

#[test]
fn errors() {
    check_err("", Some(0), &["empty rule"]);
    check_err("   ", Some(0), &["empty rule"]);
    check_err(
        "Hots(`a`)",
        Some(0),
        &["rule \"Hots(`a`)\": unknown matcher \"Hots\" at position 0"],
    );
    check_err(
        "Host(`a`) && Foo(`b`)",
        Some(13),
        &["unknown matcher \"Foo\""],
    );
    check_err(
        "Host",
        Some(4),
        &["expected \"(\" after matcher Host, found the end of the rule"],
    );
    check_err(
        "Host(example.com)",
        Some(5),
        &[
            "matcher Host: expected an argument quoted",
            "found \"example\"",
        ],
    );
    check_err(
        "Host('a')",
        Some(5),
        &["single-quoted strings are not allowed"],
    );
    check_err("Host(``)", Some(5), &["matcher Host: argument 1 is empty"]);
    check_err(
        "Header(`X-A`, \"\")",
        Some(14),
        &["matcher Header: argument 2 is empty"],
    );
    check_err(
        "Host()",
        Some(0),
        &["matcher Host expects exactly 1 argument, got 0"],
    );
    check_err(
        "Host(`a`, `b`)",
        Some(0),
        &["matcher Host expects exactly 1 argument, got 2"],
    );
    check_err(
        "Header(`X-A`)",
        Some(0),
        &["matcher Header expects exactly 2 arguments, got 1"],
    );
    check_err(
        "Query(`a`, `b`, `c`)",
        Some(0),
        &["matcher Query expects 1 or 2 arguments, got 3"],
    );
    check_err("Host(`a)", Some(5), &["unterminated string literal"]);
    check_err("Host(\"a)", Some(5), &["unterminated string literal"]);
    check_err(r#"Host("a\qb")"#, Some(7), &["invalid escape sequence \\q"]);
    check_err(
        "Host(`a`) Path(`/`)",
        Some(10),
        &["unexpected \"Path\" after a complete expression"],
    );
    check_err("Host(`a`) `b`", Some(10), &["unexpected a string literal"]);
    check_err(
        "Host(`a`) &&",
        Some(12),
        &["rule \"Host(`a`) &&\": expected a matcher after \"&&\" at position 12"],
    );
    check_err(
        "Host(`a`) || ",
        Some(13),
        &["expected a matcher after \"||\""],
    );
    check_err(
        "&& Host(`a`)",
        Some(0),
        &["expected a matcher, found \"&&\""],
    );
    check_err(
        "Host(`a`) && || Path(`/`)",
        Some(13),
        &["expected a matcher after \"&&\", found \"||\""],
    );
    check_err("!", Some(1), &["expected a matcher after \"!\""]);
    check_err(
        "(Host(`a`)",
        Some(10),
        &["expected \")\" to close the \"(\" at position 0"],
    );
    check_err(
        "Host(`a`))",
        Some(9),
        &["unexpected \")\" without a matching \"(\""],
    );
    check_err(
        "()",
        Some(1),
        &["expected a matcher after \"(\", found \")\""],
    );
    check_err(
        "Host(`a`",
        Some(8),
        &["missing \")\" to close the arguments of Host"],
    );
    check_err(
        "Host(`a` `b`)",
        Some(9),
        &["expected \",\" or \")\" after an argument"],
    );
    check_err("Host(,)", Some(5), &["expected an argument", "found \",\""]);
    check_err("Host(Path(`/`))", Some(5), &["expected an argument"]);
    check_err("Host(`a`) & Path(`/`)", Some(10), &["\"&&\""]);
    check_err(
        "Host(`a`) == Path(`/`)",
        Some(10),
        &["unexpected character \"=\""],
    );
    check_err("Host(1)", Some(5), &["unexpected character \"1\""]);
    check_err(
        "PathRegexp(`/(css`)",
        Some(11),
        &["matcher PathRegexp: invalid regular expression \"/(css\": unclosed group"],
    );
    check_err(
        "HostRegexp(`(a`)",
        Some(11),
        &["matcher HostRegexp: invalid regular expression"],
    );
    check_err(
        "HeaderRegexp(`X`, `[a`)",
        Some(18),
        &["matcher HeaderRegexp: invalid regular expression \"[a\""],
    );
    check_err(
        "QueryRegexp(`q`, `a{2000}`)",
        Some(17),
        &["matcher QueryRegexp", "invalid repeat count"],
    );
    check_err(
        "ClientIP(`1`)",
        Some(9),
        &["matcher ClientIP: \"1\" is not a valid IP address or CIDR block"],
    );
    check_err("ClientIP(`10.0.0.0/33`)", Some(9), &["matcher ClientIP"]);
    check_err(
        "ClientIP(`::1`, `::2`)",
        Some(0),
        &["matcher ClientIP expects exactly 1 argument, got 2"],
    );
    check_err(
        "Path(`css`)",
        Some(5),
        &["matcher Path: path \"css\" must start with \"/\""],
    );
    check_err(
        "PathPrefix(`css`)",
        Some(11),
        &["matcher PathPrefix: path \"css\" must start with \"/\""],
    );
    check_err(
        "Host(`🦭.com`)",
        Some(5),
        &[
            "matcher Host: non-ASCII characters are not allowed",
            "punycode",
        ],
    );
    check_err(
        "HostRegexp(`🦭.com`)",
        Some(11),
        &["matcher HostRegexp: non-ASCII"],
    );
    check_err("Host(`a`) && Path(`x`)", Some(18), &["matcher Path"]);
}

#[test]
fn error_display_and_equality() {
    let e = err("Host(`a`) &&");
    assert_eq!(e.message(), "expected a matcher after \"&&\"");
    assert_eq!(e, err("Host(`a`) &&"));
    let e = err("Path(\"a\")");
    assert_eq!(
        e.to_string(),
        "rule \"Path(\\\"a\\\")\": matcher Path: path \"a\" must start with \"/\" at position 5"
    );
}

#[test]
fn host_keys_shapes() {
    let exact = |h: &str| HostKey::Exact(h.to_owned());
    let wild = |h: &str| HostKey::Wildcard(h.to_owned());
    let cases: Vec<(&str, Option<Vec<HostKey>>)> = vec![
        ("Host(`Example.COM.`)", Some(vec![exact("example.com")])),
        ("Host(`*.Example.com`)", Some(vec![wild("example.com")])),
        ("Host(`*`)", None),
        ("Host(`*.`)", None),
        ("Host(`*foo.com`)", Some(vec![])),
        ("Path(`/`)", None),
        ("HostRegexp(`a`)", None),
        ("!Host(`a`)", None),
        ("Host(`a`) || Path(`/x`)", None),
        (
            "Host(`a`) || Host(`b`) || Host(`a`)",
            Some(vec![exact("a"), exact("b")]),
        ),
        ("Host(`a`) && Path(`/x`)", Some(vec![exact("a")])),
        ("Path(`/x`) && Host(`a`)", Some(vec![exact("a")])),
        (
            "(Host(`a`) || Host(`b`)) && Host(`c`)",
            Some(vec![exact("c")]),
        ),
        (
            "(Host(`a`) || Host(`*.b`)) && PathPrefix(`/`)",
            Some(vec![exact("a"), wild("b")]),
        ),
        (
            "(Host(`a`) && Path(`/`)) || Host(`b`)",
            Some(vec![exact("a"), exact("b")]),
        ),
        ("Host(`a`) && !Host(`b`)", Some(vec![exact("a")])),
        ("!(Host(`a`) || Host(`b`))", None),
    ];
    for (source, expected) in cases {
        assert_eq!(rule(source).host_keys(), expected, "{source}");
    }
}

/// For every rule and request: a match implies the host satisfies the keys.
#[test]
fn host_keys_are_sound() {
    let rules = [
        "Host(`example.com`)",
        "Host(`EXAMPLE.com.`)",
        "Host(`*.example.com`)",
        "Host(`*.example.com.`)",
        "Host(`*.*.example.com`)",
        "Host(`*foo.com`)",
        "Host(`*`)",
        "Host(`*.`)",
        "Host(`.`)",
        "Host(`localhost`) || Host(`*.localhost`)",
        "Host(`a.example.com`) && PathPrefix(`/api`)",
        "(Host(`a.com`) || Host(`b.com`)) && (Host(`b.com`) || Host(`c.com`))",
        "Host(`a.com`) || (Host(`b.com`) && !Path(`/x`))",
        "Host(`a.com`) || Path(`/x`)",
        "!Host(`a.com`)",
        "HostRegexp(`example`)",
        "Host(`10::10`)",
        "Host(`127.0.0.1`)",
        "PathPrefix(`/`)",
    ];
    let hosts = [
        "example.com",
        "EXAMPLE.com.",
        "example.com:80",
        "a.example.com",
        "b.a.example.com",
        ".example.com",
        "x.*.example.com",
        "foo.com",
        "xfoo.com",
        "localhost",
        "a.localhost",
        "a.com",
        "b.com",
        "c.com",
        "[10::10]:443",
        "127.0.0.1:8080",
        "",
        ".",
        "a..",
    ];
    let paths = ["/", "/x", "/api/v1"];
    let mut checked = 0;
    for source in rules {
        let compiled = rule(source);
        let keys = compiled.host_keys();
        for host in hosts {
            for path in paths {
                let req = get(&format!("{host}{path}"));
                if !compiled.matches(&req.view()) {
                    continue;
                }
                checked += 1;
                if let Some(keys) = &keys {
                    assert!(
                        keys.iter().any(|key| key.admits(&req.host)),
                        "{source} matched host {:?} outside its keys {keys:?}",
                        req.host
                    );
                }
            }
        }
    }
    assert!(checked > 40, "too few matching pairs: {checked}");
}
