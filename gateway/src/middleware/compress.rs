//! `compress`: gzip, Brotli and zstd response compression with Traefik's negotiation.

use super::media_type::parse_media_type;
use super::{BuildContext, Context, Flow, FromConfig, HttpMiddleware, Needs};
use super::{RequestEdit, ResponseEdit};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::future::{ready, Future};
use std::io::Write;

/// Brotli's quality, as Go's `brotli.NewWriter` (its default compression level).
const BROTLI_QUALITY: u32 = 6;
/// Brotli's window (log2), as Go's writer picks for streams of unknown size.
const BROTLI_WINDOW: u32 = 22;
/// zstd's level, as Go's `zstd.NewWriter` default (`SpeedDefault`).
const ZSTD_LEVEL: i32 = 3;

/// One of the encodings Traefik supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Brotli,
    Zstd,
}

impl Encoding {
    fn parse(name: &str) -> Option<Encoding> {
        match name {
            "gzip" => Some(Encoding::Gzip),
            "br" => Some(Encoding::Brotli),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }

    fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// A compiled `compress`.
pub struct Compress {
    /// Media types (parameters dropped, as Traefik does) of requests and responses left
    /// alone, `application/grpc` first.
    excludes: Vec<String>,
    /// When not empty, the only response media types compressed.
    includes: Vec<String>,
    min_size: u64,
    /// Supported encodings, most preferred first.
    encodings: Vec<Encoding>,
    default_encoding: Option<Encoding>,
}

impl FromConfig<control::dynamic::Compress> for Compress {
    fn from_config(
        config: &control::dynamic::Compress,
        _context: &mut BuildContext<'_>,
    ) -> Result<Self, String> {
        if !config.excluded_content_types.is_empty() && !config.included_content_types.is_empty() {
            return Err(
                "excludedContentTypes and includedContentTypes options are mutually exclusive"
                    .into(),
            );
        }
        let essence = |value: &String, list: &str| {
            parse_media_type(value)
                .map(|m| m.essence)
                .map_err(|e| format!("parsing {list} media type: {e}"))
        };
        let mut excludes = vec!["application/grpc".to_string()];
        for value in &config.excluded_content_types {
            excludes.push(essence(value, "excluded")?);
        }
        let includes = config
            .included_content_types
            .iter()
            .map(|value| essence(value, "included"))
            .collect::<Result<Vec<_>, _>>()?;
        let encodings = config
            .encodings()
            .into_iter()
            .map(|name| Encoding::parse(name).ok_or(format!("unsupported encoding: {name}")))
            .collect::<Result<Vec<_>, _>>()?;
        let default_encoding = match config.default_encoding.as_deref() {
            None | Some("") => None,
            Some(name) => match Encoding::parse(name).filter(|e| encodings.contains(e)) {
                Some(encoding) => Some(encoding),
                None => return Err(format!("unsupported default encoding: {name}")),
            },
        };
        Ok(Self {
            excludes,
            includes,
            min_size: config.min_response_body_bytes().max(0) as u64,
            encodings,
            default_encoding,
        })
    }
}

/// What the negotiation picked for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// An encoding of ours (or `*`, resolved to one).
    Encoding(Encoding),
    /// `identity`, `not_acceptable` or nothing acceptable: the response is left alone.
    Identity,
}

impl Compress {
    /// The preference rank of an `Accept-Encoding` token: `*` first, then the configured
    /// order, `identity` last; `None` for tokens we do not know.
    fn rank(&self, token: &str) -> Option<i64> {
        match token {
            "*" => Some(-1),
            "identity" => Some(self.encodings.len() as i64),
            other => {
                let encoding = Encoding::parse(other)?;
                self.encodings
                    .iter()
                    .position(|e| *e == encoding)
                    .map(|i| i as i64)
            }
        }
    }

    /// Traefik's `getCompressionEncoding` over every `Accept-Encoding` value.
    fn negotiate<'a>(&self, values: impl Iterator<Item = &'a [u8]>) -> Choice {
        let mut values = values.peekable();
        let first = values.next();
        if first.is_some_and(<[u8]>::is_empty) && values.peek().is_none() {
            return Choice::Identity;
        }
        self.negotiate_from(first.into_iter().chain(values))
    }

