//! Seeded, stratified data splits (k-fold and holdout) and out-of-fold posteriors.
//!
//! Splits depend only on the documents' labels and the seed (ChaCha8), never on the thread
//! count or platform, so the same seed always gives the same split.
//!
//! Stratification: documents are shuffled, then grouped by their rarest label (the label
//! with the fewest documents; for single-label data, simply their label), so every label is
//! spread over the folds, or over both sides of a holdout, in proportion.
//!
//! [`out_of_fold_log_likelihoods`] scores every document with a model fitted on the other
//! folds, re-counting features extracted once ([`crate::model::extract_features`]).

use linfa::ParamGuard;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::model::{calibrated_softmax_in_place, Features, ModelConfig, ModelError, NbCounts};

/// Splits that cannot be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// k outside 2..=documents.
    #[error("invalid cv folds: {k} (valid: 2..={documents}, at most one fold per document)")]
    Folds {
        /// Requested folds.
        k: usize,
        /// Documents available.
        documents: usize,
    },
    /// Holdout fraction outside (0, 1).
    #[error("invalid holdout fraction: {0} (valid: (0, 1), e.g. 0.2)")]
    Fraction(f64),
    /// The fraction holds out nothing (or everything) of this corpus.
    #[error(
        "a holdout of {fraction} of {documents} documents leaves no document on one side; \
         use a larger fraction or more data"
    )]
    EmptySide {
        /// The fraction.
        fraction: f64,
        /// Documents available.
        documents: usize,
    },
}

/// A train/test split: document indices, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training documents.
    pub train: Vec<usize>,
    /// Held-out documents.
    pub test: Vec<usize>,
}

/// Each document's stratum: its rarest label as (documents with that label, label).
fn strata(labels: &[Vec<usize>], n_labels: usize) -> Vec<(usize, usize)> {
    let mut freq = vec![0usize; n_labels];
    for doc in labels {
        for &c in doc {
            freq[c] += 1;
        }
    }
    labels
        .iter()
        .map(|doc| {
            doc.iter()
                .map(|&c| (freq[c], c))
                .min()
                .unwrap_or((0, usize::MAX))
        })
        .collect()
}

/// Shuffles the documents with `seed`, then orders them by stratum (stably, so the
/// shuffle survives within each stratum). Returns document indices.
fn stratified_order(strata: &[(usize, usize)], seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..strata.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.sort_by_key(|&i| strata[i]);
    order
}

/// Assigns each document to one of `k` folds, stratified: returns the fold of every
/// document. Fold sizes differ by at most one.
pub fn kfold(
    labels: &[Vec<usize>],
    n_labels: usize,
    k: usize,
    seed: u64,
) -> Result<Vec<usize>, SplitError> {
    if k < 2 || k > labels.len() {
        return Err(SplitError::Folds {
            k,
            documents: labels.len(),
        });
    }
    let mut folds = vec![0; labels.len()];
    for (position, doc) in stratified_order(&strata(labels, n_labels), seed)
        .into_iter()
        .enumerate()
    {
        folds[doc] = position % k;
    }
    Ok(folds)
}

/// The documents of fold `f` as a train/test split.
pub fn fold_split(folds: &[usize], f: usize) -> Split {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..folds.len()).partition(|&i| folds[i] == f);
    Split { train, test }
}

/// Holds out about `fraction` of the documents of every stratum. Every label keeps at
/// least one training document (a model cannot learn a label it never saw), so a label
/// with a single document is never held out.
pub fn holdout(
    labels: &[Vec<usize>],
    n_labels: usize,
    fraction: f64,
    seed: u64,
) -> Result<Split, SplitError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(SplitError::Fraction(fraction));
    }
    let strata = strata(labels, n_labels);
    let order = stratified_order(&strata, seed);
    let mut held = vec![false; labels.len()];
    let mut start = 0;
    let mut held_so_far = 0usize;
    while start < order.len() {
        let s = strata[order[start]];
        let mut end = start + 1;
        while end < order.len() && strata[order[end]] == s {
            end += 1;
        }
        // Cumulative rounding keeps the total near `fraction` even over many small strata.
        let target = (fraction * end as f64).round() as usize;
        let take = target.saturating_sub(held_so_far).min(end - start - 1);
        for &doc in &order[start..start + take] {
            held[doc] = true;
        }
        held_so_far += take;
        start = end;
    }
    // A label whose every document was held out (possible for a label that is never the
    // rarest of its documents) gets one back.
    let mut trained = vec![false; n_labels];
    for (i, doc) in labels.iter().enumerate() {
        if !held[i] {
            for &c in doc {
                trained[c] = true;
            }
        }
    }
    for &i in &order {
        if held[i] && labels[i].iter().any(|&c| !trained[c]) {
            held[i] = false;
            for &c in &labels[i] {
                trained[c] = true;
            }
        }
    }
    let (test, train): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&i| held[i]);
    if test.is_empty() || train.is_empty() {
        return Err(SplitError::EmptySide {
            fraction,
            documents: labels.len(),
        });
    }
    Ok(Split { train, test })
}

