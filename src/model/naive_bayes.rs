//! Naive Bayes estimators over sparse vectors: multinomial and complement (Rennie et al. 2003).
//!
//! Training is counting: [`NbCounts`] holds the sufficient statistics (documents per label and
//! weighted term counts per label), which add up across corpus shards. [`NbValidParams::fit_counts`]
//! turns them into a [`FittedNb`], whose weights sit in a term-major table so scoring a
//! sparse document touches only the rows of the terms it contains.

use linfa::ParamGuard;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::text::SparseVector;

/// Which naive Bayes estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NbKind {
    /// Multinomial naive Bayes: P(term | label), priors from label frequencies.
    #[default]
    Multinomial,
    /// Complement naive Bayes: weights from the counts of all *other* labels, which
    /// corrects the bias of multinomial NB towards labels with more training text.
    Complement,
}

impl NbKind {
    /// Lowercase name, as in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            NbKind::Multinomial => "multinomial",
            NbKind::Complement => "complement",
        }
    }
}

/// Checked hyperparameters (linfa's `ValidParams` half); build them through [`NbParams`].
///
/// | setting | default | valid |
/// |---|---|---|
/// | `kind` | multinomial | `multinomial`, `complement` |
/// | `alpha` | 1.0 | finite, > 0 (additive smoothing) |
/// | `norm` | false | complement only: Rennie's weight normalisation |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NbValidParams {
    kind: NbKind,
    alpha: f64,
    norm: bool,
}

impl Default for NbValidParams {
    fn default() -> Self {
        NbValidParams {
            kind: NbKind::Multinomial,
            alpha: 1.0,
            norm: false,
        }
    }
}

impl NbValidParams {
    /// Whether [`NbValidParams::fit_counts`] would fit `counts`: at least two labels,
    /// each with a document. Fitting cannot fail otherwise.
    pub fn check_counts(&self, counts: &NbCounts) -> Result<(), ModelError> {
        let l = counts.n_labels;
        if l < 2 {
            return Err(ModelError::TooFewLabels(l));
        }
        if let Some(c) = counts.label_docs.iter().position(|&n| n == 0) {
            return Err(ModelError::EmptyLabel(c));
        }
        Ok(())
    }

    /// The estimator.
    pub fn kind(&self) -> NbKind {
        self.kind
    }
    /// Additive smoothing.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Complement weight normalisation.
    pub fn norm(&self) -> bool {
        self.norm
    }
}

/// Unchecked hyperparameters (linfa's `Params` half): set freely, then `check()`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NbParams(NbValidParams);

impl NbParams {
    /// Defaults: multinomial, alpha 1.
    pub fn new() -> Self {
        NbParams::default()
    }
    /// Sets the estimator.
    pub fn kind(mut self, kind: NbKind) -> Self {
        self.0.kind = kind;
        self
    }
    /// Sets the additive smoothing.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.0.alpha = alpha;
        self
    }
    /// Turns complement weight normalisation on or off.
    pub fn norm(mut self, norm: bool) -> Self {
        self.0.norm = norm;
        self
    }
}

impl ParamGuard for NbParams {
    type Checked = NbValidParams;
    type Error = ModelError;

    fn check_ref(&self) -> Result<&NbValidParams, ModelError> {
        if !(self.0.alpha.is_finite() && self.0.alpha > 0.0) {
            return Err(ModelError::InvalidSetting {
                name: "alpha",
                value: self.0.alpha.to_string(),
                valid: "finite and > 0".into(),
            });
        }
        if self.0.norm && self.0.kind != NbKind::Complement {
            return Err(ModelError::InvalidSetting {
                name: "norm",
                value: "true".into(),
                valid: "only with kind = complement".into(),
            });
        }
        Ok(&self.0)
    }

