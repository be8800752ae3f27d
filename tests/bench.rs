//! Specifications of `attache bench`: the gRPC load generator against a real server in this
//! process on 127.0.0.1:0, the loopback-only rule, and the in-process measurement.

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

#[test]
fn the_binary_refuses_a_non_loopback_address_with_exit_2() {
    let f = fixture();
    for addr in ["10.1.2.3:50051", "example.com:50051", "0.0.0.0:50051"] {
        let out = attache()
            .args(["bench", "unary", "--addr", addr, "--data"])
            .arg(&f.data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not a loopback address") && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
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