/// Joint log-likelihoods of every document under every label, each from a model fitted
/// on the other folds (`folds[i]`: the fold of document i, as from [`kfold`]). Turn them
/// into posteriors with [`posteriors`] (after fitting a temperature, if wanted).
///
/// The features (vocabulary, idf) come from all documents, labels unseen: slightly
/// optimistic for pruned vocabularies and idf, as a scikit-learn pipeline fitted before
/// splitting would be; the estimator itself never sees a held-out document's labels. A
/// label with no training documents in a fold scores `-inf` there (probability 0).
pub fn out_of_fold_log_likelihoods(
    features: &Features,
    labels: &[Vec<usize>],
    n_labels: usize,
    config: &ModelConfig,
    folds: &[usize],
) -> Result<Vec<Vec<f64>>, ModelError> {
    let params = config.model.check_ref()?;
    let k = folds.iter().max().map_or(0, |m| m + 1);
    let mut scores = vec![Vec::new(); labels.len()];
    for f in 0..k {
        let split = fold_split(folds, f);
        let counts = features.count(labels, split.train.iter().copied(), n_labels)?;
        // Fit on the labels this fold has documents for.
        let present: Vec<usize> = (0..n_labels)
            .filter(|&c| counts.label_docs()[c] > 0)
            .collect();
        // A fold whose training part holds a single label can only predict that label.
        let fitted = match present.len() {
            n if n == n_labels => Some(params.fit_counts(&counts)?),
            0 | 1 => None,
            _ => Some(params.fit_counts(&subset_labels(&counts, &present)?)?),
        };
        let fold_scores: Vec<(usize, Vec<f64>)> = split
            .test
            .par_iter()
            .map(|&i| {
                let mut jll = vec![0.0; present.len()];
                if let Some(fitted) = &fitted {
                    fitted.joint_log_likelihood(&features.vectors[i], &mut jll);
                }
                let mut full = vec![f64::NEG_INFINITY; n_labels];
                for (j, &c) in present.iter().enumerate() {
                    full[c] = jll[j];
                }
                (i, full)
            })
            .collect();
        for (i, s) in fold_scores {
            scores[i] = s;
        }
    }
    Ok(scores)
}

/// Posterior probabilities from joint log-likelihoods: `softmax(jll / temperature)` per
/// document (temperature 1: the raw naive Bayes posteriors).
pub fn posteriors(jll: &[Vec<f64>], temperature: f64) -> Vec<Vec<f64>> {
    jll.iter()
        .map(|scores| {
            let mut p = scores.clone();
            calibrated_softmax_in_place(&mut p, temperature);
            p
        })
        .collect()
}

