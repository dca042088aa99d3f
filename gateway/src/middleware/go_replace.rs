//! Go's `Regexp.ReplaceAllString`: every match replaced by a template with `$1`, `${1}`,
//! `$name`, `${name}` and `$$`, with Go's rules for names, empty matches and malformed `$`.

use regex::{Captures, Regex};

/// Compiles a Go regexp (the rule language's translation to the `regex` crate).
pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    control::rule::go_regex::compile(pattern)
}

/// `regex.ReplaceAllString(src, template)` as Go computes it.
pub(super) fn replace_all(regex: &Regex, src: &str, template: &str) -> String {
    let mut out = String::with_capacity(src.len() + template.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(captures) = regex.captures_at(src, search) else {
            break;
        };
        let whole = captures.get(0).expect("group 0 is the match");
        out.push_str(&src[last_end..whole.start()]);
        // No replacement for an empty match right after the previous match (Go's rule).
        if whole.end() > last_end || whole.start() == 0 {
            expand(regex, &captures, template, &mut out);
        }
        last_end = whole.end();
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        search = if search + width > whole.end() {
            search + width
        } else if search + 1 > whole.end() {
            search + 1
        } else {
            whole.end()
        };
    }
    out.push_str(&src[last_end..]);
    out
}

/// Go's `Regexp.expand` of `template` for one match.
fn expand(regex: &Regex, captures: &Captures<'_>, mut template: &str, out: &mut String) {
    while let Some(dollar) = template.find('$') {
        out.push_str(&template[..dollar]);
        template = &template[dollar + 1..];
        if let Some(rest) = template.strip_prefix('$') {
            out.push('$');
            template = rest;
            continue;
        }
        let Some((name, rest)) = extract(template) else {
            out.push('$');
            continue;
        };
        template = rest;
        let group = match group_number(name) {
            Some(index) => captures.get(index),
            None => regex
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|index| captures.get(index)),
        };
        if let Some(group) = group {
            out.push_str(group.as_str());
        }
    }
    out.push_str(template);
}

/// Go's `extract`: the name after a `$` (`name` or `{name}`) and the text after it.
fn extract(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let rest = body[end..].strip_prefix('}')?;
        return Some((name, rest));
    }
    Some((name, &body[end..]))
}

/// The group number a name stands for: ASCII digits, no leading zero, below 10^8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse().ok().filter(|&n: &usize| n < 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(pattern: &str, src: &str, template: &str) -> String {
        replace_all(&compile(pattern).unwrap(), src, template)
    }

    #[test]
    fn numbered_and_named_groups_expand() {
        assert_eq!(replace(r"^/(\w+)/(\d+)$", "/a/12", "/$2/${1}"), "/12/a");
        assert_eq!(replace(r"^/(?P<id>\d+)$", "/7", "/x/${id}/$id"), "/x/7/7");
    }

    #[test]
    fn go_template_edge_cases() {
        // `$1x` names a group `1x`, which does not exist: empty.
        assert_eq!(replace(r"(a)", "a", "$1x"), "");
        assert_eq!(replace(r"(a)", "a", "$$1"), "$1");
        assert_eq!(replace(r"(a)", "a", "$/"), "$/");
        assert_eq!(replace(r"(a)", "a", "${1-}"), "${1-}");
        assert_eq!(replace(r"(a)", "a", "$01"), "");
        assert_eq!(replace(r"(a)", "a", "$9"), "");
        assert_eq!(replace(r"(?P<n>a)", "a", "$n$"), "a$");
        assert_eq!(replace(r"(a)|b", "ab", "[$1]"), "[a][]");
        assert_eq!(replace(r"(a)", "a", "${}"), "${}");
        assert_eq!(replace(r"(a)", "a", "$1$2"), "a");
    }

    #[test]
    fn every_match_is_replaced_and_empty_matches_follow_go() {
        assert_eq!(replace("a", "banana", "o"), "bonono");
        assert_eq!(replace("a*", "baaac", "-"), "-b-c-");
        assert_eq!(replace("", "ab", "-"), "-a-b-");
        assert_eq!(replace("x*", "é", "-"), "-é-");
    }
}
