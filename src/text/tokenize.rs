//! Tokenizer: UAX #29 words, NFKC + case folding, stop words, Snowball stemming, n-grams.

use caseless::Caseless;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::table::{term_hash, IdTable};
use super::words::for_each_word;
use super::{TextError, ENGLISH_STOP_WORDS};

/// Which stop words to drop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopWords {
    /// The built-in English list ([`ENGLISH_STOP_WORDS`]).
    #[default]
    English,
    /// Keep every word.
    None,
    /// A list of your own (matched after folding, before stemming).
    Custom(Vec<String>),
}

/// Character n-gram lengths (inclusive), for text written without spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharNgrams {
    /// Shortest n-gram, at least 1.
    pub min: usize,
    /// Longest n-gram, at least `min`, at most 8.
    pub max: usize,
}

/// Tokenizer settings. Stored in every model so scoring always uses the training features.
///
/// | setting | default | valid |
/// |---|---|---|
/// | `fold` | true | NFKC normalisation + Unicode case folding |
/// | `stop_words` | english | `english`, `none`, or a custom list |
/// | `stemmer` | none | a Snowball language, e.g. `english`, `russian` |
/// | `word_ngrams` | 1 | 0..=5 (0: no word terms, character n-grams only) |
/// | `char_ngrams` | none | `min` 1..=8, `max` `min`..=8 |
/// | `min_token_chars` | 2 | 1..=64 (single CJK characters are always kept) |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    /// NFKC-normalise and case-fold every word.
    pub fold: bool,
    /// Stop words to drop.
    pub stop_words: StopWords,
    /// Snowball stemmer language, or none.
    pub stemmer: Option<String>,
    /// Emit word n-grams of length 1..=word_ngrams.
    pub word_ngrams: usize,
    /// Emit character n-grams of these lengths over runs of letters and digits.
    pub char_ngrams: Option<CharNgrams>,
    /// Drop words shorter than this many characters.
    pub min_token_chars: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            fold: true,
            stop_words: StopWords::English,
            stemmer: None,
            word_ngrams: 1,
            char_ngrams: None,
            min_token_chars: 2,
        }
    }
}

/// Longest word n-gram a tokenizer may emit (`word_ngrams`); `text::grams` sizes its
/// per-word state by it.
pub(crate) const MAX_WORD_NGRAMS: usize = 5;

/// Snowball languages that `rust-stemmers` provides.
const STEMMERS: &[(&str, rust_stemmers::Algorithm)] = &[
    ("arabic", rust_stemmers::Algorithm::Arabic),
    ("danish", rust_stemmers::Algorithm::Danish),
    ("dutch", rust_stemmers::Algorithm::Dutch),
    ("english", rust_stemmers::Algorithm::English),
    ("finnish", rust_stemmers::Algorithm::Finnish),
    ("french", rust_stemmers::Algorithm::French),
    ("german", rust_stemmers::Algorithm::German),
    ("greek", rust_stemmers::Algorithm::Greek),
    ("hungarian", rust_stemmers::Algorithm::Hungarian),
    ("italian", rust_stemmers::Algorithm::Italian),
    ("norwegian", rust_stemmers::Algorithm::Norwegian),
    ("portuguese", rust_stemmers::Algorithm::Portuguese),
    ("romanian", rust_stemmers::Algorithm::Romanian),
    ("russian", rust_stemmers::Algorithm::Russian),
    ("spanish", rust_stemmers::Algorithm::Spanish),
    ("swedish", rust_stemmers::Algorithm::Swedish),
    ("tamil", rust_stemmers::Algorithm::Tamil),
    ("turkish", rust_stemmers::Algorithm::Turkish),
];

