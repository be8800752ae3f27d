//! Classification metrics over label sets.
//!
//! Feed one [`Outcome`] per document into an [`Evaluator`] (or call [`evaluate`]) and read
//! the [`Metrics`]. Definitions, with `G` a document's gold labels, `P` its predicted
//! labels and `R` its labels ranked by score:
//!
//! - accuracy: share of documents with `P == G` (subset accuracy; for single-label data
//!   with one predicted label, ordinary accuracy);
//! - per label: precision `tp / (tp + fp)`, recall `tp / (tp + fn)`, F1 their harmonic
//!   mean; 0 where undefined (as scikit-learn's `zero_division=0`);
//! - micro: the same over the summed `tp`, `fp`, `fn` of all labels;
//! - macro: the unweighted mean of the per-label figures over the labels that occur in the
//!   gold or the predicted sets (a label never seen and never predicted says nothing);
//! - precision@1: share of documents whose top-ranked label is gold;
//! - recall@k: mean over documents of `|top k of R ∩ G| / |G|` (top-k accuracy for
//!   single-label data);
//! - confusion matrix: counts of (gold, predicted) pairs, only when every document has
//!   exactly one gold and one predicted label;
//! - coverage: the mean share of document terms the model's vocabulary knows.

use serde::Serialize;

/// What happened to one document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome<'a> {
    /// Gold label indices (distinct).
    pub gold: &'a [usize],
    /// Predicted label indices (distinct).
    pub predicted: &'a [usize],
    /// Label indices by score, highest first (at least the top k for recall@k).
    pub ranking: &'a [usize],
    /// Share of the document's terms the vocabulary knows, when known.
    pub coverage: Option<f64>,
}

/// Precision, recall and F1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

impl Prf {
    /// From true positives, false positives and false negatives; 0 where undefined.
    pub fn from_counts(tp: u64, fp: u64, fn_: u64) -> Prf {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
        }
    }
}

/// Figures for one label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelMetrics {
    /// Label name.
    pub label: String,
    /// Documents that carry it.
    pub support: u64,
    /// Documents it was predicted for.
    pub predicted: u64,
    /// Documents that carry it and were predicted it.
    pub true_positives: u64,
    /// Precision, recall, F1.
    #[serde(flatten)]
    pub scores: Prf,
}

/// Gold-by-predicted counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    /// Label names; row and column order.
    pub labels: Vec<String>,
    /// `counts[gold][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// recall@k with its k.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RecallAtK {
    /// How many top-ranked labels count.
    pub k: usize,
    /// The mean recall.
    pub value: f64,
}

/// The result of an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Documents evaluated.
    pub documents: u64,
    /// Whether some document has more than one gold label.
    pub multi_label: bool,
    /// Subset accuracy.
    pub accuracy: f64,
    /// Micro-averaged precision, recall, F1.
    pub micro: Prf,
    /// Macro-averaged precision, recall, F1.
    #[serde(rename = "macro")]
    pub macro_avg: Prf,
    /// Share of documents whose top-ranked label is gold.
    pub precision_at_1: f64,
    /// Mean share of gold labels among the top k.
    pub recall_at_k: RecallAtK,
    /// Mean gold labels per document.
    pub mean_gold_labels: f64,
    /// Mean predicted labels per document.
    pub mean_predicted_labels: f64,
    /// Mean vocabulary coverage, when coverages were given.
    pub coverage: Option<f64>,
    /// Per label, in label order.
    pub per_label: Vec<LabelMetrics>,
    /// Present for single-label data with one prediction per document.
    pub confusion: Option<ConfusionMatrix>,
}

/// Accumulates outcomes; cheap to feed one document at a time.
#[derive(Clone, Debug)]
pub struct Evaluator {
    names: Vec<String>,
    k: usize,
    docs: u64,
    exact: u64,
    top1_hits: u64,
    recall_at_k: f64,
    gold_labels: u64,
    predicted_labels: u64,
    coverage_sum: f64,
    coverage_docs: u64,
    multi_label: bool,
    one_to_one: bool,
    support: Vec<u64>,
    predicted: Vec<u64>,
    tp: Vec<u64>,
    confusion: Vec<u64>,
}

impl Evaluator {
    /// An evaluator over the labels `names` (outcomes refer to them by index), reporting
    /// recall at `k` (at least 1).
    pub fn new(names: Vec<String>, k: usize) -> Evaluator {
        let n = names.len();
        Evaluator {
            names,
            k: k.max(1),
            docs: 0,
            exact: 0,
            top1_hits: 0,
            recall_at_k: 0.0,
            gold_labels: 0,
            predicted_labels: 0,
            coverage_sum: 0.0,
            coverage_docs: 0,
            multi_label: false,
            one_to_one: true,
            support: vec![0; n],
            predicted: vec![0; n],
            tp: vec![0; n],
            confusion: vec![0; n * n],
        }
    }

