//! Corpus formats and bad rows, through `attache train`.

use crate::support::*;

#[test]
fn every_format_of_the_same_corpus_trains_the_same_model() {
    let dir = tempdir();
    let d = dir.path();
    let docs = toy();
    let jsonl = write_jsonl(&d.join("c.jsonl"), &docs);
    write_gz(&d.join("c.jsonl.gz"), &std::fs::read(&jsonl).unwrap());
    // JSON with "label" instead of "labels", and extra fields.
    let single: String = docs
        .iter()
        .enumerate()
        .map(|(i, (t, l))| {
            serde_json::json!({"id": i, "label": l[0], "text": t, "source": {"x": 1}}).to_string()
                + "\n"
        })
        .collect();
    std::fs::write(d.join("single.json"), single).unwrap();
    let mut csv = csv_writer(&d.join("c.csv"), &["id", "text", "label"]);
    for (i, (t, l)) in docs.iter().enumerate() {
        csv.write_record([i.to_string().as_str(), t, &l[0]])
            .unwrap();
    }
    csv.flush().unwrap();
    let ft: String = docs
        .iter()
        .map(|(t, l)| format!("__label__{} {t}\n", l[0]))
        .collect();
    std::fs::write(d.join("c.ft"), ft).unwrap();
    let root = d.join("bylabel");
    for (i, (t, l)) in docs.iter().enumerate() {
        let label_dir = root.join(&l[0]);
        std::fs::create_dir_all(&label_dir).unwrap();
        std::fs::write(label_dir.join(format!("{i:03}")), t).unwrap();
    }
    std::fs::write(root.join("README"), "ignored: not in a label folder").unwrap();

    let inputs = [
        "c.jsonl",
        "c.jsonl.gz",
        "single.json",
        "c.csv",
        "c.ft",
        "bylabel",
    ];
    let mut models = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let out_dir = d.join(format!("out{i}"));
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join("m.attache");
        attache(&["train", "--data", arg(&d.join(input)), "--out", arg(&out)]).ok();
        models.push((input, std::fs::read(&out).unwrap()));
    }
    for (input, bytes) in &models[1..] {
        assert!(
            bytes == &models[0].1,
            "{input} trains the model c.jsonl trains"
        );
    }
}

fn csv_writer(path: &std::path::Path, header: &[&str]) -> csv::Writer<std::fs::File> {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    w
}

