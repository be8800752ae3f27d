//! Models: naive Bayes estimators, multi-label decisions, paragraph segments, training,
//! merging and the model file format.
//!
//! [`Model`] is what the CLI and the server hold: features, fitted weights, labels and
//! metadata, with [`Model::classify`] as the one entry point for scoring. Pure and
//! synchronous; the only I/O is reading and writing the artifact.

mod artifact;
mod classifier;
mod linfa_impl;
mod merge;
mod multilabel;
mod naive_bayes;
mod segments;
mod train;

pub use artifact::{ArtifactError, FORMAT_VERSION, MAGIC};
pub use classifier::{
    AssignConfig, ClassifyOptions, Evidence, EvidenceTerm, LabelInfo, LabelScore, Model,
    ModelConfig, Prediction, SegmentPrediction, TrainingInfo,
};
pub use linfa_impl::SparseRecords;
pub use multilabel::{assign, fit_temperature, tune_thresholds};
pub use naive_bayes::{
    argmax, calibrated_softmax_in_place, softmax_in_place, FittedNb, NbCounts, NbKind, NbParams,
    NbValidParams,
};
pub use segments::paragraphs;
pub use train::{
    corpus_digest, corpus_tokenizer, extract_features, features_of, Features, TrainSpec,
};

use crate::text::TextError;

/// Errors of the model layer.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// A hyperparameter is outside its valid range.
    #[error("invalid {name}: {value} (valid: {valid})")]
    InvalidSetting {
        /// Setting name as used in flags and config files.
        name: &'static str,
        /// The offending value.
        value: String,
        /// The valid range.
        valid: String,
    },
    /// A text-layer setting is invalid.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A classifier needs at least two labels.
    #[error("a model needs at least 2 labels, got {0}")]
    TooFewLabels(usize),
    /// A label has no training documents, so its probabilities are undefined.
    #[error("label #{0} has no training documents")]
    EmptyLabel(usize),
    /// Parts of a model disagree with each other (shapes, ranges, values).
    #[error("inconsistent model: {0}")]
    Inconsistent(String),
    /// Models that cannot be combined.
    #[error("cannot merge models: {0}")]
    Incompatible(String),
    /// An error reported by linfa.
    #[error("linfa: {0}")]
    Linfa(String),
}

impl From<linfa::Error> for ModelError {
    fn from(e: linfa::Error) -> Self {
        ModelError::Linfa(e.to_string())
    }
}
