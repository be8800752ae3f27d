//! The model file: a versioned, self-describing, checksummed container.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ATTACHE\0` |
//! | 4 | format version (u32) |
//! | 8 | payload length (u64) |
//! | 32 | SHA-256 of the payload |
//! | n | payload: postcard-encoded configuration, labels, vocabulary, counts, metadata |
//!
//! The payload stores the naive Bayes *counts*, not the fitted weights: weights are
//! refitted at load (a few milliseconds), so a loaded model can be merged or trained
//! further, and loading re-validates everything through [`Model::from_parts`].
//! Nothing in it depends on the clock or on hash-map order, so the same training writes
//! the same bytes.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::classifier::{LabelInfo, Model, ModelConfig, TrainingInfo};
use super::naive_bayes::NbCounts;
use super::train::hex;
use super::ModelError;
use crate::text::{Tokenizer, Vectorizer, Vocabulary};

/// First bytes of every model file.
pub const MAGIC: &[u8; 8] = b"ATTACHE\0";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// Why a model file was refused. Loading never panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Shorter than the header.
    #[error("truncated: {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// File length.
        len: usize,
    },
    /// Not a model file.
    #[error("not an attache model file (wrong magic bytes)")]
    BadMagic,
    /// Written by a newer attache (or an unknown format).
    #[error("unsupported format version {found} (this build reads version {supported}); upgrade attache")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The payload is shorter than the header says.
    #[error("truncated: the header announces {expected} payload bytes, the file holds {found}")]
    Truncated {
        /// Announced payload length.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Bytes after the payload.
    #[error("corrupted: {0} unexpected bytes after the payload")]
    TrailingBytes(u64),
    /// The payload does not match its checksum.
    #[error("corrupted: payload checksum mismatch")]
    ChecksumMismatch,
    /// The payload cannot be decoded.
    #[error("corrupted: payload cannot be decoded ({0})")]
    Decode(String),
    /// The decoded model is inconsistent.
    #[error("invalid model: {0}")]
    Invalid(#[from] ModelError),
}

/// What the payload holds, in a stable field order. Decoded whole; encoded in two halves,
/// [`PayloadHead`] and [`PayloadCounts`], whose bytes joined are this struct's.
#[derive(Serialize, Deserialize)]
struct Payload<'a> {
    id: String,
    version: String,
    labels: Vec<LabelInfo>,
    training: TrainingInfo,
    config: ModelConfig,
    thresholds: Vec<f64>,
    temperature: f64,
    vocabulary_docs: u64,
    terms: Cow<'a, [Box<str>]>,
    df: Cow<'a, [u32]>,
    tf: Cow<'a, [u64]>,
    label_docs: Vec<u64>,
    /// Non-zero counts, term-major: term t owns entries `offsets[t]..offsets[t + 1]`.
    offsets: Vec<u64>,
    count_labels: Vec<u32>,
    count_values: Vec<f64>,
}

/// The first fields of [`Payload`], borrowed, for encoding.
#[derive(Serialize)]
struct PayloadHead<'a> {
    id: &'a str,
    version: &'a str,
    labels: &'a [LabelInfo],
    training: &'a TrainingInfo,
    config: &'a ModelConfig,
    thresholds: &'a [f64],
    temperature: f64,
    vocabulary_docs: u64,
    terms: &'a [Box<str>],
    df: &'a [u32],
    tf: &'a [u64],
    label_docs: &'a [u64],
}

/// The last fields of [`Payload`]: the count table.
#[derive(Serialize)]
struct PayloadCounts {
    offsets: Vec<u64>,
    count_labels: Vec<u32>,
    count_values: Vec<f64>,
}

/// The cached checksum of a model's file bytes.
#[derive(Debug, Default)]
pub(crate) struct Checksum(OnceLock<String>);

