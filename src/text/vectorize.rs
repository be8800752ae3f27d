//! Vectorizer: text -> sparse (term id, weight) vector over a fixed vocabulary.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::grams::GramIndex;
use super::table::IdTable;
use super::{Tokenizer, Vocabulary};

/// Length normalisation of a document vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// Raw weights (the classic multinomial naive Bayes input).
    #[default]
    None,
    /// Weights sum to 1.
    L1,
    /// Euclidean length 1.
    L2,
}

/// Vectorizer settings.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `sublinear_tf` | false | weight = 1 + ln(count) instead of count |
/// | `idf` | false | multiply by smoothed idf, ln((1 + n) / (1 + df)) + 1 |
/// | `norm` | none | `none`, `l1` or `l2` length normalisation |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct VectorizerConfig {
    /// Dampen repeated terms logarithmically.
    pub sublinear_tf: bool,
    /// Weight terms by inverse document frequency.
    pub idf: bool,
    /// Normalise the document's length.
    pub norm: Norm,
}

/// A sparse vector: parallel arrays, indices strictly increasing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    /// Term ids, strictly increasing.
    pub indices: Vec<u32>,
    /// Weights aligned with `indices`.
    pub values: Vec<f64>,
}

impl SparseVector {
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
}

/// A vectorized document with what the model needs to explain itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vectorized {
    /// Weighted term vector.
    pub vector: SparseVector,
    /// Raw occurrence counts aligned with `vector.indices`.
    pub counts: Vec<u32>,
    /// Terms of the document that the vocabulary knows.
    pub known_terms: u32,
    /// All terms the tokenizer produced for the document.
    pub total_terms: u32,
}

impl Vectorized {
    /// Share of the document's terms that the vocabulary knows; 0 for a document with no terms.
    pub fn coverage(&self) -> f64 {
        if self.total_terms == 0 {
            0.0
        } else {
            f64::from(self.known_terms) / f64::from(self.total_terms)
        }
    }
}

/// Tokenizer + vocabulary + weighting: the exact features a model was trained on.
#[derive(Debug)]
pub struct Vectorizer {
    tokenizer: Tokenizer,
    vocabulary: Vocabulary,
    config: VectorizerConfig,
    idf: Option<Vec<f64>>,
    /// The vocabulary's word n-grams indexed by word ids, for models with word n-grams
    /// (and no character n-grams); built on first use, since training needs it only when
    /// it also evaluates (cross-validation, hold-out).
    grams: OnceLock<Option<GramIndex>>,
    /// The vocabulary and the stop list in one table, for models whose tokenizer lets the
    /// caller drop stop words (see [`Tokenizer::stop_words_for_caller`]); built on first
    /// use, like `grams`.
    terms_and_stops: OnceLock<Option<TermsAndStops>>,
}

/// Vocabulary terms (ids below the vocabulary's length) and stop words (the ids after)
/// in one table. Why: a word of a unigram model was probed twice, in the stop list and
/// then in the vocabulary; this answers both with one probe.
#[derive(Debug)]
struct TermsAndStops {
    table: IdTable,
    stop: Vec<Box<str>>,
}

/// What one probe of [`TermsAndStops`] says about a word.
enum Probe {
    Term(u32),
    Stop,
    Unknown,
}

impl Vectorizer {
    /// Combines the parts; idf weights come from the vocabulary's document frequencies.
    pub fn new(tokenizer: Tokenizer, vocabulary: Vocabulary, config: VectorizerConfig) -> Self {
        let idf = config.idf.then(|| {
            let n = vocabulary.n_docs() as f64;
            vocabulary
                .document_frequencies()
                .iter()
                .map(|&df| ((1.0 + n) / (1.0 + f64::from(df))).ln() + 1.0)
                .collect()
        });
        Vectorizer {
            tokenizer,
            vocabulary,
            config,
            idf,
            grams: OnceLock::new(),
            terms_and_stops: OnceLock::new(),
        }
    }

    /// Builds now what the first [`Vectorizer::vectorize`] call would otherwise build (the
    /// vocabulary's lookup table, and an index of its word n-grams), so that a server's
    /// first request after loading a model does not pay for it.
    pub fn prepare(&self) {
        if self.terms_and_stops().is_none() {
            self.vocabulary.prepare();
        }
        self.gram_index();
    }

