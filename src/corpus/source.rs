//! Opening corpus files, decompressing gzip transparently.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::CorpusError;

/// An open corpus file: its bytes, decompressed when the file is gzip.
pub(crate) struct Source {
    /// The (decompressed) bytes.
    pub reader: Box<dyn Read + Send>,
    /// Whether the file is gzip, so read errors can be blamed on the stream.
    pub gzip: bool,
}

/// Opens `path`, recognising gzip by its magic bytes rather than by its name, so a
/// misnamed file still reads.
pub(crate) fn open(path: &Path) -> Result<Source, CorpusError> {
    let io = |source| CorpusError::Io {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        return Err(CorpusError::WrongKind {
            path: path.to_owned(),
            problem: "is a directory (for a directory per label, use --format dir)",
        });
    }
    let file = File::open(path).map_err(io)?;
    let mut buffered = BufReader::with_capacity(1 << 16, file);
    let gzip = buffered.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + Send> = if gzip {
        // Multi-member: `cat a.gz b.gz` is a valid gzip file holding both.
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(Source { reader, gzip })
}

/// The error for a failed read of `path`: a gzip stream error when the file is gzip
/// (the decoder reports truncation and corruption as I/O errors).
pub(crate) fn read_error(path: &Path, gzip: bool, source: std::io::Error) -> CorpusError {
    read_error_at(path, gzip, None, source)
}

/// [`read_error`] at `line` (when known), so a cut gzip stream is reported as `file:line`.
pub(crate) fn read_error_at(
    path: &Path,
    gzip: bool,
    line: Option<u64>,
    source: std::io::Error,
) -> CorpusError {
    if gzip {
        CorpusError::Gzip {
            path: path.to_owned(),
            line,
            source,
        }
    } else {
        CorpusError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads a whole (small) file, decompressed.
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>, CorpusError> {
    let mut source = open(path)?;
    let mut out = Vec::new();
    source
        .reader
        .read_to_end(&mut out)
        .map_err(|e| read_error(path, source.gzip, e))?;
    Ok(out)
}
