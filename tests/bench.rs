//! Specifications of `attache bench`: the gRPC load generator against a real server in this
//! process on 127.0.0.1:0 (and, with `--protocol kserve-v2`, against a fake KServe V2 server
//! that checks what it is sent), the loopback-only rule, and the in-process measurement.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use attache::loadgen::{self, Documents, Mode, OfflinePlan, Plan};
use attache::model::{LabelInfo, Model, ModelConfig, TrainSpec};
use attache::server::{Limits, ModelSource, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const LABELS: [&str; 2] = ["trade", "security"];

const CORPUS: &[(&str, usize)] = &[
    ("Ministers cut tariffs on steel and grain exports.", 0),
    ("The trade agreement lowered import duties and quotas.", 0),
    (
        "Exports rose after the tariff deal between the economies.",
        0,
    ),
    ("Troops massed at the border after the missile test.", 1),
    (
        "The army mobilised reservists and tanks near the frontier.",
        1,
    ),
    (
        "Naval warships patrolled the strait amid military tension.",
        1,
    ),
];

struct Fixture {
    _dir: tempfile::TempDir,
    model: PathBuf,
    data: PathBuf,
}

/// A tiny trained model and a labeled documents file (gzip, like the shared corpora).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<&str> = CORPUS.iter().map(|d| d.0).collect();
    let labels: Vec<Vec<usize>> = CORPUS.iter().map(|d| vec![d.1]).collect();
    let spec = TrainSpec {
        id: "bench-test".into(),
        version: "1".into(),
        labels: LABELS
            .iter()
            .map(|l| LabelInfo {
                name: (*l).into(),
                description: String::new(),
            })
            .collect(),
    };
    let model = Model::train(spec, ModelConfig::default(), &texts, &labels).unwrap();
    let model_path = dir.path().join("m.attache");
    model.save(&model_path).unwrap();
    let data = dir.path().join("docs.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&data).unwrap(),
        flate2::Compression::fast(),
    );
    for (text, label) in CORPUS {
        let row = serde_json::json!({"text": text, "labels": [LABELS[*label]]});
        writeln!(gz, "{row}").unwrap();
    }
    gz.finish().unwrap();
    Fixture {
        _dir: dir,
        model: model_path,
        data,
    }
}

/// Serves `model` in this process on 127.0.0.1:0 until the sender is dropped or fired.
async fn serve(
    model: &Path,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let config = ServerConfig {
        limits: Limits {
            max_batch: 8,
            ..Limits::default()
        },
        grace_period: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let source = ModelSource::File(std::fs::canonicalize(model).unwrap());
    let server = Server::new(config, Model::load(model).unwrap(), source).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, None, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop, task)
}

fn plan(addr: std::net::SocketAddr, mode: Mode, requests: u64) -> Plan {
    Plan {
        addr,
        protocol: loadgen::Protocol::Attache,
        mode,
        concurrency: 4,
        connections: 2,
        requests,
        duration: Duration::from_secs(20),
        warmup: 5,
        timeout: Duration::from_secs(5),
        top_k: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_runs_answer_exactly_the_requested_counts_without_errors() {
    let f = fixture();
    let (addr, stop, task) = serve(&f.model).await;
    let docs = Arc::new(Documents::read(&f.data, None).unwrap());

    let cases = [
        (Mode::Unary, 40, 40),
        (Mode::Batch { size: 3 }, 10, 30),
        (Mode::Stream { in_flight: 1 }, 25, 25),
        (Mode::Stream { in_flight: 4 }, 37, 37),
    ];
    for (mode, requests, docs_expected) in cases {
        let r = loadgen::run(&plan(addr, mode, requests), docs.clone())
            .await
            .unwrap();
        assert_eq!(r.mode, mode.name());
        assert_eq!(
            (r.requests, r.docs, r.errors),
            (requests, docs_expected, 0),
            "{mode:?}: {:?}",
            r.error_codes
        );
        assert!(r.req_s > 0.0 && r.wall_s > 0.0, "{r:?}");
        assert!(r.latency.p50_ms > 0.0 && r.latency.p50_ms <= r.latency.p99_ms);
        assert!(r.latency.p99_ms <= r.latency.max_ms);
        // The documents are the training documents: the model gets most of them right.
        assert!(r.accuracy.unwrap() >= 0.8, "{r:?}");
    }

    // A batch over the server's --max-batch fails every call, each counted by its code.
    let r = loadgen::run(&plan(addr, Mode::Batch { size: 9 }, 6), docs.clone())
        .await
        .unwrap();
    assert_eq!((r.requests, r.errors), (0, 6));
    assert_eq!(r.error_codes.get("INVALID_ARGUMENT"), Some(&6));

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duration_ends_a_run_before_its_count() {
    let f = fixture();
    let (addr, stop, _task) = serve(&f.model).await;
    let docs = Arc::new(Documents::read(&f.data, None).unwrap());
    let p = Plan {
        duration: Duration::from_millis(200),
        warmup: 0,
        ..plan(addr, Mode::Unary, u64::MAX)
    };
    let started = std::time::Instant::now();
    let r = loadgen::run(&p, docs).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(r.requests > 0 && r.requests < u64::MAX);
    assert_eq!(r.errors, 0);
    let _ = stop.send(());
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    // Bind then drop: nothing listens on the port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let docs = Arc::new(Documents {
        docs: vec![loadgen::Document {
            text: "x".into(),
            label: None,
        }],
    });
    let err = loadgen::run(&plan(addr, Mode::Unary, 1), docs)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot connect to 127.0.0.1:"),
        "{err}"
    );
}

