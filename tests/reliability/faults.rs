//! Faults under load: hot reloads of good and broken models, SIGTERM, and more calls than
//! the concurrency limit. Every run is bounded in time and stays on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attache::model::{ClassifyOptions, Model, ModelConfig, NbParams};
use attache::proto::classifier_client::ClassifierClient;
use attache::proto::{ClassifyBatchRequest, ReloadModelRequest};
use attache::server::{AdminToken, ServerConfig};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::{self, doc, fixture, sample, Spawned, TestServer, TRADE_TEXT};

const TEXTS: [&str; 4] = [
    TRADE_TEXT,
    "Troops and tanks massed at the border after the missile test.",
    "The museum exhibition of paintings and the orchestra concert.",
    "Exports of steel grew while naval patrols guarded the museum ships.",
];

/// What a model answers for a text: (label, score) pairs in order, and the coverage.
type Answer = (Vec<(String, f64)>, f64);

fn answer_of(model: &Model, text: &str) -> Answer {
    let p = model.classify(text, &ClassifyOptions::default());
    let labels = p
        .labels
        .iter()
        .map(|s| (model.label_name(s.label).to_owned(), s.score))
        .collect();
    (labels, p.coverage)
}

fn answer(r: &attache::proto::ClassifyResponse) -> Answer {
    let labels = r
        .labels
        .iter()
        .map(|l| (l.label.clone(), l.score))
        .collect();
    (labels, r.coverage)
}

/// The answers of each model (by version) to each of [`TEXTS`].
fn expected(models: &[&Model]) -> BTreeMap<String, Vec<Answer>> {
    models
        .iter()
        .map(|m| {
            let answers = TEXTS.iter().map(|t| answer_of(m, t)).collect();
            (m.version().to_owned(), answers)
        })
        .collect()
}

