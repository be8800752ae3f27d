//! [`Model`]: a complete classifier, from raw text to ranked labels and decisions.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::naive_bayes::{FittedNb, NbCounts, NbParams};
use super::{assign, paragraphs, ModelError};
use crate::text::{TokenizerConfig, Vectorized, Vectorizer, VectorizerConfig, VocabularyConfig};

/// How labels are decided.
///
/// | setting | default | valid |
/// |---|---|---|
/// | `threshold` | 0.5 | [0, 1]; per-label thresholds start here |
/// | `paragraphs` | true | add labels assigned to any paragraph |
/// | `min_segment_terms` | 5 | paragraphs with fewer known terms do not add labels |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssignConfig {
    /// Default probability at which a label is assigned.
    pub threshold: f64,
    /// Assign the labels of each paragraph too (multi-topic articles).
    pub paragraphs: bool,
    /// A paragraph needs this many known terms to add labels.
    pub min_segment_terms: u32,
}

impl Default for AssignConfig {
    fn default() -> Self {
        AssignConfig {
            threshold: 0.5,
            paragraphs: true,
            min_segment_terms: 5,
        }
    }
}

impl AssignConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(ModelError::InvalidSetting {
                name: "threshold",
                value: self.threshold.to_string(),
                valid: "[0, 1]".into(),
            });
        }
        Ok(())
    }
}

/// Every setting of a model, as stored in it and as written in a TOML config file.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Tokenizer settings.
    pub tokenizer: TokenizerConfig,
    /// Vocabulary pruning.
    pub vocabulary: VocabularyConfig,
    /// Term weighting.
    pub vectorizer: VectorizerConfig,
    /// Estimator hyperparameters.
    pub model: NbParams,
    /// Label decisions.
    pub assign: AssignConfig,
}

impl ModelConfig {
    /// Checks every setting before any work starts.
    pub fn validate(&self) -> Result<(), ModelError> {
        use linfa::ParamGuard;
        self.tokenizer.validate()?;
        self.vocabulary.validate()?;
        self.model.check_ref()?;
        self.assign.validate()
    }
}

/// A label the model knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelInfo {
    /// Label id, e.g. `economic_cooperation`.
    pub name: String,
    /// One-line description.
    pub description: String,
}

/// What is known about how a model was trained. Holds no wall-clock time, so the same
/// training gives the same bytes.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Order-independent digest of the training documents (see [`super::corpus_digest`]).
    pub corpus_digest: String,
    /// Number of training documents.
    pub documents: u64,
    /// Named figures, e.g. `cv.macro_f1`.
    pub metrics: BTreeMap<String, f64>,
    /// Free-form facts, e.g. the seed.
    pub notes: BTreeMap<String, String>,
}

/// Options of one classification.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassifyOptions {
    /// Return at most this many labels (0: all).
    pub top_k: usize,
    /// Overrides every per-label threshold.
    pub threshold: Option<f64>,
    /// Evidence terms per returned label (0: none).
    pub explain: usize,
    /// Return per-paragraph predictions.
    pub segments: bool,
}

/// A label index with its probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelScore {
    /// Index into [`Model::labels`].
    pub label: usize,
    /// Posterior probability.
    pub score: f64,
}

/// A term behind a label's score.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceTerm {
    /// The term.
    pub term: String,
    /// Contribution to the label's log-odds against the average label.
    pub weight: f64,
    /// Occurrences in the document.
    pub count: u32,
}

/// Evidence for one label.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// Index into [`Model::labels`].
    pub label: usize,
    /// Strongest first.
    pub terms: Vec<EvidenceTerm>,
}

/// The prediction for one paragraph.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentPrediction {
    /// Paragraph number, from 0.
    pub index: usize,
    /// Byte range in the document.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// Labels assigned to the paragraph.
    pub assigned: Vec<usize>,
    /// Scores, highest first (bounded by `top_k`).
    pub labels: Vec<LabelScore>,
    /// Whether the paragraph had enough known terms to add labels to the document.
    pub counted: bool,
}

/// The classification of one document.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Labels by probability, highest first (ties by index), bounded by `top_k`.
    pub labels: Vec<LabelScore>,
    /// Labels the model decides the document has, highest probability first.
    pub assigned: Vec<usize>,
    /// Share of the document's terms the vocabulary knows.
    pub coverage: f64,
    /// Evidence per returned label, when asked.
    pub evidence: Vec<Evidence>,
    /// Per-paragraph predictions, when asked.
    pub segments: Vec<SegmentPrediction>,
}