    fn check(self) -> Result<NbValidParams, ModelError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// Sufficient statistics of naive Bayes: they add up, so shards train independently.
#[derive(Clone, Debug, PartialEq)]
pub struct NbCounts {
    n_terms: usize,
    n_labels: usize,
    label_docs: Vec<u64>,
    /// Term-major: `features[t * n_labels + c]`.
    features: Vec<f64>,
}

impl NbCounts {
    /// Empty statistics for a vocabulary of `n_terms` and `n_labels` labels.
    pub fn new(n_terms: usize, n_labels: usize) -> Self {
        NbCounts {
            n_terms,
            n_labels,
            label_docs: vec![0; n_labels],
            features: vec![0.0; n_terms * n_labels],
        }
    }

    /// Statistics from per-label columns: `columns[c]` holds label `c`'s non-zero
    /// `(term, count)` cells in increasing term order, each term `< n_terms`; `label_docs[c]`
    /// its number of documents. The table is filled in parallel blocks of terms.
    pub(crate) fn from_columns(
        n_terms: usize,
        label_docs: Vec<u64>,
        columns: &[Vec<(u32, f64)>],
    ) -> Self {
        const BLOCK: usize = 4096;
        let n_labels = label_docs.len();
        debug_assert_eq!(columns.len(), n_labels);
        let mut features = vec![0.0; n_terms * n_labels];
        if n_labels > 0 {
            features
                .par_chunks_mut(n_labels * BLOCK)
                .enumerate()
                .for_each(|(b, block)| {
                    let lo = (b * BLOCK) as u32;
                    for (c, column) in columns.iter().enumerate() {
                        let start = column.partition_point(|&(t, _)| t < lo);
                        for &(t, x) in &column[start..] {
                            let Some(cell) = block.get_mut((t - lo) as usize * n_labels + c) else {
                                break;
                            };
                            *cell = x;
                        }
                    }
                });
        }
        NbCounts {
            n_terms,
            n_labels,
            label_docs,
            features,
        }
    }

    /// Rebuilds statistics from stored parts, checking their shapes and values.
    pub fn from_parts(
        n_terms: usize,
        label_docs: Vec<u64>,
        features: Vec<f64>,
    ) -> Result<Self, ModelError> {
        let n_labels = label_docs.len();
        if features.len() != n_terms * n_labels {
            return Err(ModelError::Inconsistent(format!(
                "{} feature counts for {} terms x {} labels",
                features.len(),
                n_terms,
                n_labels
            )));
        }
        if let Some(bad) = features.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(ModelError::Inconsistent(format!(
                "feature count {bad} is not a finite non-negative number"
            )));
        }
        Ok(NbCounts {
            n_terms,
            n_labels,
            label_docs,
            features,
        })
    }

    /// Adds one document carrying `labels` (each must be < `n_labels`). A multi-label
    /// document counts fully towards each of its labels.
    pub fn add(&mut self, x: &SparseVector, labels: &[usize]) -> Result<(), ModelError> {
        for &c in labels {
            if c >= self.n_labels {
                return Err(ModelError::Inconsistent(format!(
                    "label index {c} out of range ({} labels)",
                    self.n_labels
                )));
            }
            self.label_docs[c] += 1;
            for (&t, &v) in x.indices.iter().zip(&x.values) {
                let t = t as usize;
                if t >= self.n_terms {
                    return Err(ModelError::Inconsistent(format!(
                        "term id {t} out of range ({} terms)",
                        self.n_terms
                    )));
                }
                self.features[t * self.n_labels + c] += v;
            }
        }
        Ok(())
    }

    /// Adds another set of statistics over the same terms and labels.
    pub fn merge(&mut self, other: &NbCounts) -> Result<(), ModelError> {
        if (self.n_terms, self.n_labels) != (other.n_terms, other.n_labels) {
            return Err(ModelError::Inconsistent(format!(
                "cannot add counts of {}x{} to {}x{}",
                other.n_terms, other.n_labels, self.n_terms, self.n_labels
            )));
        }
        for (a, b) in self.label_docs.iter_mut().zip(&other.label_docs) {
            *a += b;
        }
        for (a, b) in self.features.iter_mut().zip(&other.features) {
            *a += b;
        }
        Ok(())
    }

