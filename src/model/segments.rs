//! Paragraph segmentation, so an article covering several topics is assigned each of them.

/// Byte ranges `[start, end)` of the paragraphs of `text`, trimmed, never empty.
///
/// Paragraphs are separated by blank lines. A text without blank lines whose lines are
/// long (some line over 120 characters: one paragraph per line, as news feeds send them)
/// is split at line breaks; hard-wrapped text (all lines short) stays one paragraph.
pub fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            lines.push((start, i));
            start = i + 1;
        }
    }
    lines.push((start, text.len()));
    let blank = |&(s, e): &(usize, usize)| text[s..e].trim().is_empty();
    let has_blank_separator = {
        let first = lines.iter().position(|l| !blank(l));
        let last = lines.iter().rposition(|l| !blank(l));
        match (first, last) {
            (Some(f), Some(l)) => lines[f..l].iter().any(blank),
            _ => false,
        }
    };
    let one_per_line =
        !has_blank_separator && lines.iter().any(|&(s, e)| text[s..e].chars().count() > 120);
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in &lines {
        if blank(line) {
            out.extend(current.take());
            continue;
        }
        current = match current {
            Some((s, _)) if !one_per_line => Some((s, line.1)),
            Some(done) => {
                out.push(done);
                Some(*line)
            }
            None => Some(*line),
        };
    }
    out.extend(current);
    out.into_iter()
        .map(|(s, e)| trim_range(text, s, e))
        .collect()
}

fn trim_range(text: &str, start: usize, end: usize) -> (usize, usize) {
    let slice = &text[start..end];
    let lead = slice.len() - slice.trim_start().len();
    let trail = slice.len() - slice.trim_end().len();
    (start + lead, end - trail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        paragraphs(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn blank_lines_separate_paragraphs() {
        assert_eq!(
            texts("First line\nstill first.\n\n  \nSecond.\n"),
            ["First line\nstill first.", "Second."]
        );
    }

    #[test]
    fn long_lines_without_blank_lines_are_paragraphs_each() {
        let long = "x".repeat(130);
        let text = format!("{long}\n{long}");
        assert_eq!(texts(&text).len(), 2);
    }

    #[test]
    fn hard_wrapped_text_stays_one_paragraph() {
        assert_eq!(texts("short line\nanother short line\n").len(), 1);
    }

    #[test]
    fn whitespace_only_text_has_no_paragraphs() {
        assert!(paragraphs(" \n\n\t").is_empty());
    }
}
