//! `attache merge`: combine models trained on separate shards of a corpus.
//!
//! Naive Bayes statistics are sums, so the merged model equals training on all the shards
//! at once, provided the shards were trained with an unpruned vocabulary (the default)
//! and without idf (refused). Vocabulary pruning is applied once, to the summed
//! frequencies: the first model's setting, or the flags given here.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::common::{check_output, default_id, warn_if_calibrated, with_identity};
use super::model_args::explain_invalid;
use crate::model::Model;

/// Flags of `attache merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Models to merge (at least two), trained with the same settings.
    #[arg(required = true, num_args = 2.., value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    /// Where to write the merged model (atomically).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Prune terms found in fewer documents, >= 1 [default: the first model's setting].
    #[arg(long, value_name = "N")]
    pub min_df: Option<u32>,
    /// Prune terms found in more than this share of documents, (0, 1] [default: the
    /// first model's setting].
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub max_df: Option<f64>,
    /// Keep at most N terms, the most frequent [default: the first model's setting].
    #[arg(long, value_name = "N")]
    pub max_features: Option<usize>,
    /// Model id [default: the --out file stem].
    #[arg(long)]
    pub id: Option<String>,
    /// Model version.
    #[arg(long, default_value = "1", value_name = "VERSION")]
    pub model_version: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `attache merge`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let id = args.id.clone().unwrap_or_else(|| default_id(&args.out));
    if id.trim().is_empty() {
        anyhow::bail!("invalid --id: empty");
    }
    check_output(&args.out)?;
    let models: Vec<Model> = args
        .models
        .iter()
        .map(|p| Model::load(p).with_context(|| format!("cannot load model {}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    models.iter().for_each(warn_if_calibrated);
    let mut prune = models[0].config().vocabulary.clone();
    if let Some(n) = args.min_df {
        prune.min_df = n;
    }
    if let Some(x) = args.max_df {
        prune.max_df = x;
    }
    if let Some(n) = args.max_features {
        prune.max_features = Some(n);
    }
    prune
        .validate()
        .map_err(|e| explain_invalid(crate::model::ModelError::Text(e)))?;
    let refs: Vec<&Model> = models.iter().collect();
    let merged = Model::merge(&refs, Some(prune)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let merged = with_identity(merged, &id, &args.model_version)?;
    merged
        .save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    let mut out = std::io::stdout().lock();
    let vocabulary = merged.vectorizer().vocabulary().len();
    if args.json {
        let v = json!({
            "out": args.out.display().to_string(),
            "id": merged.id(),
            "version": merged.version(),
            "checksum": merged.file_checksum(),
            "models": args.models.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "documents": merged.training().documents,
            "labels": merged.labels().iter().zip(merged.label_documents())
                .map(|(l, n)| json!({"label": l.name, "documents": n})).collect::<Vec<_>>(),
            "vocabulary": vocabulary,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "merged {} models: {} documents, {} labels, {vocabulary} terms",
            models.len(),
            merged.training().documents,
            merged.labels().len()
        )?;
        writeln!(
            out,
            "wrote {} (sha256 {})",
            args.out.display(),
            merged.file_checksum()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
