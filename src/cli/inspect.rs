//! `attache inspect`: what a model file holds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::load_model;
use crate::eval::report::Table;
use crate::model::{Model, FORMAT_VERSION};

/// Flags of `attache inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file [default: the model built into this binary].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Top terms listed per label (the terms weighing most for it against the average
    /// label).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top_terms: usize,
}

/// Runs `attache inspect`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (model, source) = load_model(args.model.as_deref())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", to_json(&model, &source, args.top_terms))?;
    } else {
        write_text(&mut out, &model, &source, args.top_terms)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(model: &Model, source: &str, top_terms: usize) -> serde_json::Value {
    let labels: Vec<serde_json::Value> = model
        .labels()
        .iter()
        .enumerate()
        .map(|(c, l)| {
            let terms: Vec<serde_json::Value> = model
                .top_terms(c, top_terms)
                .into_iter()
                .map(|(term, weight)| json!({"term": term, "weight": weight}))
                .collect();
            json!({
                "label": l.name,
                "description": l.description,
                "documents": model.label_documents()[c],
                "threshold": model.thresholds()[c],
                "top_terms": terms,
            })
        })
        .collect();
    let vocabulary = model.vectorizer().vocabulary();
    json!({
        "source": source,
        "id": model.id(),
        "version": model.version(),
        "format_version": FORMAT_VERSION,
        "checksum": model.file_checksum(),
        "temperature": model.temperature(),
        "labels": labels,
        "vocabulary": {"terms": vocabulary.len(), "documents": vocabulary.n_docs()},
        "config": model.config(),
        "training": model.training(),
    })
}

fn write_text(
    out: &mut dyn Write,
    model: &Model,
    source: &str,
    top_terms: usize,
) -> std::io::Result<()> {
    let training = model.training();
    writeln!(out, "model        {} v{}", model.id(), model.version())?;
    writeln!(out, "source       {source}")?;
    writeln!(out, "format       version {FORMAT_VERSION}")?;
    writeln!(out, "checksum     sha256 {}", model.file_checksum())?;
    writeln!(
        out,
        "vocabulary   {} terms from {} documents",
        model.vectorizer().vocabulary().len(),
        model.vectorizer().vocabulary().n_docs()
    )?;
    writeln!(
        out,
        "temperature  {} (softmax temperature of the scores; 1: raw naive Bayes)",
        model.temperature()
    )?;
    writeln!(
        out,
        "training     {} documents, corpus digest {}",
        training.documents, training.corpus_digest
    )?;
    for (k, v) in &training.metrics {
        writeln!(out, "  metric     {k} = {v:.4}")?;
    }
    for (k, v) in &training.notes {
        writeln!(out, "  note       {k} = {v}")?;
    }

    writeln!(out, "\nlabels")?;
    let mut t = Table::new(["label", "documents", "threshold", "description"]);
    for (c, l) in model.labels().iter().enumerate() {
        t.row([
            l.name.clone(),
            model.label_documents()[c].to_string(),
            format!("{:.2}", model.thresholds()[c]),
            l.description.clone(),
        ]);
    }
    t.write(out, "  ")?;

    if top_terms > 0 {
        writeln!(out, "\ntop terms per label")?;
        for (c, l) in model.labels().iter().enumerate() {
            let terms: Vec<String> = model
                .top_terms(c, top_terms)
                .into_iter()
                .map(|(t, _)| t)
                .collect();
            writeln!(out, "  {}: {}", l.name, terms.join(", "))?;
        }
    }

    writeln!(out, "\nconfig")?;
    let config = match toml::Table::try_from(model.config()) {
        Ok(mut table) => {
            shorten_stop_words(&mut table);
            toml::to_string(&table).unwrap_or_else(|e| format!("({e})\n"))
        }
        Err(e) => format!("({e})\n"),
    };
    for line in config.lines() {
        writeln!(out, "{}", format!("  {line}").trim_end())?;
    }
    Ok(())
}

/// Custom stop-word lists longer than this are summarised in the text report.
const STOP_WORDS_SHOWN: usize = 12;

/// Replaces a long custom stop-word list by its size and first words.
///
/// Why: a domain list (the default model carries about 2,500 words with its place names)
/// would otherwise fill the screen in one line and bury the other settings; `--json`
/// still gives the whole list.
fn shorten_stop_words(config: &mut toml::Table) {
    let Some(toml::Value::Table(tokenizer)) = config.get_mut("tokenizer") else {
        return;
    };
    let Some(toml::Value::Table(stop)) = tokenizer.get("stop_words") else {
        return;
    };
    let Some(toml::Value::Array(words)) = stop.get("custom") else {
        return;
    };
    if words.len() <= STOP_WORDS_SHOWN {
        return;
    }
    let first: Vec<&str> = words
        .iter()
        .take(STOP_WORDS_SHOWN)
        .filter_map(toml::Value::as_str)
        .collect();
    let summary = format!(
        "custom: {} words ({}, ...; --json lists them all)",
        words.len(),
        first.join(", ")
    );
    tokenizer.insert("stop_words".into(), toml::Value::String(summary));
}
