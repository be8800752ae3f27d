//! Command-line interface: one file per subcommand. `anyhow` lives here, at the binary
//! edge; the library layers below return typed errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::model::Model;

/// attache: a small, fast, honest text-classification service.
#[derive(Debug, Parser)]
#[command(name = "attache", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the model over gRPC (the main job; no flags needed).
    Serve(serve::Args),
    /// Ask a running server for its gRPC health; exits 0 only when SERVING.
    Health(health::Args),
    /// Train a model on a labeled corpus (with holdout or cross-validated metrics).
    Train(Box<train::Args>),
    /// Evaluate a model on a labeled corpus; exits 1 when below a --min-* gate.
    Eval(eval::Args),
    /// Classify documents: --text, files, or JSON Lines on stdin.
    Classify(classify::Args),
    /// Show what a model holds: labels, vocabulary, top terms, settings, metrics.
    Inspect(inspect::Args),
    /// Merge models trained on shards of a corpus into one.
    Merge(merge::Args),
    /// Benchmark: load a running server over gRPC (unary, batch, stream; loopback only),
    /// or measure a model in this process (offline).
    Bench(bench::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Health(args) => health::run(args),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

pub mod bench;
pub mod classify;
mod common;
pub mod eval;
pub mod health;
pub mod inspect;
pub mod merge;
mod model_args;
pub mod serve;
pub mod train;

/// The default model's bytes, embedded at build time (None before it has been trained).
pub const DEFAULT_MODEL: Option<&[u8]> = include!(concat!(env!("OUT_DIR"), "/default_model.rs"));

/// Where the default model lives in the repository (it is also embedded in the binary).
pub const DEFAULT_MODEL_PATH: &str = "models/diplomatic-news.attache";

/// Loads `path`, or the embedded default model when `path` is `None`. Returns the model
/// and a description of where it came from.
pub fn load_model(path: Option<&Path>) -> anyhow::Result<(Model, String)> {
    match path {
        Some(p) => {
            let model =
                Model::load(p).with_context(|| format!("cannot load model {}", p.display()))?;
            Ok((model, p.display().to_string()))
        }
        None => {
            let bytes = DEFAULT_MODEL.context(
                "this attache was built without a default model; pass --model FILE \
                 (train one with `attache train`)",
            )?;
            let model = Model::from_bytes(bytes).context("the embedded default model")?;
            Ok((model, format!("built-in ({DEFAULT_MODEL_PATH})")))
        }
    }
}

/// True when `err` was caused by writing to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An optional path argument, for flags like `--model`.
pub type OptPath = Option<PathBuf>;
