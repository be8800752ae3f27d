//! Vocabulary: the terms a model knows, with stable ids and document frequencies.

use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::{term_hash, IdTable, Interner};
use super::{TextError, Tokenizer};

/// Vocabulary pruning settings.
///
/// | setting | default | valid |
/// |---|---|---|
/// | `min_df` | 1 | at least 1 (documents) |
/// | `max_df` | 1.0 | (0, 1] (share of documents) |
/// | `max_features` | none | at least 1; keeps the most frequent terms |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VocabularyConfig {
    /// Drop terms that occur in fewer documents than this.
    pub min_df: u32,
    /// Drop terms that occur in more than this share of documents.
    pub max_df: f64,
    /// Keep at most this many terms, the most frequent over the corpus (ties by term).
    pub max_features: Option<usize>,
}

impl Default for VocabularyConfig {
    fn default() -> Self {
        VocabularyConfig {
            min_df: 1,
            max_df: 1.0,
            max_features: None,
        }
    }
}

impl VocabularyConfig {
    /// Checks every setting, naming the first bad value and its valid range.
    pub fn validate(&self) -> Result<(), TextError> {
        if self.min_df < 1 {
            return Err(TextError::invalid("min_df", self.min_df, ">= 1"));
        }
        if !(self.max_df > 0.0 && self.max_df <= 1.0) {
            return Err(TextError::invalid("max_df", self.max_df, "(0, 1]"));
        }
        if self.max_features == Some(0) {
            return Err(TextError::invalid("max_features", 0, ">= 1"));
        }
        Ok(())
    }
}

/// One document's terms as (corpus term id, count), sorted by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocTerms {
    /// (term id in [`CorpusTerms::terms`], occurrences), sorted by id.
    pub counts: Vec<(u32, u32)>,
    /// Number of terms emitted for the document (the sum of the counts).
    pub total: u32,
}

/// A tokenized corpus: every distinct term interned once, each document as sparse counts.
///
/// This is the unpruned first pass of training; [`Vocabulary::from_corpus`] prunes it.
#[derive(Clone, Debug, Default)]
pub struct CorpusTerms {
    /// Interned terms; ids are indices.
    pub terms: Vec<Box<str>>,
    /// Per document, in input order.
    pub docs: Vec<DocTerms>,
    /// Document frequency per interned term.
    pub df: Vec<u32>,
    /// Total occurrences per interned term.
    pub tf: Vec<u64>,
}

/// Sorts ids and collapses them into (id, count) pairs.
fn count_ids(ids: &mut [u32], out: &mut Vec<(u32, u32)>) {
    ids.sort_unstable();
    out.clear();
    for &id in ids.iter() {
        match out.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => out.push((id, 1)),
        }
    }
}

impl CorpusTerms {
    /// Tokenizes `texts` in parallel chunks. The result does not depend on the number of
    /// threads: chunks are merged in input order.
    pub fn tokenize<S: AsRef<str> + Sync>(tokenizer: &Tokenizer, texts: &[S]) -> CorpusTerms {
        let mut builder = CorpusTermsBuilder::new(tokenizer);
        builder.add(texts);
        builder.finish()
    }
}

/// Tokenizes a corpus a batch of documents at a time, e.g. while the rest is still being
/// read, so that tokenizing overlaps with decompressing. [`CorpusTermsBuilder::finish`]
/// gives the same [`CorpusTerms`] as [`CorpusTerms::tokenize`] on all the documents in the
/// order they were added, however they were batched.
pub struct CorpusTermsBuilder<'t> {
    tokenizer: &'t Tokenizer,
    /// Per tokenized chunk, in input order: its own interner, and its documents' counts
    /// in that interner's ids.
    parts: Vec<(Interner, Vec<DocTerms>)>,
    /// Stop words the builder drops itself (see [`Tokenizer::stop_words_for_caller`]):
    /// every chunk's interner starts with them, as ids `0..stop`.
    stop: u32,
}

