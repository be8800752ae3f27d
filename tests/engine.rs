//! Engine specifications on real data: the estimators equal linfa-bayes, the tokenizer
//! never panics, probabilities stay finite, and model files round-trip or are refused
//! with a typed error.

use std::io::BufRead;

use attache::model::{
    ArtifactError, ClassifyOptions, LabelInfo, Model, ModelConfig, NbParams, SparseRecords,
    TrainSpec, FORMAT_VERSION,
};
use attache::text::{Tokenizer, TokenizerConfig};
use linfa::prelude::*;
use linfa_bayes::{MultinomialNb, NaiveBayes};
use ndarray::Array2;
use proptest::prelude::*;

/// Reads up to `limit` documents of a shared corpus: (text, labels).
fn corpus(name: &str, file: &str, limit: usize) -> Vec<(String, Vec<String>)> {
    let path = format!(
        "{}/../shared/data/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    reader
        .lines()
        .take(limit)
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let labels = v["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect();
            (v["text"].as_str().unwrap().to_owned(), labels)
        })
        .collect()
}

/// Label names (sorted) and each document's first label as an index.
fn single_labels(docs: &[(String, Vec<String>)]) -> (Vec<String>, Vec<usize>) {
    let mut names: Vec<String> = docs.iter().map(|d| d.1[0].clone()).collect();
    names.sort();
    names.dedup();
    let y = docs
        .iter()
        .map(|d| names.binary_search(&d.1[0]).unwrap())
        .collect();
    (names, y)
}

fn train(docs: &[(String, Vec<String>)], config: ModelConfig) -> Model {
    let (names, y) = single_labels(docs);
    let texts: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    let labels: Vec<Vec<usize>> = y.into_iter().map(|c| vec![c]).collect();
    let spec = TrainSpec {
        id: "test".into(),
        version: "1".into(),
        labels: names
            .into_iter()
            .map(|name| LabelInfo {
                name,
                description: String::new(),
            })
            .collect(),
    };
    Model::train(spec, config, &texts, &labels).unwrap()
}

/// Dense documents x terms matrix and the sparse records of the same counts.
fn matrices(model: &Model, texts: &[&str]) -> (Array2<f64>, SparseRecords) {
    let n_terms = model.vectorizer().vocabulary().len();
    let mut dense = Array2::zeros((texts.len(), n_terms));
    let mut tri = sprs::TriMat::new((texts.len(), n_terms));
    for (i, t) in texts.iter().enumerate() {
        let v = model.vectorizer().vectorize(t).vector;
        for (&j, &x) in v.indices.iter().zip(&v.values) {
            dense[[i, j as usize]] = x;
            tri.add_triplet(i, j as usize, x);
        }
    }
    (dense, SparseRecords(tri.to_csr()))
}

#[test]
fn multinomial_fit_equals_linfa_bayes_on_a_reuters_slice() {
    let train_docs = corpus("reuters-r8", "train.jsonl.gz", 600);
    let test_docs = corpus("reuters-r8", "test.jsonl.gz", 300);
    let model = train(&train_docs, ModelConfig::default());
    let (names, y) = single_labels(&train_docs);
    let texts: Vec<&str> = train_docs.iter().map(|d| d.0.as_str()).collect();
    let (dense, sparse) = matrices(&model, &texts);

    let reference = MultinomialNb::params()
        .alpha(1.0)
        .fit(&Dataset::new(dense, ndarray::Array1::from(y.clone())))
        .unwrap();
    // linfa-bayes keeps its fitted parameters private; its serde form is the only window.
    let json = serde_json::to_value(&reference).unwrap();
    let n_terms = model.vectorizer().vocabulary().len();
    let nb = model.estimator();
    for c in 0..names.len() {
        let info = &json["class_info"][c.to_string()];
        let prior = info["prior"].as_f64().unwrap();
        assert!(
            (nb.log_prior()[c] - prior.ln()).abs() < 1e-9,
            "prior of {c}"
        );
        let flp = info["feature_log_prob"]["data"].as_array().unwrap();
        assert_eq!(flp.len(), n_terms);
        for (t, w) in flp.iter().enumerate() {
            let ours = nb.weight(t as u32, c);
            assert!(
                (ours - w.as_f64().unwrap()).abs() < 1e-9,
                "term {t} label {c}"
            );
        }
    }

    // Our linfa `Fit` on sparse records gives the same estimator as `Model::train`.
    let via_linfa = model
        .config()
        .model
        .clone()
        .check()
        .unwrap()
        .fit(&DatasetBase::new(sparse, ndarray::Array1::from(y)))
        .unwrap();
    assert_eq!(&via_linfa, nb);

    // Joint log-likelihoods and predictions agree on unseen documents.
    let test_texts: Vec<&str> = test_docs.iter().map(|d| d.0.as_str()).collect();
    let (test_dense, test_sparse) = matrices(&model, &test_texts);
    let jll = reference.joint_log_likelihood(test_dense.view());
    let mut ours = vec![0.0; names.len()];
    for (i, t) in test_texts.iter().enumerate() {
        let v = model.vectorizer().vectorize(t).vector;
        nb.joint_log_likelihood(&v, &mut ours);
        for (c, o) in ours.iter().enumerate() {
            let theirs = jll[&c][i];
            assert!(
                (o - theirs).abs() < 1e-9,
                "doc {i} label {c}: {o} vs {theirs}"
            );
        }
    }
    let theirs = reference.predict(&test_dense);
    let mine: ndarray::Array1<usize> = via_linfa.predict(&DatasetBase::new(test_sparse, ()));
    assert_eq!(theirs, mine);
    let by_classify: Vec<usize> = test_texts
        .iter()
        .map(|t| model.classify(t, &ClassifyOptions::default()).labels[0].label)
        .collect();
    assert_eq!(by_classify, mine.to_vec());
}

