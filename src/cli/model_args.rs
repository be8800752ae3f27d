//! Hyperparameter flags and the TOML config file, merged into a [`ModelConfig`].
//!
//! The config file mirrors [`ModelConfig`] (`[tokenizer]`, `[vocabulary]`, `[vectorizer]`,
//! `[model]`, `[assign]`) plus `[labels]` (`label = "description"`). Flags override the
//! file. Both go through one path: flags are written into the parsed TOML table, which is
//! then deserialised (unknown keys refused) and validated, so a flag and its config key can
//! never disagree about names or ranges.
//!
//! ```toml
//! [tokenizer]
//! word_ngrams = 2
//! stemmer = "english"
//! [vectorizer]
//! sublinear_tf = true
//! [model]
//! kind = "complement"
//! alpha = 0.3
//! [labels]
//! trade = "Trade agreements, tariffs and market access"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use toml::{Table, Value};

use crate::model::{ModelConfig, ModelError};
use crate::text::{TextError, ENGLISH_STOP_WORDS};

/// Every tokenizer, vocabulary, vectorizer, estimator and assignment setting. Defaults are
/// those of [`ModelConfig::default`]; a flag overrides `--config`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Model settings (override --config)")]
pub struct ModelArgs {
    /// Naive Bayes estimator [default: multinomial].
    #[arg(long, value_parser = ["multinomial", "complement"])]
    pub kind: Option<String>,
    /// Additive smoothing, finite and > 0 [default: 1.0].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Complement NB weight normalisation (with --kind complement only) [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub norm: Option<bool>,
    /// Word n-grams: terms of 1..=N words, 0..=5 (0: character n-grams only) [default: 1].
    #[arg(long, value_name = "N")]
    pub ngrams: Option<usize>,
    /// Character n-grams MIN:MAX over runs of letters and digits (1 <= MIN <= MAX <= 8),
    /// or "none" [default: none].
    #[arg(long, value_name = "MIN:MAX")]
    pub char_ngrams: Option<String>,
    /// Snowball stemmer language (english, french, russian, ...) or "none" [default: none].
    #[arg(long, value_name = "LANG")]
    pub stemmer: Option<String>,
    /// Stop words: "english", "none", a FILE with one word per line (# comments), or
    /// "english+FILE" for the English list and the file's words [default: english].
    #[arg(long, value_name = "english|none|FILE|english+FILE")]
    pub stop_words: Option<String>,
    /// Drop words shorter than this many characters, 1..=64; single CJK characters are
    /// always kept [default: 2].
    #[arg(long, value_name = "N")]
    pub min_token_chars: Option<usize>,
    /// Keep words as written: no NFKC normalisation, no case folding [default: fold].
    #[arg(long)]
    pub no_fold: bool,
    /// Drop terms found in fewer documents, >= 1 [default: 1].
    #[arg(long, value_name = "N")]
    pub min_df: Option<u32>,
    /// Drop terms found in more than this share of documents, (0, 1] [default: 1.0].
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub max_df: Option<f64>,
    /// Keep at most N terms, the most frequent, >= 1 [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_features: Option<usize>,
    /// Term weight 1 + ln(count) instead of count [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub sublinear_tf: Option<bool>,
    /// Multiply term weights by smoothed idf; such models cannot be merged or trained
    /// incrementally [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub idf: Option<bool>,
    /// Document length normalisation [default: none].
    #[arg(long, value_parser = ["none", "l1", "l2"])]
    pub length_norm: Option<String>,
    /// Probability at which a label is assigned, [0, 1]; per-label thresholds start here
    /// [default: 0.5].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Do not add the labels of single paragraphs to a document's labels [default: they
    /// are added].
    #[arg(long)]
    pub no_paragraphs: bool,
    /// A paragraph needs this many known terms to add labels [default: 5].
    #[arg(long, value_name = "N")]
    pub min_segment_terms: Option<u32>,
}

