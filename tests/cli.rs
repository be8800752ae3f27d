//! The `attache` ML subcommands (`train`, `eval`, `classify`, `inspect`, `merge`), run as
//! the real binary on small fixtures in temporary directories and on slices of the
//! Reuters corpora in ../shared/data: every subcommand, every corpus format, and every
//! error path of the CLI contract (exit 2 with a message, no panic, no partial file).

#[path = "cli/classify.rs"]
mod classify;
#[path = "cli/corpus.rs"]
mod corpus;
#[path = "cli/eval.rs"]
mod eval;
#[path = "cli/inspect.rs"]
mod inspect;
#[path = "cli/merge.rs"]
mod merge;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/train.rs"]
mod train;
#[path = "cli/training_input.rs"]
mod training_input;
