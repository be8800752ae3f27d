//! The tower layer every call passes through, in front of all gRPC services.
//!
//! One pass per call does what must hold for every method alike:
//! - request id: the caller's `x-request-id` or a fresh UUID, echoed in the response headers;
//! - load shedding: a concurrency permit taken without waiting, or RESOURCE_EXHAUSTED at once
//!   (health probes are exempt); the permit is held until the response body ends, so a stream
//!   counts for its whole life;
//! - deadlines: DEADLINE_EXCEEDED (not tonic's CANCELLED) when `grpc-timeout` passes, for
//!   unary answers and for streams alike;
//! - panics anywhere in a handler (its future or its response stream) become INTERNAL;
//! - shutdown: response streams still open are ended with UNAVAILABLE at the phase their
//!   method allows ([`Method::stream_ends_at`]);
//! - observation: in-flight gauge, requests by method and code, latency, one log line.
//!
//! The status code of a call is known only at the end of its response body (gRPC puts it in
//! the trailers), which is why the body is wrapped ([`ObservedBody`]).

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::convert::undecodable_request;
use super::deadline::{parse_timeout, Deadline};
use super::error::ServerError;
use super::limits::Admission;
use super::log::{request_id, CallLog, Excerpt, REQUEST_ID};
use super::method::{Method, Phase};
use super::metrics::Metrics;
use super::work::panic_message;

/// What the layer shares across calls.
#[derive(Debug)]
pub struct LayerState {
    /// Metrics of the server.
    pub metrics: Arc<Metrics>,
    /// The concurrency limit.
    pub admission: Admission,
    /// The shutdown phase.
    pub phase: watch::Receiver<Phase>,
    /// Request-text excerpt length for the log (0: none).
    pub log_text_chars: usize,
}

/// The layer; see the module documentation.
#[derive(Clone, Debug)]
pub struct CallLayer {
    state: Arc<LayerState>,
}

impl CallLayer {
    /// A layer over `state`.
    pub fn new(state: LayerState) -> Self {
        CallLayer {
            state: Arc::new(state),
        }
    }
}

impl<S> Layer<S> for CallLayer {
    type Service = CallService<S>;

    fn layer(&self, inner: S) -> CallService<S> {
        CallService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service [`CallLayer`] wraps around the gRPC router.
#[derive(Clone, Debug)]
pub struct CallService<S> {
    inner: S,
    state: Arc<LayerState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What `Body::poll_frame` returns for a body `B`.
type FramePoll<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CallService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body + Default + Unpin + Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let state = self.state.clone();
        let start = Instant::now();
        let method = Method::from_path(req.uri().path());
        let deadline = parse_timeout(req.headers())
            .and_then(|t| start.checked_add(t))
            .map(Deadline);
        let excerpt = (state.log_text_chars > 0).then(|| Excerpt::new(state.log_text_chars));
        if let Some(e) = &excerpt {
            req.extensions_mut().insert(e.clone());
        }
        if let Some(d) = deadline {
            req.extensions_mut().insert(d);
        }
        let mut call = Call::start(
            state.clone(),
            method,
            start,
            request_id(req.headers()),
            peer(&req),
            excerpt,
        );
        if method.sheddable() {
            match state.admission.try_admit() {
                Ok(permit) => call.permit = Some(permit),
                Err(e) => return Box::pin(std::future::ready(Ok(call.reject(e)))),
            }
        }
        if deadline.is_some_and(|d| d.give_up_at() <= start) {
            return Box::pin(std::future::ready(Ok(
                call.reject(ServerError::DeadlineExceeded)
            )));
        }
        Box::pin(async move {
            let work = AssertUnwindSafe(async move { inner.call(req).await }).catch_unwind();
            let outcome = match deadline {
                None => work.await,
                Some(d) => match tokio::time::timeout_at(d.give_up_at(), work).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Ok(call.reject(ServerError::DeadlineExceeded)),
                },
            };
            match outcome {
                Err(payload) => Ok(call.reject(ServerError::Panicked(panic_message(&*payload)))),
                Ok(Err(e)) => {
                    call.finish(Code::Unknown, "the service failed without a status");
                    Err(e)
                }
                Ok(Ok(response)) => {
                    // Unary work that ran to completion past the deadline: the client has
                    // given up on it, and the contract says DEADLINE_EXCEEDED.
                    if method.stream_ends_at().is_none() && Deadline::check(deadline).is_err() {
                        return Ok(call.reject(ServerError::DeadlineExceeded));
                    }
                    Ok(call.respond(response, deadline))
                }
            }
        })
    }
}

