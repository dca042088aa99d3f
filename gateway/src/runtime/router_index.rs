//! The routers of a table that no exact host or host wildcard keys, found through their other
//! index keys (exact paths, host and path prefixes and suffixes, required substrings, regexp
//! sets), so that a request tries only the routers whose conditions it meets.
//!
//! How each kind of key is looked up, and why:
//! - exact paths: one hash lookup;
//! - prefixes and suffixes: one hash lookup per distinct key length (few: they are the
//!   lengths of the configured prefixes), longest first;
//! - substrings (from unanchored regexps): one Aho-Corasick pass over the field;
//! - regexps that require no literal (`^[a-z]+$`): `RegexSet`s of [`REGEX_SET_CHUNK`]
//!   patterns, one pass each. One set over every pattern would be slower than trying the
//!   regexps one by one once it grows to thousands (measured: 8.5 ms per request for a set
//!   of 10 000 host patterns, where its lazy DFA thrashes, against 2 ms for the linear scan),
//!   while sets of about a hundred patterns answer 4 to 30 times faster than trying them in
//!   turn. A set costs about 20 µs per pattern to build, paid on every reload: literal keys
//!   come first so that only patterns without any literal get there.
//!
//! Routers with no key at all (`Method(...)` alone, a negation, ``Host(`*`)``) are tried in
//! rank order, as every router was before.

use super::router_table::Route;
use aho_corasick::AhoCorasick;
use control::rule::{Field, RequestView};
use regex::RegexSet;
use std::collections::HashMap;
use std::sync::Arc;

/// Patterns per `RegexSet` (see the module comment for the measurements behind it).
const REGEX_SET_CHUNK: usize = 128;

/// Candidate routers by their index keys; ranks are indices into the table's routes.
#[derive(Debug, Default)]
pub(crate) struct RouterIndex {
    /// Number of routes indexed here.
    routes: usize,
    exact_paths: HashMap<String, Vec<usize>>,
    host: FieldIndex,
    path: FieldIndex,
    /// Ranks of routes without any key, in rank order.
    unindexed: Vec<usize>,
}

/// Prefix, suffix, substring and regexp keys on one request field.
#[derive(Debug, Default)]
struct FieldIndex {
    prefixes: AffixMap,
    suffixes: AffixMap,
    substrings: Option<Substrings>,
    regexps: Vec<RegexChunk>,
}

/// Ranks by prefix (or suffix), and the distinct lengths of those.
#[derive(Debug, Default)]
struct AffixMap {
    ranks: HashMap<Vec<u8>, Vec<usize>>,
    /// Longest first.
    lengths: Vec<usize>,
}

/// Ranks by required substring, found in one pass.
#[derive(Debug)]
struct Substrings {
    automaton: AhoCorasick,
    /// Ranks of each pattern of the automaton.
    ranks: Vec<Vec<usize>>,
}

/// A set of regexps and the ranks of each.
#[derive(Debug)]
struct RegexChunk {
    set: RegexSet,
    ranks: Vec<Vec<usize>>,
    /// The lowest rank of the chunk (chunks come in increasing order of it).
    first: usize,
}

/// Collects the keys of routes, given in rank order; [`RouterIndexBuilder::build`] makes the
/// index.
#[derive(Debug, Default)]
pub(crate) struct RouterIndexBuilder {
    index: RouterIndex,
    last_rank: Option<usize>,
    /// Patterns with their ranks, by field (host, path), in order of first rank.
    substrings: [Grouped<Vec<u8>>; 2],
    regexps: [Grouped<String>; 2],
}

/// Values with the ranks of each, in order of first appearance.
#[derive(Debug)]
struct Grouped<K> {
    position: HashMap<K, usize>,
    groups: Vec<(K, Vec<usize>)>,
}

