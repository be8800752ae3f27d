//! Bad and odd input over gRPC: each case answered with the status code the contract gives
//! it, and the server still serving afterwards. (Empty text, a batch over a small maximum,
//! unknown and escaping reload paths and admin tokens are in tests/server.rs.)

use attache::proto::{ClassifyBatchRequest, ClassifyRequest};
use attache::server::{AdminToken, Limits, ServerConfig};
use tonic::Code;

use crate::support::{self, doc, fixture, pb_field, raw_unary, sample, TestServer, TRADE_TEXT};

const CLASSIFY: &str = "/attache.v1.Classifier/Classify";
const CLASSIFY_BATCH: &str = "/attache.v1.Classifier/ClassifyBatch";
const RELOAD: &str = "/attache.v1.ModelAdmin/ReloadModel";

/// Asserts a status code and returns the message.
fn status<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code) -> String {
    let s = r.expect_err("refused");
    assert_eq!(s.code(), code, "{}", s.message());
    s.message().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_text_is_refused_under_the_default_limits_and_classified_when_allowed() {
    let _heavy = crate::HEAVY.lock().await;
    let f = fixture();
    let ten_mib = TRADE_TEXT.repeat((10 << 20) / TRADE_TEXT.len() + 1);
    assert!(ten_mib.len() >= 10 << 20);

    // Default limits: the message (under 16 MiB) is decoded, the text (over 1 MiB) refused.
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let m = status(
        client.classify(doc("ten", &ten_mib)).await,
        Code::InvalidArgument,
    );
    assert!(
        m.contains("over the maximum of 1048576 bytes") && m.contains("\"ten\""),
        "{m}"
    );
    // A message over the default 16 MiB is refused by the transport before decoding.
    let seventeen = "x".repeat(17 << 20);
    status(
        client.classify(doc("17", &seventeen)).await,
        Code::OutOfRange,
    );
    assert!(client.classify(doc("after", TRADE_TEXT)).await.is_ok());
    server.stopped().await.unwrap();

    // With --max-text-bytes raised, the same document is classified (off the async workers).
    let config = ServerConfig {
        limits: Limits {
            max_text_bytes: 16 << 20,
            ..Limits::default()
        },
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let mut client = server.classifier().await;
    let r = client
        .classify(doc("ten", &ten_mib))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.labels[0].label, "trade");
    assert!(r.coverage > 0.5, "{}", r.coverage);
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_are_text_like_any_other_character() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let with_nuls = TRADE_TEXT.replace(' ', "\0");
    let r = client
        .classify(ClassifyRequest {
            explain: true,
            segments: true,
            ..doc("nul\0id", &with_nuls)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.id, "nul\0id");
    assert_eq!(r.labels[0].label, "trade");
    assert!(r.coverage > 0.5, "{}", r.coverage);
    assert!(r
        .evidence
        .iter()
        .flat_map(|e| &e.terms)
        .all(|t| !t.term.contains('\0')));
    // NUL is not whitespace: a text of NULs only is a document the model knows nothing of,
    // answered with the priors and coverage 0 rather than refused.
    let r = client
        .classify(doc("nuls", &"\0".repeat(1000)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coverage, 0.0);
    assert_eq!(r.labels.len(), 3);
    assert!(!r.assigned.is_empty());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_million_character_token_is_classified_with_zero_coverage() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let started = std::time::Instant::now();
    // ASCII, two-byte letters, and a letter followed by a million combining accents (the
    // worst case for normalisation, which reorders combining marks).
    let tokens = [
        "x".repeat(1_000_000),
        "é".repeat(500_000),
        format!("a{}", "\u{301}\u{316}".repeat(250_000)),
    ];
    for (i, token) in tokens.iter().enumerate() {
        assert!(token.len() <= 1 << 20, "fits the default limit");
        let r = client
            .classify(ClassifyRequest {
                explain: true,
                segments: true,
                ..doc(&i.to_string(), token)
            })
            .await
            .unwrap_or_else(|s| panic!("token {i}: {s:?}"))
            .into_inner();
        assert_eq!(r.coverage, 0.0, "token {i}");
        assert_eq!(r.labels.len(), 3);
        assert!(r.segments.is_empty(), "one paragraph: no segments");
    }
    // Linear work: the three take well under the client's patience.
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_scripts_and_emoji_are_classified_with_segments_on_character_boundaries() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    let text = format!(
        "{TRADE_TEXT} Министры обсудили тарифы. 贸易协定 降低关税。 وزراء التجارة 🇫🇷🤝🇩🇪 \
         👩‍👩‍👧‍👦 Ｔａｒｉｆｆｓ ﬁnance e\u{301}xports\n\n\
         Troops 🪖 and naval warships at the border. Ελληνικά στρατός. 🚀\u{200d}🔥\n\n\
         \u{202e}reversed text\u{202c} \u{feff}zero\u{200b}width"
    );
    let r = client
        .classify(ClassifyRequest {
            explain: true,
            segments: true,
            ..doc("🌍", &text)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.id, "🌍");
    assert_eq!(r.labels.len(), 3);
    assert!((r.labels.iter().map(|l| l.score).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(r.assigned.iter().any(|l| l == "trade"), "{:?}", r.assigned);
    assert_eq!(r.segments.len(), 3);
    for s in &r.segments {
        let (start, end) = (s.start as usize, s.end as usize);
        assert!(start < end && end <= text.len());
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
    }
    assert_eq!(r.segments[1].assigned, ["security"]);
    server.stopped().await.unwrap();
}

/// `ClassifyRequest { id, text }` encoded by hand, so `text` can be any bytes.
fn classify_request(id: &[u8], text: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    pb_field(&mut m, 1, id);
    pb_field(&mut m, 2, text);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_malformed_protobuf_on_the_wire_are_invalid_argument() {
    let f = fixture();
    let config = ServerConfig {
        admin_token: AdminToken::new("t"),
        ..f.config()
    };
    let server = TestServer::start(config, &f.v1).await;
    let addr = server.addr;

    // The hand encoding is right: valid bytes are answered.
    let ok = raw_unary(
        addr,
        CLASSIFY,
        classify_request(b"ok", TRADE_TEXT.as_bytes()),
        &[],
    )
    .await
    .unwrap();
    let ok = <attache::proto::ClassifyResponse as prost::Message>::decode(ok.as_slice()).unwrap();
    assert_eq!(
        (ok.id.as_str(), ok.labels[0].label.as_str()),
        ("ok", "trade")
    );

    let mut bad_text = TRADE_TEXT.as_bytes().to_vec();
    bad_text.extend_from_slice(b" \xff\xfe \xc3\x28 \xed\xa0\x80");
    let cases: Vec<(&str, &'static str, Vec<u8>)> = vec![
        (
            "invalid UTF-8 in text",
            CLASSIFY,
            classify_request(b"a", &bad_text),
        ),
        (
            "invalid UTF-8 in id",
            CLASSIFY,
            classify_request(b"\xc0\xaf", TRADE_TEXT.as_bytes()),
        ),
        ("an overlong encoding of NUL", CLASSIFY, {
            classify_request(b"b", b"text \xc0\x80 text")
        }),
        ("a lone surrogate", CLASSIFY, {
            classify_request(b"c", b"text \xed\xb2\x80 text")
        }),
        ("invalid UTF-8 inside a batch", CLASSIFY_BATCH, {
            let mut m = Vec::new();
            pb_field(&mut m, 1, &classify_request(b"fine", TRADE_TEXT.as_bytes()));
            pb_field(&mut m, 1, &classify_request(b"bad", &bad_text));
            m
        }),
        ("a field length past the end", CLASSIFY, {
            let mut m = classify_request(b"d", TRADE_TEXT.as_bytes());
            m.truncate(m.len() - 10);
            m
        }),
        ("an unterminated varint", CLASSIFY, vec![0x18, 0xff, 0xff]),
        ("a reserved wire type", CLASSIFY, vec![0x0f, 0x00]),
        ("invalid UTF-8 in a reload path", RELOAD, {
            let mut m = Vec::new();
            pb_field(&mut m, 1, b"v2\xff.attache");
            m
        }),
    ];
    for (what, path, message) in cases {
        let s = raw_unary(addr, path, message, &[("authorization", "Bearer t")])
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
        assert!(
            s.message().contains("decode") || s.message().contains("UTF-8"),
            "{what}: {}",
            s.message()
        );
    }
    // The server goes on answering, the model did not change, and nothing of this counted
    // as a server fault.
    let again = classify_request(b"again", TRADE_TEXT.as_bytes());
    assert!(raw_unary(addr, CLASSIFY, again, &[]).await.is_ok());
    assert_eq!(server.models.current().model.version(), "1");
    let page = server.metrics().await;
    assert_eq!(
        sample(
            &page,
            r#"attache_requests_total{method="attache.v1.Classifier/Classify",code="INVALID_ARGUMENT"}"#
        ),
        Some(7.0)
    );
    assert!(!page.contains(r#"code="INTERNAL""#), "{page}");

    // Same in a stream: it ends with INVALID_ARGUMENT after answering the good message.
    let mut m = Vec::new();
    for (id, text) in [(&b"s1"[..], TRADE_TEXT.as_bytes()), (b"s2", &bad_text)] {
        let message = classify_request(id, text);
        m.push(0);
        m.extend_from_slice(&(message.len() as u32).to_be_bytes());
        m.extend_from_slice(&message);
    }
    let (status, body) = raw_grpc_body(addr, "/attache.v1.Classifier/ClassifyStream", m).await;
    assert_eq!(status, Code::InvalidArgument, "{body:?}");
    server.stopped().await.unwrap();
}

/// Posts already framed gRPC bytes as the whole request body and returns the call's status
/// and the response bytes (used for streams, whose messages the caller frames).
async fn raw_grpc_body(addr: std::net::SocketAddr, path: &str, framed: Vec<u8>) -> (Code, Vec<u8>) {
    use tonic::client::GrpcService;
    let mut channel = support::raw_channel(addr).await;
    let body = tonic::body::Body::new(one_frame(framed));
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let response = channel.call(request).await.unwrap();
    if let Some(s) = tonic::Status::from_header_map(response.headers()) {
        return (s.code(), Vec::new());
    }
    let mut body = response.into_body();
    let mut data = Vec::new();
    let mut code = Code::Unknown;
    while let Some(frame) =
        std::future::poll_fn(|cx| http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx))
            .await
    {
        let frame = frame.unwrap();
        if let Some(trailers) = frame.trailers_ref() {
            code = tonic::Status::from_header_map(trailers).map_or(Code::Unknown, |s| s.code());
        } else if let Ok(d) = frame.into_data() {
            data.extend_from_slice(&d);
        }
    }
    (code, data)
}

/// A request body of one data frame.
fn one_frame(bytes: Vec<u8>) -> OneFrame {
    OneFrame(Some(prost::bytes::Bytes::from(bytes)))
}

/// A body that is a single data frame.
struct OneFrame(Option<prost::bytes::Bytes>);

impl http_body::Body for OneFrame {
    type Data = prost::bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_zero_and_of_one_over_the_default_maximum() {
    let f = fixture();
    let server = TestServer::start(f.config(), &f.v1).await;
    let mut client = server.classifier().await;
    // Nothing to do is not an error: no results.
    let r = client
        .classify_batch(ClassifyBatchRequest { documents: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert!(r.results.is_empty());
    let max = Limits::default().max_batch;
    let full: Vec<ClassifyRequest> = (0..max).map(|i| doc(&i.to_string(), TRADE_TEXT)).collect();
    let r = client
        .classify_batch(ClassifyBatchRequest {
            documents: full.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), max);
    let mut over = full;
    over.push(doc("one-too-many", TRADE_TEXT));
    let m = status(
        client
            .classify_batch(ClassifyBatchRequest { documents: over })
            .await,
        Code::InvalidArgument,
    );
    assert!(
        m.contains(&format!("batch of {} documents", max + 1))
            && m.contains(&format!("maximum of {max}")),
        "{m}"
    );
    server.stopped().await.unwrap();
}
