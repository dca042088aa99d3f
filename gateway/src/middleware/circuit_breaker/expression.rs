//! The circuit breaker's trip condition: oxy's predicate language (a Go expression of metric
//! calls compared with literals, joined by `&&` and `||`), parsed and type-checked once.

use super::metrics::Metrics;

/// A metric the condition reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// `NetworkErrorRatio()`: the share of 502 and 504 answers (a float).
    NetworkErrorRatio,
    /// `ResponseCodeRatio(from, to, dividendFrom, dividendTo)`: answers with a status in
    /// `[from, to)` over answers with one in `[dividendFrom, dividendTo)` (a float).
    ResponseCodeRatio(i64, i64, i64, i64),
    /// `LatencyAtQuantileMS(q)`: the latency at percentile `q` (0 to 100), whole ms (an int).
    LatencyAtQuantileMs(f64),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The literal a metric is compared with: an int for latencies, a float for ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    /// A Go int literal.
    Int(i64),
    /// A Go float literal.
    Float(f64),
}

/// A parsed trip condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A metric compared with a literal.
    Compare(Metric, Comparison, Literal),
    /// Both hold (the right side is evaluated only when the left holds).
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
}

impl Condition {
    /// Whether the condition holds on `metrics` at `now` (nanoseconds).
    pub fn holds(&self, metrics: &mut Metrics, now: u64) -> bool {
        match self {
            Condition::And(a, b) => a.holds(metrics, now) && b.holds(metrics, now),
            Condition::Or(a, b) => a.holds(metrics, now) || b.holds(metrics, now),
            Condition::Compare(metric, op, literal) => match (metric, literal) {
                (Metric::LatencyAtQuantileMs(q), Literal::Int(value)) => {
                    let ms = (metrics.latency_at_quantile_us(*q) / 1000) as i64;
                    compare(op, ms.cmp(value))
                }
                (Metric::NetworkErrorRatio, Literal::Float(value)) => {
                    compare_float(op, metrics.network_error_ratio(now), *value)
                }
                (&Metric::ResponseCodeRatio(a, b, c, d), Literal::Float(value)) => {
                    compare_float(op, metrics.response_code_ratio(now, a, b, c, d), *value)
                }
                // Ruled out by the parser's type check.
                _ => false,
            },
        }
    }
}

fn compare(op: &Comparison, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Comparison::Eq => ordering == Equal,
        Comparison::Ne => ordering != Equal,
        Comparison::Lt => ordering == Less,
        Comparison::Le => ordering != Greater,
        Comparison::Gt => ordering == Greater,
        Comparison::Ge => ordering != Less,
    }
}

/// Float comparisons as oxy's (`<=` is `<` or `==`, the same for floats).
fn compare_float(op: &Comparison, metric: f64, value: f64) -> bool {
    match op {
        Comparison::Eq => metric == value,
        Comparison::Ne => metric != value,
        Comparison::Lt => metric < value,
        Comparison::Le => metric <= value,
        Comparison::Gt => metric > value,
        Comparison::Ge => metric >= value,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(String),
    Float(String),
    /// A string, char or imaginary literal: valid Go, never a valid argument here.
    OtherLiteral(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
    End,
}

/// Go's binary operators by precedence (5 binds tightest), the longest spelling first.
const OPERATORS: &[(&str, u8)] = &[
    ("&^", 5),
    ("&&", 2),
    ("||", 1),
    ("==", 3),
    ("!=", 3),
    ("<=", 3),
    (">=", 3),
    ("<<", 5),
    (">>", 5),
    ("<", 3),
    (">", 3),
    ("+", 4),
    ("-", 4),
    ("|", 4),
    ("^", 4),
    ("*", 5),
    ("/", 5),
    ("%", 5),
    ("&", 5),
    ("!", 0),
];

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, String> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push((start, Token::Ident(input[start..i].to_string())));
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut float = false;
            while i < bytes.len() {
                let b = bytes[i];
                let hex = input[start..i].starts_with("0x") || input[start..i].starts_with("0X");
                let exponent_sign =
                    (b == b'+' || b == b'-') && matches!(bytes[i - 1], b'e' | b'E') && !hex;
                if b == b'.' || (matches!(b, b'e' | b'E') && !hex) {
                    float = true;
                } else if !(b.is_ascii_alphanumeric() || b == b'_' || exponent_sign) {
                    break;
                }
                i += 1;
            }
            let text = input[start..i].to_string();
            let token = if text.ends_with('i') {
                Token::OtherLiteral(text)
            } else if float {
                Token::Float(text)
            } else {
                Token::Int(text)
            };
            tokens.push((start, token));
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                if bytes[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            if i >= bytes.len() {
                return Err(format!("{}: literal not terminated", position(start)));
            }
            i += 1;
            tokens.push((start, Token::OtherLiteral(input[start..i].to_string())));
            continue;
        }
        let token = match c {
            b'(' => Token::Open,
            b')' => Token::Close,
            b',' => Token::Comma,
            _ => match OPERATORS.iter().find(|(op, _)| input[i..].starts_with(op)) {
                Some((op, _)) => Token::Op(op),
                None => {
                    let ch = input[i..].chars().next().unwrap_or('?');
                    return Err(format!("{}: illegal character {ch:?}", position(start)));
                }
            },
        };
        i += match &token {
            Token::Op(op) => op.len(),
            _ => 1,
        };
        tokens.push((start, token));
    }
    tokens.push((input.len(), Token::End));
    Ok(tokens)
}