    /// Adds one document. Panics if a label index is out of range.
    pub fn add(&mut self, o: &Outcome<'_>) {
        self.docs += 1;
        self.gold_labels += o.gold.len() as u64;
        self.predicted_labels += o.predicted.len() as u64;
        self.multi_label |= o.gold.len() > 1;
        for &g in o.gold {
            self.support[g] += 1;
            if o.predicted.contains(&g) {
                self.tp[g] += 1;
            }
        }
        for &p in o.predicted {
            self.predicted[p] += 1;
        }
        let same_set =
            o.gold.len() == o.predicted.len() && o.gold.iter().all(|g| o.predicted.contains(g));
        self.exact += u64::from(same_set);
        if let Some(top) = o.ranking.first() {
            self.top1_hits += u64::from(o.gold.contains(top));
        }
        if !o.gold.is_empty() {
            let hits = o
                .ranking
                .iter()
                .take(self.k)
                .filter(|r| o.gold.contains(r))
                .count();
            self.recall_at_k += hits as f64 / o.gold.len() as f64;
        }
        if let Some(c) = o.coverage {
            self.coverage_sum += c;
            self.coverage_docs += 1;
        }
        if let ([g], [p]) = (o.gold, o.predicted) {
            self.confusion[g * self.names.len() + p] += 1;
        } else {
            self.one_to_one = false;
        }
    }

    /// The metrics of the documents added so far.
    pub fn finish(&self) -> Metrics {
        let n = self.names.len();
        let docs = self.docs.max(1) as f64;
        let per_label: Vec<LabelMetrics> = (0..n)
            .map(|c| LabelMetrics {
                label: self.names[c].clone(),
                support: self.support[c],
                predicted: self.predicted[c],
                true_positives: self.tp[c],
                scores: Prf::from_counts(
                    self.tp[c],
                    self.predicted[c] - self.tp[c],
                    self.support[c] - self.tp[c],
                ),
            })
            .collect();
        let seen: Vec<&LabelMetrics> = per_label
            .iter()
            .filter(|l| l.support + l.predicted > 0)
            .collect();
        let mean = |f: fn(&Prf) -> f64| {
            if seen.is_empty() {
                0.0
            } else {
                seen.iter().map(|l| f(&l.scores)).sum::<f64>() / seen.len() as f64
            }
        };
        let macro_avg = Prf {
            precision: mean(|p| p.precision),
            recall: mean(|p| p.recall),
            f1: mean(|p| p.f1),
        };
        let tp: u64 = self.tp.iter().sum();
        let micro = Prf::from_counts(
            tp,
            self.predicted.iter().sum::<u64>() - tp,
            self.support.iter().sum::<u64>() - tp,
        );
        let confusion = (self.one_to_one && self.docs > 0).then(|| ConfusionMatrix {
            labels: self.names.clone(),
            counts: self
                .confusion
                .chunks(n.max(1))
                .map(<[u64]>::to_vec)
                .collect(),
        });
        Metrics {
            documents: self.docs,
            multi_label: self.multi_label,
            accuracy: self.exact as f64 / docs,
            micro,
            macro_avg,
            precision_at_1: self.top1_hits as f64 / docs,
            recall_at_k: RecallAtK {
                k: self.k,
                value: self.recall_at_k / docs,
            },
            mean_gold_labels: self.gold_labels as f64 / docs,
            mean_predicted_labels: self.predicted_labels as f64 / docs,
            coverage: (self.coverage_docs > 0)
                .then(|| self.coverage_sum / self.coverage_docs as f64),
            per_label,
            confusion,
        }
    }
}

/// Evaluates `outcomes` over the labels `names`, with recall at `k`.
pub fn evaluate<'a>(
    names: Vec<String>,
    k: usize,
    outcomes: impl IntoIterator<Item = Outcome<'a>>,
) -> Metrics {
    let mut e = Evaluator::new(names, k);
    for o in outcomes {
        e.add(&o);
    }
    e.finish()
}

