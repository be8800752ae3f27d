//! Benchmark drivers behind `attache bench`: a closed-loop gRPC load generator for a running
//! server, and an in-process measurement of the engine itself.
//!
//! - [`addr`]: the target must be a loopback address — a benchmark is never pointed at
//!   someone else's machine by mistake.
//! - [`docs`]: the documents to send, from a JSON Lines file (gzip or not) with a `text`
//!   field and, optionally, labels to check the answers against.
//! - [`stats`]: latency percentiles and error counts.
//! - [`grpc`]: unary, batch and streaming load, bounded by a request count and a duration.
//! - [`kserve`]: the same load (unary, batch) against a KServe V2 inference server, such as
//!   the MLServer peer, so both servers face one client.
//! - [`offline`]: batch and one-document-per-call throughput, single-document latency and
//!   model load time, in this process (what `offline.py` measures for the peers).
//!
//! Closed loop means each caller keeps a fixed number of calls in flight and sends the next
//! only when one is answered, so throughput is what the server sustains, not what the
//! client offers. The generator shares the machine with the server it measures; its own CPU
//! use is part of every figure.

pub mod addr;
pub mod docs;
pub mod grpc;
pub mod kserve;
pub mod offline;
pub mod stats;

pub use addr::loopback_addr;
pub use docs::{Document, Documents};
pub use grpc::{run, LoadReport, Mode, Plan, Protocol};
pub use kserve::KserveTarget;
pub use offline::{measure, OfflinePlan, OfflineReport};
pub use stats::Latencies;

use std::path::PathBuf;

/// Errors of the benchmark drivers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The target is not on this machine.
    #[error(
        "{0}: not a loopback address; attache bench only drives servers on this machine \
         (127.0.0.0/8, [::1] or localhost)"
    )]
    NotLoopback(String),
    /// The target is not `HOST:PORT`.
    #[error("{addr:?} is not HOST:PORT ({problem})")]
    BadAddr {
        /// What was given.
        addr: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The documents file could not be opened or read.
    #[error(transparent)]
    Read(#[from] crate::corpus::CorpusError),
    /// A line of the documents file is not usable.
    #[error("{}:{line}: {problem}", path.display())]
    BadDocument {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The documents file holds no document.
    #[error("{}: no documents", path.display())]
    NoDocuments {
        /// The file.
        path: PathBuf,
    },
    /// A setting of the run is out of range.
    #[error("invalid {name}: {problem}")]
    InvalidPlan {
        /// The setting, as named on the command line.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No connection to the server.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The target.
        addr: String,
        /// The transport's complaint.
        #[source]
        source: tonic::transport::Error,
    },
    /// A KServe V2 server did not report ready in time (`--wait-ready`).
    #[error("{addr} not ready after {within:?}: {last}")]
    NotReady {
        /// The target.
        addr: String,
        /// How long we waited.
        within: std::time::Duration,
        /// The last answer, or why there was none.
        last: String,
    },
    /// The model file could not be loaded.
    #[error("cannot load model {}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The loader's complaint.
        #[source]
        source: crate::model::ArtifactError,
    },
}
