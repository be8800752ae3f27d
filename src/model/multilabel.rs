//! Multi-label decisions: thresholded posteriors.
//!
//! Why thresholds on the multi-class posterior rather than one-vs-rest binary models:
//! one model keeps the scores a probability distribution (they sum to 1, as clients are
//! promised), keeps training a pure sum of counts (so shards merge exactly), and costs one
//! pass per document. A label is assigned when its posterior reaches its threshold;
//! the top label is always assigned, so every document gets at least one. Per-label
//! thresholds are tuned on held-out posteriors with [`tune_thresholds`].

use super::naive_bayes::argmax;

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
    fn tuned_thresholds_admit_second_labels_seen_in_held_out_data() {
        // Label 1 is a true second label whenever its probability is 0.3.
        let probs = vec![vec![0.7, 0.3], vec![0.6, 0.3], vec![0.9, 0.1]];
        let gold = vec![vec![0, 1], vec![0, 1], vec![0]];
        let t = tune_thresholds(&probs, &gold, &[0.1, 0.2, 0.3, 0.5], 0.5);
        assert_eq!(t[1], 0.3);
        assert_eq!(t[0], 0.5);
    }
}
