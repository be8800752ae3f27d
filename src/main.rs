//! The `attache` binary: parses the command line and dispatches to a subcommand.
//!
//! Exit codes: 0 success, 1 an evaluation gate failed, 2 usage or input error.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = attache::cli::Cli::parse();
    match attache::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if attache::cli::is_broken_pipe(&err) {
                // `attache classify ... | head`: the reader left; that is not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
