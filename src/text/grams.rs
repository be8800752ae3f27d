//! Word n-gram lookups composed from word ids, for vectorizing with a fixed vocabulary.
//!
//! Why: with 1–2-gram models most vocabulary terms are n-grams, and looking one up by its
//! string means building the string, hashing it, and, on a hit, following the table entry
//! to the stored term to compare bytes: on a vocabulary of a few hundred thousand terms
//! each of those steps is a cache miss, and profiling put half of classification time
//! there. Here the vocabulary is indexed as a trie over words: every piece of every term
//! (split at spaces) gets a word id, and every prefix of two or more pieces a node id
//! found from (node of the prefix one piece shorter, word id) — an integer key, compared
//! without touching strings. An n-gram of the document is then one integer probe from
//! the node of the (n-1)-gram that ended at the previous word, and none at all when a
//! word is unknown.
//!
//! It gives the same terms as looking up the strings the tokenizer builds, as long as no
//! word contains a space (the tokenizer joins n-gram words with one): ASCII words never do,
//! and a document with a word that does (a rare Unicode case, such as a combining mark
//! after a space) is left to the string lookups by the caller.

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

use super::table::{term_hash, Interner};
use super::tokenize::MAX_WORD_NGRAMS;
use super::{Tokenizer, Vocabulary};

/// No node, word or vocabulary id.
const NONE: u32 = u32::MAX;

/// The vocabulary as a trie over words (see the module documentation).
#[derive(Debug)]
pub(crate) struct GramIndex {
    /// Longest n-gram the tokenizer emits.
    n: usize,
    /// Every piece of every vocabulary term; word ids are node ids of one-piece prefixes.
    words: Interner,
    /// (parent node << 32 | word id) -> node id, for prefixes of two or more pieces.
    children: HashMap<u64, u32, FxBuildHasher>,
    /// Vocabulary id of the term each node spells, or [`NONE`] for a prefix only.
    feature: Vec<u32>,
}

impl GramIndex {
    /// Indexes `vocabulary` for a tokenizer emitting word n-grams up to `n` words long.
    pub(crate) fn build(vocabulary: &Vocabulary, n: usize) -> GramIndex {
        let terms = vocabulary.terms();
        let mut words = Interner::with_capacity(terms.len() / 4);
        // Words first, so that their node ids equal their word ids: the pieces of term i
        // are pieces[starts[i]..starts[i + 1]] (one flat list, not a vector per term).
        let mut pieces: Vec<u32> = Vec::with_capacity(terms.len() * n);
        let mut starts: Vec<usize> = Vec::with_capacity(terms.len() + 1);
        starts.push(0);
        for term in terms {
            pieces.extend(term.split(' ').map(|p| words.id(term_hash(p), p)));
            starts.push(pieces.len());
        }
        let mut feature = vec![NONE; words.len()];
        let grams = pieces.len() - terms.len();
        let mut children: HashMap<u64, u32, FxBuildHasher> =
            HashMap::with_capacity_and_hasher(grams, FxBuildHasher);
        for (vocab_id, ids) in starts.windows(2).map(|w| &pieces[w[0]..w[1]]).enumerate() {
            // A term that no run of space-free words spells (an empty piece, or more pieces
            // than the longest n-gram) can never be looked up this way.
            if ids.len() > n || ids.iter().any(|&w| words.term(w).is_empty()) {
                continue;
            }
            let mut node = ids[0];
            for &w in &ids[1..] {
                let next = feature.len() as u32;
                node = *children.entry(key(node, w)).or_insert_with(|| {
                    feature.push(NONE);
                    next
                });
            }
            feature[node as usize] = vocab_id as u32;
        }
        GramIndex {
            n,
            words,
            children,
            feature,
        }
    }

    /// Pushes the vocabulary id of every term of `text` the vocabulary knows onto `ids` and
    /// returns how many terms the tokenizer emits in all, exactly as looking up each term
    /// of [`Tokenizer::for_each_term`] would; `None` (with `ids` in any state) when a word
    /// holds a space, for the caller to look the strings up instead.
    pub(crate) fn lookup(
        &self,
        tokenizer: &Tokenizer,
        text: &str,
        ids: &mut Vec<u32>,
    ) -> Option<u32> {
        // ends[k]: node of the (k+1)-word gram that ended at the previous word, or NONE.
        let mut ends = [NONE; MAX_WORD_NGRAMS];
        let mut seen = 0usize;
        let mut total = 0u32;
        let mut spaced = false;
        tokenizer.for_each_kept_word(text, &mut |word, hash| {
            if spaced {
                return;
            }
            if word.as_bytes().contains(&b' ') {
                spaced = true;
                return;
            }
            // Grams of 1..=longest words end here, as in the tokenizer's window.
            let longest = seen.min(self.n - 1) + 1;
            seen += 1;
            total += longest as u32;
            let mut now = [NONE; MAX_WORD_NGRAMS];
            let w = self.words.get(hash, word).unwrap_or(NONE);
            if w != NONE {
                now[0] = w;
                for k in 1..longest {
                    let prefix = ends[k - 1];
                    if prefix != NONE {
                        if let Some(&node) = self.children.get(&key(prefix, w)) {
                            now[k] = node;
                        }
                    }
                }
                for &node in &now[..longest] {
                    if node != NONE {
                        let id = self.feature[node as usize];
                        if id != NONE {
                            ids.push(id);
                        }
                    }
                }
            }
            ends = now;
        });
        (!spaced).then_some(total)
    }
}

