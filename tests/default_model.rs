//! The default model shipped in models/ (and built into the binary) meets its card: the
//! test file's macro-F1 reaches 0.85, and a multi-topic article gets each of its topics.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_attache");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn default_model_reaches_its_macro_f1_target_on_the_test_file() {
    let out = Command::new(BIN)
        .args(["eval", "--data", "data/diplomatic/test.jsonl"])
        .args(["--min-macro-f1", "0.85", "--json"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["macro"]["f1"].as_f64().unwrap() >= 0.85);
    assert_eq!(report["model_id"], "diplomatic-news");
}

#[test]
fn built_in_model_assigns_each_topic_of_a_three_topic_article() {
    let article = "\
The Foreign Ministry announced on Monday that the President of Kenya will pay a state visit to \
Brazil from 2 to 4 June at the invitation of the Brazilian President. The two leaders will hold \
talks in Brasilia, and the programme includes a meeting with the President of the Senate.

Bilateral trade reached 1.2 billion dollars last year, and the two sides intend to sign \
agreements on agricultural exports, a new direct shipping line between Santos and Mombasa, and \
investment in geothermal power plants.

The ministers also discussed coordination within the Shanghai Cooperation Organisation, where \
Brazil has applied for the status of dialogue partner, and agreed to support each other's \
candidatures at the next session of the SCO Council of Foreign Ministers.";
    // Run from a directory without models/: the copy built into the binary answers.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["classify", "--json", "--text", article])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let assigned: Vec<&str> = row["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for label in [
        "summit_preparation",
        "economic_cooperation",
        "multilateral_organizations",
    ] {
        assert!(assigned.contains(&label), "{label} not in {assigned:?}");
    }
}

#[test]
fn built_in_model_is_the_committed_model_file() {
    let out = Command::new(BIN)
        .args(["inspect", "--json"])
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = std::fs::read(format!("{ROOT}/models/diplomatic-news.attache")).unwrap();
    let expected = attache::model::Model::from_bytes(&file)
        .unwrap()
        .file_checksum();
    let shown = info.to_string();
    assert!(
        shown.contains(&expected),
        "checksum {expected} not in {shown}"
    );
}
