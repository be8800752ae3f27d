//! Fixtures for the server tests: tiny trained models, an in-process server on 127.0.0.1:0,
//! clients, the spawned `attache` binary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use attache::model::{LabelInfo, Model, ModelConfig, TrainSpec};
use attache::proto::classifier_client::ClassifierClient;
use attache::proto::model_admin_client::ModelAdminClient;
use attache::proto::ClassifyRequest;
use attache::server::{ModelHandle, ModelSource, Server, ServerConfig, ServerError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

pub const LABELS: [&str; 3] = ["trade", "security", "culture"];

const CORPUS: &[(&str, usize)] = &[
    (
        "The trade ministers agreed to cut tariffs on steel and grain exports.",
        0,
    ),
    (
        "Exports of soybeans rose after the tariff agreement between the two economies.",
        0,
    ),
    (
        "Negotiators signed a free trade agreement lowering import duties on cars.",
        0,
    ),
    (
        "The customs union will remove tariffs and quotas on agricultural goods.",
        0,
    ),
    (
        "Import quotas for textiles were raised in the new commercial treaty.",
        0,
    ),
    (
        "A trade deficit widened as exports of machinery fell and imports of oil grew.",
        0,
    ),
    (
        "Troops were deployed to the border after the missile test and armed clashes.",
        1,
    ),
    (
        "The defence ministers discussed military exercises and naval patrols.",
        1,
    ),
    (
        "A ceasefire was broken when artillery shelled positions near the frontier.",
        1,
    ),
    (
        "The alliance condemned the missile launch and raised its military readiness.",
        1,
    ),
    (
        "Soldiers and tanks massed near the border as the army mobilised reservists.",
        1,
    ),
    (
        "Naval warships escorted tankers through the strait amid military tension.",
        1,
    ),
    (
        "The museum opened an exhibition of paintings lent by the national gallery.",
        2,
    ),
    (
        "An orchestra toured the capital, performing symphonies and folk music.",
        2,
    ),
    (
        "The film festival celebrated cinema, poetry and theatre from both countries.",
        2,
    ),
    (
        "Students joined a cultural exchange of language courses and art workshops.",
        2,
    ),
    (
        "The ballet company and a choir performed at the cultural heritage festival.",
        2,
    ),
    (
        "Writers and painters met at the book fair to celebrate literature and art.",
        2,
    ),
];

/// A document about trade, to classify.
pub const TRADE_TEXT: &str = "Ministers negotiated tariffs and export quotas in a trade agreement.";

/// A model trained on the tiny corpus, with `version`; versions differ in their bytes.
pub fn train(version: &str) -> Model {
    train_with(version, ModelConfig::default())
}

/// A model trained on the tiny corpus with `config` (a different configuration gives
/// different scores, not only a different version).
pub fn train_with(version: &str, config: ModelConfig) -> Model {
    let texts: Vec<&str> = CORPUS.iter().map(|d| d.0).collect();
    let labels: Vec<Vec<usize>> = CORPUS.iter().map(|d| vec![d.1]).collect();
    let spec = TrainSpec {
        id: "test-news".into(),
        version: version.into(),
        labels: LABELS
            .iter()
            .map(|l| LabelInfo {
                name: (*l).into(),
                description: format!("{l} news"),
            })
            .collect(),
    };
    Model::train(spec, config, &texts, &labels).expect("the tiny corpus trains")
}

/// Model files (bytes) of versions "1" and "2", trained once per test binary.
fn model_bytes() -> &'static (Vec<u8>, Vec<u8>) {
    static BYTES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    BYTES.get_or_init(|| (train("1").to_bytes(), train("2").to_bytes()))
}

/// A model directory: `v1.attache`, `v2.attache`, `bad.attache` (a truncated model file).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub v1: PathBuf,
    pub v2: PathBuf,
    pub bad: PathBuf,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let (v1_bytes, v2_bytes) = model_bytes();
    let (v1, v2, bad) = (
        root.join("v1.attache"),
        root.join("v2.attache"),
        root.join("bad.attache"),
    );
    std::fs::write(&v1, v1_bytes).unwrap();
    std::fs::write(&v2, v2_bytes).unwrap();
    std::fs::write(&bad, &v1_bytes[..v1_bytes.len() / 2]).unwrap();
    Fixture { dir, v1, v2, bad }
}

impl Fixture {
    /// A server configuration whose model directory is this fixture's.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            model_dir: Some(self.dir.path().to_owned()),
            ..ServerConfig::default()
        }
    }
}

