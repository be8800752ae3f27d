//! Training: features for a whole corpus, counted into a [`Model`].

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::classifier::{LabelInfo, Model, ModelConfig, TrainingInfo};
use super::naive_bayes::NbCounts;
use super::ModelError;
use crate::text::{CorpusTerms, SparseVector, Tokenizer, Vectorizer, Vocabulary};

/// A corpus turned into features: the vectorizer built from it and one vector per document.
#[derive(Debug)]
pub struct Features {
    /// Tokenizer + pruned vocabulary + weighting, built from the corpus.
    pub vectorizer: Vectorizer,
    /// One weighted vector per document, in input order.
    pub vectors: Vec<SparseVector>,
}

/// Tokenizes `texts` (in parallel), builds and prunes the vocabulary, and weighs every
/// document. Deterministic whatever the thread count.
pub fn extract_features<S: AsRef<str> + Sync>(
    config: &ModelConfig,
    texts: &[S],
) -> Result<Features, ModelError> {
    let tokenizer = corpus_tokenizer(config)?;
    let corpus = CorpusTerms::tokenize(&tokenizer, texts);
    features_of(config, tokenizer, corpus)
}

/// The tokenizer training with `config` uses, after checking every setting of `config`:
/// for callers that tokenize the corpus themselves (e.g. while reading it, with
/// [`crate::text::CorpusTermsBuilder`]) before [`features_of`].
pub fn corpus_tokenizer(config: &ModelConfig) -> Result<Tokenizer, ModelError> {
    config.validate()?;
    Ok(Tokenizer::new(config.tokenizer.clone())?)
}

/// [`extract_features`] from a corpus already tokenized by `tokenizer`, which must be
/// [`corpus_tokenizer`]`(config)`.
pub fn features_of(
    config: &ModelConfig,
    tokenizer: Tokenizer,
    corpus: CorpusTerms,
) -> Result<Features, ModelError> {
    let CorpusTerms {
        terms,
        docs,
        df,
        tf,
    } = corpus;
    let n_docs = docs.len() as u64;
    let (vocabulary, remap) = Vocabulary::prune(terms, &df, &tf, n_docs, &config.vocabulary)?;
    let vectorizer = Vectorizer::new(tokenizer, vocabulary, config.vectorizer.clone());
    let vectors = docs
        .par_iter()
        .map(|doc| {
            let mut pairs: Vec<(u32, u32)> = doc
                .counts
                .iter()
                .filter_map(|&(id, n)| remap[id as usize].map(|v| (v, n)))
                .collect();
            pairs.sort_unstable_by_key(|p| p.0);
            let (indices, counts): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
            let mut values = Vec::with_capacity(indices.len());
            vectorizer.weigh(&indices, &counts, &mut values);
            SparseVector { indices, values }
        })
        .collect();
    Ok(Features {
        vectorizer,
        vectors,
    })
}

impl Features {
    /// Counts the documents `docs` (indices into `vectors` and `labels`) into naive Bayes
    /// statistics over `n_labels` labels.
    pub fn count(
        &self,
        labels: &[Vec<usize>],
        docs: impl IntoIterator<Item = usize>,
        n_labels: usize,
    ) -> Result<NbCounts, ModelError> {
        // Label by label, each into a dense row of the vocabulary's size that stays in
        // cache (adding documents straight into the term-major table missed the cache on
        // nearly every term), labels in parallel; the rows' non-zero cells then fill the
        // table in parallel blocks of terms. Each cell sums its documents in input order,
        // as adding document by document did, so the counts are bit-identical.
        let n_terms = self.vectorizer.vocabulary().len();
        let mut by_label: Vec<Vec<u32>> = vec![Vec::new(); n_labels];
        for i in docs {
            for &c in &labels[i] {
                by_label
                    .get_mut(c)
                    .ok_or_else(|| {
                        ModelError::Inconsistent(format!(
                            "label index {c} out of range ({n_labels} labels)"
                        ))
                    })?
                    .push(i as u32);
            }
        }
        let columns = by_label
            .par_iter()
            .map_init(
                || vec![0.0f64; n_terms],
                |row, docs| {
                    for &i in docs {
                        let x = &self.vectors[i as usize];
                        for (&t, &v) in x.indices.iter().zip(&x.values) {
                            let cell = row.get_mut(t as usize).ok_or_else(|| {
                                ModelError::Inconsistent(format!(
                                    "term id {t} out of range ({n_terms} terms)"
                                ))
                            })?;
                            *cell += v;
                        }
                    }
                    let mut column = Vec::new();
                    for (t, x) in row.iter_mut().enumerate() {
                        if *x != 0.0 {
                            column.push((t as u32, *x));
                            *x = 0.0;
                        }
                    }
                    Ok(column)
                },
            )
            .collect::<Result<Vec<_>, ModelError>>()?;
        let label_docs = by_label.iter().map(|d| d.len() as u64).collect();
        Ok(NbCounts::from_columns(n_terms, label_docs, &columns))
    }
}

/// Identity of the model being trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// Model id.
    pub id: String,
    /// Model version.
    pub version: String,
    /// The labels, in model order; documents refer to them by index.
    pub labels: Vec<LabelInfo>,
}