impl ModelArgs {
    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        let ModelArgs {
            kind,
            alpha,
            norm,
            ngrams,
            char_ngrams,
            stemmer,
            stop_words,
            min_token_chars,
            no_fold,
            min_df,
            max_df,
            max_features,
            sublinear_tf,
            idf,
            length_norm,
            threshold,
            no_paragraphs,
            min_segment_terms,
        } = self;
        kind.is_none()
            && alpha.is_none()
            && norm.is_none()
            && ngrams.is_none()
            && char_ngrams.is_none()
            && stemmer.is_none()
            && stop_words.is_none()
            && min_token_chars.is_none()
            && !no_fold
            && min_df.is_none()
            && max_df.is_none()
            && max_features.is_none()
            && sublinear_tf.is_none()
            && idf.is_none()
            && length_norm.is_none()
            && threshold.is_none()
            && !no_paragraphs
            && min_segment_terms.is_none()
    }

    /// Writes the flags that are set into a config table.
    fn apply(&self, t: &mut Table) -> anyhow::Result<()> {
        let int = |n: usize| Value::Integer(n as i64);
        if let Some(k) = &self.kind {
            set(t, "model", "kind", Value::String(k.clone()));
        }
        if let Some(a) = self.alpha {
            set(t, "model", "alpha", Value::Float(a));
        }
        if let Some(n) = self.norm {
            set(t, "model", "norm", Value::Boolean(n));
        }
        if let Some(n) = self.ngrams {
            set(t, "tokenizer", "word_ngrams", int(n));
        }
        if let Some(spec) = &self.char_ngrams {
            match spec.as_str() {
                "none" => unset(t, "tokenizer", "char_ngrams"),
                _ => {
                    let (min, max) = parse_range(spec)?;
                    let mut range = Table::new();
                    range.insert("min".into(), int(min));
                    range.insert("max".into(), int(max));
                    set(t, "tokenizer", "char_ngrams", Value::Table(range));
                }
            }
        }
        if let Some(lang) = &self.stemmer {
            match lang.as_str() {
                "none" => unset(t, "tokenizer", "stemmer"),
                _ => set(t, "tokenizer", "stemmer", Value::String(lang.clone())),
            }
        }
        if let Some(sw) = &self.stop_words {
            let value = match sw.as_str() {
                "english" | "none" => Value::String(sw.clone()),
                file => {
                    // "english+FILE": the model stores the whole list, so it scores the
                    // same even if a later version changes the built-in English list.
                    let words = match file.strip_prefix("english+") {
                        Some(file) => ENGLISH_STOP_WORDS
                            .iter()
                            .map(|w| Value::String((*w).to_owned()))
                            .chain(read_word_list(file)?)
                            .collect(),
                        None => read_word_list(file)?,
                    };
                    let mut custom = Table::new();
                    custom.insert("custom".into(), Value::Array(words));
                    Value::Table(custom)
                }
            };
            set(t, "tokenizer", "stop_words", value);
        }
        if let Some(n) = self.min_token_chars {
            set(t, "tokenizer", "min_token_chars", int(n));
        }
        if self.no_fold {
            set(t, "tokenizer", "fold", Value::Boolean(false));
        }
        if let Some(n) = self.min_df {
            set(t, "vocabulary", "min_df", Value::Integer(i64::from(n)));
        }
        if let Some(x) = self.max_df {
            set(t, "vocabulary", "max_df", Value::Float(x));
        }
        if let Some(n) = self.max_features {
            set(t, "vocabulary", "max_features", int(n));
        }
        if let Some(b) = self.sublinear_tf {
            set(t, "vectorizer", "sublinear_tf", Value::Boolean(b));
        }
        if let Some(b) = self.idf {
            set(t, "vectorizer", "idf", Value::Boolean(b));
        }
        if let Some(n) = &self.length_norm {
            set(t, "vectorizer", "norm", Value::String(n.clone()));
        }
        if let Some(x) = self.threshold {
            set(t, "assign", "threshold", Value::Float(x));
        }
        if self.no_paragraphs {
            set(t, "assign", "paragraphs", Value::Boolean(false));
        }
        if let Some(n) = self.min_segment_terms {
            set(
                t,
                "assign",
                "min_segment_terms",
                Value::Integer(i64::from(n)),
            );
        }
        Ok(())
    }
}

