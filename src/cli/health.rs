//! `attache health`: a gRPC health probe for compose and Kubernetes.

/// Flags of `attache health`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Probes a server.
pub fn run(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("attache health is not implemented yet")
}