impl<K> Default for Grouped<K> {
    fn default() -> Self {
        Grouped {
            position: HashMap::new(),
            groups: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash> Grouped<K> {
    fn insert(&mut self, key: K, rank: usize) {
        let position = *self.position.entry(key.clone()).or_insert_with(|| {
            self.groups.push((key, Vec::new()));
            self.groups.len() - 1
        });
        push_rank(&mut self.groups[position].1, rank);
    }
}

/// Appends `rank` unless it is already the last one (ranks come in increasing order).
pub(crate) fn push_rank(ranks: &mut Vec<usize>, rank: usize) {
    if ranks.last() != Some(&rank) {
        ranks.push(rank);
    }
}

fn field_slot(field: Field) -> usize {
    match field {
        Field::Host => 0,
        Field::Path => 1,
    }
}

impl RouterIndexBuilder {
    fn count(&mut self, rank: usize) {
        if self.last_rank != Some(rank) {
            self.last_rank = Some(rank);
            self.index.routes += 1;
        }
    }

    fn field(&mut self, field: Field) -> &mut FieldIndex {
        match field {
            Field::Host => &mut self.index.host,
            Field::Path => &mut self.index.path,
        }
    }

    /// A route that can only match requests for this path.
    pub(crate) fn exact_path(&mut self, rank: usize, path: &str) {
        self.count(rank);
        let ranks = self.index.exact_paths.entry(path.to_owned()).or_default();
        push_rank(ranks, rank);
    }

    /// A route that can only match requests whose `field` starts with `prefix`.
    pub(crate) fn prefix(&mut self, rank: usize, field: Field, prefix: &[u8]) {
        self.count(rank);
        self.field(field).prefixes.insert(prefix, rank);
    }

    /// A route that can only match requests whose `field` ends with `suffix`.
    pub(crate) fn suffix(&mut self, rank: usize, field: Field, suffix: &[u8]) {
        self.count(rank);
        self.field(field).suffixes.insert(suffix, rank);
    }

    /// A route that can only match requests whose `field` contains `substring`.
    pub(crate) fn substring(&mut self, rank: usize, field: Field, substring: &[u8]) {
        self.count(rank);
        self.substrings[field_slot(field)].insert(substring.to_vec(), rank);
    }

    /// A route that can only match requests whose `field` matches `pattern`.
    pub(crate) fn regex(&mut self, rank: usize, field: Field, pattern: &str) {
        self.count(rank);
        self.regexps[field_slot(field)].insert(pattern.to_owned(), rank);
    }

    /// A route that may match any request.
    pub(crate) fn unindexed(&mut self, rank: usize) {
        self.count(rank);
        push_rank(&mut self.index.unindexed, rank);
    }

    /// Builds the automata. A substring automaton or a regexp set that cannot be built (over
    /// the `aho-corasick` or `regex` size limits) leaves its routes to be tried in rank order.
    pub(crate) fn build(self) -> RouterIndex {
        let RouterIndexBuilder {
            mut index,
            substrings: [host_substrings, path_substrings],
            regexps: [host_regexps, path_regexps],
            ..
        } = self;
        let mut fallback = Vec::new();
        for (field, substrings, regexps) in [
            (&mut index.host, host_substrings, host_regexps),
            (&mut index.path, path_substrings, path_regexps),
        ] {
            field.prefixes.finish();
            field.suffixes.finish();
            field.substrings = Substrings::build(substrings, &mut fallback);
            field.regexps = RegexChunk::build(regexps, &mut fallback);
        }
        if !fallback.is_empty() {
            index.unindexed.extend(fallback);
            index.unindexed.sort_unstable();
            index.unindexed.dedup();
        }
        index
    }
}

impl RouterIndex {
    /// Number of routes indexed here.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.routes
    }

    /// Lowers `best` to the best rank indexed here whose route matches the request.
    pub(crate) fn find(&self, routes: &[Arc<Route>], request: &RequestView<'_>, best: &mut usize) {
        let mut try_ranks = |ranks: &[usize]| lower_to_first_match(routes, ranks, request, best);
        if let Some(ranks) = self.exact_paths.get(request.path) {
            try_ranks(ranks);
        }
        let host = request.host.as_bytes();
        let path = request.path.as_bytes();
        for (field, text) in [(&self.host, host), (&self.path, path)] {
            field
                .prefixes
                .candidates(text, false)
                .for_each(&mut try_ranks);
            field
                .suffixes
                .candidates(text, true)
                .for_each(&mut try_ranks);
        }
        for (field, text) in [(&self.host, host), (&self.path, path)] {
            if let Some(substrings) = &field.substrings {
                substrings.candidates(text, &mut try_ranks);
            }
        }
        for (field, text) in [(&self.host, request.host), (&self.path, request.path)] {
            for chunk in &field.regexps {
                if chunk.first >= *best {
                    break;
                }
                // `is_match` stops at the first match and allocates nothing: most chunks
                // match nothing, so only the others pay for the set of matching patterns.
                if !chunk.set.is_match(text) {
                    continue;
                }
                for pattern in chunk.set.matches(text).iter() {
                    lower_to_first_match(routes, &chunk.ranks[pattern], request, best);
                }
            }
        }
        lower_to_first_match(routes, &self.unindexed, request, best);
    }
}

/// Lowers `best` to the first rank of `ranks` (in increasing order) below it whose route
/// matches the request.
pub(crate) fn lower_to_first_match(
    routes: &[Arc<Route>],
    ranks: &[usize],
    request: &RequestView<'_>,
    best: &mut usize,
) {
    if let Some(&rank) = ranks
        .iter()
        .take_while(|&&rank| rank < *best)
        .find(|&&rank| routes[rank].rule.matches(request))
    {
        *best = rank;
    }
}

impl AffixMap {
    fn insert(&mut self, affix: &[u8], rank: usize) {
        push_rank(self.ranks.entry(affix.to_vec()).or_default(), rank);
    }

    fn finish(&mut self) {
        self.lengths = self.ranks.keys().map(Vec::len).collect();
        self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        self.lengths.dedup();
    }

    /// The rank lists of the affixes `text` has, longest first.
    fn candidates<'a>(
        &'a self,
        text: &'a [u8],
        suffix: bool,
    ) -> impl Iterator<Item = &'a [usize]> + 'a {
        self.lengths
            .iter()
            .skip_while(move |&&len| len > text.len())
            .filter_map(move |&len| {
                let affix = match suffix {
                    true => &text[text.len() - len..],
                    false => &text[..len],
                };
                self.ranks.get(affix).map(Vec::as_slice)
            })
    }
}

impl Substrings {
    fn build(grouped: Grouped<Vec<u8>>, fallback: &mut Vec<usize>) -> Option<Substrings> {
        if grouped.groups.is_empty() {
            return None;
        }
        let (patterns, ranks): (Vec<Vec<u8>>, Vec<Vec<usize>>) = grouped.groups.into_iter().unzip();
        match AhoCorasick::new(&patterns) {
            Ok(automaton) => Some(Substrings { automaton, ranks }),
            Err(error) => {
                tracing::warn!(
                    %error,
                    patterns = patterns.len(),
                    "routers whose regexps require a substring are tried one by one"
                );
                fallback.extend(ranks.into_iter().flatten());
                None
            }
        }
    }

