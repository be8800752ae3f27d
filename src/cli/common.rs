//! Helpers shared by the ML subcommands: corpus flags and reading, progress, output
//! paths and model identity.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::corpus::{self, Corpus, CorpusError, CsvOptions, Format, ReadOptions, Record};
use crate::model::Model;
use crate::text::{Tokenizer, Vectorizer};

/// Where a labeled corpus comes from and how to read it (`train` and `eval`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Corpus")]
pub struct DataArgs {
    /// Corpus files or directories, read in order (repeat the flag or list several).
    /// Gzip files are decompressed transparently.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Corpus format; auto guesses from the name: .jsonl/.ndjson/.json (JSON Lines), .csv,
    /// .txt/.ft (fastText), each optionally .gz, or a directory (DIR/<label>/<files>).
    #[arg(long, default_value = "auto", value_parser = format_parser())]
    pub format: Format,
    /// CSV: name of the text column.
    #[arg(long, default_value = "text", value_name = "NAME")]
    pub text_column: String,
    /// CSV: name of the label column [default: "labels" if present, else "label"].
    #[arg(long, value_name = "NAME")]
    pub label_column: Option<String>,
    /// CSV: separator between several labels in one cell.
    #[arg(long, default_value = "|", value_name = "CHAR")]
    pub label_separator: char,
    /// Skip bad rows (they are counted and the first few reported) instead of stopping
    /// at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Format::NAMES)
        .map(|s| s.parse::<Format>().expect("only listed names get here"))
}

impl DataArgs {
    /// The reader options these flags describe.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            csv: CsvOptions {
                text_column: self.text_column.clone(),
                label_column: self.label_column.clone(),
                label_separator: self.label_separator,
            },
            skip_bad_rows: self.skip_bad_rows,
        }
    }

    /// Reads the corpus, with a progress line on stderr when it is a terminal, and warns
    /// (on stderr) about skipped rows.
    pub fn read(&self) -> anyhow::Result<Corpus> {
        self.read_observing(|_| {})
    }

    /// [`DataArgs::read`], also calling `observe` from time to time with every record read
    /// so far (see [`corpus::read`]).
    pub fn read_observing(&self, mut observe: impl FnMut(&[Record])) -> anyhow::Result<Corpus> {
        let progress = progress_bar("reading");
        let result = corpus::read(&self.data, &self.read_options(), &mut |records| {
            if let Some(p) = &progress {
                p.set_position(records.len() as u64);
            }
            observe(records);
        });
        if let Some(p) = &progress {
            p.finish_and_clear();
        }
        let corpus = result.map_err(|e| {
            let hint = matches!(e, CorpusError::BadRow(_))
                .then_some(" (pass --skip-bad-rows to skip and count bad rows instead)")
                .unwrap_or_default();
            anyhow::anyhow!("{e}{hint}")
        })?;
        if corpus.skipped > 0 {
            eprintln!("warning: skipped {} bad rows, e.g.:", corpus.skipped);
            for e in &corpus.skipped_examples {
                eprintln!("  {e}");
            }
        }
        Ok(corpus)
    }
}

/// A spinner with documents read and documents per second, only when stderr is a
/// terminal (so logs and pipes stay clean).
fn progress_bar(what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{human_pos}} docs ({{per_sec}}, {{elapsed}})"
    ))
    .expect("valid template");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Fails early, before any work, when `out` cannot be written: its directory must exist
/// and accept a new file. The probe file is removed at once.
pub fn check_output(out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if out.file_name().is_none() || out.is_dir() {
        anyhow::bail!("--out {}: not a file path", out.display());
    }
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "--out {}: {} is not a directory",
            out.display(),
            dir.display()
        );
    }
    if !dir.is_dir() {
        anyhow::bail!(
            "--out {}: directory {} does not exist",
            out.display(),
            dir.display()
        );
    }
    let probe = dir.join(format!(".attache-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("--out {}: cannot write in {}", out.display(), dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The model id for an output path: its file stem.
pub fn default_id(out: &Path) -> String {
    out.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "model".to_owned())
}

/// `model` with another id and version (the engine fixes them at construction, so the
/// model is reassembled from its parts; counts and vocabulary are untouched).
pub fn with_identity(model: Model, id: &str, version: &str) -> anyhow::Result<Model> {
    if model.id() == id && model.version() == version {
        return Ok(model);
    }
    let config = model.config().clone();
    let tokenizer = Tokenizer::new(config.tokenizer.clone())?;
    let vectorizer = Vectorizer::new(
        tokenizer,
        model.vectorizer().vocabulary().clone(),
        config.vectorizer.clone(),
    );
    let mut renamed = Model::from_parts(
        id.to_owned(),
        version.to_owned(),
        model.labels().to_vec(),
        model.training().clone(),
        config,
        vectorizer,
        model.counts().clone(),
        model.thresholds().to_vec(),
    )?;
    renamed.set_temperature(model.temperature())?;
    Ok(renamed)
}

/// Checks a value given for a flag lies in [0, 1].
pub fn check_unit(flag: &str, value: Option<f64>) -> anyhow::Result<()> {
    if let Some(v) = value {
        if !(0.0..=1.0).contains(&v) {
            anyhow::bail!("invalid {flag}: {v} (valid: [0, 1])");
        }
    }
    Ok(())
}

/// Seconds, for reports.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Warns that merging drops a model's calibration: the engine's merge starts from the
/// default threshold and temperature 1, because tuned values belong to the old counts.
pub fn warn_if_calibrated(model: &Model) {
    let default = model.config().assign.threshold;
    if model.temperature() != 1.0 || model.thresholds().iter().any(|&t| t != default) {
        eprintln!(
            "warning: {} has a fitted temperature or tuned thresholds; the result starts from \
             the defaults (temperature 1, threshold {default}); train with --cv or --holdout \
             to tune them again",
            model.id()
        );
    }
}
