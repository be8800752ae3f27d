//! Closed-loop load against a running server: unary, batch or streaming, bounded by a
//! request count and a duration, whichever comes first. The server is attache's own
//! `attache.v1.Classifier` or, for unary and batch, a KServe V2 inference server such as the
//! MLServer peer ([`super::kserve`]), so both face the same client.
//!
//! `concurrency` callers run as tokio tasks; each keeps one call in flight (unary, batch) or
//! one stream with up to `in_flight` unanswered messages (stream), and sends the next
//! request only when one is answered. Callers share one request budget, so a run sends
//! exactly `requests` requests unless the duration ends it first. Documents are taken in
//! file order, cycling, from one shared cursor: every run sends the same sequence, as the
//! peers' `load.py` does. The loop is the same for every protocol; a [`Caller`] only builds
//! and sends one request of given documents.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

use super::docs::{Document, Documents};
use super::kserve::{self, KserveTarget};
use super::stats::{Latencies, Summary};
use super::LoadError;
use crate::proto::classifier_client::ClassifierClient;
use crate::proto::{ClassifyBatchRequest, ClassifyRequest, ClassifyResponse};

/// The API a run speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// attache's own `attache.v1.Classifier`.
    Attache,
    /// The KServe V2 (Open Inference) protocol's `ModelInfer`: one BYTES tensor of the
    /// request's documents, as the MLServer peer's `load.py` sends. Unary and batch only.
    KserveV2(KserveTarget),
}

impl Protocol {
    /// The protocol's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Attache => "attache",
            Protocol::KserveV2(_) => "kserve-v2",
        }
    }
}

/// How requests carry documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One document per `Classify` call.
    Unary,
    /// `size` documents per `ClassifyBatch` call.
    Batch {
        /// Documents per call.
        size: usize,
    },
    /// One `ClassifyStream` per caller; a request is one message on it.
    Stream {
        /// Messages sent and not yet answered, per stream.
        in_flight: usize,
    },
}

impl Mode {
    /// The mode's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::Batch { .. } => "batch",
            Mode::Stream { .. } => "stream",
        }
    }

    fn docs_per_request(&self) -> usize {
        match self {
            Mode::Batch { size } => *size,
            _ => 1,
        }
    }
}

/// Everything a run needs besides its documents.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The server (loopback: see [`super::loopback_addr`]).
    pub addr: SocketAddr,
    /// The API the server speaks.
    pub protocol: Protocol,
    /// Unary, batch or stream.
    pub mode: Mode,
    /// Callers, each with one call (or stream) in flight.
    pub concurrency: usize,
    /// HTTP/2 connections the callers share, round robin.
    pub connections: usize,
    /// Requests measured; the run stops after this many.
    pub requests: u64,
    /// The run also stops when this much time has passed (warm-up has its own, equal bound).
    pub duration: Duration,
    /// Requests sent and not measured before the run, to open connections and warm caches.
    pub warmup: u64,
    /// Deadline of each call (each stream gets `duration + timeout`).
    pub timeout: Duration,
    /// `top_k` of every request (0: the server returns every label). attache only: a KServe
    /// V2 model answers with whatever outputs it has.
    pub top_k: u32,
}

impl Plan {
    /// Checks the settings, naming the first one out of range.
    pub fn validate(&self) -> Result<(), LoadError> {
        let invalid = |name, problem: &str| {
            Err(LoadError::InvalidPlan {
                name,
                problem: problem.to_owned(),
            })
        };
        if !self.addr.ip().is_loopback() {
            return Err(LoadError::NotLoopback(self.addr.to_string()));
        }
        if !(1..=10_000).contains(&self.concurrency) {
            return invalid("--concurrency", "must be in 1..=10000");
        }
        if !(1..=1_000).contains(&self.connections) {
            return invalid("--connections", "must be in 1..=1000");
        }
        if self.requests == 0 {
            return invalid("--requests", "must be at least 1");
        }
        if self.duration.is_zero() {
            return invalid("--duration", "must be more than 0");
        }
        if self.timeout.is_zero() {
            return invalid("--timeout", "must be more than 0");
        }
        if let Protocol::KserveV2(target) = &self.protocol {
            if target.model.is_empty() {
                return invalid("--model-name", "must not be empty");
            }
            if matches!(self.mode, Mode::Stream { .. }) {
                return invalid("--protocol", kserve::NO_STREAM);
            }
        }
        match self.mode {
            Mode::Batch { size: 0 } => invalid("--batch", "must be at least 1"),
            Mode::Stream { in_flight: 0 } => invalid("--in-flight", "must be at least 1"),
            _ => Ok(()),
        }
    }
}

