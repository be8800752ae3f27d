//! CSV with a header row.

use std::path::Path;
use std::sync::Arc;

use super::source::{self, Source};
use super::{make_record, Corpus, CorpusError, ReadOptions, Record, RowError, RowProblem};

/// Reads a CSV file into `corpus`.
pub(crate) fn read(
    path: &Path,
    options: &ReadOptions,
    corpus: &mut Corpus,
    progress: &mut dyn FnMut(&[Record]),
) -> Result<(), CorpusError> {
    let Source { reader, gzip } = source::open(path)?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let src: Arc<Path> = path.into();
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(match csv_error(path, gzip, e, &src) {
                Ok(row) => row.into(),
                Err(fatal) => fatal,
            })
        }
    };
    if headers.is_empty() {
        return Err(CorpusError::Empty {
            path: path.to_owned(),
        });
    }
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let missing = |name: &str| CorpusError::MissingColumn {
        path: path.to_owned(),
        column: name.to_owned(),
        available: headers.iter().collect::<Vec<_>>().join(", "),
    };
    let opts = &options.csv;
    let text_col = column(&opts.text_column).ok_or_else(|| missing(&opts.text_column))?;
    let label_col = match &opts.label_column {
        Some(name) => column(name).ok_or_else(|| missing(name))?,
        None => column("labels")
            .or_else(|| column("label"))
            .ok_or_else(|| missing("label"))?,
    };
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => match csv_error(path, gzip, e, &src) {
                Ok(row) => {
                    corpus.bad_row(row, options.skip_bad_rows)?;
                    continue;
                }
                Err(fatal) => return Err(fatal),
            },
        }
        let line = record.position().map_or(line, |p| p.line());
        let text = record.get(text_col).unwrap_or_default().to_owned();
        let labels: Vec<String> = match record.get(label_col).unwrap_or_default().trim() {
            "" => Vec::new(),
            cell => cell
                .split(opts.label_separator)
                .map(|l| l.trim().to_owned())
                .collect(),
        };
        match make_record(text, labels, &src, line) {
            Ok(r) => corpus.records.push(r),
            Err(problem) => corpus.bad_row(
                RowError {
                    path: Arc::clone(&src),
                    line,
                    problem,
                },
                options.skip_bad_rows,
            )?,
        }
        rows += 1;
        if rows.is_multiple_of(4096) {
            progress(&corpus.records);
        }
    }
    progress(&corpus.records);
    Ok(())
}

/// Sorts a csv error into a bad row (`Ok`) or a fatal error (`Err`).
fn csv_error(
    path: &Path,
    gzip: bool,
    e: csv::Error,
    src: &Arc<Path>,
) -> Result<RowError, CorpusError> {
    let line = e.position().map_or(0, |p| p.line());
    let problem = match e.into_kind() {
        csv::ErrorKind::Io(io) => {
            let at = (line > 0).then_some(line);
            return Err(source::read_error_at(path, gzip, at, io));
        }
        csv::ErrorKind::Utf8 { .. } => RowProblem::InvalidUtf8,
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => RowProblem::Csv(format!("expected {expected_len} fields, found {len}")),
        other => RowProblem::Csv(format!("{other:?}")),
    };
    Ok(RowError {
        path: Arc::clone(src),
        line,
        problem,
    })
}
