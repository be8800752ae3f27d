//! `attache classify`: label documents from the command line, files or stdin.
//!
//! Input: `--text "..."` (one document), or FILEs / `-` (stdin). A file whose first
//! non-blank line is a JSON object with a `"text"` string is JSON Lines, one document per
//! line (`{"id": ..., "text": ...}`; without an id, the line number is the id); any other
//! file is one document whose id is its path. JSON Lines are classified in parallel
//! batches of the lines already available, so a pipe feeding one line at a time gets an
//! answer per line.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::check_unit;
use super::load_model;
use crate::corpus::source;
use crate::model::{ClassifyOptions, LabelScore, Model, Prediction};

/// Flags of `attache classify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file [default: the model built into this binary].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// One JSON object per document on stdout (id, labels, assigned, coverage, and
    /// evidence / segments when asked).
    #[arg(long)]
    pub json: bool,
    /// Labels listed per document, highest score first; 0 lists all [default: all with
    /// --json, 3 otherwise].
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Show the N terms that weigh most for each listed label (N: 5 when not given).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "5")]
    pub explain: Option<usize>,
    /// Also classify each paragraph.
    #[arg(long)]
    pub segments: bool,
    /// Assign labels at this probability, overriding the model's per-label thresholds,
    /// in [0, 1].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Classify this text (one document).
    #[arg(long, conflicts_with = "input")]
    pub text: Option<String>,
    /// Files to classify, or - for stdin [default: stdin].
    #[arg(value_name = "FILE|-")]
    pub input: Vec<PathBuf>,
}

/// Lines classified together (when that many are already available).
const BATCH: usize = 256;

/// Runs `attache classify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_unit("--threshold", args.threshold)?;
    let options = ClassifyOptions {
        top_k: args.top_k.unwrap_or(if args.json { 0 } else { 3 }),
        threshold: args.threshold,
        explain: args.explain.unwrap_or(0),
        segments: args.segments,
    };
    let inputs: Vec<PathBuf> = if args.text.is_some() || !args.input.is_empty() {
        args.input.clone()
    } else if std::io::stdin().is_terminal() {
        anyhow::bail!("nothing to classify: pass --text \"...\", FILE, or - to read stdin");
    } else {
        vec![PathBuf::from("-")]
    };
    let (model, _) = load_model(args.model.as_deref())?;
    let printer = Printer {
        model: &model,
        options: &options,
        json: args.json,
    };
    // Buffered: each batch is flushed as a whole, not line by line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Some(text) = &args.text {
        let p = model.classify(text, &options);
        printer.print(&mut out, "text", text, &p)?;
    }
    for input in &inputs {
        let (name, reader): (String, Box<dyn Read + Send>) = if input.as_os_str() == "-" {
            ("-".to_owned(), Box::new(std::io::stdin()))
        } else {
            let src = source::open(input).map_err(anyhow::Error::from)?;
            (input.display().to_string(), src.reader)
        };
        classify_stream(&printer, &name, BufReader::new(reader), &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A JSON Lines input row.
#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    id: Option<Value>,
    text: String,
}

/// Classifies one input: JSON Lines or one document.
fn classify_stream(
    printer: &Printer<'_>,
    name: &str,
    mut reader: BufReader<Box<dyn Read + Send>>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let read_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            anyhow::anyhow!("{name}: not valid UTF-8")
        } else {
            anyhow::Error::new(e).context(format!("cannot read {name}"))
        }
    };
    // Find the first non-blank line to decide the kind of input.
    let mut head = String::new();
    let mut line_no = 0u64;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(read_err)?;
        line_no += 1;
        let blank = line.trim().is_empty();
        head.push_str(&line);
        if n == 0 || !blank {
            break;
        }
    }
    let is_jsonl = serde_json::from_str::<Value>(head.trim())
        .ok()
        .is_some_and(|v| v.get("text").is_some_and(Value::is_string));
    if !is_jsonl {
        reader.read_to_string(&mut head).map_err(read_err)?;
        let p = printer.model.classify(&head, printer.options);
        return printer.print(out, name, &head, &p);
    }

    let mut batch: Vec<(u64, String)> = vec![(line_no, head)];
    loop {
        let available = !reader.buffer().is_empty();
        if batch.len() >= BATCH || (!available && !batch.is_empty()) {
            classify_batch(printer, name, &batch, out)?;
            batch.clear();
        }
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(read_err)? == 0 {
            break;
        }
        line_no += 1;
        if !line.trim().is_empty() {
            batch.push((line_no, line));
        }
    }
    if !batch.is_empty() {
        classify_batch(printer, name, &batch, out)?;
    }
    Ok(())
}

