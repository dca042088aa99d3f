//! Unit tests of basicAuth: schemes, answers, forwarding, user files, errors, the cache.

use super::*;
use crate::middleware::testing::{build, build_in, context, request, run_request, TestEnv};
use crate::middleware::Middleware;
use crate::proxy::responses::Answer;

// `htpasswd -nbB -C 4`, `-nbm`, `-nbs` (apache2-utils): every password is the user's own
// name, but bob's is "secret".
const BCRYPT: &str = "test:$2y$05$cswz2Iu0LUBR1WNyeRCtpuYy2oVr/9YxRQfMQkDaM/qxB1XmWY9hC";
const BOB: &str = "bob:$2y$04$Oz.4tuhlBgbUKarPIxYdluae1VF62ajErZdEH0TulWkun0tDIawh2";
const APR1: &str = "test:$apr1$zWDQC326$VMEh4obEk.NC7t0oWqkkw0";
const SHA: &str = "test:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

fn config(users: &[&str], extra: &str) -> String {
    let users: Vec<String> = users.iter().map(|u| format!("{u:?}")).collect();
    format!(
        r#"{{"basicAuth": {{"users": [{}]{extra}}}}}"#,
        users.join(",")
    )
}

fn send(
    middleware: &Middleware,
    headers: &[(&str, &str)],
) -> Result<http::request::Parts, Box<Answer>> {
    let mut request = request("/x");
    for (name, value) in headers {
        request.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match run_request(middleware, &mut request, &mut context()) {
        Flow::Continue => Ok(request),
        Flow::Answer(answer) => Err(Box::new(answer)),
    }
}

fn cache_of(middleware: &Middleware) -> &Arc<CredentialCache> {
    match middleware {
        Middleware::BasicAuth(auth) => &auth.cache,
        _ => panic!("not a basicAuth"),
    }
}

use http::header::HeaderName;

#[test]
fn each_scheme_lets_the_right_password_in() {
    for user in [BCRYPT, APR1, SHA] {
        let middleware = build(&config(&[user], "")).unwrap();
        let forwarded = send(&middleware, &[("authorization", &basic("test:test"))]).unwrap();
        assert_eq!(
            forwarded.headers["authorization"],
            basic("test:test").as_str(),
            "kept by default"
        );
        assert!(
            send(&middleware, &[("authorization", &basic("test:nope"))]).is_err(),
            "{user}"
        );
        assert!(
            send(&middleware, &[("authorization", &basic("other:test"))]).is_err(),
            "{user}"
        );
    }
}

#[test]
fn the_401_is_traefiks() {
    let middleware = build(&config(&[SHA], "")).unwrap();
    let answer = send(&middleware, &[]).unwrap_err();
    assert_eq!(answer.status, 401);
    assert_eq!(&answer.body()[..], b"401 Unauthorized\n");
    let headers: Vec<(String, String)> = answer
        .header_map()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type".to_string(), "text/plain".to_string()),
            (
                "www-authenticate".to_string(),
                "Basic realm=\"traefik\"".to_string()
            ),
        ]
    );
    let named = build(&config(&[SHA], r#", "realm": "my realm""#)).unwrap();
    assert_eq!(
        send(&named, &[]).unwrap_err().header_map()["www-authenticate"],
        "Basic realm=\"my realm\""
    );
}

#[test]
fn malformed_headers_are_refused_and_the_scheme_is_any_case() {
    let middleware = build(&config(&[SHA], "")).unwrap();
    for bad in [
        "Basic",
        "Basic !!!",
        "Basic dGVzdDp0ZXN0=",
        "Basic dGVzdDp0ZXN",
        "Bearer dGVzdDp0ZXN0",
        "Basic  dGVzdDp0ZXN0",
        &basic("testtest"),
        "Digest username=",
    ] {
        assert_eq!(
            send(&middleware, &[("authorization", bad)])
                .unwrap_err()
                .status,
            401,
            "{bad}"
        );
    }
    let lower = basic("test:test").replacen("Basic", "bAsIc", 1);
    assert!(send(&middleware, &[("authorization", &lower)]).is_ok());
    // Only the first Authorization counts.
    assert!(send(
        &middleware,
        &[
            ("authorization", "Basic x"),
            ("authorization", &basic("test:test"))
        ]
    )
    .is_err());
    assert_eq!(
        parse_basic(b"Basic dGVzdDp0ZXN0PQ=="),
        Some((b"test".to_vec(), b"test=".to_vec()))
    );
    assert_eq!(parse_basic(b"Basic OmE="), Some((vec![], b"a".to_vec())));
}

#[test]
fn remove_header_and_header_field() {
    let middleware = build(&config(
        &[SHA],
        r#", "removeHeader": true, "headerField": "X-WebAuth-User""#,
    ))
    .unwrap();
    let forwarded = send(
        &middleware,
        &[
            ("authorization", &basic("test:test")),
            ("x-webauth-user", "forged"),
            ("x-webauth-user", "again"),
        ],
    )
    .unwrap();
    assert!(forwarded.headers.get("authorization").is_none());
    let values: Vec<_> = forwarded.headers.get_all("x-webauth-user").iter().collect();
    assert_eq!(values, ["test"]);

    // On Pingora's head the name goes out as configured.
    let mut head = pingora::http::RequestHeader::build("GET", b"/", None).unwrap();
    head.insert_header("X-Webauth-User", "forged").unwrap();
    head.insert_header("Authorization", basic("test:test"))
        .unwrap();
    let flow = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(middleware.request(&mut head, &mut context()));
    assert!(matches!(flow, Flow::Continue));
    let mut wire = Vec::new();
    head.header_to_h1_wire(&mut wire);
    assert_eq!(String::from_utf8(wire).unwrap(), "X-WebAuth-User: test\r\n");
}

#[test]
fn users_from_a_file_merge_with_inline_ones_and_inline_wins() {
    let dir = std::env::temp_dir().join(format!("basic-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users");
    // In the file, test's password is "test" (apr1); inline, it is "test" only under {SHA}
    // of another word, so the file's line must lose.
    std::fs::write(&path, format!("# users\n{APR1}\n\n{BOB}\n")).unwrap();
    let inline_test = "test:{SHA}0JQeaNqPOBUf+Gph/Fn3xc+fyqI="; // sha1("other")
    let middleware = build(&config(
        &[inline_test],
        &format!(r#", "usersFile": {:?}"#, path.to_str().unwrap()),
    ))
    .unwrap();
    assert!(send(&middleware, &[("authorization", &basic("bob:secret"))]).is_ok());
    assert!(send(&middleware, &[("authorization", &basic("test:other"))]).is_ok());
    assert!(send(&middleware, &[("authorization", &basic("test:test"))]).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn configuration_errors() {
    assert_eq!(
        build(r#"{"basicAuth": {"usersFile": "/nonexistent/users"}}"#)
            .err()
            .unwrap(),
        "open /nonexistent/users: no such file or directory"
    );
    assert_eq!(
        build(&config(&["a:b:c"], "")).err().unwrap(),
        "error parsing BasicUser: a:b:c"
    );
    assert_eq!(
        build(&config(&["plain"], "")).err().unwrap(),
        "error parsing BasicUser: plain"
    );
    assert!(build(r#"{"basicAuth": {"realm": "x"}}"#)
        .err()
        .unwrap()
        .contains("no users"));
    assert!(build(&config(&[SHA], r#", "headerField": "bad name""#)).is_err());
}

#[test]
fn a_verified_credential_is_cached_and_a_wrong_one_is_not() {
    let middleware = build(&config(&[BCRYPT, BOB], r#", "headerField": "X-User""#)).unwrap();
    let cache = cache_of(&middleware);
    let good = basic("test:test");
    let bad = basic("test:wrong");
    assert!(send(&middleware, &[("authorization", &bad)]).is_err());
    assert_eq!(
        cache.lookup(cache.tag(bad.as_bytes()), std::time::Instant::now()),
        None
    );
    assert!(send(&middleware, &[("authorization", &good)]).is_ok());
    let tag = cache.tag(good.as_bytes());
    assert_eq!(cache.lookup(tag, std::time::Instant::now()), Some(0));
    // A hit takes no verification: pretend the cache proved bob with test's header.
    cache.insert(tag, 1, std::time::Instant::now());
    let forwarded = send(&middleware, &[("authorization", &good)]).unwrap();
    assert_eq!(
        forwarded.headers["x-user"], "bob",
        "answered from the cache"
    );
    assert_eq!(
        cache.lookup(tag, std::time::Instant::now() + CACHE_TTL),
        None,
        "expired"
    );
}

#[test]
fn the_cache_is_kept_across_an_unchanged_reload_only() {
    let mut env = TestEnv::default();
    let json = config(&[SHA], "");
    let first = build_in(&mut env, &json).unwrap();
    env.states.forget_unused();
    let same = build_in(&mut env, &json).unwrap();
    assert!(Arc::ptr_eq(cache_of(&first), cache_of(&same)));
    env.states.forget_unused();
    let changed = build_in(&mut env, &config(&[APR1], "")).unwrap();
    assert!(!Arc::ptr_eq(cache_of(&first), cache_of(&changed)));
}

#[test]
fn a_changed_users_file_is_a_changed_configuration() {
    let dir = std::env::temp_dir().join(format!("basic-auth-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users");
    let json = format!(
        r#"{{"basicAuth": {{"usersFile": {:?}}}}}"#,
        path.to_str().unwrap()
    );
    let mut env = TestEnv::default();
    std::fs::write(&path, format!("{SHA}\n")).unwrap();
    let first = build_in(&mut env, &json).unwrap();
    env.states.forget_unused();
    std::fs::write(&path, format!("{APR1}\n")).unwrap();
    let second = build_in(&mut env, &json).unwrap();
    assert!(!Arc::ptr_eq(cache_of(&first), cache_of(&second)));
    assert!(send(&second, &[("authorization", &basic("test:test"))]).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_slow_hash_is_verified_off_the_request_thread() {
    let middleware = build(&config(&[BOB], "")).unwrap();
    let mut request = request("/x");
    request
        .headers
        .insert("authorization", basic("bob:secret").parse().unwrap());
    let done = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    let (flow, ticks) = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let mut context = context();
            let check = async {
                let flow = middleware.request(&mut request, &mut context).await;
                done.store(true, std::sync::atomic::Ordering::Release);
                flow
            };
            // The one request thread keeps running other tasks while bcrypt runs elsewhere.
            let ticker = async {
                let mut ticks = 0u64;
                while !done.load(std::sync::atomic::Ordering::Acquire)
                    && started.elapsed() < std::time::Duration::from_secs(20)
                {
                    ticks += 1;
                    tokio::task::yield_now().await;
                }
                ticks
            };
            tokio::join!(check, ticker)
        });
    assert!(matches!(flow, Flow::Continue));
    assert!(ticks > 0, "the request thread was blocked");
}