#[inline]
fn key(node: u32, word: u32) -> u64 {
    (u64::from(node) << 32) | u64::from(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{CorpusTerms, StopWords, TokenizerConfig, VocabularyConfig};
    use proptest::prelude::*;

    /// A tokenizer with `n`-grams and the vocabulary of `corpus` under `min_df`.
    fn setup(
        n: usize,
        stop_words: StopWords,
        corpus: &[&str],
        min_df: u32,
    ) -> (Tokenizer, Vocabulary) {
        let t = Tokenizer::new(TokenizerConfig {
            word_ngrams: n,
            stop_words,
            min_token_chars: 1,
            ..TokenizerConfig::default()
        })
        .unwrap();
        let c = CorpusTerms::tokenize(&t, corpus);
        let config = VocabularyConfig {
            min_df,
            ..VocabularyConfig::default()
        };
        let (v, _) = Vocabulary::from_corpus(&c, &config).unwrap();
        (t, v)
    }

    /// What looking up every term string the tokenizer builds gives: sorted ids and the total.
    fn by_strings(t: &Tokenizer, v: &Vocabulary, text: &str) -> (Vec<u32>, u32) {
        let mut ids = Vec::new();
        let mut total = 0;
        t.for_each_hashed_term(text, &mut |term, h| {
            total += 1;
            ids.extend(v.get_hashed(h, term));
        });
        ids.sort_unstable();
        (ids, total)
    }

    fn by_index(g: &GramIndex, t: &Tokenizer, text: &str) -> Option<(Vec<u32>, u32)> {
        let mut ids = Vec::new();
        let total = g.lookup(t, text, &mut ids)?;
        ids.sort_unstable();
        Some((ids, total))
    }

    #[test]
    fn bigrams_and_trigrams_are_found_from_word_ids() {
        let corpus = [
            "the ministers prepared the summit",
            "summit preparation talks",
            "ministers prepared talks",
        ];
        let (t, v) = setup(3, StopWords::English, &corpus, 1);
        let g = GramIndex::build(&v, 3);
        for text in [
            "The ministers prepared the summit talks.",
            "talks summit preparation unknown talks",
            "",
        ] {
            assert_eq!(
                by_index(&g, &t, text),
                Some(by_strings(&t, &v, text)),
                "{text:?}"
            );
        }
        // A known trigram is found (stop words drop out before n-grams form).
        let (ids, _) = by_index(&g, &t, "ministers prepared the summit").unwrap();
        assert!(ids.contains(&v.get("ministers prepared summit").unwrap()));
    }

    #[test]
    fn a_pruned_prefix_still_leads_to_longer_grams() {
        // "zz", in every document, is pruned by max_df, yet grams starting with it stay.
        let corpus = ["zz aa bb cc", "zz aa bb cc", "zz dd"];
        let t = Tokenizer::new(TokenizerConfig {
            word_ngrams: 3,
            stop_words: StopWords::None,
            min_token_chars: 1,
            ..TokenizerConfig::default()
        })
        .unwrap();
        let c = CorpusTerms::tokenize(&t, &corpus);
        let config = VocabularyConfig {
            max_df: 0.9,
            ..VocabularyConfig::default()
        };
        let (v, _) = Vocabulary::from_corpus(&c, &config).unwrap();
        assert!(v.get("zz").is_none() && v.get("zz aa bb").is_some());
        let g = GramIndex::build(&v, 3);
        let text = "zz aa bb cc zz";
        assert_eq!(by_index(&g, &t, text), Some(by_strings(&t, &v, text)));
    }

    #[test]
    fn a_word_holding_a_space_is_left_to_string_lookups() {
        // A combining mark after a space joins it (UAX #29 WB4): " \u{1e08f}" is one word.
        let (t, v) = setup(2, StopWords::None, &["aa bb", "bb aa"], 1);
        let text = "aa \u{1e08f} bb";
        let mut words = Vec::new();
        t.for_each_kept_word(text, &mut |w, _| words.push(w.to_owned()));
        assert!(words.iter().any(|w| w.contains(' ')), "{words:?}");
        let g = GramIndex::build(&v, 2);
        assert_eq!(by_index(&g, &t, text), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn same_terms_as_looking_up_their_strings(
            corpus in prop::collection::vec("(aa|bb|cc|the|of|Dd|éé|ß|x|\u{1e08f}| |\\.|, ){0,12}", 1..8),
            docs in prop::collection::vec("(aa|bb|cc|the|of|Dd|éé|ß|x|zz|\u{1e08f}| |\\.|, ){0,16}", 1..8),
            n in 2usize..=4,
            english in any::<bool>(),
            min_df in 1u32..=2,
        ) {
            let stop = if english { StopWords::English } else { StopWords::None };
            let corpus: Vec<&str> = corpus.iter().map(|s| s.as_str()).collect();
            let (t, v) = setup(n, stop, &corpus, min_df);
            let g = GramIndex::build(&v, n);
            for text in docs.iter().map(|s| s.as_str()).chain(corpus.iter().copied()) {
                if let Some(found) = by_index(&g, &t, text) {
                    prop_assert_eq!(found, by_strings(&t, &v, text), "{:?}", text);
                }
            }
        }
    }
}