    /// Calls `visit` with the ranks of each substring `text` contains, once per substring.
    fn candidates(&self, text: &[u8], mut visit: impl FnMut(&[usize])) {
        // Overlapping search reports every occurrence; a pattern seen again is skipped, with
        // a bitmap made only once a second pattern occurs (most requests see none or one).
        let mut first = None;
        let mut seen: Vec<u64> = Vec::new();
        for hit in self.automaton.find_overlapping_iter(text) {
            let pattern = hit.pattern().as_usize();
            match first {
                None => first = Some(pattern),
                Some(first) if first == pattern => continue,
                Some(first) => {
                    if seen.is_empty() {
                        seen = vec![0; self.ranks.len().div_ceil(64)];
                        seen[first / 64] |= 1 << (first % 64);
                    }
                    let (word, bit) = (pattern / 64, 1u64 << (pattern % 64));
                    if seen[word] & bit != 0 {
                        continue;
                    }
                    seen[word] |= bit;
                }
            }
            visit(&self.ranks[pattern]);
        }
    }
}

impl RegexChunk {
    fn build(grouped: Grouped<String>, fallback: &mut Vec<usize>) -> Vec<RegexChunk> {
        let mut chunks = Vec::new();
        for group in grouped.groups.chunks(REGEX_SET_CHUNK) {
            let ranks: Vec<Vec<usize>> = group.iter().map(|(_, ranks)| ranks.clone()).collect();
            match RegexSet::new(group.iter().map(|(pattern, _)| pattern)) {
                Ok(set) => chunks.push(RegexChunk {
                    set,
                    first: ranks[0][0],
                    ranks,
                }),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        patterns = group.len(),
                        "routers whose regexps could not be grouped are tried one by one"
                    );
                    fallback.extend(ranks.into_iter().flatten());
                }
            }
        }
        chunks
    }
}