impl TokenizerConfig {
    /// Checks every setting, naming the first bad value and its valid range.
    pub fn validate(&self) -> Result<(), TextError> {
        if self.word_ngrams > MAX_WORD_NGRAMS {
            return Err(TextError::invalid(
                "word_ngrams",
                self.word_ngrams,
                format!("0..={MAX_WORD_NGRAMS}"),
            ));
        }
        if let Some(c) = self.char_ngrams {
            if !(1..=8).contains(&c.min) {
                return Err(TextError::invalid("char_ngrams.min", c.min, "1..=8"));
            }
            if c.max < c.min || c.max > 8 {
                return Err(TextError::invalid(
                    "char_ngrams.max",
                    c.max,
                    format!("{}..=8", c.min),
                ));
            }
        }
        if self.word_ngrams == 0 && self.char_ngrams.is_none() {
            return Err(TextError::invalid(
                "word_ngrams",
                0,
                format!("1..={MAX_WORD_NGRAMS} (0 only together with char_ngrams)"),
            ));
        }
        if !(1..=64).contains(&self.min_token_chars) {
            return Err(TextError::invalid(
                "min_token_chars",
                self.min_token_chars,
                "1..=64",
            ));
        }
        if let Some(lang) = &self.stemmer {
            if !STEMMERS.iter().any(|(name, _)| name == lang) {
                let names: Vec<&str> = STEMMERS.iter().map(|(n, _)| *n).collect();
                return Err(TextError::invalid("stemmer", lang, names.join(", ")));
            }
        }
        Ok(())
    }
}

/// Turns text into terms. Cheap to share across threads; never panics on any UTF-8 input.
pub struct Tokenizer {
    config: TokenizerConfig,
    /// Stop words (folded, distinct), found through `stop_index`.
    stop: Vec<Box<str>>,
    stop_index: IdTable,
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds a tokenizer after checking its configuration.
    pub fn new(config: TokenizerConfig) -> Result<Self, TextError> {
        config.validate()?;
        let mut stop: Vec<Box<str>> = match &config.stop_words {
            StopWords::English => ENGLISH_STOP_WORDS.iter().map(|w| (*w).into()).collect(),
            StopWords::None => Vec::new(),
            // Custom words are folded like the text they are matched against.
            StopWords::Custom(words) => words
                .iter()
                .map(|w| fold_word(w, config.fold).into_boxed_str())
                .collect(),
        };
        stop.sort_unstable();
        stop.dedup();
        let stop_index = IdTable::build(&stop);
        let stemmer = config.stemmer.as_ref().map(|lang| {
            let algorithm = STEMMERS
                .iter()
                .find(|(name, _)| name == lang)
                .map(|(_, a)| *a)
                .expect("validated above");
            rust_stemmers::Stemmer::create(algorithm)
        });
        Ok(Tokenizer {
            config,
            stop,
            stop_index,
            stemmer,
        })
    }

