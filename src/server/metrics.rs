//! Prometheus metrics, served on their own HTTP port at `/metrics`.
//!
//! Each [`Metrics`] owns its recorder instead of installing the process-global one: several
//! servers in one process (the integration tests) then keep separate figures, and nothing
//! depends on having won a one-time global installation. Handles are registered on the
//! recorder directly and cached, so the per-request cost is a few atomic additions. The
//! exporter's own HTTP listener binds an address it never reports (no port 0), so `/metrics`
//! is served here by a minimal HTTP/1.1 responder: one request per connection, GET only.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `attache_requests_total` | counter | `method`, `code` (gRPC status name) |
//! | `attache_request_duration_seconds` | histogram | `method` |
//! | `attache_requests_in_flight` | gauge | |
//! | `attache_documents_classified_total` | counter | |
//! | `attache_assigned_labels_total` | counter | `label` |
//! | `attache_model_info` | gauge (1 = serving, 0 = replaced) | `model_id`, `model_version`, `labels`, `checksum` |
//! | `attache_model_reloads_total` | counter | `result` (`ok`, `failed`) |

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;

use super::method::Method;
use crate::model::Model;

const REQUESTS: &str = "attache_requests_total";
const DURATION: &str = "attache_request_duration_seconds";
const IN_FLIGHT: &str = "attache_requests_in_flight";
const DOCUMENTS: &str = "attache_documents_classified_total";
const ASSIGNED: &str = "attache_assigned_labels_total";
const MODEL_INFO: &str = "attache_model_info";
const RELOADS: &str = "attache_model_reloads_total";

/// Latency buckets, seconds: a unary call on a small document takes tens of microseconds,
/// a maximal batch seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The 17 gRPC status codes by number, as the `code` label spells them.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The canonical name of a status code, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> &'static str {
    CODE_NAMES[(code as i32).clamp(0, 16) as usize]
}

/// The metrics of one server.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    requests: Vec<[OnceLock<Counter>; 17]>,
    durations: Vec<Histogram>,
    in_flight: Gauge,
    documents: Counter,
    reloads_ok: Counter,
    reloads_failed: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh recorder with every metric described.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), DURATION_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            recorder.describe_counter(KeyName::from_const_str(name), unit, help.into());
        };
        describe(REQUESTS, None, "gRPC calls by method and status code");
        describe(DOCUMENTS, None, "Documents classified");
        describe(ASSIGNED, None, "Labels assigned to documents, by label");
        describe(RELOADS, None, "Model reloads by result (ok, failed)");
        recorder.describe_histogram(
            KeyName::from_const_str(DURATION),
            Some(Unit::Seconds),
            "gRPC call latency by method (streams: until the stream ends)".into(),
        );
        recorder.describe_gauge(
            KeyName::from_const_str(IN_FLIGHT),
            None,
            "gRPC calls in flight".into(),
        );
        recorder.describe_gauge(
            KeyName::from_const_str(MODEL_INFO),
            None,
            "The model serving (1) and models replaced by a reload (0)".into(),
        );
        let durations = Method::ALL
            .iter()
            .map(|m| {
                recorder.register_histogram(
                    &Key::from_parts(DURATION, vec![Label::from_static_parts("method", m.name())]),
                    &METADATA,
                )
            })
            .collect();
        let reloads = |result: &'static str| {
            recorder.register_counter(
                &Key::from_parts(RELOADS, vec![Label::from_static_parts("result", result)]),
                &METADATA,
            )
        };
        let (reloads_ok, reloads_failed) = (reloads("ok"), reloads("failed"));
        // Both results show from the start, at 0: an alert on `failed` needs the series.
        reloads_ok.increment(0);
        reloads_failed.increment(0);
        let in_flight = recorder.register_gauge(&Key::from_static_name(IN_FLIGHT), &METADATA);
        in_flight.set(0.0);
        let documents = recorder.register_counter(&Key::from_static_name(DOCUMENTS), &METADATA);
        documents.increment(0);
        Metrics {
            requests: Method::ALL.iter().map(|_| Default::default()).collect(),
            durations,
            in_flight,
            documents,
            reloads_ok,
            reloads_failed,
            handle,
            recorder,
        }
    }

    /// A call began.
    pub fn call_started(&self) {
        self.in_flight.increment(1.0);
    }

    /// A call ended with `code` after `elapsed`.
    pub fn call_finished(&self, method: Method, code: Code, elapsed: Duration) {
        self.in_flight.decrement(1.0);
        let code_index = (code as i32).clamp(0, 16) as usize;
        self.requests[method.index()][code_index]
            .get_or_init(|| {
                self.recorder.register_counter(
                    &Key::from_parts(
                        REQUESTS,
                        vec![
                            Label::from_static_parts("method", method.name()),
                            Label::from_static_parts("code", CODE_NAMES[code_index]),
                        ],
                    ),
                    &METADATA,
                )
            })
            .increment(1);
        self.durations[method.index()].record(elapsed.as_secs_f64());
    }

    /// Counts a classified document and its assigned labels.
    pub fn document_classified(&self, model: &ModelMetrics, assigned: &[usize]) {
        self.documents.increment(1);
        for &c in assigned {
            if let Some(counter) = model.assigned.get(c) {
                counter.increment(1);
            }
        }
    }

    /// Counts a reload attempt.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.increment(1);
        } else {
            self.reloads_failed.increment(1);
        }
    }

    /// Registers the per-model metrics of `model`, marking it as serving.
    pub fn model(&self, model: &Model) -> ModelMetrics {
        let assigned = model
            .labels()
            .iter()
            .map(|l| {
                self.recorder.register_counter(
                    &Key::from_parts(ASSIGNED, vec![Label::new("label", l.name.clone())]),
                    &METADATA,
                )
            })
            .collect();
        let labels: Vec<&str> = model.labels().iter().map(|l| l.name.as_str()).collect();
        let info = self.recorder.register_gauge(
            &Key::from_parts(
                MODEL_INFO,
                vec![
                    Label::new("model_id", model.id().to_owned()),
                    Label::new("model_version", model.version().to_owned()),
                    Label::new("labels", labels.join(",")),
                    Label::new("checksum", model.file_checksum()),
                ],
            ),
            &METADATA,
        );
        ModelMetrics { assigned, info }
    }

    /// The page `/metrics` serves, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram buffers so memory stays bounded between scrapes; run periodically.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Metrics tied to one loaded model.