    fn terms_and_stops(&self) -> Option<&TermsAndStops> {
        self.terms_and_stops
            .get_or_init(|| {
                let stop = self.tokenizer.stop_words_for_caller()?;
                let terms = self.vocabulary.terms();
                // Stop words are dropped before any lookup, so one that is also a term
                // must answer "stop": rather than a table with both, keep the two probes.
                // (Training drops them, so a model's vocabulary never holds one.)
                let in_both = |w: &str| terms.binary_search_by(|t| (**t).cmp(w)).is_ok();
                if stop.iter().any(|w| in_both(w)) {
                    return None;
                }
                let n = terms.len() as u32;
                let stored = |id: u32| -> &str {
                    match id.checked_sub(n) {
                        None => &terms[id as usize],
                        Some(s) => &stop[s as usize],
                    }
                };
                let table = IdTable::build_by(terms.len() + stop.len(), stored);
                Some(TermsAndStops {
                    table,
                    stop: stop.to_vec(),
                })
            })
            .as_ref()
    }

    /// Probes the table of terms and stop words for a word with hash `hash`.
    #[inline]
    fn probe(&self, ts: &TermsAndStops, hash: u64, word: &str) -> Probe {
        let terms = self.vocabulary.terms();
        let n = terms.len() as u32;
        let stored = |id: u32| -> &str {
            match id.checked_sub(n) {
                None => &terms[id as usize],
                Some(s) => &ts.stop[s as usize],
            }
        };
        match ts.table.get_by(hash, word, stored) {
            Some(id) if id < n => Probe::Term(id),
            Some(_) => Probe::Stop,
            None => Probe::Unknown,
        }
    }

