//! Compiles Go (RE2) regexp syntax with the `regex` crate, rewriting where the two differ.
//!
//! The `regex` crate accepts nearly the same language as Go's `regexp`; the rewrites keep
//! patterns meaning what they mean in Traefik:
//! - `{` that does not start a valid `{n}`, `{n,}` or `{n,m}` is a literal in Go (so the
//!   Traefik v2 style `{name:re}` compiles and matches literally); it is escaped. `}` too.
//! - `\d \w \s \b \B` (and negations) are ASCII-only in Go; they become ASCII classes.
//!   Go's `\s` is `[\t\n\f\r ]` (no `\v`).
//! - `\Q...\E` quoting (Go only) is expanded into escaped literals.
//! - Octal escapes `\0`, `\12`, `\123` (Go) become `\x{..}`.
//! - `\<` and `\>` are literals in Go but word boundaries in Rust; they become `<`, `>`.
//! - Inside classes, `[` (other than `[:name:]`), `&` and `~` are literals in Go but nest
//!   or form set operations in Rust; they are escaped.
//! - Flags other than `i m s U` and escapes Go does not know (`\e`, `\Z`, `\8`, ...) are
//!   rejected as Go rejects them; repetition counts above 1000 are rejected likewise.
//!
//! Remaining known differences: Go's `(?i)` uses simple case folding like Rust, `\pN`
//! tables may differ by Unicode version, and a `-` right after a range inside a class
//! (`[a-c-e]`) is handled by Rust's rules.

use std::fmt::Write;

use regex::Regex;

/// Go's maximum repetition count.
const MAX_REPEAT: u32 = 1000;

/// Compiles a Go regexp. The error is a one-line description.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|err| describe(&err))
}

/// The last meaningful line of a `regex` error (its first lines repeat the pattern).
fn describe(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or(text)
            .to_owned(),
        other => other.to_string(),
    }
}

const DIGIT: &str = "[0-9]";
const NOT_DIGIT: &str = "[^0-9]";
const WORD: &str = "[0-9A-Za-z_]";
const NOT_WORD: &str = "[^0-9A-Za-z_]";
const SPACE: &str = r"[\t\n\f\r ]";
const NOT_SPACE: &str = r"[^\t\n\f\r ]";