fn peer<B>(req: &http::Request<B>) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<TcpConnectInfo>()
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .map(|t| t.get_ref())
        })
        .and_then(|i| i.remote_addr())
}

/// A call in progress: recorded (metrics, log) exactly once, when it ends — or, if it is
/// dropped unfinished (the client went away), as CANCELLED.
struct Call {
    state: Arc<LayerState>,
    method: Method,
    start: Instant,
    request_id: HeaderValue,
    peer: Option<SocketAddr>,
    excerpt: Option<Excerpt>,
    permit: Option<OwnedSemaphorePermit>,
    finished: bool,
}

impl Call {
    fn start(
        state: Arc<LayerState>,
        method: Method,
        start: Instant,
        request_id: HeaderValue,
        peer: Option<SocketAddr>,
        excerpt: Option<Excerpt>,
    ) -> Call {
        state.metrics.call_started();
        Call {
            state,
            method,
            start,
            request_id,
            peer,
            excerpt,
            permit: None,
            finished: false,
        }
    }

    fn finish(&mut self, code: Code, message: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.permit = None;
        let latency = self.start.elapsed();
        self.state.metrics.call_finished(self.method, code, latency);
        CallLog {
            method: self.method,
            code,
            message,
            latency,
            request_id: &self.request_id,
            peer: self.peer,
            text: self.excerpt.as_ref().and_then(Excerpt::get),
        }
        .emit();
    }

    /// Answers with `err`'s status at once (a trailers-only response).
    fn reject<B: Body + Default>(self, err: ServerError) -> http::Response<ObservedBody<B>> {
        self.reject_with(Status::from(err))
    }

    /// Answers with `status` at once (a trailers-only response).
    fn reject_with<B: Body + Default>(mut self, status: Status) -> http::Response<ObservedBody<B>> {
        self.finish(status.code(), status.message());
        let mut response = status.into_http::<B>();
        response
            .headers_mut()
            .insert(REQUEST_ID, self.request_id.clone());
        response.map(ObservedBody::finished)
    }

    /// Passes the service's response on, watching its body to the end.
    fn respond<B: Body + Default>(
        mut self,
        response: http::Response<B>,
        deadline: Option<Deadline>,
    ) -> http::Response<ObservedBody<B>> {
        let (mut parts, body) = response.into_parts();
        parts.headers.insert(REQUEST_ID, self.request_id.clone());
        // A status in the headers means a trailers-only response: the call is over.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            // A request tonic could not decode is answered before any handler runs, with
            // INTERNAL: re-answer it as the client's mistake. Anything else passes as it is.
            let code = status.code();
            let status = undecodable_request(status);
            if status.code() != code {
                return self.reject_with(status);
            }
            self.finish(status.code(), status.message());
            return http::Response::from_parts(parts, ObservedBody::finished(body));
        }
        let terminator = self
            .method
            .stream_ends_at()
            .map(|phase| terminator(phase, deadline, self.state.phase.clone()));
        http::Response::from_parts(
            parts,
            ObservedBody {
                inner: body,
                call: Some(self),
                terminator,
                done: false,
            },
        )
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(
            Code::Cancelled,
            "cancelled: the client went away before the call ended",
        );
    }
}

/// Resolves with the reason to end a response stream early: its deadline, or the shutdown
/// phase that ends its method's streams (or the server being gone).
fn terminator(
    ends_at: Phase,
    deadline: Option<Deadline>,
    mut phase: watch::Receiver<Phase>,
) -> BoxFuture<ServerError> {
    Box::pin(async move {
        let shutdown = async move {
            let _ = phase.wait_for(|p| *p >= ends_at).await;
            ServerError::ShuttingDown(match ends_at {
                Phase::Stopped => "the grace period is over",
                _ => "no new work is accepted",
            })
        };
        match deadline {
            None => shutdown.await,
            Some(Deadline(at)) => tokio::select! {
                () = tokio::time::sleep_until(at) => ServerError::DeadlineExceeded,
                e = shutdown => e,
            },
        }
    })
}