impl<'t> CorpusTermsBuilder<'t> {
    /// An empty corpus to be tokenized by `tokenizer`.
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        CorpusTermsBuilder {
            tokenizer,
            parts: Vec::new(),
            stop: tokenizer
                .stop_words_for_caller()
                .map_or(0, |s| s.len() as u32),
        }
    }

    /// Tokenizes the next documents, in parallel chunks.
    pub fn add<S: AsRef<str> + Sync>(&mut self, texts: &[S]) {
        // Every chunk's distinct terms are interned again by the merge of `finish` (in
        // hash shards, each shard scanning every chunk), so chunks are as large as keeping
        // every thread busy allows.
        let chunk = (texts.len() / (rayon::current_num_threads() * 2)).clamp(64, 4096);
        let tokenizer = self.tokenizer;
        let stop_words = tokenizer.stop_words_for_caller();
        let stop = self.stop;
        let parts: Vec<(Interner, Vec<DocTerms>)> = texts
            .par_chunks(chunk)
            .map(|chunk| {
                // About one new term per 32 bytes of English prose: growing rehashes every
                // term from its bytes, so the interner starts near its final size.
                let bytes: usize = chunk.iter().map(|t| t.as_ref().len()).sum();
                let mut interner = Interner::with_capacity(bytes / 32 + stop as usize);
                for w in stop_words.unwrap_or_default() {
                    interner.id(term_hash(w), w);
                }
                let mut ids = Vec::new();
                let docs = chunk
                    .iter()
                    .map(|text| {
                        ids.clear();
                        let text = text.as_ref();
                        if stop_words.is_some() {
                            // One probe tells a stop word (an id below `stop`) from a term.
                            tokenizer.for_each_hashed_term_with_stop_words(text, &mut |t, h| {
                                let id = interner.id(h, t);
                                if id >= stop {
                                    ids.push(id);
                                }
                            });
                        } else {
                            tokenizer.for_each_hashed_term(text, &mut |t, h| {
                                ids.push(interner.id(h, t))
                            });
                        }
                        let mut counts = Vec::new();
                        count_ids(&mut ids, &mut counts);
                        DocTerms {
                            counts,
                            total: ids.len() as u32,
                        }
                    })
                    .collect();
                (interner, docs)
            })
            .collect();
        self.parts.extend(parts);
    }

    /// The tokenized corpus: every document added, in order.
    pub fn finish(self) -> CorpusTerms {
        let (parts, stop) = (self.parts, self.stop);
        let mut corpus = CorpusTerms::default();
        // Global ids: the terms are split into shards by hash, interned shard by shard in
        // parallel, each shard's terms in order of first appearance over the chunks in
        // input order; the ids of shard s follow those of shard s - 1. Neither the thread
        // count nor the batching changes the ids. Interning is one probe per distinct
        // term of a chunk; the rewriting of every document's ids is done in parallel too.
        const SHARDS: usize = 4;
        // Bits 32.. of the hash: the tables below index buckets by its low bits.
        let shard_of = |hash: u64| ((hash >> 32) % SHARDS as u64) as usize;
        let hashes: Vec<Vec<u64>> = parts
            .par_iter()
            .map(|(interner, _)| {
                (0..interner.len() as u32)
                    .map(|local| term_hash(interner.term(local)))
                    .collect()
            })
            .collect();
        let shards: Vec<(Interner, Vec<Vec<u32>>)> = (0..SHARDS)
            .into_par_iter()
            .map(|shard| {
                let mut global = Interner::default();
                let ids = parts
                    .iter()
                    .zip(&hashes)
                    .map(|((interner, _), hashes)| {
                        (0..interner.len() as u32)
                            .zip(hashes)
                            .map(|(local, &hash)| {
                                // A stop word: no document refers to it.
                                if local < stop || shard_of(hash) != shard {
                                    return u32::MAX;
                                }
                                global.id(hash, interner.term(local))
                            })
                            .collect()
                    })
                    .collect();
                (global, ids)
            })
            .collect();
        let mut first_ids = Vec::with_capacity(SHARDS);
        let mut n_terms = 0u32;
        for (global, _) in &shards {
            first_ids.push(n_terms);
            n_terms += global.len() as u32;
        }
        let remaps: Vec<Vec<u32>> = (0..parts.len())
            .into_par_iter()
            .map(|p| {
                (0..hashes[p].len())
                    .map(|local| {
                        let shard = shard_of(hashes[p][local]);
                        match shards[shard].1[p][local] {
                            u32::MAX => u32::MAX,
                            id => first_ids[shard] + id,
                        }
                    })
                    .collect()
            })
            .collect();
        let chunks: Vec<Vec<DocTerms>> = parts
            .into_par_iter()
            .zip(remaps.par_iter())
            .map(|((_, mut docs), remap)| {
                for doc in &mut docs {
                    for (id, _) in doc.counts.iter_mut() {
                        *id = remap[*id as usize];
                    }
                    doc.counts.sort_unstable_by_key(|(id, _)| *id);
                }
                docs
            })
            .collect();
        let n_docs = chunks.iter().map(Vec::len).sum();
        let (terms, ()) = rayon::join(
            || {
                shards
                    .par_iter()
                    .map(|(global, _)| {
                        (0..global.len() as u32)
                            .map(|id| global.term(id).into())
                            .collect::<Vec<Box<str>>>()
                    })
                    .collect::<Vec<_>>()
                    .concat()
            },
            || {
                corpus.df = vec![0; n_terms as usize];
                corpus.tf = vec![0; n_terms as usize];
                corpus.docs.reserve(n_docs);
                for doc in chunks.into_iter().flatten() {
                    for &(id, n) in &doc.counts {
                        corpus.df[id as usize] += 1;
                        corpus.tf[id as usize] += u64::from(n);
                    }
                    corpus.docs.push(doc);
                }
            },
        );
        corpus.terms = terms;
        corpus
    }
}