    fn gram_index(&self) -> Option<&GramIndex> {
        self.grams
            .get_or_init(|| {
                let c = self.tokenizer.config();
                (c.word_ngrams >= 2 && c.char_ngrams.is_none())
                    .then(|| GramIndex::build(&self.vocabulary, c.word_ngrams))
            })
            .as_ref()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The vocabulary.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// The weighting settings.
    pub fn config(&self) -> &VectorizerConfig {
        &self.config
    }

    /// Vectorizes `text`. Terms outside the vocabulary are skipped and only counted.
    pub fn vectorize(&self, text: &str) -> Vectorized {
        let mut ids = Vec::new();
        let mut out = Vectorized::default();
        self.vectorize_into(text, &mut ids, &mut out);
        out
    }

    /// Like [`Vectorizer::vectorize`], reusing `ids` and `out` to avoid allocations in hot loops.
    pub fn vectorize_into(&self, text: &str, ids: &mut Vec<u32>, out: &mut Vectorized) {
        ids.clear();
        let indexed = self
            .gram_index()
            .and_then(|g| g.lookup(&self.tokenizer, text, ids));
        let total = match indexed {
            Some(total) => total,
            None if self.terms_and_stops().is_some() => {
                let ts = self.terms_and_stops().expect("checked");
                ids.clear();
                let mut total = 0u32;
                self.tokenizer
                    .for_each_hashed_term_with_stop_words(text, &mut |t, h| match self
                        .probe(ts, h, t)
                    {
                        Probe::Term(id) => {
                            total += 1;
                            ids.push(id);
                        }
                        Probe::Unknown => total += 1,
                        Probe::Stop => {}
                    });
                total
            }
            None => {
                ids.clear();
                let mut total = 0u32;
                self.tokenizer.for_each_hashed_term(text, &mut |t, h| {
                    total += 1;
                    if let Some(id) = self.vocabulary.get_hashed(h, t) {
                        ids.push(id);
                    }
                });
                total
            }
        };
        ids.sort_unstable();
        out.vector.indices.clear();
        out.counts.clear();
        for &id in ids.iter() {
            match out.vector.indices.last() {
                Some(&last) if last == id => *out.counts.last_mut().expect("aligned") += 1,
                _ => {
                    out.vector.indices.push(id);
                    out.counts.push(1);
                }
            }
        }
        out.known_terms = ids.len() as u32;
        out.total_terms = total;
        self.weigh(&out.vector.indices, &out.counts, &mut out.vector.values);
    }

    /// Weighs raw counts of vocabulary ids (sorted, distinct) into `values`.
    pub fn weigh(&self, indices: &[u32], counts: &[u32], values: &mut Vec<f64>) {
        values.clear();
        values.extend(counts.iter().map(|&c| {
            if self.config.sublinear_tf {
                1.0 + f64::from(c).ln()
            } else {
                f64::from(c)
            }
        }));
        if let Some(idf) = &self.idf {
            for (v, &i) in values.iter_mut().zip(indices) {
                *v *= idf[i as usize];
            }
        }
        let length = match self.config.norm {
            Norm::None => return,
            Norm::L1 => values.iter().map(|v| v.abs()).sum::<f64>(),
            Norm::L2 => values.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        if length > 0.0 {
            for v in values.iter_mut() {
                *v /= length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{CorpusTerms, TokenizerConfig, VocabularyConfig};

    fn vectorizer(config: VectorizerConfig) -> Vectorizer {
        let t = Tokenizer::new(TokenizerConfig::default()).unwrap();
        let c = CorpusTerms::tokenize(&t, &["trade investment trade", "summit visit"]);
        let (v, _) = Vocabulary::from_corpus(&c, &VocabularyConfig::default()).unwrap();
        Vectorizer::new(t, v, config)
    }

    #[test]
    fn one_probe_for_terms_and_stop_words_gives_what_two_probes_give() {
        use crate::text::{StopWords, ENGLISH_STOP_WORDS};
        let texts = [
            "The summit and the trade talks",
            "an envoy of THE union visits them",
            "the café’s naïve trade délégation, and we",
            "unknown words only here",
        ];
        let all_words = Tokenizer::new(TokenizerConfig {
            stop_words: StopWords::None,
            ..Default::default()
        })
        .unwrap();
        let c = CorpusTerms::tokenize(&all_words, &texts);
        let (with_stop, _) = Vocabulary::from_corpus(&c, &VocabularyConfig::default()).unwrap();
        let entries = (0..with_stop.len() as u32)
            .map(|id| with_stop.term(id))
            .filter(|t| !ENGLISH_STOP_WORDS.contains(t))
            .map(|t| (t.into(), 1, 1))
            .collect();
        let without_stop = Vocabulary::from_entries(entries, 4).unwrap();
        let english = || Tokenizer::new(TokenizerConfig::default()).unwrap();
        // A vocabulary that holds stop words keeps the two probes.
        let two = Vectorizer::new(english(), with_stop, VectorizerConfig::default());
        let one = Vectorizer::new(english(), without_stop, VectorizerConfig::default());
        assert!(two.terms_and_stops().is_none());
        assert!(one.terms_and_stops().is_some());
        let terms = |v: &Vectorizer, out: &Vectorized| -> Vec<(String, u32)> {
            let names = out.vector.indices.iter().map(|&i| v.vocabulary().term(i));
            names.map(str::to_owned).zip(out.counts.clone()).collect()
        };
        for text in texts
            .iter()
            .chain(&["", "the and of", "Trade TRADE trade, the end"])
        {
            let (a, b) = (two.vectorize(text), one.vectorize(text));
            assert_eq!(terms(&two, &a), terms(&one, &b), "{text:?}");
            assert_eq!(
                (a.known_terms, a.total_terms),
                (b.known_terms, b.total_terms),
                "{text:?}"
            );
        }
        let out = one.vectorize("the summit and the trade talks");
        assert_eq!((out.known_terms, out.total_terms), (3, 3));
    }

    #[test]
    fn counts_known_terms_and_reports_coverage() {
        let v = vectorizer(VectorizerConfig::default());
        let out = v.vectorize("Trade, trade and an unknown pipeline");
        let trade = v.vocabulary().get("trade").unwrap();
        assert_eq!(out.vector.indices, [trade]);
        assert_eq!(out.vector.values, [2.0]);
        assert_eq!((out.known_terms, out.total_terms), (2, 4));
        assert_eq!(out.coverage(), 0.5);
    }

    #[test]
    fn sublinear_tf_idf_and_l2_norm_compose() {
        let v = vectorizer(VectorizerConfig {
            sublinear_tf: true,
            idf: true,
            norm: Norm::L2,
        });
        let out = v.vectorize("trade trade summit");
        let length: f64 = out.vector.values.iter().map(|x| x * x).sum();
        assert!((length - 1.0).abs() < 1e-12);
        // Both terms have df 1 of 2 documents, so only tf separates them: 1 + ln 2 vs 1.
        // Ids are alphabetical: "summit" (tf 1) comes before "trade" (tf 2).
        let ratio = out.vector.values[1] / out.vector.values[0];
        assert!((ratio - (1.0 + 2f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn empty_document_has_zero_coverage_and_no_terms() {
        let v = vectorizer(VectorizerConfig::default());
        let out = v.vectorize("   ");
        assert_eq!(out.vector.nnz(), 0);
        assert_eq!(out.coverage(), 0.0);
    }
}
