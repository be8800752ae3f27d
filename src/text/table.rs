//! String tables for the hot paths: one hash per term, strings stored once.
//!
//! Why not `HashMap<Box<str>, u32>`: tokenizing spends most of its time looking terms up
//! (stop words, then the vocabulary or the training interner). A map keyed by boxed strings
//! hashes the term once per table and, when interning, allocates each new term twice (key
//! and id-to-term list). Here every table hashes with the same function, so a caller hashes
//! a term once ([`term_hash`]) and probes any table with it; the strings live once, in the
//! owner's list or in one arena buffer.
//!
//! Each entry also holds the term's length and an 8-byte [`fingerprint`] that determines a
//! term of up to 8 bytes completely, so most lookups (English words are short) are settled
//! inside the table, without following a pointer to the string and calling `memcmp`, which
//! profiling showed as a seventh of classification time.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// The hash every table here uses. Deterministic (no random seed) and never persisted:
/// models store terms, not hashes, so the function may change between versions.
#[inline]
pub(crate) fn term_hash(term: &str) -> u64 {
    FxBuildHasher.hash_one(term.as_bytes())
}

/// Up to 8 bytes of `b` packed into a word: with the length, it identifies a string of at
/// most 8 bytes exactly (its bytes 0..4 and n-4..n cover it; under 4 bytes, bytes 0, n/2 and
/// n-1 do); for longer strings it is their first 8 bytes.
#[inline]
fn fingerprint(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
        u64::from(lo) | (u64::from(hi) << 32)
    } else if n > 0 {
        u64::from(b[0]) | (u64::from(b[n / 2]) << 8) | (u64::from(b[n - 1]) << 16)
    } else {
        0
    }
}

/// A table entry: the term's id, length and [`fingerprint`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    fingerprint: u64,
    len: u32,
    id: u32,
}

impl Entry {
    fn new(id: u32, term: &[u8]) -> Entry {
        Entry {
            fingerprint: fingerprint(term),
            len: term.len() as u32,
            id,
        }
    }

    /// Whether this entry is `term` (with its fingerprint `fp`); `stored` fetches the
    /// entry's string, needed only past 8 bytes.
    #[inline]
    fn is<'a>(&self, fp: u64, term: &[u8], stored: impl FnOnce(u32) -> &'a [u8]) -> bool {
        self.fingerprint == fp
            && self.len as usize == term.len()
            && (term.len() <= 8 || stored(self.id)[8..] == term[8..])
    }
}

/// Ids of terms kept elsewhere (`terms[id]`), found by hash. The owner passes its term list
/// to every call, which keeps the strings in one place.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdTable {
    table: HashTable<Entry>,
}

impl IdTable {
    /// Indexes `terms` (distinct strings); ids are positions.
    pub(crate) fn build<T: AsRef<str>>(terms: &[T]) -> IdTable {
        let mut table = HashTable::with_capacity(terms.len());
        for (id, term) in terms.iter().enumerate() {
            let term = term.as_ref();
            table.insert_unique(
                term_hash(term),
                Entry::new(id as u32, term.as_bytes()),
                |e: &Entry| term_hash(terms[e.id as usize].as_ref()),
            );
        }
        IdTable { table }
    }

    /// The id of `term`, whose [`term_hash`] is `hash`, in `terms` (the list it was built on).
    #[inline]
    pub(crate) fn get<T: AsRef<str>>(&self, terms: &[T], hash: u64, term: &str) -> Option<u32> {
        let b = term.as_bytes();
        let fp = fingerprint(b);
        self.table
            .find(hash, |e| {
                e.is(fp, b, |id| terms[id as usize].as_ref().as_bytes())
            })
            .map(|e| e.id)
    }

    /// Indexes `n` distinct terms kept elsewhere, term `id` being `term(id)`: for terms
    /// held in more than one list.
    pub(crate) fn build_by<'a>(n: usize, term: impl Fn(u32) -> &'a str) -> IdTable {
        let mut table = HashTable::with_capacity(n);
        for id in 0..n as u32 {
            let t = term(id);
            table.insert_unique(term_hash(t), Entry::new(id, t.as_bytes()), |e: &Entry| {
                term_hash(term(e.id))
            });
        }
        IdTable { table }
    }

    /// The id of `term`, whose [`term_hash`] is `hash`, in a table from
    /// [`IdTable::build_by`] with the same `stored` function.
    #[inline]
    pub(crate) fn get_by<'a>(
        &self,
        hash: u64,
        term: &str,
        stored: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let b = term.as_bytes();
        let fp = fingerprint(b);
        self.table
            .find(hash, |e| e.is(fp, b, |id| stored(id).as_bytes()))
            .map(|e| e.id)
    }

    /// True when no term is indexed.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// An interner: distinct terms in one arena, ids in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    table: HashTable<Entry>,
    arena: String,
    /// End of term `id` in `arena`; it starts where term `id - 1` ends.
    ends: Vec<usize>,
}