    /// Adds `value` to the count of term `t` in label `c` (both in range).
    pub(crate) fn add_feature(&mut self, t: usize, c: usize, value: f64) {
        self.features[t * self.n_labels + c] += value;
    }

    /// Adds `n` documents to label `c`.
    pub(crate) fn add_label_docs(&mut self, c: usize, n: u64) {
        self.label_docs[c] += n;
    }

    /// Number of terms.
    pub fn n_terms(&self) -> usize {
        self.n_terms
    }
    /// Number of labels.
    pub fn n_labels(&self) -> usize {
        self.n_labels
    }
    /// Training documents per label.
    pub fn label_docs(&self) -> &[u64] {
        &self.label_docs
    }
    /// Term-major weighted counts, `[t * n_labels + c]`.
    pub fn features(&self) -> &[f64] {
        &self.features
    }
}

impl NbValidParams {
    /// Fits the model from counted statistics.
    ///
    /// Multinomial: `w[t][c] = ln((N_tc + alpha) / (N_c + alpha * V))`, prior `ln(n_c / n)`,
    /// exactly linfa-bayes's `MultinomialNb`. Complement (as scikit-learn's `ComplementNB`):
    /// `w[t][c] = -ln((N_t~c + alpha) / (N_~c + alpha * V))`, or with `norm` that log
    /// divided by its sum over terms; no prior, as in Rennie et al.
    pub fn fit_counts(&self, counts: &NbCounts) -> Result<FittedNb, ModelError> {
        self.check_counts(counts)?;
        let (v, l) = (counts.n_terms, counts.n_labels);
        let alpha = self.alpha;
        let mut weights = vec![0.0; v * l];
        let log_prior;
        match self.kind {
            NbKind::Multinomial => {
                let total: u64 = counts.label_docs.iter().sum();
                log_prior = counts
                    .label_docs
                    .iter()
                    .map(|&n| (n as f64 / total as f64).ln())
                    .collect();
                let mut denom = vec![0.0; l];
                for row in counts.features.chunks_exact(l) {
                    for (d, x) in denom.iter_mut().zip(row) {
                        *d += x + alpha;
                    }
                }
                let ln_denom: Vec<f64> = denom.iter().map(|d| d.ln()).collect();
                // One `ln` per table cell dominates model loading; rows are independent.
                weights
                    .par_chunks_mut(l * 1024)
                    .zip(counts.features.par_chunks(l * 1024))
                    .for_each(|(w_rows, rows)| {
                        for (w_row, row) in w_rows.chunks_exact_mut(l).zip(rows.chunks_exact(l)) {
                            for c in 0..l {
                                w_row[c] = (row[c] + alpha).ln() - ln_denom[c];
                            }
                        }
                    });
            }
            NbKind::Complement => {
                log_prior = vec![0.0; l];
                let mut denom = vec![0.0; l];
                for (w_row, row) in weights
                    .chunks_exact_mut(l)
                    .zip(counts.features.chunks_exact(l))
                {
                    let term_total: f64 = row.iter().sum();
                    for c in 0..l {
                        let comp = term_total - row[c] + alpha;
                        w_row[c] = comp;
                        denom[c] += comp;
                    }
                }
                let ln_denom: Vec<f64> = denom.iter().map(|d| d.ln()).collect();
                weights.par_chunks_mut(l * 1024).for_each(|w_rows| {
                    for w_row in w_rows.chunks_exact_mut(l) {
                        for c in 0..l {
                            w_row[c] = w_row[c].ln() - ln_denom[c];
                        }
                    }
                });
                let mut sums = vec![0.0; l];
                for w_row in weights.chunks_exact(l) {
                    for c in 0..l {
                        sums[c] += w_row[c];
                    }
                }
                for w_row in weights.chunks_exact_mut(l) {
                    for c in 0..l {
                        w_row[c] = if self.norm {
                            w_row[c] / sums[c]
                        } else {
                            -w_row[c]
                        };
                    }
                }
            }
        }
        Ok(FittedNb {
            params: self.clone(),
            n_labels: l,
            log_prior,
            weights,
        })
    }
}