    /// The negotiation proper, once a lone empty value is ruled out.
    fn negotiate_from<'a>(&self, values: impl Iterator<Item = &'a [u8]>) -> Choice {
        // (weight, rank, token) of the best acceptable coding so far; a stable sort by
        // weight then rank keeps the first of equals.
        let mut best: Option<(f64, i64, String)> = None;
        for line in values {
            let line: String = String::from_utf8_lossy(line)
                .chars()
                .filter(|c| *c != ' ')
                .collect();
            for item in line.split(',') {
                let (token, params) = match item.split_once(';') {
                    Some((token, params)) => (token, Some(params)),
                    None => (item, None),
                };
                let Some(rank) = self.rank(token) else {
                    continue;
                };
                let mut weight = 1.0;
                if let Some(q) = params.and_then(|p| p.strip_prefix("q=")) {
                    let parsed = go_parse_float(q).unwrap_or(0.0);
                    if parsed == 0.0 {
                        continue;
                    }
                    weight = parsed;
                }
                let better = match &best {
                    None => true,
                    Some((w, r, _)) => weight > *w || (weight == *w && rank < *r),
                };
                if better {
                    best = Some((weight, rank, token.to_string()));
                }
            }
        }
        match best {
            None => Choice::Identity,
            Some((_, _, token)) if token == "*" => Choice::Encoding(
                self.default_encoding
                    .unwrap_or_else(|| self.encodings.first().copied().unwrap_or(Encoding::Gzip)),
            ),
            Some((_, _, token)) => match Encoding::parse(&token) {
                Some(encoding) => Choice::Encoding(encoding),
                None => Choice::Identity,
            },
        }
    }

    /// Whether the response's media type is compressed by the gzip handler (klauspost's
    /// filter: an unparsable type passes an exclusion list and fails an inclusion list).
    fn gzip_type_allowed(&self, content_type: &str) -> bool {
        let parsed = parse_media_type(content_type).ok();
        if !self.includes.is_empty() {
            return parsed.is_some_and(|p| self.includes.contains(&p.essence));
        }
        !parsed.is_some_and(|p| self.excludes.contains(&p.essence))
    }

    /// Whether the response's media type is compressed by the Brotli and zstd handler (an
    /// unparsable type is never compressed).
    fn other_type_allowed(&self, content_type: &str) -> bool {
        if content_type.is_empty() {
            return true;
        }
        let Ok(parsed) = parse_media_type(content_type) else {
            return false;
        };
        if !self.includes.is_empty() && !self.includes.contains(&parsed.essence) {
            return false;
        }
        !self.excludes.contains(&parsed.essence)
    }
}

/// Go's `strconv.ParseFloat` for q-values: a decimal number (Go also takes exponents, hex
/// and `inf`, which Rust's parser takes too, close enough for weights).
fn go_parse_float(text: &str) -> Option<f64> {
    if text.is_empty() || text.starts_with('+') && text.len() == 1 {
        return None;
    }
    text.parse().ok()
}

/// klauspost's `parseEncodingGzip` on the first `Accept-Encoding` value: gzip's q-value.
fn gzip_q_value(accept_encoding: &str) -> f64 {
    for coding in accept_encoding.trim().split(',') {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if name != "gzip" {
            continue;
        }
        let mut q = 1.0;
        for part in parts {
            q = 1.0;
            if let Some(value) = part.trim().strip_prefix("q=") {
                q = value.parse::<f64>().unwrap_or(0.0).clamp(0.0, 1.0);
            }
        }
        return q;
    }
    0.0
}

/// Per-request state: the encoding picked by the request phase, then the encoder.
enum State {
    /// The handler of this encoding serves the request (`gzip_accepted`: klauspost's own
    /// check of the request's `Accept-Encoding`).
    Chosen {
        encoding: Encoding,
        gzip_accepted: bool,
    },
    /// The response goes through as it came.
    Off,
    /// The response body is being compressed.
    Encoding(Encoder),
}

