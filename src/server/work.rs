//! Running classification: synchronous CPU work, guarded against panics.
//!
//! Small documents are classified inline on the async worker: that is the fastest path (no
//! hand-off between threads), and a few tens of microseconds do not stall the runtime.
//! Large documents and batches go to the blocking pool so they cannot hold up the workers
//! that keep other calls, health probes and the accept loop moving. Either way, a panic is
//! caught and becomes INTERNAL for that call only.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::convert;
use super::error::ServerError;
use super::handle::Served;
use super::limits::{DEFAULT_EXPLAIN_TERMS, MAX_EXPLAIN_TERMS};
use super::metrics::Metrics;
use crate::model::ClassifyOptions;
use crate::proto::{ClassifyRequest, ClassifyResponse};

/// Work on at least this many bytes of text moves to the blocking pool.
pub const INLINE_LIMIT_BYTES: usize = 64 << 10;

/// The engine options a request asks for.
pub fn options(request: &ClassifyRequest) -> ClassifyOptions {
    let explain = if !request.explain {
        0
    } else if request.explain_terms == 0 {
        DEFAULT_EXPLAIN_TERMS
    } else {
        (request.explain_terms as usize).min(MAX_EXPLAIN_TERMS)
    };
    ClassifyOptions {
        top_k: request.top_k as usize,
        threshold: request.threshold,
        explain,
        segments: request.segments,
    }
}

/// Classifies one (already validated) document with `served` and counts it.
pub fn classify(served: &Served, metrics: &Metrics, request: ClassifyRequest) -> ClassifyResponse {
    let prediction = served.model.classify(&request.text, &options(&request));
    metrics.document_classified(&served.metrics, &prediction.assigned);
    convert::response(served, request.id, prediction)
}

/// Runs `work` inline, or on the blocking pool when `heavy`; a panic becomes
/// [`ServerError::Panicked`].
pub async fn run<T, F>(heavy: bool, work: F) -> Result<T, ServerError>
where
    F: FnOnce() -> Result<T, ServerError> + Send + 'static,
    T: Send + 'static,
{
    if heavy {
        tokio::task::spawn_blocking(move || guard(work))
            .await
            .map_err(|e| ServerError::Internal(format!("classification task failed: {e}")))?
    } else {
        guard(work)
    }
}

/// Calls `work`, turning a panic into an error.
pub fn guard<T>(work: impl FnOnce() -> Result<T, ServerError>) -> Result<T, ServerError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = panic_message(&*payload);
        tracing::error!(panic = %message, "classification panicked; the call fails with INTERNAL");
        Err(ServerError::Panicked(message))
    })
}

/// The message of a panic payload (`panic!` with a string or a format).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message() {
        let err = guard::<()>(|| panic!("boom {}", 42)).unwrap_err();
        assert!(
            matches!(err, ServerError::Panicked(ref m) if m == "boom 42"),
            "{err}"
        );
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::Internal);
    }

    #[tokio::test]
    async fn a_panic_on_the_blocking_pool_is_caught_too() {
        let err = run::<(), _>(true, || panic!("deep")).await.unwrap_err();
        assert!(matches!(err, ServerError::Panicked(ref m) if m == "deep"));
    }

    #[test]
    fn explain_terms_default_to_ten_and_are_capped() {
        let mut r = ClassifyRequest {
            explain: true,
            ..Default::default()
        };
        assert_eq!(options(&r).explain, DEFAULT_EXPLAIN_TERMS);
        r.explain_terms = 5000;
        assert_eq!(options(&r).explain, MAX_EXPLAIN_TERMS);
        r.explain = false;
        assert_eq!(options(&r).explain, 0);
    }
}
