//! `attache classify`: inputs, JSON and text output, options, errors and closed pipes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

/// A model trained on the toy corpus (energy, security, trade).
fn model() -> &'static str {
    static MODEL: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempdir();
        let path = train_model(dir.path(), "toy", &toy(), &[]);
        (dir, path)
    });
    arg(path)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn json_output_lists_all_labels_by_score_with_the_assigned_ones() {
    let run = attache(&[
        "classify",
        "--model",
        model(),
        "--json",
        "--text",
        "oil and gas pipeline barrels",
    ])
    .ok();
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 1);
    let doc = &out[0];
    assert_eq!(doc["id"], "text");
    let labels = doc["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3, "all labels without --top-k");
    assert_eq!(labels[0]["label"], "energy");
    let scores: Vec<f64> = labels
        .iter()
        .map(|l| l["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "highest first: {scores:?}"
    );
    assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(doc["assigned"], serde_json::json!(["energy"]));
    assert!(doc["coverage"].as_f64().unwrap() > 0.9);
    assert!(doc.get("evidence").is_none() && doc.get("segments").is_none());
}

#[test]
fn top_k_explain_segments_and_threshold_shape_the_answer() {
    let text = "oil gas pipeline refinery barrels\n\ntariff exports imports customs quota";
    let run = attache(&[
        "classify",
        "--model",
        model(),
        "--json",
        "--top-k",
        "2",
        "--explain",
        "2",
        "--segments",
        "--threshold",
        "0.01",
        "--text",
        text,
    ])
    .ok();
    let doc = &lines(&run.stdout)[0];
    assert_eq!(doc["labels"].as_array().unwrap().len(), 2);
    let evidence = doc["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 2, "evidence for each listed label");
    let terms = evidence[0]["terms"].as_array().unwrap();
    assert!(terms.len() <= 2 && !terms.is_empty());
    assert!(terms[0]["weight"].as_f64().unwrap() > 0.0);
    assert!(terms[0]["count"].as_u64().unwrap() >= 1);
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0]["labels"][0]["label"], "energy");
    assert_eq!(segments[1]["labels"][0]["label"], "trade");
    assert_eq!(
        segments[1]["start"].as_u64().unwrap(),
        text.find("tariff").unwrap() as u64
    );
    let assigned = doc["assigned"].as_array().unwrap();
    assert!(
        assigned.len() >= 2,
        "a low threshold assigns both topics: {assigned:?}"
    );

    let err = attache(&[
        "classify",
        "--model",
        model(),
        "--threshold",
        "1.2",
        "--text",
        "x",
    ])
    .fails(2)
    .stderr;
    assert!(
        err.contains("invalid --threshold: 1.2 (valid: [0, 1])"),
        "{err}"
    );
}

#[test]
fn jsonl_input_keeps_ids_or_uses_line_numbers() {
    let dir = tempdir();
    let d = dir.path();
    let input = d.join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a-1\", \"text\": \"troops at the border\"}\n\n\
         {\"text\": \"tariff and customs quota\"}\n{\"id\": 7, \"text\": \"oil refinery\"}\n",
    )
    .unwrap();
    let out = lines(
        &attache(&["classify", "--model", model(), "--json", arg(&input)])
            .ok()
            .stdout,
    );
    let ids: Vec<&str> = out.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-1", "3", "7"]);
    let top: Vec<&str> = out
        .iter()
        .map(|o| o["labels"][0]["label"].as_str().unwrap())
        .collect();
    assert_eq!(top, ["security", "trade", "energy"]);

    // The same through stdin, and as readable text.
    let body = std::fs::read_to_string(&input).unwrap();
    let run = attache_with_stdin(&["classify", "--model", model(), "-"], Some(&body)).ok();
    assert!(run.stdout.starts_with("a-1: security"), "{}", run.stdout);
    assert!(run.stdout.contains("3: trade"));
    assert!(
        run.stdout.contains("* security"),
        "assigned labels are marked: {}",
        run.stdout
    );
    let run = attache_with_stdin(&["classify", "--model", model(), "--json"], Some(&body)).ok();
    assert_eq!(lines(&run.stdout).len(), 3, "stdin is the default input");
}

#[test]
fn a_plain_text_file_is_one_document() {
    let dir = tempdir();
    let path = dir.path().join("article.txt");
    std::fs::write(
        &path,
        "Customs officials raised the tariff.\n{not json}\nExports fell.\n",
    )
    .unwrap();
    let out = lines(
        &attache(&["classify", "--model", model(), "--json", arg(&path)])
            .ok()
            .stdout,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], arg(&path));
    assert_eq!(out[0]["labels"][0]["label"], "trade");
}

#[test]
fn a_bad_jsonl_line_names_file_and_line() {
    let dir = tempdir();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, "{\"text\": \"oil\"}\n{\"id\": 2}\n").unwrap();
    let err = attache(&["classify", "--model", model(), "--json", arg(&path)])
        .fails(2)
        .stderr;
    assert!(
        err.contains(&format!("{}:2: missing \"text\"", path.display())),
        "{err}"
    );
    let err = attache(&[
        "classify",
        "--model",
        model(),
        arg(&dir.path().join("nope.txt")),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("nope.txt"), "{err}");
    let err = attache(&[
        "classify",
        "--text",
        "x",
        "--model",
        arg(&dir.path().join("m")),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("cannot load model"), "{err}");
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let docs: String = (0..3000)
        .map(|i| format!("{{\"id\": {i}, \"text\": \"oil gas tariff troops {i}\"}}\n"))
        .collect();
    let mut child = Command::new(BIN)
        .args(["classify", "--model", model(), "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(docs.as_bytes());
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"id\":\"0\""), "{first}");
    // Dropping the reader closes the pipe, like `| head -1`.
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
