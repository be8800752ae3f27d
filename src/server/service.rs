//! `attache.v1.Classifier`: the classification calls.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::deadline::Deadline;
use super::error::ServerError;
use super::handle::{ModelHandle, Served};
use super::limits::{describe_document, Limits};
use super::log::Excerpt;
use super::metrics::Metrics;
use super::work::{self, INLINE_LIMIT_BYTES};
use crate::proto::classifier_server::Classifier;
use crate::proto::{
    ClassifyBatchRequest, ClassifyBatchResponse, ClassifyRequest, ClassifyResponse,
    GetModelInfoRequest, ModelInfo,
};

/// The `Classifier` service.
#[derive(Debug)]
pub struct ClassifierService {
    models: Arc<ModelHandle>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl ClassifierService {
    /// Classifies with the models of `models`, within `limits`.
    pub fn new(models: Arc<ModelHandle>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        ClassifierService {
            models,
            limits,
            metrics,
        }
    }
}

/// What the request layer left in a request's extensions.
#[derive(Clone)]
struct Context {
    deadline: Option<Deadline>,
    excerpt: Option<Excerpt>,
}

impl Context {
    fn of<T>(request: &Request<T>) -> Context {
        Context {
            deadline: request.extensions().get::<Deadline>().copied(),
            excerpt: request.extensions().get::<Excerpt>().cloned(),
        }
    }

    fn note_text(&self, text: &str) {
        if let Some(e) = &self.excerpt {
            e.record(text);
        }
    }
}

/// Validates and classifies one document with the model `served`.
async fn classify_document(
    served: Arc<Served>,
    metrics: Arc<Metrics>,
    limits: &Limits,
    context: &Context,
    doc: ClassifyRequest,
) -> Result<ClassifyResponse, ServerError> {
    limits.check_document(&doc, || describe_document(&doc))?;
    context.note_text(&doc.text);
    Deadline::check(context.deadline)?;
    let heavy = doc.text.len() >= INLINE_LIMIT_BYTES;
    let response = work::run(heavy, move || Ok(work::classify(&served, &metrics, doc))).await?;
    Deadline::check(context.deadline)?;
    Ok(response)
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ClassifyResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Classifier for ClassifierService {
    async fn classify(
        &self,
        request: Request<ClassifyRequest>,
    ) -> Result<Response<ClassifyResponse>, Status> {
        let context = Context::of(&request);
        let served = self.models.current();
        let response = classify_document(
            served,
            self.metrics.clone(),
            &self.limits,
            &context,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn classify_batch(
        &self,
        request: Request<ClassifyBatchRequest>,
    ) -> Result<Response<ClassifyBatchResponse>, Status> {
        let context = Context::of(&request);
        let documents = request.into_inner().documents;
        self.limits.check_batch(&documents)?;
        if let Some(first) = documents.first() {
            context.note_text(&first.text);
        }
        let served = self.models.current();
        let metrics = self.metrics.clone();
        let deadline = context.deadline;
        let heavy = documents.iter().map(|d| d.text.len()).sum::<usize>() >= INLINE_LIMIT_BYTES;
        let results = work::run(heavy, move || {
            documents
                .into_iter()
                .map(|d| {
                    // Checked between documents: a batch stops once its client has given up.
                    Deadline::check(deadline)?;
                    Ok(work::classify(&served, &metrics, d))
                })
                .collect::<Result<Vec<_>, ServerError>>()
        })
        .await?;
        Deadline::check(deadline)?;
        Ok(Response::new(ClassifyBatchResponse { results }))
    }

    type ClassifyStreamStream = ResponseStream;

    async fn classify_stream(
        &self,
        request: Request<Streaming<ClassifyRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        struct State {
            input: Streaming<ClassifyRequest>,
            served: Arc<Served>,
            metrics: Arc<Metrics>,
            limits: Limits,
            context: Context,
            failed: bool,
        }
        let context = Context::of(&request);
        // One model for the whole stream, like any other call.
        let state = State {
            served: self.models.current(),
            metrics: self.metrics.clone(),
            limits: self.limits.clone(),
            context,
            input: request.into_inner(),
            failed: false,
        };
        let responses = futures::stream::unfold(state, |mut s| async move {
            if s.failed {
                return None;
            }
            let item = match s.input.message().await {
                Ok(None) => return None,
                Err(status) => Err(convert::undecodable_request(status)),
                Ok(Some(doc)) => classify_document(
                    s.served.clone(),
                    s.metrics.clone(),
                    &s.limits,
                    &s.context,
                    doc,
                )
                .await
                .map_err(Status::from),
            };
            // The first error ends the stream, with that error as its status.
            s.failed = item.is_err();
            Some((item, s))
        });
        Ok(Response::new(Box::pin(responses)))
    }

    async fn get_model_info(
        &self,
        _request: Request<GetModelInfoRequest>,
    ) -> Result<Response<ModelInfo>, Status> {
        Ok(Response::new(self.models.current().info.clone()))
    }
}
