//! Evaluation: metrics over label sets, seeded cross-validation and holdout splits, and
//! reports. Pure: no I/O beyond writing a report into a caller's writer.
//!
//! - [`metrics`]: [`Evaluator`] / [`evaluate`] turn per-document [`Outcome`]s into
//!   [`Metrics`] (accuracy, micro/macro precision, recall and F1, a per-label table, a
//!   confusion matrix, precision@1, recall@k, vocabulary coverage).
//! - [`crossval`]: stratified [`kfold`] and [`holdout`] splits, deterministic for a seed,
//!   and [`out_of_fold_log_likelihoods`] with [`posteriors`].
//! - [`predict`]: a trained model's predictions on labeled documents, into metrics.
//! - [`report`]: a plain-text report and JSON.

pub mod crossval;
pub mod metrics;
pub mod predict;
pub mod report;

pub use crossval::{
    fold_split, holdout, kfold, out_of_fold_log_likelihoods, posteriors, Split, SplitError,
};
pub use metrics::{
    evaluate, rank, ConfusionMatrix, Evaluator, LabelMetrics, Metrics, Outcome, Prf, RecallAtK,
};
pub use predict::{evaluate_model, score, Scored};
