//! The Redis limiter: the same token bucket as the in-memory one, evaluated by a Lua script
//! on the server so that every gateway (and Traefik) sharing the Redis shares the limit. The
//! bucket is the hash `rate:<middleware>:<source>` with fields `last` (µs) and `tokens`, as
//! Traefik keeps it. An unreachable Redis is logged once when it goes and once when it is back.

use super::resp::{ConnectOptions, Connection, Value};
use super::Limits;
use control::consul::tls::NoVerification;
use control::dynamic::{ClientTls, Redis};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bucket update, atomically on the server. ARGV: tokens per microsecond, burst, TTL in
/// seconds, now in microseconds, the longest wait accepted in microseconds. Returns the wait
/// in microseconds; a wait beyond the longest accepted gives its token back.
const SCRIPT: &str = r#"
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, now, longest = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local kept = redis.call('HMGET', KEYS[1], 'last', 'tokens')
local last, tokens = tonumber(kept[1]), tonumber(kept[2])
if last == nil or tokens == nil then
  last, tokens = 0, 0
end
if now < last then
  last = now
end
tokens = math.min(tokens + rate * (now - last), burst) - 1
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
  if wait > longest then
    tokens = math.min(tokens + 1, burst)
  end
end
redis.call('HSET', KEYS[1], 'last', now, 'tokens', tokens)
redis.call('EXPIRE', KEYS[1], ttl)
return tostring(wait)
"#;

/// A pool of connections to one server.
struct Pool {
    address: String,
    idle: Mutex<Vec<Connection>>,
    /// Connections that may be open at once (poolSize, capped by maxActiveConns).
    permits: Arc<Semaphore>,
    /// How long a request waits for a free connection (go-redis: read timeout + 1 s).
    wait: Duration,
}

/// A connection taken from a pool, with its slot.
struct Taken {
    connection: Connection,
    /// Whether it was kept idle (the server may have closed it meanwhile).
    reused: bool,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    async fn take(&self, options: &ConnectOptions) -> io::Result<Taken> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection pool timeout"))?
            .map_err(|_| io::Error::other("connection pool closed"))?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (connection, reused) = match idle {
            Some(connection) => (connection, true),
            None => (Connection::connect(&self.address, options).await?, false),
        };
        Ok(Taken {
            connection,
            reused,
            _permit: permit,
        })
    }

    fn give_back(&self, taken: Taken) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(taken.connection);
    }
}

/// A `rateLimit` whose buckets are in Redis.
pub struct RedisLimiter {
    /// The key prefix: `rate:<qualified middleware name>:`.
    prefix: String,
    limits: Limits,
    options: ConnectOptions,
    endpoints: Vec<String>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    pool_size: usize,
    min_idle: usize,
    warmed: AtomicBool,
    script_sha: OnceLock<String>,
    /// Whether the last call failed (logged on each change only).
    down: AtomicBool,
    name: String,
}

