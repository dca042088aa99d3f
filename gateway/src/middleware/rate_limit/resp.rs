//! A small Redis client: RESP2 over TCP or TLS, with Traefik's (go-redis's) connection
//! options: AUTH, SELECT, and dial, read and write timeouts.

use rustls::pki_types::ServerName;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// The largest bulk string or array accepted in a reply (ours are a few bytes).
const MAX_REPLY: usize = 1 << 20;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$3\r\nabc` (`None`: `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2 ...` (`None`: `*-1`).
    Array(Option<Vec<Value>>),
}

/// How connections are made: credentials, database, TLS and timeouts (`None`: no timeout).
pub struct ConnectOptions {
    /// AUTH user name (with a password).
    pub username: Option<String>,
    /// AUTH password.
    pub password: Option<String>,
    /// SELECTed after connecting when not 0.
    pub db: i64,
    /// TLS, when the endpoint speaks it.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// For connecting, handshakes and AUTH/SELECT included.
    pub dial_timeout: Duration,
    /// For each reply.
    pub read_timeout: Option<Duration>,
    /// For each command sent.
    pub write_timeout: Option<Duration>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection to a Redis server.
pub struct Connection {
    stream: BufStream<Box<dyn Io>>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    line: Vec<u8>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

async fn within<T>(
    limit: Option<Duration>,
    what: &str,
    future: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .map_err(|_| timed_out(what))?,
        None => future.await,
    }
}

impl Connection {
    /// Connects to `address` (`host:port`), authenticates and selects the database.
    pub async fn connect(address: &str, options: &ConnectOptions) -> io::Result<Self> {
        tokio::time::timeout(options.dial_timeout, Self::dial(address, options))
            .await
            .map_err(|_| timed_out("dial"))?
    }

    async fn dial(address: &str, options: &ConnectOptions) -> io::Result<Self> {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Io> = match &options.tls {
            Some(config) => {
                let host = host_of(address);
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| invalid(format!("server name {host:?}: {e}")))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                Box::new(connector.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        let mut connection = Self {
            stream: BufStream::new(stream),
            read_timeout: options.read_timeout,
            write_timeout: options.write_timeout,
            line: Vec::new(),
        };
        if let Some(password) = options.password.as_deref().filter(|p| !p.is_empty()) {
            let reply = match options.username.as_deref().filter(|u| !u.is_empty()) {
                Some(user) => {
                    connection
                        .call(&[b"AUTH", user.as_bytes(), password.as_bytes()])
                        .await?
                }
                None => connection.call(&[b"AUTH", password.as_bytes()]).await?,
            };
            expect_ok(reply, "AUTH")?;
        }
        if options.db != 0 {
            let db = options.db.to_string();
            let reply = connection.call(&[b"SELECT", db.as_bytes()]).await?;
            expect_ok(reply, "SELECT")?;
        }
        Ok(connection)
    }

    /// Sends one command and reads its reply (an error reply is a [`Value::Error`]).
    pub async fn call(&mut self, args: &[&[u8]]) -> io::Result<Value> {
        let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let stream = &mut self.stream;
        within(self.write_timeout, "write", async {
            stream.write_all(&out).await?;
            stream.flush().await
        })
        .await?;
        let limit = self.read_timeout;
        within(limit, "read", self.read_value()).await
    }

    async fn read_line(&mut self) -> io::Result<(u8, String)> {
        self.line.clear();
        let read = (&mut self.stream)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut self.line)
            .await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let line = self
            .line
            .strip_suffix(b"\r\n")
            .ok_or_else(|| invalid("a reply line without CRLF"))?;
        let (&kind, rest) = line
            .split_first()
            .ok_or_else(|| invalid("an empty reply"))?;
        Ok((kind, String::from_utf8_lossy(rest).into_owned()))
    }

    fn read_value(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<Value>> + Send + '_>> {
        Box::pin(async move {
            let (kind, text) = self.read_line().await?;
            let length = || -> io::Result<Option<usize>> {
                let n: i64 = text.parse().map_err(|_| invalid("a bad length"))?;
                match n {
                    -1 => Ok(None),
                    0.. if (n as usize) <= MAX_REPLY => Ok(Some(n as usize)),
                    _ => Err(invalid("a reply too large")),
                }
            };
            match kind {
                b'+' => Ok(Value::Simple(text)),
                b'-' => Ok(Value::Error(text)),
                b':' => text
                    .parse()
                    .map(Value::Int)
                    .map_err(|_| invalid("a bad integer")),
                b'$' => match length()? {
                    None => Ok(Value::Bulk(None)),
                    Some(n) => {
                        let mut data = vec![0; n + 2];
                        self.stream.read_exact(&mut data).await?;
                        if !data.ends_with(b"\r\n") {
                            return Err(invalid("a bulk string without CRLF"));
                        }
                        data.truncate(n);
                        Ok(Value::Bulk(Some(data)))
                    }
                },
                b'*' => match length()? {
                    None => Ok(Value::Array(None)),
                    Some(n) => {
                        let mut items = Vec::with_capacity(n.min(64));
                        for _ in 0..n {
                            items.push(self.read_value().await?);
                        }
                        Ok(Value::Array(Some(items)))
                    }
                },
                other => Err(invalid(format!(
                    "an unknown reply type {:?}",
                    other as char
                ))),
            }
        })
    }
}

fn expect_ok(reply: Value, command: &str) -> io::Result<()> {
    match reply {
        Value::Simple(_) => Ok(()),
        Value::Error(e) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{command}: {e}"),
        )),
        other => Err(invalid(format!("{command}: unexpected reply {other:?}"))),
    }
}

/// The host of `host:port` (`[v6]:port` without brackets).
fn host_of(address: &str) -> &str {
    super::super::source::split_host_port(address).unwrap_or(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    async fn parse(bytes: &'static [u8]) -> io::Result<Value> {
        let (client, mut server) = duplex(1024);
        server.write_all(bytes).await.unwrap();
        let mut connection = Connection {
            stream: BufStream::new(Box::new(client)),
            read_timeout: Some(Duration::from_secs(1)),
            write_timeout: None,
            line: Vec::new(),
        };
        connection.read_value().await
    }

    #[tokio::test]
    async fn replies_are_parsed() {
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Value::Simple("OK".into()));
        assert_eq!(
            parse(b"-NOSCRIPT No matching script\r\n").await.unwrap(),
            Value::Error("NOSCRIPT No matching script".into())
        );
        assert_eq!(parse(b":42\r\n").await.unwrap(), Value::Int(42));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Value::Bulk(None));
        assert_eq!(
            parse(b"*2\r\n$3\r\nabc\r\n$0\r\n\r\n").await.unwrap(),
            Value::Array(Some(vec![
                Value::Bulk(Some(b"abc".to_vec())),
                Value::Bulk(Some(Vec::new()))
            ]))
        );
        assert!(parse(b"$3\r\nabcd\r\n").await.is_err());
        assert!(parse(b"?\r\n").await.is_err());
        assert!(parse(b"$99999999999\r\n").await.is_err());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let (client, _server) = duplex(64);
        let mut connection = Connection {
            stream: BufStream::new(Box::new(client)),
            read_timeout: Some(Duration::from_millis(20)),
            write_timeout: None,
            line: Vec::new(),
        };
        let error = connection.call(&[b"PING"]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
