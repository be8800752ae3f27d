//! Hot paths of the engine, measured with criterion on real corpora:
//! tokenize + vectorize throughput, scoring throughput and latency, training throughput,
//! and model load time.
//!
//! Run: `cargo bench --bench engine` (reads ../shared/data/20newsgroups-bydate).
//! Figures and the machine they were measured on are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::io::BufRead;
use std::time::Duration;

use attache::model::{ClassifyOptions, LabelInfo, Model, ModelConfig, TrainSpec};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

struct Corpus {
    texts: Vec<String>,
    labels: Vec<Vec<usize>>,
    names: Vec<String>,
}

fn read(file: &str) -> Corpus {
    let path = format!(
        "{}/../shared/data/20newsgroups-bydate/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut texts = Vec::new();
    let mut raw_labels = Vec::new();
    for line in std::io::BufReader::new(flate2::read::GzDecoder::new(f)).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        texts.push(v["text"].as_str().unwrap().to_owned());
        raw_labels.push(v["labels"][0].as_str().unwrap().to_owned());
    }
    let mut names = raw_labels.clone();
    names.sort();
    names.dedup();
    let labels = raw_labels
        .iter()
        .map(|l| vec![names.binary_search(l).unwrap()])
        .collect();
    Corpus {
        texts,
        labels,
        names,
    }
}

fn train(c: &Corpus) -> Model {
    let spec = TrainSpec {
        id: "bench".into(),
        version: "1".into(),
        labels: c
            .names
            .iter()
            .map(|n| LabelInfo {
                name: n.clone(),
                description: String::new(),
            })
            .collect(),
    };
    Model::train(spec, ModelConfig::default(), &c.texts, &c.labels).unwrap()
}

fn benches(crit: &mut Criterion) {
    let train_set = read("train.jsonl.gz");
    let test_set = read("test.jsonl.gz");
    let model = train(&train_set);
    let bytes: u64 = train_set.texts.iter().map(|t| t.len() as u64).sum();
    let test_bytes: u64 = test_set.texts.iter().map(|t| t.len() as u64).sum();
    let options = ClassifyOptions::default();

    let mut g = crit.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("20news_tokenize_count_fit", |b| {
        b.iter(|| black_box(train(&train_set)))
    });
    g.finish();

    let mut g = crit.benchmark_group("vectorize");
    g.throughput(Throughput::Bytes(test_bytes));
    g.sample_size(10);
    g.bench_function("20news_test_one_thread", |b| {
        b.iter(|| {
            for t in &test_set.texts {
                black_box(model.vectorizer().vectorize(t));
            }
        })
    });
    g.finish();

    let mut g = crit.benchmark_group("classify");
    g.sample_size(10);
    g.throughput(Throughput::Elements(test_set.texts.len() as u64));
    g.bench_function("20news_test_docs_one_thread", |b| {
        b.iter(|| {
            for t in &test_set.texts {
                black_box(model.classify(t, &options));
            }
        })
    });
    let sentences: Vec<String> = test_set
        .texts
        .iter()
        .filter_map(|t| {
            t.split(['.', '\n'])
                .map(str::trim)
                .find(|s| s.split_whitespace().count() >= 8)
                .map(str::to_owned)
        })
        .collect();
    g.throughput(Throughput::Elements(sentences.len() as u64));
    g.bench_function("one_sentence_docs_one_thread", |b| {
        b.iter(|| {
            for s in &sentences {
                black_box(model.classify(s, &options));
            }
        })
    });
    g.finish();

    let mut g = crit.benchmark_group("latency");
    let doc = &test_set.texts[0];
    g.bench_with_input(
        BenchmarkId::new("single_document", doc.len()),
        doc,
        |b, d| b.iter(|| black_box(model.classify(d, &options))),
    );
    let explain = ClassifyOptions {
        explain: 5,
        segments: true,
        ..Default::default()
    };
    g.bench_with_input(
        BenchmarkId::new("single_document_explain_segments", doc.len()),
        doc,
        |b, d| b.iter(|| black_box(model.classify(d, &explain))),
    );
    g.finish();

    let file = model.to_bytes();
    let mut g = crit.benchmark_group("load");
    g.sample_size(20);
    g.bench_function(
        BenchmarkId::new(
            "model_from_bytes_terms",
            model.vectorizer().vocabulary().len(),
        ),
        |b| b.iter(|| black_box(Model::from_bytes(&file).unwrap())),
    );
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
