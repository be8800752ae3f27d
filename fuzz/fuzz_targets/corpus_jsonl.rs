//! Fuzz target `corpus_jsonl`: see `harness::corpus_jsonl`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::corpus_jsonl(data));
