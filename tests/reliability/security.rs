//! Security: what the logs never hold, TLS end to end with the binary, reload paths that
//! cannot leave the model directory, administration off without a token, default limits.

use attache::proto::classifier_client::ClassifierClient;
use attache::proto::model_admin_client::ModelAdminClient;
use attache::proto::{ClassifyBatchRequest, ReloadModelRequest};
use attache::server::{AdminToken, Limits, ServerConfig};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request};

use crate::support::{doc, fixture, Spawned, TestServer, TRADE_TEXT};

fn reload(path: &str, token: &str) -> Request<ReloadModelRequest> {
    let mut r = Request::new(ReloadModelRequest { path: path.into() });
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn tls_channel(addr: std::net::SocketAddr, ca_pem: &str) -> Channel {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_neither_tokens_nor_request_texts_beyond_the_configured_excerpt_over_tls() {
    let f = fixture();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (f.dir.path().join("cert.pem"), f.dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let token = "admin-SECRET-token-5f4e3d2c1b";
    let wrong = "WRONG-token-a1b2c3d4e5";
    let mut server = tokio::task::block_in_place(|| {
        Spawned::start(
            &[
                "--model",
                f.v1.to_str().unwrap(),
                "--tls-cert",
                cert_file.to_str().unwrap(),
                "--tls-key",
                key_file.to_str().unwrap(),
                "--log-text-chars",
                "16",
                // The most talkative level that is still sane in production.
                "--log-level",
                "debug",
                "--max-text-bytes",
                "4096",
            ],
            &[("ATTACHE_ADMIN_TOKEN", token)],
        )
    });
    let channel = tls_channel(server.addr, &cert.cert.pem()).await;
    let mut client = ClassifierClient::new(channel.clone());
    let mut admin = ModelAdminClient::new(channel);

    let first = format!("Zebra-Quokka-7731 {TRADE_TEXT} Tail-Marker-4242");
    let r = client
        .classify(doc("d1", &first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.labels[0].label, "trade");
    let documents = vec![
        doc("b1", "Batch-First-0001 tariffs and trade"),
        doc("b2", "Second-Document-9999 about tariffs"),
    ];
    client
        .classify_batch(ClassifyBatchRequest { documents })
        .await
        .unwrap();
    let too_big = format!("Oversized-Text-5555 {}", "tariffs ".repeat(1000));
    let s = client.classify(doc("big", &too_big)).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(!s.message().contains("Oversized"), "{}", s.message());

    let s = admin
        .reload_model(reload("v2.attache", wrong))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    let mut no_token = Request::new(ReloadModelRequest {
        path: "v2.attache".into(),
    });
    no_token
        .metadata_mut()
        .insert("authorization", format!("Basic {token}").parse().unwrap());
    assert_eq!(
        admin.reload_model(no_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Over TLS, with the right token, administration works.
    let info = admin
        .reload_model(reload("v2.attache", token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.model_version, "2");

    let line = server.wait_for_log("Zebra-Quokka-773");
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        json["text"], "Zebra-Quokka-773…",
        "the excerpt is 16 characters"
    );
    server.signal("TERM");
    let status = tokio::task::block_in_place(|| server.wait_exit());
    assert_eq!(status.code(), Some(0));

    let logs = server.stderr_seen.join("\n");
    assert!(logs.lines().count() >= 8, "{logs}");
    for l in logs.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l}"
        );
    }
    assert!(
        logs.contains("Batch-First-0001"),
        "a batch logs its first excerpt"
    );
    for secret in [
        token,
        wrong,
        "Tail-Marker",
        "Second-Document",
        "Oversized-Text",
        "negotiated tariffs",
    ] {
        assert!(!logs.contains(secret), "{secret:?} is in the logs:\n{logs}");
    }
    assert!(logs.contains("UNAUTHENTICATED"), "refusals are logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_no_request_text_is_logged_and_a_blank_token_leaves_administration_off() {
    let f = fixture();
    let mut server = tokio::task::block_in_place(|| {
        Spawned::start(
            &["--model", f.v1.to_str().unwrap()],
            &[("ATTACHE_ADMIN_TOKEN", "   ")],
        )
    });
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ClassifierClient::new(channel.clone());
    client
        .classify(doc("d", &format!("Zebra-Quokka-7731 {TRADE_TEXT}")))
        .await
        .unwrap();
    let s = ModelAdminClient::new(channel)
        .reload_model(reload("v2.attache", "   "))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unimplemented);
    server.wait_for_log("ReloadModel");
    server.signal("TERM");
    tokio::task::block_in_place(|| server.wait_exit());
    let logs = server.stderr_seen.join("\n");
    assert!(logs.contains("admin token is blank"), "{logs}");
    assert!(logs.contains(r#""method":"attache.v1.Classifier/Classify""#));
    assert!(
        !logs.contains("Zebra") && !logs.contains("tariffs"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_paths_cannot_leave_the_model_directory_by_any_spelling() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(&f.v2, outside.path().join("m.attache")).unwrap();
    let dir = f.dir.path();
    std::os::unix::fs::symlink(outside.path(), dir.join("linkdir")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.attache")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let fifo = dir.join("fifo.attache");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let config = ServerConfig {
        admin_token: AdminToken::new("t"),
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let mut admin = server.admin().await;
    let d = dir.display().to_string();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let up_and_back = format!("{d}/../{name}/v2.attache");
    let via_proc = format!("/proc/self/root{d}/v2.attache");
    let refused = [
        ("linkdir/m.attache", Code::PermissionDenied),
        ("zero.attache", Code::PermissionDenied),
        ("./../v2.attache", Code::PermissionDenied),
        ("sub/../v2.attache", Code::PermissionDenied),
        ("v2.attache\0", Code::PermissionDenied),
        (up_and_back.as_str(), Code::PermissionDenied),
        (via_proc.as_str(), Code::PermissionDenied),
        ("/etc/passwd", Code::PermissionDenied),
        ("%2e%2e/v2.attache", Code::NotFound),
        // A FIFO would block the reader forever: only regular files are read.
        ("fifo.attache", Code::InvalidArgument),
        ("sub", Code::InvalidArgument),
    ];
    for (path, code) in refused {
        let s = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            admin.reload_model(reload(path, "t")),
        )
        .await
        .unwrap_or_else(|_| panic!("{path:?} hangs"))
        .unwrap_err();
        assert_eq!(s.code(), code, "{path:?}: {}", s.message());
        assert_eq!(server.models.current().model.version(), "1");
    }
    // Symbolic links that stay inside are fine.
    std::os::unix::fs::symlink(dir.join("v2.attache"), dir.join("sub/current.attache")).unwrap();
    let info = admin
        .reload_model(reload("sub/current.attache", "t"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.model_version, "2");
    server.stopped().await.unwrap();
}

#[test]
fn limits_are_on_by_default() {
    let l = Limits::default();
    assert_eq!(
        (
            l.max_text_bytes,
            l.max_batch,
            l.max_concurrency,
            l.max_message_bytes
        ),
        (1 << 20, 64, 256, 16 << 20)
    );
    assert_eq!(l.decoding_limit(), 16 << 20);
    let c = ServerConfig::default();
    assert!(c.admin_token.is_none(), "administration is off by default");
    assert!(c.model_dir.is_none() && c.log_text_chars == 0);
}
