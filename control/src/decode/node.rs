//! The generic configuration tree every source (YAML, TOML, CLI flags, Consul KV) is read into.

use std::fmt::Write as _;

/// One value of a configuration tree, before it is typed.
///
/// Every scalar is kept as text, as Traefik's own loaders do: the typed decode parses
/// `"42"` as a number, `"true"` as a boolean and `"1m"` as a duration wherever the field
/// wants one, so YAML, TOML, flags and KV values behave the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An explicit empty value (`key:` in YAML).
    Null,
    /// Text, a number or a boolean, as text.
    Scalar(String),
    /// An ordered list.
    List(Vec<Node>),
    /// Named children in the order they were written; names keep their case.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// An empty map.
    pub fn empty_map() -> Self {
        Node::Map(Vec::new())
    }

    /// Child of a map whose name equals `name` ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, node)| node),
            _ => None,
        }
    }

    /// Short name of the node's shape, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "an empty value",
            Node::Scalar(_) => "a single value",
            Node::List(_) => "a list",
            Node::Map(_) => "a map",
        }
    }

    /// Sets the value at `path` (map names, created as needed, matched ignoring case),
    /// replacing whatever was there. A non-map in the way is replaced by a map.
    pub fn set_path<S: AsRef<str>>(&mut self, path: &[S], value: Node) {
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return;
        };
        if !matches!(self, Node::Map(_)) {
            *self = Node::empty_map();
        }
        let Node::Map(entries) = self else {
            unreachable!("just made a map")
        };
        let name = first.as_ref();
        let index = match entries
            .iter()
            .position(|(key, _)| key.eq_ignore_ascii_case(name))
        {
            Some(index) => index,
            None => {
                entries.push((name.to_string(), Node::Null));
                entries.len() - 1
            }
        };
        entries[index].1.set_path(rest, value);
    }

    /// Lays `overlay` over `self`: maps merge recursively (names matched ignoring case),
    /// anything else in the overlay replaces what was there.
    pub fn merge(&mut self, overlay: Node) {
        match (self, overlay) {
            (Node::Map(base), Node::Map(over)) => {
                for (key, value) in over {
                    match base.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                        Some((_, existing)) => existing.merge(value),
                        None => base.push((key, value)),
                    }
                }
            }
            (slot, overlay) => *slot = overlay,
        }
    }
}

/// Reads a YAML document into a tree. Errors name the line and column.
pub fn from_yaml_str(text: &str) -> Result<Node, String> {
    if text.trim().is_empty() {
        return Ok(Node::empty_map());
    }
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let mut message = String::from("invalid YAML");
        if let Some(at) = e.location() {
            let _ = write!(message, " at line {}, column {}", at.line(), at.column());
        }
        let _ = write!(message, ": {e}");
        message
    })?;
    Ok(from_yaml_value(value))
}

fn from_yaml_value(value: serde_yaml::Value) -> Node {
    use serde_yaml::Value;
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Scalar(b.to_string()),
        Value::Number(n) => Node::Scalar(n.to_string()),
        Value::String(s) => Node::Scalar(s),
        Value::Sequence(items) => Node::List(items.into_iter().map(from_yaml_value).collect()),
        Value::Mapping(map) => Node::Map(
            map.into_iter()
                .map(|(k, v)| (yaml_key(k), from_yaml_value(v)))
                .collect(),
        ),
        Value::Tagged(tagged) => from_yaml_value(tagged.value),
    }
}

fn yaml_key(key: serde_yaml::Value) -> String {
    match from_yaml_value(key) {
        Node::Scalar(s) => s,
        Node::Null => String::new(),
        other => format!("{other:?}"),
    }
}

/// Reads a TOML document into a tree. Errors name the line and column.
pub fn from_toml_str(text: &str) -> Result<Node, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let mut message = String::from("invalid TOML");
        if let Some(span) = e.span() {
            let (line, column) = line_and_column(text, span.start);
            let _ = write!(message, " at line {line}, column {column}");
        }
        let _ = write!(message, ": {}", e.message());
        message
    })?;
    Ok(from_toml_value(toml::Value::Table(table)))
}

