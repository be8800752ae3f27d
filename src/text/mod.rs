//! Text features: from raw UTF-8 to sparse bag-of-words vectors.
//!
//! The pipeline is [`Tokenizer`] (words, folding, stop words, stemming, n-grams) ->
//! [`Vocabulary`] (stable term ids, built once from a corpus) -> [`Vectorizer`] (counts,
//! tf/idf/length transforms). Everything here is pure and synchronous: no I/O, no async.

mod grams;
mod stopwords;
mod table;
mod tokenize;
mod vectorize;
mod vocab;
mod words;

pub use stopwords::ENGLISH_STOP_WORDS;
pub use tokenize::{CharNgrams, StopWords, Tokenizer, TokenizerConfig};
pub use vectorize::{Norm, SparseVector, Vectorized, Vectorizer, VectorizerConfig};
pub(crate) use vocab::select_terms;
pub use vocab::{CorpusTerms, CorpusTermsBuilder, DocTerms, Vocabulary, VocabularyConfig};

/// Errors of the text layer: configurations that cannot work.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum TextError {
    /// A setting is outside its valid range; the message names the value and the range.
    #[error("invalid {name}: {value} (valid: {valid})")]
    InvalidSetting {
        /// Setting name as used in flags and config files.
        name: &'static str,
        /// The offending value, rendered.
        value: String,
        /// The valid range or set, rendered.
        valid: String,
    },
}

impl TextError {
    pub(crate) fn invalid(name: &'static str, value: impl ToString, valid: impl ToString) -> Self {
        TextError::InvalidSetting {
            name,
            value: value.to_string(),
            valid: valid.to_string(),
        }
    }
}
