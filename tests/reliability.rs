//! What attache promises under bad input, faults and load, and what it never leaks
//! (docs/RELIABILITY.md lists every promise with the test that shows it):
//!
//! - `bad_input`: hostile or odd requests over gRPC, including bytes no generated client
//!   would send, each answered with its documented status code;
//! - `faults`: reloads of good and broken models under load, SIGTERM under load, load over
//!   the concurrency limit (the last two against the spawned binary);
//! - `security`: the log never holds the admin token or whole request texts, TLS end to end
//!   with the binary, reload paths confined to the model directory, default limits;
//! - `fuzz_regressions`: every input kept from fuzzing (fuzz/regressions) replayed through
//!   the same harness the fuzz targets run.
//!
//! A separate test binary from tests/server.rs so its load tests can run one at a time (they
//! take the [`HEAVY`] lock) without slowing the contract tests down; servers bind
//! 127.0.0.1:0 and are reused from tests/server/support.rs.

// Shared with tests/server.rs, which uses parts this file does not.
#[allow(dead_code)]
#[path = "server/support.rs"]
mod support;

#[path = "reliability/bad_input.rs"]
mod bad_input;
#[path = "reliability/faults.rs"]
mod faults;
#[path = "reliability/fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "reliability/security.rs"]
mod security;

/// Held by the tests that load the machine (both cores), so their timings do not depend on
/// which other test happens to run beside them.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
