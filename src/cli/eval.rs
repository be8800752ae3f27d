//! `attache eval`: a model's quality on a labeled corpus, optionally as a pipeline gate.
//!
//! On single-label data (every document has one gold label) a document's prediction is
//! its top label; on multi-label data it is the model's assigned set (thresholds and
//! paragraph labels), as the service returns it. Exit code 1 when a `--min-*` gate fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::common::{check_unit, DataArgs};
use super::load_model;
use crate::eval::{self, report, Metrics};

/// Flags of `attache eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file [default: the model built into this binary].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Print the metrics as JSON (one object on stdout).
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when accuracy is below this, in [0, 1].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_accuracy: Option<f64>,
    /// Exit 1 when macro-F1 is below this, in [0, 1].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_macro_f1: Option<f64>,
    /// recall@K: the share of gold labels among the K top-ranked.
    #[arg(long, default_value_t = 3, value_name = "K")]
    pub top_k: usize,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `attache eval`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_unit("--min-accuracy", args.min_accuracy)?;
    check_unit("--min-macro-f1", args.min_macro_f1)?;
    if args.top_k == 0 {
        anyhow::bail!("invalid --top-k: 0 (valid: >= 1)");
    }
    let (model, source) = load_model(args.model.as_deref())?;
    let corpus = args.data.read()?;

    // The model's labels first, in model order, then labels only the data knows.
    let mut names: Vec<String> = model.labels().iter().map(|l| l.name.clone()).collect();
    let unknown: Vec<String> = corpus
        .label_names()
        .into_iter()
        .filter(|n| !names.contains(n))
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "warning: {} label(s) in the data are unknown to the model and can never be \
             predicted: {}",
            unknown.len(),
            unknown.join(", ")
        );
    }
    names.extend(unknown);
    let gold: Vec<Vec<usize>> = corpus
        .records
        .iter()
        .map(|r| {
            r.labels
                .iter()
                .map(|l| {
                    names
                        .iter()
                        .position(|n| n == l)
                        .expect("names hold every label")
                })
                .collect()
        })
        .collect();
    let texts = corpus.texts();
    let metrics = eval::evaluate_model(&model, &texts, &gold, names, args.top_k);

    let failures = gates(&metrics, &args);
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut v = report::to_json(&metrics);
        v["model"] = json!(source);
        v["model_id"] = json!(model.id());
        v["skipped_rows"] = json!(corpus.skipped);
        v["gates"] = json!({
            "passed": failures.is_empty(),
            "failures": failures,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(out, "model        {} ({source})", model.id())?;
        if corpus.skipped > 0 {
            writeln!(out, "skipped      {} bad rows", corpus.skipped)?;
        }
        report::write_report(&mut out, &metrics)?;
    }
    out.flush()?;
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("eval gate failed: {f}");
        }
        Ok(ExitCode::from(1))
    }
}

/// The failed gates, each saying by how much.
fn gates(m: &Metrics, args: &Args) -> Vec<String> {
    [
        ("accuracy", m.accuracy, args.min_accuracy, "--min-accuracy"),
        (
            "macro-F1",
            m.macro_avg.f1,
            args.min_macro_f1,
            "--min-macro-f1",
        ),
    ]
    .into_iter()
    .filter_map(|(name, value, min, flag)| {
        let min = min?;
        (value < min).then(|| {
            format!(
                "{name} {value:.4} is below {flag} {min} (short by {:.4})",
                min - value
            )
        })
    })
    .collect()
}
