//! attache: a small, fast, honest text-classification service.
//!
//! Article text comes in over gRPC; a feature extractor turns it into bag-of-words vectors;
//! a trained naive Bayes model returns topic labels with scores.
//!
//! # Layout
//!
//! - [`text`]: tokenizer, vocabulary and vectorizer — raw UTF-8 to sparse vectors. Pure.
//! - [`model`]: naive Bayes estimators, multi-label decisions, paragraph segments,
//!   training, merging, and the versioned model file. Pure apart from reading and
//!   writing that file.
//! - [`corpus`]: labeled corpus readers (JSON Lines, CSV, fastText, a directory per
//!   label; gzip transparently) with `file:line` errors for bad rows.
//! - [`eval`]: evaluation metrics (accuracy, micro/macro P/R/F1, confusion matrix,
//!   precision@1, recall@k), seeded cross-validation and holdout splits, and reports.
//!   Pure.
//! - [`cli`]: the `attache` binary's subcommands (the only place `anyhow` is used).
//! - [`server`]: the gRPC service (`attache serve`): classification, hot reload, health,
//!   reflection, limits, metrics, request logs and graceful shutdown.
//! - [`loadgen`]: `attache bench`: closed-loop gRPC load against a server on this machine
//!   and in-process throughput and latency of a model.
//! - [`proto`]: the generated `attache.v1` gRPC types.
//!
//! The pipeline, end to end: [`model::Model::train`] tokenizes a corpus
//! ([`text::CorpusTerms`]), prunes a [`text::Vocabulary`], weighs documents with a
//! [`text::Vectorizer`] and counts them into [`model::NbCounts`]; [`model::Model::classify`]
//! runs the same features on one document and scores it against the fitted table.

pub mod cli;
pub mod corpus;
pub mod eval;
pub mod loadgen;
pub mod model;
pub mod server;
pub mod text;

/// Generated protobuf and gRPC types of the `attache.v1` package.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("attache.v1");

    /// Encoded file descriptor set of the contract, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/attache_descriptor.bin"));
}