fn reload(path: &str, token: &str) -> Request<ReloadModelRequest> {
    let mut r = Request::new(ReloadModelRequest { path: path.into() });
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// What the clients of a load run saw.
#[derive(Default)]
struct Tally {
    /// Answers by model version.
    by_version: BTreeMap<String, u64>,
    /// Calls that failed, with their status (none expected).
    failures: Vec<String>,
    /// Answers that match no model's answer for their text, or mix models in one call.
    inconsistent: Vec<String>,
}

/// `clients` callers on `channels` connections, each calling in a loop until `until`:
/// mostly Classify, every eighth call a ClassifyBatch of every text. Each answer must be
/// exactly the answer of the model version it names.
async fn load(
    addr: std::net::SocketAddr,
    clients: usize,
    channels: usize,
    until: Instant,
    expected: Arc<BTreeMap<String, Vec<Answer>>>,
) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut pool = Vec::new();
    for _ in 0..channels {
        pool.push(connect(addr).await);
    }
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let mut client = ClassifierClient::new(pool[c % channels].clone());
            let (tally, expected) = (tally.clone(), expected.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < until {
                    n += 1;
                    let check = |r: &attache::proto::ClassifyResponse, i: usize| {
                        let ok = expected
                            .get(&r.model_version)
                            .is_some_and(|answers| answers[i] == answer(r));
                        (!ok).then(|| format!("text {i}: version {} {:?}", r.model_version, r))
                    };
                    if n.is_multiple_of(8) {
                        let documents = TEXTS.iter().map(|x| doc("b", x)).collect();
                        let r = client
                            .classify_batch(ClassifyBatchRequest { documents })
                            .await;
                        let mut t = tally.lock().unwrap();
                        match r {
                            Err(s) => t.failures.push(format!("batch: {s:?}")),
                            Ok(r) => {
                                let r = r.into_inner().results;
                                let versions: BTreeSet<&str> =
                                    r.iter().map(|x| x.model_version.as_str()).collect();
                                if versions.len() != 1 {
                                    t.inconsistent.push(format!("one batch, {versions:?}"));
                                }
                                for (i, x) in r.iter().enumerate() {
                                    if let Some(e) = check(x, i) {
                                        t.inconsistent.push(e);
                                    }
                                }
                                *t.by_version.entry(r[0].model_version.clone()).or_default() += 1;
                            }
                        }
                    } else {
                        let i = (n + c) % TEXTS.len();
                        let r = client.classify(doc("u", TEXTS[i])).await;
                        let mut t = tally.lock().unwrap();
                        match r {
                            Err(s) => t.failures.push(format!("classify: {s:?}")),
                            Ok(r) => {
                                let r = r.into_inner();
                                if let Some(e) = check(&r, i) {
                                    t.inconsistent.push(e);
                                }
                                *t.by_version.entry(r.model_version).or_default() += 1;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(tally)
        .ok()
        .expect("every client is done")
        .into_inner()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_for_ten_seconds_are_each_answered_by_exactly_one_of_two_models_reloaded_every_100_ms(
) {
    let _heavy = crate::HEAVY.lock().await;
    let f = fixture();
    // Same corpus, other smoothing: every text scores differently under the two models.
    let config = ModelConfig {
        model: NbParams::new().alpha(0.05),
        ..ModelConfig::default()
    };
    let b_path = f.dir.path().join("b.attache");
    support::train_with("b", config).save(&b_path).unwrap();
    let (a, b) = (Model::load(&f.v1).unwrap(), Model::load(&b_path).unwrap());
    let expected = Arc::new(expected(&[&a, &b]));
    for i in 0..TEXTS.len() {
        assert_ne!(expected["1"][i], expected["b"][i], "text {i}");
    }

    let config = ServerConfig {
        admin_token: AdminToken::new("t"),
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let until = Instant::now() + Duration::from_secs(10);
    let clients = tokio::spawn(load(server.addr, 32, 8, until, expected));

    let mut admin = server.admin().await;
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reloads = 0u32;
    while Instant::now() < until {
        every.tick().await;
        let next = if reloads.is_multiple_of(2) {
            "b.attache"
        } else {
            "v1.attache"
        };
        let info = admin
            .reload_model(reload(next, "t"))
            .await
            .expect("every reload of a good model succeeds under load")
            .into_inner();
        assert_eq!(
            info.model_version,
            if reloads.is_multiple_of(2) { "b" } else { "1" }
        );
        reloads += 1;
    }
    let tally = clients.await.unwrap();
    let answered: u64 = tally.by_version.values().sum();
    eprintln!(
        "{answered} calls answered in 10 s ({:?}), {reloads} reloads",
        tally.by_version
    );
    assert!(tally.failures.is_empty(), "{:?}", &tally.failures[..]);
    assert!(
        tally.inconsistent.is_empty(),
        "{:?}",
        &tally.inconsistent[..]
    );
    assert_eq!(
        tally.by_version.keys().collect::<Vec<_>>(),
        ["1", "b"],
        "both models answered, and nothing else"
    );
    assert!(reloads >= 50, "{reloads} reloads in 10 s");
    assert!(answered >= 1000, "{answered} calls in 10 s");
    let page = server.metrics().await;
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="ok"}"#),
        Some(f64::from(reloads))
    );
    server.stopped().await.unwrap();
}

/// Model files that must all be refused: (name, bytes).
fn broken_models(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    const HEADER: usize = 8 + 4 + 8 + 32;
    let reseal = |mut bytes: Vec<u8>| {
        let payload_len = (bytes.len() - HEADER) as u64;
        bytes[12..20].copy_from_slice(&payload_len.to_le_bytes());
        let digest = Sha256::digest(&bytes[HEADER..]);
        bytes[20..52].copy_from_slice(&digest);
        bytes
    };
    let mut flipped = good.to_vec();
    let mid = HEADER + (good.len() - HEADER) / 2;
    flipped[mid] ^= 0x55;
    let mut garbage = good[..HEADER].to_vec();
    garbage.extend((0..good.len() - HEADER).map(|i| (i * 7919 % 251) as u8));
    let mut future = good.to_vec();
    future[8..12].copy_from_slice(&2u32.to_le_bytes());
    let mut trailing = good.to_vec();
    trailing.extend_from_slice(b"tail");
    vec![
        ("empty.attache", Vec::new()),
        ("truncated.attache", good[..good.len() / 2].to_vec()),
        ("header-only.attache", good[..HEADER].to_vec()),
        ("magic.attache", {
            let mut m = good.to_vec();
            m[0] = b'X';
            m
        }),
        ("future.attache", future),
        ("trailing.attache", trailing),
        ("flipped.attache", flipped),
        // Valid checksums over corrupted payloads: the decoder and validation must refuse.
        // (A flipped byte inside a string or a count can make another valid model, so the
        // corruption is structural: a length prefix, or the payload's tail.)
        ("resealed-length.attache", {
            let mut m = good.to_vec();
            m[HEADER] = 0xff;
            reseal(m)
        }),
        ("resealed-garbage.attache", reseal(garbage)),
        (
            "resealed-cut.attache",
            reseal(good[..good.len() - 9].to_vec()),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_corrupted_models_are_refused_under_load_while_the_old_one_keeps_answering() {
    let _heavy = crate::HEAVY.lock().await;
    let f = fixture();
    let good = std::fs::read(&f.v1).unwrap();
    let broken = broken_models(&good);
    for (name, bytes) in &broken {
        std::fs::write(f.dir.path().join(name), bytes).unwrap();
    }
    let a = Model::load(&f.v1).unwrap();
    let expected = Arc::new(expected(&[&a]));
    let config = ServerConfig {
        admin_token: AdminToken::new("t"),
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let until = Instant::now() + Duration::from_secs(2);
    let clients = tokio::spawn(load(server.addr, 16, 4, until, expected));
    let mut admin = server.admin().await;
    let mut refused = 0;
    for round in 0.. {
        if round >= 2 && Instant::now() >= until {
            break;
        }
        for (name, _) in &broken {
            let s = admin.reload_model(reload(name, "t")).await.unwrap_err();
            assert_eq!(s.code(), Code::FailedPrecondition, "{name}: {s:?}");
            refused += 1;
        }
    }
    let tally = clients.await.unwrap();
    eprintln!(
        "{refused} broken reloads refused; {} calls answered ({:?}), {} failed",
        tally.by_version.values().sum::<u64>(),
        tally.by_version,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{:?}", &tally.failures[..]);
    assert!(
        tally.inconsistent.is_empty(),
        "{:?}",
        &tally.inconsistent[..]
    );
    assert_eq!(tally.by_version.keys().collect::<Vec<_>>(), ["1"]);
    let page = server.metrics().await;
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="failed"}"#),
        Some(f64::from(refused))
    );
    let mut health = server.health().await;
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    server.stopped().await.unwrap();
}

/// One call of a load run, as its client saw it.
#[derive(Clone, Copy, Debug)]
struct Call {
    started: Instant,
    ended: Instant,
    code: Code,
    /// Failed in the client's transport before the server saw it (see [`never_sent`]).
    unsent: bool,
}

/// Whether a failed call never reached the server: the client's connection was closing after
/// the server's graceful GOAWAY. HTTP/2 says streams the GOAWAY does not cover were not
/// processed (safe to retry); tonic reports them as INTERNAL ("h2 protocol error", GOAWAY with
/// NO_ERROR from the remote) or CANCELLED (hyper's "connection closed" before dispatch),
/// where other gRPC clients say UNAVAILABLE. The server's own answers are never these.
fn never_sent(status: &tonic::Status) -> bool {
    let Some(hyper) = std::error::Error::source(status)
        .and_then(|e| e.downcast_ref::<tonic::transport::Error>())
        .and_then(std::error::Error::source)
        .and_then(|e| e.downcast_ref::<hyper::Error>())
    else {
        return false;
    };
    let h2 = std::error::Error::source(hyper).map(|e| format!("{e:?}"));
    hyper.is_canceled()
        || h2.is_some_and(|d| {
            d.contains("GoAway(") && d.contains("NO_ERROR") && d.contains("Remote")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_turns_health_not_serving_finishes_calls_in_flight_and_exits_zero() {
    let _heavy = crate::HEAVY.lock().await;
    let f = fixture();
    let grace = Duration::from_secs(8);
    let mut server = tokio::task::block_in_place(|| {
        Spawned::start(
            &[
                "--model",
                f.v1.to_str().unwrap(),
                "--grace-period",
                "8s",
                "--max-text-bytes",
                "4194304",
            ],
            &[],
        )
    });
    let addr = server.addr;
    let mut watch = HealthClient::new(connect(addr).await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );

    // Sizeable documents, so that calls are in flight at any moment.
    let big = Arc::new(TRADE_TEXT.repeat((256 << 10) / TRADE_TEXT.len()));
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let stop_at = Arc::new(Mutex::new(None::<Instant>));
    let mut tasks = Vec::new();
    for c in 0..16 {
        let channel = connect(addr).await;
        let (big, calls, stop_at) = (big.clone(), calls.clone(), stop_at.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = ClassifierClient::new(channel);
            loop {
                if stop_at.lock().unwrap().is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                let started = Instant::now();
                let r = client.classify(doc(&c.to_string(), &big)).await;
                let unsent = r.as_ref().is_err_and(never_sent);
                let code = r.map_or_else(|s| s.code(), |_| Code::Ok);
                let ended = Instant::now();
                calls.lock().unwrap().push(Call {
                    started,
                    ended,
                    code,
                    unsent,
                });
            }
        }));
    }
    // A stream open across the signal: it may go on within the grace period.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = ClassifierClient::new(connect(addr).await)
        .classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(doc("s-before", TRADE_TEXT)).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());

    // Steady load first.
    while calls.lock().unwrap().len() < 48 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = Instant::now();
    server.signal("TERM");
    let update = tokio::time::timeout(Duration::from_secs(2), watch.next())
        .await
        .expect("health changes at once")
        .unwrap()
        .unwrap();
    let not_serving = Instant::now();
    assert_eq!(update.status, ServingStatus::NotServing as i32);
    // The open stream still answers.
    tx.send(doc("s-during", TRADE_TEXT)).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().id, "s-during");

    *stop_at.lock().unwrap() = Some(not_serving + Duration::from_millis(500));
    for t in tasks {
        t.await.unwrap();
    }
    // Only now does the stream close (cleanly): while it was open the server was still
    // draining, so every call above was answered by it. Once the last stream ends the server
    // closes its connections, and a call racing that teardown fails in the client's transport
    // (CANCELLED, UNKNOWN or INTERNAL, depending on where its request was), which says nothing
    // about what the server answers.
    drop(tx);
    assert!(stream.next().await.is_none());
    let status = tokio::task::block_in_place(|| server.wait_exit());
    let exited = Instant::now();
    assert_eq!(status.code(), Some(0));
    assert!(
        exited - term < grace,
        "exited {:?} after SIGTERM, grace period {grace:?}",
        exited - term
    );
    assert!(
        not_serving - term < Duration::from_millis(500),
        "NOT_SERVING {:?} after SIGTERM",
        not_serving - term
    );

    let calls = calls.lock().unwrap().clone();
    let unsent = calls.iter().filter(|c| c.unsent).count();
    let sent: Vec<&Call> = calls.iter().filter(|c| !c.unsent).collect();
    let before: Vec<&Call> = sent.iter().copied().filter(|c| c.started < term).collect();
    let in_flight = before.iter().filter(|c| c.ended > term).count();
    let after: Vec<&Call> = sent
        .iter()
        .copied()
        .filter(|c| c.started > not_serving)
        .collect();
    let between: BTreeSet<String> = sent
        .iter()
        .filter(|c| c.started >= term && c.started <= not_serving)
        .map(|c| format!("{:?}", c.code))
        .collect();
    eprintln!(
        "{} calls before SIGTERM ({in_flight} in flight at the signal), {} after NOT_SERVING; \
         between: {between:?}; {unsent} never sent (GOAWAY race); NOT_SERVING after {:?}, \
         exit after {:?}",
        before.len(),
        after.len(),
        not_serving - term,
        exited - term
    );
    assert!(
        unsent * 100 <= calls.len(),
        "{unsent} of {} calls lost to the GOAWAY race",
        calls.len()
    );
    assert!(in_flight >= 4, "{in_flight} calls in flight at SIGTERM");
    for c in &before {
        assert_eq!(c.code, Code::Ok, "a call in flight at SIGTERM: {c:?}");
    }
    // New calls are refused: the server stops accepting connections and sends GOAWAY on the
    // open ones, so the client's channel reports UNAVAILABLE.
    assert!(!after.is_empty());
    for c in &after {
        assert_eq!(
            c.code,
            Code::Unavailable,
            "a new call after NOT_SERVING: {c:?}"
        );
    }
    assert!(between.is_subset(&BTreeSet::from(["Ok".into(), "Unavailable".into()])));
    let logs = server.stderr_seen.join("\n");
    assert!(logs.contains("shutting down") && logs.contains("server stopped"));
}

/// Quantile `q` of `v` (sorted in place); `Duration::MAX` for no values.
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort_unstable();
    if v.is_empty() {
        return Duration::MAX;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// What one overload phase saw: every call, and the server's RSS every 100 ms.
struct Overload {
    calls: Vec<Call>,
    rss_kib: Vec<u64>,
    start: Instant,
    run: Duration,
}

impl Overload {
    /// Latencies of the calls with `code` that started within `[from, to)` of the phase.
    fn latencies(&self, code: Code, from: Duration, to: Duration) -> Vec<Duration> {
        self.calls
            .iter()
            .filter(|c| {
                c.code == code && c.started >= self.start + from && c.started < self.start + to
            })
            .map(|c| c.ended - c.started)
            .collect()
    }

    fn codes(&self) -> BTreeSet<String> {
        self.calls.iter().map(|c| format!("{:?}", c.code)).collect()
    }
}

/// 64 callers over 4 connections (16 streams each: calls arrive together, as from a busy
/// client or a proxy), each calling Classify with `text` in a loop for `run`.
async fn overload(server: &Spawned, text: String, run: Duration) -> Overload {
    let text = Arc::new(text);
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let mut pool = Vec::new();
    for _ in 0..4 {
        pool.push(connect(server.addr).await);
    }
    let tasks: Vec<_> = (0..64)
        .map(|c| {
            let mut client = ClassifierClient::new(pool[c % pool.len()].clone());
            let (text, calls) = (text.clone(), calls.clone());
            tokio::spawn(async move {
                while start.elapsed() < run {
                    let started = Instant::now();
                    let r = client.classify(doc(&c.to_string(), &text)).await;
                    let ended = Instant::now();
                    let unsent = r.as_ref().is_err_and(never_sent);
                    let code = r.map_or_else(|s| s.code(), |_| Code::Ok);
                    calls.lock().unwrap().push(Call {
                        started,
                        ended,
                        code,
                        unsent,
                    });
                }
            })
        })
        .collect();
    let mut rss_kib = Vec::new();
    while start.elapsed() < run {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_kib.push(server.rss_kib());
    }
    for t in tasks {
        t.await.unwrap();
    }
    let calls = calls.lock().unwrap().clone();
    Overload {
        calls,
        rss_kib,
        start,
        run,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_calls_are_shed_at_once_and_memory_stays_bounded() {
    let _heavy = crate::HEAVY.lock().await;
    let f = fixture();
    let server = tokio::task::block_in_place(|| {
        Spawned::start(
            &["--model", f.v1.to_str().unwrap(), "--max-concurrency", "4"],
            &[],
        )
    });
    let second = Duration::from_secs(1);

    // Documents of 96 KiB are classified on the blocking pool, so calls overlap: at most 4
    // run, the rest are refused.
    let big = overload(
        &server,
        TRADE_TEXT.repeat((96 << 10) / TRADE_TEXT.len()),
        Duration::from_secs(3),
    )
    .await;
    let mut shed = big.latencies(Code::ResourceExhausted, Duration::ZERO, big.run);
    let mut ok = big.latencies(Code::Ok, Duration::ZERO, big.run);
    let mut ok_first = big.latencies(Code::Ok, Duration::ZERO, second);
    let mut ok_last = big.latencies(Code::Ok, big.run - second, big.run);
    // Warm-up: the first second.
    let warm = big.rss_kib[9];
    let peak = *big.rss_kib.iter().max().unwrap();
    eprintln!(
        "96 KiB documents: {} calls, {} OK, {} shed; shed p50 {:?} p99 {:?}; OK p50 {:?} \
         (first second {:?}, last {:?}); RSS after 1 s {warm} KiB, peak {peak} KiB",
        big.calls.len(),
        ok.len(),
        shed.len(),
        quantile(&mut shed, 0.5),
        quantile(&mut shed, 0.99),
        quantile(&mut ok, 0.5),
        quantile(&mut ok_first, 0.5),
        quantile(&mut ok_last, 0.5),
    );
    assert_eq!(
        big.codes(),
        BTreeSet::from(["Ok".into(), "ResourceExhausted".into()])
    );
    assert!(ok.len() >= 50 && shed.len() >= ok.len());
    // Refused at once: faster than the work, and never waiting behind it.
    assert!(quantile(&mut shed, 0.5) < quantile(&mut ok, 0.5));
    assert!(quantile(&mut shed, 0.99) < Duration::from_millis(250));
    // No queue builds up: the last second's calls take no longer than the first second's.
    assert!(quantile(&mut ok_last, 0.5) <= quantile(&mut ok_first, 0.5) * 2 + 20 * ONE_MS);

    // Small documents are classified inline on the async workers: one call per worker
    // runs at a time, the others wait in the connections (socket buffers and HTTP/2 flow
    // control), not in the server's memory. Calls that arrive together past the limit are
    // refused; nothing else fails, and latency does not grow.
    let small = overload(
        &server,
        TRADE_TEXT.repeat((16 << 10) / TRADE_TEXT.len()),
        Duration::from_secs(2),
    )
    .await;
    let mut first = small.latencies(Code::Ok, Duration::ZERO, second);
    let mut last = small.latencies(Code::Ok, second, small.run);
    let shed_small = small.latencies(Code::ResourceExhausted, Duration::ZERO, small.run);
    let end_peak = *small.rss_kib.iter().max().unwrap();
    eprintln!(
        "16 KiB documents: {} calls, {} shed; OK p50 first second {:?}, second {:?}; \
         RSS peak {end_peak} KiB",
        small.calls.len(),
        shed_small.len(),
        quantile(&mut first, 0.5),
        quantile(&mut last, 0.5),
    );
    assert!(small
        .codes()
        .is_subset(&BTreeSet::from(["Ok".into(), "ResourceExhausted".into()])));
    assert!(first.len() >= 100, "{} calls", first.len());
    assert!(quantile(&mut last, 0.5) <= quantile(&mut first, 0.5) * 2 + 20 * ONE_MS);

    // Memory: flat after warm-up, and small, through both phases.
    assert!(
        peak.max(end_peak) < warm + 32 * 1024,
        "RSS {warm} KiB -> peak {} KiB",
        peak.max(end_peak)
    );
    assert!(peak.max(end_peak) < 256 * 1024);
    let page = support::http_get(server.metrics_addr, "/metrics").await.1;
    assert_eq!(sample(&page, "attache_requests_in_flight"), Some(0.0));
}

const ONE_MS: Duration = Duration::from_millis(1);
