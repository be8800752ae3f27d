//! `attache train`: reports, determinism, holdout and cross-validation, settings,
//! refusals before any work, and incremental training.

use crate::support::*;

#[test]
fn train_reports_label_counts_vocabulary_and_output_path() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("r8.jsonl"), r8_train());
    let out = d.join("r8.attache");
    let run = attache(&["train", "--data", arg(&data), "--out", arg(&out)]).ok();
    assert!(
        run.stdout.contains("trained r8 v1 on 900 documents"),
        "{}",
        run.stdout
    );
    let earn = r8_train().iter().filter(|d| d.1 == ["earn"]).count();
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("earn"))
        .unwrap();
    assert!(line.contains(&earn.to_string()), "{line}");
    assert!(run.stdout.contains("vocabulary"));
    assert!(run.stdout.contains(&format!("wrote {}", out.display())));

    let json = attache(&["train", "--data", arg(&data), "--out", arg(&out), "--json"])
        .ok()
        .json();
    assert_eq!(json["documents"], 900);
    assert_eq!(json["out"], arg(&out));
    assert!(json["vocabulary"].as_u64().unwrap() > 1000);
    let labels = json["labels"].as_array().unwrap();
    let names: Vec<&str> = labels
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "labels are alphabetical");
    let earn_row = labels.iter().find(|l| l["label"] == "earn").unwrap();
    assert_eq!(earn_row["documents"], earn as u64);
}

#[test]
fn same_data_config_and_seed_give_a_byte_identical_model() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("r8.jsonl"), &r8_train()[..500]);
    let mut files = Vec::new();
    for run in ["a", "b"] {
        std::fs::create_dir(d.join(run)).unwrap();
        for (name, flags) in [("cv", vec!["--cv", "3"]), ("ho", vec!["--holdout", "0.3"])] {
            let out = d.join(run).join(format!("{name}.attache"));
            let mut args = vec![
                "train",
                "--data",
                arg(&data),
                "--out",
                arg(&out),
                "--seed",
                "7",
            ];
            args.extend(flags);
            attache(&args).ok();
            files.push(std::fs::read(&out).unwrap());
        }
    }
    assert!(
        files[0] == files[2],
        "cross-validated training is deterministic"
    );
    assert!(files[1] == files[3], "holdout training is deterministic");
}

#[test]
fn holdout_reports_held_out_metrics_of_the_saved_model() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("r8.jsonl"), r8_train());
    let out = d.join("m.attache");
    let json = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--holdout",
        "0.25",
        "--json",
    ])
    .ok()
    .json();
    let h = &json["holdout"];
    assert_eq!(h["fraction"], 0.25);
    assert_eq!(h["seed"], 42);
    let held = h["documents"].as_u64().unwrap();
    assert!(
        (215..=235).contains(&held),
        "about a quarter held out: {held}"
    );
    assert_eq!(json["documents"].as_u64().unwrap() + held, 900);
    let accuracy = h["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "R8 is easy: {accuracy}");
    assert!(h["metrics"]["confusion"]["counts"].is_array());

    let inspected = attache(&["inspect", "--model", arg(&out), "--json"])
        .ok()
        .json();
    let metrics = &inspected["training"]["metrics"];
    assert_eq!(metrics["holdout.accuracy"].as_f64().unwrap(), accuracy);
    assert!(metrics["holdout.macro_f1"].is_number());
    assert_eq!(inspected["training"]["notes"]["holdout.seed"], "42");
    assert_eq!(inspected["training"]["documents"], 900 - held);
}

#[test]
fn cross_validation_reports_pooled_and_per_fold_metrics_and_trains_on_everything() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("r8.jsonl"), r8_train());
    let out = d.join("m.attache");
    let run = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--cv",
        "3",
    ])
    .ok();
    assert!(
        run.stdout.contains("3-fold cross-validation"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("macro"));
    let json = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--cv",
        "3",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(json["documents"], 900);
    assert_eq!(json["cv"]["per_fold"].as_array().unwrap().len(), 3);
    assert_eq!(json["cv"]["metrics"]["documents"], 900);
    let inspected = attache(&["inspect", "--model", arg(&out), "--json"])
        .ok()
        .json();
    let metrics = &inspected["training"]["metrics"];
    for key in [
        "cv.accuracy",
        "cv.macro_f1",
        "cv.micro_f1",
        "cv.macro_f1_std",
    ] {
        assert!(metrics[key].is_number(), "{key} is stored");
    }
    assert_eq!(inspected["training"]["notes"]["cv.folds"], "3");

    // Apart from metrics and notes, it is the model plain training gives.
    let plain = d.join("plain");
    std::fs::create_dir(&plain).unwrap();
    let plain_out = plain.join("m.attache");
    attache(&["train", "--data", arg(&data), "--out", arg(&plain_out)]).ok();
    let p = attache(&["inspect", "--model", arg(&plain_out), "--json"])
        .ok()
        .json();
    assert_eq!(p["labels"], inspected["labels"]);
    assert_eq!(p["vocabulary"], inspected["vocabulary"]);
    assert_eq!(
        p["training"]["corpus_digest"],
        inspected["training"]["corpus_digest"]
    );
}

