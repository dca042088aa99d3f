//! A serde `Deserializer` over [`Node`] trees with Traefik's decoding rules.
//!
//! Written by hand because no published deserializer combines what Traefik's loaders do:
//! struct field names matched ignoring case, every scalar given as text and parsed to the
//! type the field wants (Go `ParseBool` booleans, integers, floats), a comma-joined value
//! accepted as a list, a map of numbered keys read as a list in key order (KV), `true` or
//! `""` creating an empty object ("allowEmpty"), and errors carrying the full key path.

use super::node::Node;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::fmt;

/// Why a tree could not be decoded into a type, with the key path where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Slash-separated key path (`http/routers/api/priority`); empty for the root.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            path: String::new(),
            message: msg.to_string(),
        }
    }
}

/// How unknown struct fields are treated.
#[derive(Debug, Default)]
pub(crate) struct Unknown {
    /// When set, unknown fields are skipped and their paths recorded here instead of failing.
    lenient: Option<RefCell<Vec<String>>>,
}

impl Unknown {
    pub(crate) fn strict() -> Self {
        Self { lenient: None }
    }

    pub(crate) fn lenient() -> Self {
        Self {
            lenient: Some(RefCell::new(Vec::new())),
        }
    }

    pub(crate) fn into_skipped(self) -> Vec<String> {
        self.lenient.map(RefCell::into_inner).unwrap_or_default()
    }
}

/// Deserializer for one node at one path.
pub(crate) struct NodeDeserializer<'a> {
    node: &'a Node,
    path: String,
    unknown: &'a Unknown,
}

impl<'a> NodeDeserializer<'a> {
    pub(crate) fn new(node: &'a Node, path: String, unknown: &'a Unknown) -> Self {
        Self {
            node,
            path,
            unknown,
        }
    }

    fn child(&self, node: &'a Node, segment: &str) -> NodeDeserializer<'a> {
        let path = if self.path.is_empty() {
            segment.to_string()
        } else {
            format!("{}/{}", self.path, segment)
        };
        NodeDeserializer::new(node, path, self.unknown)
    }

    fn error(&self, message: impl fmt::Display) -> DecodeError {
        DecodeError {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Gives errors raised by serde's generated code (which know no path) this node's path.
    fn locate<T>(&self, result: Result<T, DecodeError>) -> Result<T, DecodeError> {
        result.map_err(|mut e| {
            if e.path.is_empty() {
                e.path = self.path.clone();
            }
            e
        })
    }

    fn scalar(&self, wanted: &str) -> Result<&'a str, DecodeError> {
        match self.node {
            Node::Scalar(s) => Ok(s.trim()),
            Node::Null => Err(self.error(format!("expected {wanted}, found an empty value"))),
            other => Err(self.error(format!("expected {wanted}, found {}", other.kind()))),
        }
    }

    fn parse<T: std::str::FromStr>(&self, wanted: &str) -> Result<T, DecodeError> {
        let text = self.scalar(wanted)?;
        text.parse()
            .map_err(|_| self.error(format!("invalid {wanted} {text:?}")))
    }

    fn seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let items: Vec<(String, &'a Node)> = match self.node {
            Node::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (i.to_string(), n))
                .collect(),
            // Consul KV lists: numbered children, in the lexicographic order of their keys.
            Node::Map(entries) => {
                let mut sorted: Vec<(String, &'a Node)> =
                    entries.iter().map(|(k, n)| (k.clone(), n)).collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                sorted
            }
            Node::Null => Vec::new(),
            Node::Scalar(_) => {
                return self.locate(visitor.visit_seq(CommaSeq {
                    parts: comma_parts(self.node),
                    de: &self,
                    index: 0,
                }))
            }
        };
        let access = Seq {
            items: items.into_iter(),
            parent: &self,
        };
        self.locate(visitor.visit_seq(access))
    }

    fn map<V: Visitor<'a>>(
        self,
        visitor: V,
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, DecodeError> {
        static NO_ENTRIES: Vec<(String, Node)> = Vec::new();
        let entries: &'a [(String, Node)] = match self.node {
            Node::Map(entries) => entries,
            Node::Null => &NO_ENTRIES,
            // "allowEmpty" objects: `tls = true` or `compress = ""` create the object.
            Node::Scalar(s)
                if fields.is_some() && (s.is_empty() || parse_go_bool(s) == Some(true)) =>
            {
                &NO_ENTRIES
            }
            other => {
                return Err(self.error(format!("expected a map, found {}", other.kind())));
            }
        };
        let access = Map {
            entries: entries.iter(),
            fields,
            value: None,
            parent: &self,
        };
        self.locate(visitor.visit_map(access))
    }
}

fn comma_parts(node: &Node) -> Vec<&str> {
    match node {
        Node::Scalar(s) if s.trim().is_empty() => Vec::new(),
        Node::Scalar(s) => s.split(',').map(str::trim).collect(),
        _ => Vec::new(),
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let value: $ty = self.parse($what)?;
            self.locate(visitor.$visit(value))
        }
    )*};
}

