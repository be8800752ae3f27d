//! The directory-per-label layout: `DIR/<label>/<file>`, one document per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::{make_record, source, Corpus, CorpusError, ReadOptions, Record, RowError, RowProblem};

/// Reads `DIR/<label>/**/<file>` into `corpus`. Hidden entries (names starting with `.`)
/// and files directly in `DIR` (a README, say) are ignored; a label folder without files
/// is an error; files are taken in name order
/// so the corpus order never depends on the file system.
pub(crate) fn read(
    dir: &Path,
    options: &ReadOptions,
    corpus: &mut Corpus,
    progress: &mut dyn FnMut(&[Record]),
) -> Result<(), CorpusError> {
    if !dir.is_dir() {
        return Err(if dir.exists() {
            CorpusError::WrongKind {
                path: dir.to_owned(),
                problem: "is not a directory (--format dir expects DIR/<label>/<files>)",
            }
        } else {
            CorpusError::Io {
                path: dir.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            }
        });
    }
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for label_dir in sorted_entries(dir)? {
        if !label_dir.is_dir() {
            continue;
        }
        let label = label_dir
            .file_name()
            .expect("directory entries have names")
            .to_string_lossy()
            .into_owned();
        let mut label_files = Vec::new();
        collect_files(&label_dir, &mut label_files)?;
        // An empty folder is a label the model could never learn: most likely a mistake.
        if label_files.is_empty() {
            return Err(CorpusError::EmptyLabel {
                path: label_dir,
                label,
            });
        }
        files.extend(label_files.into_iter().map(|f| (label.clone(), f)));
    }
    // Small files: reading them in parallel hides the per-file latency.
    for batch in files.chunks(1024) {
        let rows: Vec<Result<Result<Record, RowError>, CorpusError>> = batch
            .par_iter()
            .map(|(label, file)| {
                let bytes = source::read_all(file)?;
                let src: Arc<Path> = file.as_path().into();
                let row_error = |problem| RowError {
                    path: Arc::clone(&src),
                    line: 1,
                    problem,
                };
                let text = match String::from_utf8(bytes) {
                    Ok(t) => t,
                    Err(_) => return Ok(Err(row_error(RowProblem::InvalidUtf8))),
                };
                Ok(make_record(text, vec![label.clone()], &src, 1).map_err(row_error))
            })
            .collect();
        for row in rows {
            match row? {
                Ok(record) => corpus.records.push(record),
                Err(e) => corpus.bad_row(e, options.skip_bad_rows)?,
            }
        }
        progress(&corpus.records);
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let io = |source| CorpusError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            entries.push(entry.path());
        }
    }
    entries.sort();
    Ok(entries)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
