//! Parity of basicAuth and digestAuth: good, bad, missing and malformed credentials, realm,
//! removeHeader, headerField, users from a file, and the digest challenge and exchange (the
//! nonce and opaque differ by nature: they are masked, and each proxy answers its own).

use crate::harness::{get, Exchange, Pair};
use crate::support::TempDir;
use base64::Engine;
use md5::{Digest, Md5};
use std::net::SocketAddr;

// `htpasswd -nbB -C 4`, `-nbm`, `-nbs`; `htdigest` for test/traefik/test.
const BCRYPT: &str = "test:$2y$04$jMl3nNpAYEb3dqUWTSK.4eFKwdrBDTOaiws7kTD75NHkmhl.fs50G";
const APR1: &str = "apr:$apr1$zWDQC326$VMEh4obEk.NC7t0oWqkkw0";
const SHA: &str = "sha:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";
const DIGEST_USER: &str = "test:traefik:a2688e031edb4be6a3797f3882655c05";

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

fn config(users_file: &str) -> String {
    format!(
        r#"http:
  routers:
    plain: {{rule: "PathPrefix(`/plain`)", service: backend, middlewares: [plain]}}
    options: {{rule: "PathPrefix(`/options`)", service: backend, middlewares: [options]}}
    filed: {{rule: "PathPrefix(`/filed`)", service: backend, middlewares: [filed]}}
    digest: {{rule: "PathPrefix(`/digest`)", service: backend, middlewares: [digest]}}
    missing: {{rule: "PathPrefix(`/missing`)", service: backend, middlewares: [missing]}}
  middlewares:
    plain: {{basicAuth: {{users: ["{BCRYPT}", "{APR1}", "{SHA}"]}}}}
    options: {{basicAuth: {{users: ["{SHA}"], realm: "my realm", removeHeader: true, headerField: X-WebAuth-User}}}}
    filed: {{basicAuth: {{usersFile: "{users_file}", users: ["sha:{{SHA}}0JQeaNqPOBUf+Gph/Fn3xc+fyqI="]}}}}
    digest: {{digestAuth: {{users: ["{DIGEST_USER}"], removeHeader: true, headerField: X-User}}}}
    missing: {{basicAuth: {{usersFile: /nonexistent/users}}}}
  services:
    backend: {{loadBalancer: {{servers: [{{url: "{{backend}}"}}]}}}}
"#
    )
}

fn start() -> (Pair, TempDir) {
    let dir = TempDir::new("auth-parity");
    let file = dir.join("users");
    // sha's line here loses to the inline one (password "other").
    std::fs::write(&file, format!("# users\n{APR1}\n\n  {SHA}  \n")).unwrap();
    let pair = Pair::start(&config(file.to_str().unwrap()), "");
    (pair, dir)
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn basic_auth_answers_like_traefik() {
    let (pair, _dir) = start();
    let auth = |value: &str| vec![("Authorization", value.to_string())];
    let probes: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/plain/x".into(), vec![]),
        ("/plain/x".into(), auth(&basic("test:test"))),
        ("/plain/x".into(), auth(&basic("test:test"))),
        ("/plain/x".into(), auth(&basic("test:wrong"))),
        ("/plain/x".into(), auth(&basic("apr:test"))),
        ("/plain/x".into(), auth(&basic("sha:test"))),
        ("/plain/x".into(), auth(&basic("nobody:test"))),
        (
            "/plain/x".into(),
            auth(&basic("test:test").replacen("Basic", "basic", 1)),
        ),
        ("/plain/x".into(), auth("Basic !!!")),
        ("/plain/x".into(), auth("Basic dGVzdA==")),
        ("/plain/x".into(), auth("Bearer abc")),
        ("/plain/x".into(), auth("Digest username=")),
        ("/options/y".into(), vec![]),
        (
            "/options/y".into(),
            vec![
                ("Authorization", basic("sha:test")),
                ("X-WebAuth-User", "forged".into()),
            ],
        ),
        ("/options/y".into(), auth(&basic("sha:nope"))),
        ("/filed".into(), auth(&basic("apr:test"))),
        ("/filed".into(), auth(&basic("sha:other"))),
        ("/filed".into(), auth(&basic("sha:test"))),
        ("/missing".into(), auth(&basic("sha:test"))),
    ];
    let probes: Vec<_> = probes
        .iter()
        .map(|(target, headers)| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            get(target, "x", &headers)
        })
        .collect();
    pair.assert_same(&probes);
    let forwarded = pair.exchange(pair.traefik(), &probes[13]).upstream;
    let forwarded = forwarded.expect("the good credentials are forwarded");
    assert!(
        forwarded.contains("\nX-WebAuth-User: sha\n") && !forwarded.contains("Authorization"),
        "{forwarded}"
    );
}