fn attache() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attache"))
}

/// Runs `attache LIST --data DATA`, expects a usage error (exit 2, nothing on stdout) and
/// returns what it said on stderr.
fn refused(list: &[&str], data: &Path) -> String {
    let out = attache().args(args(list, data)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{list:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{list:?}");
    stderr
}

#[test]
fn the_binary_refuses_a_non_loopback_address_with_exit_2() {
    let f = fixture();
    for addr in ["10.1.2.3:50051", "example.com:50051", "0.0.0.0:50051"] {
        let stderr = refused(&["bench", "unary", "--addr", addr], &f.data);
        assert!(
            stderr.contains("not a loopback address") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn offline_measures_the_model_on_every_document() {
    let f = fixture();
    let docs = Documents::read(&f.data, None).unwrap();
    let plan = OfflinePlan {
        single: 4,
        repeat: 1,
    };
    let r = loadgen::measure(&f.model, &docs, plan).unwrap();
    assert_eq!((r.docs, r.single_docs, r.labels), (CORPUS.len(), 4, 2));
    assert_eq!(r.model_bytes, std::fs::metadata(&f.model).unwrap().len());
    assert_eq!(r.kind, "multinomial");
    assert!(r.batch_docs_s > 0.0 && r.batch_parallel_docs_s > 0.0 && r.classify_docs_s > 0.0);
    assert!(r.single_p50_us > 0.0 && r.single_p50_us <= r.single_p99_us);
    assert!(r.load_s > 0.0);
    assert_eq!(r.accuracy, Some(1.0));

    // The binary prints the same measurement as one JSON object.
    let out = attache()
        .args([
            "bench", "offline", "--repeat", "1", "--single", "2", "--json", "--model",
        ])
        .arg(&f.model)
        .arg("--data")
        .arg(&f.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["docs"], CORPUS.len());
    assert_eq!(v["single_docs"], 2);
}

/// A KServe V2 inference server that checks every request the way MLServer needs it
/// (model name, one BYTES tensor "text" of shape [documents] with content_type "str") and
/// counts what it was sent. Valid requests get each document's label (the corpus label of
/// its text), as MLServer's scikit-learn runtime answers.
mod fake_kserve {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use attache::loadgen::kserve::proto::grpc_inference_service_server::{
        GrpcInferenceService, GrpcInferenceServiceServer,
    };
    use attache::loadgen::kserve::proto::infer_parameter::ParameterChoice;
    use attache::loadgen::kserve::proto::model_infer_response::InferOutputTensor;
    use attache::loadgen::kserve::proto::{
        InferTensorContents, ModelInferRequest, ModelInferResponse, ServerReadyRequest,
        ServerReadyResponse,
    };
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tonic::{Request, Response, Status};

    use super::{CORPUS, LABELS};

    /// What the fake was sent.
    #[derive(Default)]
    pub struct Seen {
        pub ready_calls: AtomicU64,
        pub requests: AtomicU64,
        pub docs: AtomicU64,
        /// Requests refused as malformed (not counted above).
        pub malformed: AtomicU64,
        /// Every document text, in arrival order.
        pub texts: Mutex<Vec<String>>,
    }

    struct Fake {
        model: &'static str,
        seen: Arc<Seen>,
    }

    impl Fake {
        fn check(&self, r: &ModelInferRequest) -> Result<Vec<String>, Status> {
            if r.model_name != self.model {
                // MLServer's answer for an unknown model.
                return Err(Status::not_found(format!("model {}", r.model_name)));
            }
            let bad = |m: &str| Err(Status::invalid_argument(m.to_owned()));
            let [t] = &r.inputs[..] else {
                return bad("want exactly one input tensor");
            };
            if t.name != "text" || t.datatype != "BYTES" {
                return bad("want a BYTES tensor named text");
            }
            let content_type = t
                .parameters
                .get("content_type")
                .and_then(|p| p.parameter_choice.clone());
            if content_type != Some(ParameterChoice::StringParam("str".into())) {
                return bad("want content_type \"str\"");
            }
            let docs = t
                .contents
                .as_ref()
                .map_or(&[][..], |c| &c.bytes_contents[..]);
            if docs.is_empty() || t.shape != [docs.len() as i64] {
                return bad("shape does not match the documents");
            }
            docs.iter()
                .map(|d| {
                    String::from_utf8(d.clone()).map_err(|_| Status::invalid_argument("not UTF-8"))
                })
                .collect()
        }
    }

    #[tonic::async_trait]
    impl GrpcInferenceService for Fake {
        async fn server_ready(
            &self,
            _: Request<ServerReadyRequest>,
        ) -> Result<Response<ServerReadyResponse>, Status> {
            self.seen.ready_calls.fetch_add(1, Ordering::Relaxed);
            Ok(Response::new(ServerReadyResponse { ready: true }))
        }

        async fn model_infer(
            &self,
            request: Request<ModelInferRequest>,
        ) -> Result<Response<ModelInferResponse>, Status> {
            let texts = self.check(request.get_ref()).inspect_err(|s| {
                if s.code() == tonic::Code::InvalidArgument {
                    self.seen.malformed.fetch_add(1, Ordering::Relaxed);
                }
            })?;
            self.seen.requests.fetch_add(1, Ordering::Relaxed);
            self.seen
                .docs
                .fetch_add(texts.len() as u64, Ordering::Relaxed);
            let labels = texts
                .iter()
                .map(|t| {
                    let i = CORPUS.iter().find(|d| d.0 == t).map_or(0, |d| d.1);
                    LABELS[i].as_bytes().to_vec()
                })
                .collect::<Vec<_>>();
            self.seen.texts.lock().unwrap().extend(texts);
            Ok(Response::new(ModelInferResponse {
                model_name: self.model.into(),
                outputs: vec![InferOutputTensor {
                    name: "predict".into(),
                    datatype: "BYTES".into(),
                    shape: vec![labels.len() as i64],
                    contents: Some(InferTensorContents {
                        bytes_contents: labels,
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }))
        }
    }

    /// Serves the fake for `model` on 127.0.0.1:0 until the sender fires or is dropped.
    pub async fn serve(
        model: &'static str,
    ) -> (std::net::SocketAddr, Arc<Seen>, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let service = GrpcInferenceServiceServer::new(Fake {
            model,
            seen: seen.clone(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        (addr, seen, stop)
    }
}

/// Runs the binary off the runtime's threads (it blocks until the child exits).
async fn bench_json(args: Vec<String>) -> serde_json::Value {
    let shown = args.join(" ");
    let out = tokio::task::spawn_blocking(move || attache().args(&args).output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{shown}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn args(list: &[&str], data: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.push("--data".into());
    v.push(data.display().to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kserve_v2_unary_and_batch_send_what_the_report_counts() {
    use std::sync::atomic::Ordering::Relaxed;
    let f = fixture();
    let (addr, seen, _stop) = fake_kserve::serve("nb-fake").await;
    let addr = addr.to_string();
    let kserve = [
        "--protocol",
        "kserve-v2",
        "--model-name",
        "nb-fake",
        "--json",
    ];

    // Unary, one caller: the documents go out in file order, cycling, the warm-up first
    // from the start of the file, then the measured run from the start again (as for attache).
    let mut a = args(
        &["bench", "unary", "--addr", &addr, "--concurrency", "1"],
        &f.data,
    );
    a.extend(kserve.map(String::from));
    a.extend(["--requests", "9", "--warmup", "2", "--wait-ready", "5s"].map(String::from));
    let r = bench_json(a).await;
    assert_eq!(
        (&r["protocol"], &r["model_name"], &r["mode"]),
        (&"kserve-v2".into(), &"nb-fake".into(), &"unary".into())
    );
    assert_eq!(
        (&r["requests"], &r["docs"], &r["errors"]),
        (&9.into(), &9.into(), &0.into())
    );
    assert_eq!(r["accuracy"], 1.0);
    assert!(seen.ready_calls.load(Relaxed) >= 1);
    assert_eq!(
        (seen.requests.load(Relaxed), seen.docs.load(Relaxed)),
        (11, 11)
    );
    let want: Vec<&str> = (0..2)
        .chain(0..9)
        .map(|i| CORPUS[i % CORPUS.len()].0)
        .collect();
    assert_eq!(*seen.texts.lock().unwrap(), want);

    // Batch, several callers on two connections: one tensor of 4 documents per call.
    let mut a = args(
        &["bench", "batch", "--addr", &addr, "--batch", "4"],
        &f.data,
    );
    a.extend(kserve.map(String::from));
    a.extend(
        [
            "--concurrency",
            "3",
            "--connections",
            "2",
            "--requests",
            "10",
            "--warmup",
            "3",
        ]
        .map(String::from),
    );
    let r = bench_json(a).await;
    assert_eq!(
        (&r["requests"], &r["docs"], &r["errors"]),
        (&10.into(), &40.into(), &0.into())
    );
    assert_eq!((&r["mode"], &r["batch"]), (&"batch".into(), &4.into()));
    assert_eq!(r["accuracy"], 1.0);
    assert_eq!(
        (seen.requests.load(Relaxed), seen.docs.load(Relaxed)),
        (11 + 13, 11 + 52)
    );
    assert_eq!(seen.malformed.load(Relaxed), 0);

    // Another model name (here the default, the MLServer peer's): every call fails, each
    // counted by its status code.
    let mut a = args(
        &["bench", "unary", "--addr", &addr, "--protocol", "kserve-v2"],
        &f.data,
    );
    a.extend(["--requests", "5", "--warmup", "0", "--json"].map(String::from));
    let r = bench_json(a).await;
    assert_eq!((&r["requests"], &r["errors"]), (&0.into(), &5.into()));
    assert_eq!(r["error_codes"]["NOT_FOUND"], 5);
    assert_eq!(r["model_name"], "sklearn-nb");
}

#[test]
fn kserve_v2_refuses_stream_and_attache_refuses_kserve_flags_and_wait_ready_gives_up() {
    let f = fixture();
    let stream = [
        "bench",
        "stream",
        "--protocol",
        "kserve-v2",
        "--addr",
        "127.0.0.1:1",
    ];
    let stderr = refused(&stream, &f.data);
    assert!(
        stderr.contains("--protocol") && stderr.contains("no per-document stream"),
        "{stderr}"
    );
    assert!(stderr.contains("only unary ModelInfer"), "{stderr}");

    let unary = [
        "bench",
        "unary",
        "--model-name",
        "x",
        "--addr",
        "127.0.0.1:1",
    ];
    let stderr = refused(&unary, &f.data);
    assert!(stderr.contains("kserve-v2 only"), "{stderr}");

    // --wait-ready gives up, saying so, when nothing answers in time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("--addr=127.0.0.1:{port}");
    let wait = [
        "bench",
        "unary",
        "--protocol",
        "kserve-v2",
        "--wait-ready",
        "300ms",
        &addr,
    ];
    let stderr = refused(&wait, &f.data);
    assert!(stderr.contains("not ready after 300ms"), "{stderr}");

    // The library refuses the plan too, naming the flag.
    let p = Plan {
        protocol: loadgen::Protocol::KserveV2(loadgen::KserveTarget {
            model: "m".into(),
            wait_ready: Duration::ZERO,
        }),
        ..plan(
            "127.0.0.1:1".parse().unwrap(),
            Mode::Stream { in_flight: 1 },
            1,
        )
    };
    let err = p.validate().unwrap_err().to_string();
    assert!(err.starts_with("invalid --protocol: "), "{err}");
}
