//! Line-oriented formats (JSON Lines, fastText): one document per line.
//!
//! Why the reading is pipelined: decompressing is sequential, parsing is not. One thread
//! decompresses the file into chunks of whole lines while the caller parses the previous
//! chunk's lines in parallel, so reading costs about as much as decompressing alone.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::source::{self, Source};
use super::{make_record, Corpus, CorpusError, ReadOptions, Record, RowError, RowProblem};

/// Parses one line (without its newline) into text and labels; `Ok(None)` for a blank line.
pub(crate) type LineParser = fn(&[u8]) -> Result<Option<(String, Vec<String>)>, RowProblem>;

/// Bytes handed to the parser at a time (extended to the end of the line).
const CHUNK_BYTES: usize = 1 << 20;

/// A read error, and the line being read when it happened.
type ReadFailure = (std::io::Error, u64);

/// Whole lines of a file, starting at line `first_line`.
struct Chunk {
    data: Vec<u8>,
    first_line: u64,
}

/// Reads a line-oriented file into `corpus`.
pub(crate) fn read(
    path: &Path,
    parse: LineParser,
    options: &ReadOptions,
    corpus: &mut Corpus,
    progress: &mut dyn FnMut(&[Record]),
) -> Result<(), CorpusError> {
    let Source { reader, gzip } = source::open(path)?;
    let src: Arc<Path> = path.into();
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Result<Chunk, ReadFailure>>(4);
        scope.spawn(move || produce(reader, CHUNK_BYTES, |chunk| tx.send(chunk).is_ok()));
        // Dropping `rx` on an early return makes the producer's next send fail, so it stops.
        for chunk in rx {
            let chunk =
                chunk.map_err(|(e, line)| source::read_error_at(path, gzip, Some(line), e))?;
            let parsed = parse_chunk(&chunk, parse, &src);
            for row in parsed {
                match row {
                    Ok(Some(record)) => corpus.records.push(record),
                    Ok(None) => {}
                    Err(e) => corpus.bad_row(e, options.skip_bad_rows)?,
                }
            }
            progress(&corpus.records);
        }
        Ok(())
    })
}

/// Splits `reader` into chunks of whole lines and hands each to `send`, stopping when
/// `send` returns false or after the first read error (which is sent too, with the line it
/// broke in: a cut gzip stream is reported at the line where the data ends).
fn produce(
    mut reader: Box<dyn Read + Send>,
    chunk_bytes: usize,
    send: impl Fn(Result<Chunk, ReadFailure>) -> bool,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut next_line = 1u64;
    let mut first = true;
    loop {
        let mut data = std::mem::take(&mut carry);
        // A line longer than a chunk keeps growing by whole chunks, never byte by byte.
        let want = if data.len() < chunk_bytes {
            chunk_bytes - data.len()
        } else {
            chunk_bytes
        };
        data.reserve(want);
        // `read_to_end` on `take` stops early only at the end of the input.
        let eof = match reader.by_ref().take(want as u64).read_to_end(&mut data) {
            Ok(n) => n < want,
            Err(e) => {
                // Bytes read before the error stay in `data`.
                let line = next_line + data.iter().filter(|&&b| b == b'\n').count() as u64;
                send(Err((e, line)));
                return;
            }
        };
        if first {
            first = false;
            if data.starts_with(b"\xEF\xBB\xBF") {
                data.drain(..3);
            }
        }
        if !eof {
            // Keep the unfinished last line for the next chunk.
            match data.iter().rposition(|&b| b == b'\n') {
                Some(pos) => carry = data.split_off(pos + 1),
                None => {
                    carry = data;
                    continue;
                }
            }
        }
        if data.is_empty() {
            return;
        }
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        let chunk = Chunk {
            data,
            first_line: next_line,
        };
        next_line += lines;
        if !send(Ok(chunk)) || eof {
            return;
        }
    }
}

