//! Running the real binary and writing fixtures.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the run.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{}", self.stderr);
        self
    }

    /// Asserts the exit code (and that an error was explained on stderr).
    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "a failure says why on stderr"
        );
        self
    }

    /// Parses stdout as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `attache args...` with `stdin` (empty when `None`).
pub fn attache_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("piped");
    if let Some(s) = stdin {
        input
            .write_all(s.as_bytes())
            .expect("stdin accepts the input");
    }
    drop(input);
    let out = child.wait_with_output().expect("the binary finishes");
    let run = Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("stack backtrace"),
        "the binary never panics:\n{}",
        run.stderr
    );
    run
}

/// Runs `attache args...` with an empty stdin.
pub fn attache(args: &[&str]) -> Run {
    attache_with_stdin(args, None)
}

/// A path as an argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A labeled document.
pub type Doc = (String, Vec<String>);

fn read_shared(name: &str, file: &str, limit: usize) -> Vec<Doc> {
    let path = format!(
        "{}/../shared/data/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::io::BufReader::new(flate2::read::GzDecoder::new(f))
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

/// The first 900 training documents of Reuters R8 (single-label, 8 labels).
pub fn r8_train() -> &'static [Doc] {
    static DOCS: OnceLock<Vec<Doc>> = OnceLock::new();
    DOCS.get_or_init(|| read_shared("reuters-r8", "train.jsonl.gz", 900))
}

/// The first 300 test documents of Reuters R8.
pub fn r8_test() -> &'static [Doc] {
    static DOCS: OnceLock<Vec<Doc>> = OnceLock::new();
    DOCS.get_or_init(|| read_shared("reuters-r8", "test.jsonl.gz", 300))
}

/// The first 600 training documents of Reuters-21578 ApteMod (multi-label).
pub fn apte_train() -> &'static [Doc] {
    static DOCS: OnceLock<Vec<Doc>> = OnceLock::new();
    DOCS.get_or_init(|| read_shared("reuters21578-apte90", "train.jsonl.gz", 600))
}

/// One JSON Lines row.
pub fn jsonl_row(doc: &Doc) -> String {
    serde_json::json!({"text": doc.0, "labels": doc.1}).to_string()
}

/// Writes `docs` as JSON Lines.
pub fn write_jsonl(path: &Path, docs: &[Doc]) -> PathBuf {
    let body: String = docs.iter().map(|d| jsonl_row(d) + "\n").collect();
    std::fs::write(path, body).unwrap();
    path.to_owned()
}

/// Gzip-compresses `data` into `path`.
pub fn write_gz(path: &Path, data: &[u8]) -> PathBuf {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(data).unwrap();
    enc.finish().unwrap();
    path.to_owned()
}

/// A tiny synthetic single-label corpus: three topics with distinct vocabularies.
pub fn toy() -> Vec<Doc> {
    let topics = [
        ("energy", ["oil", "gas", "pipeline", "barrels", "refinery"]),
        (
            "trade",
            ["tariff", "exports", "imports", "customs", "quota"],
        ),
        (
            "security",
            ["troops", "border", "missile", "defence", "patrol"],
        ),
    ];
    let mut docs = Vec::new();
    for i in 0..12 {
        for (label, words) in &topics {
            let text = format!(
                "{} {} {} report number {i}",
                words[i % 5],
                words[(i + 1) % 5],
                words[(i + 2) % 5]
            );
            docs.push((text, vec![label.to_string()]));
        }
    }
    docs
}

/// The names of the files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Trains a model on `docs` (JSON Lines in `dir`) into `dir/<name>.attache` with extra
/// flags; returns its path.
pub fn train_model(dir: &Path, name: &str, docs: &[Doc], extra: &[&str]) -> PathBuf {
    let data = write_jsonl(&dir.join(format!("{name}.jsonl")), docs);
    let out = dir.join(format!("{name}.attache"));
    let mut args = vec!["train", "--data", arg(&data), "--out", arg(&out)];
    args.extend_from_slice(extra);
    attache(&args).ok();
    out
}