/// Rewrites a Go pattern into an equivalent `regex` crate pattern.
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if in_class {
            i = class_char(&chars, i, &mut out, &mut in_class)?;
            continue;
        }
        match c {
            '\\' => i = escape(&chars, i, false, &mut out)?,
            '[' => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening bracket is a literal in both dialects.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                in_class = true;
            }
            '{' => match repetition(&chars, i)? {
                Some(len) => {
                    out.extend(&chars[i..i + len]);
                    i += len;
                }
                None => {
                    out.push_str(r"\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '(' if chars.get(i + 1) == Some(&'?') => i = group(&chars, i, &mut out)?,
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    // An unclosed class is left for the regex crate to report.
    Ok(out)
}

/// Handles one character inside a class (clearing `in_class` at its end); returns the
/// next index.
fn class_char(
    chars: &[char],
    i: usize,
    out: &mut String,
    in_class: &mut bool,
) -> Result<usize, String> {
    match chars[i] {
        ']' => {
            out.push(']');
            *in_class = false;
            Ok(i + 1)
        }
        '[' if chars.get(i + 1) == Some(&':') => {
            // A POSIX class `[:name:]`; copied as is (both dialects know the same names).
            let rest: String = chars[i..].iter().collect();
            match rest.find(":]") {
                Some(end) if end >= 2 => {
                    let len = rest[..end + 2].chars().count();
                    out.extend(&chars[i..i + len]);
                    Ok(i + len)
                }
                _ => {
                    out.push_str(r"\[");
                    Ok(i + 1)
                }
            }
        }
        '[' | '&' | '~' => {
            out.push('\\');
            out.push(chars[i]);
            Ok(i + 1)
        }
        '\\' => escape(chars, i, true, out),
        other => {
            out.push(other);
            Ok(i + 1)
        }
    }
}

/// Translates the escape at `chars[i]` (a backslash); returns the next index.
fn escape(chars: &[char], i: usize, in_class: bool, out: &mut String) -> Result<usize, String> {
    let Some(&letter) = chars.get(i + 1) else {
        return Err("trailing backslash at end of expression".to_owned());
    };
    let next = i + 2;
    match letter {
        'd' => out.push_str(DIGIT),
        'D' => out.push_str(NOT_DIGIT),
        'w' => out.push_str(WORD),
        'W' => out.push_str(NOT_WORD),
        's' => out.push_str(SPACE),
        'S' => out.push_str(NOT_SPACE),
        'b' | 'B' | 'A' | 'z' if in_class => {
            return Err(format!(
                "invalid escape sequence: \\{letter} inside a class"
            ))
        }
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'A' | 'z' | 'a' | 'f' | 'n' | 'r' | 't' | 'v' => {
            out.push('\\');
            out.push(letter);
        }
        'p' | 'P' => {
            // `\pL` or `\p{Name}`: copied through.
            let end = if chars.get(next) == Some(&'{') {
                chars[next..]
                    .iter()
                    .position(|&c| c == '}')
                    .map(|p| next + p + 1)
                    .ok_or_else(|| {
                        format!("invalid character class range: \\{letter}{{ is not closed")
                    })?
            } else if next < chars.len() {
                next + 1
            } else {
                return Err(format!(
                    "invalid character class range: \\{letter} at end of expression"
                ));
            };
            out.extend(&chars[i..end]);
            return Ok(end);
        }
        'x' => {
            // `\xHH` or `\x{H...}`: same syntax in both dialects.
            let end = if chars.get(next) == Some(&'{') {
                chars[next..]
                    .iter()
                    .position(|&c| c == '}')
                    .map(|p| next + p + 1)
                    .ok_or_else(|| "invalid escape sequence: \\x{ is not closed".to_owned())?
            } else {
                next + 2
            };
            if end > chars.len() {
                return Err("invalid escape sequence: \\x needs two hexadecimal digits".to_owned());
            }
            out.extend(&chars[i..end]);
            return Ok(end);
        }
        '0'..='7' => {
            // Octal: `\0` plus up to two digits, or `\1`-`\7` followed by at least one more.
            if letter != '0' && !matches!(chars.get(next), Some('0'..='7')) {
                return Err(format!(
                    "invalid escape sequence: \\{letter} (backreferences are not supported)"
                ));
            }
            let mut value = letter.to_digit(8).unwrap_or(0);
            let mut end = next;
            while end < i + 4 {
                match chars.get(end).and_then(|c| c.to_digit(8)) {
                    Some(digit) => {
                        value = value * 8 + digit;
                        end += 1;
                    }
                    None => break,
                }
            }
            let _ = write!(out, r"\x{{{value:X}}}");
            return Ok(end);
        }
        'Q' if !in_class => {
            // Literal text up to `\E` or the end of the pattern.
            let body_start = next;
            let mut end = body_start;
            while end < chars.len() && !(chars[end] == '\\' && chars.get(end + 1) == Some(&'E')) {
                end += 1;
            }
            let literal: String = chars[body_start..end].iter().collect();
            out.push_str(&regex::escape(&literal));
            return Ok(if end < chars.len() { end + 2 } else { end });
        }
        '<' | '>' => out.push(letter),
        c if c.is_ascii_punctuation() || c == ' ' => {
            out.push('\\');
            out.push(c);
        }
        c => return Err(format!("invalid escape sequence: \\{c}")),
    }
    Ok(next)
}

/// If `chars[i..]` (starting at `{`) is a Go repetition `{n}`, `{n,}` or `{n,m}`, its
/// length; `None` if Go reads the brace as a literal.
fn repetition(chars: &[char], i: usize) -> Result<Option<usize>, String> {
    let mut j = i + 1;
    let number = |j: &mut usize| -> Option<u32> {
        let start = *j;
        while chars.get(*j).is_some_and(char::is_ascii_digit) {
            *j += 1;
        }
        if *j == start {
            return None;
        }
        let text: String = chars[start..*j].iter().collect();
        Some(text.parse().unwrap_or(u32::MAX))
    };
    let Some(min) = number(&mut j) else {
        return Ok(None);
    };
    let mut max = Some(min);
    if chars.get(j) == Some(&',') {
        j += 1;
        max = number(&mut j);
    }
    if chars.get(j) != Some(&'}') {
        return Ok(None);
    }
    if min > MAX_REPEAT || max.is_some_and(|max| max > MAX_REPEAT || max < min) {
        let text: String = chars[i..=j].iter().collect();
        return Err(format!("invalid repeat count: {text}"));
    }
    Ok(Some(j + 1 - i))
}

/// Copies a `(?...` group opener after checking it is valid Go syntax.
fn group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut j = i + 2;
    // Named groups: `(?P<name>` and `(?<name>`.
    let named = match chars.get(j) {
        Some('P') if chars.get(j + 1) == Some(&'<') => Some(j + 2),
        Some('<') => Some(j + 1),
        _ => None,
    };
    if let Some(name_start) = named {
        let close = chars[name_start..]
            .iter()
            .position(|&c| c == '>')
            .ok_or_else(|| "invalid named capture: missing '>'".to_owned())?;
        let end = name_start + close + 1;
        out.extend(&chars[i..end]);
        return Ok(end);
    }
    // Flags: `(?flags)` or `(?flags:`.
    while let Some(&c) = chars.get(j) {
        match c {
            'i' | 'm' | 's' | 'U' | '-' => j += 1,
            ')' | ':' => {
                out.extend(&chars[i..=j]);
                return Ok(j + 1);
            }
            other => {
                return Err(format!(
                    "invalid or unsupported Perl syntax: flag {other:?} (Go allows i, m, s and U)"
                ))
            }
        }
    }
    Err("missing closing ): unterminated group flags".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    #[test]
    fn plain_patterns_are_unchanged() {
        for pattern in [
            r"^/(css|js)",
            r"^[a-zA-Z-]+\.com$",
            r"(?i)abc",
            r"(?P<x>a)(?<y>b)",
            r"a{2}b{1,}c{0,3}",
            r"[[:alpha:]]+",
            r"\pL\p{Greek}",
            r"\x41\x{263a}",
        ] {
            assert_eq!(translate(pattern).unwrap(), pattern);
            compile(pattern).unwrap();
        }
    }

    #[test]
    fn v2_style_braces_are_literals() {
        assert!(is_match(
            r"{domain:[a-zA-Z-]+\.com}",
            "{domain:example.com}"
        ));
        assert!(!is_match(r"{domain:[a-zA-Z-]+\.com}", "example.com"));
        assert!(is_match("http{secure:s?}", "http{secure:}"));
        assert!(is_match("http{secure:s?}", "http{secure:s}"));
        assert!(!is_match("http{secure:s?}", "https"));
        assert!(is_match("a{,2}", "a{,2}"));
        assert!(is_match("^a{2}$", "aa"));
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(!is_match(r"^\w$", "é"));
        assert!(is_match(r"^\W$", "é"));
        assert!(!is_match(r"^\s$", "\u{0B}"));
        assert!(is_match(r"^[\d\s]+$", "1 2"));
        assert!(is_match(r"^[^\d]$", "x"));
        assert!(is_match(r"\bfoo\b", "a foo b"));
        // Go's \b is ASCII-only: no boundary between "é" and the end of text.
        assert!(!is_match(r"é\b", "é"));
        assert!(regex::Regex::new(r"é\b").unwrap().is_match("é"));
    }

    #[test]
    fn quoting_octal_and_angle_brackets() {
        assert!(is_match(r"^\Q*.+\E$", "*.+"));
        assert!(is_match(r"^\Qa.b", "a.b"));
        assert!(!is_match(r"^\Qa.b", "axb"));
        assert!(is_match(r"^\101\0$", "A\0"));
        assert!(is_match(r"^\12$", "\n"));
        assert!(is_match(r"\<b\>", "<b>"));
        assert!(is_match(r"^\.\-\!$", ".-!"));
    }

    #[test]
    fn class_literals_that_rust_would_treat_as_operators() {
        assert!(is_match(r"^[a[b]+$", "a[b"));
        assert!(is_match(r"^[a&&b]+$", "a&&b"));
        assert!(is_match(r"^[~~]$", "~"));
        assert!(is_match(r"^[]a]+$", "]a"));
        assert!(is_match(r"^[^]a]$", "b"));
    }

    #[test]
    fn go_errors_are_errors() {
        for pattern in [
            "(css", r"\e", r"\Z", r"\8", r"\1", "a{1001}", "a{3,2}", "(?x)a", r"\", "[a", "*a",
        ] {
            assert!(compile(pattern).is_err(), "{pattern} should not compile");
        }
        assert_eq!(compile("(css").unwrap_err(), "unclosed group");
    }
}
