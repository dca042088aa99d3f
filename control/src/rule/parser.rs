//! Recursive-descent parser: rule text to a compiled [`Expr`], with positioned errors.
//!
//! Grammar (whitespace allowed between any tokens; `!` binds tighter than `&&`, which
//! binds tighter than `||`):
//!
//! ```text
//! or      = and { "||" and }
//! and     = unary { "&&" unary }
//! unary   = "!" unary | primary
//! primary = "(" or ")" | NAME "(" [ STRING { "," STRING } [ "," ] ] ")"
//! ```
//!
//! Traefik parses rules as Go expressions, so a trailing comma after the last argument is
//! accepted, as Go accepts it in calls.

use super::error::ParseError;
use super::expr::Expr;
use super::lexer::{Lexer, Token, TokenKind};
use super::matcher::{title_case, Arg, Kind, Matcher};

/// Parses and compiles a whole rule.
pub(crate) fn parse(source: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(source)?;
    if parser.current.kind == TokenKind::Eof {
        return Err(ParseError::at(
            0,
            "empty rule, expected a matcher such as Host(`example.com`)",
        ));
    }
    let expr = parser.or()?;
    let token = &parser.current;
    match &token.kind {
        TokenKind::Eof => Ok(expr),
        TokenKind::RParen => Err(ParseError::at(
            token.position,
            "unexpected \")\" without a matching \"(\"",
        )),
        other => Err(ParseError::at(
            token.position,
            format!(
                "unexpected {} after a complete expression, expected \"&&\" or \"||\"",
                other.describe()
            ),
        )),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token<'a>,
    /// The text of the token consumed last, for "expected ... after" messages.
    previous: &'static str,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Result<Self, ParseError> {
        let mut lexer = Lexer::new(source);
        let current = lexer.next_token()?;
        Ok(Parser {
            lexer,
            current,
            previous: "",
        })
    }

    /// Consumes the current token, remembering how to name it.
    fn advance(&mut self, name: &'static str) -> Result<Token<'a>, ParseError> {
        let next = self.lexer.next_token()?;
        self.previous = name;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.and()?;
        while self.current.kind == TokenKind::Or {
            self.advance("||")?;
            expr = Expr::or(expr, self.and()?);
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.unary()?;
        while self.current.kind == TokenKind::And {
            self.advance("&&")?;
            expr = Expr::and(expr, self.unary()?);
        }
        Ok(expr)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.current.kind == TokenKind::Not {
            self.advance("!")?;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let position = self.current.position;
        match self.current.kind {
            TokenKind::LParen => {
                self.advance("(")?;
                let expr = self.or()?;
                if self.current.kind != TokenKind::RParen {
                    return Err(ParseError::at(
                        self.current.position,
                        format!(
                            "expected \")\" to close the \"(\" at position {position}, found {}",
                            self.current.kind.describe()
                        ),
                    ));
                }
                self.advance(")")?;
                Ok(expr)
            }
            TokenKind::Ident(name) => {
                self.advance("matcher name")?;
                self.call(name, position)
            }
            ref other => {
                let found = other.describe();
                let message = if self.previous.is_empty() {
                    format!("expected a matcher, found {found}")
                } else if *other == TokenKind::Eof {
                    format!("expected a matcher after \"{}\"", self.previous)
                } else {
                    format!(
                        "expected a matcher after \"{}\", found {found}",
                        self.previous
                    )
                };
                Err(ParseError::at(position, message))
            }
        }
    }

    /// The argument list and compilation of the matcher `name` found at `position`.
    fn call(&mut self, name: &str, position: usize) -> Result<Expr, ParseError> {
        let Some(kind) = Kind::lookup(name) else {
            let hint = match Kind::suggest(name) {
                Some(canonical) => format!(
                    " (names are accepted as {canonical}, {}, {} or {})",
                    canonical.to_ascii_lowercase(),
                    canonical.to_ascii_uppercase(),
                    title_case(canonical)
                ),
                None => String::new(),
            };
            return Err(ParseError::at(
                position,
                format!("unknown matcher {name:?}{hint}"),
            ));
        };
        let matcher_name = kind.name();
        let open = self.current.position;
        if self.current.kind != TokenKind::LParen {
            return Err(ParseError::at(
                open,
                format!(
                    "expected \"(\" after matcher {matcher_name}, found {}",
                    self.current.kind.describe()
                ),
            ));
        }
        self.advance("(")?;

        let mut args = Vec::new();
        loop {
            let token_position = self.current.position;
            match &mut self.current.kind {
                TokenKind::RParen => break,
                TokenKind::Str(value) => {
                    let value = std::mem::take(value);
                    args.push(Arg {
                        value,
                        position: token_position,
                    });
                    self.advance("argument")?;
                }
                TokenKind::Eof => {
                    return Err(ParseError::at(
                        token_position,
                        format!(
                            "missing \")\" to close the arguments of {matcher_name} opened at position {open}"
                        ),
                    ))
                }
                other => {
                    return Err(ParseError::at(
                        token_position,
                        format!(
                            "matcher {matcher_name}: expected an argument quoted with backticks or double quotes, found {}",
                            other.describe()
                        ),
                    ))
                }
            }
            match self.current.kind {
                TokenKind::Comma => {
                    self.advance(",")?;
                }
                TokenKind::RParen => break,
                TokenKind::Eof => continue,
                ref other => {
                    return Err(ParseError::at(
                        self.current.position,
                        format!(
                            "matcher {matcher_name}: expected \",\" or \")\" after an argument, found {}",
                            other.describe()
                        ),
                    ))
                }
            }
        }
        self.advance(")")?;
        Ok(Expr::Leaf(Matcher::build(kind, position, args)?))
    }
}