/// The statistics of the labels `keep` only.
fn subset_labels(counts: &NbCounts, keep: &[usize]) -> Result<NbCounts, ModelError> {
    let l = counts.n_labels();
    let features = counts
        .features()
        .chunks_exact(l.max(1))
        .flat_map(|row| keep.iter().map(move |&c| row[c]))
        .collect();
    let label_docs = keep.iter().map(|&c| counts.label_docs()[c]).collect();
    NbCounts::from_parts(counts.n_terms(), label_docs, features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(labels: &[usize]) -> Vec<Vec<usize>> {
        labels.iter().map(|&c| vec![c]).collect()
    }

    #[test]
    fn kfold_is_seeded_balanced_and_stratified() {
        let labels = single(&[0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        let a = kfold(&labels, 3, 3, 7).unwrap();
        assert_eq!(a, kfold(&labels, 3, 3, 7).unwrap());
        for f in 0..3 {
            let docs: Vec<usize> = (0..12).filter(|&i| a[i] == f).collect();
            assert_eq!(docs.len(), 4);
            // Every label shows up in every fold: 2 of label 0, 1 each of labels 1 and 2.
            for (c, n) in [(0, 2), (1, 1), (2, 1)] {
                assert_eq!(docs.iter().filter(|&&i| labels[i] == [c]).count(), n);
            }
        }
        let seeds: Vec<Vec<usize>> = (0..8).map(|s| kfold(&labels, 3, 3, s).unwrap()).collect();
        assert!(seeds.iter().any(|s| *s != a), "the seed changes the split");
    }

    #[test]
    fn kfold_refuses_impossible_fold_counts() {
        let labels = single(&[0, 1, 0]);
        assert!(kfold(&labels, 2, 1, 0).is_err());
        assert_eq!(
            kfold(&labels, 2, 4, 0).unwrap_err().to_string(),
            "invalid cv folds: 4 (valid: 2..=3, at most one fold per document)"
        );
    }

    #[test]
    fn holdout_takes_a_stratified_fraction_and_keeps_every_label_in_training() {
        let mut l = vec![0; 80];
        l.extend([1; 20]);
        l.push(2); // a label with one document stays in training
        let labels = single(&l);
        let s = holdout(&labels, 3, 0.25, 1).unwrap();
        assert_eq!(s.test.len(), 25);
        assert_eq!(s.test.iter().filter(|&&i| labels[i] == [1]).count(), 5);
        assert!(s.train.contains(&100));
        assert_eq!(s.train.len() + s.test.len(), 101);
        assert!(s.train.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, holdout(&labels, 3, 0.25, 1).unwrap());
    }

    #[test]
    fn holdout_refuses_bad_fractions_and_empty_sides() {
        let labels = single(&[0, 1, 0, 1]);
        assert!(matches!(
            holdout(&labels, 2, 1.0, 0),
            Err(SplitError::Fraction(_))
        ));
        assert!(matches!(
            holdout(&labels, 2, 0.0, 0),
            Err(SplitError::Fraction(_))
        ));
        assert!(matches!(
            holdout(&labels, 2, 0.01, 0),
            Err(SplitError::EmptySide { .. })
        ));
    }

    #[test]
    fn out_of_fold_scores_come_from_models_that_never_saw_the_document() {
        use crate::model::{extract_features, ModelConfig};
        // Documents 0-3 say "oil", 4-7 say "tariff"; document 8 is the only "rare" one.
        let texts = [
            "oil barrels",
            "oil refinery",
            "oil gas",
            "oil pipeline",
            "tariff quota",
            "tariff customs",
            "tariff exports",
            "tariff imports",
            "rare words here",
        ];
        let labels: Vec<Vec<usize>> = [0, 0, 0, 0, 1, 1, 1, 1, 2]
            .iter()
            .map(|&c| vec![c])
            .collect();
        let config = ModelConfig::default();
        let features = extract_features(&config, &texts).unwrap();
        let folds = kfold(&labels, 3, 2, 5).unwrap();
        let jll = out_of_fold_log_likelihoods(&features, &labels, 3, &config, &folds).unwrap();
        let probs = posteriors(&jll, 1.0);
        for i in 0..8 {
            assert_eq!(crate::model::argmax(&probs[i]), labels[i][0], "doc {i}");
            assert!((probs[i].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // Label 2's only document is held out with it: probability 0 in that fold.
        assert_eq!(jll[8][2], f64::NEG_INFINITY);
        assert_eq!(probs[8][2], 0.0);
        let flat = posteriors(&jll, 100.0);
        assert!(
            flat[0][0] < probs[0][0],
            "a higher temperature flattens posteriors"
        );
    }

    #[test]
    fn a_multi_label_document_returns_to_training_when_its_label_would_be_unseen() {
        // Label 2 never decides a stratum (labels 0 and 1 tie with it and come first), so
        // the stratified draw can hold out both of its documents; one must come back.
        let labels = vec![vec![0, 2], vec![0], vec![1, 2], vec![1]];
        let mut repaired = false;
        for seed in 0..32 {
            let s = holdout(&labels, 3, 0.5, seed).unwrap();
            assert!(s.train.iter().any(|&i| labels[i].contains(&2)));
            repaired |= s.test.len() == 1;
        }
        assert!(repaired, "some seed held out both documents of label 2");
    }
}
