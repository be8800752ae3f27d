//! In-process measurement of a model: what `offline.py` measures for the peers, so the two
//! can sit in one table.
//!
//! - batch: every document, top label only (what scikit-learn's `predict` returns), on one
//!   thread and on every rayon thread;
//! - as served: every document through [`Model::classify`] with default options (ranked
//!   labels, thresholds, paragraph labels), one thread — the work behind one gRPC answer;
//! - one document per call: the first `single` documents, each call timed on its own, for
//!   docs/s and latency percentiles;
//! - model load time (median of `repeat` loads) and file size.
//!
//! Times are medians of `repeat` runs. Nothing here is async or touches the network.

use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use super::docs::Documents;
use super::stats::Latencies;
use super::LoadError;
use crate::model::{argmax, ArtifactError, ClassifyOptions, Model};

/// How much to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflinePlan {
    /// Documents timed one call at a time (the first ones of the file).
    pub single: usize,
    /// Runs of each measurement; the median is reported.
    pub repeat: usize,
}

impl Default for OfflinePlan {
    fn default() -> Self {
        // offline.py times one document per call on up to 2,000 documents, median of 3.
        OfflinePlan {
            single: 2000,
            repeat: 3,
        }
    }
}

/// What [`measure`] found.
#[derive(Clone, Debug, Serialize)]
pub struct OfflineReport {
    /// The model file.
    pub model: String,
    /// Its size in bytes.
    pub model_bytes: u64,
    /// Seconds to read and validate it (median).
    pub load_s: f64,
    /// Estimator kind.
    pub kind: String,
    /// Labels of the model.
    pub labels: usize,
    /// Terms in its vocabulary.
    pub vocabulary: usize,
    /// Documents classified per batch run.
    pub docs: usize,
    /// Their text, in MB (10^6 bytes).
    pub text_mb: f64,
    /// Top label of every document, one thread: documents per second.
    pub batch_docs_s: f64,
    /// The same in MB of text per second.
    pub batch_mb_s: f64,
    /// Top label of every document on all rayon threads.
    pub batch_parallel_docs_s: f64,
    /// rayon threads used for `batch_parallel_docs_s`.
    pub threads: usize,
    /// Full [`Model::classify`] of every document, one thread.
    pub classify_docs_s: f64,
    /// Documents timed one call at a time.
    pub single_docs: usize,
    /// One [`Model::classify`] call per document: documents per second.
    pub single_docs_s: f64,
    /// Median single-document latency, microseconds.
    pub single_p50_us: f64,
    /// 99th percentile single-document latency, microseconds.
    pub single_p99_us: f64,
    /// Slowest single document, microseconds.
    pub single_max_us: f64,
    /// Share of documents whose top label is their first gold label (labeled documents
    /// only; `None` without any).
    pub accuracy: Option<f64>,
}

impl fmt::Display for OfflineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "attache bench offline: {} ({} model, {} labels, {} terms)",
            self.model, self.kind, self.labels, self.vocabulary
        )?;
        writeln!(
            f,
            "  model file        {:.1} MB, loads in {:.1} ms",
            self.model_bytes as f64 / 1e6,
            self.load_s * 1e3
        )?;
        writeln!(
            f,
            "  batch, 1 thread   {:.0} docs/s ({:.1} MB/s of text, {} docs, {:.1} MB)",
            self.batch_docs_s, self.batch_mb_s, self.docs, self.text_mb
        )?;
        writeln!(
            f,
            "  batch, {} threads  {:.0} docs/s",
            self.threads, self.batch_parallel_docs_s
        )?;
        writeln!(
            f,
            "  classify, 1 thread {:.0} docs/s (ranked labels, thresholds, paragraphs)",
            self.classify_docs_s
        )?;
        writeln!(
            f,
            "  one doc per call  {:.0} docs/s; latency p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} docs)",
            self.single_docs_s,
            self.single_p50_us,
            self.single_p99_us,
            self.single_max_us,
            self.single_docs
        )?;
        if let Some(a) = self.accuracy {
            writeln!(
                f,
                "  accuracy          {a:.4} (top label vs first gold label)"
            )?;
        }
        Ok(())
    }
}

