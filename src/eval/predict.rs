//! Scoring a trained [`Model`] on labeled documents.

use rayon::prelude::*;

use super::metrics::{rank, Evaluator, Metrics, Outcome};
use crate::model::{ClassifyOptions, Model};

/// A model's verdict on one document, as label indices of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Every label by probability, highest first.
    pub ranking: Vec<usize>,
    /// The predicted labels (see [`score`]).
    pub predicted: Vec<usize>,
    /// Share of the document's terms the model knows.
    pub coverage: f64,
}

/// Scores `texts` in parallel, in order.
///
/// With `multi_label` false (every gold set has one label), the prediction is the top
/// label: the decision a single-label task makes, and the one scikit-learn's figures
/// describe. With `multi_label` true it is the model's assigned set
/// ([`Model::classify`]: per-label thresholds and paragraph labels), exactly what the
/// service returns.
pub fn score<S: AsRef<str> + Sync>(model: &Model, texts: &[S], multi_label: bool) -> Vec<Scored> {
    texts
        .par_iter()
        .map(|text| {
            let text = text.as_ref();
            if multi_label {
                let p = model.classify(text, &ClassifyOptions::default());
                Scored {
                    ranking: p.labels.iter().map(|s| s.label).collect(),
                    predicted: p.assigned,
                    coverage: p.coverage,
                }
            } else {
                let (probs, v) = model.probabilities(text);
                let ranking = rank(&probs);
                Scored {
                    predicted: vec![ranking[0]],
                    ranking,
                    coverage: v.coverage(),
                }
            }
        })
        .collect()
}

/// Evaluates `model` on `texts` with gold label sets `gold` (indices into `names`, whose
/// first labels must be the model's, in model order; further names are labels the model
/// does not know). Reports recall at `k`.
pub fn evaluate_model<S: AsRef<str> + Sync>(
    model: &Model,
    texts: &[S],
    gold: &[Vec<usize>],
    names: Vec<String>,
    k: usize,
) -> Metrics {
    let multi_label = gold.iter().any(|g| g.len() > 1);
    let scored = score(model, texts, multi_label);
    let mut e = Evaluator::new(names, k);
    for (s, g) in scored.iter().zip(gold) {
        e.add(&Outcome {
            gold: g,
            predicted: &s.predicted,
            ranking: &s.ranking,
            coverage: Some(s.coverage),
        });
    }
    e.finish()
}