#[test]
fn csv_columns_and_label_separator_are_selectable() {
    let dir = tempdir();
    let d = dir.path();
    let mut w = csv_writer(&d.join("c.csv"), &["body", "topics"]);
    for (t, l) in toy() {
        let extra = if t.contains("oil") { "|oil" } else { "" };
        w.write_record([t.as_str(), &format!("{}{extra}", l[0])])
            .unwrap();
    }
    w.flush().unwrap();
    let out = d.join("m.attache");
    let csv = d.join("c.csv");
    let base = ["train", "--data", arg(&csv), "--out", arg(&out)];
    let err = attache(&base).fails(2).stderr;
    assert!(
        err.contains("no column \"text\"") && err.contains("body, topics"),
        "{err}"
    );
    let mut args = base.to_vec();
    args.extend([
        "--text-column",
        "body",
        "--label-column",
        "topics",
        "--json",
    ]);
    let report = attache(&args).ok().json();
    assert_eq!(report["multi_label"], true);
    let labels: Vec<&str> = report["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["energy", "oil", "security", "trade"]);
}

/// Writes `rows` (one per line) after two good rows and trains on it; returns the run.
fn train_on_lines(dir: &std::path::Path, name: &str, rows: &[&str], extra: &[&str]) -> Run {
    let good = toy();
    let mut body = format!("{}\n{}\n", jsonl_row(&good[0]), jsonl_row(&good[1]));
    for r in rows {
        body.push_str(r);
        body.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    let out = dir.join("m.attache");
    let mut args = vec!["train", "--data", arg(&path), "--out", arg(&out)];
    args.extend_from_slice(extra);
    attache(&args)
}

#[test]
fn a_bad_row_names_file_line_and_problem_and_leaves_no_model() {
    let dir = tempdir();
    let d = dir.path();
    let cases = [
        (r#"{"text": "a", "labels": ["x"]"#, "invalid JSON"),
        (r#"{"labels": ["x"]}"#, "missing \"text\""),
        (
            r#"{"text": 12, "labels": ["x"]}"#,
            "\"text\" must be a string, found a number",
        ),
        (r#"{"text": "a"}"#, "missing labels"),
        (r#"{"text": "a", "labels": []}"#, "empty label list"),
        (
            r#"{"text": "a", "labels": "x"}"#,
            "\"labels\" must be an array of strings",
        ),
        (r#"{"text": "a", "labels": [""]}"#, "empty label name"),
        (r#"{"text": "  ", "labels": ["x"]}"#, "empty text"),
        (r#"["text", "labels"]"#, "expected a JSON object"),
    ];
    for (row, problem) in cases {
        let run = train_on_lines(d, "bad.jsonl", &["", row], &[]).fails(2);
        let path = d.join("bad.jsonl");
        let expected = format!("{}:4: {problem}", path.display());
        assert!(run.stderr.contains(&expected), "{row}: {}", run.stderr);
        assert!(
            run.stderr.contains("--skip-bad-rows"),
            "the error says how to skip"
        );
        assert_eq!(files_in(d), ["bad.jsonl"], "no model and no temporary file");
    }
}

#[test]
fn bad_rows_in_fasttext_and_csv_name_their_line() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("c.ft"), "__label__a one text\nno label here\n").unwrap();
    let out = d.join("m.attache");
    let err = attache(&["train", "--data", arg(&d.join("c.ft")), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("c.ft:2: missing labels"), "{err}");
    std::fs::write(d.join("c.csv"), "text,label\nfine text,a\n\"short\"\nx,\n").unwrap();
    let err = attache(&["train", "--data", arg(&d.join("c.csv")), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("c.csv:3: expected 2 fields, found 1"), "{err}");
    let root = d.join("bylabel");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a").join("1.txt"), b"caf\xe9 latin-1").unwrap();
    let err = attache(&["train", "--data", arg(&root), "--out", arg(&out)])
        .fails(2)
        .stderr;
    let file = root.join("a").join("1.txt");
    assert!(
        err.contains(&format!("{}:1: not valid UTF-8", file.display())),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn skip_bad_rows_counts_and_reports_them() {
    let dir = tempdir();
    let d = dir.path();
    let mut rows: Vec<String> = toy()[2..].iter().map(jsonl_row).collect();
    rows.insert(3, "not json".into());
    rows.insert(7, r#"{"text": "no labels"}"#.into());
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let run = train_on_lines(d, "c.jsonl", &rows, &["--skip-bad-rows", "--json"]).ok();
    assert_eq!(run.json()["skipped_rows"], 2);
    assert_eq!(run.json()["documents"], 36);
    assert!(run.stderr.contains("skipped 2 bad rows"), "{}", run.stderr);
    assert!(
        run.stderr.contains("c.jsonl:6: invalid JSON"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_truncated_gzip_file_is_an_error_naming_it() {
    let dir = tempdir();
    let d = dir.path();
    let docs: Vec<Doc> = r8_train()[..300].to_vec();
    let body: String = docs.iter().map(|doc| jsonl_row(doc) + "\n").collect();
    let full = write_gz(&d.join("full.jsonl.gz"), body.as_bytes());
    let bytes = std::fs::read(&full).unwrap();
    let cut = d.join("cut.jsonl.gz");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = d.join("m.attache");
    let err = attache(&["train", "--data", arg(&cut), "--out", arg(&out)])
        .fails(2)
        .stderr;
    // Named with the line where the data ends.
    let at = format!("{}:", cut.display());
    let line: u64 = err
        .split(&at)
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {at}LINE in {err}"));
    assert!((2..=300).contains(&line), "{err}");
    assert!(
        err.contains(&format!("{at}{line}: gzip data is truncated or corrupt")),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn empty_files_unknown_names_and_missing_paths_are_refused() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    std::fs::write(d.join("empty.jsonl"), "\n\n").unwrap();
    let err = attache(&[
        "train",
        "--data",
        arg(&d.join("empty.jsonl")),
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("empty.jsonl: no documents"), "{err}");
    std::fs::write(d.join("c.parquet"), "x").unwrap();
    let err = attache(&[
        "train",
        "--data",
        arg(&d.join("c.parquet")),
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(
        err.contains("cannot guess the format") && err.contains("--format"),
        "{err}"
    );
    let err = attache(&[
        "train",
        "--data",
        arg(&d.join("nope.jsonl")),
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("nope.jsonl"), "{err}");
    let err = attache(&[
        "train",
        "--data",
        "x.jsonl",
        "--format",
        "xml",
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("xml") && err.contains("fasttext"), "{err}");
    assert!(!out.exists());
}