/// The terms a model knows. Ids are positions in alphabetical (byte-wise) order, so they
/// depend only on the set of terms, never on document order or thread count.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    terms: Vec<Box<str>>,
    df: Vec<u32>,
    tf: Vec<u64>,
    n_docs: u64,
    /// Built on the first lookup (or by [`Vocabulary::prepare`]). Why lazily: training
    /// never looks a term up, and building the table was a fiftieth of its time.
    index: OnceLock<IdTable>,
}

impl PartialEq for Vocabulary {
    fn eq(&self, other: &Self) -> bool {
        self.terms == other.terms
            && self.df == other.df
            && self.tf == other.tf
            && self.n_docs == other.n_docs
    }
}

/// Chooses which terms survive pruning: the rule shared by training and model merging.
/// Returns the kept positions of `terms`, in alphabetical order of the terms.
pub(crate) fn select_terms(
    terms: &[Box<str>],
    df: &[u32],
    tf: &[u64],
    n_docs: u64,
    config: &VocabularyConfig,
) -> Vec<u32> {
    let max_df = (config.max_df * n_docs as f64).floor().max(1.0) as u64;
    let mut kept: Vec<u32> = (0..terms.len() as u32)
        .filter(|&id| {
            let d = u64::from(df[id as usize]);
            d >= u64::from(config.min_df) && (config.max_df >= 1.0 || d <= max_df)
        })
        .collect();
    if let Some(max) = config.max_features {
        if kept.len() > max {
            kept.sort_unstable_by(|&a, &b| {
                tf[b as usize]
                    .cmp(&tf[a as usize])
                    .then_with(|| terms[a as usize].cmp(&terms[b as usize]))
            });
            kept.truncate(max);
        }
    }
    sort_alphabetically(&mut kept, terms);
    kept
}

/// Sorts term ids by their terms, byte-wise. Why not a plain comparison sort: each
/// comparison would chase two pointers into a 100k-term list; most terms differ in their
/// first 8 bytes, so sorting by that prefix, held inline, settles nearly every comparison
/// without touching the strings (ties fall back to the whole terms).
fn sort_alphabetically(ids: &mut [u32], terms: &[Box<str>]) {
    let prefix = |t: &str| -> u64 {
        let mut b = [0u8; 8];
        let n = t.len().min(8);
        b[..n].copy_from_slice(&t.as_bytes()[..n]);
        u64::from_be_bytes(b)
    };
    let mut keyed: Vec<(u64, u32)> = ids
        .iter()
        .map(|&id| (prefix(&terms[id as usize]), id))
        .collect();
    keyed.par_sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| terms[a.1 as usize].cmp(&terms[b.1 as usize]))
    });
    for (slot, (_, id)) in ids.iter_mut().zip(keyed) {
        *slot = id;
    }
}

impl Vocabulary {
    /// Prunes a tokenized corpus into a vocabulary. Returns it with, for each corpus term
    /// id, its vocabulary id (or `None` when pruned).
    pub fn from_corpus(
        corpus: &CorpusTerms,
        config: &VocabularyConfig,
    ) -> Result<(Vocabulary, Vec<Option<u32>>), TextError> {
        let n_docs = corpus.docs.len() as u64;
        let terms = corpus.terms.clone();
        Vocabulary::prune(terms, &corpus.df, &corpus.tf, n_docs, config)
    }