impl<'a> de::Deserializer<'a> for NodeDeserializer<'a> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node {
            Node::Null => visitor.visit_unit(),
            Node::Scalar(s) => self.locate(visitor.visit_str(s)),
            Node::List(_) => self.seq(visitor),
            Node::Map(_) => self.map(visitor, None),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let text = self.scalar("a boolean")?;
        match parse_go_bool(text) {
            Some(b) => self.locate(visitor.visit_bool(b)),
            None => Err(self.error(format!("invalid boolean {text:?} (use true or false)"))),
        }
    }

    parse_number! {
        deserialize_i8 visit_i8 i8, "integer";
        deserialize_i16 visit_i16 i16, "integer";
        deserialize_i32 visit_i32 i32, "integer";
        deserialize_i64 visit_i64 i64, "integer";
        deserialize_u8 visit_u8 u8, "non-negative integer";
        deserialize_u16 visit_u16 u16, "non-negative integer";
        deserialize_u32 visit_u32 u32, "non-negative integer";
        deserialize_u64 visit_u64 u64, "non-negative integer";
        deserialize_f32 visit_f32 f32, "number";
        deserialize_f64 visit_f64 f64, "number";
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let value: char = self.parse("single character")?;
        self.locate(visitor.visit_char(value))
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node {
            Node::Scalar(s) => self.locate(visitor.visit_str(s)),
            Node::Null => self.locate(visitor.visit_str("")),
            other => Err(self.error(format!("expected a single value, found {}", other.kind()))),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    /// A key that is present makes `Some`, even with an empty value (`ping:` turns ping on).
    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.map(visitor, None)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.map(visitor, Some(fields))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let text = self.scalar("one of the allowed values")?;
        let variant = variants
            .iter()
            .find(|v| v.eq_ignore_ascii_case(text))
            .copied()
            .ok_or_else(|| {
                self.error(format!(
                    "unknown value {text:?}, expected one of: {}",
                    variants.join(", ")
                ))
            })?;
        self.locate(visitor.visit_enum(variant.into_deserializer()))
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

/// A list's items (or a KV map's numbered children).
struct Seq<'a, 'p> {
    items: std::vec::IntoIter<(String, &'a Node)>,
    parent: &'p NodeDeserializer<'a>,
}

impl<'a> de::SeqAccess<'a> for Seq<'a, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            Some((segment, node)) => seed
                .deserialize(self.parent.child(node, &segment))
                .map(Some),
            None => Ok(None),
        }
    }
}

/// The parts of a comma-joined scalar list (`web,websecure`).
struct CommaSeq<'a, 'p> {
    parts: Vec<&'a str>,
    de: &'p NodeDeserializer<'a>,
    index: usize,
}

impl<'a> de::SeqAccess<'a> for CommaSeq<'a, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some(part) = self.parts.get(self.index) else {
            return Ok(None);
        };
        let segment = self.index.to_string();
        self.index += 1;
        let path = self.de.child(self.de.node, &segment).path;
        seed.deserialize(ScalarText { text: part, path }).map(Some)
    }
}

/// A deserializer for one part of a comma-joined list, with [`NodeDeserializer`]'s scalar rules.
struct ScalarText<'a> {
    text: &'a str,
    path: String,
}

impl ScalarText<'_> {
    fn error(&self, message: impl fmt::Display) -> DecodeError {
        DecodeError {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    fn parse<T: std::str::FromStr>(&self, wanted: &str) -> Result<T, DecodeError> {
        self.text
            .parse()
            .map_err(|_| self.error(format!("invalid {wanted} {:?}", self.text)))
    }
}

macro_rules! parse_owned_number {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let value: $ty = self.parse($what)?;
            visitor.$visit(value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ScalarText<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_str(self.text)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match parse_go_bool(self.text) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.error(format!(
                "invalid boolean {:?} (use true or false)",
                self.text
            ))),
        }
    }

    parse_owned_number! {
        deserialize_i8 visit_i8 i8, "integer";
        deserialize_i16 visit_i16 i16, "integer";
        deserialize_i32 visit_i32 i32, "integer";
        deserialize_i64 visit_i64 i64, "integer";
        deserialize_u8 visit_u8 u8, "non-negative integer";
        deserialize_u16 visit_u16 u16, "non-negative integer";
        deserialize_u32 visit_u32 u32, "non-negative integer";
        deserialize_u64 visit_u64 u64, "non-negative integer";
        deserialize_f32 visit_f32 f32, "number";
        deserialize_f64 visit_f64 f64, "number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A map's entries; for a struct, names are matched to the struct's fields ignoring case.
struct Map<'a, 'p> {
    entries: std::slice::Iter<'a, (String, Node)>,
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a str, &'a Node)>,
    parent: &'p NodeDeserializer<'a>,
}

impl<'a> de::MapAccess<'a> for Map<'a, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        loop {
            let Some((key, node)) = self.entries.next() else {
                return Ok(None);
            };
            let name: &'a str = match self.fields {
                None => key.as_str(),
                Some(fields) => match fields.iter().find(|f| f.eq_ignore_ascii_case(key)) {
                    Some(field) => field,
                    None => match &self.parent.unknown.lenient {
                        Some(skipped) => {
                            skipped.borrow_mut().push(self.parent.child(node, key).path);
                            continue;
                        }
                        None => key.as_str(),
                    },
                },
            };
            self.value = Some((key.as_str(), node));
            let key_de: de::value::StrDeserializer<'_, DecodeError> = name.into_deserializer();
            return match seed.deserialize(key_de) {
                Ok(value) => Ok(Some(value)),
                Err(mut e) => {
                    e.path = self.parent.child(node, key).path;
                    Err(e)
                }
            };
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (key, node) = self
            .value
            .take()
            .expect("serde asks for a value only after a key");
        seed.deserialize(self.parent.child(node, key))
    }
}