/// A streaming encoder writing into a buffer that each chunk drains.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
    Zstd(Option<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl Encoder {
    fn new(encoding: Encoding) -> Result<Encoder, String> {
        Ok(match encoding {
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Encoding::Brotli => Encoder::Brotli(Some(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            )))),
            Encoding::Zstd => Encoder::Zstd(Some(
                zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                    .map_err(|e| format!("creating zstd writer: {e}"))?,
            )),
        })
    }

    /// Compresses `input` (flushed, so a streamed response keeps streaming) and, at the end,
    /// the encoding's trailer; returns what is ready to send.
    fn encode(&mut self, input: &[u8], end: bool) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(encoder) => {
                encoder.write_all(input)?;
                if end {
                    encoder.try_finish()?;
                } else if !input.is_empty() {
                    encoder.flush()?;
                }
                Ok(std::mem::take(encoder.get_mut()))
            }
            Encoder::Brotli(slot) => {
                let Some(encoder) = slot.as_mut() else {
                    return Ok(Vec::new());
                };
                encoder.write_all(input)?;
                if end {
                    let encoder = slot.take().expect("checked above");
                    return Ok(encoder.into_inner());
                }
                if !input.is_empty() {
                    encoder.flush()?;
                }
                Ok(std::mem::take(encoder.get_mut()))
            }
            Encoder::Zstd(slot) => {
                let Some(encoder) = slot.as_mut() else {
                    return Ok(Vec::new());
                };
                encoder.write_all(input)?;
                if end {
                    let encoder = slot.take().expect("checked above");
                    return encoder.finish();
                }
                if !input.is_empty() {
                    encoder.flush()?;
                }
                Ok(std::mem::take(encoder.get_mut()))
            }
        }
    }
}

impl HttpMiddleware for Compress {
    fn needs(&self) -> Needs {
        Needs {
            response_head: true,
            request_body: false,
            response_body: true,
            ..Needs::REQUEST_HEAD
        }
    }

    fn request<R: RequestEdit>(
        &self,
        request: &mut R,
        context: &mut Context,
    ) -> impl Future<Output = Flow> + Send {
        let headers = request.headers();
        if request.method() == Method::HEAD {
            return ready(Flow::Continue);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Ok(media) = parse_media_type(content_type) {
            if self.excludes.contains(&media.essence) {
                return ready(Flow::Continue);
            }
        }
        let values = headers.get_all(header::ACCEPT_ENCODING);
        let choice = if values.iter().next().is_none() {
            match self.default_encoding {
                Some(encoding) => Choice::Encoding(encoding),
                None => return ready(Flow::Continue),
            }
        } else {
            self.negotiate(values.iter().map(HeaderValue::as_bytes))
        };
        if let Choice::Encoding(encoding) = choice {
            let first = headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            context.set_state(State::Chosen {
                encoding,
                gzip_accepted: gzip_q_value(first) > 0.0,
            });
        }
        ready(Flow::Continue)
    }

    fn response<R: RequestEdit + ?Sized, S: ResponseEdit + ?Sized>(
        &self,
        _request: &R,
        response: &mut S,
        context: &mut Context,
    ) {
        let filtered = context.response_body_filtered;
        let Some(state) = context.state_mut::<State>() else {
            return;
        };
        let State::Chosen {
            encoding,
            gzip_accepted,
        } = *state
        else {
            return;
        };
        *state = State::Off;
        response.append_header(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if !filtered || (encoding == Encoding::Gzip && !gzip_accepted) {
            return;
        }
        let status = response.status();
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return;
        }
        let headers = response.headers();
        let text = |name: HeaderName| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        if !text(header::CONTENT_ENCODING).is_empty() {
            return;
        }
        let content_type = text(header::CONTENT_TYPE);
        // An unknown length (a streamed body) is compressed: the head leaves before the
        // body is seen, so the body cannot be measured against the minimum first.
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|length| length == 0 || length < self.min_size) {
            return;
        }
        let allowed = match encoding {
            Encoding::Gzip => {
                text(header::CONTENT_RANGE).is_empty()
                    && (content_type.is_empty() || self.gzip_type_allowed(&content_type))
            }
            Encoding::Brotli | Encoding::Zstd => self.other_type_allowed(&content_type),
        };
        if !allowed {
            return;
        }
        let encoder = match Encoder::new(encoding) {
            Ok(encoder) => encoder,
            Err(error) => {
                tracing::debug!(%error, "compress: not compressing");
                return;
            }
        };
        response.remove_header(&header::CONTENT_LENGTH);
        if encoding == Encoding::Gzip {
            response.remove_header(&header::ACCEPT_RANGES);
        }
        response.insert_header(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.token()),
        );
        response.insert_header(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        if let Some(state) = context.state_mut::<State>() {
            *state = State::Encoding(encoder);
        }
    }