    /// [`Vocabulary::from_corpus`] from a corpus's parts, taking its terms instead of
    /// copying them (one allocation per term saved).
    pub(crate) fn prune(
        terms: Vec<Box<str>>,
        df: &[u32],
        tf: &[u64],
        n_docs: u64,
        config: &VocabularyConfig,
    ) -> Result<(Vocabulary, Vec<Option<u32>>), TextError> {
        config.validate()?;
        let kept = select_terms(&terms, df, tf, n_docs, config);
        let mut remap = vec![None; terms.len()];
        for (new, &old) in kept.iter().enumerate() {
            remap[old as usize] = Some(new as u32);
        }
        let mut terms: Vec<Option<Box<str>>> = terms.into_iter().map(Some).collect();
        let entries = kept
            .iter()
            .map(|&id| {
                let i = id as usize;
                let term = terms[i].take().expect("each term is kept at most once");
                (term, df[i], tf[i])
            })
            .collect();
        Ok((Vocabulary::from_sorted(entries, n_docs), remap))
    }

    /// Builds a vocabulary from (term, document frequency, total occurrences) entries.
    /// Returns `None` unless the terms are strictly increasing (the invariant that makes
    /// ids stable).
    pub fn from_entries(entries: Vec<(Box<str>, u32, u64)>, n_docs: u64) -> Option<Vocabulary> {
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        Some(Vocabulary::from_sorted(entries, n_docs))
    }

    fn from_sorted(entries: Vec<(Box<str>, u32, u64)>, n_docs: u64) -> Vocabulary {
        let mut terms = Vec::with_capacity(entries.len());
        let mut df = Vec::with_capacity(entries.len());
        let mut tf = Vec::with_capacity(entries.len());
        for (t, d, f) in entries {
            terms.push(t);
            df.push(d);
            tf.push(f);
        }
        Vocabulary {
            terms,
            df,
            tf,
            n_docs,
            index: OnceLock::new(),
        }
    }

    /// The id of `term`, if known.
    #[inline]
    pub fn get(&self, term: &str) -> Option<u32> {
        self.get_hashed(term_hash(term), term)
    }

    /// [`Vocabulary::get`] with the term's hash already computed (by the tokenizer).
    #[inline]
    pub(crate) fn get_hashed(&self, hash: u64, term: &str) -> Option<u32> {
        self.index().get(&self.terms, hash, term)
    }

    /// Builds now the lookup table the first [`Vocabulary::get`] would otherwise build.
    pub fn prepare(&self) {
        self.index();
    }

    fn index(&self) -> &IdTable {
        self.index.get_or_init(|| IdTable::build(&self.terms))
    }

    /// The term with id `id`. Panics if `id` is out of range.
    pub fn term(&self, id: u32) -> &str {
        &self.terms[id as usize]
    }

    /// All terms in id order.
    pub fn terms(&self) -> &[Box<str>] {
        &self.terms
    }

    /// Document frequency of each term, in id order.
    pub fn document_frequencies(&self) -> &[u32] {
        &self.df
    }

    /// Total occurrences of each term in the corpus, in id order.
    pub fn term_frequencies(&self) -> &[u64] {
        &self.tf
    }

