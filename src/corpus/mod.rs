//! Labeled corpora from files: JSON Lines, CSV, fastText and directory-per-label layouts,
//! gzip-compressed or not.
//!
//! Every reader yields [`Record`]s that remember where they came from (file and line), so a
//! bad row is reported as `file:line: what is wrong` ([`RowError`]). With
//! [`ReadOptions::skip_bad_rows`] bad rows are counted and skipped instead. A file (or a
//! directory) without a single document is an error: training on nothing is never intended.
//!
//! | format | layout | labels |
//! |---|---|---|
//! | `jsonl` | one object per line: `{"text": "...", "labels": ["a", "b"]}` or `"label": "a"`; other fields are ignored | at least one, non-empty strings |
//! | `csv` | a header row, then one document per row; columns chosen by name | one cell, several labels separated by [`CsvOptions::label_separator`] (default `\|`) |
//! | `fasttext` | one document per line: `__label__a __label__b text ...` | leading `__label__` tokens |
//! | `dir` | `DIR/<label>/<file>`: every file under a label's folder is one document (the 20 Newsgroups layout) | the folder name |
//!
//! Files starting with the gzip magic bytes are decompressed transparently, whatever
//! their name; a gzip stream cut short is an error naming the file. `auto` guesses the
//! format from the name (see [`Format::guess`]).

mod dir;
mod lines;
pub(crate) mod source;
mod table;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// One labeled document.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The document text (never empty or whitespace only).
    pub text: String,
    /// Its labels: at least one, each non-empty, no duplicates, in input order.
    pub labels: Vec<String>,
    /// The file it came from (shared by all records of the file).
    pub source: Arc<Path>,
    /// 1-based line where the record starts; 1 for whole-file documents (`dir` layout).
    pub line: u64,
}

/// Corpus file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Guess from the file name (see [`Format::guess`]).
    #[default]
    Auto,
    /// JSON Lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// fastText supervised format.
    FastText,
    /// A directory per label.
    Dir,
}

impl Format {
    /// Names accepted by [`Format::from_str`], as on the command line.
    pub const NAMES: [&'static str; 5] = ["auto", "jsonl", "csv", "fasttext", "dir"];

    /// Guesses the format of `path`: a directory is `dir`; otherwise, after dropping a
    /// `.gz` suffix, `.jsonl`/`.ndjson`/`.json` are JSON Lines, `.csv` is CSV and
    /// `.txt`/`.ft` are fastText. `None` when the name says nothing.
    pub fn guess(path: &Path) -> Option<Format> {
        if path.is_dir() {
            return Some(Format::Dir);
        }
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = Path::new(name).extension()?.to_str()?;
        match ext {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "txt" | "ft" => Some(Format::FastText),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "fasttext" => Ok(Format::FastText),
            "dir" => Ok(Format::Dir),
            _ => Err(format!(
                "unknown format {s:?} (valid: {})",
                Format::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::FastText => "fasttext",
            Format::Dir => "dir",
        })
    }
}

/// Which CSV columns hold what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Header name of the text column.
    pub text_column: String,
    /// Header name of the label column; `None` looks for `labels`, then `label`.
    pub label_column: Option<String>,
    /// Separates several labels in one cell. `|` by default because it occurs in neither
    /// label ids nor CSV syntax.
    pub label_separator: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            text_column: "text".into(),
            label_column: None,
            label_separator: '|',
        }
    }
}

/// How to read a corpus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The format of every path, or `Auto` to guess per path.
    pub format: Format,
    /// CSV columns.
    pub csv: CsvOptions,
    /// Skip and count bad rows instead of failing on the first one.
    pub skip_bad_rows: bool,
}

/// What is wrong with one row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowProblem {
    /// The line is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The line is JSON but not an object.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// No text field.
    #[error("missing \"text\"")]
    MissingText,
    /// The text is empty or whitespace only.
    #[error("empty text")]
    EmptyText,
    /// A field has the wrong JSON type.
    #[error("\"{field}\" must be {expected}, found {found}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// No label field (or, for fastText, no `__label__` prefix).
    #[error("missing labels ({0})")]
    MissingLabels(&'static str),
    /// The label list is empty.
    #[error("empty label list")]
    EmptyLabels,
    /// A label is the empty string.
    #[error("empty label name")]
    EmptyLabelName,
    /// Both `label` and `labels` are present.
    #[error("both \"label\" and \"labels\" are present; use one")]
    BothLabelFields,
    /// The row is not valid UTF-8.
    #[error("not valid UTF-8")]
    InvalidUtf8,
    /// A CSV-level problem (e.g. a wrong number of fields).
    #[error("{0}")]
    Csv(String),
}

