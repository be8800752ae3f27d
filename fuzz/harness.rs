//! What each fuzz target does with one input, shared by the `cargo fuzz` targets
//! (fuzz/fuzz_targets/*.rs) and by the regression test of the main crate
//! (tests/reliability/fuzz_regressions.rs), which replays every input kept in
//! fuzz/regressions/<target>/ so a fixed crash stays fixed in the normal `cargo test`.
//!
//! Each function must never panic, whatever the bytes: a panic (or an abort, a sanitizer
//! report, a time-out, memory over the fuzzer's limit) is a bug. Beyond not crashing, they
//! check a few properties that must hold for every input.

use std::io::Write;
use std::path::{Path, PathBuf};

use attache::corpus::{self, Format, ReadOptions};
use attache::model::{ClassifyOptions, Model, FORMAT_VERSION, MAGIC};
use attache::text::{CharNgrams, StopWords, Tokenizer, TokenizerConfig};

/// A fuzz target: its name (as in fuzz/Cargo.toml and fuzz/regressions/<name>/) and what
/// it does with one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 6] = [
    ("tokenizer", tokenizer),
    ("model_from_bytes", model_from_bytes),
    ("corpus_jsonl", corpus_jsonl),
    ("corpus_csv", corpus_csv),
    ("corpus_fasttext", corpus_fasttext),
    ("corpus_dir", corpus_dir),
];

/// Tokenizes the rest of the input (as lossy UTF-8) with a configuration chosen by its
/// first two bytes, so every option of [`TokenizerConfig`] is reached.
pub fn tokenizer(data: &[u8]) {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let stemmers = [
        None,
        Some("english"),
        Some("russian"),
        Some("arabic"),
        Some("greek"),
        Some("turkish"),
        Some("tamil"),
        Some("hungarian"),
    ];
    let char_ngrams = (b & 1 == 1).then(|| {
        let min = 1 + usize::from(b >> 1 & 7);
        let max = (min + usize::from(b >> 4 & 7)).min(8);
        CharNgrams { min, max }
    });
    let word_ngrams = match usize::from(a >> 6) {
        0 if char_ngrams.is_none() => 1,
        n => n,
    };
    let config = TokenizerConfig {
        fold: a & 1 == 0,
        stop_words: match a >> 1 & 3 {
            0 => StopWords::English,
            1 => StopWords::None,
            _ => StopWords::Custom(vec!["ǅ".into(), "ﬀ".into(), "the".into()]),
        },
        stemmer: stemmers[usize::from(a >> 3 & 7)].map(str::to_owned),
        word_ngrams,
        char_ngrams,
        min_token_chars: 1 + usize::from(b >> 7),
    };
    let tokenizer = Tokenizer::new(config).expect("a valid configuration");
    let mut terms = 0usize;
    tokenizer.for_each_term(&text, &mut |term| {
        assert!(!term.is_empty(), "an empty term");
        terms += 1;
    });
    assert_eq!(tokenizer.tokenize(&text).len(), terms, "the two APIs agree");
}

/// Decodes the input as a model file, and the input as a model *payload* under a valid
/// header and checksum (otherwise nearly every input stops at the checksum). A model that
/// loads must classify, and survive a round trip through its bytes.
pub fn model_from_bytes(data: &[u8]) {
    check_model(Model::from_bytes(data).ok());
    let mut sealed = Vec::with_capacity(52 + data.len());
    sealed.extend_from_slice(MAGIC);
    sealed.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    sealed.extend_from_slice(&(data.len() as u64).to_le_bytes());
    sealed.extend_from_slice(&sha256(data));
    sealed.extend_from_slice(data);
    check_model(Model::from_bytes(&sealed).ok());
}

