//! `digestAuth`: RFC 2617 Digest (MD5, `qop=auth`), htdigest users, nonces and their counts.

use super::htpasswd::constant_time_eq;
use super::{challenge, load_lines, unauthorized, user_value, Forwarding, DEFAULT_REALM};
use crate::middleware::go_url::GoPath;
use crate::middleware::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::proxy::responses::Answer;
use crate::runtime::registry::fingerprint;
use base64::Engine;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::future::{ready, Future};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Nonces tracked before the oldest are dropped (go-http-auth's default size, tolerance).
const CLIENT_CACHE_SIZE: usize = 1000;
const CLIENT_CACHE_TOLERANCE: usize = 100;

/// A compiled `digestAuth`: htdigest users (`user:realm:HA1`), nonces issued by the
/// middleware and their counts tracked, as Traefik's go-http-auth does.
pub struct DigestAuth {
    /// HA1 and the name as a header value, by user, for this middleware's realm.
    users: HashMap<String, (String, HeaderValue)>,
    realm: String,
    forwarding: Forwarding,
    /// The header Traefik reads again on a failure (`headerField`, else `Authorization`).
    failure_header: HeaderName,
    state: Arc<Nonces>,
}

/// What the middleware issued: its opaque and the nonces with their last count; kept across
/// reloads that leave the middleware's configuration as it was.
pub struct Nonces {
    opaque: String,
    clients: Mutex<HashMap<String, Client>>,
}

struct Client {
    nc: u64,
    last_seen: Instant,
}

/// 12 random bytes in base64, as go-http-auth makes nonces and opaques.
fn random_key() -> String {
    let mut key = [0u8; 12];
    if getrandom::fill(&mut key).is_err() {
        // Not secret, only unique: fall back to the std hasher's random seed.
        let state = std::hash::RandomState::new();
        let value = std::hash::BuildHasher::hash_one(&state, Instant::now());
        key[..8].copy_from_slice(&value.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Lowercase hex MD5.
fn h(data: &str) -> String {
    let digest = Md5::digest(data.as_bytes());
    let mut out = String::with_capacity(32);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl FromConfig<control::dynamic::DigestAuth> for DigestAuth {
    fn from_config(
        config: &control::dynamic::DigestAuth,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let lines = load_lines(config.users_file.as_deref(), &config.users)?;
        let realm = config
            .realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_REALM)
            .to_string();
        let mut users = HashMap::new();
        for line in &lines {
            let parts: Vec<&str> = line.split(':').collect();
            let [name, user_realm, ha1] = parts[..] else {
                return Err(format!("error parsing DigestUser: {line}"));
            };
            // Only this realm's users can ever match; a later line wins.
            if user_realm == realm && !name.is_empty() {
                users.insert(name.to_string(), (ha1.to_string(), user_value(name)?));
            }
        }
        challenge(format!("Digest realm=\"{realm}\""))?;
        let forwarding = Forwarding::new(config.header_field.as_deref(), config.remove_header)?;
        let failure_header = match &forwarding.header_field {
            Some((name, _)) => name.clone(),
            None => AUTHORIZATION,
        };
        let config_text = serde_json::to_string(config).unwrap_or_default();
        let state = context.env.states().get_or_make(
            "digestAuth",
            context.name,
            fingerprint(&(config_text, &lines)),
            || Nonces {
                opaque: random_key(),
                clients: Mutex::new(HashMap::new()),
            },
        );
        Ok(Self {
            users,
            realm,
            forwarding,
            failure_header,
            state,
        })
    }
}

/// Why a header cannot be used.
enum Failure {
    /// Ask again.
    Denied,
    /// Ask again, saying the nonce is stale (a count went backwards).
    Stale,
    /// go-http-auth panics on `key=` or `key="` (Traefik's recovery answers 500).
    Panic,
}

/// go-http-auth's `ParseList`: comma-separated items, commas inside quotes kept.
fn parse_list(value: &str) -> Vec<String> {
    let mut list = Vec::new();
    let (mut escape, mut quote) = (false, false);
    let mut item = String::new();
    for c in value.chars() {
        if escape {
            item.push(c);
            escape = false;
        } else if quote {
            if c == '\\' {
                escape = true;
            } else {
                if c == '"' {
                    quote = false;
                }
                item.push(c);
            }
        } else if c == ',' {
            list.push(item.trim().to_string());
            item.clear();
        } else {
            if c == '"' {
                quote = true;
            }
            item.push(c);
        }
    }
    if !item.is_empty() {
        list.push(item.trim().to_string());
    }
    list
}

/// The parameters of a `Digest ...` header (`None` for any other), go-http-auth's
/// `DigestAuthParams`.
fn digest_params(header: &[u8]) -> Result<Option<HashMap<String, String>>, Failure> {
    let Ok(header) = std::str::from_utf8(header) else {
        return Ok(None);
    };
    let Some(("Digest", rest)) = header.split_once(' ') else {
        return Ok(None);
    };
    let mut pairs = HashMap::new();
    for pair in parse_list(rest.trim()) {
        match pair.split_once('=') {
            None => {
                pairs.insert(pair, String::new());
            }
            Some((key, value)) => {
                if value.is_empty() || value == "\"" {
                    return Err(Failure::Panic);
                }
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                pairs.insert(key.to_string(), value.to_string());
            }
        }
    }
    Ok(Some(pairs))
}

/// Go's `strconv.ParseUint(s, 16, 64)`.
fn parse_hex(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

impl DigestAuth {
    /// The user the request's `Authorization` proves.
    fn check<R: RequestEdit>(&self, request: &R) -> Result<&HeaderValue, Failure> {
        let header = request.headers().get(AUTHORIZATION);
        let Some(mut auth) = digest_params(header.map_or(&b""[..], |h| h.as_bytes()))? else {
            return Err(Failure::Denied);
        };
        let param = |auth: &HashMap<String, String>, key: &str| -> String {
            auth.get(key).cloned().unwrap_or_default()
        };
        auth.entry("algorithm".to_string())
            .or_insert_with(|| "MD5".to_string());
        if param(&auth, "opaque") != self.state.opaque
            || param(&auth, "algorithm") != "MD5"
            || param(&auth, "qop") != "auth"
        {
            return Err(Failure::Denied);
        }
        let uri = param(&auth, "uri");
        let target = request.uri();
        let request_uri = if target.scheme().is_some() {
            target.to_string()
        } else {
            target
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        };
        if request_uri != uri {
            let Ok(claimed) = uri.parse::<http::Uri>() else {
                return Err(Failure::Denied);
            };
            let claimed = GoPath::of(&claimed).path;
            let path = GoPath::of(target).path;
            if claimed.len() > path.len() || !path.starts_with(&claimed) {
                return Err(Failure::Denied);
            }
        }
        // An unknown user is refused (go-http-auth would take an empty HA1 for it).
        let username = param(&auth, "username");
        let Some((ha1, name)) = self.users.get(&username) else {
            return Err(Failure::Denied);
        };
        let (nonce, nc, cnonce, qop) = (
            param(&auth, "nonce"),
            param(&auth, "nc"),
            param(&auth, "cnonce"),
            param(&auth, "qop"),
        );
        let ha2 = h(&format!("{}:{uri}", request.method()));
        let kd = h(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"));
        if !constant_time_eq(kd.as_bytes(), param(&auth, "response").as_bytes()) {
            return Err(Failure::Denied);
        }
        let nc = parse_hex(&nc).ok_or(Failure::Denied)?;
        let mut clients = self.state.clients.lock().unwrap_or_else(|e| e.into_inner());
        let client = clients.get_mut(&nonce).ok_or(Failure::Denied)?;
        if client.nc != 0 {
            if nc == client.nc {
                return Err(Failure::Denied);
            }
            if nc < client.nc {
                return Err(Failure::Stale);
            }
        }
        client.nc = nc;
        client.last_seen = Instant::now();
        Ok(name)
    }

    /// A 401 with a new nonce.
    fn challenge(&self, stale: bool) -> Answer {
        let nonce = random_key();
        {
            let mut clients = self.state.clients.lock().unwrap_or_else(|e| e.into_inner());
            if clients.len() > CLIENT_CACHE_SIZE + CLIENT_CACHE_TOLERANCE {
                let mut seen: Vec<(Instant, String)> = clients
                    .iter()
                    .map(|(nonce, client)| (client.last_seen, nonce.clone()))
                    .collect();
                seen.sort_unstable();
                for (_, nonce) in seen.into_iter().take(CLIENT_CACHE_TOLERANCE * 2) {
                    clients.remove(&nonce);
                }
            }
            clients.insert(
                nonce.clone(),
                Client {
                    nc: 0,
                    last_seen: Instant::now(),
                },
            );
        }
        let stale = if stale { "stale=\"true\", " } else { "" };
        let value = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{}\", {stale}algorithm=\"MD5\", qop=\"auth\"",
            self.realm, self.state.opaque
        );
        // The realm was checked when built; nonce and opaque are base64.
        let value = HeaderValue::try_from(value).expect("a valid challenge");
        unauthorized(value)
    }

    fn flow<R: RequestEdit>(&self, request: &mut R) -> Flow {
        let failure = match self.check(request) {
            Ok(name) => {
                let name = name.clone();
                self.forwarding.apply(request, &name);
                return Flow::Continue;
            }
            Err(failure) => failure,
        };
        // Traefik parses the user header again to log the user name, with the same panic.
        let again = request
            .headers()
            .get(&self.failure_header)
            .map_or(&b""[..], |h| h.as_bytes());
        if matches!(failure, Failure::Panic) || matches!(digest_params(again), Err(Failure::Panic))
        {
            return Flow::Answer(Answer::go_error(500, b"Internal Server Error\n"));
        }
        tracing::debug!("Digest authentication failed");
        Flow::Answer(self.challenge(matches!(failure, Failure::Stale)))
    }
}

impl HttpMiddleware for DigestAuth {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        ready(self.flow(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build_in, context, request, run_request, TestEnv};

    // `htdigest` for user test, realm traefik, password test.
    const USER: &str = "test:traefik:a2688e031edb4be6a3797f3882655c05";

    fn challenge_params(answer: &Answer) -> HashMap<String, String> {
        let value = answer.header_map()["www-authenticate"].to_str().unwrap();
        digest_params(value.as_bytes()).ok().flatten().unwrap()
    }

    fn authorization(
        params: &HashMap<String, String>,
        uri: &str,
        nc: &str,
        password: &str,
    ) -> String {
        let ha1 = h(&format!("test:traefik:{password}"));
        let ha2 = h(&format!("GET:{uri}"));
        let nonce = &params["nonce"];
        let response = h(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"));
        format!(
            "Digest username=\"test\", realm=\"traefik\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm=MD5, response=\"{response}\", opaque=\"{}\", qop=auth, nc={nc}, cnonce=\"abc\"",
            params["opaque"]
        )
    }

    fn send(
        middleware: &crate::middleware::Middleware,
        target: &str,
        auth: Option<&str>,
    ) -> Result<http::request::Parts, Box<Answer>> {
        let mut request = request(target);
        if let Some(auth) = auth {
            request.headers.insert(AUTHORIZATION, auth.parse().unwrap());
        }
        match run_request(middleware, &mut request, &mut context()) {
            Flow::Continue => Ok(request),
            Flow::Answer(answer) => Err(Box::new(answer)),
        }
    }

    #[test]
    fn the_challenge_has_traefiks_shape() {
        let middleware = build_in(
            &mut TestEnv::default(),
            &format!(r#"{{"digestAuth": {{"users": ["{USER}"]}}}}"#),
        )
        .unwrap();
        let answer = send(&middleware, "/", None).unwrap_err();
        assert_eq!(answer.status, 401);
        assert_eq!(&answer.body()[..], b"401 Unauthorized\n");
        assert_eq!(answer.header_map()["content-type"], "text/plain");
        let value = answer.header_map()["www-authenticate"].to_str().unwrap();
        assert!(
            value.starts_with("Digest realm=\"traefik\", nonce=\""),
            "{value}"
        );
        assert!(
            value.ends_with("\", algorithm=\"MD5\", qop=\"auth\""),
            "{value}"
        );
        let params = challenge_params(&answer);
        assert_eq!(params["nonce"].len(), 16);
        assert_eq!(params["opaque"].len(), 16);
    }

    #[test]
    fn a_good_response_passes_once_per_count_and_a_lower_count_is_stale() {
        let middleware = build_in(
            &mut TestEnv::default(),
            &format!(r#"{{"digestAuth": {{"users": ["{USER}"], "headerField": "X-User", "removeHeader": true}}}}"#),
        )
        .unwrap();
        let params = challenge_params(&send(&middleware, "/a", None).unwrap_err());
        let first = authorization(&params, "/a", "00000002", "test");
        let forwarded = send(&middleware, "/a", Some(&first)).unwrap();
        assert_eq!(forwarded.headers["x-user"], "test");
        assert!(forwarded.headers.get(AUTHORIZATION).is_none());
        // The same count again is refused; a lower one is stale.
        assert_eq!(
            send(&middleware, "/a", Some(&first)).unwrap_err().status,
            401
        );
        let lower = authorization(&params, "/a", "00000001", "test");
        let stale = send(&middleware, "/a", Some(&lower)).unwrap_err();
        assert!(stale.header_map()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("stale=\"true\", algorithm"));
        // A higher one passes, and a prefix of the path is accepted as the uri.
        assert!(send(
            &middleware,
            "/a",
            Some(&authorization(&params, "/a", "00000003", "test"))
        )
        .is_ok());
        assert!(send(
            &middleware,
            "/a/b",
            Some(&authorization(&params, "/a", "00000004", "test"))
        )
        .is_ok());
        assert!(send(
            &middleware,
            "/b",
            Some(&authorization(&params, "/a", "00000005", "test"))
        )
        .is_err());
    }

    #[test]
    fn wrong_password_unknown_nonce_and_unknown_user_are_refused() {
        let middleware = build_in(
            &mut TestEnv::default(),
            &format!(r#"{{"digestAuth": {{"users": ["{USER}"]}}}}"#),
        )
        .unwrap();
        let mut params = challenge_params(&send(&middleware, "/", None).unwrap_err());
        assert!(send(
            &middleware,
            "/",
            Some(&authorization(&params, "/", "1", "nope"))
        )
        .is_err());
        let unknown_user = authorization(&params, "/", "1", "test")
            .replace("username=\"test\"", "username=\"eve\"");
        assert!(send(&middleware, "/", Some(&unknown_user)).is_err());
        params.insert("nonce".into(), "AAAAAAAAAAAAAAAA".into());
        assert!(send(
            &middleware,
            "/",
            Some(&authorization(&params, "/", "1", "test"))
        )
        .is_err());
    }

    #[test]
    fn an_empty_parameter_is_traefiks_500() {
        let middleware = build_in(
            &mut TestEnv::default(),
            &format!(r#"{{"digestAuth": {{"users": ["{USER}"]}}}}"#),
        )
        .unwrap();
        let answer = send(&middleware, "/", Some("Digest username=")).unwrap_err();
        assert_eq!(answer.status, 500);
        assert_eq!(&answer.body()[..], b"Internal Server Error\n");
        assert_eq!(
            send(&middleware, "/", Some("Digest username"))
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn nonces_survive_an_unchanged_reload_only() {
        let json = format!(r#"{{"digestAuth": {{"users": ["{USER}"]}}}}"#);
        let mut env = TestEnv::default();
        let first = build_in(&mut env, &json).unwrap();
        let params = challenge_params(&send(&first, "/", None).unwrap_err());
        env.states.forget_unused();
        let again = build_in(&mut env, &json).unwrap();
        assert!(send(&again, "/", Some(&authorization(&params, "/", "1", "test"))).is_ok());
        env.states.forget_unused();
        let changed = build_in(
            &mut env,
            &format!(r#"{{"digestAuth": {{"users": ["{USER}"], "removeHeader": true}}}}"#),
        )
        .unwrap();
        assert!(send(
            &changed,
            "/",
            Some(&authorization(&params, "/", "2", "test"))
        )
        .is_err());
    }

    #[test]
    fn bad_user_lines_are_traefiks_error() {
        assert_eq!(
            build_in(
                &mut TestEnv::default(),
                r#"{"digestAuth": {"users": ["test:hash"]}}"#
            )
            .err()
            .unwrap(),
            "error parsing DigestUser: test:hash"
        );
    }
}