/// A trained classifier: features, fitted weights, labels, thresholds and metadata.
#[derive(Debug)]
pub struct Model {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) labels: Vec<LabelInfo>,
    pub(crate) training: TrainingInfo,
    pub(crate) config: ModelConfig,
    pub(crate) vectorizer: Vectorizer,
    pub(crate) counts: NbCounts,
    /// Fitted from `counts` on first use (model files hold counts, and loading fits at
    /// once). Why lazily: `attache train` writes counts and never classifies, and
    /// fitting was 15 ms of the 0.41 s it takes on 20 Newsgroups.
    pub(crate) nb: OnceLock<FittedNb>,
    pub(crate) thresholds: Vec<f64>,
    /// Softmax temperature of the posteriors (1: raw naive Bayes).
    pub(crate) temperature: f64,
    pub(crate) checksum: super::artifact::Checksum,
}

impl Model {
    /// Assembles a model from its parts, fitting the weights from the counts and
    /// checking that everything agrees.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: String,
        version: String,
        labels: Vec<LabelInfo>,
        training: TrainingInfo,
        config: ModelConfig,
        vectorizer: Vectorizer,
        counts: NbCounts,
        thresholds: Vec<f64>,
    ) -> Result<Model, ModelError> {
        use linfa::ParamGuard;
        config.validate()?;
        let n_labels = labels.len();
        if counts.n_labels() != n_labels || thresholds.len() != n_labels {
            return Err(ModelError::Inconsistent(format!(
                "{} labels, {} label counts, {} thresholds",
                n_labels,
                counts.n_labels(),
                thresholds.len()
            )));
        }
        if counts.n_terms() != vectorizer.vocabulary().len() {
            return Err(ModelError::Inconsistent(format!(
                "{} terms in the vocabulary, {} in the counts",
                vectorizer.vocabulary().len(),
                counts.n_terms()
            )));
        }
        let mut names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) || names.iter().any(|n| n.is_empty()) {
            return Err(ModelError::Inconsistent(
                "label names must be unique and non-empty".into(),
            ));
        }
        if let Some(t) = thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return Err(ModelError::Inconsistent(format!(
                "threshold {t} outside [0, 1]"
            )));
        }
        config.model.check_ref()?.check_counts(&counts)?;
        Ok(Model {
            id,
            version,
            labels,
            training,
            config,
            vectorizer,
            counts,
            nb: OnceLock::new(),
            thresholds,
            temperature: 1.0,
            checksum: Default::default(),
        })
    }

    /// Model id, e.g. `diplomatic-news`.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Model version.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Labels in model order.
    pub fn labels(&self) -> &[LabelInfo] {
        &self.labels
    }
    /// Name of label `c`.
    pub fn label_name(&self, c: usize) -> &str {
        &self.labels[c].name
    }
    /// Training documents per label.
    pub fn label_documents(&self) -> &[u64] {
        self.counts.label_docs()
    }
    /// Assignment threshold per label.
    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }
    /// Training metadata.
    pub fn training(&self) -> &TrainingInfo {
        &self.training
    }
    /// All settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// Features: tokenizer, vocabulary, weighting.
    pub fn vectorizer(&self) -> &Vectorizer {
        &self.vectorizer
    }
    /// The fitted estimator.
    pub fn estimator(&self) -> &FittedNb {
        self.nb.get_or_init(|| {
            use linfa::ParamGuard;
            let params = self.config.model.check_ref();
            params
                .and_then(|p| p.fit_counts(&self.counts))
                .expect("from_parts checked the settings and the counts")
        })
    }
    /// The sufficient statistics the estimator was fitted from.
    pub fn counts(&self) -> &NbCounts {
        &self.counts
    }

    /// Replaces the per-label thresholds (e.g. after tuning them on held-out data).
    pub fn set_thresholds(&mut self, thresholds: Vec<f64>) -> Result<(), ModelError> {
        if thresholds.len() != self.labels.len()
            || thresholds.iter().any(|t| !(0.0..=1.0).contains(t))
        {
            return Err(ModelError::Inconsistent(
                "one threshold in [0, 1] per label is needed".into(),
            ));
        }
        self.thresholds = thresholds;
        self.checksum = Default::default();
        Ok(())
    }

    /// Softmax temperature applied to the joint log-likelihoods (1: raw naive Bayes).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Sets the calibration temperature (see [`super::fit_temperature`]); finite and > 0.
    pub fn set_temperature(&mut self, temperature: f64) -> Result<(), ModelError> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(ModelError::InvalidSetting {
                name: "temperature",
                value: temperature.to_string(),
                valid: "finite and > 0".into(),
            });
        }
        self.temperature = temperature;
        self.checksum = Default::default();
        Ok(())
    }

    /// Sets training metrics and notes (kept in the model file).
    pub fn training_mut(&mut self) -> &mut TrainingInfo {
        self.checksum = Default::default();
        &mut self.training
    }

    /// Uncalibrated joint log-likelihood of every label for `text`, with its vectorized form
    /// (what temperature fitting works on).
    pub fn joint_log_likelihoods(&self, text: &str) -> (Vec<f64>, Vectorized) {
        let v = self.vectorizer.vectorize(text);
        let mut jll = vec![0.0; self.labels.len()];
        self.estimator().joint_log_likelihood(&v.vector, &mut jll);
        (jll, v)
    }

    /// Posterior probabilities of every label for `text` (calibrated by the model's
    /// temperature), with its vectorized form.
    pub fn probabilities(&self, text: &str) -> (Vec<f64>, Vectorized) {
        let (mut p, v) = self.joint_log_likelihoods(text);
        super::calibrated_softmax_in_place(&mut p, self.temperature);
        (p, v)
    }

    /// Classifies one document.
    pub fn classify(&self, text: &str, options: &ClassifyOptions) -> Prediction {
        let (probs, vectorized) = self.probabilities(text);
        let mut assigned = assign(&probs, &self.thresholds, options.threshold);
        let ranked = self.rank(&probs, options.top_k);

        let mut segments = Vec::new();
        if self.config.assign.paragraphs || options.segments {
            let ranges = paragraphs(text);
            if ranges.len() > 1 {
                for (index, (start, end)) in ranges.into_iter().enumerate() {
                    let (p, v) = self.probabilities(&text[start..end]);
                    let seg_assigned = assign(&p, &self.thresholds, options.threshold);
                    let counted = v.known_terms >= self.config.assign.min_segment_terms;
                    if counted && self.config.assign.paragraphs {
                        for &c in &seg_assigned {
                            if !assigned.contains(&c) {
                                assigned.push(c);
                            }
                        }
                    }
                    if options.segments {
                        segments.push(SegmentPrediction {
                            index,
                            start,
                            end,
                            assigned: seg_assigned,
                            labels: self.rank(&p, options.top_k),
                            counted,
                        });
                    }
                }
                assigned.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            }
        }

        let evidence = if options.explain > 0 {
            ranked
                .iter()
                .map(|s| Evidence {
                    label: s.label,
                    terms: self.evidence(&vectorized, s.label, options.explain),
                })
                .collect()
        } else {
            Vec::new()
        };
        Prediction {
            labels: ranked,
            assigned,
            coverage: vectorized.coverage(),
            evidence,
            segments,
        }
    }

    fn rank(&self, probs: &[f64], top_k: usize) -> Vec<LabelScore> {
        let mut ranked: Vec<LabelScore> = probs
            .iter()
            .enumerate()
            .map(|(label, &score)| LabelScore { label, score })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.label.cmp(&b.label)));
        if top_k > 0 {
            ranked.truncate(top_k);
        }
        ranked
    }

    fn evidence(&self, v: &Vectorized, label: usize, n: usize) -> Vec<EvidenceTerm> {
        self.estimator()
            .evidence(&v.vector, label, n)
            .into_iter()
            .map(|(t, weight)| {
                let pos = v
                    .vector
                    .indices
                    .binary_search(&t)
                    .expect("evidence terms come from the vector");
                EvidenceTerm {
                    term: self.vectorizer.vocabulary().term(t).to_owned(),
                    weight,
                    count: v.counts[pos],
                }
            })
            .collect()
    }

    /// The `n` terms with the largest weight for label `c` relative to the average label
    /// (what the model learned to associate with it), strongest first.
    pub fn top_terms(&self, c: usize, n: usize) -> Vec<(String, f64)> {
        let inv = 1.0 / self.labels.len() as f64;
        let mut scored: Vec<(u32, f64)> = (0..self.estimator().n_terms() as u32)
            .map(|t| {
                let row = self.estimator().term_weights(t);
                (t, row[c] - row.iter().sum::<f64>() * inv)
            })
            .collect();
        let n = n.min(scored.len());
        if n == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(n);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .map(|(t, w)| (self.vectorizer.vocabulary().term(t).to_owned(), w))
            .collect()
    }
}
