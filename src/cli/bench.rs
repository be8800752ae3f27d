//! `attache bench`: load a running server over gRPC (unary, batch, stream; attache or, for
//! unary and batch, a KServe V2 server such as the MLServer peer), or measure a model in this
//! process (offline). The work is in [`crate::loadgen`]; this file maps flags
//! to a plan and prints the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::serve::parse_duration;
use crate::loadgen::{self, Documents, KserveTarget, Mode, OfflinePlan, Plan, Protocol};

/// Flags of `attache bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to measure.
    #[command(subcommand)]
    pub mode: BenchMode,
}

/// The measurements.
#[derive(Debug, clap::Subcommand)]
pub enum BenchMode {
    /// One document per Classify call (kserve-v2: per ModelInfer call), CONCURRENCY calls
    /// in flight.
    Unary(GrpcArgs),
    /// BATCH documents per ClassifyBatch call (kserve-v2: one tensor of BATCH documents per
    /// ModelInfer call).
    Batch {
        /// Documents per call (the server's --max-batch bounds it; default 64).
        #[arg(long, default_value_t = 64, value_name = "N")]
        batch: usize,
        #[command(flatten)]
        grpc: GrpcArgs,
    },
    /// ClassifyStream: one stream per caller, one message per document (attache only).
    Stream {
        /// Messages sent and not yet answered on each stream (1: strict request/response).
        #[arg(long, default_value_t = 1, value_name = "N")]
        in_flight: usize,
        #[command(flatten)]
        grpc: GrpcArgs,
    },
    /// In this process, no server: batch and one-document-per-call throughput,
    /// single-document latency, model load time and file size.
    Offline(OfflineArgs),
}

/// Flags shared by the gRPC measurements.
#[derive(Debug, clap::Args)]
pub struct GrpcArgs {
    /// The server: a loopback address only (127.0.0.0/8, [::1], localhost); anything else
    /// is refused.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub addr: String,
    /// The server's API: attache.v1.Classifier, or the KServe V2 (Open Inference) protocol's
    /// ModelInfer as Seldon MLServer serves it (one BYTES tensor "text" of the documents,
    /// content_type "str"; unary and batch only).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Attache)]
    pub protocol: ProtocolArg,
    /// kserve-v2: the model to infer with [default: sklearn-nb, the MLServer peer's].
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,
    /// kserve-v2: before the run, wait up to this long for ServerReady to answer true
    /// (e.g. 120s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait_ready: Option<Duration>,
    /// Documents to send: JSON Lines (gzip or not) with a "text" field, sent in order and
    /// cycled; a "labels" (or "label") field, when present, is checked against the answers.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Callers, each keeping one call (or stream) in flight.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub connections: usize,
    /// Stop after this many measured requests (calls; stream messages).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub requests: u64,
    /// Stop after this long, whichever comes first (e.g. 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub warmup: u64,
    /// Deadline of each call (a stream gets --duration plus this).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// top_k of each request. 1 by default: the answer then carries the top label only, as
    /// the scikit-learn peer's does (0: every label). attache only.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub top_k: u32,
    /// Worker threads of the load generator [default: one per core].
    #[arg(long, value_name = "N")]
    pub client_threads: Option<usize>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Values of `--protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// attache's own attache.v1.Classifier.
    Attache,
    /// KServe V2 / Open Inference Protocol ModelInfer (e.g. Seldon MLServer).
    KserveV2,
}

/// Flags of `attache bench offline`.
#[derive(Debug, clap::Args)]
pub struct OfflineArgs {
    /// Model file to measure.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Documents: JSON Lines (gzip or not) with a "text" field (e.g. a test.jsonl.gz);
    /// labels, when present, give the accuracy of the top label.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Documents timed one call at a time (the first ones of --data).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub single: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub repeat: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `attache bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.mode {
        BenchMode::Unary(grpc) => run_grpc(grpc, Mode::Unary),
        BenchMode::Batch { batch, grpc } => run_grpc(grpc, Mode::Batch { size: batch }),
        BenchMode::Stream { in_flight, grpc } => run_grpc(grpc, Mode::Stream { in_flight }),
        BenchMode::Offline(a) => run_offline(a),
    }
}

fn run_grpc(args: GrpcArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    // The address first: a refused target must not cost the time to read the documents.
    let addr = loadgen::loopback_addr(&args.addr)?;
    let protocol = match args.protocol {
        ProtocolArg::Attache => {
            // Flags that would be silently ignored are refused instead.
            anyhow::ensure!(
                args.model_name.is_none() && args.wait_ready.is_none(),
                "--model-name and --wait-ready apply to --protocol kserve-v2 only"
            );
            Protocol::Attache
        }
        ProtocolArg::KserveV2 => Protocol::KserveV2(KserveTarget {
            model: args.model_name.unwrap_or_else(|| "sklearn-nb".to_owned()),
            wait_ready: args.wait_ready.unwrap_or(Duration::ZERO),
        }),
    };
    let plan = Plan {
        addr,
        protocol,
        mode,
        concurrency: args.concurrency,
        connections: args.connections,
        requests: args.requests,
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
        top_k: args.top_k,
    };
    plan.validate()?;
    let docs = Arc::new(Documents::read(&args.data, None)?);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.client_threads {
        anyhow::ensure!(n >= 1, "--client-threads must be at least 1");
        runtime.worker_threads(n);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(loadgen::run(&plan, docs))?;
    print_report(&report, args.json)
}

fn run_offline(args: OfflineArgs) -> anyhow::Result<ExitCode> {
    let docs = Documents::read(&args.data, None)?;
    let plan = OfflinePlan {
        single: args.single,
        repeat: args.repeat,
    };
    let report = loadgen::measure(&args.model, &docs, plan)?;
    print_report(&report, args.json)
}

/// Writes a report as one JSON line or as text (propagating a closed pipe as an error).
fn print_report<R: serde::Serialize + std::fmt::Display>(
    report: &R,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
    } else {
        write!(out, "{report}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
