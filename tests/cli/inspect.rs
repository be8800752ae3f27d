//! `attache inspect`: what a model holds, as text and JSON.

use sha2::{Digest, Sha256};

use crate::support::*;

#[test]
fn inspect_shows_labels_vocabulary_top_terms_settings_metrics_and_checksum() {
    let dir = tempdir();
    let d = dir.path();
    let config = d.join("c.toml");
    std::fs::write(&config, "[labels]\nenergy = \"Oil, gas and power\"\n").unwrap();
    let model = train_model(d, "toy", &toy(), &["--config", arg(&config), "--cv", "3"]);
    let checksum: String = Sha256::digest(std::fs::read(&model).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let j = attache(&[
        "inspect",
        "--model",
        arg(&model),
        "--json",
        "--top-terms",
        "3",
    ])
    .ok()
    .json();
    assert_eq!(j["checksum"], checksum);
    assert_eq!(j["format_version"], 1);
    assert_eq!(j["id"], "toy");
    assert_eq!(j["labels"][0]["label"], "energy");
    assert_eq!(j["labels"][0]["description"], "Oil, gas and power");
    assert_eq!(j["labels"][0]["documents"], 12);
    let top: Vec<&str> = j["labels"][0]["top_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert_eq!(top.len(), 3);
    assert!(top
        .iter()
        .all(|t| ["oil", "gas", "pipeline", "barrels", "refinery"].contains(t)));
    assert!(j["vocabulary"]["terms"].as_u64().unwrap() >= 15);
    assert_eq!(j["vocabulary"]["documents"], 36);
    assert_eq!(j["config"]["tokenizer"]["word_ngrams"], 1);
    assert_eq!(j["config"]["model"]["kind"], "multinomial");
    assert_eq!(j["training"]["documents"], 36);
    assert!(j["training"]["metrics"]["cv.accuracy"].is_number());

    let text = attache(&["inspect", "--model", arg(&model)]).ok().stdout;
    assert!(
        text.contains(&format!("checksum     sha256 {checksum}")),
        "{text}"
    );
    assert!(text.contains("energy") && text.contains("Oil, gas and power"));
    assert!(text.contains("metric     cv.accuracy"));
    assert!(text.contains("word_ngrams = 1"), "settings as TOML: {text}");
    assert!(text.contains("energy: "), "top terms: {text}");
}

#[test]
fn inspect_refuses_a_truncated_model() {
    let dir = tempdir();
    let d = dir.path();
    let model = train_model(d, "toy", &toy(), &[]);
    let bytes = std::fs::read(&model).unwrap();
    let cut = d.join("cut.attache");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = attache(&["inspect", "--model", arg(&cut)]).fails(2).stderr;
    assert!(
        err.contains("cut.attache") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn inspect_summarises_a_long_stop_word_list_and_json_lists_it_whole() {
    // The default model drops English stop words and place names: about 2,500 words.
    let j = attache(&["inspect", "--json", "--top-terms", "0"])
        .ok()
        .json();
    let words = j["config"]["tokenizer"]["stop_words"]["custom"]
        .as_array()
        .expect("the default model carries a custom stop-word list");
    assert!(words.len() > 2000, "{}", words.len());
    assert!(words.iter().any(|w| w == "morocco") && words.iter().any(|w| w == "the"));

    let text = attache(&["inspect", "--top-terms", "0"]).ok().stdout;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("stop_words = "))
        .unwrap_or_else(|| panic!("no stop_words line: {text}"));
    assert!(
        line.contains(&format!("custom: {} words (a, ", words.len()))
            && line.contains("--json lists them all"),
        "{line}"
    );
    assert!(!text.contains("zimbabwe"), "the list is summarised: {text}");
    assert!(
        text.contains("word_ngrams = 1"),
        "other settings stay: {text}"
    );
}