fn from_toml_value(value: toml::Value) -> Node {
    use toml::Value;
    match value {
        Value::String(s) => Node::Scalar(s),
        Value::Integer(i) => Node::Scalar(i.to_string()),
        Value::Float(f) => Node::Scalar(f.to_string()),
        Value::Boolean(b) => Node::Scalar(b.to_string()),
        Value::Datetime(d) => Node::Scalar(d.to_string()),
        Value::Array(items) => Node::List(items.into_iter().map(from_toml_value).collect()),
        Value::Table(table) => Node::Map(
            table
                .into_iter()
                .map(|(k, v)| (k, from_toml_value(v)))
                .collect(),
        ),
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Reads a document whose format is named by the file's extension: `.toml` is TOML,
/// anything else (`.yml`, `.yaml`) is YAML.
pub fn from_file_text(file_name: &str, text: &str) -> Result<Node, String> {
    if file_name.to_ascii_lowercase().ends_with(".toml") {
        from_toml_str(text)
    } else {
        from_yaml_str(text)
    }
}

/// Best-effort 1-based line of the key at slash-separated `path` in a YAML or TOML document:
/// each name segment is searched, ignoring case, from the line of the previous one (list
/// indices are skipped). `None` when a segment is not found.
pub fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for segment in path
        .split('/')
        .filter(|s| !s.is_empty() && s.parse::<usize>().is_err())
    {
        let index = (from..lines.len()).find(|&i| line_names(lines[i], segment))?;
        found = Some(index);
        from = index;
    }
    found.map(|index| index + 1)
}

/// Whether a line defines `name`: `name:` / `name =` (quoted or not, maybe after `- `), or a
/// TOML table header `[a.name.b]`.
fn line_names(line: &str, name: &str) -> bool {
    let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
    if let Some(header) = trimmed.strip_prefix('[') {
        let header = header
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("");
        return header
            .split('.')
            .any(|part| part.trim().trim_matches('"').eq_ignore_ascii_case(name));
    }
    let key = trimmed.trim_start_matches(['"', '\'']);
    if key.len() < name.len() || !key[..name.len()].eq_ignore_ascii_case(name) {
        return false;
    }
    let rest = key[name.len()..]
        .trim_start_matches(['"', '\''])
        .trim_start();
    rest.starts_with(':') || rest.starts_with('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(s: &str) -> Node {
        Node::Scalar(s.into())
    }

    #[test]
    fn yaml_scalars_become_text() {
        let node = from_yaml_str("a: 1\nb: true\nc: x\nd:\ne: [1, 2]\n").unwrap();
        assert_eq!(node.get("a"), Some(&scalar("1")));
        assert_eq!(node.get("B"), Some(&scalar("true")));
        assert_eq!(node.get("c"), Some(&scalar("x")));
        assert_eq!(node.get("d"), Some(&Node::Null));
        assert_eq!(
            node.get("e"),
            Some(&Node::List(vec![scalar("1"), scalar("2")]))
        );
    }

    #[test]
    fn toml_matches_yaml() {
        let toml = from_toml_str("[http.routers.r]\nrule = \"Path(`/`)\"\npriority = 3\n").unwrap();
        let yaml =
            from_yaml_str("http:\n  routers:\n    r:\n      rule: Path(`/`)\n      priority: 3\n")
                .unwrap();
        assert_eq!(toml, yaml);
    }

    #[test]
    fn errors_name_the_line() {
        let err = from_yaml_str("a: 1\nb: [\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
        let err = from_toml_str("a = 1\nb = = 2\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn set_path_and_merge_ignore_case() {
        let mut node = from_yaml_str("entryPoints:\n  web:\n    address: ':80'\n").unwrap();
        node.set_path(&["entrypoints", "web", "address"], scalar(":81"));
        node.set_path(&["ping"], scalar("true"));
        assert_eq!(
            node.get("entryPoints")
                .and_then(|e| e.get("web"))
                .and_then(|w| w.get("address")),
            Some(&scalar(":81"))
        );
        let mut base = from_yaml_str("a:\n  b: 1\n  c: 2\n").unwrap();
        base.merge(from_yaml_str("A:\n  C: 3\n  d: 4\n").unwrap());
        let a = base.get("a").unwrap();
        assert_eq!(a.get("b"), Some(&scalar("1")));
        assert_eq!(a.get("c"), Some(&scalar("3")));
        assert_eq!(a.get("d"), Some(&scalar("4")));
    }

    #[test]
    fn keys_are_located() {
        let yaml = "log:\n  level: x\nentryPoints:\n  web:\n    address: nowhere\n  other:\n    address: ':1'\n";
        assert_eq!(line_of_key(yaml, "entryPoints/web/address"), Some(5));
        assert_eq!(line_of_key(yaml, "entryPoints/other/address"), Some(7));
        assert_eq!(line_of_key(yaml, "log/level"), Some(2));
        assert_eq!(line_of_key(yaml, "ping"), None);
        let toml = "[log]\nlevel = 1\n[entryPoints.web]\naddress = \"x\"\n";
        assert_eq!(line_of_key(toml, "entryPoints/web/address"), Some(4));
        let list = "servers:\n  - url: a\n  - url: b\n    weight: x\n";
        assert_eq!(line_of_key(list, "servers/1/weight"), Some(4));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(from_yaml_str("  \n").unwrap(), Node::empty_map());
        assert_eq!(from_toml_str("").unwrap(), Node::empty_map());
    }
}
