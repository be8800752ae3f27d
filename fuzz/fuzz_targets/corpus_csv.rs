//! Fuzz target `corpus_csv`: see `harness::corpus_csv`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::corpus_csv(data));
