//! Tokenizer for rule text, including Go string literal decoding.

use super::error::ParseError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind<'a> {
    /// A matcher name (or any other identifier).
    Ident(&'a str),
    /// A string literal, already unquoted.
    Str(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `!`
    Not,
    /// End of input.
    Eof,
}

impl TokenKind<'_> {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Ident(name) => format!("{name:?}"),
            TokenKind::Str(_) => "a string literal".to_owned(),
            TokenKind::LParen => "\"(\"".to_owned(),
            TokenKind::RParen => "\")\"".to_owned(),
            TokenKind::Comma => "\",\"".to_owned(),
            TokenKind::And => "\"&&\"".to_owned(),
            TokenKind::Or => "\"||\"".to_owned(),
            TokenKind::Not => "\"!\"".to_owned(),
            TokenKind::Eof => "the end of the rule".to_owned(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind<'a>,
    pub(crate) position: usize,
}

/// Splits rule text into tokens on demand.
pub(crate) struct Lexer<'a> {
    source: &'a str,
    offset: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer positioned at the start of `source`.
    pub(crate) fn new(source: &'a str) -> Self {
        Lexer { source, offset: 0 }
    }

    /// The next token; whitespace (any Unicode whitespace, newlines included) is skipped.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip_whitespace();
        let start = self.offset;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                position: start,
            });
        };
        let kind = match c {
            '(' => self.single(TokenKind::LParen),
            ')' => self.single(TokenKind::RParen),
            ',' => self.single(TokenKind::Comma),
            '!' => self.single(TokenKind::Not),
            '&' | '|' => self.double_operator(c)?,
            '`' => TokenKind::Str(self.raw_string()?),
            '"' => TokenKind::Str(self.interpreted_string()?),
            '\'' => {
                return Err(ParseError::at(
                    start,
                    "single-quoted strings are not allowed, quote arguments with backticks or double quotes",
                ))
            }
            c if c == '_' || c.is_alphabetic() => TokenKind::Ident(self.identifier()),
            c => {
                return Err(ParseError::at(
                    start,
                    format!("unexpected character {:?}", c.to_string()),
                ))
            }
        };
        Ok(Token {
            kind,
            position: start,
        })
    }

    fn rest(&self) -> &'a str {
        &self.source[self.offset..]
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        self.offset += rest.len() - trimmed.len();
    }

    fn single(&mut self, kind: TokenKind<'a>) -> TokenKind<'a> {
        self.offset += 1;
        kind
    }

    /// `&&` or `||`; a lone `&` or `|` is an error.
    fn double_operator(&mut self, c: char) -> Result<TokenKind<'a>, ParseError> {
        let start = self.offset;
        if self.rest().as_bytes().get(1) == Some(&(c as u8)) {
            self.offset += 2;
            return Ok(if c == '&' {
                TokenKind::And
            } else {
                TokenKind::Or
            });
        }
        Err(ParseError::at(
            start,
            format!("unexpected \"{c}\", the operator is \"{c}{c}\""),
        ))
    }

    fn identifier(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
            .map_or(rest.len(), |(i, _)| i);
        self.offset += len;
        &rest[..len]
    }

    /// A backtick string: no escapes; carriage returns are dropped, as Go does.
    fn raw_string(&mut self) -> Result<String, ParseError> {
        let start = self.offset;
        let body = &self.source[start + 1..];
        let Some(end) = body.find('`') else {
            return Err(ParseError::at(
                start,
                "unterminated string literal: missing closing backtick",
            ));
        };
        self.offset = start + 1 + end + 1;
        Ok(body[..end].replace('\r', ""))
    }

    /// A double-quoted string with Go's escape sequences.
    fn interpreted_string(&mut self) -> Result<String, ParseError> {
        let start = self.offset;
        let mut bytes = Vec::new();
        let mut chars = self.source[start + 1..].char_indices();
        let unterminated = || {
            ParseError::at(
                start,
                "unterminated string literal: missing closing double quote",
            )
        };
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(unterminated());
            };
            let here = start + 1 + i;
            match c {
                '"' => {
                    self.offset = here + 1;
                    break;
                }
                '\n' => return Err(unterminated()),
                '\\' if self.source.len() == here + 1 => return Err(unterminated()),
                '\\' => {
                    let escape = decode_escape(&self.source[here..])
                        .map_err(|message| ParseError::at(here, message))?;
                    // Skip the characters the escape used (the backslash is already consumed).
                    for _ in 1..escape.consumed {
                        chars.next();
                    }
                    match escape.value {
                        Escaped::Byte(b) => bytes.push(b),
                        Escaped::Char(c) => push_char(&mut bytes, c),
                    }
                }
                c => push_char(&mut bytes, c),
            }
        }
        String::from_utf8(bytes).map_err(|_| {
            ParseError::at(
                start,
                "string literal is not valid UTF-8 once its \\x or octal escapes are decoded",
            )
        })
    }
}

