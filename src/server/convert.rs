//! Domain types to protobuf, and the one mapping from [`ServerError`] to gRPC status codes.

use tonic::{Code, Status};

use super::error::ServerError;
use super::handle::{ModelSource, Served};
use crate::model::{Model, Prediction};
use crate::proto;

/// The description of a model, as `GetModelInfo` and `ReloadModel` return it.
pub fn model_info(model: &Model, source: &ModelSource) -> proto::ModelInfo {
    let labels = model
        .labels()
        .iter()
        .zip(model.label_documents())
        .zip(model.thresholds())
        .map(|((l, &docs), &threshold)| proto::LabelInfo {
            label: l.name.clone(),
            description: l.description.clone(),
            training_documents: docs,
            threshold,
        })
        .collect();
    proto::ModelInfo {
        model_id: model.id().to_owned(),
        model_version: model.version().to_owned(),
        labels,
        vocabulary_size: model.vectorizer().vocabulary().len() as u64,
        kind: model.estimator().params().kind().name().to_owned(),
        checksum: model.file_checksum(),
        path: source.describe(),
        config_json: serde_json::to_string(model.config())
            .expect("a model configuration always serialises to JSON"),
        training_documents: model.training().documents,
        corpus_digest: model.training().corpus_digest.clone(),
    }
}

/// The response for one document.
pub fn response(served: &Served, id: String, p: Prediction) -> proto::ClassifyResponse {
    let model = &served.model;
    let name = |c: usize| model.label_name(c).to_owned();
    let scores = |scores: &[crate::model::LabelScore]| {
        scores
            .iter()
            .map(|s| proto::LabelScore {
                label: name(s.label),
                score: s.score,
            })
            .collect()
    };
    proto::ClassifyResponse {
        id,
        labels: scores(&p.labels),
        assigned: p.assigned.iter().map(|&c| name(c)).collect(),
        model_id: served.info.model_id.clone(),
        model_version: served.info.model_version.clone(),
        coverage: p.coverage,
        evidence: p
            .evidence
            .into_iter()
            .map(|e| proto::LabelEvidence {
                label: name(e.label),
                terms: e
                    .terms
                    .into_iter()
                    .map(|t| proto::EvidenceTerm {
                        term: t.term,
                        weight: t.weight,
                        count: t.count,
                    })
                    .collect(),
            })
            .collect(),
        segments: p
            .segments
            .into_iter()
            .map(|s| proto::Segment {
                index: s.index as u32,
                start: s.start as u32,
                end: s.end as u32,
                assigned: s.assigned.iter().map(|&c| name(c)).collect(),
                labels: scores(&s.labels),
                counted: s.counted,
            })
            .collect(),
    }
}

/// The single place where server errors get their gRPC status code.
impl From<ServerError> for Status {
    fn from(err: ServerError) -> Status {
        let code = match &err {
            ServerError::InvalidDocument { .. }
            | ServerError::BatchTooLarge { .. }
            | ServerError::NotAFile(_) => Code::InvalidArgument,
            ServerError::Overloaded { .. } => Code::ResourceExhausted,
            ServerError::DeadlineExceeded => Code::DeadlineExceeded,
            ServerError::ShuttingDown(_) => Code::Unavailable,
            ServerError::AdminDisabled => Code::Unimplemented,
            ServerError::MissingToken | ServerError::InvalidToken => Code::Unauthenticated,
            ServerError::OutsideModelDir { .. } => Code::PermissionDenied,
            ServerError::ModelNotFound(_) => Code::NotFound,
            ServerError::NothingToReload
            | ServerError::NoModelDir
            | ServerError::BadModel { .. }
            | ServerError::ModelFailedValidation { .. } => Code::FailedPrecondition,
            ServerError::Panicked(_)
            | ServerError::Internal(_)
            | ServerError::Transport(_)
            | ServerError::Reflection(_)
            | ServerError::Io { .. } => Code::Internal,
        };
        Status::new(code, err.to_string())
    }
}

/// How prost's decode errors begin; tonic passes them on as the status message.
const UNDECODABLE: &str = "failed to decode Protobuf message";

/// The status for a request message that cannot be decoded (a string field that is not
/// UTF-8, a truncated or malformed message): INVALID_ARGUMENT with the decoder's message.
///
/// Why: tonic answers these with INTERNAL, gRPC's default for parse failures, but in this
/// contract INTERNAL means a bug of the server (logged as an error, counted as a server
/// fault), and any client could raise it at will. Every other status passes unchanged.
pub fn undecodable_request(status: Status) -> Status {
    if status.code() == Code::Internal && status.message().starts_with(UNDECODABLE) {
        Status::new(Code::InvalidArgument, status.message())
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::error::DocumentError;

    #[test]
    fn undecodable_requests_are_the_clients_mistake_and_other_statuses_pass() {
        let decode = Status::internal(
            "failed to decode Protobuf message: ClassifyRequest.text: invalid string value",
        );
        let s = undecodable_request(decode);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("ClassifyRequest.text"));
        let bug = undecodable_request(Status::internal("the handler panicked"));
        assert_eq!(bug.code(), Code::Internal);
        let other = undecodable_request(Status::out_of_range("failed to decode Protobuf message"));
        assert_eq!(other.code(), Code::OutOfRange);
    }

    #[test]
    fn client_mistakes_and_server_conditions_get_distinct_codes() {
        let cases = [
            (
                ServerError::InvalidDocument {
                    doc: "document \"a\"".into(),
                    problem: DocumentError::EmptyText,
                },
                Code::InvalidArgument,
            ),
            (
                ServerError::BatchTooLarge { size: 3, max: 2 },
                Code::InvalidArgument,
            ),
            (
                ServerError::Overloaded { limit: 1 },
                Code::ResourceExhausted,
            ),
            (ServerError::DeadlineExceeded, Code::DeadlineExceeded),
            (ServerError::ShuttingDown("x"), Code::Unavailable),
            (ServerError::AdminDisabled, Code::Unimplemented),
            (ServerError::MissingToken, Code::Unauthenticated),
            (ServerError::InvalidToken, Code::Unauthenticated),
            (
                ServerError::OutsideModelDir {
                    path: "../x".into(),
                    dir: "/m".into(),
                },
                Code::PermissionDenied,
            ),
            (ServerError::ModelNotFound("/m/x".into()), Code::NotFound),
            (ServerError::NothingToReload, Code::FailedPrecondition),
            (ServerError::Panicked("boom".into()), Code::Internal),
        ];
        for (err, code) in cases {
            let message = err.to_string();
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
    }
}
