//! The routers of a table that no exact host or host wildcard keys, found through their other
//! index keys (exact paths, host and path prefixes and suffixes, required substrings, regexp
//! sets), so that a request tries only the routers whose conditions it meets.
//!
//! How each kind of key is looked up, and why:
//! - exact paths: one hash lookup;
//! - prefixes and suffixes: one hash lookup per distinct key length (few: they are the
//!   lengths of the configured prefixes), longest first;
//! - substrings (from unanchored regexps): one Aho-Corasick pass over the field (the
//!   automaton costs about 3 µs per pattern to build, on every reload);
//! - regexps that require no literal (`^[a-z]+$`): `RegexSet`s of about [`REGEX_SET_CHUNK`]
//!   patterns, one pass each. One set over every pattern would be slower than trying the
//!   regexps one by one once it grows to thousands (measured: 8.5 ms per request for a set
//!   of 10 000 host patterns, where its lazy DFA thrashes, against 2 ms for the linear scan),
//!   while sets of about a hundred patterns answer 4 to 30 times faster than trying them in
//!   turn. A set costs 10 to 60 µs per pattern to build: literal keys come first so that only
//!   patterns without any literal get there, and a reload reuses the sets of the chunks it did
//!   not change (chunk boundaries depend on the patterns, not on their positions). Below
//!   [`MIN_REGEX_SET`] patterns they are simply tried in rank order.
//!
//! Routers with no key at all (`Method(...)` alone, a negation, ``Host(`*`)``) are tried in
//! rank order, as every router was before.

use super::router_table::Route;
use aho_corasick::AhoCorasick;
use control::rule::{Field, RequestView};
use regex::RegexSet;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

/// Patterns per `RegexSet` on average (see the module comment for the measurements behind
/// it), and at most.
const REGEX_SET_CHUNK: usize = 128;
const _: () = assert!(REGEX_SET_CHUNK.is_power_of_two());
const REGEX_SET_CHUNK_MAX: usize = 256;
/// Fewer regexps than this on a field are tried one by one, with their rules: a set pass
/// runs every pattern over the whole field where a scan in rank order stops at the first
/// match (measured on ten 200-state patterns: 1.6 µs for the set, 0.64 µs for the scan).
const MIN_REGEX_SET: usize = 32;

/// Candidate routers by their index keys; ranks are indices into the table's routes.
#[derive(Debug, Default)]
pub(crate) struct RouterIndex {
    /// Number of routes indexed here.
    routes: usize,
    exact_paths: HashMap<Arc<str>, Ranks>,
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
    ranks: HashMap<Arc<[u8]>, Ranks>,
    /// Longest first.
    lengths: Vec<usize>,
}

/// Ranks by required substring, found in one pass.
#[derive(Debug)]
struct Substrings {
    automaton: AhoCorasick,
    /// Ranks of each pattern of the automaton.
    ranks: Vec<Ranks>,
}

/// A set of regexps and the ranks of each.
#[derive(Debug)]
struct RegexChunk {
    set: Arc<RegexSet>,
    ranks: Vec<Ranks>,
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
    substrings: [Grouped<Arc<[u8]>>; 2],
    regexps: [Grouped<Arc<str>>; 2],
}

/// Values with the ranks of each, in order of first appearance.
#[derive(Debug)]
struct Grouped<K> {
    position: HashMap<K, usize>,
    groups: Vec<(K, Ranks)>,
}