impl Model {
    /// Trains a model on `texts`, where document i carries the label indices `labels[i]`.
    /// Thresholds start at the configured default; tune them with [`Model::set_thresholds`].
    pub fn train<S: AsRef<str> + Sync>(
        spec: TrainSpec,
        config: ModelConfig,
        texts: &[S],
        labels: &[Vec<usize>],
    ) -> Result<Model, ModelError> {
        if texts.len() != labels.len() {
            return Err(ModelError::Inconsistent(format!(
                "{} texts but {} label lists",
                texts.len(),
                labels.len()
            )));
        }
        let features = extract_features(&config, texts)?;
        Model::from_features(spec, config, features, texts, labels)
    }

    /// Counts already extracted features (from [`extract_features`] on the same `config`
    /// and `texts`) into a model; lets callers that cross-validate on the features first
    /// avoid tokenizing the corpus twice.
    pub fn from_features<S: AsRef<str> + Sync>(
        spec: TrainSpec,
        config: ModelConfig,
        features: Features,
        texts: &[S],
        labels: &[Vec<usize>],
    ) -> Result<Model, ModelError> {
        if features.vectors.len() != texts.len() || texts.len() != labels.len() {
            return Err(ModelError::Inconsistent(format!(
                "{} feature vectors, {} texts, {} label lists",
                features.vectors.len(),
                texts.len(),
                labels.len()
            )));
        }
        let n_labels = spec.labels.len();
        let counts = features.count(labels, 0..texts.len(), n_labels)?;
        let names: Vec<&str> = spec.labels.iter().map(|l| l.name.as_str()).collect();
        let training = TrainingInfo {
            corpus_digest: corpus_digest(texts, labels, &names),
            documents: texts.len() as u64,
            ..TrainingInfo::default()
        };
        let thresholds = vec![config.assign.threshold; n_labels];
        Model::from_parts(
            spec.id,
            spec.version,
            spec.labels,
            training,
            config,
            features.vectorizer,
            counts,
            thresholds,
        )
    }
}

/// An order-independent digest of a labeled corpus: the sum, modulo 2^256, of the SHA-256
/// of each document (its label names, sorted, then its text). Because it is a sum, the
/// digest of a corpus equals the sum of the digests of its shards, so merged models carry
/// the same digest as a model trained on everything at once.
pub fn corpus_digest<S: AsRef<str> + Sync>(
    texts: &[S],
    labels: &[Vec<usize>],
    names: &[&str],
) -> String {
    let sum = texts
        .par_iter()
        .zip(labels)
        .map(|(text, doc_labels)| {
            let mut doc_names: Vec<&str> = doc_labels.iter().map(|&c| names[c]).collect();
            doc_names.sort_unstable();
            let mut h = Sha256::new();
            for n in doc_names {
                h.update(n.as_bytes());
                h.update([0x1f]);
            }
            h.update([0x1e]);
            h.update(text.as_ref().as_bytes());
            let bytes: [u8; 32] = h.finalize().into();
            bytes
        })
        .reduce(|| [0u8; 32], |a, b| add_256(&a, &b));
    hex(&sum)
}

/// Adds two hex digests made by [`corpus_digest`]; `None` if either is malformed.
pub(crate) fn add_digests(a: &str, b: &str) -> Option<String> {
    Some(hex(&add_256(&unhex(a)?, &unhex(b)?)))
}

fn add_256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_by_label_equals_adding_document_by_document() {
        let texts: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    "envoy{} talks{} summit {} visit{}",
                    i % 37,
                    i % 13,
                    i % 50,
                    i % 5
                )
            })
            .collect();
        let labels: Vec<Vec<usize>> = (0..500)
            .map(|i| match i % 4 {
                0 => vec![0],
                1 => vec![1, 2],
                2 => vec![2, 0],
                _ => vec![1],
            })
            .collect();
        let features = extract_features(&ModelConfig::default(), &texts).unwrap();
        let subset: Vec<usize> = (0..500).filter(|i| i % 3 != 0).collect();
        let counted = features.count(&labels, subset.iter().copied(), 3).unwrap();
        let mut added = NbCounts::new(features.vectorizer.vocabulary().len(), 3);
        for &i in &subset {
            added.add(&features.vectors[i], &labels[i]).unwrap();
        }
        assert_eq!(counted.label_docs(), added.label_docs());
        assert_eq!(counted.features(), added.features());
        assert!(features.count(&labels, 0..500, 2).is_err());
    }

    #[test]
    fn corpus_digest_ignores_order_and_adds_over_shards() {
        let names = ["a", "b"];
        let all = corpus_digest(&["x", "y", "z"], &[vec![0], vec![1], vec![0, 1]], &names);
        let shuffled = corpus_digest(&["z", "x", "y"], &[vec![1, 0], vec![0], vec![1]], &names);
        assert_eq!(all, shuffled);
        let left = corpus_digest(&["x"], &[vec![0]], &names);
        let right = corpus_digest(&["y", "z"], &[vec![1], vec![0, 1]], &names);
        assert_eq!(add_digests(&left, &right).unwrap(), all);
        let relabeled = corpus_digest(&["x", "y", "z"], &[vec![1], vec![1], vec![0, 1]], &names);
        assert_ne!(all, relabeled);
    }
}
