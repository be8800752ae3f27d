//! `attache train`: read a labeled corpus, train a model, estimate its quality, save it.
//!
//! Quality estimates:
//! - `--holdout F`: a stratified, seeded share F of the documents is held out; the saved
//!   model is trained on the rest, so the reported figures describe exactly that model
//!   (`attache eval` on the held-out documents gives the same numbers).
//! - `--cv K`: stratified, seeded K-fold cross-validation, then the saved model is trained
//!   on everything. The features (tokens, vocabulary, idf) are extracted once from all
//!   documents, labels unseen, and each fold only re-counts them: fast, and slightly
//!   optimistic for pruned vocabularies or idf. Folds score whole documents (paragraph
//!   labels are not simulated).
//!
//! On multi-label data, a softmax temperature is fitted to the held-out (or out-of-fold)
//! joint log-likelihoods ([`fit_temperature`]: naive Bayes posteriors are far too
//! confident for thresholds to mean anything), then per-label thresholds are tuned on the
//! calibrated posteriors; both are stored in the model. The figures reported use them, so
//! they are optimistic by that tuning. Single-label data keeps temperature 1 and the
//! default threshold (the top label decides).
//!
//! Nothing depending on the clock or on absolute paths goes into the model: the same data,
//! config and seed give a byte-identical file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use serde_json::json;

use super::common::{check_output, default_id, secs, warn_if_calibrated, with_identity, DataArgs};
use super::model_args::{self, explain_invalid, ModelArgs};
use crate::corpus::{Corpus, Record};
use crate::eval::{self, report, Metrics};
use crate::model::{
    assign, corpus_tokenizer, features_of, fit_temperature, tune_thresholds, Features, LabelInfo,
    Model, ModelConfig, TrainSpec,
};
use crate::text::CorpusTermsBuilder;

/// Text read but not yet tokenized at which training tokenizes what it has so far. Why
/// batches of several of the reader's 1 MB chunks: the pieces of every batch each add
/// their distinct terms to the merge at the end (since 8 December in parallel hash
/// shards, but still once per piece), so fewer batches merge faster. Measured on 4
/// December: 1, 2 and 4 MB the same on 20 Newsgroups (8 MB slower), 4 MB faster than 1 MB
/// on the White House corpus (1.18 s against 1.23 s).
const TOKENIZE_BATCH_BYTES: usize = 4 << 20;

/// Flags of `attache train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the model (a temporary file in the same directory, renamed when
    /// complete, so a failed run never leaves a partial model).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// TOML config file (sections as in `ModelConfig`, plus `[labels]`); flags override it.
    #[arg(
        long,
        value_name = "FILE.toml",
        help = "TOML config: [tokenizer], [vocabulary], [vectorizer], [model] and [assign] \
                sections with the settings below, and [labels] (label = \"description\")"
    )]
    pub config: Option<PathBuf>,
    /// Hold out this share of the documents (stratified, seeded), train on the rest and
    /// report held-out metrics; the saved model is the one trained on the rest.
    #[arg(
        long,
        value_name = "FRACTION",
        conflicts_with = "cv",
        allow_negative_numbers = true
    )]
    pub holdout: Option<f64>,
    /// K-fold cross-validation (stratified, seeded), then train on everything.
    #[arg(long, value_name = "K")]
    pub cv: Option<usize>,
    /// Seed of the holdout and cross-validation splits.
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,
    /// recall@K in the reported metrics.
    #[arg(long, default_value_t = 3, value_name = "K")]
    pub top_k: usize,
    /// Model id [default: the --out file stem].
    #[arg(long)]
    pub id: Option<String>,
    /// Model version.
    #[arg(long, default_value = "1", value_name = "VERSION")]
    pub model_version: String,
    /// Add the counts of --data to this model (naive Bayes counts add up) instead of
    /// training from scratch; uses that model's settings, so it excludes --config, the
    /// model settings, --holdout and --cv.
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["config", "holdout", "cv", "ModelArgs"])]
    pub from: Option<PathBuf>,
    /// Print the report as JSON (one object on stdout).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Threshold grid for tuning: 0.05, 0.10, ..., 0.95.
fn threshold_grid() -> Vec<f64> {
    (1..=19).map(|i| f64::from(i) / 20.0).collect()
}

/// How the saved model's quality was estimated.
enum Estimate {
    None,
    Holdout {
        fraction: f64,
        documents: usize,
        metrics: Metrics,
    },
    Cv {
        k: usize,
        metrics: Metrics,
        folds: Vec<Metrics>,
    },
}