impl<K> Default for Grouped<K> {
    fn default() -> Self {
        Grouped {
            position: HashMap::new(),
            groups: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Grouped<K> {
    fn insert(&mut self, key: K, rank: usize) {
        match self.position.get(&key) {
            Some(&position) => self.groups[position].1.push(rank),
            None => {
                self.position.insert(key.clone(), self.groups.len());
                self.groups.push((key, Ranks::One(rank)));
            }
        }
    }
}

/// Ranks in increasing order; a single one (most keys belong to one route) without a
/// separate allocation.
#[derive(Debug, Clone)]
pub(crate) enum Ranks {
    One(usize),
    Many(Vec<usize>),
}

impl Ranks {
    /// Appends `rank` unless it is already the last one (ranks come in increasing order).
    pub(crate) fn push(&mut self, rank: usize) {
        match self {
            Ranks::One(only) if *only == rank => {}
            Ranks::One(only) => *self = Ranks::Many(vec![*only, rank]),
            Ranks::Many(ranks) if ranks.last() == Some(&rank) => {}
            Ranks::Many(ranks) => ranks.push(rank),
        }
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        match self {
            Ranks::One(only) => std::slice::from_ref(only),
            Ranks::Many(ranks) => ranks,
        }
    }

    /// Number of ranks.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }
}

/// Files `rank` under `key`.
pub(crate) fn file<K: Eq + Hash>(map: &mut HashMap<K, Ranks>, key: K, rank: usize) {
    map.entry(key)
        .and_modify(|ranks| ranks.push(rank))
        .or_insert(Ranks::One(rank));
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
    pub(crate) fn exact_path(&mut self, rank: usize, path: &Arc<str>) {
        self.count(rank);
        file(&mut self.index.exact_paths, path.clone(), rank);
    }

    /// A route that can only match requests whose `field` starts with `prefix`.
    pub(crate) fn prefix(&mut self, rank: usize, field: Field, prefix: &Arc<[u8]>) {
        self.count(rank);
        self.field(field).prefixes.insert(prefix, rank);
    }

    /// A route that can only match requests whose `field` ends with `suffix`.
    pub(crate) fn suffix(&mut self, rank: usize, field: Field, suffix: &Arc<[u8]>) {
        self.count(rank);
        self.field(field).suffixes.insert(suffix, rank);
    }

    /// A route that can only match requests whose `field` contains `substring`.
    pub(crate) fn substring(&mut self, rank: usize, field: Field, substring: &Arc<[u8]>) {
        self.count(rank);
        self.substrings[field_slot(field)].insert(substring.clone(), rank);
    }

    /// A route that can only match requests whose `field` matches `pattern`.
    pub(crate) fn regex(&mut self, rank: usize, field: Field, pattern: &Arc<str>) {
        self.count(rank);
        self.regexps[field_slot(field)].insert(pattern.clone(), rank);
    }

    /// A route that may match any request.
    pub(crate) fn unindexed(&mut self, rank: usize) {
        self.count(rank);
        if self.index.unindexed.last() != Some(&rank) {
            self.index.unindexed.push(rank);
        }
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

    /// Number of regexp sets.
    #[cfg(test)]
    pub(crate) fn regex_sets(&self) -> usize {
        self.host.regexps.len() + self.path.regexps.len()
    }

    /// Lowers `best` to the best rank indexed here whose route matches the request.
    pub(crate) fn find(&self, routes: &[Arc<Route>], request: &RequestView<'_>, best: &mut usize) {
        let mut try_ranks = |ranks: &[usize]| lower_to_first_match(routes, ranks, request, best);
        if let Some(ranks) = self.exact_paths.get(request.path) {
            try_ranks(ranks.as_slice());
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
                    let ranks = chunk.ranks[pattern].as_slice();
                    lower_to_first_match(routes, ranks, request, best);
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
    fn insert(&mut self, affix: &Arc<[u8]>, rank: usize) {
        file(&mut self.ranks, affix.clone(), rank);
    }

    fn finish(&mut self) {
        self.lengths = self.ranks.keys().map(|affix| affix.len()).collect();
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
                self.ranks.get(affix).map(Ranks::as_slice)
            })
    }
}

impl Substrings {
    fn build(grouped: Grouped<Arc<[u8]>>, fallback: &mut Vec<usize>) -> Option<Substrings> {
        if grouped.groups.is_empty() {
            return None;
        }
        let (patterns, ranks): (Vec<Arc<[u8]>>, Vec<Ranks>) = grouped.groups.into_iter().unzip();
        match AhoCorasick::new(patterns.iter().map(|pattern| &pattern[..])) {
            Ok(automaton) => Some(Substrings { automaton, ranks }),
            Err(error) => {
                tracing::warn!(
                    %error,
                    patterns = patterns.len(),
                    "routers whose regexps require a substring are tried one by one"
                );
                fallback.extend(ranks.iter().flat_map(Ranks::as_slice));
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
            visit(self.ranks[pattern].as_slice());
        }
    }
}

impl RegexChunk {
    fn build(grouped: Grouped<Arc<str>>, fallback: &mut Vec<usize>) -> Vec<RegexChunk> {
        if grouped.groups.len() < MIN_REGEX_SET {
            fallback.extend(
                grouped
                    .groups
                    .iter()
                    .flat_map(|(_, ranks)| ranks.as_slice()),
            );
            return Vec::new();
        }
        forget_dead_sets();
        let mut chunks = Vec::new();
        for group in chunk_boundaries(&grouped.groups) {
            let patterns: Vec<&str> = group.iter().map(|(pattern, _)| &**pattern).collect();
            let ranks: Vec<Ranks> = group.iter().map(|(_, ranks)| ranks.clone()).collect();
            match live_set(&patterns) {
                Ok(set) => chunks.push(RegexChunk {
                    set,
                    first: ranks[0].as_slice()[0],
                    ranks,
                }),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        patterns = group.len(),
                        "routers whose regexps could not be grouped are tried one by one"
                    );
                    fallback.extend(ranks.iter().flat_map(Ranks::as_slice));
                }
            }
        }
        chunks
    }
}

/// Splits `groups` after each pattern whose hash is a multiple of [`REGEX_SET_CHUNK`] (or
/// after [`REGEX_SET_CHUNK_MAX`] patterns without one): adding or removing a router changes
/// the chunk it is in, not the boundaries of every chunk after it, so the other chunks'
/// sets are found in [`LIVE_SETS`].
fn chunk_boundaries<T>(groups: &[(Arc<str>, T)]) -> Vec<&[(Arc<str>, T)]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for (i, (pattern, _)) in groups.iter().enumerate() {
        let end = i + 1;
        // `REGEX_SET_CHUNK` is a power of two: one pattern in that many ends a chunk.
        if hash(&[&**pattern]) & (REGEX_SET_CHUNK as u64 - 1) == 0
            || end - start == REGEX_SET_CHUNK_MAX
            || end == groups.len()
        {
            chunks.push(&groups[start..end]);
            start = end;
        }
    }
    chunks
}

/// Regexp sets held by live router tables, by the hash of their patterns. A reload builds
/// its tables while the previous ones still serve, so a chunk whose patterns did not change
/// takes the set it already had instead of building it again (10 to 60 µs per pattern), as
/// the rule cache does for the rules' own regexps. Only compilation touches it.
static LIVE_SETS: LazyLock<Mutex<HashMap<u64, Vec<Weak<RegexSet>>>>> =
    LazyLock::new(Default::default);

fn hash(patterns: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    patterns.hash(&mut hasher);
    hasher.finish()
}

/// Drops the entries of sets no table holds any more.
fn forget_dead_sets() {
    let mut live = LIVE_SETS.lock().unwrap_or_else(PoisonError::into_inner);
    live.retain(|_, sets| {
        sets.retain(|set| set.strong_count() > 0);
        !sets.is_empty()
    });
}

/// The set of `patterns`: one a live table holds, or a new one.
fn live_set(patterns: &[&str]) -> Result<Arc<RegexSet>, regex::Error> {
    let key = hash(patterns);
    let same = |set: &Arc<RegexSet>| {
        set.patterns()
            .iter()
            .map(String::as_str)
            .eq(patterns.iter().copied())
    };
    let live = LIVE_SETS.lock().unwrap_or_else(PoisonError::into_inner);
    let found = live
        .get(&key)
        .into_iter()
        .flatten()
        .filter_map(Weak::upgrade)
        .find(same);
    drop(live);
    if let Some(set) = found {
        return Ok(set);
    }
    let set = Arc::new(RegexSet::new(patterns)?);
    LIVE_SETS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default()
        .push(Arc::downgrade(&set));
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_sets(patterns: &[String]) -> (RouterIndex, Vec<Arc<RegexSet>>) {
        let mut builder = RouterIndexBuilder::default();
        for (rank, pattern) in patterns.iter().enumerate() {
            builder.regex(rank, Field::Host, &pattern.as_str().into());
        }
        let index = builder.build();
        let sets = index.host.regexps.iter().map(|c| c.set.clone()).collect();
        (index, sets)
    }

    #[test]
    fn unchanged_chunks_keep_their_sets_across_rebuilds() {
        let mut patterns: Vec<String> = (0..1000)
            .map(|i| format!("^[a-z]{{{}}}[0-9]{{{}}}-reuse$", i / 10 + 1, i % 10 + 1))
            .collect();
        let (first, first_sets) = chunk_sets(&patterns);
        assert!(first_sets.len() >= 4, "{} chunks", first_sets.len());
        assert!(first
            .host
            .regexps
            .iter()
            .all(|c| c.set.len() <= REGEX_SET_CHUNK_MAX));
        let (_again, again_sets) = chunk_sets(&patterns);
        assert!(first_sets
            .iter()
            .zip(&again_sets)
            .all(|(a, b)| Arc::ptr_eq(a, b)));

        // One router more in the middle: only the chunk it lands in is built again.
        patterns.insert(500, "^[a-z]+-inserted$".into());
        let (_changed, changed_sets) = chunk_sets(&patterns);
        let rebuilt = changed_sets
            .iter()
            .filter(|set| !first_sets.iter().any(|old| Arc::ptr_eq(old, set)))
            .count();
        assert!(
            rebuilt <= 2,
            "{rebuilt} of {} chunks rebuilt",
            changed_sets.len()
        );

        // Sets nobody holds are not reused (nor kept).
        drop((
            first,
            first_sets,
            _again,
            again_sets,
            _changed,
            changed_sets,
        ));
        let (_, fresh) = chunk_sets(&patterns);
        forget_dead_sets();
        let live = LIVE_SETS.lock().unwrap();
        let kept = live
            .values()
            .flatten()
            .filter(|set| {
                set.upgrade()
                    .is_some_and(|set| set.patterns()[0].ends_with("-reuse$"))
            })
            .count();
        assert_eq!(kept, fresh.len());
    }
}
