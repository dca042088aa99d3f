//! `basicAuth`: htpasswd users checked off the request threads, then from a credential cache.

use super::cache::{CredentialCache, Tag};
use super::htpasswd::Secret;
use super::{challenge, load_lines, unauthorized, user_value, Forwarding, DEFAULT_REALM};
use crate::middleware::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, RequestEdit};
use crate::runtime::registry::fingerprint;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use http::header::{HeaderValue, AUTHORIZATION};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Credentials a middleware remembers at most.
const CACHE_CAPACITY: usize = 1024;
/// How long a verified credential is remembered.
const CACHE_TTL: Duration = Duration::from_secs(120);

/// Go's `base64.StdEncoding`: padding required, stray bits in the last character accepted.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// A compiled `basicAuth`: a slow hash is verified off the request threads once per
/// credential, then remembered by the [`CredentialCache`]; Traefik's 401 otherwise.
pub struct BasicAuth {
    users: Arc<Users>,
    challenge: HeaderValue,
    forwarding: Forwarding,
    cache: Arc<CredentialCache>,
}

/// The users, by index (the cache refers to them so).
struct Users {
    by_name: HashMap<String, u32>,
    secrets: Vec<Secret>,
    /// Each user's name as the `headerField` value.
    names: Vec<HeaderValue>,
}

impl FromConfig<control::dynamic::BasicAuth> for BasicAuth {
    fn from_config(
        config: &control::dynamic::BasicAuth,
        context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        let lines = load_lines(config.users_file.as_deref(), &config.users)?;
        let mut users = Users {
            by_name: HashMap::new(),
            secrets: Vec::new(),
            names: Vec::new(),
        };
        for line in &lines {
            let mut parts = line.split(':');
            let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("error parsing BasicUser: {line}"));
            };
            let secret = Secret::parse(hash);
            // A later line for the same user wins (the file's lines come first).
            match users.by_name.get(name) {
                Some(&index) => users.secrets[index as usize] = secret,
                None => {
                    users
                        .by_name
                        .insert(name.to_string(), users.secrets.len() as u32);
                    users.secrets.push(secret);
                    users.names.push(user_value(name)?);
                }
            }
        }
        if users.secrets.is_empty() {
            return Err("basicAuth has no users: users and usersFile give none".to_string());
        }
        let realm = config.realm.as_deref().filter(|r| !r.is_empty());
        let challenge = challenge(format!(
            "Basic realm=\"{}\"",
            realm.unwrap_or(DEFAULT_REALM)
        ))?;
        let forwarding = Forwarding::new(config.header_field.as_deref(), config.remove_header)?;
        // The file's lines count: a changed file is a changed configuration.
        let config_text = serde_json::to_string(config).unwrap_or_default();
        let cache = context.env.states().get_or_make(
            "basicAuth",
            context.name,
            fingerprint(&(config_text, &lines)),
            || CredentialCache::new(CACHE_CAPACITY, CACHE_TTL),
        );
        Ok(Self {
            users: Arc::new(users),
            challenge,
            forwarding,
            cache,
        })
    }
}

/// The verifications running at once, across middlewares: as many as there are cores, so
/// that a flood of slow checks queues instead of taking every blocking thread.
fn verifiers() -> &'static Semaphore {
    static VERIFIERS: OnceLock<Semaphore> = OnceLock::new();
    VERIFIERS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Go's `Request.BasicAuth`: `Basic ` (any case), then base64 of `user:password`.
fn parse_basic(header: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const PREFIX: &[u8] = b"Basic ";
    if header.len() < PREFIX.len() || !header[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let mut user = GO_STD_BASE64.decode(&header[PREFIX.len()..]).ok()?;
    let colon = user.iter().position(|&b| b == b':')?;
    let password = user.split_off(colon + 1);
    user.truncate(colon);
    Some((user, password))
}

impl BasicAuth {
    /// The user the `Authorization` header proves, if any: from the cache, else verified.
    fn check(&self, header: &[u8]) -> Check {
        let tag = self.cache.tag(header);
        if let Some(user) = self.cache.lookup(tag, std::time::Instant::now()) {
            return Check::Known(Some(user));
        }
        let Some((user, password)) = parse_basic(header) else {
            return Check::Known(None);
        };
        let user = std::str::from_utf8(&user)
            .ok()
            .and_then(|name| self.users.by_name.get(name).copied());
        Check::Verify {
            tag,
            user,
            password,
        }
    }

    /// Verifies `password` for `user` (for an unknown user, against the first user's secret,
    /// so that the answer takes as long), at most once at a time per header.
    async fn verify(&self, tag: Tag, user: Option<u32>, password: Vec<u8>) -> Option<u32> {
        let users = self.users.clone();
        self.cache
            .get_or_verify(tag, || async move {
                let index = user.unwrap_or(0);
                let matched = if users.secrets[index as usize].is_expensive() {
                    let _permit = verifiers().acquire().await.ok()?;
                    tokio::task::spawn_blocking(move || {
                        users.secrets[index as usize].verify(&password)
                    })
                    .await
                    .unwrap_or(false)
                } else {
                    users.secrets[index as usize].verify(&password)
                };
                (matched && user.is_some()).then_some(index)
            })
            .await
    }
}

/// What the header alone tells.
enum Check {
    /// The user it proves (cached), or that it proves none (absent or malformed).
    Known(Option<u32>),
    /// A password to verify.
    Verify {
        tag: Tag,
        user: Option<u32>,
        password: Vec<u8>,
    },
}

impl HttpMiddleware for BasicAuth {
    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        _context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let check = match request.headers().get(AUTHORIZATION) {
            Some(header) => self.check(header.as_bytes()),
            None => Check::Known(None),
        };
        async move {
            let user = match check {
                Check::Known(user) => user,
                Check::Verify {
                    tag,
                    user,
                    password,
                } => self.verify(tag, user, password).await,
            };
            let Some(user) = user else {
                tracing::debug!("Authentication failed");
                return Flow::Answer(unauthorized(self.challenge.clone()));
            };
            self.forwarding
                .apply(request, &self.users.names[user as usize]);
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests;
