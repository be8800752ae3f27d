//! Closed-loop load against a running `attache.v1.Classifier`: unary, batch or streaming,
//! bounded by a request count and a duration, whichever comes first.
//!
//! `concurrency` callers run as tokio tasks; each keeps one call in flight (unary, batch) or
//! one stream with up to `in_flight` unanswered messages (stream), and sends the next
//! request only when one is answered. Callers share one request budget, so a run sends
//! exactly `requests` requests unless the duration ends it first. Documents are taken in
//! file order, cycling, from one shared cursor: every run sends the same sequence, as the
//! peers' `load.py` does.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
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
use super::stats::{Latencies, Summary};
use super::LoadError;
use crate::proto::classifier_client::ClassifierClient;
use crate::proto::{ClassifyBatchRequest, ClassifyRequest, ClassifyResponse};

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
    /// `top_k` of every request (0: the server returns every label).
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
        let mut shape = format!(
            "concurrency {}, {} connection{}",
            self.concurrency,
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        );
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
    let clients = connect(plan).await?;
    if plan.warmup > 0 {
        run_phase(plan, &clients, &docs, plan.warmup).await;
    }
    let started = Instant::now();
    let tally = run_phase(plan, &clients, &docs, plan.requests).await;
    Ok(report(plan, tally, started.elapsed()))
}

async fn connect(plan: &Plan) -> Result<Vec<ClassifierClient<Channel>>, LoadError> {
    let target = plan.addr.to_string();
    let connect_err = |source| LoadError::Connect {
        addr: target.clone(),
        source,
    };
    let endpoint = Endpoint::from_shared(format!("http://{target}"))
        .map_err(connect_err)?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut clients = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let channel = endpoint.connect().await.map_err(connect_err)?;
        clients.push(
            ClassifierClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
        );
    }
    Ok(clients)
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
    top_k: u32,
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

    fn request(&self, position: u64) -> ClassifyRequest {
        ClassifyRequest {
            id: position.to_string(),
            text: self.docs.cycled(position).text.clone(),
            top_k: self.top_k,
            ..Default::default()
        }
    }
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

    fn check(&mut self, response: &ClassifyResponse, doc: &Document) {
        if let Some(gold) = &doc.label {
            self.checked += 1;
            if response.labels.first().is_some_and(|l| &l.label == gold) {
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

async fn run_phase(
    plan: &Plan,
    clients: &[ClassifierClient<Channel>],
    docs: &Arc<Documents>,
    limit: u64,
) -> Tally {
    let phase = Arc::new(Phase {
        docs: docs.clone(),
        issued: AtomicU64::new(0),
        limit,
        deadline: Instant::now() + plan.duration,
        cursor: AtomicU64::new(0),
        timeout: plan.timeout,
        stream_timeout: plan.duration + plan.timeout,
        top_k: plan.top_k,
    });
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let phase = phase.clone();
            let mode = plan.mode;
            tokio::spawn(async move {
                match mode {
                    Mode::Unary => unary(client, &phase).await,
                    Mode::Batch { size } => batch(client, &phase, size).await,
                    Mode::Stream { in_flight } => stream(client, &phase, in_flight).await,
                }
            })
        })
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

async fn unary(mut client: ClassifierClient<Channel>, phase: &Phase) -> Tally {
    let mut t = Tally::default();
    while phase.take() {
        let position = phase.next(1);
        let mut request = Request::new(phase.request(position));
        request.set_timeout(phase.timeout);
        let started = Instant::now();
        match client.classify(request).await {
            Ok(r) => {
                t.latencies.record(started.elapsed());
                t.ok += 1;
                t.docs += 1;
                t.check(r.get_ref(), phase.docs.cycled(position));
            }
            Err(status) => t.error(code_name(status.code()), 1),
        }
    }
    t
}

async fn batch(mut client: ClassifierClient<Channel>, phase: &Phase, size: usize) -> Tally {
    let mut t = Tally::default();
    while phase.take() {
        let first = phase.next(size);
        let documents = (first..first + size as u64)
            .map(|p| phase.request(p))
            .collect();
        let mut request = Request::new(ClassifyBatchRequest { documents });
        request.set_timeout(phase.timeout);
        let started = Instant::now();
        match client.classify_batch(request).await {
            Ok(r) if r.get_ref().results.len() == size => {
                t.latencies.record(started.elapsed());
                t.ok += 1;
                t.docs += size as u64;
                for (p, result) in (first..).zip(&r.get_ref().results) {
                    t.check(result, phase.docs.cycled(p));
                }
            }
            Ok(_) => t.error("INVALID_RESPONSE", 1),
            Err(status) => t.error(code_name(status.code()), 1),
        }
    }
    t
}

async fn stream(mut client: ClassifierClient<Channel>, phase: &Phase, in_flight: usize) -> Tally {
    let mut t = Tally::default();
    // One stream per turn of this loop; a failed stream is replaced while budget remains.
    while phase.take() {
        let (tx, rx) = mpsc::channel::<ClassifyRequest>(in_flight);
        let mut pending: VecDeque<(Instant, u64)> = VecDeque::with_capacity(in_flight);
        // The channel has room for `in_flight` messages, so these never wait.
        let mut claimed = true;
        while claimed {
            let position = phase.next(1);
            if tx.try_send(phase.request(position)).is_err() {
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
                    t.check(&r, phase.docs.cycled(position));
                    match &tx {
                        Some(s) if phase.take() => {
                            let next = phase.next(1);
                            // A closed stream shows up as an error on the next message.
                            let _ = s.send(phase.request(next)).await;
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
            top_k: 0,
        };
        let p = phase(3, Instant::now() + Duration::from_secs(60));
        assert_eq!((0..10).filter(|_| p.take()).count(), 3);
        let p = phase(3, Instant::now());
        assert!(!p.take());
    }
}