/// Go's `line:column` of a byte offset (expressions are one line).
fn position(offset: usize) -> String {
    format!("1:{}", offset + 1)
}

/// An untyped expression, as Go's parser would produce it.
#[derive(Debug)]
enum Expr {
    Call(String, Vec<Expr>),
    Int(String),
    Float(String),
    Other(String),
    Ident(String),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// A unary operator (its operand is parsed, never used: none is supported).
    Unary(&'static str),
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next].1
    }

    fn bump(&mut self) -> (usize, Token) {
        let token = self.tokens[self.next].clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn unexpected(&self, wanted: &str) -> String {
        let (at, token) = &self.tokens[self.next];
        let found = match token {
            Token::End => "EOF".to_string(),
            Token::Ident(s) | Token::Int(s) | Token::Float(s) | Token::OtherLiteral(s) => s.clone(),
            Token::Op(op) => op.to_string(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Comma => ",".into(),
        };
        format!("{}: expected {wanted}, found '{found}'", position(*at))
    }

    fn binary(&mut self, min_precedence: u8) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let Token::Op(op) = *self.peek() else {
                return Ok(left);
            };
            let precedence = precedence(op);
            if precedence < min_precedence || precedence == 0 {
                return Ok(left);
            }
            self.bump();
            let right = self.binary(precedence + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if let Token::Op(op @ ("!" | "-" | "+" | "^" | "&" | "*")) = *self.peek() {
            self.bump();
            self.unary()?;
            return Ok(Expr::Unary(op));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let expr = match self.peek().clone() {
            Token::Open => {
                self.bump();
                let inner = self.binary(1)?;
                if *self.peek() != Token::Close {
                    return Err(self.unexpected("')'"));
                }
                self.bump();
                inner
            }
            Token::Ident(name) => {
                self.bump();
                Expr::Ident(name)
            }
            Token::Int(text) => {
                self.bump();
                Expr::Int(text)
            }
            Token::Float(text) => {
                self.bump();
                Expr::Float(text)
            }
            Token::OtherLiteral(text) => {
                self.bump();
                Expr::Other(text)
            }
            _ => return Err(self.unexpected("operand")),
        };
        if *self.peek() != Token::Open {
            return Ok(expr);
        }
        self.bump();
        let mut arguments = Vec::new();
        while *self.peek() != Token::Close {
            arguments.push(self.binary(1)?);
            match self.peek() {
                Token::Comma => {
                    self.bump();
                }
                Token::Close => {}
                _ => return Err(self.unexpected("')'")),
            }
        }
        self.bump();
        let Expr::Ident(name) = expr else {
            return Err(format!("expected identifier, got: {expr:?}"));
        };
        Ok(Expr::Call(name, arguments))
    }
}

fn precedence(op: &str) -> u8 {
    OPERATORS
        .iter()
        .find(|(o, _)| *o == op)
        .map_or(0, |(_, p)| *p)
}

/// What a sub-expression evaluates to, for the type check.
enum Typed {
    Condition(Condition),
    Metric(Metric),
    Literal(Literal),
}

fn literal(expr: &Expr) -> Result<Literal, String> {
    match expr {
        Expr::Int(text) => text
            .parse::<i64>()
            .map(Literal::Int)
            .map_err(|e| format!("failed to parse argument: {text}, error: {e}")),
        Expr::Float(text) => text
            .replace('_', "")
            .parse::<f64>()
            .map(Literal::Float)
            .map_err(|e| format!("failed to parse argument: {text}, error: {e}")),
        Expr::Other(text) => Err(format!(
            "unsupported argument {text}: only int and float literals are"
        )),
        Expr::Ident(name) => Err(format!("{name} is not defined")),
        _ => Err("function arguments must be literals".into()),
    }
}

fn typed(expr: &Expr) -> Result<Typed, String> {
    match expr {
        Expr::Binary(op, left, right) => {
            let (left, right) = (typed(left)?, typed(right)?);
            join(op, left, right)
        }
        Expr::Unary(op) => Err(format!("{op} is not supported")),
        Expr::Call(name, arguments) => call(name, arguments).map(Typed::Metric),
        other => literal(other).map(Typed::Literal),
    }
}

fn call(name: &str, arguments: &[Expr]) -> Result<Metric, String> {
    let literals = arguments
        .iter()
        .map(literal)
        .collect::<Result<Vec<_>, _>>()?;
    let count = |wanted: usize| {
        if literals.len() == wanted {
            Ok(())
        } else {
            Err(format!(
                "{name} takes {wanted} argument(s), got {}",
                literals.len()
            ))
        }
    };
    match name {
        "NetworkErrorRatio" => count(0).map(|()| Metric::NetworkErrorRatio),
        "LatencyAtQuantileMS" => {
            count(1)?;
            match literals[0] {
                Literal::Float(q) => Ok(Metric::LatencyAtQuantileMs(q)),
                Literal::Int(_) => {
                    Err("LatencyAtQuantileMS takes a float quantile (write 50.0, not 50)".into())
                }
            }
        }
        "ResponseCodeRatio" => {
            count(4)?;
            let mut codes = [0; 4];
            for (code, literal) in codes.iter_mut().zip(&literals) {
                match literal {
                    Literal::Int(value) => *code = *value,
                    Literal::Float(_) => {
                        return Err("ResponseCodeRatio takes four int status codes".into())
                    }
                }
            }
            Ok(Metric::ResponseCodeRatio(
                codes[0], codes[1], codes[2], codes[3],
            ))
        }
        _ => Err(format!("unsupported function: {name}")),
    }
}

fn join(op: &'static str, left: Typed, right: Typed) -> Result<Typed, String> {
    let comparison = match op {
        "&&" | "||" => {
            let (Typed::Condition(a), Typed::Condition(b)) = (left, right) else {
                return Err(format!("{op} joins conditions (comparisons), not values"));
            };
            let (a, b) = (Box::new(a), Box::new(b));
            return Ok(Typed::Condition(if op == "&&" {
                Condition::And(a, b)
            } else {
                Condition::Or(a, b)
            }));
        }
        "==" => Comparison::Eq,
        "!=" => Comparison::Ne,
        "<" => Comparison::Lt,
        "<=" => Comparison::Le,
        ">" => Comparison::Gt,
        ">=" => Comparison::Ge,
        _ => return Err(format!("{op} is not supported")),
    };
    let Typed::Metric(metric) = left else {
        return Err(format!(
            "{op}: the left side must be a metric function call (NetworkErrorRatio(), ...)"
        ));
    };
    let Typed::Literal(literal) = right else {
        return Err(format!("{op}: the right side must be a number literal"));
    };
    match (metric, literal) {
        (Metric::LatencyAtQuantileMs(_), Literal::Float(_)) => {
            Err("LatencyAtQuantileMS is compared with an int (milliseconds), got a float".into())
        }
        (Metric::LatencyAtQuantileMs(_), Literal::Int(_)) => Ok(Typed::Condition(
            Condition::Compare(metric, comparison, literal),
        )),
        (_, Literal::Int(_)) => {
            Err("ratios are compared with a float (write 0.5 or 1.0), got an int".into())
        }
        (_, Literal::Float(_)) => Ok(Typed::Condition(Condition::Compare(
            metric, comparison, literal,
        ))),
    }
}

/// Parses a trip condition; the error says what is wrong with it.
pub fn parse(input: &str) -> Result<Condition, String> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        next: 0,
    };
    let expr = parser.binary(1)?;
    if *parser.peek() != Token::End {
        return Err(parser.unexpected("EOF"));
    }
    match typed(&expr)? {
        Typed::Condition(condition) => Ok(condition),
        Typed::Metric(_) => Err("expected predicate, got a metric: compare it (e.g. > 0.5)".into()),
        Typed::Literal(_) => Err("expected predicate, got a literal".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(metric: Metric, op: Comparison, literal: Literal) -> Condition {
        Condition::Compare(metric, op, literal)
    }

    #[test]
    fn parses_comparisons_of_each_metric() {
        assert_eq!(
            parse("NetworkErrorRatio() > 0.5").unwrap(),
            cmp(
                Metric::NetworkErrorRatio,
                Comparison::Gt,
                Literal::Float(0.5)
            )
        );
        assert_eq!(
            parse("ResponseCodeRatio(500, 600, 0, 600) >= .25").unwrap(),
            cmp(
                Metric::ResponseCodeRatio(500, 600, 0, 600),
                Comparison::Ge,
                Literal::Float(0.25)
            )
        );
        assert_eq!(
            parse("LatencyAtQuantileMS(50.0) != 100").unwrap(),
            cmp(
                Metric::LatencyAtQuantileMs(50.0),
                Comparison::Ne,
                Literal::Int(100)
            )
        );
        for (text, op) in [
            ("==", Comparison::Eq),
            ("<", Comparison::Lt),
            ("<=", Comparison::Le),
            (">", Comparison::Gt),
        ] {
            let parsed = parse(&format!("NetworkErrorRatio(){text}1e-1")).unwrap();
            assert_eq!(
                parsed,
                cmp(Metric::NetworkErrorRatio, op, Literal::Float(0.1))
            );
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let a = || {
            cmp(
                Metric::NetworkErrorRatio,
                Comparison::Gt,
                Literal::Float(0.5),
            )
        };
        let b = || {
            cmp(
                Metric::LatencyAtQuantileMs(99.0),
                Comparison::Gt,
                Literal::Int(10),
            )
        };
        let c = || {
            cmp(
                Metric::ResponseCodeRatio(500, 600, 0, 600),
                Comparison::Gt,
                Literal::Float(0.1),
            )
        };
        let text_a = "NetworkErrorRatio() > 0.5";
        let text_b = "LatencyAtQuantileMS(99.0) > 10";
        let text_c = "ResponseCodeRatio(500, 600, 0, 600) > 0.1";
        assert_eq!(
            parse(&format!("{text_a} || {text_b} && {text_c}")).unwrap(),
            Condition::Or(
                Box::new(a()),
                Box::new(Condition::And(Box::new(b()), Box::new(c())))
            )
        );
        assert_eq!(
            parse(&format!("({text_a} || {text_b}) && {text_c}")).unwrap(),
            Condition::And(
                Box::new(Condition::Or(Box::new(a()), Box::new(b()))),
                Box::new(c())
            )
        );
    }

    #[test]
    fn refuses_what_oxy_refuses() {
        for (text, needle) in [
            ("", "1:1: expected operand, found 'EOF'"),
            ("NetworkErrorRatio() >", "expected operand, found 'EOF'"),
            ("(NetworkErrorRatio() > 0.5", "expected ')'"),
            ("NetworkErrorRatio() > 0.5)", "expected EOF, found ')'"),
            ("NetworkErrorRatio()", "expected predicate"),
            ("NetworkErrorRatio() > 1", "compared with a float"),
            ("LatencyAtQuantileMS(50) > 1", "takes a float quantile"),
            ("LatencyAtQuantileMS(50.0) > 1.5", "compared with an int"),
            (
                "ResponseCodeRatio(500, 600, 0) > 0.5",
                "takes 4 argument(s), got 3",
            ),
            ("Foo() > 0.5", "unsupported function: Foo"),
            ("!(NetworkErrorRatio() > 0.5)", "! is not supported"),
            ("NetworkErrorRatio() > -0.5", "- is not supported"),
            ("NetworkErrorRatio() + 0.5", "+ is not supported"),
            ("0.5 < NetworkErrorRatio()", "left side must be a metric"),
            ("NetworkErrorRatio() > x", "x is not defined"),
            ("NetworkErrorRatio() > \"a\"", "unsupported argument"),
            (
                "NetworkErrorRatio() > 0.5 > 0.1",
                "left side must be a metric",
            ),
            ("NetworkErrorRatio() && 0.5", "joins conditions"),
            ("NetworkErrorRatio() > 0.5 $", "illegal character '$'"),
            (
                "LatencyAtQuantileMS(50.0) > 0x10",
                "failed to parse argument: 0x10",
            ),
            ("NetworkErrorRatio() > 2i", "unsupported argument 2i"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }
}
