//! Fuzz target `model_from_bytes`: see `harness::model_from_bytes`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::model_from_bytes(data));