/// The labels by probability, highest first (ties by index): a ranking for [`Outcome`].
pub fn rank(probs: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        ["a", "b", "c", "d"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// Single-label: gold a a b b c, predicted a b b c c.
    fn single() -> Metrics {
        let gold = [[0], [0], [1], [1], [2]];
        let pred = [[0], [1], [1], [2], [2]];
        let ranking = [
            vec![0, 1, 2],
            vec![1, 0, 2],
            vec![1, 2, 0],
            vec![2, 1, 0],
            vec![2, 0, 1],
        ];
        evaluate(
            names(3),
            2,
            (0..5).map(|i| Outcome {
                gold: &gold[i],
                predicted: &pred[i],
                ranking: &ranking[i],
                coverage: Some(if i == 0 { 0.5 } else { 1.0 }),
            }),
        )
    }

    #[test]
    fn single_label_accuracy_and_per_label_scores_match_hand_counts() {
        let m = single();
        assert!(!m.multi_label);
        close(m.accuracy, 3.0 / 5.0);
        // a: tp 1, fp 0, fn 1 -> P 1, R 0.5, F1 2/3.
        close(m.per_label[0].scores.precision, 1.0);
        close(m.per_label[0].scores.recall, 0.5);
        close(m.per_label[0].scores.f1, 2.0 / 3.0);
        // b: tp 1, fp 1, fn 1 -> 0.5, 0.5, 0.5. c: tp 1, fp 1, fn 0 -> 0.5, 1, 2/3.
        close(m.per_label[1].scores.f1, 0.5);
        close(m.per_label[2].scores.recall, 1.0);
        close(m.per_label[2].scores.f1, 2.0 / 3.0);
        close(m.macro_avg.precision, (1.0 + 0.5 + 0.5) / 3.0);
        close(m.macro_avg.recall, (0.5 + 0.5 + 1.0) / 3.0);
        close(m.macro_avg.f1, (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 3.0);
        // Single-label with one prediction each: micro P = R = F1 = accuracy.
        close(m.micro.precision, 0.6);
        close(m.micro.recall, 0.6);
        close(m.micro.f1, 0.6);
        close(m.precision_at_1, 0.6);
        // Top 2 holds the gold label for docs 0, 1, 2, 3 (doc 4: [c, a] and gold c -> yes).
        close(m.recall_at_k.value, 1.0);
        close(m.coverage.unwrap(), 0.9);
    }

    #[test]
    fn confusion_matrix_counts_gold_rows_and_predicted_columns() {
        let m = single();
        let c = m.confusion.unwrap();
        assert_eq!(c.counts, vec![vec![1, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!(c.labels, ["a", "b", "c"]);
    }

    #[test]
    fn multi_label_sets_give_micro_macro_precision_at_1_and_recall_at_k() {
        // doc 0: gold {a, b}, predicted {a}, ranking a c b
        // doc 1: gold {c},    predicted {c, b}, ranking c b a
        // doc 2: gold {a, c}, predicted {a, c}, ranking c a b
        let gold = [vec![0, 1], vec![2], vec![0, 2]];
        let pred = [vec![0], vec![2, 1], vec![0, 2]];
        let ranking = [vec![0, 2, 1], vec![2, 1, 0], vec![2, 0, 1]];
        let m = evaluate(
            names(4),
            2,
            (0..3).map(|i| Outcome {
                gold: &gold[i],
                predicted: &pred[i],
                ranking: &ranking[i],
                coverage: None,
            }),
        );
        assert!(m.multi_label);
        assert!(m.confusion.is_none());
        assert_eq!(m.coverage, None);
        close(m.accuracy, 1.0 / 3.0);
        // tp: a 2, b 0, c 2; predicted: a 2, b 1, c 2; support: a 2, b 1, c 2.
        close(m.micro.precision, 4.0 / 5.0);
        close(m.micro.recall, 4.0 / 5.0);
        // Per label F1: a 1, b 0, c 1; d never occurs and is left out of the mean.
        close(m.macro_avg.f1, 2.0 / 3.0);
        assert_eq!(m.per_label[3].support, 0);
        // Top label gold: a yes, c yes, c yes.
        close(m.precision_at_1, 1.0);
        // Top 2: {a, c} ∩ {a, b} = 1/2; {c, b} ∩ {c} = 1; {c, a} ∩ {a, c} = 1.
        close(m.recall_at_k.value, (0.5 + 1.0 + 1.0) / 3.0);
        close(m.mean_gold_labels, 5.0 / 3.0);
        close(m.mean_predicted_labels, 5.0 / 3.0);
    }

    #[test]
    fn prf_is_zero_where_undefined() {
        assert_eq!(Prf::from_counts(0, 0, 0), Prf::default());
        assert_eq!(Prf::from_counts(0, 3, 0).f1, 0.0);
    }

    #[test]
    fn rank_orders_by_probability_then_index() {
        assert_eq!(rank(&[0.2, 0.5, 0.2, 0.1]), [1, 0, 2, 3]);
    }
}