/// Parses the lines of a chunk in parallel, keeping their order.
fn parse_chunk(
    chunk: &Chunk,
    parse: LineParser,
    src: &Arc<Path>,
) -> Vec<Result<Option<Record>, RowError>> {
    let mut lines: Vec<(u64, &[u8])> = Vec::with_capacity(chunk.data.len() / 512 + 1);
    lines.extend((chunk.first_line..).zip(chunk.data.split(|&b| b == b'\n')));
    // `split` yields an empty piece after a final newline; it is not a line.
    if chunk.data.ends_with(b"\n") {
        lines.pop();
    }
    lines
        .par_iter()
        .map(|&(line, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let row_error = |problem| RowError {
                path: Arc::clone(src),
                line,
                problem,
            };
            match parse(raw).map_err(row_error)? {
                None => Ok(None),
                Some((text, labels)) => make_record(text, labels, src, line)
                    .map(Some)
                    .map_err(row_error),
            }
        })
        .collect()
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(u8::is_ascii_whitespace)
}

/// The fast path: the shape every good row has. Other fields are skipped unparsed.
#[derive(Deserialize)]
struct JsonRow {
    text: String,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    label: Option<String>,
}

/// Parses a JSON Lines row.
pub(crate) fn parse_jsonl(raw: &[u8]) -> Result<Option<(String, Vec<String>)>, RowProblem> {
    if is_blank(raw) {
        return Ok(None);
    }
    match serde_json::from_slice::<JsonRow>(raw) {
        Ok(row) => match (row.labels, row.label) {
            (Some(_), Some(_)) => Err(RowProblem::BothLabelFields),
            (Some(labels), None) => Ok(Some((row.text, labels))),
            (None, Some(label)) => Ok(Some((row.text, vec![label]))),
            (None, None) => Err(RowProblem::MissingLabels(
                "expected \"labels\": [...] or \"label\": \"...\"",
            )),
        },
        // Only bad rows pay for a second, generic parse that says what is wrong.
        Err(fast) => Err(diagnose_json(raw, &fast)),
    }
}

fn diagnose_json(raw: &[u8], fast: &serde_json::Error) -> RowProblem {
    let value: Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => return RowProblem::InvalidJson(json_message(&e)),
    };
    let Value::Object(map) = value else {
        return RowProblem::NotAnObject(json_type(&value));
    };
    match map.get("text") {
        None => return RowProblem::MissingText,
        Some(Value::String(_)) => {}
        Some(other) => {
            return RowProblem::WrongType {
                field: "text",
                expected: "a string",
                found: json_type(other),
            }
        }
    }
    match map.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if let Some(bad) = items.iter().find(|v| !v.is_string()) {
                return RowProblem::WrongType {
                    field: "labels",
                    expected: "an array of strings",
                    found: match bad {
                        Value::Null => "an array holding null",
                        Value::Bool(_) => "an array holding a boolean",
                        Value::Number(_) => "an array holding a number",
                        Value::Array(_) => "an array holding an array",
                        _ => "an array holding an object",
                    },
                };
            }
        }
        Some(other) => {
            return RowProblem::WrongType {
                field: "labels",
                expected: "an array of strings",
                found: json_type(other),
            }
        }
    }
    match map.get("label") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(other) => {
            return RowProblem::WrongType {
                field: "label",
                expected: "a string",
                found: json_type(other),
            }
        }
    }
    RowProblem::InvalidJson(json_message(fast))
}

/// serde_json's message without its "at line 1 column N" (the row is the line).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let base = s.rfind(" at line ").map_or(s.as_str(), |i| &s[..i]);
    format!("{base} (column {})", e.column())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The prefix that marks a label in fastText files.
const FASTTEXT_LABEL: &str = "__label__";