/// Loads the model at `path` and measures it on `docs`.
pub fn measure(
    path: &Path,
    docs: &Documents,
    plan: OfflinePlan,
) -> Result<OfflineReport, LoadError> {
    if plan.repeat == 0 {
        return Err(LoadError::InvalidPlan {
            name: "--repeat",
            problem: "must be at least 1".into(),
        });
    }
    let model_err = |source| LoadError::Model {
        path: path.to_owned(),
        source,
    };
    let model_bytes = std::fs::metadata(path)
        .map_err(|source| {
            model_err(ArtifactError::Io {
                path: path.to_owned(),
                source,
            })
        })?
        .len();
    let mut load_times = Vec::with_capacity(plan.repeat);
    let mut model = None;
    for _ in 0..plan.repeat {
        let started = Instant::now();
        let m = Model::load(path).map_err(model_err)?;
        load_times.push(started.elapsed());
        model = Some(m);
    }
    let model = model.expect("repeat is at least 1");

    let texts: Vec<&str> = docs.docs.iter().map(|d| d.text.as_str()).collect();
    let top_label = |text: &str| argmax(&model.probabilities(text).0);

    let mut predicted = Vec::new();
    let batch = median_of(plan.repeat, || {
        predicted = texts.iter().map(|t| top_label(t)).collect();
    });
    let parallel = median_of(plan.repeat, || {
        black_box(texts.par_iter().map(|t| top_label(t)).collect::<Vec<_>>());
    });
    let options = ClassifyOptions::default();
    let classify = median_of(plan.repeat, || {
        for t in &texts {
            black_box(model.classify(t, &options));
        }
    });

    let few = &texts[..plan.single.min(texts.len())];
    let mut latencies = Latencies::with_capacity(few.len());
    let started = Instant::now();
    for t in few {
        let call = Instant::now();
        black_box(model.classify(t, &options));
        latencies.record(call.elapsed());
    }
    let single_wall = started.elapsed().as_secs_f64();

    let (mut checked, mut correct) = (0usize, 0usize);
    for (d, &p) in docs.docs.iter().zip(&predicted) {
        if let Some(gold) = &d.label {
            checked += 1;
            correct += usize::from(model.label_name(p) == gold);
        }
    }
    let text_mb = docs.text_bytes() as f64 / 1e6;
    let per_s = |n: f64, d: Duration| n / d.as_secs_f64().max(1e-12);
    let us = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e6);
    Ok(OfflineReport {
        model: path.display().to_string(),
        model_bytes,
        load_s: median(load_times).as_secs_f64(),
        kind: model.estimator().params().kind().name().to_owned(),
        labels: model.labels().len(),
        vocabulary: model.vectorizer().vocabulary().len(),
        docs: texts.len(),
        text_mb,
        batch_docs_s: per_s(texts.len() as f64, batch),
        batch_mb_s: per_s(text_mb, batch),
        batch_parallel_docs_s: per_s(texts.len() as f64, parallel),
        threads: rayon::current_num_threads(),
        classify_docs_s: per_s(texts.len() as f64, classify),
        single_docs: few.len(),
        single_docs_s: if single_wall > 0.0 {
            few.len() as f64 / single_wall
        } else {
            0.0
        },
        single_p50_us: us(latencies.quantile(0.5)),
        single_p99_us: us(latencies.quantile(0.99)),
        single_max_us: us(latencies.quantile(1.0)),
        accuracy: (checked > 0).then(|| correct as f64 / checked as f64),
    })
}

/// Runs `f` `n` times and returns the median wall time.
fn median_of(n: usize, mut f: impl FnMut()) -> Duration {
    let times = (0..n)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    median(times)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_run() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(vec![]), Duration::ZERO);
    }
}
