//! Rendering metrics: an aligned plain-text report for people, JSON for machines.

use std::io::{self, Write};

use super::metrics::Metrics;

/// Labels beyond which the confusion matrix is left out of the text report (it no longer
/// fits a terminal); the JSON always has it.
pub const MAX_CONFUSION_LABELS: usize = 30;

/// A plain-text table: the first column left-aligned, the others right-aligned.
#[derive(Clone, Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
        let mut t = Table::default();
        t.row(header);
        t
    }

    /// Adds a row.
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
        self
    }

    /// Writes the table, each line prefixed by `indent`.
    pub fn write(&self, out: &mut dyn Write, indent: &str) -> io::Result<()> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::from(indent);
            for (c, cell) in row.iter().enumerate() {
                if c == 0 {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                } else {
                    line.push_str(&format!("  {cell:>w$}", w = widths[c]));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A figure with four decimals.
pub fn fmt4(x: f64) -> String {
    format!("{x:.4}")
}

/// Writes the headline figures (accuracy, micro/macro P/R/F1, precision@1, recall@k,
/// coverage), each line prefixed by `indent`.
pub fn write_summary(out: &mut dyn Write, m: &Metrics, indent: &str) -> io::Result<()> {
    let kind = if m.multi_label {
        "multi-label"
    } else {
        "single-label"
    };
    writeln!(out, "{indent}documents    {} ({kind})", m.documents)?;
    let exact = if m.multi_label {
        " (exact label set)"
    } else {
        ""
    };
    writeln!(out, "{indent}accuracy     {}{exact}", fmt4(m.accuracy))?;
    let mut t = Table::new(["", "precision", "recall", "f1"]);
    for (name, p) in [("micro", &m.micro), ("macro", &m.macro_avg)] {
        t.row([
            name.to_owned(),
            fmt4(p.precision),
            fmt4(p.recall),
            fmt4(p.f1),
        ]);
    }
    t.write(out, indent)?;
    writeln!(out, "{indent}precision@1  {}", fmt4(m.precision_at_1))?;
    writeln!(
        out,
        "{indent}recall@{:<5} {}",
        m.recall_at_k.k,
        fmt4(m.recall_at_k.value)
    )?;
    if m.multi_label {
        writeln!(
            out,
            "{indent}labels/doc   {:.2} predicted, {:.2} gold",
            m.mean_predicted_labels, m.mean_gold_labels
        )?;
    }
    if let Some(c) = m.coverage {
        writeln!(
            out,
            "{indent}coverage     {} (mean share of document terms the model knows)",
            fmt4(c)
        )?;
    }
    Ok(())
}

/// Writes the per-label table.
pub fn write_per_label(out: &mut dyn Write, m: &Metrics, indent: &str) -> io::Result<()> {
    let mut t = Table::new(["label", "support", "predicted", "precision", "recall", "f1"]);
    for l in &m.per_label {
        t.row([
            l.label.clone(),
            l.support.to_string(),
            l.predicted.to_string(),
            fmt4(l.scores.precision),
            fmt4(l.scores.recall),
            fmt4(l.scores.f1),
        ]);
    }
    t.write(out, indent)
}

/// Writes the confusion matrix (rows: gold, columns: predicted, numbered as the rows),
/// or a note saying why there is none.
pub fn write_confusion(out: &mut dyn Write, m: &Metrics, indent: &str) -> io::Result<()> {
    let Some(c) = &m.confusion else {
        return writeln!(
            out,
            "{indent}(no confusion matrix: it needs one gold and one predicted label per document)"
        );
    };
    if c.labels.len() > MAX_CONFUSION_LABELS {
        return writeln!(
            out,
            "{indent}(confusion matrix of {} labels left out; see --json)",
            c.labels.len()
        );
    }
    writeln!(
        out,
        "{indent}confusion matrix (rows: true label, columns: predicted, numbered as the rows)"
    )?;
    let mut header = vec![String::new()];
    header.extend((0..c.labels.len()).map(|i| i.to_string()));
    let mut t = Table::new(header);
    for (i, (name, row)) in c.labels.iter().zip(&c.counts).enumerate() {
        let mut cells = vec![format!("{i:>2} {name}")];
        cells.extend(row.iter().map(u64::to_string));
        t.row(cells);
    }
    t.write(out, indent)
}

/// Writes the whole report: summary, per-label table and confusion matrix.
pub fn write_report(out: &mut dyn Write, m: &Metrics) -> io::Result<()> {
    write_summary(out, m, "")?;
    writeln!(out)?;
    write_per_label(out, m, "")?;
    if !m.multi_label {
        writeln!(out)?;
        write_confusion(out, m, "")?;
    }
    Ok(())
}

/// The metrics as one line of JSON.
pub fn to_json(m: &Metrics) -> serde_json::Value {
    serde_json::to_value(m).expect("metrics serialise")
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{evaluate, Outcome};
    use super::*;

    fn metrics() -> Metrics {
        let names = vec!["acq".to_string(), "earn".to_string()];
        let gold = [[0], [1], [1]];
        let pred = [[0], [1], [0]];
        let ranking = [[0, 1], [1, 0], [0, 1]];
        evaluate(
            names,
            1,
            (0..3).map(|i| Outcome {
                gold: &gold[i],
                predicted: &pred[i],
                ranking: &ranking[i],
                coverage: Some(1.0),
            }),
        )
    }

    #[test]
    fn text_report_has_summary_per_label_rows_and_confusion_matrix() {
        let mut out = Vec::new();
        write_report(&mut out, &metrics()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("accuracy     0.6667"), "{text}");
        assert!(text.contains("macro"));
        let acq = text.lines().find(|l| l.starts_with("acq")).unwrap();
        assert_eq!(
            acq.split_whitespace().collect::<Vec<_>>(),
            ["acq", "1", "2", "0.5000", "1.0000", "0.6667"]
        );
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("1 earn"))
            .unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["1", "earn", "1", "1"]
        );
    }

    #[test]
    fn json_report_names_every_figure() {
        let j = to_json(&metrics());
        assert_eq!(j["documents"], 3);
        assert!((j["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!(j["macro"]["f1"].is_number());
        assert_eq!(j["per_label"][0]["label"], "acq");
        assert_eq!(j["per_label"][0]["precision"], 0.5);
        assert_eq!(j["confusion"]["counts"][1], serde_json::json!([1, 1]));
        assert_eq!(j["recall_at_k"]["k"], 1);
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        Table::new(["a", "bb"])
            .row(["ccc", "d"])
            .write(&mut out, "> ")
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "> a    bb\n> ccc   d\n");
    }
}