/// A fitted naive Bayes model: log-priors and a term-major weight table.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedNb {
    params: NbValidParams,
    n_labels: usize,
    log_prior: Vec<f64>,
    /// `weights[t * n_labels + c]`: log P(t | c) for multinomial.
    weights: Vec<f64>,
}

impl FittedNb {
    /// The hyperparameters it was fitted with.
    pub fn params(&self) -> &NbValidParams {
        &self.params
    }
    /// Number of labels.
    pub fn n_labels(&self) -> usize {
        self.n_labels
    }
    /// Number of terms.
    pub fn n_terms(&self) -> usize {
        self.weights.len() / self.n_labels
    }
    /// Log prior per label (zeros for complement NB, which uses none).
    pub fn log_prior(&self) -> &[f64] {
        &self.log_prior
    }
    /// Weight of term `t` for label `c` (log P(t | c) for multinomial).
    #[inline]
    pub fn weight(&self, t: u32, c: usize) -> f64 {
        self.weights[t as usize * self.n_labels + c]
    }
    /// The weights of one term, one per label.
    #[inline]
    pub fn term_weights(&self, t: u32) -> &[f64] {
        let start = t as usize * self.n_labels;
        &self.weights[start..start + self.n_labels]
    }

    /// Joint log-likelihood `log_prior[c] + sum_t x_t * w[t][c]` of every label, into `out`.
    /// Terms outside the table are ignored.
    pub fn joint_log_likelihood(&self, x: &SparseVector, out: &mut [f64]) {
        out.copy_from_slice(&self.log_prior);
        let n_terms = self.n_terms();
        for (&t, &v) in x.indices.iter().zip(&x.values) {
            if (t as usize) < n_terms {
                for (o, w) in out.iter_mut().zip(self.term_weights(t)) {
                    *o += v * w;
                }
            }
        }
    }

    /// Posterior probabilities of every label, into `out`: a softmax of the joint
    /// log-likelihood computed with log-sum-exp, so they stay finite and sum to 1 for
    /// documents of any length.
    pub fn predict_proba(&self, x: &SparseVector, out: &mut [f64]) {
        self.joint_log_likelihood(x, out);
        softmax_in_place(out);
    }

    /// The label with the highest joint log-likelihood (lowest index on ties).
    pub fn predict_label(&self, x: &SparseVector) -> usize {
        let mut jll = vec![0.0; self.n_labels];
        self.joint_log_likelihood(x, &mut jll);
        argmax(&jll)
    }

    /// How much each term of `x` raised label `c` above the average label:
    /// `x_t * (w[t][c] - mean_c' w[t][c'])`, in log-odds units. Returns (term, contribution)
    /// for the `n` largest positive contributions, largest first.
    pub fn evidence(&self, x: &SparseVector, c: usize, n: usize) -> Vec<(u32, f64)> {
        let inv = 1.0 / self.n_labels as f64;
        let mut contributions: Vec<(u32, f64)> = x
            .indices
            .iter()
            .zip(&x.values)
            .filter(|(&t, _)| (t as usize) < self.n_terms())
            .map(|(&t, &v)| {
                let row = self.term_weights(t);
                let mean = row.iter().sum::<f64>() * inv;
                (t, v * (row[c] - mean))
            })
            .filter(|(_, w)| *w > 0.0)
            .collect();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        contributions.truncate(n);
        contributions
    }
}

/// Index of the largest value (first on ties); 0 for an empty slice.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Replaces joint log-likelihoods with calibrated posteriors: `softmax(jll / temperature)`.
/// Training (when it tunes thresholds) and serving both call this, so thresholds are tuned
/// on exactly the numbers they are later compared with.
pub fn calibrated_softmax_in_place(scores: &mut [f64], temperature: f64) {
    if temperature != 1.0 {
        let inv = 1.0 / temperature;
        scores.iter_mut().for_each(|x| *x *= inv);
    }
    softmax_in_place(scores);
}