/// What a run measured. Field names follow the peers' `load.py` JSON where they overlap
/// (`req_s`, `docs_s`, `p50_ms`, ...), so one harness reads both.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// The server.
    pub target: String,
    /// `attache` or `kserve-v2`.
    pub protocol: &'static str,
    /// The KServe V2 model inferred with (absent for attache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// `unary`, `batch` or `stream`.
    pub mode: &'static str,
    /// Callers.
    pub concurrency: usize,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Documents per request.
    pub batch: usize,
    /// Unanswered messages per stream (stream mode; 1 otherwise).
    pub in_flight: usize,
    /// Requests sent before measuring.
    pub warmup: u64,
    /// Requests answered successfully (the latency samples).
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Failed requests by gRPC status code name (`INVALID_RESPONSE`: a reply that does not
    /// match its request).
    pub error_codes: BTreeMap<String, u64>,
    /// Documents classified successfully.
    pub docs: u64,
    /// Wall time of the measured run.
    pub wall_s: f64,
    /// Successful requests per second.
    pub req_s: f64,
    /// Successful documents per second.
    pub docs_s: f64,
    /// Latency of successful requests.
    #[serde(flatten)]
    pub latency: Summary,
    /// Share of documents whose top label is their first gold label (documents with labels
    /// only; `None` without any).
    pub accuracy: Option<f64>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shape = match &self.model_name {
            Some(m) => format!("{} model {m}, ", self.protocol),
            None => String::new(),
        };
        shape.push_str(&format!(
            "concurrency {}, {} connection{}",
            self.concurrency,
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        ));
        match self.mode {
            "batch" => shape.push_str(&format!(", {} docs per call", self.batch)),
            "stream" => shape.push_str(&format!(", {} in flight per stream", self.in_flight)),
            _ => {}
        }
        writeln!(
            f,
            "attache bench {} -> {} ({shape})",
            self.mode, self.target
        )?;
        writeln!(
            f,
            "  answered    {} requests ({} docs) in {:.3} s after {} warm-up requests",
            self.requests, self.docs, self.wall_s, self.warmup
        )?;
        writeln!(
            f,
            "  throughput  {:.0} req/s, {:.0} docs/s",
            self.req_s, self.docs_s
        )?;
        let l = &self.latency;
        writeln!(
            f,
            "  latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  mean {:.3}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.mean_ms
        )?;
        if let Some(a) = self.accuracy {
            writeln!(f, "  accuracy    {a:.4} (top label vs first gold label)")?;
        }
        if self.errors == 0 {
            writeln!(f, "  errors      none")
        } else {
            let codes: Vec<String> = self
                .error_codes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            writeln!(f, "  errors      {} ({})", self.errors, codes.join(", "))
        }
    }
}

/// Connects and runs the warm-up, then the measured run.
pub async fn run(plan: &Plan, docs: Arc<Documents>) -> Result<LoadReport, LoadError> {
    plan.validate()?;
    if docs.is_empty() {
        return Err(LoadError::InvalidPlan {
            name: "--data",
            problem: "no documents".into(),
        });
    }
    let endpoint = endpoint(plan)?;
    if let Protocol::KserveV2(target) = &plan.protocol {
        if !target.wait_ready.is_zero() {
            kserve::wait_ready(&endpoint, target.wait_ready).await?;
        }
    }
    let channels = connect(plan, &endpoint).await?;
    // Caller i uses connection i mod connections.
    let channel = |i: usize| channels[i % channels.len()].clone();
    let report = match (&plan.protocol, plan.mode) {
        (Protocol::Attache, Mode::Unary) => {
            let top_k = plan.top_k;
            measure(plan, docs, |i, phase| {
                let caller = AttacheUnary {
                    client: attache_client(channel(i)),
                    top_k,
                };
                async move { closed_loop(caller, &phase, 1).await }
            })
            .await
        }
        (Protocol::Attache, Mode::Batch { size }) => {
            let top_k = plan.top_k;
            measure(plan, docs, |i, phase| {
                let caller = AttacheBatch {
                    client: attache_client(channel(i)),
                    top_k,
                };
                async move { closed_loop(caller, &phase, size).await }
            })
            .await
        }
        (Protocol::Attache, Mode::Stream { in_flight }) => {
            let top_k = plan.top_k;
            measure(plan, docs, |i, phase| {
                let client = attache_client(channel(i));
                async move { stream(client, &phase, in_flight, top_k).await }
            })
            .await
        }
        (Protocol::KserveV2(target), mode) => {
            let size = mode.docs_per_request();
            measure(plan, docs, |i, phase| {
                let caller = kserve::Caller::new(channel(i), &target.model);
                async move { closed_loop(caller, &phase, size).await }
            })
            .await
        }
    };
    Ok(report)
}