fn push_char(bytes: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// The value of one escape sequence.
enum Escaped {
    /// `\xHH` and octal escapes denote single bytes.
    Byte(u8),
    /// Every other escape denotes a character.
    Char(char),
}

struct Escape {
    value: Escaped,
    /// Characters used, backslash included (all ASCII, so also bytes).
    consumed: usize,
}

/// Decodes the escape sequence at the start of `text` (which starts with a backslash),
/// following Go's rules for double-quoted strings.
fn decode_escape(text: &str) -> Result<Escape, String> {
    let after = &text[1..];
    let Some(letter) = after.chars().next() else {
        return Err("invalid escape sequence at the end of the rule".to_owned());
    };
    let simple = |c: char| {
        Ok(Escape {
            value: Escaped::Char(c),
            consumed: 2,
        })
    };
    match letter {
        'a' => simple('\u{07}'),
        'b' => simple('\u{08}'),
        'f' => simple('\u{0C}'),
        'n' => simple('\n'),
        'r' => simple('\r'),
        't' => simple('\t'),
        'v' => simple('\u{0B}'),
        '\\' => simple('\\'),
        '"' => simple('"'),
        'x' => {
            let value = fixed_digits(&after[1..], 2, 16)
                .ok_or_else(|| {
                format!(
                    "invalid escape sequence {}: \\x needs exactly 2 hexadecimal digits",
                    prefix(text, 4)
                )
            })?;
            Ok(Escape {
                value: Escaped::Byte(value as u8),
                consumed: 4,
            })
        }
        '0'..='7' => {
            let value = fixed_digits(after, 3, 8).ok_or_else(|| {
                format!(
                    "invalid escape sequence {}: octal escapes need exactly 3 octal digits",
                    prefix(text, 4)
                )
            })?;
            let byte = u8::try_from(value).map_err(|_| {
                format!(
                    "invalid escape sequence {}: octal value is greater than 255",
                    prefix(text, 4)
                )
            })?;
            Ok(Escape {
                value: Escaped::Byte(byte),
                consumed: 4,
            })
        }
        'u' | 'U' => {
            let digits = if letter == 'u' { 4 } else { 8 };
            let shown = prefix(text, digits + 2);
            let value = fixed_digits(&after[1..], digits, 16).ok_or_else(|| {
                format!("invalid escape sequence {shown}: \\{letter} needs exactly {digits} hexadecimal digits")
            })?;
            let c = char::from_u32(value).ok_or_else(|| {
                format!("invalid escape sequence {shown}: not a valid Unicode code point")
            })?;
            Ok(Escape {
                value: Escaped::Char(c),
                consumed: digits + 2,
            })
        }
        other => Err(format!(
            "invalid escape sequence \\{other} in double-quoted string (use a backtick string for literal backslashes)"
        )),
    }
}

/// Parses exactly `count` ASCII digits in `radix` at the start of `text`.
fn fixed_digits(text: &str, count: usize, radix: u32) -> Option<u32> {
    let digits = text.get(..count)?;
    if digits.chars().all(|c| c.is_digit(radix)) {
        u32::from_str_radix(digits, radix).ok()
    } else {
        None
    }
}

/// Up to `chars` characters from the start of `text`, for error messages.
fn prefix(text: &str, chars: usize) -> &str {
    let end = text
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Result<Vec<TokenKind<'_>>, ParseError> {
        let mut lexer = Lexer::new(source);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token()?;
            if token.kind == TokenKind::Eof {
                return Ok(out);
            }
            out.push(token.kind);
        }
    }

    fn string(literal: &str) -> Result<String, ParseError> {
        match tokens(literal)?.as_slice() {
            [TokenKind::Str(s)] => Ok(s.clone()),
            other => panic!("not a single string: {other:?}"),
        }
    }

    #[test]
    fn operators_and_punctuation() {
        assert_eq!(
            tokens("!( a&&b ||c ,)").unwrap(),
            vec![
                TokenKind::Not,
                TokenKind::LParen,
                TokenKind::Ident("a"),
                TokenKind::And,
                TokenKind::Ident("b"),
                TokenKind::Or,
                TokenKind::Ident("c"),
                TokenKind::Comma,
                TokenKind::RParen,
            ]
        );
    }

    #[test]
    fn whitespace_of_all_kinds_is_skipped() {
        assert_eq!(
            tokens("\tHost\n(\r\n`a`  )\u{a0}").unwrap(),
            vec![
                TokenKind::Ident("Host"),
                TokenKind::LParen,
                TokenKind::Str("a".into()),
                TokenKind::RParen,
            ]
        );
    }

    #[test]
    fn token_positions_are_byte_offsets() {
        let mut lexer = Lexer::new("é && `x`");
        assert_eq!(lexer.next_token().unwrap().position, 0);
        assert_eq!(lexer.next_token().unwrap().position, 3);
        assert_eq!(lexer.next_token().unwrap().position, 6);
        assert_eq!(lexer.next_token().unwrap().position, 9);
    }

    #[test]
    fn every_go_escape() {
        let cases = [
            (r#""\a""#, "\u{07}"),
            (r#""\b""#, "\u{08}"),
            (r#""\f""#, "\u{0C}"),
            (r#""\n""#, "\n"),
            (r#""\r""#, "\r"),
            (r#""\t""#, "\t"),
            (r#""\v""#, "\u{0B}"),
            (r#""\\""#, "\\"),
            (r#""\"""#, "\""),
            (r#""\x41\x7e""#, "A~"),
            (r#""\xc3\xa9""#, "é"),
            (r#""\101\176""#, "A~"),
            (r#""\303\251""#, "é"),
            (r#""\000""#, "\0"),
            (r#""\u00e9\u2603""#, "é☃"),
            (r#""\U0001F9AD""#, "🦭"),
            (r#""a\tb\\c""#, "a\tb\\c"),
            (r#""plain é""#, "plain é"),
        ];
        for (literal, expected) in cases {
            assert_eq!(string(literal).unwrap(), expected, "{literal}");
        }
    }

    #[test]
    fn invalid_escapes_are_errors() {
        let cases = [
            (r#""\q""#, "sequence \\q in"),
            (r#""\'""#, "sequence \\' in"),
            (r#""\x4""#, "\\x needs exactly 2"),
            (r#""\xZZ""#, "\\x needs exactly 2"),
            (r#""\18""#, "3 octal digits"),
            (r#""\400""#, "greater than 255"),
            (r#""\u12""#, "\\u needs exactly 4"),
            (r#""\U0000004""#, "\\U needs exactly 8"),
            (r#""\uD800""#, "not a valid Unicode code point"),
            (r#""\U00110000""#, "not a valid Unicode code point"),
            (r#""\xff""#, "not valid UTF-8"),
        ];
        for (literal, fragment) in cases {
            let err = string(literal).unwrap_err();
            assert!(
                err.message.contains(fragment),
                "{literal}: {:?} does not mention {fragment:?}",
                err.message
            );
        }
        let err = string(r#""ab\q""#).unwrap_err();
        assert_eq!(err.position, Some(3));
    }

    #[test]
    fn raw_strings_keep_backslashes_and_drop_carriage_returns() {
        assert_eq!(string(r"`\n\x41\\`").unwrap(), r"\n\x41\\");
        assert_eq!(string("`a\r\nb`").unwrap(), "a\nb");
        assert_eq!(string("`\"`").unwrap(), "\"");
    }

    #[test]
    fn unterminated_strings() {
        for literal in ["`abc", "\"abc", "\"abc\\", "\"a\nb\""] {
            let err = string(literal).unwrap_err();
            assert!(err.message.contains("unterminated"), "{literal}: {err:?}");
            assert_eq!(err.position, Some(0));
        }
    }

    #[test]
    fn single_quotes_and_stray_characters() {
        let err = tokens("Host('a')").unwrap_err();
        assert_eq!(err.position, Some(5));
        assert!(err.message.contains("single-quoted"));
        let err = tokens("a & b").unwrap_err();
        assert_eq!(err.position, Some(2));
        assert!(err.message.contains("\"&&\""));
        let err = tokens("a | b").unwrap_err();
        assert!(err.message.contains("\"||\""));
        let err = tokens("a == b").unwrap_err();
        assert!(err.message.contains("unexpected character \"=\""));
    }
}