/// Replaces log-scores with their softmax, subtracting the maximum first (log-sum-exp)
/// so that no exponent overflows.
pub fn softmax_in_place(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        let uniform = 1.0 / scores.len() as f64;
        scores.iter_mut().for_each(|s| *s = uniform);
        return;
    }
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f64)]) -> SparseVector {
        SparseVector {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    fn counts() -> NbCounts {
        let mut c = NbCounts::new(3, 2);
        c.add(&sv(&[(0, 3.0), (1, 1.0)]), &[0]).unwrap();
        c.add(&sv(&[(1, 1.0), (2, 4.0)]), &[1]).unwrap();
        c.add(&sv(&[(2, 2.0)]), &[1]).unwrap();
        c
    }

    #[test]
    fn multinomial_weights_are_smoothed_log_frequencies() {
        let m = NbParams::new()
            .check()
            .unwrap()
            .fit_counts(&counts())
            .unwrap();
        // Label 0 saw terms (3, 1, 0): total 4 + 3 * alpha.
        assert!((m.weight(0, 0) - (4.0f64 / 7.0).ln()).abs() < 1e-15);
        assert!((m.weight(2, 0) - (1.0f64 / 7.0).ln()).abs() < 1e-15);
        assert!((m.log_prior()[1] - (2.0f64 / 3.0).ln()).abs() < 1e-15);
    }

    #[test]
    fn complement_weights_favour_terms_rare_in_other_labels() {
        let m = NbParams::new()
            .kind(NbKind::Complement)
            .check()
            .unwrap()
            .fit_counts(&counts())
            .unwrap();
        assert_eq!(m.predict_label(&sv(&[(0, 1.0)])), 0);
        assert_eq!(m.predict_label(&sv(&[(2, 1.0)])), 1);
        let normed = NbParams::new()
            .kind(NbKind::Complement)
            .norm(true)
            .check()
            .unwrap()
            .fit_counts(&counts())
            .unwrap();
        assert_eq!(normed.predict_label(&sv(&[(0, 1.0)])), 0);
        assert_eq!(normed.predict_label(&sv(&[(2, 1.0)])), 1);
    }

    #[test]
    fn probabilities_are_finite_and_sum_to_one_for_huge_documents() {
        let m = NbParams::new()
            .check()
            .unwrap()
            .fit_counts(&counts())
            .unwrap();
        let mut p = [0.0; 2];
        m.predict_proba(&sv(&[(0, 100_000.0), (2, 50_000.0)]), &mut p);
        assert!(p.iter().all(|x| x.is_finite()));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_alpha_and_norm_are_refused_before_fitting() {
        let err = NbParams::new().alpha(0.0).check().unwrap_err();
        assert_eq!(err.to_string(), "invalid alpha: 0 (valid: finite and > 0)");
        assert!(NbParams::new().norm(true).check().is_err());
    }

    #[test]
    fn a_label_without_documents_cannot_be_fitted() {
        let mut c = NbCounts::new(1, 2);
        c.add(&sv(&[(0, 1.0)]), &[0]).unwrap();
        let err = NbParams::new().check().unwrap().fit_counts(&c).unwrap_err();
        assert_eq!(err, ModelError::EmptyLabel(1));
    }

    #[test]
    fn merged_counts_equal_counts_of_the_union() {
        let mut a = NbCounts::new(3, 2);
        a.add(&sv(&[(0, 3.0), (1, 1.0)]), &[0]).unwrap();
        let mut b = NbCounts::new(3, 2);
        b.add(&sv(&[(1, 1.0), (2, 4.0)]), &[1]).unwrap();
        b.add(&sv(&[(2, 2.0)]), &[1]).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a, counts());
    }

    #[test]
    fn evidence_lists_the_terms_that_favour_a_label() {
        let m = NbParams::new()
            .check()
            .unwrap()
            .fit_counts(&counts())
            .unwrap();
        let ev = m.evidence(&sv(&[(0, 2.0), (2, 1.0)]), 0, 5);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0, 0);
    }
}
