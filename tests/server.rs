//! Specifications of `attache serve`: every RPC, every status code of the contract, health,
//! reflection, metrics, hot reload, the admin token, TLS, graceful shutdown, signals and
//! `attache health`. Servers run in-process on 127.0.0.1:0 unless the test is about the
//! binary itself.

// Shared with tests/reliability.rs, which uses parts this file does not.
#[allow(dead_code)]
#[path = "server/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use attache::proto::{
    ClassifyBatchRequest, ClassifyRequest, GetModelInfoRequest, ReloadModelRequest,
};
use attache::server::{AdminToken, Limits, ServerConfig};
use support::{doc, fixture, sample, Spawned, TestServer, TRADE_TEXT};
use tokio_stream::StreamExt;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::HealthCheckRequest;

fn admin_config(f: &support::Fixture, token: &str) -> ServerConfig {
    ServerConfig {
        admin_token: AdminToken::new(token),
        ..f.config()
    }
}

fn reload(path: &str, token: Option<&str>) -> Request<ReloadModelRequest> {
    let mut r = Request::new(ReloadModelRequest { path: path.into() });
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

async fn health_of(server: &TestServer, service: &str) -> Result<ServingStatus, tonic::Status> {
    let r = server
        .health()
        .await
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await?;
    Ok(ServingStatus::try_from(r.into_inner().status).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_returns_sorted_scores_assigned_labels_and_the_model_version() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;

    let r = client.classify(doc("a1", TRADE_TEXT)).await.unwrap();
    assert!(r.metadata().get("x-request-id").is_some());
    let r = r.into_inner();
    assert_eq!(r.id, "a1");
    assert_eq!(
        (r.model_id.as_str(), r.model_version.as_str()),
        ("test-news", "1")
    );
    assert_eq!(r.labels.len(), 3);
    assert!(r.labels.windows(2).all(|w| w[0].score >= w[1].score));
    assert!((r.labels.iter().map(|l| l.score).sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(r.labels[0].label, "trade");
    assert_eq!(r.assigned.first().map(String::as_str), Some("trade"));
    assert!(r.coverage > 0.0 && r.coverage <= 1.0);
    assert!(r.evidence.is_empty() && r.segments.is_empty());

    // top_k, evidence and segments when asked.
    let two_paragraphs = format!("{TRADE_TEXT}\n\nThe orchestra and the museum celebrated art.");
    let r = client
        .classify(ClassifyRequest {
            top_k: 1,
            explain: true,
            explain_terms: 2,
            segments: true,
            ..doc("a2", &two_paragraphs)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.labels.len(), 1);
    assert_eq!(r.evidence.len(), 1);
    assert_eq!(r.evidence[0].label, r.labels[0].label);
    assert!(!r.evidence[0].terms.is_empty() && r.evidence[0].terms.len() <= 2);
    assert_eq!(r.segments.len(), 2);
    assert_eq!(
        r.segments[1].start as usize,
        two_paragraphs.find("The orchestra").unwrap()
    );
    assert_eq!(r.segments[1].assigned, ["culture"]);

    // A threshold override of 0 assigns every label.
    let r = client
        .classify(ClassifyRequest {
            threshold: Some(0.0),
            ..doc("a3", TRADE_TEXT)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.assigned.len(), 3);
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_answered_in_order_and_model_info_describes_the_model() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let documents = vec![
        doc("t", TRADE_TEXT),
        doc(
            "s",
            "Troops and tanks massed at the border after the missile test.",
        ),
        doc(
            "c",
            "The museum exhibition of paintings and the orchestra concert.",
        ),
    ];
    let r = client
        .classify_batch(ClassifyBatchRequest { documents })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(&str, &str)> = r
        .results
        .iter()
        .map(|x| (x.id.as_str(), x.labels[0].label.as_str()))
        .collect();
    assert_eq!(got, [("t", "trade"), ("s", "security"), ("c", "culture")]);

    let info = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (info.model_id.as_str(), info.model_version.as_str()),
        ("test-news", "1")
    );
    let labels: Vec<&str> = info.labels.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, support::LABELS);
    assert!(info
        .labels
        .iter()
        .all(|l| l.training_documents == 6 && l.threshold == 0.5));
    assert_eq!(info.kind, "multinomial");
    assert!(info.vocabulary_size > 50);
    assert_eq!(info.checksum.len(), 64);
    assert_eq!(info.path, f.v1.display().to_string());
    assert_eq!(info.training_documents, 18);
    assert!(serde_json::from_str::<serde_json::Value>(&info.config_json).is_ok());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_answers_each_document_in_order_and_ends_at_the_first_bad_one() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let requests = tokio_stream::iter(vec![
        doc("1", TRADE_TEXT),
        doc("2", "Naval warships and soldiers patrolled the border."),
        doc("bad-one", "   "),
        doc("4", TRADE_TEXT),
    ]);
    let mut responses = client.classify_stream(requests).await.unwrap().into_inner();
    let first = responses.next().await.unwrap().unwrap();
    let second = responses.next().await.unwrap().unwrap();
    assert_eq!((first.id.as_str(), second.id.as_str()), ("1", "2"));
    assert_eq!(second.labels[0].label, "security");
    let err = responses.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("bad-one"), "{}", err.message());
    assert!(responses.next().await.is_none());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_and_oversized_batches_are_invalid_arguments_naming_the_problem() {
    let f = fixture();
    let config = ServerConfig {
        limits: Limits {
            max_text_bytes: 1000,
            max_batch: 3,
            max_message_bytes: 0,
            ..Limits::default()
        },
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let mut client = server.classifier().await;
    fn invalid<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> String {
        let s = r.expect_err("refused");
        assert_eq!(s.code(), Code::InvalidArgument, "{}", s.message());
        s.message().to_owned()
    }
    let m = invalid(client.classify(doc("e", "")).await);
    assert!(m.contains("empty"), "{m}");
    invalid(client.classify(doc("w", " \n\t ")).await);
    let m = invalid(client.classify(doc("big", &"a".repeat(1001))).await);
    assert!(m.contains("1000 bytes") && m.contains("\"big\""), "{m}");
    assert!(client
        .classify(doc("fits", &"ab ".repeat(333)))
        .await
        .is_ok());
    let m = invalid(
        client
            .classify(ClassifyRequest {
                threshold: Some(1.5),
                ..doc("t", TRADE_TEXT)
            })
            .await,
    );
    assert!(m.contains("threshold"), "{m}");
    let four = (0..4).map(|i| doc(&i.to_string(), TRADE_TEXT)).collect();
    let m = invalid(
        client
            .classify_batch(ClassifyBatchRequest { documents: four })
            .await,
    );
    assert!(m.contains("maximum of 3"), "{m}");
    let with_bad = vec![doc("ok", TRADE_TEXT), doc("empty", "")];
    let m = invalid(
        client
            .classify_batch(ClassifyBatchRequest {
                documents: with_bad,
            })
            .await,
    );
    assert!(m.starts_with("documents[1]"), "{m}");
    // A message over the gRPC size limit (here: one maximal document plus 64 KiB) is refused
    // by tonic before it is decoded, with OUT_OF_RANGE.
    let huge = vec![
        doc("h1", &"x".repeat(40_000)),
        doc("h2", &"x".repeat(40_000)),
    ];
    let s = client
        .classify_batch(ClassifyBatchRequest { documents: huge })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::OutOfRange, "{}", s.message());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_the_concurrency_limit_are_shed_with_resource_exhausted() {
    let f = fixture();
    let config = ServerConfig {
        limits: Limits {
            max_concurrency: 1,
            ..Limits::default()
        },
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let mut client = server.classifier().await;
    // An open stream holds the only permit.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = client
        .classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(doc("s1", TRADE_TEXT)).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().id, "s1");

    let shed = client.classify(doc("u", TRADE_TEXT)).await.unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted);
    assert!(
        shed.message().contains("--max-concurrency"),
        "{}",
        shed.message()
    );
    // Health probes are never shed.
    assert_eq!(
        health_of(&server, "").await.unwrap(),
        ServingStatus::Serving
    );

    drop(tx);
    assert!(stream.next().await.is_none());
    assert!(client.classify(doc("u2", TRADE_TEXT)).await.is_ok());
    let page = server.metrics().await;
    assert_eq!(
        sample(
            &page,
            r#"attache_requests_total{method="attache.v1.Classifier/Classify",code="RESOURCE_EXHAUSTED"}"#
        ),
        Some(1.0)
    );
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_client_deadline_is_answered_with_deadline_exceeded() {
    let f = fixture();
    let config = ServerConfig {
        limits: Limits {
            max_text_bytes: 4 << 20,
            ..Limits::default()
        },
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let mut client = support::raw_classifier(server.addr).await;

    // A deadline that has already passed when the call arrives.
    let mut r = Request::new(doc("late", TRADE_TEXT));
    r.set_timeout(Duration::from_nanos(1));
    let s = client.classify(r).await.unwrap_err();
    assert_eq!(s.code(), Code::DeadlineExceeded, "{s:?}");

    // A deadline that passes while a large document is being classified.
    let big = TRADE_TEXT.repeat((3 << 20) / TRADE_TEXT.len());
    let mut r = Request::new(doc("big", &big));
    r.set_timeout(Duration::from_millis(5));
    let s = client.classify(r).await.unwrap_err();
    assert_eq!(s.code(), Code::DeadlineExceeded, "{s:?}");

    // Same for a batch, and a generous deadline changes nothing.
    let mut r = Request::new(ClassifyBatchRequest {
        documents: vec![doc("b1", &big)],
    });
    r.set_timeout(Duration::from_millis(5));
    assert_eq!(
        client.classify_batch(r).await.unwrap_err().code(),
        Code::DeadlineExceeded
    );
    let mut r = Request::new(doc("fine", TRADE_TEXT));
    r.set_timeout(Duration::from_secs(30));
    assert!(client.classify(r).await.is_ok());

    let page = server.metrics().await;
    assert_eq!(
        sample(
            &page,
            r#"attache_requests_total{method="attache.v1.Classifier/Classify",code="DEADLINE_EXCEEDED"}"#
        ),
        Some(2.0)
    );
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_serving_at_startup_and_not_serving_as_soon_as_shutdown_begins() {
    let f = fixture();
    let mut server = TestServer::start(f.config(), &f.v1).await;
    assert_eq!(
        health_of(&server, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health_of(&server, "attache.v1.Classifier").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health_of(&server, "no.such.Service")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let mut watch = server
        .health()
        .await
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
    // A classification stream in flight when shutdown begins may still finish.
    let mut client = server.classifier().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = client
        .classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(doc("before", TRADE_TEXT)).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().id, "before");

    server.shutdown();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    // The watch then ends: it is not work to wait for.
    let end = watch.next().await;
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");

    tx.send(doc("during", TRADE_TEXT)).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().id, "during");
    drop(tx);
    assert!(stream.next().await.is_none());
    // New connections are refused.
    assert!(
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .is_err()
    );
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_still_open_when_the_grace_period_ends_are_ended_with_unavailable() {
    let f = fixture();
    let config = ServerConfig {
        grace_period: Duration::from_millis(200),
        ..f.config()
    };
    let mut server = TestServer::start(config, &f.v1).await;
    let mut client = server.classifier().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = client
        .classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(doc("x", TRADE_TEXT)).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    server.shutdown();
    let end = stream.next().await.unwrap().unwrap_err();
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(end.message().contains("grace period"), "{}", end.message());
    server.stopped().await.unwrap();
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client =
        v1::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "attache.v1.Classifier",
        "attache.v1.ModelAdmin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(expected), "{expected} not in {names:?}");
    }
    // The KServe V2 subset the load generator speaks is not part of the contract.
    assert!(
        !names.iter().any(|n| n.starts_with("inference.")),
        "{names:?}"
    );

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "attache.v1.Classifier".into(),
            ),
        ),
    };
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("not a file descriptor");
    };
    let file = <prost_types::FileDescriptorProto as prost::Message>::decode(
        files.file_descriptor_proto[0].as_slice(),
    )
    .unwrap();
    assert_eq!(file.package(), "attache.v1");
    assert!(file.service.iter().any(|s| s.name() == "Classifier"));
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_admin_is_disabled_without_a_token_and_requires_the_right_bearer_token() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let s = server
        .admin()
        .await
        .reload_model(reload("", Some("x")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unimplemented);
    server.stopped().await.unwrap();

    let server = TestServer::start(admin_config(&f, "s3cret"), &f.v1).await;
    let mut admin = server.admin().await;
    let s = admin
        .reload_model(reload("v2.attache", None))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    let s = admin
        .reload_model(reload("v2.attache", Some("wrong")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    let mut basic = reload("v2.attache", None);
    basic
        .metadata_mut()
        .insert("authorization", "Basic s3cret".parse().unwrap());
    assert_eq!(
        admin.reload_model(basic).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(server.models.current().model.version(), "1");

    let info = admin
        .reload_model(reload("v2.attache", Some("s3cret")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.model_version, "2");
    assert_eq!(info.path, f.v2.display().to_string());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_accept_only_valid_model_files_inside_the_model_directory() {
    let f = fixture();
    let server = TestServer::start(admin_config(&f, "t"), &f.v1).await;
    let mut admin = server.admin().await;
    let mut client = server.classifier().await;
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), std::fs::read(&f.v2).unwrap()).unwrap();
    std::os::unix::fs::symlink(outside.path(), f.dir.path().join("link.attache")).unwrap();
    std::fs::create_dir(f.dir.path().join("sub")).unwrap();

    let refused = [
        ("bad.attache", Code::FailedPrecondition, "truncated"),
        ("missing.attache", Code::NotFound, "no such model file"),
        (
            "../v2.attache",
            Code::PermissionDenied,
            "outside the model directory",
        ),
        (
            outside.path().to_str().unwrap(),
            Code::PermissionDenied,
            "outside",
        ),
        ("link.attache", Code::PermissionDenied, "outside"),
        ("sub", Code::InvalidArgument, "not a regular file"),
    ];
    for (path, code, message) in refused {
        let s = admin
            .reload_model(reload(path, Some("t")))
            .await
            .unwrap_err();
        assert_eq!(s.code(), code, "{path}: {}", s.message());
        assert!(s.message().contains(message), "{path}: {}", s.message());
        // The old model keeps serving, and the server stays healthy.
        let r = client
            .classify(doc("x", TRADE_TEXT))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.model_version, "1");
    }
    assert_eq!(
        health_of(&server, "").await.unwrap(),
        ServingStatus::Serving
    );

    // An absolute path inside the directory works; an empty path re-reads the current file.
    let info = admin
        .reload_model(reload(f.v2.to_str().unwrap(), Some("t")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.model_version, "2");
    std::fs::copy(&f.v1, &f.v2).unwrap();
    let info = admin
        .reload_model(reload("", Some("t")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (info.model_version.as_str(), info.path.as_str()),
        ("1", f.v2.to_str().unwrap())
    );

    let page = server.metrics().await;
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="failed"}"#),
        Some(6.0)
    );
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="ok"}"#),
        Some(2.0)
    );
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_during_reloads_is_answered_by_one_of_the_two_models() {
    let f = fixture();
    let server = TestServer::start(admin_config(&f, "t"), &f.v1).await;
    let channel = server.channel().await;
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let mut client =
                attache::proto::classifier_client::ClassifierClient::new(channel.clone());
            tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..100 {
                    let id = format!("{t}-{i}");
                    let r = if i % 10 == 0 {
                        let documents = vec![doc(&id, TRADE_TEXT), doc(&id, TRADE_TEXT)];
                        let rs = client
                            .classify_batch(ClassifyBatchRequest { documents })
                            .await
                            .expect("no call fails during reloads")
                            .into_inner()
                            .results;
                        assert_eq!(
                            rs[0].model_version, rs[1].model_version,
                            "one model per call"
                        );
                        rs[0].clone()
                    } else {
                        client
                            .classify(doc(&id, TRADE_TEXT))
                            .await
                            .expect("no call fails during reloads")
                            .into_inner()
                    };
                    assert_eq!(r.id, id);
                    versions.push(r.model_version);
                }
                versions
            })
        })
        .collect();

    let mut admin = server.admin().await;
    let (mut ok, mut failed) = (0, 0);
    for round in 0..300 {
        if clients.iter().all(|c| c.is_finished()) && round >= 6 {
            break;
        }
        let path = ["v2.attache", "bad.attache", "v1.attache"][round % 3];
        match admin.reload_model(reload(path, Some("t"))).await {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::FailedPrecondition);
                failed += 1;
            }
        }
    }
    let mut seen = BTreeSet::new();
    for c in clients {
        seen.extend(c.await.unwrap());
    }
    // Both models answered, and nothing else did.
    assert_eq!(seen, BTreeSet::from(["1".to_owned(), "2".to_owned()]));
    assert!(ok >= 4 && failed >= 2, "{ok} ok, {failed} failed");
    assert_eq!(
        health_of(&server, "").await.unwrap(),
        ServingStatus::Serving
    );
    let page = server.metrics().await;
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="ok"}"#),
        Some(ok as f64)
    );
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="failed"}"#),
        Some(failed as f64)
    );
    assert_eq!(
        sample(&page, "attache_documents_classified_total"),
        Some(440.0)
    );
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_counts_calls_documents_labels_and_describes_the_model() {
    let f = fixture();
    let server = TestServer::start(admin_config(&f, "t"), &f.v1).await;
    let mut client = server.classifier().await;
    client.classify(doc("a", TRADE_TEXT)).await.unwrap();
    client.classify(doc("b", TRADE_TEXT)).await.unwrap();
    let _ = client.classify(doc("c", "")).await.unwrap_err();
    let documents = vec![doc("d", TRADE_TEXT), doc("e", TRADE_TEXT)];
    client
        .classify_batch(ClassifyBatchRequest { documents })
        .await
        .unwrap();
    server
        .admin()
        .await
        .reload_model(reload("v2.attache", Some("t")))
        .await
        .unwrap();

    let page = server.metrics().await;
    let classify = "attache.v1.Classifier/Classify";
    assert_eq!(
        sample(
            &page,
            &format!(r#"attache_requests_total{{method="{classify}",code="OK"}}"#)
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &page,
            &format!(r#"attache_requests_total{{method="{classify}",code="INVALID_ARGUMENT"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            &format!(r#"attache_request_duration_seconds_count{{method="{classify}"}}"#)
        ),
        Some(3.0)
    );
    assert!(page.contains(&format!(
        r#"attache_request_duration_seconds_bucket{{method="{classify}",le="0.005"}}"#
    )));
    assert_eq!(
        sample(&page, "attache_documents_classified_total"),
        Some(4.0)
    );
    assert_eq!(
        sample(&page, r#"attache_assigned_labels_total{label="trade"}"#),
        Some(4.0)
    );
    assert_eq!(sample(&page, "attache_requests_in_flight"), Some(0.0));
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="ok"}"#),
        Some(1.0)
    );
    let info = |version: &str| {
        page.lines()
            .find(|l| {
                l.starts_with("attache_model_info{")
                    && l.contains(&format!("model_version=\"{version}\""))
            })
            .unwrap_or_else(|| panic!("no model info for version {version}:\n{page}"))
            .to_owned()
    };
    assert!(info("2").contains(r#"labels="trade,security,culture""#));
    assert!(info("2").ends_with(" 1") && info("1").ends_with(" 0"));
    assert!(page.contains("# HELP attache_requests_total"));

    let (status, _) = support::http_get(server.metrics_addr, "/other").await;
    assert_eq!(status, 404);
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_is_echoed_or_generated() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let mut r = Request::new(doc("a", TRADE_TEXT));
    r.metadata_mut()
        .insert("x-request-id", "trace-42".parse().unwrap());
    let response = client.classify(r).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "trace-42");
    // Errors carry it too; a generated one is a UUID.
    let err = client.classify(doc("b", "")).await.unwrap_err();
    let id = err
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_certificate() {
    let f = fixture();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let identity = attache::server::TlsIdentity {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: cert.signing_key.serialize_pem().into_bytes(),
    };
    let server = TestServer::start_with(f.config(), &f.v1, Some(identity)).await;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(cert.cert.pem()))
        .domain_name("localhost");
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = attache::proto::classifier_client::ClassifierClient::new(channel);
    let r = client
        .classify(doc("tls", TRADE_TEXT))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.labels[0].label, "trade");

    // A plaintext client gets nowhere.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut c = attache::proto::classifier_client::ClassifierClient::new(channel);
        assert!(c.classify(doc("plain", TRADE_TEXT)).await.is_err());
    }

    // `attache health` speaks TLS with --tls-ca.
    let ca = f.dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        support::attache()
            .args(["health", "--addr", &addr, "--tls-ca", ca.to_str().unwrap()])
            .args(["--tls-domain", "localhost"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SERVING");
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attache_health_exits_zero_only_for_a_serving_service() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let addr = server.addr.to_string();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            support::attache()
                .arg("health")
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["--addr".into(), addr.clone()]).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SERVING");
    let out = run(vec![
        "--addr".into(),
        addr.clone(),
        "--service".into(),
        "attache.v1.Classifier".into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = run(vec![
        "--addr".into(),
        addr.clone(),
        "--service".into(),
        "nope.Service".into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "SERVICE_UNKNOWN"
    );
    server.stopped().await.unwrap();

    // Nobody listening any more.
    let out = run(vec!["--addr".into(), addr, "--timeout".into(), "2".into()])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

/// Which model version a spawned server answers a call with. Blocking, on a runtime of its
/// own that is dropped before returning, so the connection is fresh (never one opened
/// before a reload) and closed afterwards (nothing left for a graceful shutdown to drain).
fn version_of(addr: std::net::SocketAddr) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = attache::proto::classifier_client::ClassifierClient::new(channel);
        c.classify(doc("version", TRADE_TEXT))
            .await
            .unwrap()
            .into_inner()
            .model_version
    })
}

/// A Kubernetes ConfigMap volume: `name` links to `..data/name`, `..data` links to a
/// timestamped directory holding the files. An update writes a new directory, repoints
/// `..data` atomically (a rename over it) and deletes the old directory.
fn publish_configmap(dir: &std::path::Path, stamp: &str, name: &str, model: &std::path::Path) {
    let target = dir.join(stamp);
    std::fs::create_dir(&target).unwrap();
    std::fs::copy(model, target.join(name)).unwrap();
    let old = std::fs::read_link(dir.join("..data")).ok();
    std::os::unix::fs::symlink(stamp, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    } else {
        std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
    }
}

#[test]
fn sighup_follows_a_model_mounted_from_a_kubernetes_configmap_to_its_update() {
    let f = fixture();
    let mount = f.dir.path().join("configmap");
    std::fs::create_dir(&mount).unwrap();
    publish_configmap(&mount, "..2026_11_25_01", "model.attache", &f.v1);
    let model = mount.join("model.attache");
    let mut server = Spawned::start(&["--model", model.to_str().unwrap()], &[]);
    let addr = server.addr;
    assert_eq!(version_of(addr), "1");

    // The update removes the directory the model was first read from.
    publish_configmap(&mount, "..2026_11_25_02", "model.attache", &f.v2);
    assert!(!mount.join("..2026_11_25_01").exists());
    server.signal("HUP");
    let reloaded = server.wait_for_log("model reloaded");
    assert!(reloaded.contains("model.attache"), "{reloaded}");
    assert_eq!(version_of(addr), "2");

    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn the_binary_serves_reloads_on_sighup_and_exits_zero_on_sigterm() {
    let f = fixture();
    let current = f.dir.path().join("current.attache");
    std::fs::copy(&f.v1, &current).unwrap();
    let token = "never-log-this-token-9f8e7d";
    let mut server = Spawned::start(
        &[
            "--model",
            current.to_str().unwrap(),
            "--log-text-chars",
            "12",
        ],
        &[("ATTACHE_ADMIN_TOKEN", token)],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = server.addr;
    let version = || version_of(addr);
    assert_eq!(version(), "1");
    // One JSON log line per call, with method, code, latency, request id and the excerpt.
    let call = server.wait_for_log(r#""method":"attache.v1.Classifier/Classify""#);
    let line: serde_json::Value = serde_json::from_str(&call).unwrap();
    assert_eq!(line["code"], "OK");
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(line["text"], "Ministers ne…");

    let health = |addr: &str| {
        support::attache()
            .args(["health", "--addr", addr, "--timeout", "2"])
            .output()
            .unwrap()
    };
    assert_eq!(health(&addr.to_string()).status.code(), Some(0));

    // SIGHUP re-reads the file.
    let tmp = f.dir.path().join("next.tmp");
    std::fs::copy(&f.v2, &tmp).unwrap();
    std::fs::rename(&tmp, &current).unwrap();
    server.signal("HUP");
    server.wait_for_log("model reloaded");
    assert_eq!(version(), "2");
    // A bad file is refused; version 2 keeps serving.
    std::fs::copy(&f.bad, &tmp).unwrap();
    std::fs::rename(&tmp, &current).unwrap();
    server.signal("HUP");
    let failure = server.wait_for_log("model reload failed");
    assert!(failure.contains("truncated"), "{failure}");
    assert_eq!(version(), "2");
    let page = rt
        .block_on(support::http_get(server.metrics_addr, "/metrics"))
        .1;
    assert_eq!(
        sample(&page, r#"attache_model_reloads_total{result="failed"}"#),
        Some(1.0)
    );

    server.signal("TERM");
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0));
    let logs = server.stderr_seen.join("\n");
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        !logs.contains(token),
        "the admin token leaked into the logs"
    );
    assert_ne!(health(&addr.to_string()).status.code(), Some(0));
}

#[test]
fn serve_help_lists_every_flag_with_its_environment_variable() {
    let out = support::attache()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--addr", "ATTACHE_ADDR"),
        ("--model", "ATTACHE_MODEL"),
        ("--model-dir", "ATTACHE_MODEL_DIR"),
        ("--metrics-addr", "ATTACHE_METRICS_ADDR"),
        ("--log-format", "ATTACHE_LOG_FORMAT"),
        ("--log-level", "ATTACHE_LOG_LEVEL"),
        ("--max-text-bytes", "ATTACHE_MAX_TEXT_BYTES"),
        ("--max-batch", "ATTACHE_MAX_BATCH"),
        ("--max-concurrency", "ATTACHE_MAX_CONCURRENCY"),
        ("--max-message-bytes", "ATTACHE_MAX_MESSAGE_BYTES"),
        ("--grace-period", "ATTACHE_GRACE_PERIOD"),
        ("--admin-token", "ATTACHE_ADMIN_TOKEN"),
        ("--tls-cert", "ATTACHE_TLS_CERT"),
        ("--tls-key", "ATTACHE_TLS_KEY"),
        ("--log-text-chars", "ATTACHE_LOG_TEXT_CHARS"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} missing:\n{help}"
        );
    }
    for default in ["127.0.0.1:50051", "127.0.0.1:9464", "1048576", "10s"] {
        assert!(help.contains(default), "default {default} missing:\n{help}");
    }
    // The token's value never shows, even when it is set.
    let out = support::attache()
        .args(["serve", "--help"])
        .env("ATTACHE_ADMIN_TOKEN", "hidden-value-123")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hidden-value-123"));
}

#[test]
fn serve_refuses_a_missing_model_file_with_exit_code_two() {
    let out = support::attache()
        .args([
            "serve",
            "--model",
            "/nonexistent/model.attache",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/model.attache"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_tls_key_is_refused_before_serving() {
    let f = fixture();
    let config = ServerConfig {
        tls: Some(attache::server::TlsIdentity {
            cert_pem: b"not a certificate".to_vec(),
            key_pem: b"not a key".to_vec(),
        }),
        ..f.config()
    };
    let model = attache::model::Model::load(&f.v1).unwrap();
    let source = attache::server::ModelSource::File(f.v1.clone());
    let err = attache::server::Server::new(config, model, source).unwrap_err();
    assert!(
        matches!(err, attache::server::ServerError::Transport(_)),
        "{err}"
    );
}