impl Model {
    /// Encodes the model as file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = self.vectorizer.vocabulary();
        let l = self.labels.len();
        // A postcard struct is its fields' encodings one after the other, so the payload
        // is encoded in two halves on two threads and joined: the bytes of `Payload` (a
        // test holds them equal) in a little over half the time, which was a twentieth of
        // training on 20 Newsgroups.
        let (mut out, counts) = rayon::join(
            || {
                let head = PayloadHead {
                    id: &self.id,
                    version: &self.version,
                    labels: &self.labels,
                    training: &self.training,
                    config: &self.config,
                    thresholds: &self.thresholds,
                    temperature: self.temperature,
                    vocabulary_docs: v.n_docs(),
                    terms: v.terms(),
                    df: v.document_frequencies(),
                    tf: v.term_frequencies(),
                    label_docs: self.counts.label_docs(),
                };
                // The head is encoded after room for the file header, which is filled in
                // last: the body is never copied.
                postcard::to_io(&head, vec![0; HEADER_LEN])
                    .expect("encoding into memory cannot fail")
            },
            || {
                // The non-zero cells of blocks of terms, found in parallel: scanning the
                // whole table on one thread was the longest step of saving.
                const BLOCK: usize = 8192;
                let blocks: Vec<(Vec<u64>, Vec<u32>, Vec<f64>)> = self
                    .counts
                    .features()
                    .par_chunks(l * BLOCK)
                    .map(|block| {
                        let nnz = block.iter().filter(|&&x| x != 0.0).count();
                        let mut ends = Vec::with_capacity(block.len() / l);
                        let mut labels = Vec::with_capacity(nnz);
                        let mut values = Vec::with_capacity(nnz);
                        for row in block.chunks_exact(l) {
                            for (c, &x) in row.iter().enumerate() {
                                if x != 0.0 {
                                    labels.push(c as u32);
                                    values.push(x);
                                }
                            }
                            ends.push(values.len() as u64);
                        }
                        (ends, labels, values)
                    })
                    .collect();
                let nnz = blocks.iter().map(|b| b.2.len()).sum();
                let mut offsets = Vec::with_capacity(v.len() + 1);
                let mut count_labels = Vec::with_capacity(nnz);
                let mut count_values = Vec::with_capacity(nnz);
                offsets.push(0);
                for (ends, labels, values) in blocks {
                    let base = count_values.len() as u64;
                    offsets.extend(ends.iter().map(|e| base + e));
                    count_labels.extend_from_slice(&labels);
                    count_values.extend_from_slice(&values);
                }
                let counts = PayloadCounts {
                    offsets,
                    count_labels,
                    count_values,
                };
                postcard::to_stdvec(&counts).expect("encoding into memory cannot fail")
            },
        );
        out.extend_from_slice(&counts);
        let body_len = (out.len() - HEADER_LEN) as u64;
        let digest = Sha256::digest(&out[HEADER_LEN..]);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&body_len.to_le_bytes());
        header.extend_from_slice(&digest);
        out[..HEADER_LEN].copy_from_slice(&header);
        out
    }

    /// Decodes and fully validates a model from file bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ArtifactError> {
        if bytes.len() < MAGIC.len() {
            return Err(ArtifactError::TooShort { len: bytes.len() });
        }
        if &bytes[..8] != MAGIC {
            return Err(ArtifactError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(ArtifactError::TooShort { len: bytes.len() });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let expected = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let found = (bytes.len() - HEADER_LEN) as u64;
        if found < expected {
            return Err(ArtifactError::Truncated { expected, found });
        }
        if found > expected {
            return Err(ArtifactError::TrailingBytes(found - expected));
        }
        let body = &bytes[HEADER_LEN..];
        if Sha256::digest(body).as_slice() != &bytes[20..52] {
            return Err(ArtifactError::ChecksumMismatch);
        }
        let p: Payload =
            postcard::from_bytes(body).map_err(|e| ArtifactError::Decode(e.to_string()))?;
        let model = Model::from_payload(p)?;
        let _ = model.checksum.0.set(hex(&Sha256::digest(bytes)));
        Ok(model)
    }

    fn from_payload(p: Payload<'_>) -> Result<Model, ModelError> {
        let n_terms = p.terms.len();
        let l = p.labels.len();
        if p.df.len() != n_terms || p.tf.len() != n_terms || p.offsets.len() != n_terms + 1 {
            return Err(ModelError::Inconsistent(
                "vocabulary arrays disagree in length".into(),
            ));
        }
        if p.count_labels.len() != p.count_values.len()
            || p.offsets.first() != Some(&0)
            || p.offsets.last() != Some(&(p.count_values.len() as u64))
            || p.offsets.windows(2).any(|w| w[0] > w[1])
        {
            return Err(ModelError::Inconsistent("count table is malformed".into()));
        }
        if l > 0 && n_terms.checked_mul(l).is_none_or(|n| n > 1 << 34) {
            return Err(ModelError::Inconsistent("count table is too large".into()));
        }
        let mut features = vec![0.0; n_terms * l];
        for t in 0..n_terms {
            for k in p.offsets[t] as usize..p.offsets[t + 1] as usize {
                let c = p.count_labels[k] as usize;
                if c >= l {
                    return Err(ModelError::Inconsistent(format!(
                        "count for label #{c} of {l}"
                    )));
                }
                features[t * l + c] = p.count_values[k];
            }
        }
        let counts = NbCounts::from_parts(n_terms, p.label_docs, features)?;
        let entries = p
            .terms
            .into_owned()
            .into_iter()
            .zip(p.df.iter().copied())
            .zip(p.tf.iter().copied())
            .map(|((t, d), f)| (t, d, f))
            .collect();
        let vocabulary = Vocabulary::from_entries(entries, p.vocabulary_docs).ok_or_else(|| {
            ModelError::Inconsistent("vocabulary terms are not sorted and unique".into())
        })?;
        let tokenizer = Tokenizer::new(p.config.tokenizer.clone())?;
        let vectorizer = Vectorizer::new(tokenizer, vocabulary, p.config.vectorizer.clone());
        let mut model = Model::from_parts(
            p.id,
            p.version,
            p.labels,
            p.training,
            p.config,
            vectorizer,
            counts,
            p.thresholds,
        )?;
        model.set_temperature(p.temperature)?;
        // A loaded model is about to classify: fit it and build its lookup index now
        // rather than inside the first request (a server swaps the model in only after
        // this returns).
        model.estimator();
        model.vectorizer.prepare();
        Ok(model)
    }

    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ArtifactError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Io {
            path: path.to_owned(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Writes the model to `path` atomically: into a temporary file in the same directory,
    /// synced, then renamed, so a failure never leaves a half-written model behind.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ArtifactError> {
        let path = path.as_ref();
        let bytes = self.to_bytes();
        let io = |source| ArtifactError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        // The checksum of the file is computed while the disk syncs.
        let (result, checksum) = rayon::join(
            || {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
            },
            || hex(&Sha256::digest(&bytes)),
        );
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        let _ = self.checksum.0.set(checksum);
        Ok(())
    }

    /// SHA-256 of the model's file bytes, hex.
    pub fn file_checksum(&self) -> String {
        self.checksum
            .0
            .get_or_init(|| hex(&Sha256::digest(self.to_bytes())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrainSpec;

    #[test]
    fn the_payload_encoded_in_halves_is_the_payload_encoded_whole() {
        let texts = [
            "summit visit envoy",
            "trade tariff trade",
            "envoy summit talks",
        ];
        let labels: Vec<LabelInfo> = ["diplomacy", "economy"]
            .iter()
            .map(|n| LabelInfo {
                name: (*n).into(),
                description: String::new(),
            })
            .collect();
        let spec = TrainSpec {
            id: "m".into(),
            version: "1".into(),
            labels,
        };
        let gold = [vec![0], vec![1], vec![0]];
        let model = Model::train(spec, ModelConfig::default(), &texts, &gold).unwrap();
        let v = model.vectorizer.vocabulary();
        let l = model.labels.len();
        let mut offsets = vec![0];
        let (mut count_labels, mut count_values) = (Vec::new(), Vec::new());
        for row in model.counts.features().chunks_exact(l) {
            for (c, &x) in row.iter().enumerate().filter(|(_, x)| **x != 0.0) {
                count_labels.push(c as u32);
                count_values.push(x);
            }
            offsets.push(count_values.len() as u64);
        }
        let whole = Payload {
            id: model.id.clone(),
            version: model.version.clone(),
            labels: model.labels.clone(),
            training: model.training.clone(),
            config: model.config.clone(),
            thresholds: model.thresholds.clone(),
            temperature: model.temperature,
            vocabulary_docs: v.n_docs(),
            terms: Cow::Borrowed(v.terms()),
            df: Cow::Borrowed(v.document_frequencies()),
            tf: Cow::Borrowed(v.term_frequencies()),
            label_docs: model.counts.label_docs().to_vec(),
            offsets,
            count_labels,
            count_values,
        };
        let bytes = model.to_bytes();
        assert_eq!(&bytes[HEADER_LEN..], postcard::to_stdvec(&whole).unwrap());
        assert!(whole.count_values.len() > 3 && whole.terms.len() > 3);
    }
}