    /// Number of documents the vocabulary was built from.
    pub fn n_docs(&self) -> u64 {
        self.n_docs
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when the vocabulary has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TokenizerConfig;

    fn corpus(texts: &[&str]) -> CorpusTerms {
        let t = Tokenizer::new(TokenizerConfig::default()).unwrap();
        CorpusTerms::tokenize(&t, texts)
    }

    #[test]
    fn stop_words_never_reach_the_corpus_terms_or_counts() {
        // The English list is dropped by the interner's own probe (no stemmer, unigrams).
        let c = corpus(&["The visit and THE summit", "of the", "summit of summits"]);
        let mut terms: Vec<&str> = c.terms.iter().map(|t| &**t).collect();
        terms.sort_unstable();
        assert_eq!(terms, ["summit", "summits", "visit"]);
        let totals: Vec<u32> = c.docs.iter().map(|d| d.total).collect();
        assert_eq!(totals, [2, 0, 2]);
        assert!(c.df.iter().all(|&d| d > 0));
        // With bigrams the tokenizer drops them itself, and the words are the same.
        let t = Tokenizer::new(TokenizerConfig {
            word_ngrams: 2,
            ..Default::default()
        })
        .unwrap();
        let bigrams = CorpusTerms::tokenize(&t, &["The visit and THE summit"]);
        let mut words: Vec<&str> = bigrams.terms.iter().map(|t| &**t).collect();
        words.sort_unstable();
        assert_eq!(words, ["summit", "visit", "visit summit"]);
    }

    #[test]
    fn every_document_counts_the_terms_it_was_tokenized_into() {
        // Enough distinct terms over enough chunks that every interning shard gets some.
        let t = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let texts: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    "envoy{} talks{} summit {} visit{}",
                    i % 97,
                    i % 13,
                    i,
                    i % 5
                )
            })
            .collect();
        let corpus = CorpusTerms::tokenize(&t, &texts);
        let distinct: std::collections::BTreeSet<&str> =
            corpus.terms.iter().map(|t| &**t).collect();
        assert_eq!(distinct.len(), corpus.terms.len());
        let mut df = vec![0u32; corpus.terms.len()];
        for (text, doc) in texts.iter().zip(&corpus.docs) {
            let mut expected = std::collections::BTreeMap::new();
            for term in t.tokenize(text) {
                *expected.entry(term).or_insert(0u32) += 1;
            }
            let found: std::collections::BTreeMap<String, u32> = doc
                .counts
                .iter()
                .map(|&(id, n)| (corpus.terms[id as usize].to_string(), n))
                .collect();
            assert_eq!(found, expected);
            assert!(doc.counts.windows(2).all(|w| w[0].0 < w[1].0));
            for &(id, _) in &doc.counts {
                df[id as usize] += 1;
            }
        }
        assert_eq!(df, corpus.df);
    }

    #[test]
    fn tokenizing_in_batches_gives_the_same_corpus_as_all_at_once() {
        let t = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let texts: Vec<String> = (0..300)
            .map(|i| format!("summit {} trade visit{} envoy {}", i % 7, i % 11, i))
            .collect();
        let whole = CorpusTerms::tokenize(&t, &texts);
        let mut builder = CorpusTermsBuilder::new(&t);
        for batch in [&texts[..1], &texts[1..90], &texts[90..90], &texts[90..]] {
            builder.add(batch);
        }
        let batched = builder.finish();
        assert_eq!(batched.terms, whole.terms);
        assert_eq!(batched.docs, whole.docs);
        assert_eq!(batched.df, whole.df);
        assert_eq!(batched.tf, whole.tf);
        assert_eq!(batched.docs.len(), 300);
    }

    #[test]
    fn term_ids_are_alphabetical_and_independent_of_document_order() {
        let a = corpus(&["trade summit", "summit energy"]);
        let b = corpus(&["summit energy", "trade summit"]);
        let (va, _) = Vocabulary::from_corpus(&a, &VocabularyConfig::default()).unwrap();
        let (vb, _) = Vocabulary::from_corpus(&b, &VocabularyConfig::default()).unwrap();
        assert_eq!(va, vb);
        let terms: Vec<&str> = va.terms().iter().map(|t| &**t).collect();
        assert_eq!(terms, ["energy", "summit", "trade"]);
        assert_eq!(va.document_frequencies(), [1, 2, 1]);
    }

    #[test]
    fn min_df_max_df_and_max_features_prune() {
        let c = corpus(&["aa bb cc", "aa bb", "aa dd", "aa ee ee ee"]);
        let config = VocabularyConfig {
            min_df: 2,
            ..Default::default()
        };
        let (v, remap) = Vocabulary::from_corpus(&c, &config).unwrap();
        assert_eq!(v.terms(), ["aa".into(), "bb".into()] as [Box<str>; 2]);
        assert_eq!(remap.iter().filter(|r| r.is_some()).count(), 2);
        let config = VocabularyConfig {
            max_df: 0.5,
            ..Default::default()
        };
        let (v, _) = Vocabulary::from_corpus(&c, &config).unwrap();
        assert!(v.get("aa").is_none() && v.get("bb").is_some());
        let config = VocabularyConfig {
            max_features: Some(2),
            ..Default::default()
        };
        let (v, _) = Vocabulary::from_corpus(&c, &config).unwrap();
        assert_eq!(v.terms(), ["aa".into(), "ee".into()] as [Box<str>; 2]);
    }

    #[test]
    fn corpus_counts_terms_per_document() {
        let c = corpus(&["visit visit summit"]);
        let visit = c.terms.iter().position(|t| &**t == "visit").unwrap() as u32;
        assert!(c.docs[0].counts.contains(&(visit, 2)));
        assert_eq!(c.docs[0].total, 3);
    }

    #[test]
    fn unsorted_entries_are_refused() {
        assert!(
            Vocabulary::from_entries(vec![("b".into(), 1, 1), ("a".into(), 1, 1)], 1).is_none()
        );
    }
}