fn section<'a>(t: &'a mut Table, name: &str) -> &'a mut Table {
    let entry = t
        .entry(name.to_owned())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        // A scalar where a section belongs: the flag wins; deserialising would refuse it.
        *entry = Value::Table(Table::new());
    }
    entry.as_table_mut().expect("made a table above")
}

fn set(t: &mut Table, sec: &str, key: &str, value: Value) {
    section(t, sec).insert(key.to_owned(), value);
}

fn unset(t: &mut Table, sec: &str, key: &str) {
    section(t, sec).remove(key);
}

fn parse_range(spec: &str) -> anyhow::Result<(usize, usize)> {
    let parse = || -> Option<(usize, usize)> {
        let (a, b) = spec.split_once(':')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    parse().with_context(|| {
        format!("invalid --char-ngrams: {spec:?} (valid: MIN:MAX, e.g. 2:4, or none)")
    })
}

fn read_word_list(path: &str) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("--stop-words {path}: not english or none, and not a readable word list")
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|w| Value::String(w.to_owned()))
        .collect())
}

/// Label descriptions from `[labels]`.
pub type Descriptions = BTreeMap<String, String>;

/// Reads `file` (if any), applies the flags and validates the result. Errors name the
/// setting, its value and the valid range, plus the flag and config key that set it.
pub fn build(file: Option<&Path>, args: &ModelArgs) -> anyhow::Result<(ModelConfig, Descriptions)> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {}", path.display()))?;
            text.parse::<Table>()
                .with_context(|| format!("invalid config {}", path.display()))?
        }
        None => Table::new(),
    };
    let descriptions = match table.remove("labels") {
        None => Descriptions::new(),
        Some(Value::Table(labels)) => labels
            .into_iter()
            .map(|(name, d)| match d {
                Value::String(s) => Ok((name, s)),
                other => anyhow::bail!(
                    "invalid config: [labels] {name} must be a description string, found {}",
                    other.type_str()
                ),
            })
            .collect::<anyhow::Result<_>>()?,
        Some(other) => anyhow::bail!(
            "invalid config: labels must be a table (label = \"description\"), found {}",
            other.type_str()
        ),
    };
    args.apply(&mut table)?;
    let config: ModelConfig = table.try_into().map_err(|e| {
        let origin = file.map_or("the flags".to_owned(), |f| f.display().to_string());
        anyhow::anyhow!("invalid config ({origin}): {}", e.to_string().trim())
    })?;
    config.validate().map_err(explain_invalid)?;
    Ok((config, descriptions))
}

/// Adds the flag and config key behind a refused setting to the engine's message.
pub fn explain_invalid(e: ModelError) -> anyhow::Error {
    let name = match &e {
        ModelError::InvalidSetting { name, .. }
        | ModelError::Text(TextError::InvalidSetting { name, .. }) => Some(*name),
        _ => None,
    };
    let origin = name.and_then(|n| {
        SETTINGS
            .iter()
            .find(|(setting, _, _)| *setting == n)
            .map(|(_, flag, key)| format!(" (flag {flag}, config {key})"))
    });
    anyhow::anyhow!("{e}{}", origin.unwrap_or_default())
}

