//! Index keys: their shapes, and their soundness (a match is always admitted by a key) over
//! generated regexps and rules.

use super::*;
use crate::rule::{normalize_host, normalize_path, RequestView, Rule};
use http::{HeaderMap, Method};
use std::sync::Arc;

fn keys(source: &str) -> Option<Vec<IndexKey>> {
    Rule::parse(source)
        .unwrap_or_else(|e| panic!("{e}"))
        .index_keys()
        .map(<[IndexKey]>::to_vec)
}

fn host(text: &str) -> IndexKey {
    IndexKey::Exact(Field::Host, text.into())
}

fn path(text: &str) -> IndexKey {
    IndexKey::Exact(Field::Path, text.into())
}

fn bytes(kind: fn(Field, Arc<[u8]>) -> IndexKey, field: Field, texts: &[&str]) -> Vec<IndexKey> {
    texts
        .iter()
        .map(|text| kind(field, text.as_bytes().into()))
        .collect()
}

#[test]
fn rule_shapes() {
    let cases: Vec<(&str, Option<Vec<IndexKey>>)> = vec![
        ("Path(`/a`)", Some(vec![path("/a")])),
        (
            "PathPrefix(`/api`)",
            Some(bytes(IndexKey::Prefix, Field::Path, &["/api"])),
        ),
        ("Method(`GET`)", None),
        ("!Path(`/a`)", None),
        ("Path(`/a`) || Method(`GET`)", None),
        ("Path(`/a`) || Host(`a`)", Some(vec![path("/a"), host("a")])),
        // Host before path, exact before prefix, a prefix before a one-byte prefix.
        ("PathPrefix(`/a`) && Host(`a`)", Some(vec![host("a")])),
        (
            "Path(`/a`) && Host(`*.b`)",
            Some(vec![IndexKey::HostWildcard("b".into())]),
        ),
        ("PathPrefix(`/a`) && Path(`/a/b`)", Some(vec![path("/a/b")])),
        (
            "PathPrefix(`/`) && PathPrefix(`/ab`)",
            Some(bytes(IndexKey::Prefix, Field::Path, &["/ab"])),
        ),
        (
            "PathPrefix(`/`) && HostRegexp(`^[a-z]+$`)",
            Some(vec![IndexKey::Regex(Field::Host, "^[a-z]+$".into())]),
        ),
        ("HostRegexp(`.+`) && Path(`/x`)", Some(vec![path("/x")])),
        (
            "(Host(`a`) || Host(`b`)) && Path(`/x`)",
            Some(vec![host("a"), host("b")]),
        ),
        (
            "HostRegexp(`^r1\\.example\\.(com|org)$`) && PathRegexp(`^/api/v[0-9]+/`)",
            Some(vec![host("r1.example.com"), host("r1.example.org")]),
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(keys(source), expected, "{source}");
    }
}

#[test]
fn regexp_shapes() {
    let host_regexp = |pattern: &str| keys(&format!("HostRegexp(`{pattern}`)")).unwrap();
    let path_regexp = |pattern: &str| keys(&format!("PathRegexp(`{pattern}`)")).unwrap();
    let cases: Vec<(Vec<IndexKey>, Vec<IndexKey>)> = vec![
        (host_regexp(r"^a\.com$"), vec![host("a.com")]),
        (
            host_regexp(r"^(a|b)\.com$"),
            vec![host("a.com"), host("b.com")],
        ),
        // Hosts are lowercase: case-insensitive patterns give one literal, uppercase none.
        (
            host_regexp(r"(?i)^API\.example\.com$"),
            vec![host("api.example.com")],
        ),
        (host_regexp(r"^API\.example\.com$"), vec![]),
        (host_regexp(r"^$"), vec![host("")]),
        (
            host_regexp(r"^[a-z]+\.example\.com$"),
            bytes(IndexKey::Suffix, Field::Host, &[".example.com"]),
        ),
        (
            host_regexp(r"^api-[a-z]+\."),
            bytes(IndexKey::Prefix, Field::Host, &["api-"]),
        ),
        (
            host_regexp(r"example\.com"),
            bytes(IndexKey::Contains, Field::Host, &["example.com"]),
        ),
        // `(?m)^` is not an anchor at the start of the text.
        (
            host_regexp(r"(?m)^abc$"),
            bytes(IndexKey::Contains, Field::Host, &["abc"]),
        ),
        // Prefixes before suffixes; literals shorter than 3 bytes are not worth a key.
        (
            host_regexp(r"^svc1-[a-z]+\.example\.com$"),
            bytes(IndexKey::Prefix, Field::Host, &["svc1-"]),
        ),
        (
            host_regexp(r"^[a-z]{3}[0-9]{4}$"),
            vec![IndexKey::Regex(Field::Host, r"^[a-z]{3}[0-9]{4}$".into())],
        ),
        (
            host_regexp(r"^.*$"),
            vec![IndexKey::Regex(Field::Host, r"^.*$".into())],
        ),
        // Go syntax is translated first (`\d` is ASCII in Go).
        (
            host_regexp(r"^\w+$"),
            vec![IndexKey::Regex(Field::Host, r"^[0-9A-Za-z_]+$".into())],
        ),
        (
            path_regexp(r"^/api/v[0-9]+/"),
            bytes(
                IndexKey::Prefix,
                Field::Path,
                &[
                    "/api/v0", "/api/v1", "/api/v2", "/api/v3", "/api/v4", "/api/v5", "/api/v6",
                    "/api/v7", "/api/v8", "/api/v9",
                ],
            ),
        ),
        (
            path_regexp(r"\.(png|jpg)$"),
            bytes(IndexKey::Suffix, Field::Path, &[".png", ".jpg"]),
        ),
        // Paths keep their case.
        (path_regexp(r"^/A$"), vec![path("/A")]),
    ];
    for (i, (got, expected)) in cases.into_iter().enumerate() {
        assert_eq!(got, expected, "case {i}");
    }
}

/// A small generator of regexps over a few letters, dots and slashes, with the constructs
/// the literal analysis must get right: anchors, word boundaries, classes, alternations,
/// repetitions, case-insensitivity and multi-line mode.
fn random_pattern(rng: &mut fastrand::Rng, depth: u32) -> String {
    let atoms = [
        "a", "b", "A", "B", ".", r"\.", "/", "[ab]", "[a-z]", "[^a]", "(?i:a)", "(?i:B)", "",
    ];
    let mut out = String::new();
    for _ in 0..rng.usize(1..4) {
        let piece = match rng.u32(0..10) {
            0 | 1 if depth < 2 => format!(
                "({}|{})",
                random_pattern(rng, depth + 1),
                random_pattern(rng, depth + 1)
            ),
            2 if depth < 2 => format!("(?:{})", random_pattern(rng, depth + 1)),
            3 => r"\b".to_owned(),
            _ => atoms[rng.usize(..atoms.len())].to_owned(),
        };
        out.push_str(&piece);
        if !piece.is_empty() && piece != r"\b" {
            let repetitions = ["", "", "", "?", "*", "+", "{2}", "{1,2}"];
            out.push_str(repetitions[rng.usize(..repetitions.len())]);
        }
    }
    out
}

fn anchored(rng: &mut fastrand::Rng, body: String) -> String {
    let starts = ["", "^", r"\A", "(?m)^"];
    let ends = ["", "$", r"\z", "(?m:$)"];
    format!(
        "{}{body}{}",
        starts[rng.usize(..starts.len())],
        ends[rng.usize(..ends.len())]
    )
}

/// Every text up to `max_len` characters over `alphabet`.
fn texts(alphabet: &[char], max_len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..max_len {
        last = last
            .iter()
            .flat_map(|text| alphabet.iter().map(move |c| format!("{text}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

#[test]
fn regexp_keys_admit_every_match() {
    let mut rng = fastrand::Rng::with_seed(8);
    // Hosts are lowercase; paths may hold anything.
    let hosts = texts(&['a', 'b', '.', 'k'], 4);
    let paths = texts(&['a', 'B', '/', '.'], 4);
    let mut matched = 0;
    let mut kinds = HashSet::new();
    for _ in 0..600 {
        let body = random_pattern(&mut rng, 0);
        let pattern = anchored(&mut rng, body);
        let Ok(regex) = crate::rule::go_regex::compile(&pattern) else {
            continue;
        };
        for (field, haystacks) in [(Field::Host, &hosts), (Field::Path, &paths)] {
            let found = literals::keys(regex.as_str(), field);
            for key in &found {
                kinds.insert(std::mem::discriminant(key));
            }
            for text in haystacks {
                if !regex.is_match(text) {
                    continue;
                }
                matched += 1;
                let (host, path) = match field {
                    Field::Host => (text.as_str(), ""),
                    Field::Path => ("", text.as_str()),
                };
                // A regexp key is the pattern itself (compiling it for each text is slow).
                let admits = |key: &IndexKey| match key {
                    IndexKey::Regex(_, own) => &**own == regex.as_str(),
                    key => key.admits(host, path),
                };
                assert!(
                    found.iter().any(admits),
                    "{pattern:?} matches {field:?} {text:?} outside its keys {found:?}"
                );
            }
        }
    }
    assert!(matched > 5_000, "too few matches: {matched}");
    assert_eq!(
        kinds.len(),
        5,
        "exact, prefix, suffix, contains and regex keys all seen"
    );
}

#[test]
fn rule_keys_admit_every_match() {
    let rules = [
        "Host(`a.com`) && PathPrefix(`/api`)",
        "Host(`*.a.com`) || Path(`/x`)",
        "HostRegexp(`^(www\\.)?a\\.com$`) && !Path(`/x`)",
        "HostRegexp(`(?i)^A\\.`) || PathRegexp(`^/x/[0-9]+$`)",
        "HostRegexp(`com$`) && Method(`GET`)",
        "PathPrefix(`/`) && (Path(`/x`) || PathRegexp(`\\.png$`))",
        "(PathPrefix(`/api`) || Host(`b.com`)) && HostRegexp(`^[a-z.]+$`)",
        "PathRegexp(`(?i)/API`)",
    ];
    let hosts = [
        "a.com",
        "A.com.",
        "www.a.com",
        "x.a.com",
        "b.com",
        "a.",
        "123",
        "",
    ];
    let paths = [
        "/", "/x", "/api", "/api/v1", "/x/12", "/p.png", "/API", "/Api/x",
    ];
    let headers = HeaderMap::new();
    let mut checked = 0;
    for source in rules {
        let rule = Rule::parse(source).unwrap();
        let keys = rule.index_keys().expect("constrained").to_vec();
        for raw_host in hosts {
            for raw_path in paths {
                let host = normalize_host(raw_host);
                let path = normalize_path(raw_path);
                let request = RequestView {
                    host: &host,
                    method: &Method::GET,
                    path: &path,
                    query: "",
                    headers: &headers,
                    client_ip: None,
                };
                if rule.matches(&request) {
                    checked += 1;
                    assert!(
                        keys.iter().any(|key| key.admits(&host, &path)),
                        "{source} matched {host:?} {path:?} outside {keys:?}"
                    );
                }
            }
        }
    }
    assert!(checked > 30, "too few matching pairs: {checked}");
}