/// The server's address as a tonic endpoint, with the options every connection shares.
fn endpoint(plan: &Plan) -> Result<Endpoint, LoadError> {
    let target = plan.addr.to_string();
    Endpoint::from_shared(format!("http://{target}"))
        .map(|e| e.tcp_nodelay(true).connect_timeout(Duration::from_secs(5)))
        .map_err(|source| LoadError::Connect {
            addr: target,
            source,
        })
}

/// Opens `plan.connections` HTTP/2 connections.
async fn connect(plan: &Plan, endpoint: &Endpoint) -> Result<Vec<Channel>, LoadError> {
    let mut channels = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|source| LoadError::Connect {
                    addr: plan.addr.to_string(),
                    source,
                })?,
        );
    }
    Ok(channels)
}

fn attache_client(channel: Channel) -> ClassifierClient<Channel> {
    ClassifierClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// The warm-up, then the measured run, each with `concurrency` tasks made by `worker`
/// (given the caller's index and the phase's shared state).
async fn measure<W, F>(plan: &Plan, docs: Arc<Documents>, worker: W) -> LoadReport
where
    W: Fn(usize, Arc<Phase>) -> F,
    F: Future<Output = Tally> + Send + 'static,
{
    if plan.warmup > 0 {
        run_phase(plan, &docs, plan.warmup, &worker).await;
    }
    let started = Instant::now();
    let tally = run_phase(plan, &docs, plan.requests, &worker).await;
    report(plan, tally, started.elapsed())
}

/// State the callers of one phase share.
struct Phase {
    docs: Arc<Documents>,
    issued: AtomicU64,
    limit: u64,
    deadline: Instant,
    cursor: AtomicU64,
    timeout: Duration,
    stream_timeout: Duration,
}

impl Phase {
    /// Claims one request of the budget; false once the count or the time is used up.
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.issued.fetch_add(1, Ordering::Relaxed) < self.limit
    }

    /// Positions of the next `n` documents.
    fn next(&self, n: usize) -> u64 {
        self.cursor.fetch_add(n as u64, Ordering::Relaxed)
    }
}

/// The attache request for the document at cursor `position` (its id is the position).
fn classify_request(docs: &Documents, position: u64, top_k: u32) -> ClassifyRequest {
    ClassifyRequest {
        id: position.to_string(),
        text: docs.cycled(position).text.clone(),
        top_k,
        ..Default::default()
    }
}

/// What a protocol does for the closed loop ([`closed_loop`]): build one request of the
/// documents at cursor positions `first..first + n`, send it, and name each document's top
/// label. Building is kept apart from sending so the latency clock covers only the call.
pub(crate) trait Caller: Send + 'static {
    /// The request message.
    type Message: Send + 'static;

    /// The request for `n` documents from cursor position `first`.
    fn prepare(&self, docs: &Documents, first: u64, n: usize) -> Self::Message;

    /// Sends one request (its deadline set). On success, the top label of each document in
    /// request order (`None` where the answer has none); on failure, the failure's name (a
    /// gRPC status code name, or `INVALID_RESPONSE`).
    fn send(
        &mut self,
        request: Request<Self::Message>,
    ) -> impl Future<Output = Result<Vec<Option<String>>, &'static str>> + Send;
}

/// `Classify`: one document per call.
struct AttacheUnary {
    client: ClassifierClient<Channel>,
    top_k: u32,
}

impl Caller for AttacheUnary {
    type Message = ClassifyRequest;

    fn prepare(&self, docs: &Documents, first: u64, _n: usize) -> ClassifyRequest {
        classify_request(docs, first, self.top_k)
    }

    async fn send(
        &mut self,
        request: Request<ClassifyRequest>,
    ) -> Result<Vec<Option<String>>, &'static str> {
        match self.client.classify(request).await {
            Ok(r) => Ok(vec![top_label(r.into_inner())]),
            Err(status) => Err(code_name(status.code())),
        }
    }
}

