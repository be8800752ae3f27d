//! String tables for the hot paths: one hash per term, strings stored once.
//!
//! Why not `HashMap<Box<str>, u32>`: tokenizing spends most of its time looking terms up
//! (stop words, then the vocabulary or the training interner). A map keyed by boxed strings
//! hashes the term once per table and, when interning, allocates each new term twice (key
//! and id-to-term list). Here every table hashes with the same function, so a caller hashes
//! a term once ([`term_hash`]) and probes any table with it; the table stores only ids, the
//! strings live once, in the owner's list or in one arena buffer.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// The hash every table here uses. Deterministic (no random seed) and never persisted:
/// models store terms, not hashes, so the function may change between versions.
#[inline]
pub(crate) fn term_hash(term: &str) -> u64 {
    FxBuildHasher.hash_one(term.as_bytes())
}

/// Ids of terms kept elsewhere (`terms[id]`), found by hash. The owner passes its term list
/// to every call, which keeps the strings in one place.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdTable {
    table: HashTable<u32>,
}

impl IdTable {
    /// Indexes `terms` (distinct strings); ids are positions.
    pub(crate) fn build<T: AsRef<str>>(terms: &[T]) -> IdTable {
        let mut table = HashTable::with_capacity(terms.len());
        for (id, term) in terms.iter().enumerate() {
            let h = term_hash(term.as_ref());
            table.insert_unique(h, id as u32, |&i| term_hash(terms[i as usize].as_ref()));
        }
        IdTable { table }
    }

    /// The id of `term`, whose [`term_hash`] is `hash`, in `terms` (the list it was built on).
    #[inline]
    pub(crate) fn get<T: AsRef<str>>(&self, terms: &[T], hash: u64, term: &str) -> Option<u32> {
        self.table
            .find(hash, |&id| terms[id as usize].as_ref() == term)
            .copied()
    }

    /// True when no term is indexed.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// An interner: distinct terms in one arena, ids in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    table: HashTable<u32>,
    arena: String,
    /// End of term `id` in `arena`; it starts where term `id - 1` ends.
    ends: Vec<usize>,
}

impl Interner {
    /// The id of `term` (whose [`term_hash`] is `hash`), adding it if new.
    #[inline]
    pub(crate) fn id(&mut self, hash: u64, term: &str) -> u32 {
        let Interner { table, arena, ends } = self;
        let slice = |id: u32| -> &str {
            let id = id as usize;
            let start = if id == 0 { 0 } else { ends[id - 1] };
            &arena[start..ends[id]]
        };
        if let Some(&id) = table.find(hash, |&id| slice(id) == term) {
            return id;
        }
        let id = ends.len() as u32;
        table.insert_unique(hash, id, |&i| term_hash(slice(i)));
        arena.push_str(term);
        ends.push(arena.len());
        id
    }

    /// Number of distinct terms.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The term with id `id`.
    pub(crate) fn term(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.arena[start..self.ends[id]]
    }
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
    fn id_table_finds_every_term_and_nothing_else() {
        let terms: Vec<String> = (0..5000).map(|n| format!("t{n}")).collect();
        let table = IdTable::build(&terms);
        for (id, t) in terms.iter().enumerate() {
            assert_eq!(table.get(&terms, term_hash(t), t), Some(id as u32));
        }
        assert_eq!(table.get(&terms, term_hash("t5000"), "t5000"), None);
    }
}