/// `nonce="..."` and `opaque="..."` blanked in the answer's challenge.
fn mask_nonces(exchange: &mut Exchange) {
    for line in &mut exchange.headers {
        if line.to_ascii_lowercase().starts_with("www-authenticate:") {
            *line = mask_param(&mask_param(line, "nonce"), "opaque");
        }
    }
}

fn mask_param(line: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let Some(start) = line.find(&marker).map(|i| i + marker.len()) else {
        return line.to_string();
    };
    let end = line[start..].find('"').map_or(line.len(), |i| start + i);
    format!("{}*{}", &line[..start], &line[end..])
}

fn param(exchange: &Exchange, name: &str) -> String {
    let line = exchange
        .headers
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .unwrap_or_else(|| panic!("no challenge in {exchange:#?}"));
    let marker = format!("{name}=\"");
    let start = line.find(&marker).expect("the parameter") + marker.len();
    let end = start + line[start..].find('"').unwrap();
    line[start..end].to_string()
}

fn hex_md5(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Authorization a client computes from a challenge, for password `password`.
fn digest_response(challenge: &Exchange, uri: &str, nc: &str, password: &str) -> String {
    let (nonce, opaque) = (param(challenge, "nonce"), param(challenge, "opaque"));
    let ha1 = hex_md5(&format!("test:traefik:{password}"));
    let ha2 = hex_md5(&format!("GET:{uri}"));
    let response = hex_md5(&format!("{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"));
    format!(
        "Digest username=\"test\", realm=\"traefik\", nonce=\"{nonce}\", uri=\"{uri}\", \
         qop=auth, nc={nc}, cnonce=\"0a4f113b\", response=\"{response}\", opaque=\"{opaque}\""
    )
}

#[test]
#[ignore = "needs a real Traefik (scripts/install-traefik builds it with Go); scripts/test runs it with --ignored"]
fn digest_auth_challenges_and_accepts_like_traefik() {
    let (pair, _dir) = start();
    pair.assert_same_masked(
        &[
            get("/digest/a", "x", &[]),
            get("/digest/a", "x", &[("Authorization", "Digest username")]),
            get("/digest/a", "x", &[("Authorization", "Digest username=")]),
            get("/digest/a", "x", &[("Authorization", &basic("test:test"))]),
        ],
        mask_nonces,
    );
    // Each proxy answers the challenge it issued: the same steps must give the same answers.
    let run = |addr: SocketAddr| -> Vec<Exchange> {
        let challenge = pair.exchange(addr, &get("/digest/a", "x", &[]));
        let steps = [
            ("/digest/a", "/digest/a", "00000001", "test"),
            ("/digest/a", "/digest/a", "00000001", "test"),
            ("/digest/a", "/digest/a", "00000003", "test"),
            ("/digest/a", "/digest/a", "00000002", "test"),
            ("/digest/a/b", "/digest/a", "00000004", "test"),
            ("/digest/b", "/digest/a", "00000005", "test"),
            ("/digest/a", "/digest/a", "00000006", "wrong"),
        ];
        steps
            .iter()
            .map(|(target, uri, nc, password)| {
                let authorization = digest_response(&challenge, uri, nc, password);
                let mut exchange = pair.exchange(
                    addr,
                    &get(target, "x", &[("Authorization", &authorization)]),
                );
                mask_nonces(&mut exchange);
                exchange
            })
            .collect()
    };
    let expected = run(pair.traefik());
    let actual = run(pair.gateway());
    assert_eq!(expected, actual);
    assert!(
        expected[0].upstream.is_some() && expected[1].upstream.is_none(),
        "the first use passes, the same count again does not: {expected:#?}"
    );
}