#[derive(Debug)]
pub struct ModelMetrics {
    assigned: Vec<Counter>,
    info: Gauge,
}

impl ModelMetrics {
    /// Marks the model as serving (1) or replaced (0) in `attache_model_info`.
    pub fn set_serving(&self, serving: bool) {
        self.info.set(if serving { 1.0 } else { 0.0 });
    }
}

/// Most bytes of an HTTP request head read before giving up.
const MAX_REQUEST_HEAD: usize = 8 << 10;
/// A scraper that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` on `listener` until the future is dropped.
pub async fn serve_http(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = respond(stream, &metrics).await {
                        tracing::debug!(error = %e, "metrics connection failed");
                    }
                });
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning on the error.
                tracing::warn!(error = %e, "metrics listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = std::str::from_utf8(line).unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET /metrics\n".to_owned(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_follow_the_grpc_spec() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
    }

    #[test]
    fn calls_are_counted_by_method_and_code_with_latency_histograms() {
        let m = Metrics::new();
        m.call_started();
        m.call_finished(
            Method::Classify,
            Code::InvalidArgument,
            Duration::from_micros(300),
        );
        let page = m.render();
        assert!(
            page.contains(
                r#"attache_requests_total{method="attache.v1.Classifier/Classify",code="INVALID_ARGUMENT"} 1"#
            ),
            "{page}"
        );
        assert!(page.contains(r#"attache_request_duration_seconds_bucket{method="attache.v1.Classifier/Classify",le="0.0005"} 1"#), "{page}");
        assert!(page.contains("attache_requests_in_flight 0"), "{page}");
        assert!(
            page.contains(r#"attache_model_reloads_total{result="failed"} 0"#),
            "{page}"
        );
    }

    #[test]
    fn separate_servers_keep_separate_figures() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.reload(false);
        assert!(a
            .render()
            .contains(r#"attache_model_reloads_total{result="failed"} 1"#));
        assert!(b
            .render()
            .contains(r#"attache_model_reloads_total{result="failed"} 0"#));
    }
}