impl Interner {
    /// An empty interner with room for `terms` terms before it grows: growing rehashes
    /// every term from its bytes.
    pub(crate) fn with_capacity(terms: usize) -> Interner {
        Interner {
            table: HashTable::with_capacity(terms),
            arena: String::with_capacity(terms * 8),
            ends: Vec::with_capacity(terms),
        }
    }

    /// The id of `term` (whose [`term_hash`] is `hash`), adding it if new.
    #[inline]
    pub(crate) fn id(&mut self, hash: u64, term: &str) -> u32 {
        let Interner { table, arena, ends } = self;
        // The table is borrowed mutably below, so strings are read through the fields.
        let slice = |id: u32| arena_term(arena, ends, id);
        let b = term.as_bytes();
        let fp = fingerprint(b);
        if let Some(e) = table.find(hash, |e| e.is(fp, b, |id| slice(id).as_bytes())) {
            return e.id;
        }
        let id = ends.len() as u32;
        table.insert_unique(hash, Entry::new(id, b), |e| term_hash(slice(e.id)));
        arena.push_str(term);
        ends.push(arena.len());
        id
    }

    /// The id of `term` (whose [`term_hash`] is `hash`), if it was interned.
    #[inline]
    pub(crate) fn get(&self, hash: u64, term: &str) -> Option<u32> {
        let b = term.as_bytes();
        let fp = fingerprint(b);
        self.table
            .find(hash, |e| {
                e.is(fp, b, |id| {
                    arena_term(&self.arena, &self.ends, id).as_bytes()
                })
            })
            .map(|e| e.id)
    }

    /// Number of distinct terms.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The term with id `id`.
    pub(crate) fn term(&self, id: u32) -> &str {
        arena_term(&self.arena, &self.ends, id)
    }
}

/// Term `id` of an arena whose term `i` ends at `ends[i]` and starts where term `i - 1` ends.
#[inline]
fn arena_term<'a>(arena: &'a str, ends: &[usize], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] };
    &arena[start..ends[id]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_gives_first_appearance_ids_and_returns_terms() {
        let mut i = Interner::default();
        let words = ["summit", "trade", "summit", "", "trade", "visit"];
        let ids: Vec<u32> = words.iter().map(|w| i.id(term_hash(w), w)).collect();
        assert_eq!(ids, [0, 1, 0, 2, 1, 3]);
        assert_eq!(i.len(), 4);
        assert_eq!(
            [i.term(0), i.term(1), i.term(2), i.term(3)],
            ["summit", "trade", "", "visit"]
        );
    }

    #[test]
    fn fingerprints_with_lengths_tell_short_terms_apart() {
        // Every string of up to 8 bytes over a small alphabet: (fingerprint, length) must be
        // unique among them, since lookups of short terms trust it without comparing bytes.
        let mut seen = std::collections::HashSet::new();
        let alphabet = [b'a', b'b', b'\0', 0xff];
        let mut count = 0;
        for len in 0..=8u32 {
            for code in 0..4usize.pow(len) {
                let term: Vec<u8> = (0..len)
                    .map(|i| alphabet[(code / 4usize.pow(i)) % 4])
                    .collect();
                assert!(seen.insert((fingerprint(&term), len)), "{term:?}");
                count += 1;
            }
        }
        assert_eq!(count, seen.len());
    }

    #[test]
    fn terms_sharing_a_long_prefix_stay_apart() {
        let terms = [
            "internationally",
            "international",
            "internationals",
            "internat",
        ];
        let table = IdTable::build(&terms);
        for (id, t) in terms.iter().enumerate() {
            assert_eq!(table.get(&terms, term_hash(t), t), Some(id as u32));
        }
        assert_eq!(
            table.get(&terms, term_hash("internationalx"), "internationalx"),
            None
        );
        let mut i = Interner::default();
        let ids: Vec<u32> = terms
            .iter()
            .chain(&terms)
            .map(|t| i.id(term_hash(t), t))
            .collect();
        assert_eq!(ids, [0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn id_table_finds_every_term_and_nothing_else() {
        let terms: Vec<String> = (0..5000).map(|n| format!("t{n}")).collect();
        let table = IdTable::build(&terms);
        for (id, t) in terms.iter().enumerate() {
            assert_eq!(table.get(&terms, term_hash(t), t), Some(id as u32));
        }
        assert_eq!(table.get(&terms, term_hash("t5000"), "t5000"), None);
    }
}
