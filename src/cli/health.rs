//! `attache health`: a gRPC health probe for compose and Kubernetes.
//!
//! Prints the status (`SERVING`, `NOT_SERVING`, `UNKNOWN`, `SERVICE_UNKNOWN`) and exits 0
//! only for SERVING; 1 when the server answered anything else; 2 when it could not be asked
//! (unreachable, timed out, TLS failure), with the reason on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Flags of `attache health`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server to probe, HOST:PORT (a 0.0.0.0 or `[::]` bind address probes the local host).
    #[arg(long, env = "ATTACHE_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,

    /// Service to ask about: "" is the whole server; `attache.v1.Classifier` the classifier.
    #[arg(long, default_value = "")]
    pub service: String,

    /// Give up after this many seconds (connect and call).
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub timeout: f64,

    /// Connect with TLS, trusting this CA certificate (PEM).
    #[arg(long, env = "ATTACHE_HEALTH_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// With --tls-ca: the name the server certificate must carry [default: the host of --addr].
    #[arg(long, requires = "tls_ca", value_name = "NAME")]
    pub tls_domain: Option<String>,
}

/// Probes a server.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime.block_on(probe(&args, timeout))?;
    let name = match status {
        ServingStatus::Serving => "SERVING",
        ServingStatus::NotServing => "NOT_SERVING",
        ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        ServingStatus::Unknown => "UNKNOWN",
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{name}")?;
    out.flush()?;
    Ok(if status == ServingStatus::Serving {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn probe(args: &Args, timeout: Duration) -> anyhow::Result<ServingStatus> {
    let scheme = if args.tls_ca.is_some() {
        "https"
    } else {
        "http"
    };
    let url = if args.addr.contains("://") {
        args.addr.clone()
    } else {
        format!("{scheme}://{}", args.addr)
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("invalid --addr {:?}", args.addr))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(ca) = &args.tls_ca {
        let pem =
            std::fs::read(ca).with_context(|| format!("cannot read --tls-ca {}", ca.display()))?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        if let Some(domain) = &args.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).context("invalid TLS settings")?;
    }
    let call = async {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await;
        match response {
            Ok(r) => Ok(
                ServingStatus::try_from(r.into_inner().status).unwrap_or(ServingStatus::Unknown)
            ),
            // The health service answers NOT_FOUND for a service it does not know.
            Err(s) if s.code() == tonic::Code::NotFound => Ok(ServingStatus::ServiceUnknown),
            Err(s) => Err(anyhow::anyhow!(
                "health check failed: {} ({})",
                s.message(),
                crate::server::metrics::code_name(s.code())
            )),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .with_context(|| format!("no answer from {url} within {timeout:?}"))?
}
