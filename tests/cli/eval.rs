//! `attache eval`: metrics on a labeled corpus and pipeline gates.

use std::sync::OnceLock;

use crate::support::*;

/// A model trained on the R8 slice (shared by the tests of this file).
fn r8_model() -> &'static std::path::Path {
    static MODEL: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempdir();
        let path = train_model(dir.path(), "r8", r8_train(), &[]);
        (dir, path)
    });
    path
}

fn test_data(d: &std::path::Path) -> std::path::PathBuf {
    write_jsonl(&d.join("test.jsonl"), r8_test())
}

#[test]
fn eval_reports_accuracy_per_label_table_and_confusion_matrix() {
    let dir = tempdir();
    let data = test_data(dir.path());
    let run = attache(&["eval", "--model", arg(r8_model()), "--data", arg(&data)]).ok();
    let out = &run.stdout;
    assert!(out.contains("documents    300 (single-label)"), "{out}");
    assert!(out.contains("accuracy"));
    assert!(out.contains("precision  recall"));
    assert!(out.contains("confusion matrix"));
    assert!(
        out.lines().any(|l| l.starts_with("earn")),
        "a per-label row: {out}"
    );

    let j = attache(&[
        "eval",
        "--model",
        arg(r8_model()),
        "--data",
        arg(&data),
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(j["documents"], 300);
    let accuracy = j["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "{accuracy}");
    assert_eq!(
        j["micro"]["f1"].as_f64().unwrap(),
        accuracy,
        "single-label micro-F1"
    );
    assert!(j["macro"]["f1"].as_f64().unwrap() > 0.3);
    assert!(j["coverage"].as_f64().unwrap() > 0.5);
    let counts = j["confusion"]["counts"].as_array().unwrap();
    let total: u64 = counts
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 300);
    let diagonal: u64 = (0..counts.len())
        .map(|i| counts[i][i].as_u64().unwrap())
        .sum();
    assert_eq!(diagonal as f64 / 300.0, accuracy);
    assert_eq!(j["recall_at_k"]["k"], 3);
    assert_eq!(j["gates"]["passed"], true);
}

#[test]
fn eval_gates_exit_1_saying_which_and_by_how_much() {
    let dir = tempdir();
    let data = test_data(dir.path());
    let m = arg(r8_model());
    let run = attache(&[
        "eval",
        "--model",
        m,
        "--data",
        arg(&data),
        "--min-accuracy",
        "0.999",
    ])
    .fails(1);
    assert!(
        run.stderr.contains("accuracy") && run.stderr.contains("below --min-accuracy 0.999"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("short by"), "{}", run.stderr);
    assert!(
        run.stdout.contains("accuracy"),
        "the report is still printed"
    );
    let run = attache(&[
        "eval",
        "--model",
        m,
        "--data",
        arg(&data),
        "--min-macro-f1",
        "0.999",
        "--json",
    ])
    .fails(1);
    assert_eq!(run.json()["gates"]["passed"], false);
    assert!(run.stderr.contains("macro-F1"), "{}", run.stderr);
    attache(&[
        "eval",
        "--model",
        m,
        "--data",
        arg(&data),
        "--min-accuracy",
        "0.5",
        "--min-macro-f1",
        "0.1",
    ])
    .ok();
    let err = attache(&[
        "eval",
        "--model",
        m,
        "--data",
        arg(&data),
        "--min-accuracy",
        "1.5",
    ])
    .fails(2)
    .stderr;
    assert!(
        err.contains("invalid --min-accuracy: 1.5 (valid: [0, 1])"),
        "{err}"
    );
}

#[test]
fn eval_reports_multi_label_figures_and_labels_the_model_lacks() {
    let dir = tempdir();
    let d = dir.path();
    let docs = apte_train();
    let model = train_model(d, "apte", &docs[..400], &[]);
    let mut rest = docs[400..].to_vec();
    rest.push((
        "A brand new topic".into(),
        vec!["zz_unseen".into(), "earn".into()],
    ));
    let data = write_jsonl(&d.join("rest.jsonl"), &rest);
    let run = attache(&[
        "eval",
        "--model",
        arg(&model),
        "--data",
        arg(&data),
        "--json",
        "--top-k",
        "2",
    ])
    .ok();
    let j = run.json();
    assert_eq!(j["multi_label"], true);
    assert!(j["confusion"].is_null());
    assert!(j["precision_at_1"].as_f64().unwrap() > 0.3);
    assert_eq!(j["recall_at_k"]["k"], 2);
    // A label only the evaluation data has is reported, and never predicted.
    assert!(run.stderr.contains("unknown to the model") && run.stderr.contains("zz_unseen"));
    let unseen = j["per_label"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(unseen["label"], "zz_unseen");
    assert_eq!(
        (unseen["support"].as_u64(), unseen["predicted"].as_u64()),
        (Some(1), Some(0))
    );
    let text = attache(&["eval", "--model", arg(&model), "--data", arg(&data)])
        .ok()
        .stdout;
    assert!(
        text.contains("precision@1") && text.contains("recall@3"),
        "{text}"
    );
    assert!(text.contains("(exact label set)"));
}

#[test]
fn eval_errors_are_usage_errors() {
    let dir = tempdir();
    let d = dir.path();
    let data = test_data(d);
    let err = attache(&[
        "eval",
        "--model",
        arg(&d.join("none.attache")),
        "--data",
        arg(&data),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("none.attache"), "{err}");
    std::fs::write(d.join("junk.attache"), b"not a model").unwrap();
    let err = attache(&[
        "eval",
        "--model",
        arg(&d.join("junk.attache")),
        "--data",
        arg(&data),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("not an attache model file"), "{err}");
    std::fs::write(d.join("bad.jsonl"), "{\"text\": 1}\n").unwrap();
    let err = attache(&[
        "eval",
        "--model",
        arg(r8_model()),
        "--data",
        arg(&d.join("bad.jsonl")),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("bad.jsonl:1:"), "{err}");
}
