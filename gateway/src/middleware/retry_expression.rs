//! oxy's buffer retry expressions (`IsNetworkError() && Attempts() < 2`): vulcand/predicate's
//! Go-expression grammar with oxy's functions and operators, checked at configuration time.

/// What a sub-expression stands for, for oxy's type rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A condition (`IsNetworkError()`, a comparison, `&&`, `||`).
    Predicate,
    /// `Attempts()`, `ResponseCode()`.
    IntFunction,
    /// `RequestMethod()`.
    StringFunction,
    /// `2`.
    IntLiteral,
    /// `"GET"`.
    StringLiteral,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int,
    Str,
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            b'"' | b'`' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != c {
                    j += if bytes[j] == b'\\' && c == b'"' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return Err(format!("1:{}: string literal not terminated", i + 1));
                }
                tokens.push(Token::Str);
                i = j + 1;
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                tokens.push(Token::Int);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token::Ident(input[start..i].to_string()));
            }
            _ => {
                let rest = &input[i..];
                let op = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!"]
                    .into_iter()
                    .find(|op| rest.starts_with(op))
                    .ok_or_else(|| format!("1:{}: unsupported character {:?}", i + 1, c as char))?;
                tokens.push(Token::Op(op));
                i += op.len();
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    /// Go's binary operators, by precedence: `||` 1, `&&` 2, comparisons 3.
    fn binary(&mut self, level: u8) -> Result<Kind, String> {
        if level > 3 {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(Token::Op(op)) = self.peek().cloned() {
            let op_level = match op {
                "||" => 1,
                "&&" => 2,
                "!" => break,
                _ => 3,
            };
            if op_level != level {
                break;
            }
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = join(op, left, right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Kind, String> {
        match self.next() {
            Some(Token::Op("!")) => Err("unsupported operator: !".into()),
            Some(Token::Open) => {
                let inner = self.binary(1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("expected ')'".into()),
                }
            }
            Some(Token::Int) => Ok(Kind::IntLiteral),
            Some(Token::Str) => Ok(Kind::StringLiteral),
            Some(Token::Ident(name)) => {
                if self.peek() != Some(&Token::Open) {
                    return Err(format!("{name} is not defined"));
                }
                self.at += 1;
                let mut arguments = 0;
                while self.peek() != Some(&Token::Close) {
                    if arguments > 0 && self.next() != Some(Token::Comma) {
                        return Err("expected ')'".into());
                    }
                    self.binary(1)?;
                    arguments += 1;
                }
                self.at += 1;
                let kind = match name.as_str() {
                    "IsNetworkError" => Kind::Predicate,
                    "Attempts" | "ResponseCode" => Kind::IntFunction,
                    "RequestMethod" => Kind::StringFunction,
                    _ => return Err(format!("unsupported function: {name}")),
                };
                if arguments > 0 {
                    return Err(format!("expected 0 arguments for {name}, got {arguments}"));
                }
                Ok(kind)
            }
            Some(token) => Err(format!("unexpected {token:?}")),
            None => Err("unexpected end of the expression".into()),
        }
    }
}

/// oxy's operator functions: `&&`/`||` join conditions; `==`/`!=` compare a function with
/// a literal of its type; `<`, `>`, `<=`, `>=` compare an int function with an int.
fn join(op: &str, left: Kind, right: Kind) -> Result<Kind, String> {
    let valid = match op {
        "&&" | "||" => left == Kind::Predicate && right == Kind::Predicate,
        "==" | "!=" => matches!(
            (left, right),
            (Kind::IntFunction, Kind::IntLiteral) | (Kind::StringFunction, Kind::StringLiteral)
        ),
        _ => left == Kind::IntFunction && right == Kind::IntLiteral,
    };
    if valid {
        Ok(Kind::Predicate)
    } else {
        Err(format!("unsupported argument for {op}"))
    }
}

/// Checks `expression` as oxy's `buffer.Retry` option does, with its reason when refused.
pub fn check(expression: &str) -> Result<(), String> {
    let mut parser = Parser {
        tokens: tokenize(expression)?,
        at: 0,
    };
    let kind = parser.binary(1)?;
    if parser.at < parser.tokens.len() {
        return Err(format!("unexpected {:?}", parser.tokens[parser.at]));
    }
    if kind != Kind::Predicate {
        return Err(format!("expected predicate, got {kind:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_oxys_expressions() {
        for expression in [
            "IsNetworkError()",
            "IsNetworkError() && Attempts() < 2",
            "(ResponseCode() == 503 || IsNetworkError()) && Attempts() <= 3",
            "RequestMethod() == \"GET\" && ResponseCode() >= 500",
            "Attempts() != 2",
        ] {
            assert_eq!(check(expression), Ok(()), "{expression}");
        }
    }

    #[test]
    fn refuses_what_oxy_refuses() {
        for expression in [
            "",
            "Attempts()",
            "Unknown()",
            "!IsNetworkError()",
            "Attempts() < \"2\"",
            "RequestMethod() < \"GET\"",
            "2 > Attempts()",
            "IsNetworkError(1)",
            "IsNetworkError() &&",
            "foobar",
        ] {
            assert!(check(expression).is_err(), "{expression}");
        }
    }
}
