//! Multi-label decisions: thresholded posteriors.
//!
//! Why thresholds on the multi-class posterior rather than one-vs-rest binary models:
//! one model keeps the scores a probability distribution (they sum to 1, as clients are
//! promised), keeps training a pure sum of counts (so shards merge exactly), and costs one
//! pass per document. A label is assigned when its posterior reaches its threshold;
//! the top label is always assigned, so every document gets at least one. Per-label
//! thresholds are tuned on held-out posteriors with [`tune_thresholds`].

use super::naive_bayes::{argmax, softmax_in_place};

/// Labels whose probability reaches their threshold (`threshold` overrides every
/// per-label one), highest probability first; the top label when none does.
pub fn assign(probs: &[f64], thresholds: &[f64], threshold: Option<f64>) -> Vec<usize> {
    let mut out: Vec<usize> = (0..probs.len())
        .filter(|&c| probs[c] >= threshold.unwrap_or(thresholds[c]))
        .collect();
    if out.is_empty() && !probs.is_empty() {
        out.push(argmax(probs));
    }
    out.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    out
}

/// Per label, the threshold from `grid` that maximises the label's F1 on held-out
/// documents (`probs[i]`: posteriors of document i; `gold[i]`: its true labels), given that
/// the top label is always assigned. Ties go to the highest threshold (fewest false
/// positives). A label with no held-out positives keeps `default`.
pub fn tune_thresholds(
    probs: &[Vec<f64>],
    gold: &[Vec<usize>],
    grid: &[f64],
    default: f64,
) -> Vec<f64> {
    let n_labels = probs.first().map_or(0, Vec::len);
    let tops: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    (0..n_labels)
        .map(|c| {
            let positives = gold.iter().filter(|g| g.contains(&c)).count();
            if positives == 0 {
                return default;
            }
            let mut best = (f64::NEG_INFINITY, default);
            for &t in grid {
                let (mut tp, mut fp) = (0usize, 0usize);
                for (i, p) in probs.iter().enumerate() {
                    if p[c] >= t || tops[i] == c {
                        if gold[i].contains(&c) {
                            tp += 1;
                        } else {
                            fp += 1;
                        }
                    }
                }
                let f1 = 2.0 * tp as f64 / (2 * tp + fp + (positives - tp)) as f64;
                if f1 > best.0 || (f1 == best.0 && t > best.1) {
                    best = (f1, t);
                }
            }
            best.1
        })
        .collect()
}

/// The softmax temperature that best calibrates held-out joint log-likelihoods: the `T`
/// minimising the negative log-likelihood of the true labels under `softmax(jll / T)`
/// (for a multi-label document, of the probability mass on its labels).
///
/// Why: naive Bayes treats every word as independent evidence, so its posteriors are far
/// too confident — on a 60-word paragraph a true second topic often gets 1e-4. Thresholds
/// tuned on such scores end up tiny and assign every label to short texts. Calibrated
/// scores (T > 1 flattens them) make thresholds in [0.05, 0.95] meaningful. Searched by
/// golden section on ln T in [ln 0.1, ln 1000]; returns 1 when there is nothing to fit.
pub fn fit_temperature(jll: &[Vec<f64>], gold: &[Vec<usize>]) -> f64 {
    if jll.is_empty() {
        return 1.0;
    }
    let nll = |log_t: f64| {
        let t = log_t.exp();
        let mut p = Vec::new();
        let mut total = 0.0;
        for (scores, labels) in jll.iter().zip(gold) {
            p.clear();
            p.extend(scores.iter().map(|s| s / t));
            softmax_in_place(&mut p);
            let mass: f64 = labels.iter().map(|&c| p[c]).sum();
            total -= mass.max(1e-300).ln();
        }
        total
    };
    let (mut a, mut b) = (0.1f64.ln(), 1000f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = b - phi * (b - a);
    let mut x2 = a + phi * (b - a);
    let (mut f1, mut f2) = (nll(x1), nll(x2));
    for _ in 0..60 {
        if f1 <= f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - phi * (b - a);
            f1 = nll(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + phi * (b - a);
            f2 = nll(x2);
        }
    }
    ((a + b) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_above_their_threshold_are_assigned_highest_first() {
        assert_eq!(assign(&[0.2, 0.5, 0.3], &[0.25, 0.25, 0.25], None), [1, 2]);
    }

    #[test]
    fn the_top_label_is_assigned_when_none_reaches_its_threshold() {
        assert_eq!(assign(&[0.2, 0.45, 0.35], &[0.5; 3], None), [1]);
    }

    #[test]
    fn a_request_threshold_overrides_per_label_thresholds() {
        assert_eq!(assign(&[0.2, 0.5, 0.3], &[0.9; 3], Some(0.2)), [1, 2, 0]);
    }

    #[test]
    fn temperature_flattens_overconfident_scores() {
        // Confident and wrong half the time: the calibrated temperature must exceed 1.
        let jll = vec![
            vec![0.0, -20.0],
            vec![0.0, -20.0],
            vec![-20.0, 0.0],
            vec![0.0, -20.0],
        ];
        let gold = vec![vec![0], vec![1], vec![1], vec![0]];
        let t = fit_temperature(&jll, &gold);
        assert!(t > 1.0, "{t}");
        // Confident and always right: sharpen (the search's lower end).
        let gold = vec![vec![0], vec![0], vec![1], vec![0]];
        assert!(fit_temperature(&jll, &gold) < 1.0);
    }

    #[test]
    fn tuned_thresholds_admit_second_labels_seen_in_held_out_data() {
        // Label 1 is a true second label whenever its probability is 0.3.
        let probs = vec![vec![0.7, 0.3], vec![0.6, 0.3], vec![0.9, 0.1]];
        let gold = vec![vec![0, 1], vec![0, 1], vec![0]];
        let t = tune_thresholds(&probs, &gold, &[0.1, 0.2, 0.3, 0.5], 0.5);
        assert_eq!(t[1], 0.3);
        assert_eq!(t[0], 0.5);
    }
}
