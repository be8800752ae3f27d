//! Request limits: document size, batch size, and the concurrency limit that sheds load.
//!
//! Why load shedding rather than a queue: a request over the limit waits for nobody; it is
//! refused at once with RESOURCE_EXHAUSTED so the client (or its load balancer) can retry
//! elsewhere or back off. A queue would only turn overload into latency and memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{DocumentError, ServerError};
use crate::proto::ClassifyRequest;

/// Limits of one server. The defaults are those of `attache serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document text, in bytes.
    pub max_text_bytes: usize,
    /// Most documents in one `ClassifyBatch`.
    pub max_batch: usize,
    /// Most calls in flight at once (streams count for their whole life); more are refused.
    pub max_concurrency: usize,
    /// Largest gRPC message the server decodes (tonic refuses larger ones with OUT_OF_RANGE).
    /// Raised to fit one maximal document.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 1 << 20,
            max_batch: 64,
            max_concurrency: 256,
            max_message_bytes: 16 << 20,
        }
    }
}

/// Evidence terms per label when a request sets `explain` but not `explain_terms`.
pub const DEFAULT_EXPLAIN_TERMS: usize = 10;
/// The most evidence terms per label a request can ask for.
pub const MAX_EXPLAIN_TERMS: usize = 100;

/// Room for everything in a request besides the text (id, options, protobuf framing).
const MESSAGE_OVERHEAD: usize = 64 << 10;

impl Limits {
    /// The gRPC decoding limit: at least one maximal document must fit.
    pub fn decoding_limit(&self) -> usize {
        self.max_message_bytes
            .max(self.max_text_bytes.saturating_add(MESSAGE_OVERHEAD))
    }

    /// Checks one document; `doc` describes it for the error message.
    pub fn check_document(
        &self,
        request: &ClassifyRequest,
        doc: impl FnOnce() -> String,
    ) -> Result<(), ServerError> {
        let problem = if request.text.len() > self.max_text_bytes {
            Some(DocumentError::TextTooLarge {
                bytes: request.text.len(),
                max: self.max_text_bytes,
            })
        } else if request.text.trim().is_empty() {
            Some(DocumentError::EmptyText)
        } else {
            request
                .threshold
                .filter(|t| !(0.0..=1.0).contains(t))
                .map(DocumentError::BadThreshold)
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(ServerError::InvalidDocument {
                doc: doc(),
                problem,
            }),
        }
    }

    /// Checks a batch: its size, then every document.
    pub fn check_batch(&self, documents: &[ClassifyRequest]) -> Result<(), ServerError> {
        if documents.len() > self.max_batch {
            return Err(ServerError::BatchTooLarge {
                size: documents.len(),
                max: self.max_batch,
            });
        }
        for (i, d) in documents.iter().enumerate() {
            self.check_document(d, || format!("documents[{i}] (id {:?})", d.id))?;
        }
        Ok(())
    }
}

/// How a single document is named in error messages.
pub fn describe_document(request: &ClassifyRequest) -> String {
    format!("document {:?}", request.id)
}

/// The concurrency limit: a permit per call in flight, taken without waiting.
#[derive(Clone, Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    /// Admits at most `limit` calls at once.
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Admission {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A permit, held until the call ends, or `Overloaded` when none is free.
    pub fn try_admit(&self) -> Result<OwnedSemaphorePermit, ServerError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ServerError::Overloaded { limit: self.limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ClassifyRequest {
        ClassifyRequest {
            id: "d1".into(),
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn empty_and_whitespace_texts_are_refused() {
        let limits = Limits::default();
        for text in ["", " \n\t "] {
            let err = limits
                .check_document(&doc(text), || "d".into())
                .unwrap_err();
            assert!(matches!(
                err,
                ServerError::InvalidDocument {
                    problem: DocumentError::EmptyText,
                    ..
                }
            ));
        }
    }

    #[test]
    fn oversized_texts_name_the_limit() {
        let limits = Limits {
            max_text_bytes: 4,
            ..Limits::default()
        };
        assert!(limits.check_document(&doc("abcd"), String::new).is_ok());
        let err = limits
            .check_document(&doc("abcde"), String::new)
            .unwrap_err();
        assert!(err.to_string().contains("maximum of 4 bytes"), "{err}");
    }

    #[test]
    fn thresholds_outside_the_unit_interval_are_refused() {
        let limits = Limits::default();
        for t in [-0.1, 1.5, f64::NAN] {
            let mut d = doc("text");
            d.threshold = Some(t);
            assert!(limits.check_document(&d, String::new).is_err(), "{t}");
        }
        let mut d = doc("text");
        d.threshold = Some(1.0);
        assert!(limits.check_document(&d, String::new).is_ok());
    }

    #[test]
    fn batches_over_the_maximum_are_refused_and_bad_documents_named_by_index() {
        let limits = Limits {
            max_batch: 2,
            ..Limits::default()
        };
        let err = limits
            .check_batch(&[doc("a"), doc("b"), doc("c")])
            .unwrap_err();
        assert!(matches!(
            err,
            ServerError::BatchTooLarge { size: 3, max: 2 }
        ));
        let err = limits.check_batch(&[doc("a"), doc(" ")]).unwrap_err();
        assert!(err.to_string().starts_with("documents[1]"), "{err}");
    }

    #[test]
    fn admission_refuses_beyond_the_limit_until_a_permit_returns() {
        let admission = Admission::new(1);
        let permit = admission.try_admit().unwrap();
        assert!(matches!(
            admission.try_admit(),
            Err(ServerError::Overloaded { limit: 1 })
        ));
        drop(permit);
        assert!(admission.try_admit().is_ok());
    }

    #[test]
    fn one_maximal_document_always_fits_in_a_message() {
        let limits = Limits {
            max_text_bytes: 32 << 20,
            ..Limits::default()
        };
        assert!(limits.decoding_limit() > 32 << 20);
    }
}