/// Runs `attache train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    // Everything that can be refused is refused before reading any data.
    let (config, descriptions) = if args.from.is_some() {
        (ModelConfig::default(), BTreeMap::new())
    } else {
        model_args::build(args.config.as_deref(), &args.model)?
    };
    if let Some(f) = args.holdout.filter(|f| !(*f > 0.0 && *f < 1.0)) {
        return Err(eval::SplitError::Fraction(f).into());
    }
    if let Some(k) = args.cv {
        if k < 2 {
            anyhow::bail!("invalid cv folds: {k} (valid: >= 2)");
        }
    }
    if args.top_k == 0 {
        anyhow::bail!("invalid --top-k: 0 (valid: >= 1)");
    }
    let id = args.id.clone().unwrap_or_else(|| default_id(&args.out));
    if id.trim().is_empty() {
        anyhow::bail!("invalid --id: empty");
    }
    check_output(&args.out)?;
    let base = match &args.from {
        Some(path) => Some(
            Model::load(path).with_context(|| format!("cannot load --from {}", path.display()))?,
        ),
        None => None,
    };

    // Training on every document read (all but --from and --holdout) tokenizes them while
    // the rest of the file is still being decompressed, a batch at a time: decompressing
    // runs on one thread, which left the other cores mostly idle while reading.
    let tokenizer = match (&base, args.holdout) {
        (None, None) => Some(corpus_tokenizer(&config).map_err(explain_invalid)?),
        _ => None,
    };
    let mut builder = tokenizer.as_ref().map(CorpusTermsBuilder::new);
    let mut tokenized = 0;
    let mut tokenize_from = |records: &[Record], at_least: usize| {
        if let Some(builder) = builder.as_mut() {
            let batch = &records[tokenized..];
            if batch.iter().map(|r| r.text.len()).sum::<usize>() >= at_least {
                let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
                builder.add(&texts);
                tokenized = records.len();
            }
        }
    };
    let corpus = args
        .data
        .read_observing(|records| tokenize_from(records, TOKENIZE_BATCH_BYTES))?;
    tokenize_from(&corpus.records, 0);
    let read_time = start.elapsed();

    let names = corpus.label_names();
    let gold = corpus.label_indices(&names);
    let texts = corpus.texts();
    let (mut model, estimate) = match &base {
        Some(old) => (train_from(old, &names, &gold, &texts)?, Estimate::None),
        None => {
            if names.len() < 2 {
                anyhow::bail!(
                    "the corpus has {} label ({}); a classifier needs at least 2",
                    names.len(),
                    names.join(", ")
                );
            }
            // A described label without documents cannot be learnt: a typo, or the wrong data.
            if let Some(label) = descriptions
                .keys()
                .find(|l| names.binary_search(l).is_err())
            {
                let config = args.config.as_deref().expect("[labels] come from --config");
                anyhow::bail!(
                    "{}: [labels] describes {label:?}, which has no documents in the training \
                     data (its labels: {})",
                    labels_key_at(config, label),
                    names.join(", ")
                );
            }
            let labels: Vec<LabelInfo> = names
                .iter()
                .map(|n| LabelInfo {
                    name: n.clone(),
                    description: descriptions.get(n).cloned().unwrap_or_default(),
                })
                .collect();
            let spec = TrainSpec {
                id: id.clone(),
                version: args.model_version.clone(),
                labels,
            };
            let multi = corpus.is_multi_label();
            let terms = builder.map(CorpusTermsBuilder::finish);
            let features = match (terms, tokenizer) {
                (Some(terms), Some(tokenizer)) => {
                    Some(features_of(&config, tokenizer, terms).map_err(explain_invalid)?)
                }
                _ => None,
            };
            match (args.holdout, args.cv, features) {
                (Some(f), _, _) => train_holdout(spec, config, &texts, &gold, multi, f, &args)?,
                (None, Some(k), Some(features)) => {
                    train_cv(spec, config, features, &texts, &gold, multi, k, &args)?
                }
                (None, None, Some(features)) => (
                    Model::from_features(spec, config, features, &texts, &gold)
                        .map_err(explain_invalid)?,
                    Estimate::None,
                ),
                (None, _, None) => unreachable!("tokenized while reading"),
            }
        }
    };
    model = with_identity(model, &id, &args.model_version)?;
    store_estimate(&mut model, &estimate, args.seed);
    model
        .save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let total = start.elapsed();

    let mut out = std::io::stdout().lock();
    let timing = (secs(read_time), secs(total - read_time), secs(total));
    if args.json {
        let value = json_report(&model, &corpus, &estimate, &args, timing);
        writeln!(out, "{value}")?;
    } else {
        text_report(&mut out, &model, &corpus, &estimate, &args, timing)?;
    }
    // The process exits next. Freeing the corpus and the model piece by piece (every
    // document and term is its own allocation) took 10-13 ms of a 0.36 s run on 20
    // Newsgroups, for memory the OS takes back at once.
    std::mem::forget(corpus);
    std::mem::forget(model);
    Ok(ExitCode::SUCCESS)
}

