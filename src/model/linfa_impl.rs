//! The estimators in the linfa ecosystem: `Fit` and `PredictInplace` over sparse records.

use linfa::dataset::{AsSingleTargets, DatasetBase, Records};
use linfa::traits::{Fit, PredictInplace};
use ndarray::Array1;

use super::naive_bayes::{argmax, FittedNb, NbCounts, NbValidParams};
use super::ModelError;
use crate::text::SparseVector;

/// Sparse document-term records (rows are documents) for linfa datasets.
///
/// linfa implements `Records` only for dense arrays; text is sparse, and a dense
/// documents x vocabulary matrix of a real corpus does not fit in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseRecords(pub sprs::CsMat<f64>);

impl Records for SparseRecords {
    type Elem = f64;

    fn nsamples(&self) -> usize {
        self.0.rows()
    }

    fn nfeatures(&self) -> usize {
        self.0.cols()
    }
}

impl SparseRecords {
    /// Each row as a [`SparseVector`], in row order.
    fn rows(&self) -> impl Iterator<Item = SparseVector> + '_ {
        let csr = if self.0.is_csr() {
            std::borrow::Cow::Borrowed(&self.0)
        } else {
            std::borrow::Cow::Owned(self.0.to_csr())
        };
        (0..csr.rows()).map(move |i| {
            let row = csr.outer_view(i).expect("row in range");
            SparseVector {
                indices: row.indices().iter().map(|&t| t as u32).collect(),
                values: row.data().to_vec(),
            }
        })
    }
}

/// Fits on labels `0..n` (one per document); the number of labels is the largest plus one.
impl<T> Fit<SparseRecords, T, ModelError> for NbValidParams
where
    T: AsSingleTargets<Elem = usize>,
{
    type Object = FittedNb;

    fn fit(&self, dataset: &DatasetBase<SparseRecords, T>) -> Result<FittedNb, ModelError> {
        let y = dataset.as_single_targets();
        if y.len() != dataset.records.nsamples() {
            return Err(ModelError::Inconsistent(format!(
                "{} documents but {} targets",
                dataset.records.nsamples(),
                y.len()
            )));
        }
        let n_labels = y.iter().max().map_or(0, |m| m + 1);
        let mut counts = NbCounts::new(dataset.records.nfeatures(), n_labels);
        for (row, &label) in dataset.records.rows().zip(y.iter()) {
            counts.add(&row, &[label])?;
        }
        self.fit_counts(&counts)
    }
}

impl PredictInplace<SparseRecords, Array1<usize>> for FittedNb {
    fn predict_inplace(&self, x: &SparseRecords, y: &mut Array1<usize>) {
        assert_eq!(
            x.nsamples(),
            y.len(),
            "the number of documents must match the number of targets"
        );
        let mut jll = vec![0.0; self.n_labels()];
        for (row, out) in x.rows().zip(y.iter_mut()) {
            self.joint_log_likelihood(&row, &mut jll);
            *out = argmax(&jll);
        }
    }

    fn default_target(&self, x: &SparseRecords) -> Array1<usize> {
        Array1::zeros(x.nsamples())
    }
}