    /// The configuration this tokenizer was built from.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Collects the terms of `text` (convenient; [`Tokenizer::for_each_term`] avoids the allocations).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, &mut |t| out.push(t.to_owned()));
        out
    }

    /// Calls `f` with every term of `text`, in text order: unigrams, each followed by the
    /// word n-grams that end at it, then character n-grams.
    pub fn for_each_term(&self, text: &str, f: &mut dyn FnMut(&str)) {
        self.for_each_hashed_term(text, &mut |t, _| f(t));
    }

    /// Like [`Tokenizer::for_each_term`], with each term's hash for the crate's tables: the
    /// hash computed for the stop-word check serves the vocabulary lookup too.
    /// Generic so that the caller's lookup inlines into the loop over words.
    #[inline]
    pub(crate) fn for_each_hashed_term<F: FnMut(&str, u64)>(&self, text: &str, f: &mut F) {
        if self.config.word_ngrams > 0 {
            self.word_terms(text, f);
        }
        if let Some(c) = self.config.char_ngrams {
            self.char_terms(text, c, f);
        }
    }

    fn word_terms<F: FnMut(&str, u64)>(&self, text: &str, f: &mut F) {
        let n = self.config.word_ngrams;
        // The last n-1 kept words, oldest first, for n-grams; reused to avoid allocations.
        let mut window: Vec<String> = Vec::with_capacity(n.saturating_sub(1));
        let mut gram = String::new();
        self.for_each_kept_word(text, &mut |term, hash| {
            f(term, hash);
            if n > 1 {
                for k in (1..=window.len()).rev() {
                    gram.clear();
                    for w in &window[window.len() - k..] {
                        gram.push_str(w);
                        gram.push(' ');
                    }
                    gram.push_str(term);
                    f(&gram, term_hash(&gram));
                }
                if window.len() == n - 1 {
                    let mut oldest = window.remove(0);
                    oldest.clear();
                    oldest.push_str(term);
                    window.push(oldest);
                } else {
                    window.push(term.to_owned());
                }
            }
        });
    }

    /// Calls `f` with every word that survives folding, the stop list and the length
    /// floor, stemmed, with its [`term_hash`]: the unigram terms, in text order. Word
    /// n-grams are the runs of consecutive words of this sequence joined by one space,
    /// which lets a caller that only looks n-grams up compose them from word ids instead
    /// of building their strings (see `text::grams`).
    #[inline]
    pub(crate) fn for_each_kept_word<F: FnMut(&str, u64)>(&self, text: &str, f: &mut F) {
        self.kept_words::<true, F>(text, f);
    }

    /// The stop list, when a caller may drop stop words itself: with neither a stemmer
    /// (the list applies to words before stemming) nor n-grams (stop words break n-grams),
    /// the terms are the words, so a caller whose own table holds the stop words tells
    /// them apart with the probe it makes anyway. `None` otherwise, or with no stop list.
    ///
    /// Why: probing the stop list for every word was 5-7 % of training time, and most
    /// words are not on it.
    pub(crate) fn stop_words_for_caller(&self) -> Option<&[Box<str>]> {
        let c = &self.config;
        (!self.stop.is_empty()
            && self.stemmer.is_none()
            && c.word_ngrams == 1
            && c.char_ngrams.is_none())
        .then_some(&self.stop)
    }

    /// [`Tokenizer::for_each_hashed_term`] with the stop words left in, for a caller that
    /// drops them itself (see [`Tokenizer::stop_words_for_caller`], which must be `Some`).
    #[inline]
    pub(crate) fn for_each_hashed_term_with_stop_words<F: FnMut(&str, u64)>(
        &self,
        text: &str,
        f: &mut F,
    ) {
        debug_assert!(self.stop_words_for_caller().is_some());
        self.kept_words::<false, F>(text, f);
    }

    /// [`Tokenizer::for_each_kept_word`], dropping stop words only when `STOP` is set.
    #[inline]
    fn kept_words<const STOP: bool, F: FnMut(&str, u64)>(&self, text: &str, f: &mut F) {
        let mut folded = String::new();
        let min = self.config.min_token_chars;
        for_each_word(text, &mut |word| {
            folded.clear();
            let hash;
            if word.is_ascii() {
                // Most words: NFKC leaves ASCII as it is and folding lowercases it, and a
                // word under the length floor goes before any lookup.
                if word.len() < min {
                    return;
                }
                folded.push_str(word);
                if self.config.fold {
                    folded.make_ascii_lowercase();
                }
                hash = term_hash(&folded);
                if STOP && self.is_stop_word(&folded, hash) {
                    return;
                }
            } else {
                fold_into(word, self.config.fold, &mut folded);
                hash = term_hash(&folded);
                if !self.keep(&folded, hash, STOP) {
                    return;
                }
            }
            match &self.stemmer {
                Some(s) => match s.stem(&folded) {
                    // Some stemmers reduce a whole word to nothing (Greek "ικά"): an empty
                    // term would join the vocabulary and every n-gram around it, so the
                    // word is kept as it is.
                    std::borrow::Cow::Owned(stemmed) if !stemmed.is_empty() => {
                        f(&stemmed, term_hash(&stemmed))
                    }
                    _ => f(&folded, hash),
                },
                None => f(&folded, hash),
            }
        });
    }

    /// Whether a folded word (with its [`term_hash`]) survives the length floor, and the
    /// stop list when `stop` is set.
    fn keep(&self, word: &str, hash: u64, stop: bool) -> bool {
        if word.is_empty() || (stop && self.is_stop_word(word, hash)) {
            return false;
        }
        let min = self.config.min_token_chars;
        if min <= 1 {
            return true;
        }
        // A single CJK character is a word in its own right (UAX #29 splits ideographs).
        let mut chars = word.chars();
        let first = chars.next().unwrap_or(' ');
        if is_cjk(first) {
            return true;
        }
        if word.is_ascii() {
            return word.len() >= min;
        }
        1 + chars.count() >= min
    }

    /// Whether a folded word (with its [`term_hash`]) is on the stop list.
    #[inline]
    fn is_stop_word(&self, word: &str, hash: u64) -> bool {
        !self.stop_index.is_empty() && self.stop_index.get(&self.stop, hash, word).is_some()
    }

    fn char_terms<F: FnMut(&str, u64)>(&self, text: &str, c: CharNgrams, f: &mut F) {
        let mut run: Vec<char> = Vec::new();
        let mut gram = String::new();
        let mut flush = |run: &mut Vec<char>, gram: &mut String| {
            for len in c.min..=c.max.min(run.len()) {
                for start in 0..=run.len() - len {
                    gram.clear();
                    gram.extend(&run[start..start + len]);
                    f(gram, term_hash(gram));
                }
            }
            run.clear();
        };
        let mut folded = String::new();
        for ch in text.chars() {
            if ch.is_alphanumeric() {
                if self.config.fold && !ch.is_ascii() {
                    folded.clear();
                    let mut buf = [0u8; 4];
                    fold_into(ch.encode_utf8(&mut buf), true, &mut folded);
                    run.extend(folded.chars());
                } else if self.config.fold {
                    run.push(ch.to_ascii_lowercase());
                } else {
                    run.push(ch);
                }
            } else if !run.is_empty() {
                flush(&mut run, &mut gram);
            }
        }
        if !run.is_empty() {
            flush(&mut run, &mut gram);
        }
    }
}