/// The status code and message in `headers` (trailers), as [`Status::from_header_map`] reads
/// them. Why not just that: it also clones the whole header map and decodes the details for a
/// `Status` we would drop at once, on every call; a trailer without `grpc-message` (every
/// OK) needs only its code.
fn status_in(headers: &HeaderMap) -> Option<(Code, Cow<'static, str>)> {
    let code = headers.get("grpc-status")?;
    if !headers.contains_key("grpc-message") {
        return Some((Code::from_bytes(code.as_bytes()), Cow::Borrowed("")));
    }
    Status::from_header_map(headers).map(|s| (s.code(), Cow::Owned(s.message().to_owned())))
}

/// A response body watched to its end: the trailers carry the call's status code.
pub struct ObservedBody<B> {
    inner: B,
    call: Option<Call>,
    terminator: Option<BoxFuture<ServerError>>,
    done: bool,
}

impl<B> ObservedBody<B> {
    fn finished(inner: B) -> Self {
        ObservedBody {
            inner,
            call: None,
            terminator: None,
            done: false,
        }
    }
}

impl<B: Body> ObservedBody<B> {
    /// Ends the stream with `err`'s status in the trailers.
    fn end_with(&mut self, err: ServerError) -> FramePoll<B> {
        self.done = true;
        let status = Status::from(err);
        if let Some(call) = self.call.as_mut() {
            call.finish(status.code(), status.message());
        }
        let mut trailers = HeaderMap::new();
        if status.add_header(&mut trailers).is_err() {
            trailers.insert("grpc-status", HeaderValue::from(status.code() as i32));
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

impl<B: Body + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> FramePoll<B> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let polled = catch_unwind(AssertUnwindSafe(|| {
            Pin::new(&mut this.inner).poll_frame(cx)
        }));
        match polled {
            Err(payload) => return this.end_with(ServerError::Panicked(panic_message(&*payload))),
            Ok(Poll::Ready(Some(Ok(frame)))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.done = true;
                    if let Some(call) = this.call.as_mut() {
                        match status_in(trailers) {
                            Some((code, message)) => call.finish(code, &message),
                            None => call.finish(Code::Unknown, "trailers without grpc-status"),
                        }
                    }
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Ok(Poll::Ready(Some(Err(e)))) => {
                this.done = true;
                if let Some(call) = this.call.as_mut() {
                    call.finish(Code::Internal, "the response body failed");
                }
                return Poll::Ready(Some(Err(e)));
            }
            Ok(Poll::Ready(None)) => {
                this.done = true;
                if let Some(call) = this.call.as_mut() {
                    call.finish(Code::Unknown, "the response ended without a status");
                }
                return Poll::Ready(None);
            }
            Ok(Poll::Pending) => {}
        }
        if let Some(t) = this.terminator.as_mut() {
            if let Poll::Ready(err) = t.as_mut().poll(cx) {
                return this.end_with(err);
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.terminator.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.terminator.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::limits::Admission;
    use std::convert::Infallible;

    fn layer_state(limit: usize) -> (watch::Sender<Phase>, LayerState) {
        let (tx, rx) = watch::channel(Phase::Running);
        let state = LayerState {
            metrics: Arc::new(Metrics::new()),
            admission: Admission::new(limit),
            phase: rx,
            log_text_chars: 0,
        };
        (tx, state)
    }

    fn request(path: &str) -> http::Request<tonic::body::Body> {
        http::Request::builder()
            .uri(format!("http://localhost{path}"))
            .body(tonic::body::Body::default())
            .unwrap()
    }

    fn grpc_status(response: &http::Response<ObservedBody<tonic::body::Body>>) -> Option<Code> {
        Status::from_header_map(response.headers()).map(|s| s.code())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_and_the_service_keeps_serving() {
        let (_tx, state) = layer_state(4);
        let metrics = state.metrics.clone();
        let inner = tower::service_fn(|req: http::Request<tonic::body::Body>| async move {
            if req.uri().path().ends_with("/Classify") {
                panic!("handler bug");
            }
            Ok::<_, Infallible>(Status::ok("").into_http::<tonic::body::Body>())
        });
        let mut svc = CallLayer::new(state).layer(inner);
        let response = svc
            .call(request("/attache.v1.Classifier/Classify"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&response), Some(Code::Internal));
        assert!(response.headers().contains_key(REQUEST_ID));
        let response = svc
            .call(request("/attache.v1.Classifier/GetModelInfo"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&response), Some(Code::Ok));
        let page = metrics.render();
        assert!(
            page.contains(r#"method="attache.v1.Classifier/Classify",code="INTERNAL"} 1"#),
            "{page}"
        );
        assert!(page.contains("attache_requests_in_flight 0"), "{page}");
    }

    #[tokio::test]
    async fn an_expired_deadline_is_answered_without_calling_the_handler() {
        let (_tx, state) = layer_state(4);
        let inner = tower::service_fn(|_req: http::Request<tonic::body::Body>| async move {
            panic!("must not be called");
            #[allow(unreachable_code)]
            Ok::<http::Response<tonic::body::Body>, Infallible>(http::Response::default())
        });
        let mut svc = CallLayer::new(state).layer(inner);
        let mut req = request("/attache.v1.Classifier/Classify");
        req.headers_mut()
            .insert("grpc-timeout", HeaderValue::from_static("100u"));
        let response = svc.call(req).await.unwrap();
        assert_eq!(grpc_status(&response), Some(Code::DeadlineExceeded));
    }

    #[tokio::test]
    async fn a_slow_handler_gets_deadline_exceeded_not_cancelled() {
        let (_tx, state) = layer_state(4);
        let inner = tower::service_fn(|_req: http::Request<tonic::body::Body>| async move {
            std::future::pending::<()>().await;
            Ok::<http::Response<tonic::body::Body>, Infallible>(http::Response::default())
        });
        let mut svc = CallLayer::new(state).layer(inner);
        let mut req = request("/attache.v1.Classifier/Classify");
        req.headers_mut()
            .insert("grpc-timeout", HeaderValue::from_static("20m"));
        let response = svc.call(req).await.unwrap();
        assert_eq!(grpc_status(&response), Some(Code::DeadlineExceeded));
    }

    #[test]
    fn trailer_statuses_read_as_tonic_reads_them() {
        let trailers = |status: Status| {
            let mut map = HeaderMap::new();
            status.add_header(&mut map).unwrap();
            map
        };
        for status in [
            Status::ok(""),
            Status::not_found(""),
            Status::invalid_argument("bad: 100% wrong\nline ü"),
            Status::internal("x"),
        ] {
            let map = trailers(status);
            let tonic = Status::from_header_map(&map).unwrap();
            let (code, message) = status_in(&map).unwrap();
            assert_eq!((code, &*message), (tonic.code(), tonic.message()));
        }
        let mut odd = HeaderMap::new();
        odd.insert("grpc-status", HeaderValue::from_static("99"));
        assert_eq!(status_in(&odd).unwrap().0, Code::Unknown);
        assert!(status_in(&HeaderMap::new()).is_none());
    }

    #[tokio::test]
    async fn calls_over_the_limit_are_shed_but_health_probes_are_not() {
        let (_tx, state) = layer_state(1);
        let inner = tower::service_fn(|_req: http::Request<tonic::body::Body>| async move {
            // An open response stream: holds its permit until the body ends.
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::default()))
        });
        let mut svc = CallLayer::new(state).layer(inner);
        let open = svc
            .call(request("/attache.v1.Classifier/ClassifyStream"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&open), None);
        let shed = svc
            .call(request("/attache.v1.Classifier/Classify"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&shed), Some(Code::ResourceExhausted));
        let probe = svc
            .call(request("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&probe), None);
        drop(open);
        let admitted = svc
            .call(request("/attache.v1.Classifier/Classify"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&admitted), None);
    }
}