fn classify_batch(
    printer: &Printer<'_>,
    name: &str,
    batch: &[(u64, String)],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<(String, String, Prediction)>> = batch
        .par_iter()
        .map(|(line_no, line)| {
            let row: Row = serde_json::from_str(line).map_err(|e| {
                let what = match serde_json::from_str::<Value>(line) {
                    Err(e) => format!("invalid JSON: {e}"),
                    Ok(Value::Object(m)) if !m.contains_key("text") => "missing \"text\"".into(),
                    Ok(Value::Object(_)) => format!("\"text\" must be a string ({e})"),
                    Ok(_) => "expected a JSON object".into(),
                };
                anyhow::anyhow!("{name}:{line_no}: {what}")
            })?;
            let id = match row.id {
                None | Some(Value::Null) => line_no.to_string(),
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
            };
            let p = printer.model.classify(&row.text, printer.options);
            Ok((id, row.text, p))
        })
        .collect();
    for r in results {
        let (id, text, p) = r?;
        printer.print(out, &id, &text, &p)?;
    }
    out.flush().context("cannot write the output")?;
    Ok(())
}

/// Renders predictions.
struct Printer<'a> {
    model: &'a Model,
    options: &'a ClassifyOptions,
    json: bool,
}

/// One document of `--json` output; fields in this order (id first, for people reading
/// it), optional parts only when asked.
#[derive(Serialize)]
struct DocJson<'a> {
    id: &'a str,
    labels: Vec<ScoreJson<'a>>,
    assigned: Vec<&'a str>,
    coverage: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Vec<EvidenceJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<Vec<SegmentJson<'a>>>,
}

#[derive(Serialize)]
struct ScoreJson<'a> {
    label: &'a str,
    score: f64,
}

#[derive(Serialize)]
struct EvidenceJson<'a> {
    label: &'a str,
    terms: Vec<TermJson<'a>>,
}

#[derive(Serialize)]
struct TermJson<'a> {
    term: &'a str,
    weight: f64,
    count: u32,
}

#[derive(Serialize)]
struct SegmentJson<'a> {
    index: usize,
    start: usize,
    end: usize,
    assigned: Vec<&'a str>,
    labels: Vec<ScoreJson<'a>>,
    counted: bool,
}

impl<'m> Printer<'m> {
    fn scores(&self, scores: &[LabelScore]) -> Vec<ScoreJson<'m>> {
        scores
            .iter()
            .map(|s| ScoreJson {
                label: self.model.label_name(s.label),
                score: s.score,
            })
            .collect()
    }

    fn names(&self, labels: &[usize]) -> Vec<&'m str> {
        labels.iter().map(|&c| self.model.label_name(c)).collect()
    }

    fn print(
        &self,
        out: &mut dyn Write,
        id: &str,
        text: &str,
        p: &Prediction,
    ) -> anyhow::Result<()> {
        if self.json {
            let doc = DocJson {
                id,
                labels: self.scores(&p.labels),
                assigned: self.names(&p.assigned),
                coverage: p.coverage,
                evidence: (self.options.explain > 0).then(|| {
                    p.evidence
                        .iter()
                        .map(|e| EvidenceJson {
                            label: self.model.label_name(e.label),
                            terms: e
                                .terms
                                .iter()
                                .map(|t| TermJson {
                                    term: &t.term,
                                    weight: t.weight,
                                    count: t.count,
                                })
                                .collect(),
                        })
                        .collect()
                }),
                segments: self.options.segments.then(|| {
                    p.segments
                        .iter()
                        .map(|s| SegmentJson {
                            index: s.index,
                            start: s.start,
                            end: s.end,
                            assigned: self.names(&s.assigned),
                            labels: self.scores(&s.labels),
                            counted: s.counted,
                        })
                        .collect()
                }),
            };
            serde_json::to_writer(&mut *out, &doc).map_err(std::io::Error::from)?;
            writeln!(out)?;
            return Ok(());
        }
        writeln!(
            out,
            "{id}: {}  (coverage {:.0}%)",
            self.names(&p.assigned).join(", "),
            p.coverage * 100.0
        )?;
        for s in &p.labels {
            let mark = if p.assigned.contains(&s.label) {
                "*"
            } else {
                " "
            };
            writeln!(
                out,
                "  {:.4} {mark} {}",
                s.score,
                self.model.label_name(s.label)
            )?;
            if let Some(e) = p.evidence.iter().find(|e| e.label == s.label) {
                let terms: Vec<String> = e
                    .terms
                    .iter()
                    .map(|t| format!("{} (+{:.2} x{})", t.term, t.weight, t.count))
                    .collect();
                if !terms.is_empty() {
                    writeln!(out, "           evidence: {}", terms.join(", "))?;
                }
            }
        }
        if self.options.segments {
            for s in &p.segments {
                let excerpt: String = text
                    .get(s.start..s.end)
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .map(|c| if c.is_whitespace() { ' ' } else { c })
                    .collect();
                let top = s
                    .labels
                    .first()
                    .map(|l| format!("{} {:.2}", self.model.label_name(l.label), l.score))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  paragraph {}: {}{}  [{top}]  {excerpt}",
                    s.index,
                    self.names(&s.assigned).join(", "),
                    if s.counted {
                        ""
                    } else {
                        " (too short to count)"
                    },
                )?;
            }
        }
        Ok(())
    }
}