/// `--from`: counts of the new data, with the old model's settings and an unpruned
/// vocabulary, merged into the old model; pruning is applied once, to the sums.
fn train_from(
    old: &Model,
    names: &[String],
    gold: &[Vec<usize>],
    texts: &[&str],
) -> anyhow::Result<Model> {
    if names.len() < 2 {
        anyhow::bail!(
            "--from: the new data has {} label ({}); incremental training needs at least 2 \
             labels in the new data (each part is fitted before the counts are added)",
            names.len(),
            names.join(", ")
        );
    }
    warn_if_calibrated(old);
    let mut config = old.config().clone();
    let pruned = config.vocabulary != Default::default();
    if pruned {
        eprintln!(
            "warning: {} was trained with a pruned vocabulary (min_df/max_df/max_features); \
             counts it dropped are lost, so the result can differ from training on all the \
             data at once",
            old.id()
        );
    }
    config.vocabulary = Default::default();
    let labels = names
        .iter()
        .map(|n| LabelInfo {
            name: n.clone(),
            description: old
                .labels()
                .iter()
                .find(|l| &l.name == n)
                .map(|l| l.description.clone())
                .unwrap_or_default(),
        })
        .collect();
    let spec = TrainSpec {
        id: old.id().to_owned(),
        version: old.version().to_owned(),
        labels,
    };
    let new = Model::train(spec, config, texts, gold).map_err(explain_invalid)?;
    Model::merge(&[old, &new], Some(old.config().vocabulary.clone()))
        .context("cannot add the new counts to the --from model")
}

/// `FILE:LINE` of `key` in the `[labels]` table of the TOML file `path`, for messages (just
/// `FILE` when the line cannot be told, e.g. for a dotted key).
fn labels_key_at(path: &std::path::Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut in_labels = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(table) = line.strip_prefix('[') {
            in_labels = table.trim_end_matches(']').trim() == "labels";
        } else if let Some((k, _)) = line.split_once('=').filter(|_| in_labels) {
            if k.trim().trim_matches(|c| c == '"' || c == '\'') == key {
                return format!("{}:{}", path.display(), i + 1);
            }
        }
    }
    path.display().to_string()
}

fn subset<'a, T: ?Sized>(items: &[&'a T], idx: &[usize]) -> Vec<&'a T> {
    idx.iter().map(|&i| items[i]).collect()
}

fn train_holdout(
    spec: TrainSpec,
    config: ModelConfig,
    texts: &[&str],
    gold: &[Vec<usize>],
    multi: bool,
    fraction: f64,
    args: &Args,
) -> anyhow::Result<(Model, Estimate)> {
    let n_labels = spec.labels.len();
    let names: Vec<String> = spec.labels.iter().map(|l| l.name.clone()).collect();
    let split = eval::holdout(gold, n_labels, fraction, args.seed)?;
    let train_texts = subset(texts, &split.train);
    let train_gold: Vec<Vec<usize>> = split.train.iter().map(|&i| gold[i].clone()).collect();
    let test_texts = subset(texts, &split.test);
    let test_gold: Vec<Vec<usize>> = split.test.iter().map(|&i| gold[i].clone()).collect();
    let mut model =
        Model::train(spec, config, &train_texts, &train_gold).map_err(explain_invalid)?;
    if multi {
        let jll: Vec<Vec<f64>> = test_texts
            .par_iter()
            .map(|t| model.joint_log_likelihoods(t).0)
            .collect();
        let temperature = fit_temperature(&jll, &test_gold);
        model.set_temperature(temperature)?;
        let probs = eval::posteriors(&jll, temperature);
        let default = model.config().assign.threshold;
        let tuned = tune_thresholds(&probs, &test_gold, &threshold_grid(), default);
        model.set_thresholds(tuned)?;
    }
    let metrics = eval::evaluate_model(&model, &test_texts, &test_gold, names, args.top_k);
    Ok((
        model,
        Estimate::Holdout {
            fraction,
            documents: split.test.len(),
            metrics,
        },
    ))
}

