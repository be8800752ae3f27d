//! The documents a benchmark sends: a JSON Lines file (gzip or not), one object per line
//! with a `text` field; `labels` (first one counts) or `label` when present.
//!
//! Why not [`crate::corpus::read`]: that reader insists on labels (it reads training data);
//! a benchmark also runs on unlabeled text, and only checks answers when labels exist.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use super::LoadError;
use crate::corpus::source;

/// One document to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The text (never empty or whitespace only).
    pub text: String,
    /// The first gold label, when the file has one.
    pub label: Option<String>,
}

/// The documents of a run, sent in file order and cycled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Documents {
    /// In file order.
    pub docs: Vec<Document>,
}

#[derive(Deserialize)]
struct Row {
    text: Option<serde_json::Value>,
    #[serde(default)]
    labels: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    label: Option<serde_json::Value>,
}

impl Documents {
    /// Reads up to `limit` documents (all when `None`) from `path`.
    pub fn read(path: &Path, limit: Option<usize>) -> Result<Documents, LoadError> {
        let src = source::open(path)?;
        let gzip = src.gzip;
        let reader = BufReader::with_capacity(1 << 16, src.reader);
        let mut docs = Vec::new();
        let bad = |line: u64, problem: &str| LoadError::BadDocument {
            path: path.to_owned(),
            line,
            problem: problem.to_owned(),
        };
        for (i, line) in reader.split(b'\n').enumerate() {
            if limit.is_some_and(|n| docs.len() >= n) {
                break;
            }
            let line = line.map_err(|e| source::read_error(path, gzip, e))?;
            let n = i as u64 + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row: Row = serde_json::from_slice(&line)
                .map_err(|e| bad(n, &format!("not a JSON object: {e}")))?;
            let text = match row.text {
                Some(serde_json::Value::String(t)) => t,
                Some(_) => return Err(bad(n, "\"text\" must be a string")),
                None => return Err(bad(n, "missing \"text\"")),
            };
            if text.trim().is_empty() {
                return Err(bad(n, "empty text"));
            }
            let first = row.labels.and_then(|l| l.into_iter().next()).or(row.label);
            let label = match first {
                Some(serde_json::Value::String(l)) if !l.is_empty() => Some(l),
                _ => None,
            };
            docs.push(Document { text, label });
        }
        if docs.is_empty() {
            return Err(LoadError::NoDocuments {
                path: path.to_owned(),
            });
        }
        Ok(Documents { docs })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The document at position `i`, cycling.
    pub fn cycled(&self, i: u64) -> &Document {
        &self.docs[(i % self.docs.len() as u64) as usize]
    }

    /// Total UTF-8 bytes of text.
    pub fn text_bytes(&self) -> usize {
        self.docs.iter().map(|d| d.text.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8], gzip: bool) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(content).unwrap();
            f.write_all(&enc.finish().unwrap()).unwrap();
        } else {
            f.write_all(content).unwrap();
        }
        f
    }

    #[test]
    fn reads_text_and_first_label_from_plain_or_gzip_lines() {
        let content = b"{\"text\": \"a b\", \"labels\": [\"x\", \"y\"], \"id\": 3}\n\n\
            {\"text\": \"c\", \"label\": \"z\"}\n{\"text\": \"d\", \"labels\": []}\n";
        for gzip in [false, true] {
            let f = file(content, gzip);
            let d = Documents::read(f.path(), None).unwrap();
            let got: Vec<(&str, Option<&str>)> = d
                .docs
                .iter()
                .map(|d| (d.text.as_str(), d.label.as_deref()))
                .collect();
            assert_eq!(got, [("a b", Some("x")), ("c", Some("z")), ("d", None)]);
            assert_eq!(d.cycled(4).text, "c");
            assert_eq!(Documents::read(f.path(), Some(1)).unwrap().len(), 1);
        }
    }

    #[test]
    fn bad_lines_are_named_by_line_number() {
        let f = file(b"{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n", false);
        let err = Documents::read(f.path(), None).unwrap_err().to_string();
        assert!(err.ends_with(":2: missing \"text\""), "{err}");
        let f = file(b"{\"text\": \"  \"}\n", false);
        let err = Documents::read(f.path(), None).unwrap_err().to_string();
        assert!(err.ends_with(":1: empty text"), "{err}");
        let f = file(b"\n", false);
        let err = Documents::read(f.path(), None).unwrap_err().to_string();
        assert!(err.ends_with("no documents"), "{err}");
    }
}