/// A document request.
pub fn doc(id: &str, text: &str) -> ClassifyRequest {
    ClassifyRequest {
        id: id.into(),
        text: text.into(),
        ..Default::default()
    }
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub models: Arc<ModelHandle>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Serves the model file `model` with `config` on 127.0.0.1:0.
    pub async fn start(config: ServerConfig, model: &Path) -> TestServer {
        Self::start_with(config, model, None).await
    }

    /// Same, over TLS when `tls` is given.
    pub async fn start_with(
        mut config: ServerConfig,
        model: &Path,
        tls: Option<attache::server::TlsIdentity>,
    ) -> TestServer {
        config.tls = tls;
        let source = ModelSource::File(std::fs::canonicalize(model).unwrap());
        let server = Server::new(config, Model::load(model).unwrap(), source).unwrap();
        let models = server.models();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, metrics_addr) = (
            listener.local_addr().unwrap(),
            metrics.local_addr().unwrap(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, Some(metrics), async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            models,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn classifier(&self) -> ClassifierClient<Channel> {
        ClassifierClient::new(self.channel().await)
    }

    pub async fn admin(&self) -> ModelAdminClient<Channel> {
        ModelAdminClient::new(self.channel().await)
    }

    pub async fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel().await)
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        let (status, body) = http_get(self.metrics_addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Begins shutdown (as SIGTERM would).
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Begins shutdown if not yet begun and waits (bounded) for `serve` to return.
    pub async fn stopped(mut self) -> Result<(), ServerError> {
        self.shutdown();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("the server stops within its grace period")
            .expect("the server task does not panic")
    }
}

/// A plain HTTP/1.1 GET: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The value of the sample `name` (with its labels, exactly as rendered) on a metrics page.
pub fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The `attache` binary.
pub fn attache() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_attache"));
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("ATTACHE_") {
            c.env_remove(k);
        }
    }
    c
}

/// `attache serve` running as a child process.
pub struct Spawned {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
    pub stderr_seen: Vec<String>,
}

impl Spawned {
    /// Starts `attache serve ARGS` with JSON logs and waits for its readiness line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Spawned {
        let mut child = attache()
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
            .args(["--log-format", "json"])
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut spawned = Spawned {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            metrics_addr: "0.0.0.0:0".parse().unwrap(),
            stderr,
            stderr_seen: Vec::new(),
        };
        // attache listening on 127.0.0.1:PORT metrics on 127.0.0.1:PORT
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 7
            || words[..3] != ["attache", "listening", "on"]
            || words[4..6] != ["metrics", "on"]
        {
            spawned.drain_stderr(Duration::from_millis(500));
            panic!(
                "unexpected readiness line {line:?}; stderr:\n{}",
                spawned.stderr_seen.join("\n")
            );
        }
        spawned.addr = words[3].parse().unwrap();
        spawned.metrics_addr = words[6].parse().unwrap();
        spawned
    }

    /// The resident set size of the server process, in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server process is alive");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// Sends a signal (`TERM`, `HUP`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for a stderr line containing `needle`, keeping every line seen.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?}; stderr:\n{}",
                    self.stderr_seen.join("\n")
                ),
            }
        }
    }

    /// Collects the stderr lines that arrive within `wait` (or until stderr closes).
    pub fn drain_stderr(&mut self, wait: Duration) {
        while let Ok(line) = self.stderr.recv_timeout(wait) {
            self.stderr_seen.push(line);
        }
    }

    /// Waits (bounded) for the process to exit: its stderr closing is the signal.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.stderr_seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "attache serve did not exit; stderr:\n{}",
                    self.stderr_seen.join("\n")
                ),
            }
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gRPC transport straight over hyper's HTTP/2 client: unlike tonic's `Channel`, it
/// starts no timer of its own for `grpc-timeout`, so the status a test sees is the server's.
pub async fn raw_channel(
    addr: SocketAddr,
) -> impl tonic::client::GrpcService<
    tonic::body::Body,
    ResponseBody = hyper::body::Incoming,
    Error = hyper::Error,
    Future: Send,
> + Clone {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    tower::service_fn(move |mut req: http::Request<tonic::body::Body>| {
        let mut sender = sender.clone();
        // tonic's generated client sends origin-form URIs; hyper's HTTP/2 needs an authority.
        let uri = format!("http://{addr}{}", req.uri().path());
        *req.uri_mut() = uri.parse().unwrap();
        async move {
            sender.ready().await?;
            sender.send_request(req).await
        }
    })
}

/// The generated classifier client over [`raw_channel`].
pub async fn raw_classifier(
    addr: SocketAddr,
) -> ClassifierClient<
    impl tonic::client::GrpcService<
            tonic::body::Body,
            ResponseBody = hyper::body::Incoming,
            Error = hyper::Error,
            Future: Send,
        > + Clone,
> {
    ClassifierClient::new(raw_channel(addr).await)
}

/// Sends `message` (protobuf bytes encoded by hand, not by the generated client) as a unary
/// call to `path` (e.g. `/attache.v1.Classifier/Classify`) with `metadata`, over
/// [`raw_channel`]; returns the raw response message bytes or the status.
pub async fn raw_unary(
    addr: SocketAddr,
    path: &'static str,
    message: Vec<u8>,
    metadata: &[(&'static str, &str)],
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(raw_channel(addr).await);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(message);
    for (k, v) in metadata {
        request.metadata_mut().insert(*k, v.parse().unwrap());
    }
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// A codec that sends and receives message bytes as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Protobuf wire format by hand: a length-delimited field (string, bytes, message).
pub fn pb_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    pb_varint(out, u64::from(field << 3 | 2));
    pb_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Protobuf wire format by hand: a varint.
pub fn pb_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