impl RedisLimiter {
    /// A limiter for middleware `name`; connects on first use.
    pub fn new(name: &str, limits: Limits, config: &Redis) -> Result<Self, String> {
        let tls = config.tls.as_ref().map(tls_config).transpose()?;
        let read_timeout = timeout_of(config.read_timeout());
        // Traefik decides the write timeout on the read timeout's sign.
        let write_timeout = read_timeout.map(|_| config.write_timeout().to_std());
        let dial = config.dial_timeout().as_nanos();
        let dial_timeout = if dial > 0 {
            Duration::from_nanos(dial as u64)
        } else {
            Duration::from_secs(5)
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut pool_size = match config.pool_size.unwrap_or(0) {
            n if n > 0 => n as usize,
            _ => 10 * cpus,
        };
        if let Some(max) = config.max_active_conns.filter(|n| *n > 0) {
            pool_size = pool_size.min(max as usize);
        }
        Ok(Self {
            prefix: format!("rate:{name}:"),
            limits,
            options: ConnectOptions {
                username: config.username.clone(),
                password: config.password.clone(),
                db: config.db.unwrap_or(0),
                tls,
                dial_timeout,
                read_timeout,
                write_timeout,
            },
            endpoints: config.endpoints().into_iter().map(String::from).collect(),
            pools: Mutex::new(HashMap::new()),
            pool_size,
            min_idle: config.min_idle_conns.unwrap_or(0).max(0) as usize,
            warmed: AtomicBool::new(false),
            script_sha: OnceLock::new(),
            down: AtomicBool::new(false),
            name: name.to_string(),
        })
    }

    fn pool(&self, address: &str) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(address.to_string())
            .or_insert_with(|| {
                Arc::new(Pool {
                    address: address.to_string(),
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(self.pool_size)),
                    wait: self.options.read_timeout.unwrap_or(Duration::from_secs(3))
                        + Duration::from_secs(1),
                })
            })
            .clone()
    }

    /// Takes a token for `source`: the wait (`Ok(None)`: Traefik's answer to an unlimited
    /// Redis limiter, which admits nothing), or `Err` when Redis could not be used.
    pub async fn allow(self: &Arc<Self>, source: &[u8]) -> Result<Option<Duration>, ()> {
        if self.limits.rate.is_infinite() {
            return Ok(None);
        }
        self.warm_up();
        let outcome = self.evaluate(source).await;
        match outcome {
            Ok(wait) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(middleware = %self.name, "rateLimit: Redis is reachable again");
                }
                Ok(Some(wait))
            }
            Err(error) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        middleware = %self.name,
                        %error,
                        "rateLimit: could not insert/update bucket in Redis; answering 500 until it is back"
                    );
                }
                Err(())
            }
        }
    }

    /// Opens minIdleConns connections in the background, once.
    fn warm_up(self: &Arc<Self>) {
        if self.min_idle == 0 || self.warmed.swap(true, Ordering::Relaxed) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let Some(first) = this.endpoints.first() else {
                return;
            };
            let pool = this.pool(first);
            for _ in 0..this.min_idle.min(this.pool_size) {
                match Connection::connect(first, &this.options).await {
                    Ok(connection) => pool
                        .idle
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(connection),
                    Err(_) => break,
                }
            }
        });
    }

    async fn evaluate(&self, source: &[u8]) -> io::Result<Duration> {
        let mut key = Vec::with_capacity(self.prefix.len() + source.len());
        key.extend_from_slice(self.prefix.as_bytes());
        key.extend_from_slice(source);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let args = [
            format!("{}", self.limits.rate / 1e6),
            self.limits.burst.to_string(),
            self.limits.ttl_secs.to_string(),
            now.to_string(),
            (self.limits.max_delay.as_micros() as i64).to_string(),
        ];
        let mut last_error = None;
        // Endpoints in order; a cluster's MOVED/ASK redirect is followed once.
        for endpoint in &self.endpoints {
            let mut address = endpoint.clone();
            let mut asking = false;
            for _ in 0..2 {
                match self.call_script(&address, &key, &args, asking).await {
                    Ok(Value::Bulk(Some(wait))) => return parse_wait(&wait),
                    Ok(Value::Error(error)) => match redirect(&error) {
                        Some((ask, target)) => {
                            address = target;
                            asking = ask;
                        }
                        None => return Err(io::Error::other(error)),
                    },
                    Ok(other) => {
                        return Err(io::Error::other(format!(
                            "unexpected script reply {other:?}"
                        )))
                    }
                    Err(error) => {
                        last_error = Some(error);
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("too many redirects")))
    }

    async fn call_script(
        &self,
        address: &str,
        key: &[u8],
        args: &[String; 5],
        asking: bool,
    ) -> io::Result<Value> {
        let pool = self.pool(address);
        let mut taken = pool.take(&self.options).await?;
        let mut outcome = self
            .run_script(&mut taken.connection, key, args, asking)
            .await;
        if taken.reused && outcome.as_ref().is_err_and(closed) {
            // A kept connection the server closed meanwhile (a restart): once more, anew.
            taken.connection = Connection::connect(address, &self.options).await?;
            outcome = self
                .run_script(&mut taken.connection, key, args, asking)
                .await;
        }
        if outcome.is_ok() {
            pool.give_back(taken);
        }
        outcome
    }

    async fn run_script(
        &self,
        connection: &mut Connection,
        key: &[u8],
        args: &[String; 5],
        asking: bool,
    ) -> io::Result<Value> {
        if asking {
            connection.call(&[b"ASKING"]).await?;
        }
        let [a, b, c, d, e] = args.each_ref().map(|s| s.as_bytes());
        if let Some(sha) = self.script_sha.get() {
            let reply = connection
                .call(&[b"EVALSHA", sha.as_bytes(), b"1", key, a, b, c, d, e])
                .await?;
            if !matches!(&reply, Value::Error(e) if e.starts_with("NOSCRIPT")) {
                return Ok(reply);
            }
        }
        let reply = connection
            .call(&[b"EVAL", SCRIPT.as_bytes(), b"1", key, a, b, c, d, e])
            .await?;
        if self.script_sha.get().is_none() {
            if let Value::Bulk(Some(sha)) = connection
                .call(&[b"SCRIPT", b"LOAD", SCRIPT.as_bytes()])
                .await?
            {
                let _ = self
                    .script_sha
                    .set(String::from_utf8_lossy(&sha).into_owned());
            }
        }
        Ok(reply)
    }
}

/// Whether an error says the connection was closed by the other end.
fn closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// The script's wait (µs, as Lua prints a number).
fn parse_wait(text: &[u8]) -> io::Result<Duration> {
    let micros: f64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|m: &f64| m.is_finite() && *m >= 0.0)
        .ok_or_else(|| io::Error::other("a bad wait from the script"))?;
    Ok(Duration::from_nanos((micros * 1000.0) as u64))
}

