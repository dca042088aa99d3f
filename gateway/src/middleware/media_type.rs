//! Go's `mime.ParseMediaType` (as Traefik's compress lists and filters use it).

/// A parsed media type: `type/subtype` lowercased and its parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `text/html`.
    pub essence: String,
    /// `charset=utf-8`, in the order given.
    pub params: Vec<(String, String)>,
}

fn is_token_char(c: char) -> bool {
    c.is_ascii() && c > ' ' && c < '\x7f' && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn consume_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// A token or a quoted string, and the rest (`None` when neither is there).
fn consume_value(s: &str) -> (Option<String>, &str) {
    if !s.starts_with('"') {
        let (token, rest) = consume_token(s);
        return ((!token.is_empty()).then(|| token.to_string()), rest);
    }
    let mut value = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (Some(value), &s[i + 1..]),
            '\\' if i + 1 < s.len() => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '\r' | '\n' => return (None, s),
            c => value.push(c),
        }
    }
    (None, s)
}

/// One `; name=value` parameter and the rest, or `None` when there is not one.
fn consume_param(v: &str) -> Option<(String, String, &str)> {
    let rest = v.trim_start().strip_prefix(';')?.trim_start();
    let (name, rest) = consume_token(rest);
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let (value, rest) = consume_value(rest);
    Some((name.to_ascii_lowercase(), value?, rest))
}

/// Parses a `Content-Type`-like value with Go's errors (`mime: no media type`).
pub fn parse_media_type(value: &str) -> Result<MediaType, String> {
    let base = value.split(';').next().unwrap_or_default();
    let essence = base.to_lowercase().trim().to_string();
    let (kind, rest) = consume_token(&essence);
    if kind.is_empty() {
        return Err("mime: no media type".into());
    }
    if !rest.is_empty() {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err("mime: expected slash after first token".into());
        };
        let (subtype, rest) = consume_token(rest);
        if subtype.is_empty() {
            return Err("mime: expected token after slash".into());
        }
        if !rest.is_empty() {
            return Err("mime: unexpected content after media subtype".into());
        }
    }
    let mut params: Vec<(String, String)> = Vec::new();
    let mut v = &value[base.len()..];
    loop {
        v = v.trim_start();
        if v.is_empty() {
            break;
        }
        match consume_param(v) {
            Some((name, value, rest)) => {
                if params.iter().any(|(n, _)| *n == name) {
                    return Err("mime: duplicate parameter name".into());
                }
                params.push((name, value));
                v = rest;
            }
            None if v.trim() == ";" => break,
            None => return Err("mime: invalid media parameter".into()),
        }
    }
    Ok(MediaType { essence, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let parsed = parse_media_type("Text/HTML; Charset=\"utf-8\";").unwrap();
        assert_eq!(parsed.essence, "text/html");
        assert_eq!(parsed.params, vec![("charset".into(), "utf-8".into())]);
        assert_eq!(parse_media_type("").unwrap_err(), "mime: no media type");
        assert_eq!(
            parse_media_type("text/").unwrap_err(),
            "mime: expected token after slash"
        );
        assert_eq!(
            parse_media_type("text/html; x").unwrap_err(),
            "mime: invalid media parameter"
        );
        assert_eq!(parse_media_type("text").unwrap().essence, "text");
    }
}