/// `ClassifyBatch`: `n` documents per call.
struct AttacheBatch {
    client: ClassifierClient<Channel>,
    top_k: u32,
}

impl Caller for AttacheBatch {
    type Message = ClassifyBatchRequest;

    fn prepare(&self, docs: &Documents, first: u64, n: usize) -> ClassifyBatchRequest {
        let documents = (first..first + n as u64)
            .map(|p| classify_request(docs, p, self.top_k))
            .collect();
        ClassifyBatchRequest { documents }
    }

    async fn send(
        &mut self,
        request: Request<ClassifyBatchRequest>,
    ) -> Result<Vec<Option<String>>, &'static str> {
        match self.client.classify_batch(request).await {
            Ok(r) => Ok(r.into_inner().results.into_iter().map(top_label).collect()),
            Err(status) => Err(code_name(status.code())),
        }
    }
}

fn top_label(response: ClassifyResponse) -> Option<String> {
    response.labels.into_iter().next().map(|l| l.label)
}

/// What one caller saw.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ok: u64,
    docs: u64,
    checked: u64,
    correct: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, code: &str, n: u64) {
        *self.errors.entry(code.to_owned()).or_default() += n;
    }

    fn check(&mut self, top: Option<&str>, doc: &Document) {
        if let Some(gold) = &doc.label {
            self.checked += 1;
            if top == Some(gold.as_str()) {
                self.correct += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.merge(other.latencies);
        self.ok += other.ok;
        self.docs += other.docs;
        self.checked += other.checked;
        self.correct += other.correct;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
    }
}

async fn run_phase<W, F>(plan: &Plan, docs: &Arc<Documents>, limit: u64, worker: &W) -> Tally
where
    W: Fn(usize, Arc<Phase>) -> F,
    F: Future<Output = Tally> + Send + 'static,
{
    let phase = Arc::new(Phase {
        docs: docs.clone(),
        issued: AtomicU64::new(0),
        limit,
        deadline: Instant::now() + plan.duration,
        cursor: AtomicU64::new(0),
        timeout: plan.timeout,
        stream_timeout: plan.duration + plan.timeout,
    });
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|i| tokio::spawn(worker(i, phase.clone())))
        .collect();
    let mut total = Tally::default();
    for joined in futures::future::join_all(workers).await {
        match joined {
            Ok(t) => total.merge(t),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    total
}

/// One caller of a unary or batch run: a request of `size` documents at a time, the next
/// one sent when the last is answered.
async fn closed_loop<C: Caller>(mut caller: C, phase: &Phase, size: usize) -> Tally {
    let mut t = Tally::default();
    while phase.take() {
        let first = phase.next(size);
        let mut request = Request::new(caller.prepare(&phase.docs, first, size));
        request.set_timeout(phase.timeout);
        let started = Instant::now();
        match caller.send(request).await {
            Ok(top) if top.len() == size => {
                t.latencies.record(started.elapsed());
                t.ok += 1;
                t.docs += size as u64;
                for (p, label) in (first..).zip(&top) {
                    t.check(label.as_deref(), phase.docs.cycled(p));
                }
            }
            Ok(_) => t.error("INVALID_RESPONSE", 1),
            Err(code) => t.error(code, 1),
        }
    }
    t
}

async fn stream(
    mut client: ClassifierClient<Channel>,
    phase: &Phase,
    in_flight: usize,
    top_k: u32,
) -> Tally {
    let mut t = Tally::default();
    // One stream per turn of this loop; a failed stream is replaced while budget remains.
    while phase.take() {
        let (tx, rx) = mpsc::channel::<ClassifyRequest>(in_flight);
        let mut pending: VecDeque<(Instant, u64)> = VecDeque::with_capacity(in_flight);
        // The channel has room for `in_flight` messages, so these never wait.
        let mut claimed = true;
        while claimed {
            let position = phase.next(1);
            if tx
                .try_send(classify_request(&phase.docs, position, top_k))
                .is_err()
            {
                break;
            }
            pending.push_back((Instant::now(), position));
            claimed = pending.len() < in_flight && phase.take();
        }
        let mut request = Request::new(ReceiverStream::new(rx));
        request.set_timeout(phase.stream_timeout);
        let mut responses = match client.classify_stream(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                t.error(code_name(status.code()), pending.len() as u64);
                continue;
            }
        };
        let mut tx = Some(tx);
        let mut failed = false;
        while let Some(&(sent, position)) = pending.front() {
            match responses.message().await {
                Ok(Some(r)) => {
                    t.latencies.record(sent.elapsed());
                    pending.pop_front();
                    t.ok += 1;
                    t.docs += 1;
                    let top = r.labels.first().map(|l| l.label.as_str());
                    t.check(top, phase.docs.cycled(position));
                    match &tx {
                        Some(s) if phase.take() => {
                            let next = phase.next(1);
                            // A closed stream shows up as an error on the next message.
                            let _ = s.send(classify_request(&phase.docs, next, top_k)).await;
                            pending.push_back((Instant::now(), next));
                        }
                        // Budget spent: close our side so the server ends the stream.
                        _ => tx = None,
                    }
                }
                Ok(None) => {
                    t.error("INVALID_RESPONSE", pending.len() as u64);
                    failed = true;
                    break;
                }
                Err(status) => {
                    t.error(code_name(status.code()), pending.len() as u64);
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            drop(tx);
            // Read the trailers: a stream that ends with an error status counts once.
            match responses.message().await {
                Ok(None) => {}
                Ok(Some(_)) => t.error("INVALID_RESPONSE", 1),
                Err(status) => t.error(code_name(status.code()), 1),
            }
        }
    }
    t
}

fn report(plan: &Plan, mut t: Tally, wall: Duration) -> LoadReport {
    let wall_s = wall.as_secs_f64();
    let per_s = |n: u64| if wall_s > 0.0 { n as f64 / wall_s } else { 0.0 };
    LoadReport {
        target: plan.addr.to_string(),
        protocol: plan.protocol.name(),
        model_name: match &plan.protocol {
            Protocol::KserveV2(t) => Some(t.model.clone()),
            Protocol::Attache => None,
        },
        mode: plan.mode.name(),
        concurrency: plan.concurrency,
        connections: plan.connections,
        batch: plan.mode.docs_per_request(),
        in_flight: match plan.mode {
            Mode::Stream { in_flight } => in_flight,
            _ => 1,
        },
        warmup: plan.warmup,
        requests: t.ok,
        errors: t.errors.values().sum(),
        docs: t.docs,
        wall_s,
        req_s: per_s(t.ok),
        docs_s: per_s(t.docs),
        latency: t.latencies.summary_ms(),
        accuracy: (t.checked > 0).then(|| t.correct as f64 / t.checked as f64),
        error_codes: t.errors,
    }
}

/// The canonical name of a gRPC status code, as in the gRPC specification.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            addr: "127.0.0.1:1".parse().unwrap(),
            protocol: Protocol::Attache,
            mode: Mode::Unary,
            concurrency: 1,
            connections: 1,
            requests: 1,
            duration: Duration::from_secs(1),
            warmup: 0,
            timeout: Duration::from_secs(1),
            top_k: 0,
        }
    }

    #[test]
    fn plans_out_of_range_are_refused_by_flag_name() {
        assert!(plan().validate().is_ok());
        let cases = [
            (
                Plan {
                    concurrency: 0,
                    ..plan()
                },
                "--concurrency",
            ),
            (
                Plan {
                    requests: 0,
                    ..plan()
                },
                "--requests",
            ),
            (
                Plan {
                    duration: Duration::ZERO,
                    ..plan()
                },
                "--duration",
            ),
            (
                Plan {
                    mode: Mode::Batch { size: 0 },
                    ..plan()
                },
                "--batch",
            ),
            (
                Plan {
                    mode: Mode::Stream { in_flight: 0 },
                    ..plan()
                },
                "--in-flight",
            ),
        ];
        for (p, flag) in cases {
            let err = p.validate().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
        let remote = Plan {
            addr: "10.0.0.1:1".parse().unwrap(),
            ..plan()
        };
        assert!(matches!(remote.validate(), Err(LoadError::NotLoopback(_))));
    }

    #[test]
    fn the_budget_stops_at_the_count_or_the_deadline() {
        let phase = |limit, deadline| Phase {
            docs: Arc::new(Documents::default()),
            issued: AtomicU64::new(0),
            limit,
            deadline,
            cursor: AtomicU64::new(0),
            timeout: Duration::from_secs(1),
            stream_timeout: Duration::from_secs(1),
        };
        let p = phase(3, Instant::now() + Duration::from_secs(60));
        assert_eq!((0..10).filter(|_| p.take()).count(), 3);
        let p = phase(3, Instant::now());
        assert!(!p.take());
    }
}