#[test]
fn probabilities_stay_finite_and_sum_to_one_on_a_100k_token_document() {
    let docs = corpus("reuters-r8", "train.jsonl.gz", 300);
    for kind in ["multinomial", "complement"] {
        let config = ModelConfig {
            model: serde_json::from_value(serde_json::json!({ "kind": kind })).unwrap(),
            ..ModelConfig::default()
        };
        let model = train(&docs, config);
        let long = "oil prices shares profit wheat tonnes ".repeat(100_000 / 6 + 1);
        let (p, v) = model.probabilities(&long);
        assert!(v.total_terms >= 100_000);
        assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{kind}");
    }
}

#[test]
fn save_then_load_gives_identical_scores_and_bytes() {
    let docs = corpus("reuters-r8", "train.jsonl.gz", 300);
    let mut config = ModelConfig::default();
    config.tokenizer.word_ngrams = 2;
    config.vectorizer.sublinear_tf = true;
    let model = train(&docs, config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.attache");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.to_bytes(), model.to_bytes());
    assert_eq!(loaded.file_checksum(), model.file_checksum());
    let options = ClassifyOptions {
        explain: 3,
        ..Default::default()
    };
    for (text, _) in corpus("reuters-r8", "test.jsonl.gz", 50) {
        assert_eq!(
            loaded.classify(&text, &options),
            model.classify(&text, &options)
        );
    }
}

#[test]
fn training_twice_gives_byte_identical_files() {
    let docs = corpus("reuters-r8", "train.jsonl.gz", 200);
    let a = train(&docs, ModelConfig::default()).to_bytes();
    let b = train(&docs, ModelConfig::default()).to_bytes();
    assert_eq!(a, b);
}

fn small_model_bytes() -> Vec<u8> {
    let docs = corpus("reuters-r8", "train.jsonl.gz", 100);
    train(&docs, ModelConfig::default()).to_bytes()
}

#[test]
fn damaged_model_files_are_refused_with_a_typed_error() {
    let good = small_model_bytes();
    assert!(matches!(
        Model::from_bytes(&good[..good.len() - 10]),
        Err(ArtifactError::Truncated { .. })
    ));
    assert!(matches!(
        Model::from_bytes(&good[..20]),
        Err(ArtifactError::TooShort { len: 20 })
    ));
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        Model::from_bytes(&bad_magic),
        Err(ArtifactError::BadMagic)
    ));
    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = Model::from_bytes(&newer).unwrap_err();
    assert!(matches!(err, ArtifactError::UnsupportedVersion { .. }));
    assert!(err.to_string().contains("upgrade attache"));
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0x55;
    assert!(matches!(
        Model::from_bytes(&flipped),
        Err(ArtifactError::ChecksumMismatch)
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        Model::from_bytes(&longer),
        Err(ArtifactError::TrailingBytes(1))
    ));
    let err = Model::load("/nonexistent/model.attache").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.attache"));
}

#[test]
fn invalid_hyperparameters_are_refused_before_training() {
    let config = ModelConfig {
        model: NbParams::new().alpha(-1.0),
        ..ModelConfig::default()
    };
    let docs = corpus("reuters-r8", "train.jsonl.gz", 10);
    let texts: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    let spec = TrainSpec {
        id: "x".into(),
        version: "1".into(),
        labels: vec![],
    };
    let err = Model::train(spec, config, &texts, &vec![vec![]; texts.len()]).unwrap_err();
    assert_eq!(err.to_string(), "invalid alpha: -1 (valid: finite and > 0)");
}

#[test]
fn a_three_topic_article_is_assigned_each_topic_by_its_paragraphs() {
    let docs = corpus("reuters-r8", "train.jsonl.gz", 2000);
    let model = train(&docs, ModelConfig::default());
    let pick = |label: &str| {
        docs.iter()
            .find(|d| d.1[0] == label && d.0.len() > 400 && d.0.len() < 1500)
            .unwrap()
            .0
            .replace("\n\n", "\n")
    };
    let article = [pick("crude"), pick("trade"), pick("grain")].join("\n\n");
    let options = ClassifyOptions {
        segments: true,
        ..Default::default()
    };
    let p = model.classify(&article, &options);
    let assigned: Vec<&str> = p.assigned.iter().map(|&c| model.label_name(c)).collect();
    for label in ["crude", "trade", "grain"] {
        assert!(assigned.contains(&label), "{label} missing in {assigned:?}");
    }
    assert_eq!(p.segments.len(), 3);
    let sum: f64 = p.labels.iter().map(|s| s.score).sum();
    assert!((sum - 1.0).abs() < 1e-9);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tokenizer_never_panics_and_is_deterministic(text in "\\PC*", raw in any::<String>()) {
        let t = Tokenizer::new(TokenizerConfig {
            word_ngrams: 3,
            char_ngrams: Some(attache::text::CharNgrams { min: 1, max: 4 }),
            stemmer: Some("english".into()),
            ..TokenizerConfig::default()
        }).unwrap();
        for s in [&text, &raw] {
            let a = t.tokenize(s);
            prop_assert_eq!(&a, &t.tokenize(s));
            prop_assert!(a.iter().all(|term| !term.is_empty()));
        }
    }

    #[test]
    fn corrupted_model_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                         cut in any::<prop::sample::Index>()) {
        let good = small_model_bytes_cached();
        let mut bytes = good.to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= b | 1;
        }
        prop_assert!(Model::from_bytes(&bytes).is_err());
        let n = cut.index(good.len());
        prop_assert!(Model::from_bytes(&good[..n]).is_err());
    }
}

fn small_model_bytes_cached() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(small_model_bytes)
}