#[test]
fn multi_label_cross_validation_tunes_and_stores_per_label_thresholds() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("apte.jsonl"), apte_train());
    let out = d.join("m.attache");
    let json = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--cv",
        "3",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(json["multi_label"], true);
    let m = &json["cv"]["metrics"];
    assert_eq!(m["multi_label"], true);
    assert!(m["precision_at_1"].as_f64().unwrap() > 0.5);
    assert!(
        m["confusion"].is_null(),
        "no confusion matrix for multi-label data"
    );
    let thresholds: Vec<f64> = json["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["threshold"].as_f64().unwrap())
        .collect();
    assert!(thresholds.iter().any(|&t| t != 0.5), "{thresholds:?}");
    assert!(thresholds
        .iter()
        .all(|&t| (0.05..=0.95).contains(&t) || t == 0.5));
    let inspected = attache(&["inspect", "--model", arg(&out), "--json"])
        .ok()
        .json();
    assert!(inspected["training"]["notes"]["thresholds"]
        .as_str()
        .unwrap()
        .contains("out-of-fold"));
    assert_eq!(json["temperature"], inspected["temperature"]);
    assert!(inspected["training"]["metrics"]["cv.precision_at_1"].is_number());
    let t = inspected["temperature"].as_f64().unwrap();
    assert!(
        t > 1.0,
        "naive Bayes is overconfident; the fitted temperature flattens: {t}"
    );
}

