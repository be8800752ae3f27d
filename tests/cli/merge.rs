//! Incremental training (`train --from`) and `attache merge` equal training on the whole
//! corpus at once.

use crate::support::*;

/// Shards A and B of the R8 slice, and their JSON Lines files in `d`.
fn shards(d: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let docs = r8_train();
    let a = write_jsonl(&d.join("a.jsonl"), &docs[..500]);
    let b = write_jsonl(&d.join("b.jsonl"), &docs[500..]);
    (a, b)
}

fn out_in(d: &std::path::Path, sub: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(d.join(sub)).unwrap();
    // Same file name everywhere, so every model gets the same default id.
    d.join(sub).join("m.attache")
}

#[test]
fn training_from_a_model_on_new_data_equals_training_on_all_the_data() {
    let dir = tempdir();
    let d = dir.path();
    let (a, b) = shards(d);
    let whole = out_in(d, "whole");
    attache(&["train", "--data", arg(&a), arg(&b), "--out", arg(&whole)]).ok();
    let first = out_in(d, "first");
    attache(&["train", "--data", arg(&a), "--out", arg(&first)]).ok();
    let added = out_in(d, "added");
    let run = attache(&[
        "train",
        "--from",
        arg(&first),
        "--data",
        arg(&b),
        "--out",
        arg(&added),
    ])
    .ok();
    assert!(run.stdout.contains("added 400 documents"), "{}", run.stdout);
    assert!(
        std::fs::read(&added).unwrap() == std::fs::read(&whole).unwrap(),
        "the incremental model is byte for byte the whole-corpus model"
    );
}

#[test]
fn merging_shard_models_equals_training_on_all_the_data() {
    let dir = tempdir();
    let d = dir.path();
    let (a, b) = shards(d);
    let whole = out_in(d, "whole");
    attache(&["train", "--data", arg(&a), arg(&b), "--out", arg(&whole)]).ok();
    let ma = out_in(d, "a");
    let mb = out_in(d, "b");
    attache(&["train", "--data", arg(&a), "--out", arg(&ma)]).ok();
    attache(&["train", "--data", arg(&b), "--out", arg(&mb)]).ok();
    let merged = out_in(d, "merged");
    let json = attache(&["merge", arg(&ma), arg(&mb), "--out", arg(&merged), "--json"])
        .ok()
        .json();
    assert_eq!(json["documents"], 900);
    assert!(
        std::fs::read(&merged).unwrap() == std::fs::read(&whole).unwrap(),
        "the merged model is byte for byte the whole-corpus model"
    );
    // Pruning applies to the summed frequencies, as whole-corpus training prunes.
    let pruned_whole = out_in(d, "pw");
    attache(&[
        "train",
        "--data",
        arg(&a),
        arg(&b),
        "--out",
        arg(&pruned_whole),
        "--min-df",
        "3",
    ])
    .ok();
    let pruned = out_in(d, "pm");
    attache(&[
        "merge",
        arg(&ma),
        arg(&mb),
        "--out",
        arg(&pruned),
        "--min-df",
        "3",
    ])
    .ok();
    assert!(std::fs::read(&pruned).unwrap() == std::fs::read(&pruned_whole).unwrap());
}

#[test]
fn merge_and_from_refuse_what_cannot_be_added_up() {
    let dir = tempdir();
    let d = dir.path();
    let docs = toy();
    let plain = train_model(d, "plain", &docs, &[]);
    let idf = train_model(d, "idf", &docs, &["--idf"]);
    let complement = train_model(d, "comp", &docs, &["--kind", "complement"]);
    let out = d.join("out.attache");

    let err = attache(&["merge", arg(&idf), arg(&plain), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("idf"), "{err}");
    let err = attache(&["merge", arg(&plain), arg(&complement), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("model settings"), "{err}");
    let err = attache(&["merge", arg(&plain), "--out", arg(&out)])
        .fails(2)
        .stderr;
    assert!(err.contains("MODEL"), "at least two models: {err}");
    let err = attache(&[
        "merge",
        arg(&plain),
        arg(&plain),
        "--out",
        arg(&out),
        "--max-df",
        "0",
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("invalid max_df: 0"), "{err}");
    let err = attache(&[
        "merge",
        arg(&plain),
        arg(&d.join("nope.attache")),
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("nope.attache"), "{err}");

    let data = d.join("plain.jsonl");
    let err = attache(&[
        "train",
        "--from",
        arg(&idf),
        "--data",
        arg(&data),
        "--out",
        arg(&out),
    ])
    .fails(2)
    .stderr;
    assert!(err.contains("idf"), "{err}");
    let err = attache(&[
        "train",
        "--from",
        arg(&plain),
        "--data",
        arg(&data),
        "--out",
        arg(&out),
        "--alpha",
        "2",
    ])
    .fails(2)
    .stderr;
    assert!(
        err.contains("cannot be used with"),
        "--from takes the model's settings: {err}"
    );
    assert!(!out.exists());
}
