//! `attache serve`: the gRPC server.

/// Flags of `attache serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the server until shutdown.
pub fn run(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("attache serve is not implemented yet")
}