/// Parses a fastText row: leading `__label__x` tokens, then the text.
pub(crate) fn parse_fasttext(raw: &[u8]) -> Result<Option<(String, Vec<String>)>, RowProblem> {
    let line = std::str::from_utf8(raw).map_err(|_| RowProblem::InvalidUtf8)?;
    let mut rest = line.trim_start();
    if rest.is_empty() {
        return Ok(None);
    }
    let mut labels = Vec::new();
    while let Some(after) = rest.strip_prefix(FASTTEXT_LABEL) {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        labels.push(after[..end].to_owned());
        rest = after[end..].trim_start();
    }
    if labels.is_empty() {
        return Err(RowProblem::MissingLabels(
            "a fastText line starts with __label__<name>",
        ));
    }
    Ok(Some((rest.trim_end().to_owned(), labels)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, Vec<String>) {
        parse_jsonl(raw.as_bytes()).unwrap().unwrap()
    }
    fn bad(raw: &str) -> RowProblem {
        parse_jsonl(raw.as_bytes()).unwrap_err()
    }

    #[test]
    fn jsonl_rows_take_labels_or_label_and_ignore_other_fields() {
        assert_eq!(
            ok(r#"{"id": 3, "text": "a\nb", "labels": ["x", "y"], "extra": {"k": [1]}}"#),
            ("a\nb".to_owned(), vec!["x".to_owned(), "y".to_owned()])
        );
        assert_eq!(ok(r#"{"label": "x", "text": "t"}"#).1, ["x"]);
        assert_eq!(parse_jsonl(b"  \t").unwrap(), None);
    }

    #[test]
    fn jsonl_problems_say_what_is_wrong() {
        assert!(
            matches!(bad(r#"{"text": "t", "labels": ["#), RowProblem::InvalidJson(m) if m.contains("column"))
        );
        assert_eq!(bad("[1, 2]"), RowProblem::NotAnObject("an array"));
        assert_eq!(bad(r#"{"labels": ["x"]}"#), RowProblem::MissingText);
        assert_eq!(
            bad(r#"{"text": 5, "labels": ["x"]}"#),
            RowProblem::WrongType {
                field: "text",
                expected: "a string",
                found: "a number"
            }
        );
        assert_eq!(
            bad(r#"{"text": "t", "labels": "x"}"#),
            RowProblem::WrongType {
                field: "labels",
                expected: "an array of strings",
                found: "a string"
            }
        );
        assert_eq!(
            bad(r#"{"text": "t", "labels": [1]}"#),
            RowProblem::WrongType {
                field: "labels",
                expected: "an array of strings",
                found: "an array holding a number"
            }
        );
        assert_eq!(
            bad(r#"{"text": "t", "label": true}"#),
            RowProblem::WrongType {
                field: "label",
                expected: "a string",
                found: "a boolean"
            }
        );
        assert!(matches!(
            bad(r#"{"text": "t"}"#),
            RowProblem::MissingLabels(_)
        ));
        assert_eq!(
            bad(r#"{"text": "t", "label": "a", "labels": ["b"]}"#),
            RowProblem::BothLabelFields
        );
    }

    #[test]
    fn fasttext_rows_take_leading_labels() {
        let (text, labels) = parse_fasttext(b"__label__a __label__b  some text here ")
            .unwrap()
            .unwrap();
        assert_eq!(text, "some text here");
        assert_eq!(labels, ["a", "b"]);
        assert!(matches!(
            parse_fasttext(b"no labels here"),
            Err(RowProblem::MissingLabels(_))
        ));
        assert_eq!(parse_fasttext(b"\xff"), Err(RowProblem::InvalidUtf8));
        assert_eq!(parse_fasttext(b"   ").unwrap(), None);
    }

    #[test]
    fn chunks_hold_whole_lines_and_count_them() {
        // Short lines, one line longer than a chunk, and a last line without a newline.
        let mut text: String = (1..=3000).map(|i| format!("line {i}\n")).collect();
        text.push_str(&"x".repeat(2500));
        text.push('\n');
        text.push_str("last");
        let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.clone()));
        let chunks = std::sync::Mutex::new(Vec::new());
        produce(reader, 1000, |c| {
            chunks.lock().unwrap().push(c.unwrap());
            true
        });
        let chunks = chunks.into_inner().unwrap();
        assert!(chunks.len() > 10);
        let mut expected_line = 1;
        let mut joined = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.first_line, expected_line);
            assert!(
                i == chunks.len() - 1 || c.data.ends_with(b"\n"),
                "whole lines"
            );
            expected_line += c.data.iter().filter(|&&b| b == b'\n').count() as u64;
            joined.extend_from_slice(&c.data);
        }
        assert_eq!(joined, text.as_bytes(), "nothing lost or repeated");
        // The unterminated last line is line 3002 and comes last.
        assert_eq!(expected_line, 3002);
        assert!(chunks.last().unwrap().data.ends_with(b"\nlast"));
    }
}