#[allow(clippy::too_many_arguments)]
fn train_cv(
    spec: TrainSpec,
    config: ModelConfig,
    features: Features,
    texts: &[&str],
    gold: &[Vec<usize>],
    multi: bool,
    k: usize,
    args: &Args,
) -> anyhow::Result<(Model, Estimate)> {
    let n_labels = spec.labels.len();
    let names: Vec<String> = spec.labels.iter().map(|l| l.name.clone()).collect();
    let folds = eval::kfold(gold, n_labels, k, args.seed)?;
    let jll = eval::out_of_fold_log_likelihoods(&features, gold, n_labels, &config, &folds)?;
    let temperature = if multi {
        fit_temperature(&jll, gold)
    } else {
        1.0
    };
    let probs = eval::posteriors(&jll, temperature);
    let default = config.assign.threshold;
    let thresholds = if multi {
        tune_thresholds(&probs, gold, &threshold_grid(), default)
    } else {
        vec![default; n_labels]
    };
    let rankings: Vec<Vec<usize>> = probs.iter().map(|p| eval::rank(p)).collect();
    let predicted: Vec<Vec<usize>> = probs
        .iter()
        .zip(&rankings)
        .map(|(p, r)| {
            if multi {
                assign(p, &thresholds, None)
            } else {
                vec![r[0]]
            }
        })
        .collect();
    let outcome = |i: usize| eval::Outcome {
        gold: &gold[i],
        predicted: &predicted[i],
        ranking: &rankings[i],
        coverage: None,
    };
    let metrics = eval::evaluate(names.clone(), args.top_k, (0..gold.len()).map(outcome));
    let fold_metrics = (0..k)
        .map(|f| {
            let docs = (0..gold.len()).filter(|&i| folds[i] == f);
            eval::evaluate(names.clone(), args.top_k, docs.map(outcome))
        })
        .collect();

    // The saved model: the same features, counted over every document.
    let mut model = Model::from_features(spec, config, features, texts, gold)?;
    model.set_thresholds(thresholds)?;
    model.set_temperature(temperature)?;
    Ok((
        model,
        Estimate::Cv {
            k,
            metrics,
            folds: fold_metrics,
        },
    ))
}

/// The headline figures under `prefix` (e.g. `cv.macro_f1`).
fn headline(prefix: &str, m: &Metrics) -> Vec<(String, f64)> {
    let mut v = vec![
        ("accuracy", m.accuracy),
        ("micro_precision", m.micro.precision),
        ("micro_recall", m.micro.recall),
        ("micro_f1", m.micro.f1),
        ("macro_precision", m.macro_avg.precision),
        ("macro_recall", m.macro_avg.recall),
        ("macro_f1", m.macro_avg.f1),
    ];
    if m.multi_label {
        v.push(("precision_at_1", m.precision_at_1));
    }
    let mut out: Vec<(String, f64)> = v
        .into_iter()
        .map(|(k, x)| (format!("{prefix}.{k}"), x))
        .collect();
    if let Some(c) = m.coverage {
        out.push((format!("{prefix}.coverage"), c));
    }
    out
}

fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

fn store_estimate(model: &mut Model, estimate: &Estimate, seed: u64) {
    let info = model.training_mut();
    match estimate {
        Estimate::None => {}
        Estimate::Holdout {
            fraction,
            documents,
            metrics,
        } => {
            info.metrics.extend(headline("holdout", metrics));
            info.notes
                .insert("holdout.fraction".into(), fraction.to_string());
            info.notes.insert("holdout.seed".into(), seed.to_string());
            info.notes
                .insert("holdout.documents".into(), documents.to_string());
            if metrics.multi_label {
                info.notes.insert(
                    "thresholds".into(),
                    "temperature fitted and thresholds tuned per label (grid 0.05..=0.95) \
                     on the held-out documents"
                        .into(),
                );
            }
        }
        Estimate::Cv { k, metrics, folds } => {
            info.metrics.extend(headline("cv", metrics));
            let f1: Vec<f64> = folds.iter().map(|m| m.macro_avg.f1).collect();
            info.metrics.insert("cv.macro_f1_std".into(), std_dev(&f1));
            info.notes.insert("cv.folds".into(), k.to_string());
            info.notes.insert("cv.seed".into(), seed.to_string());
            if metrics.multi_label {
                info.notes.insert(
                    "thresholds".into(),
                    "temperature fitted and thresholds tuned per label (grid 0.05..=0.95) \
                     on the out-of-fold scores"
                        .into(),
                );
            }
        }
    }
}

fn label_rows(model: &Model) -> Vec<serde_json::Value> {
    model
        .labels()
        .iter()
        .zip(model.label_documents())
        .zip(model.thresholds())
        .map(|((l, &docs), &t)| {
            json!({"label": l.name, "documents": docs, "threshold": t, "description": l.description})
        })
        .collect()
}