/// A bad row: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {problem}", path.display())]
pub struct RowError {
    /// The file.
    pub path: Arc<Path>,
    /// 1-based line (1 for whole-file documents).
    pub line: u64,
    /// What is wrong.
    pub problem: RowProblem,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A gzip stream is cut short or corrupt.
    #[error("{}: gzip data is truncated or corrupt ({source})", at(path, *line))]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The (decompressed) line being read when the stream broke, when known.
        line: Option<u64>,
        /// The decoder's complaint.
        #[source]
        source: std::io::Error,
    },
    /// A bad row (and bad rows are not skipped).
    #[error(transparent)]
    BadRow(#[from] RowError),
    /// A file or directory holds no documents.
    #[error("{}: no documents", path.display())]
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// Every row was bad and skipped.
    #[error("no usable documents: all {skipped} rows were bad and skipped (first: {first})")]
    AllSkipped {
        /// Rows skipped.
        skipped: usize,
        /// The first of them.
        first: RowError,
    },
    /// A label folder of the `dir` layout without a single document.
    #[error("{}: label {label:?} has no documents (its folder holds no files)", path.display())]
    EmptyLabel {
        /// The label's folder.
        path: PathBuf,
        /// The label.
        label: String,
    },
    /// No paths given.
    #[error("no corpus paths given")]
    NoPaths,
    /// `auto` cannot tell the format from the name.
    #[error(
        "cannot guess the format of {} from its name (expected .jsonl, .json, .csv, .txt, .ft, \
         optionally .gz, or a directory); pass --format",
        path.display()
    )]
    UnknownFormat {
        /// The path.
        path: PathBuf,
    },
    /// A directory given for a file format, or a file for `dir`.
    #[error("{}: {problem}", path.display())]
    WrongKind {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// A CSV header lacks a requested column.
    #[error("{}:1: no column {column:?} in the CSV header (columns: {available})", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The header's columns, comma-separated.
        available: String,
    },
}

/// `path:line`, or `path` when the line is unknown.
fn at(path: &Path, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

/// A corpus read from one or more paths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    /// The documents, in path order, then file order.
    pub records: Vec<Record>,
    /// Bad rows skipped (only with [`ReadOptions::skip_bad_rows`]).
    pub skipped: usize,
    /// The first few skipped rows, for the report.
    pub skipped_examples: Vec<RowError>,
}

/// How many skipped rows are kept as examples.
const SKIPPED_EXAMPLES: usize = 5;

impl Corpus {
    /// Records a bad row: an error, or a skip when skipping is on.
    pub(crate) fn bad_row(&mut self, err: RowError, skip: bool) -> Result<(), CorpusError> {
        if !skip {
            return Err(err.into());
        }
        self.skipped += 1;
        if self.skipped_examples.len() < SKIPPED_EXAMPLES {
            self.skipped_examples.push(err);
        }
        Ok(())
    }