fn check_model(model: Option<Model>) {
    let Some(model) = model else { return };
    let options = ClassifyOptions {
        top_k: 0,
        threshold: None,
        explain: 3,
        segments: true,
    };
    let p = model.classify(
        "Trade ministers and tariffs.\n\nA second paragraph.",
        &options,
    );
    assert_eq!(p.labels.len(), model.labels().len());
    let again = Model::from_bytes(&model.to_bytes()).expect("a model's own bytes load");
    assert_eq!(
        again.to_bytes(),
        model.to_bytes(),
        "the round trip is stable"
    );
}

/// SHA-256, as the model file's header holds it.
fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// The corpus file to write, decided by the input's first byte: the rest as it is, gzip of
/// it, or gzip of it cut short (at a point taken from the second byte).
fn corpus_bytes(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    Some(match mode % 4 {
        0 | 1 => rest.to_vec(),
        2 => gzip(rest),
        _ => {
            let full = gzip(rest);
            let cut = rest
                .first()
                .map_or(0, |&b| full.len() * usize::from(b) / 256);
            full[..cut].to_vec()
        }
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// A scratch directory of this process and thread (fuzzers and tests may run in parallel).
fn scratch() -> PathBuf {
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let dir = std::env::temp_dir().join(format!("attache-fuzz-{}-{thread}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Removes this process and thread's scratch directory (the regression test calls it; a
/// fuzzer reuses the directory for every input).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch());
}

/// Reads `path` as a corpus and checks what the reader promises about records and errors.
fn read_and_check(path: &Path, options: ReadOptions) {
    match corpus::read(&[path.to_owned()], &options, &mut |_| {}) {
        Ok(c) => {
            assert!(!c.records.is_empty());
            for r in &c.records {
                assert!(!r.text.trim().is_empty(), "a record with empty text");
                assert!(!r.labels.is_empty(), "a record without labels");
                assert!(r.labels.iter().all(|l| !l.trim().is_empty()));
                assert!(r.line >= 1);
            }
        }
        Err(e) => {
            // Every error names the file (or, for a directory, a path under it).
            let message = e.to_string();
            assert!(
                message.contains(&*path.to_string_lossy()),
                "an error that does not name the file: {message}"
            );
        }
    }
}

fn corpus_file(data: &[u8], name: &str, format: Format, skip: bool) {
    let Some(bytes) = corpus_bytes(data) else {
        return;
    };
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    let options = ReadOptions {
        format,
        skip_bad_rows: skip,
        ..ReadOptions::default()
    };
    read_and_check(&path, options);
}

/// JSON Lines reader (first byte: plain, gzip or cut gzip; odd modes skip bad rows).
pub fn corpus_jsonl(data: &[u8]) {
    let skip = data.first().is_some_and(|b| b & 0x10 != 0);
    corpus_file(data, "c.jsonl", Format::Jsonl, skip);
}

/// CSV reader.
pub fn corpus_csv(data: &[u8]) {
    let skip = data.first().is_some_and(|b| b & 0x10 != 0);
    corpus_file(data, "c.csv", Format::Csv, skip);
}

/// fastText reader.
pub fn corpus_fasttext(data: &[u8]) {
    let skip = data.first().is_some_and(|b| b & 0x10 != 0);
    corpus_file(data, "c.ft", Format::FastText, skip);
}

/// Directory-per-label reader: the input is split at `\0` into files, spread over three
/// label folders (one of them nested one level deeper).
pub fn corpus_dir(data: &[u8]) {
    let root = scratch().join("bylabel");
    let _ = std::fs::remove_dir_all(&root);
    for (i, content) in data.split(|&b| b == 0).enumerate().take(64) {
        let folder = match i % 3 {
            0 => root.join("alpha"),
            1 => root.join("beta"),
            _ => root.join("gamma").join("deeper"),
        };
        std::fs::create_dir_all(&folder).expect("scratch folder");
        std::fs::write(folder.join(format!("{i}.txt")), content).expect("scratch file");
    }
    if !root.exists() {
        return;
    }
    let skip = data.len() % 2 == 1;
    read_and_check(
        &root,
        ReadOptions {
            format: Format::Dir,
            skip_bad_rows: skip,
            ..ReadOptions::default()
        },
    );
}