/// Engine setting name, flag, config key.
const SETTINGS: &[(&str, &str, &str)] = &[
    ("alpha", "--alpha", "[model] alpha"),
    ("norm", "--norm", "[model] norm"),
    ("word_ngrams", "--ngrams", "[tokenizer] word_ngrams"),
    (
        "char_ngrams.min",
        "--char-ngrams",
        "[tokenizer] char_ngrams.min",
    ),
    (
        "char_ngrams.max",
        "--char-ngrams",
        "[tokenizer] char_ngrams.max",
    ),
    (
        "min_token_chars",
        "--min-token-chars",
        "[tokenizer] min_token_chars",
    ),
    ("stemmer", "--stemmer", "[tokenizer] stemmer"),
    ("min_df", "--min-df", "[vocabulary] min_df"),
    ("max_df", "--max-df", "[vocabulary] max_df"),
    (
        "max_features",
        "--max-features",
        "[vocabulary] max_features",
    ),
    ("threshold", "--threshold", "[assign] threshold"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NbKind;
    use crate::text::{CharNgrams, Norm, StopWords};
    use linfa::ParamGuard;

    #[test]
    fn no_file_and_no_flags_give_the_default_config() {
        let (config, labels) = build(None, &ModelArgs::default()).unwrap();
        assert_eq!(config, ModelConfig::default());
        assert!(labels.is_empty());
    }

    #[test]
    fn flags_override_the_file_and_reach_every_section() {
        let dir = std::env::temp_dir().join(format!("attache-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[model]\nkind = \"complement\"\nalpha = 0.3\n[tokenizer]\nstemmer = \"english\"\n\
             [labels]\ntrade = \"Trade talks\"\n",
        )
        .unwrap();
        let args = ModelArgs {
            alpha: Some(0.1),
            ngrams: Some(2),
            char_ngrams: Some("2:4".into()),
            stemmer: Some("none".into()),
            stop_words: Some("none".into()),
            no_fold: true,
            min_df: Some(2),
            max_features: Some(100),
            sublinear_tf: Some(true),
            length_norm: Some("l2".into()),
            threshold: Some(0.3),
            no_paragraphs: true,
            ..ModelArgs::default()
        };
        let (c, labels) = build(Some(&file), &args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let nb = c.model.check_ref().unwrap();
        assert_eq!((nb.kind(), nb.alpha()), (NbKind::Complement, 0.1));
        assert_eq!(c.tokenizer.word_ngrams, 2);
        assert_eq!(c.tokenizer.char_ngrams, Some(CharNgrams { min: 2, max: 4 }));
        assert_eq!(c.tokenizer.stemmer, None);
        assert_eq!(c.tokenizer.stop_words, StopWords::None);
        assert!(!c.tokenizer.fold);
        assert_eq!(c.vocabulary.min_df, 2);
        assert_eq!(c.vocabulary.max_features, Some(100));
        assert!(c.vectorizer.sublinear_tf);
        assert_eq!(c.vectorizer.norm, Norm::L2);
        assert_eq!(c.assign.threshold, 0.3);
        assert!(!c.assign.paragraphs);
        assert_eq!(labels["trade"], "Trade talks");
    }

    #[test]
    fn stop_words_english_plus_a_file_keep_both_lists() {
        let dir = std::env::temp_dir().join(format!("attache-sw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("places.txt");
        std::fs::write(&file, "# places\nmorocco\n\nrabat\n").unwrap();
        let flag = |value: String| ModelArgs {
            stop_words: Some(value),
            ..ModelArgs::default()
        };
        let (plus, _) = build(None, &flag(format!("english+{}", file.display()))).unwrap();
        let (only, _) = build(None, &flag(file.display().to_string())).unwrap();
        let missing = build(
            None,
            &flag(format!("english+{}", dir.join("no.txt").display())),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let StopWords::Custom(words) = plus.tokenizer.stop_words else {
            panic!("english+FILE must give a custom list");
        };
        assert_eq!(words.len(), ENGLISH_STOP_WORDS.len() + 2);
        assert!(words.iter().any(|w| w == "the") && words.iter().any(|w| w == "rabat"));
        assert_eq!(
            only.tokenizer.stop_words,
            StopWords::Custom(vec!["morocco".into(), "rabat".into()])
        );
        let err = missing.unwrap_err().to_string();
        assert!(err.contains("no.txt"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_value_range_and_flag() {
        let args = ModelArgs {
            alpha: Some(-1.0),
            ..ModelArgs::default()
        };
        let err = build(None, &args).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid alpha: -1 (valid: finite and > 0) (flag --alpha, config [model] alpha)"
        );
        let args = ModelArgs {
            char_ngrams: Some("3:9".into()),
            ..ModelArgs::default()
        };
        let err = build(None, &args).unwrap_err().to_string();
        assert!(err.contains("char_ngrams.max: 9 (valid: 3..=8)"), "{err}");
    }
}
