//! Merging models trained on shards of a corpus: naive Bayes statistics are sums.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::classifier::{LabelInfo, Model, TrainingInfo};
use super::naive_bayes::NbCounts;
use super::train::add_digests;
use super::ModelError;
use crate::text::{Tokenizer, Vectorizer, Vocabulary, VocabularyConfig};

impl Model {
    /// Combines models trained on disjoint shards of one corpus into the model that
    /// training on the whole corpus gives.
    ///
    /// Counts, label document counts, vocabulary document frequencies and corpus digests add
    /// up; vocabulary pruning (`prune`, or the first model's setting) is applied to the
    /// summed frequencies. The result equals whole-corpus training exactly when the shards
    /// were trained without pruning (min_df 1, max_df 1, no max_features) — pruned shards
    /// have already dropped counts that the whole corpus would keep. Float sums of
    /// sub-linear or normalised weights may differ from whole-corpus training in the last
    /// bits; raw counts are integers and match bit for bit. Models with idf weighting are
    /// refused: their weights depend on the whole corpus's document frequencies.
    pub fn merge(models: &[&Model], prune: Option<VocabularyConfig>) -> Result<Model, ModelError> {
        let base = *models
            .first()
            .ok_or_else(|| ModelError::Incompatible("no models given".into()))?;
        if base.config.vectorizer.idf {
            return Err(ModelError::Incompatible(
                "idf weighting depends on the whole corpus; retrain on all the data instead".into(),
            ));
        }
        for (i, m) in models.iter().enumerate().skip(1) {
            let differs = if m.config.tokenizer != base.config.tokenizer {
                Some("tokenizer settings")
            } else if m.config.vectorizer != base.config.vectorizer {
                Some("vectorizer settings")
            } else if m.config.model != base.config.model {
                Some("model settings")
            } else if m.config.assign != base.config.assign {
                Some("assignment settings")
            } else {
                None
            };
            if let Some(what) = differs {
                return Err(ModelError::Incompatible(format!(
                    "model #{} ({}) has other {what} than model #1 ({})",
                    i + 1,
                    m.id,
                    base.id
                )));
            }
        }
        let prune = prune.unwrap_or_else(|| base.config.vocabulary.clone());
        prune.validate()?;

        // Labels: the union, alphabetical, as training orders them.
        let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
        for m in models {
            for l in &m.labels {
                let d = labels.entry(&l.name).or_insert("");
                if d.is_empty() {
                    *d = &l.description;
                }
            }
        }
        let label_index: FxHashMap<&str, usize> =
            labels.keys().enumerate().map(|(i, n)| (*n, i)).collect();

        // Vocabulary: the union with summed frequencies, then pruned.
        let mut terms: BTreeMap<&str, (u32, u64)> = BTreeMap::new();
        let mut n_docs = 0u64;
        for m in models {
            let v = m.vectorizer.vocabulary();
            n_docs += v.n_docs();
            for (i, t) in v.terms().iter().enumerate() {
                let e = terms.entry(t).or_insert((0, 0));
                e.0 += v.document_frequencies()[i];
                e.1 += v.term_frequencies()[i];
            }
        }
        let all_terms: Vec<Box<str>> = terms.keys().map(|t| (*t).into()).collect();
        let df: Vec<u32> = terms.values().map(|e| e.0).collect();
        let tf: Vec<u64> = terms.values().map(|e| e.1).collect();
        let kept = crate::text::select_terms(&all_terms, &df, &tf, n_docs, &prune);
        let entries: Vec<(Box<str>, u32, u64)> = kept
            .iter()
            .map(|&i| {
                (
                    all_terms[i as usize].clone(),
                    df[i as usize],
                    tf[i as usize],
                )
            })
            .collect();
        let vocabulary = Vocabulary::from_entries(entries, n_docs)
            .ok_or_else(|| ModelError::Inconsistent("merged terms out of order".into()))?;

        let mut counts = NbCounts::new(vocabulary.len(), labels.len());
        let mut training = TrainingInfo {
            corpus_digest: base.training.corpus_digest.clone(),
            documents: 0,
            metrics: BTreeMap::new(),
            notes: base.training.notes.clone(),
        };
        for (i, m) in models.iter().enumerate() {
            let label_map: Vec<usize> = m
                .labels
                .iter()
                .map(|l| label_index[l.name.as_str()])
                .collect();
            for (c, &n) in m.counts.label_docs().iter().enumerate() {
                counts.add_label_docs(label_map[c], n);
            }
            let l = m.labels.len();
            let v = m.vectorizer.vocabulary();
            for (t, row) in m.counts.features().chunks_exact(l).enumerate() {
                if let Some(new_t) = vocabulary.get(v.term(t as u32)) {
                    for (c, &x) in row.iter().enumerate() {
                        counts.add_feature(new_t as usize, label_map[c], x);
                    }
                }
            }
            training.documents += m.training.documents;
            if i > 0 {
                training.corpus_digest =
                    add_digests(&training.corpus_digest, &m.training.corpus_digest)
                        .unwrap_or_default();
                training
                    .notes
                    .retain(|k, val| m.training.notes.get(k) == Some(val));
            }
        }

        let mut config = base.config.clone();
        config.vocabulary = prune;
        let tokenizer = Tokenizer::new(config.tokenizer.clone())?;
        let vectorizer = Vectorizer::new(tokenizer, vocabulary, config.vectorizer.clone());
        let thresholds = vec![config.assign.threshold; labels.len()];
        let labels = labels
            .into_iter()
            .map(|(name, description)| LabelInfo {
                name: name.to_owned(),
                description: description.to_owned(),
            })
            .collect();
        Model::from_parts(
            base.id.clone(),
            base.version.clone(),
            labels,
            training,
            config,
            vectorizer,
            counts,
            thresholds,
        )
    }
}