fn json_report(
    model: &Model,
    corpus: &Corpus,
    estimate: &Estimate,
    args: &Args,
    (read_s, train_s, total_s): (f64, f64, f64),
) -> serde_json::Value {
    let mut v = json!({
        "out": args.out.display().to_string(),
        "id": model.id(),
        "version": model.version(),
        "checksum": model.file_checksum(),
        "documents": model.training().documents,
        "read_documents": corpus.records.len(),
        "skipped_rows": corpus.skipped,
        "multi_label": corpus.is_multi_label(),
        "labels": label_rows(model),
        "vocabulary": model.vectorizer().vocabulary().len(),
        "temperature": model.temperature(),
        "seconds": {"read": read_s, "train": train_s, "total": total_s},
    });
    if let Some(from) = &args.from {
        v["from"] = json!(from.display().to_string());
    }
    match estimate {
        Estimate::None => {}
        Estimate::Holdout {
            fraction,
            documents,
            metrics,
        } => {
            v["holdout"] = json!({
                "fraction": fraction, "seed": args.seed, "documents": documents,
                "metrics": report::to_json(metrics),
            });
        }
        Estimate::Cv { k, metrics, folds } => {
            let per_fold: Vec<serde_json::Value> = folds
                .iter()
                .map(|m| {
                    json!({"documents": m.documents, "accuracy": m.accuracy,
                           "micro_f1": m.micro.f1, "macro_f1": m.macro_avg.f1})
                })
                .collect();
            v["cv"] = json!({
                "folds": k, "seed": args.seed, "metrics": report::to_json(metrics),
                "per_fold": per_fold,
            });
        }
    }
    v
}

fn text_report(
    out: &mut dyn Write,
    model: &Model,
    corpus: &Corpus,
    estimate: &Estimate,
    args: &Args,
    (read_s, train_s, total_s): (f64, f64, f64),
) -> std::io::Result<()> {
    let kind = if corpus.is_multi_label() {
        "multi-label"
    } else {
        "single-label"
    };
    match &args.from {
        Some(from) => writeln!(
            out,
            "added {} documents to {} ({} documents in all, {kind} data)",
            corpus.records.len(),
            from.display(),
            model.training().documents
        )?,
        None => writeln!(
            out,
            "trained {} v{} on {} documents ({} labels, {kind})",
            model.id(),
            model.version(),
            model.training().documents,
            model.labels().len()
        )?,
    }
    if corpus.skipped > 0 {
        writeln!(out, "skipped {} bad rows", corpus.skipped)?;
    }
    writeln!(out)?;
    let mut t = report::Table::new(["label", "documents", "threshold", "description"]);
    for ((l, docs), th) in model
        .labels()
        .iter()
        .zip(model.label_documents())
        .zip(model.thresholds())
    {
        t.row([
            l.name.clone(),
            docs.to_string(),
            format!("{th:.2}"),
            l.description.clone(),
        ]);
    }
    t.write(out, "  ")?;
    writeln!(
        out,
        "\nvocabulary   {} terms",
        model.vectorizer().vocabulary().len()
    )?;
    match estimate {
        Estimate::None => {}
        Estimate::Holdout {
            fraction,
            documents,
            metrics,
        } => {
            writeln!(
                out,
                "\nheld-out evaluation ({documents} documents, fraction {fraction}, seed {}):",
                args.seed
            )?;
            report::write_summary(out, metrics, "  ")?;
            writeln!(out)?;
            report::write_per_label(out, metrics, "  ")?;
        }
        Estimate::Cv { k, metrics, folds } => {
            let f1: Vec<f64> = folds.iter().map(|m| m.macro_avg.f1).collect();
            writeln!(
                out,
                "\n{k}-fold cross-validation (seed {}; macro-F1 per fold {} ± {:.4}):",
                args.seed,
                f1.iter()
                    .map(|x| format!("{x:.4}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                std_dev(&f1)
            )?;
            report::write_summary(out, metrics, "  ")?;
            writeln!(out)?;
            report::write_per_label(out, metrics, "  ")?;
        }
    }
    if model.temperature() != 1.0 {
        writeln!(
            out,
            "\ntemperature {:.3} fitted and thresholds tuned per label on the held-out scores; \
             the figures above use them",
            model.temperature()
        )?;
    }
    writeln!(
        out,
        "\nwrote {} (sha256 {})\ntime: read {read_s:.3} s, train {train_s:.3} s, total {total_s:.3} s",
        args.out.display(),
        model.file_checksum()
    )?;
    Ok(())
}