/// A cluster redirect: `MOVED 3999 127.0.0.1:6381` or `ASK ...` (whether ASK, the address).
fn redirect(error: &str) -> Option<(bool, String)> {
    let mut words = error.split_whitespace();
    let ask = match words.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let _slot = words.next()?;
    Some((ask, words.next()?.to_string()))
}

/// go-redis's timeout: a positive one as it is, else none.
fn timeout_of(duration: control::duration::GoDuration) -> Option<Duration> {
    (duration.as_nanos() > 0).then(|| duration.to_std())
}

/// Traefik's `ClientTLS.CreateTLSConfig`: the CA as a file or PEM contents (the system's
/// roots without one), the certificate and key as PEM contents or files.
fn tls_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, String> {
    let fail = |reason: &str| format!("creating TLS config: {reason}");
    let roots = match tls.ca.as_deref().filter(|ca| !ca.is_empty()) {
        Some(ca) => {
            let pem = if std::path::Path::new(ca).exists() {
                std::fs::read(ca).map_err(|e| fail(&format!("failed to read CA. {e}")))?
            } else {
                ca.as_bytes().to_vec()
            };
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            if roots.add_parsable_certificates(certs).0 == 0 {
                return Err(fail("failed to parse CA"));
            }
            roots
        }
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let cert = tls.cert.as_deref().filter(|c| !c.is_empty());
    let key = tls.key.as_deref().filter(|k| !k.is_empty());
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => Some(key_pair(cert, key).map_err(|e| fail(&e))?),
        (None, None) => None,
        _ => return Err(fail("both TLS cert and key must be defined")),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&e.to_string()))?;
    let builder = if tls.insecure_skip_verify.unwrap_or(false) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots)
    };
    let config = match identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| fail(&e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client certificate chain and key: PEM contents, else files (Traefik's `loadKeyPair`).
type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn key_pair(cert: &str, key: &str) -> Result<KeyPair, String> {
    let parse = |cert: &[u8], key: &[u8]| -> Result<KeyPair, String> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(cert)
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err("tls: failed to find any PEM data in certificate input".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("tls: {e}"))?;
        Ok((certs, key))
    };
    if let Ok(pair) = parse(cert.as_bytes(), key.as_bytes()) {
        return Ok(pair);
    }
    if !std::path::Path::new(cert).exists() {
        return Err("cert file does not exist".into());
    }
    if !std::path::Path::new(key).exists() {
        return Err("key file does not exist".into());
    }
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("open {path}: {e}"));
    parse(&read(cert)?, &read(key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_redirects_are_read() {
        assert_eq!(parse_wait(b"0").unwrap(), Duration::ZERO);
        assert_eq!(parse_wait(b"2500000").unwrap(), Duration::from_millis(2500));
        assert_eq!(
            parse_wait(b"499999.99999999").unwrap(),
            Duration::from_nanos(499_999_999)
        );
        assert!(parse_wait(b"nan").is_err());
        assert_eq!(
            redirect("MOVED 3999 127.0.0.1:6381"),
            Some((false, "127.0.0.1:6381".into()))
        );
        assert_eq!(redirect("ASK 1 h:1"), Some((true, "h:1".into())));
        assert_eq!(redirect("ERR nope"), None);
    }

    #[test]
    fn options_follow_traefik() {
        let limits = Limits::new(&serde_json::from_str(r#"{"average": 5}"#).unwrap()).unwrap();
        let config: Redis = serde_json::from_str(
            r#"{"endpoints": ["a:1", "b:2"], "db": 3, "poolSize": 50, "maxActiveConns": 7,
                "readTimeout": "0s", "writeTimeout": "1s", "dialTimeout": "2s",
                "username": "u", "password": "p", "minIdleConns": 2}"#,
        )
        .unwrap();
        let limiter = RedisLimiter::new("rl@file", limits, &config).unwrap();
        assert_eq!(limiter.prefix, "rate:rl@file:");
        assert_eq!(limiter.endpoints, ["a:1", "b:2"]);
        assert_eq!((limiter.pool_size, limiter.min_idle), (7, 2));
        assert_eq!(limiter.options.db, 3);
        assert_eq!(limiter.options.read_timeout, None, "0: no timeout");
        assert_eq!(
            limiter.options.write_timeout, None,
            "follows the read timeout"
        );
        assert_eq!(limiter.options.dial_timeout, Duration::from_secs(2));
        let defaults = RedisLimiter::new("rl@file", limits, &Redis::default()).unwrap();
        assert_eq!(defaults.endpoints, ["localhost:6379"]);
        assert_eq!(defaults.options.read_timeout, Some(Duration::from_secs(3)));
        assert_eq!(defaults.options.write_timeout, Some(Duration::from_secs(3)));
        assert_eq!(defaults.options.dial_timeout, Duration::from_secs(5));
    }

    #[test]
    fn tls_needs_both_cert_and_key() {
        let tls = ClientTls {
            cert: Some("x".into()),
            ..ClientTls::default()
        };
        assert_eq!(
            tls_config(&tls).unwrap_err(),
            "creating TLS config: both TLS cert and key must be defined"
        );
        let tls = ClientTls {
            ca: Some("not a pem".into()),
            ..ClientTls::default()
        };
        assert_eq!(
            tls_config(&tls).unwrap_err(),
            "creating TLS config: failed to parse CA"
        );
        let insecure = ClientTls {
            insecure_skip_verify: Some(true),
            ..ClientTls::default()
        };
        assert!(tls_config(&insecure).is_ok());
        let insecure_bad_ca = ClientTls {
            ca: Some("not a pem".into()),
            insecure_skip_verify: Some(true),
            ..ClientTls::default()
        };
        assert_eq!(
            tls_config(&insecure_bad_ca).unwrap_err(),
            "creating TLS config: failed to parse CA",
            "the CA is read even when not used"
        );
        let missing = ClientTls {
            cert: Some("/nonexistent/cert.pem".into()),
            key: Some("/nonexistent/key.pem".into()),
            ..ClientTls::default()
        };
        assert_eq!(
            tls_config(&missing).unwrap_err(),
            "creating TLS config: cert file does not exist"
        );
    }
}
