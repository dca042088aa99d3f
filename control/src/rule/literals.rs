//! What a `HostRegexp` or `PathRegexp` pattern requires of the text it matches, as index keys:
//! the exact texts, prefixes, suffixes or substrings every match must have.
//!
//! Literals come from `regex-syntax`'s extractor, whose contract is that every match of a
//! pattern starts (prefix extraction) or ends (suffix extraction) with one of the literals of
//! a finite sequence, an "exact" literal being a whole match. Anchors turn that into
//! conditions on the whole request field: a pattern anchored with `^` (or `\A`) only matches
//! at the start of the field, so the field starts with one of its prefix literals; one
//! anchored at both ends with only exact literals matches nothing but those texts. Without
//! anchors every literal is still a substring of the field. Look-around assertions count as
//! empty for the extractor, which can only make the conditions wider, never wrong.

use std::sync::Arc;

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange};
use regex_syntax::hir::{Hir, HirKind, Look};

use super::index_keys::{Field, IndexKey};

/// Shortest literal worth a key: shorter ones (often the expansion of a class, such as the
/// digits `[0-9]` gives) are shared by too many texts to tell routers apart, and the pattern
/// is better served by a regexp set.
const MIN_LITERAL: usize = 3;

/// The keys of a pattern (a disjunction: every match of `pattern` against `field` is admitted
/// by one of them). `pattern` is in the `regex` crate's syntax, as the matcher compiled it.
/// An empty list means the pattern can never match the field.
pub(crate) fn keys(pattern: &str, field: Field) -> Vec<IndexKey> {
    let Ok(mut hir) = regex_syntax::Parser::new().parse(pattern) else {
        return vec![IndexKey::Regex(field, pattern.into())];
    };
    if field == Field::Host {
        // Request hosts are normalized to lowercase: drop what could only match uppercase
        // ASCII, so that `(?i)` patterns yield one literal instead of every case variant.
        hir = without_ascii_uppercase(hir);
    }
    let properties = hir.properties();
    let start = properties.look_set_prefix().contains(Look::Start);
    let end = properties.look_set_suffix().contains(Look::End);
    let prefixes = extract(&hir, ExtractKind::Prefix);
    if prefixes.is_empty() {
        // The extractor's way of saying that the pattern matches nothing.
        return Vec::new();
    }
    if start && end && prefixes.is_exact() {
        // Only the texts themselves can match (a literal that is not UTF-8 never equals a
        // field, which is a `str`).
        return literals(&prefixes)
            .filter_map(|literal| std::str::from_utf8(literal).ok())
            .map(|text| IndexKey::Exact(field, text.into()))
            .collect();
    }
    let usable = |seq: &Seq| seq.min_literal_len().is_some_and(|len| len >= MIN_LITERAL);
    let keys = |seq: &Seq, make: fn(Field, Arc<[u8]>) -> IndexKey| -> Vec<IndexKey> {
        literals(seq)
            .map(|literal| make(field, literal.into()))
            .collect()
    };
    // Anchored literals are looked up, substrings searched for. The start is preferred to
    // the end: hosts of one configuration tend to differ in their first labels and share
    // their domain, paths tend to differ at the start.
    if start && usable(&prefixes) {
        return keys(&prefixes, IndexKey::Prefix);
    }
    let suffixes = extract(&hir, ExtractKind::Suffix);
    if end && usable(&suffixes) {
        return keys(&suffixes, IndexKey::Suffix);
    }
    let substrings = [prefixes, suffixes]
        .into_iter()
        .filter(usable)
        .max_by_key(Seq::min_literal_len);
    match substrings {
        Some(seq) => keys(&seq, IndexKey::Contains),
        None => vec![IndexKey::Regex(field, pattern.into())],
    }
}

/// The prefix or suffix literals of `hir`. At most 64 (the extractor allows 250 by default):
/// the cross products of classes such as `[0-9]{3}` cost 15 µs at 250 and 2.5 µs at 64, and
/// sets that large are trimmed to shorter, still usable, literals.
fn extract(hir: &Hir, kind: ExtractKind) -> Seq {
    Extractor::new().kind(kind).limit_total(64).extract(hir)
}

/// The literals of a finite sequence, without repeats.
fn literals(seq: &Seq) -> impl Iterator<Item = &[u8]> {
    let all = seq.literals().unwrap_or(&[]);
    all.iter()
        .enumerate()
        .filter(move |(i, literal)| {
            !all[..*i]
                .iter()
                .any(|seen| seen.as_bytes() == literal.as_bytes())
        })
        .map(|(_, literal)| literal.as_bytes())
}

/// `hir` restricted to texts without ASCII uppercase letters.
fn without_ascii_uppercase(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(literal) if literal.0.iter().any(u8::is_ascii_uppercase) => Hir::fail(),
        HirKind::Literal(literal) => Hir::literal(literal.0),
        HirKind::Class(Class::Unicode(mut class)) => {
            class.difference(&ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]));
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(mut class)) => {
            class.difference(&ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]));
            Hir::class(Class::Bytes(class))
        }
        HirKind::Look(look) => Hir::look(look),
        HirKind::Repetition(mut repetition) => {
            repetition.sub = Box::new(without_ascii_uppercase(*repetition.sub));
            Hir::repetition(repetition)
        }
        HirKind::Capture(mut capture) => {
            capture.sub = Box::new(without_ascii_uppercase(*capture.sub));
            Hir::capture(capture)
        }
        HirKind::Concat(subs) => {
            Hir::concat(subs.into_iter().map(without_ascii_uppercase).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(without_ascii_uppercase).collect())
        }
    }
}