    fn response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        context: &mut Context,
    ) -> Result<(), String> {
        let Some(State::Encoding(encoder)) = context.state_mut::<State>() else {
            return Ok(());
        };
        let input = body.as_deref().unwrap_or_default();
        let output = encoder
            .encode(input, end_of_stream)
            .map_err(|e| format!("compress: {e}"))?;
        *body = Some(Bytes::from(output));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing::{build, context, request, run_request};
    use crate::middleware::Middleware;
    use std::io::Read;

    fn compress(json: &str) -> Compress {
        match build(&format!(r#"{{"compress": {json}}}"#)).unwrap() {
            Middleware::Compress(c) => c,
            _ => unreachable!(),
        }
    }

    fn choice(c: &Compress, values: &[&str]) -> Choice {
        c.negotiate(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn negotiation_follows_weights_then_the_configured_order() {
        let c = compress("{}");
        let gzip = Choice::Encoding(Encoding::Gzip);
        let br = Choice::Encoding(Encoding::Brotli);
        let zstd = Choice::Encoding(Encoding::Zstd);
        assert_eq!(choice(&c, &["gzip, br, zstd"]), gzip);
        assert_eq!(choice(&c, &["zstd, br"]), br);
        assert_eq!(choice(&c, &["gzip;q=0.5, br;q=0.9"]), br);
        assert_eq!(choice(&c, &["gzip;q=0, zstd"]), zstd);
        assert_eq!(choice(&c, &["deflate"]), Choice::Identity);
        assert_eq!(choice(&c, &[""]), Choice::Identity);
        assert_eq!(choice(&c, &["*"]), gzip);
        assert_eq!(choice(&c, &["identity"]), Choice::Identity);
        assert_eq!(choice(&c, &["br;q=0.5", "zstd;q=0.6"]), zstd);
        let ordered = compress(r#"{"encodings": ["zstd", "br", "gzip"], "defaultEncoding": "br"}"#);
        assert_eq!(choice(&ordered, &["gzip, br, zstd"]), zstd);
        assert_eq!(choice(&ordered, &["*"]), br);
    }

    #[test]
    fn klauspost_reads_gzip_from_the_first_value() {
        assert_eq!(gzip_q_value("br, gzip;q=0.4"), 0.4);
        assert_eq!(gzip_q_value("br"), 0.0);
        assert_eq!(gzip_q_value("*"), 0.0);
    }

    #[test]
    fn configuration_errors_are_traefiks() {
        let error = |json: &str| build(&format!(r#"{{"compress": {json}}}"#)).err().unwrap();
        assert_eq!(
            error(r#"{"encodings": ["gzip", "deflate"]}"#),
            "unsupported encoding: deflate"
        );
        assert_eq!(
            error(r#"{"encodings": ["gzip"], "defaultEncoding": "br"}"#),
            "unsupported default encoding: br"
        );
        assert_eq!(
            error(r#"{"excludedContentTypes": ["text/html"], "includedContentTypes": ["a/b"]}"#),
            "excludedContentTypes and includedContentTypes options are mutually exclusive"
        );
        assert!(error(r#"{"excludedContentTypes": ["text/"]}"#)
            .starts_with("parsing excluded media type: mime:"));
    }

    fn respond(
        middleware: &Middleware,
        accept: Option<&str>,
        head: http::response::Parts,
        body: &[u8],
    ) -> (http::response::Parts, Vec<u8>) {
        let mut req = request("/");
        if let Some(accept) = accept {
            req.headers
                .insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        }
        let mut ctx = context();
        ctx.response_body_filtered = true;
        assert!(matches!(
            run_request(middleware, &mut req, &mut ctx),
            Flow::Continue
        ));
        ctx.entered = 1;
        let mut head = head;
        middleware.response(&req, &mut head, &mut ctx);
        let mut out = Vec::new();
        for (i, piece) in body.chunks(700).enumerate() {
            let mut chunk = Some(Bytes::copy_from_slice(piece));
            let last = (i + 1) * 700 >= body.len();
            middleware
                .response_body(&mut chunk, last, &mut ctx)
                .unwrap();
            out.extend_from_slice(&chunk.unwrap_or_default());
        }
        (head, out)
    }

    fn head(content_type: &str, length: Option<usize>) -> http::response::Parts {
        let mut builder = http::Response::builder().status(200);
        if !content_type.is_empty() {
            builder = builder.header("content-type", content_type);
        }
        if let Some(length) = length {
            builder = builder.header("content-length", length);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn each_encoding_round_trips() {
        let middleware = build(r#"{"compress": {}}"#).unwrap();
        let body = "hello compressed world ".repeat(200).into_bytes();
        for accept in ["gzip", "br", "zstd"] {
            let (head, out) = respond(
                &middleware,
                Some(accept),
                head("text/plain", Some(body.len())),
                &body,
            );
            assert_eq!(head.headers["content-encoding"], accept);
            assert_eq!(head.headers["vary"], "Accept-Encoding");
            assert!(head.headers.get("content-length").is_none());
            let mut decoded = Vec::new();
            match accept {
                "gzip" => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                "br" => {
                    brotli::Decompressor::new(&out[..], 4096)
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                _ => decoded = zstd::decode_all(&out[..]).unwrap(),
            }
            assert_eq!(decoded, body, "{accept}");
        }
    }

    #[test]
    fn small_excluded_and_encoded_responses_are_left_alone() {
        let middleware =
            build(r#"{"compress": {"excludedContentTypes": ["text/event-stream"]}}"#).unwrap();
        let (small, out) = respond(
            &middleware,
            Some("gzip"),
            head("text/plain", Some(10)),
            b"0123456789",
        );
        assert!(small.headers.get("content-encoding").is_none());
        assert_eq!(small.headers["vary"], "Accept-Encoding");
        assert_eq!(out, b"0123456789");
        let (excluded, _) = respond(
            &middleware,
            Some("br"),
            head("text/event-stream", Some(5000)),
            &[b'a'; 5000],
        );
        assert!(excluded.headers.get("content-encoding").is_none());
        let mut encoded = head("text/plain", Some(5000));
        encoded
            .headers
            .insert("content-encoding", "deflate".parse().unwrap());
        let (encoded, _) = respond(&middleware, Some("zstd"), encoded, &[b'a'; 5000]);
        assert_eq!(encoded.headers["content-encoding"], "deflate");
        let (none, _) = respond(
            &middleware,
            None,
            head("text/plain", Some(5000)),
            &[b'a'; 5000],
        );
        assert!(none.headers.get("vary").is_none());
    }

    #[test]
    fn included_types_only() {
        let middleware =
            build(r#"{"compress": {"includedContentTypes": ["application/json"]}}"#).unwrap();
        let (json, _) = respond(
            &middleware,
            Some("gzip"),
            head("application/json; charset=utf-8", Some(5000)),
            &[b'a'; 5000],
        );
        assert_eq!(json.headers["content-encoding"], "gzip");
        let (text, _) = respond(
            &middleware,
            Some("gzip"),
            head("text/plain", Some(5000)),
            &[b'a'; 5000],
        );
        assert!(text.headers.get("content-encoding").is_none());
    }
}