/// Appends `word`, NFKC-normalised and case-folded when `fold` is set, to `out`.
fn fold_into(word: &str, fold: bool, out: &mut String) {
    if !fold {
        out.push_str(word);
    } else if word.is_ascii() || is_ascii_with_curly_quotes(word) {
        // Fast path: ASCII is already NFKC and folds to lowercase; the curly single quotes
        // of English news (`president’s`) are NFKC, caseless, and compose with nothing.
        out.push_str(word);
        out.make_ascii_lowercase();
    } else {
        out.extend(word.chars().nfkc().default_case_fold());
    }
}

/// Whether `word` holds nothing but ASCII and the curly single quotes ‘ and ’.
fn is_ascii_with_curly_quotes(word: &str) -> bool {
    word.chars()
        .all(|c| c.is_ascii() || c == '\u{2018}' || c == '\u{2019}')
}

fn fold_word(word: &str, fold: bool) -> String {
    let mut out = String::new();
    fold_into(word, fold, &mut out);
    out
}

/// Ideographs, kana and Hangul: scripts where one character carries a word's meaning.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0xAC00..=0xD7AF | 0x20000..=0x2FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_curly_quotes_fold_as_nfkc_and_case_folding_would() {
        for word in [
            "President’s",
            "‘QUOTED’",
            "don’t",
            "’",
            "A’B’C",
            "rock’n’roll",
        ] {
            let reference: String = word.chars().nfkc().default_case_fold().collect();
            assert_eq!(fold_word(word, true), reference, "{word:?}");
        }
    }

    fn tok(config: TokenizerConfig, text: &str) -> Vec<String> {
        Tokenizer::new(config).unwrap().tokenize(text)
    }

    #[test]
    fn a_word_a_stemmer_erases_is_kept_whole_never_an_empty_term() {
        // Found by fuzzing (fuzz/regressions/tokenizer/): the Greek stemmer maps "ικά" to "".
        let config = TokenizerConfig {
            stemmer: Some("greek".into()),
            word_ngrams: 2,
            ..TokenizerConfig::default()
        };
        let terms = tok(config, "ικά Ελληνικά");
        assert!(
            terms.iter().all(|t| !t.is_empty() && !t.starts_with(' ')),
            "{terms:?}"
        );
        assert_eq!(terms[0], "ικά");
    }

    #[test]
    fn folds_case_and_drops_english_stop_words() {
        let t = tok(
            TokenizerConfig::default(),
            "The Foreign Minister WELCOMED the talks.",
        );
        assert_eq!(t, ["foreign", "minister", "welcomed", "talks"]);
    }

    #[test]
    fn nfkc_and_full_case_folding_apply_to_non_ascii_words() {
        // Fullwidth letters normalise to ASCII; German sharp s folds to "ss".
        let t = tok(TokenizerConfig::default(), "ＵＮＩＴＥＤ Straße");
        assert_eq!(t, ["united", "strasse"]);
    }

    #[test]
    fn cyrillic_words_are_folded_and_kept_whole() {
        let t = tok(TokenizerConfig::default(), "Министр иностранных дел России");
        assert_eq!(t, ["министр", "иностранных", "дел", "россии"]);
    }

    #[test]
    fn chinese_characters_become_single_character_terms() {
        let t = tok(TokenizerConfig::default(), "中国外交部");
        assert_eq!(t, ["中", "国", "外", "交", "部"]);
    }

    #[test]
    fn char_ngrams_cover_text_without_spaces() {
        let config = TokenizerConfig {
            word_ngrams: 0,
            char_ngrams: Some(CharNgrams { min: 2, max: 2 }),
            ..TokenizerConfig::default()
        };
        assert_eq!(
            tok(config, "上海合作，组织"),
            ["上海", "海合", "合作", "组织"]
        );
    }

    #[test]
    fn word_bigrams_follow_each_unigram_and_skip_stop_words() {
        let config = TokenizerConfig {
            word_ngrams: 2,
            ..TokenizerConfig::default()
        };
        assert_eq!(
            tok(config, "security of the council meets"),
            [
                "security",
                "council",
                "security council",
                "meets",
                "council meets"
            ]
        );
    }

    #[test]
    fn english_stemming_conflates_inflections() {
        let config = TokenizerConfig {
            stemmer: Some("english".into()),
            ..TokenizerConfig::default()
        };
        assert_eq!(
            tok(config, "negotiations negotiating"),
            ["negoti", "negoti"]
        );
    }

    #[test]
    fn custom_stop_words_replace_the_english_list() {
        let config = TokenizerConfig {
            stop_words: StopWords::Custom(vec!["Minister".into()]),
            ..TokenizerConfig::default()
        };
        assert_eq!(tok(config, "the minister said"), ["the", "said"]);
    }

    #[test]
    fn invalid_settings_name_value_and_range() {
        let bad = TokenizerConfig {
            word_ngrams: 9,
            ..TokenizerConfig::default()
        };
        let err = Tokenizer::new(bad).unwrap_err().to_string();
        assert_eq!(err, "invalid word_ngrams: 9 (valid: 0..=5)");
        let bad = TokenizerConfig {
            stemmer: Some("klingon".into()),
            ..TokenizerConfig::default()
        };
        assert!(Tokenizer::new(bad)
            .unwrap_err()
            .to_string()
            .contains("klingon"));
    }

    #[test]
    fn tokenizing_is_deterministic() {
        let text = "Summit preparations in Astana; 上海合作组织 — Саммит ШОС!";
        let t = Tokenizer::new(TokenizerConfig {
            word_ngrams: 3,
            char_ngrams: Some(CharNgrams { min: 1, max: 3 }),
            ..TokenizerConfig::default()
        })
        .unwrap();
        assert_eq!(t.tokenize(text), t.tokenize(text));
    }
}