    /// The distinct labels, sorted alphabetically (byte-wise): the order a model keeps.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<&str> = self
            .records
            .iter()
            .flat_map(|r| r.labels.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Every record's labels as indices into `names` (which must hold them all, sorted),
    /// e.g. from [`Corpus::label_names`]. Labels missing from `names` are dropped.
    pub fn label_indices(&self, names: &[String]) -> Vec<Vec<usize>> {
        self.records
            .iter()
            .map(|r| {
                r.labels
                    .iter()
                    .filter_map(|l| names.binary_search_by(|n| n.as_str().cmp(l)).ok())
                    .collect()
            })
            .collect()
    }

    /// The texts, borrowed.
    pub fn texts(&self) -> Vec<&str> {
        self.records.iter().map(|r| r.text.as_str()).collect()
    }

    /// True when some document has more than one label.
    pub fn is_multi_label(&self) -> bool {
        self.records.iter().any(|r| r.labels.len() > 1)
    }
}

/// Reads every path into one corpus, calling `progress` from time to time (after each
/// chunk of a file) with every record read so far, in order. Why the records, not just
/// their number: a caller can start working on them (training tokenizes them) while the
/// rest of the file is still being decompressed.
pub fn read(
    paths: &[PathBuf],
    options: &ReadOptions,
    progress: &mut dyn FnMut(&[Record]),
) -> Result<Corpus, CorpusError> {
    if paths.is_empty() {
        return Err(CorpusError::NoPaths);
    }
    let mut corpus = Corpus::default();
    for path in paths {
        let format = match options.format {
            Format::Auto => Format::guess(path).ok_or_else(|| {
                if path.exists() {
                    CorpusError::UnknownFormat { path: path.clone() }
                } else {
                    CorpusError::Io {
                        path: path.clone(),
                        source: std::io::ErrorKind::NotFound.into(),
                    }
                }
            })?,
            f => f,
        };
        let before = corpus.records.len();
        let skipped_before = corpus.skipped;
        match format {
            Format::Dir => dir::read(path, options, &mut corpus, progress)?,
            Format::Jsonl => lines::read(path, lines::parse_jsonl, options, &mut corpus, progress)?,
            Format::FastText => {
                lines::read(path, lines::parse_fasttext, options, &mut corpus, progress)?
            }
            Format::Csv => table::read(path, options, &mut corpus, progress)?,
            Format::Auto => unreachable!("resolved above"),
        }
        if corpus.records.len() == before && corpus.skipped == skipped_before {
            return Err(CorpusError::Empty { path: path.clone() });
        }
    }
    if corpus.records.is_empty() {
        let first = corpus
            .skipped_examples
            .first()
            .cloned()
            .expect("an empty corpus without skipped rows is refused per path");
        return Err(CorpusError::AllSkipped {
            skipped: corpus.skipped,
            first,
        });
    }
    Ok(corpus)
}

/// Checks and cleans a row's text and labels into a record.
pub(crate) fn make_record(
    text: String,
    labels: Vec<String>,
    source: &Arc<Path>,
    line: u64,
) -> Result<Record, RowProblem> {
    if text.trim().is_empty() {
        return Err(RowProblem::EmptyText);
    }
    let labels = clean_labels(labels)?;
    Ok(Record {
        text,
        labels,
        source: Arc::clone(source),
        line,
    })
}

/// Refuses empty label lists and names; drops duplicates (a label counted twice would
/// double the document's weight for it).
fn clean_labels(mut labels: Vec<String>) -> Result<Vec<String>, RowProblem> {
    if labels.is_empty() {
        return Err(RowProblem::EmptyLabels);
    }
    if labels.iter().any(|l| l.trim().is_empty()) {
        return Err(RowProblem::EmptyLabelName);
    }
    if labels.len() > 1 {
        let mut seen: Vec<String> = Vec::with_capacity(labels.len());
        labels.retain(|l| {
            if seen.contains(l) {
                false
            } else {
                seen.push(l.clone());
                true
            }
        });
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_sees_every_record_read_so_far_in_order_as_the_file_is_read() {
        // Three chunks' worth of lines, so that progress is reported before the end.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let text = "word ".repeat(200);
        let lines: String = (0..3000)
            .map(|i| format!("{{\"text\": \"{i} {text}\", \"label\": \"l{}\"}}\n", i % 3))
            .collect();
        std::fs::write(&path, lines).unwrap();
        let mut seen: Vec<usize> = Vec::new();
        let mut in_order = true;
        let corpus = read(&[path], &ReadOptions::default(), &mut |records| {
            seen.push(records.len());
            in_order &= records
                .iter()
                .enumerate()
                .all(|(i, r)| r.text.starts_with(&format!("{i} ")) && r.line == i as u64 + 1);
        })
        .unwrap();
        assert_eq!(corpus.records.len(), 3000);
        assert!(
            in_order,
            "each call sees the records read so far, in file order"
        );
        assert!(seen.len() >= 3, "called as the file is read: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(seen.last(), Some(&3000));
    }

    #[test]
    fn formats_are_guessed_from_names_through_gz() {
        let g = |n: &str| Format::guess(Path::new(n));
        assert_eq!(g("a/train.jsonl.gz"), Some(Format::Jsonl));
        assert_eq!(g("x.JSON"), Some(Format::Jsonl));
        assert_eq!(g("x.csv"), Some(Format::Csv));
        assert_eq!(g("x.ft.gz"), Some(Format::FastText));
        assert_eq!(g("x.txt"), Some(Format::FastText));
        assert_eq!(g("x.parquet"), None);
        assert_eq!(g("noext"), None);
    }

    #[test]
    fn format_names_round_trip() {
        for name in Format::NAMES {
            assert_eq!(name.parse::<Format>().unwrap().to_string(), name);
        }
        assert!("xml".parse::<Format>().unwrap_err().contains("jsonl"));
    }

    #[test]
    fn records_refuse_empty_text_and_labels_and_drop_duplicate_labels() {
        let src: Arc<Path> = Path::new("f").into();
        let r = make_record(
            "t".into(),
            vec!["a".into(), "b".into(), "a".into()],
            &src,
            3,
        );
        assert_eq!(r.unwrap().labels, ["a", "b"]);
        assert_eq!(
            make_record("  ".into(), vec!["a".into()], &src, 1),
            Err(RowProblem::EmptyText)
        );
        assert_eq!(
            make_record("t".into(), vec![], &src, 1),
            Err(RowProblem::EmptyLabels)
        );
        assert_eq!(
            make_record("t".into(), vec![String::new()], &src, 1),
            Err(RowProblem::EmptyLabelName)
        );
    }

    #[test]
    fn label_names_are_sorted_and_indices_follow_them() {
        let src: Arc<Path> = Path::new("f").into();
        let rec = |l: &[&str]| Record {
            text: "x".into(),
            labels: l.iter().map(|s| s.to_string()).collect(),
            source: src.clone(),
            line: 1,
        };
        let corpus = Corpus {
            records: vec![rec(&["trade"]), rec(&["energy", "trade"])],
            ..Corpus::default()
        };
        let names = corpus.label_names();
        assert_eq!(names, ["energy", "trade"]);
        assert_eq!(corpus.label_indices(&names), vec![vec![1], vec![0, 1]]);
        assert!(corpus.is_multi_label());
    }
}
