//! [`ServerError`]: everything the server refuses or fails at, typed. The one mapping to
//! gRPC status codes lives in [`super::convert`].

use std::path::PathBuf;

use crate::model::ArtifactError;

/// Why one document of a request is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Nothing to classify.
    #[error("text is empty or whitespace only")]
    EmptyText,
    /// Over `--max-text-bytes`.
    #[error("text is {bytes} bytes, over the maximum of {max} bytes (--max-text-bytes)")]
    TextTooLarge {
        /// Size of the text.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A threshold override outside [0, 1] (or NaN).
    #[error("threshold {0} is outside [0, 1]")]
    BadThreshold(f64),
}

/// Errors of the server layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A document of the request is invalid; `doc` names it (id, and index in a batch).
    #[error("{doc}: {problem}")]
    InvalidDocument {
        /// Which document, e.g. `document "a1"` or `documents[3] (id "a1")`.
        doc: String,
        /// What is wrong with it.
        problem: DocumentError,
    },
    /// More documents than `--max-batch`.
    #[error("batch of {size} documents is over the maximum of {max} (--max-batch)")]
    BatchTooLarge {
        /// Documents in the batch.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Load shedding: the concurrency limit is reached.
    #[error(
        "server overloaded: {limit} calls already in flight (--max-concurrency); retry with backoff"
    )]
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
    /// The client's deadline passed before the answer was ready.
    #[error("deadline exceeded: the client's deadline (grpc-timeout) passed before the answer was ready")]
    DeadlineExceeded,
    /// The server is shutting down and this call could not finish in time.
    #[error("server shutting down: {0}")]
    ShuttingDown(&'static str),
    /// A handler panicked; the server survived it.
    #[error("internal error (the handler panicked: {0})")]
    Panicked(String),
    /// Any other internal failure.
    #[error("internal error: {0}")]
    Internal(String),

    /// `ModelAdmin` is disabled because no admin token is configured.
    #[error("ModelAdmin is disabled: start the server with an admin token (ATTACHE_ADMIN_TOKEN)")]
    AdminDisabled,
    /// No `authorization: Bearer ...` metadata.
    #[error("missing bearer token: send `authorization: Bearer <token>` metadata")]
    MissingToken,
    /// A bearer token that does not match.
    #[error("invalid bearer token")]
    InvalidToken,
    /// An empty reload path while serving the built-in model: there is no file to re-read.
    #[error("the server serves its built-in model, so there is no file to read again; pass a path inside the model directory")]
    NothingToReload,
    /// A reload path was given but no model directory is configured.
    #[error("no model directory is configured (--model-dir), so no model path can be loaded")]
    NoModelDir,
    /// The path leads outside the model directory.
    #[error("{path:?} is outside the model directory {dir}")]
    OutsideModelDir {
        /// The path as requested.
        path: String,
        /// The model directory.
        dir: PathBuf,
    },
    /// No such model file.
    #[error("{0}: no such model file")]
    ModelNotFound(PathBuf),
    /// The path exists but is not a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    /// The file is not a valid model (or cannot be read).
    #[error("cannot load model {}: {source}", path.display())]
    BadModel {
        /// The file.
        path: PathBuf,
        /// The loader's reason.
        #[source]
        source: ArtifactError,
    },
    /// The model loaded but failed the smoke test run before swapping it in.
    #[error("model {} failed validation: {reason}", path.display())]
    ModelFailedValidation {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The server could not start or serve (bind, TLS, transport).
    #[error("server transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// gRPC reflection could not be built from the descriptor sets.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// An I/O error outside a request (listeners).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