#[test]
fn flags_and_config_file_set_the_stored_settings_and_label_descriptions() {
    let dir = tempdir();
    let d = dir.path();
    let config = d.join("c.toml");
    std::fs::write(
        &config,
        "[model]\nkind = \"complement\"\nalpha = 0.3\n[vectorizer]\nsublinear_tf = true\n\
         [labels]\nenergy = \"Oil, gas and power\"\n",
    )
    .unwrap();
    let stop = d.join("stop.txt");
    std::fs::write(&stop, "# mine\nreport\nnumber\n").unwrap();
    let out = train_model(
        d,
        "m",
        &toy(),
        &[
            "--config",
            arg(&config),
            "--alpha",
            "0.5",
            "--ngrams",
            "2",
            "--stop-words",
            arg(&stop),
            "--length-norm",
            "l2",
            "--min-df",
            "2",
            "--threshold",
            "0.4",
            "--no-paragraphs",
            "--id",
            "toy",
            "--model-version",
            "3",
        ],
    );
    let j = attache(&["inspect", "--model", arg(&out), "--json"])
        .ok()
        .json();
    let c = &j["config"];
    assert_eq!(c["model"]["kind"], "complement");
    assert_eq!(c["model"]["alpha"], 0.5, "the flag overrides the file");
    assert_eq!(
        c["vectorizer"]["sublinear_tf"], true,
        "the file sets what flags do not"
    );
    assert_eq!(c["vectorizer"]["norm"], "l2");
    assert_eq!(c["tokenizer"]["word_ngrams"], 2);
    assert_eq!(
        c["tokenizer"]["stop_words"]["custom"],
        serde_json::json!(["report", "number"])
    );
    assert_eq!(c["vocabulary"]["min_df"], 2);
    assert_eq!(c["assign"]["threshold"], 0.4);
    assert_eq!(c["assign"]["paragraphs"], false);
    assert_eq!(
        (j["id"].as_str(), j["version"].as_str()),
        (Some("toy"), Some("3"))
    );
    let energy = j["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "energy");
    assert_eq!(energy.unwrap()["description"], "Oil, gas and power");
    assert_eq!(j["labels"][0]["threshold"], 0.4);
}

#[test]
fn invalid_settings_are_refused_before_reading_data_and_leave_no_file() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    // The data path does not exist: the settings are refused first.
    let cases: &[(&[&str], &str)] = &[
        (
            &["--alpha", "-1"],
            "invalid alpha: -1 (valid: finite and > 0)",
        ),
        (&["--alpha", "0"], "--alpha"),
        (
            &["--ngrams", "9"],
            "invalid word_ngrams: 9 (valid: 0..=5) (flag --ngrams",
        ),
        (
            &["--char-ngrams", "3:9"],
            "invalid char_ngrams.max: 9 (valid: 3..=8)",
        ),
        (&["--char-ngrams", "x"], "MIN:MAX"),
        (&["--min-df", "0"], "invalid min_df: 0 (valid: >= 1)"),
        (&["--max-df", "1.5"], "invalid max_df: 1.5 (valid: (0, 1])"),
        (&["--max-features", "0"], "invalid max_features: 0"),
        (
            &["--min-token-chars", "0"],
            "invalid min_token_chars: 0 (valid: 1..=64)",
        ),
        (
            &["--stemmer", "klingon"],
            "invalid stemmer: klingon (valid: arabic",
        ),
        (
            &["--threshold", "2"],
            "invalid threshold: 2 (valid: [0, 1])",
        ),
        (
            &["--norm"],
            "invalid norm: true (valid: only with kind = complement)",
        ),
        (&["--holdout", "1.5"], "invalid holdout fraction: 1.5"),
        (&["--cv", "1"], "invalid cv folds: 1"),
        (
            &["--stop-words", "/no/such/list"],
            "--stop-words /no/such/list",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec![
            "train",
            "--data",
            "/no/such/corpus.jsonl",
            "--out",
            arg(&out),
        ];
        args.extend_from_slice(flags);
        let err = attache(&args).fails(2).stderr;
        assert!(err.contains(message), "{flags:?}: {err}");
        assert!(
            !err.contains("corpus.jsonl"),
            "refused before reading: {err}"
        );
    }
    let config = d.join("c.toml");
    std::fs::write(&config, "[model]\nalfa = 1.0\n").unwrap();
    let err = attache(&[
        "train",
        "--data",
        "/no/such/corpus.jsonl",
        "--out",
        arg(&out),
        "--config",
        arg(&config),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("alfa"), "unknown config keys are named: {err}");
    assert_eq!(files_in(d), ["c.toml"]);
}

#[test]
fn an_unwritable_output_is_refused_before_training_and_leaves_nothing() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("c.jsonl"), &toy());
    let out = d.join("no-such-dir").join("m.attache");
    let err = attache(&["train", "--data", arg(&data), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("does not exist"), "{err}");
    let err = attache(&["train", "--data", arg(&data), "--out", arg(d)])
        .fails(2)
        .stderr;
    assert!(err.contains("not a file path"), "{err}");
    assert_eq!(files_in(d), ["c.jsonl"]);
}

#[test]
fn cross_validation_copes_with_a_label_too_rare_for_every_fold() {
    let dir = tempdir();
    let d = dir.path();
    let mut docs: Vec<Doc> = toy().into_iter().filter(|d| d.1 == ["trade"]).collect();
    docs.push(("a lone oil refinery report".into(), vec!["energy".into()]));
    let data = write_jsonl(&d.join("c.jsonl"), &docs);
    let out = d.join("m.attache");
    let json = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--cv",
        "3",
        "--json",
    ])
    .ok()
    .json();
    // The fold holding the only energy document never saw that label: it cannot be right.
    let energy = &json["cv"]["metrics"]["per_label"][0];
    assert_eq!(energy["label"], "energy");
    assert_eq!(
        (
            energy["support"].as_u64(),
            energy["true_positives"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        json["labels"][0]["documents"], 1,
        "the saved model has every document"
    );
}

#[test]
fn a_corpus_with_one_label_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let docs: Vec<Doc> = toy().into_iter().filter(|d| d.1 == ["trade"]).collect();
    let data = write_jsonl(&d.join("c.jsonl"), &docs);
    let err = attache(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&d.join("m.attache")),
    ])
    .fails(2)
    .stderr;
    assert!(
        err.contains("1 label (trade)") && err.contains("at least 2"),
        "{err}"
    );
}

#[test]
fn help_documents_every_setting_with_its_default() {
    let help = attache(&["train", "--help"]).ok().stdout;
    for (flag, default) in [
        ("--kind", "[default: multinomial]"),
        ("--alpha", "[default: 1.0]"),
        ("--norm", "[default: false]"),
        ("--ngrams", "[default: 1]"),
        ("--char-ngrams", "[default: none]"),
        ("--stemmer", "[default: none]"),
        ("--stop-words", "[default: english]"),
        ("--min-token-chars", "[default: 2]"),
        ("--no-fold", "[default: fold]"),
        ("--min-df", "[default: 1]"),
        ("--max-df", "[default: 1.0]"),
        ("--max-features", "[default: no limit]"),
        ("--sublinear-tf", "[default: false]"),
        ("--idf", "[default: false]"),
        ("--length-norm", "[default: none]"),
        ("--threshold", "[default: 0.5]"),
        ("--no-paragraphs", "[default: they are added]"),
        ("--min-segment-terms", "[default: 5]"),
        ("--seed", "[default: 42]"),
        ("--format", "[default: auto]"),
        ("--model-version", "[default: 1]"),
    ] {
        let at = help
            .find(&format!("{flag} "))
            .or_else(|| help.find(&format!("{flag}\n")));
        let at = at.unwrap_or_else(|| panic!("{flag} is documented:\n{help}"));
        let next_flag = help[at + 2..]
            .find("\n  -")
            .map_or(help.len(), |i| at + 2 + i);
        let text: String = help[at..next_flag]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains(default), "{flag} shows {default}: {text}");
    }
}
