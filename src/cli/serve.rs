//! `attache serve`: the gRPC server.
//!
//! With no flags it serves the default model on 127.0.0.1:50051 with metrics on
//! 127.0.0.1:9464. Every flag has an environment variable (`ATTACHE_*`) for containers.
//!
//! Once both listeners are bound and the server is ready, it prints exactly one line to
//! stdout, with the real addresses (useful with port 0):
//!
//! ```text
//! attache listening on 127.0.0.1:50051 metrics on 127.0.0.1:9464
//! ```
//!
//! (`metrics off` when metrics are disabled). Logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::ValueEnum;

use crate::server::{shutdown, AdminToken, Limits, ModelSource, Server, ServerConfig, TlsIdentity};

/// Flags of `attache serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Once serving, prints one line to stdout: \
    `attache listening on HOST:PORT metrics on HOST:PORT` (or `metrics off`). \
    Logs go to stderr. SIGTERM/SIGINT: graceful shutdown (exit 0). SIGHUP: reload the model file.")]
pub struct Args {
    /// Address to serve gRPC on (port 0: any free port; use 0.0.0.0 in containers).
    #[arg(long, env = "ATTACHE_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,

    /// Model file to serve [default: models/diplomatic-news.attache if that file exists,
    /// else the model built into the binary].
    #[arg(long, env = "ATTACHE_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Directory whose model files ModelAdmin.ReloadModel may load [default: the directory of
    /// the model file; none for the built-in model].
    #[arg(long, env = "ATTACHE_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,

    /// Address to serve Prometheus metrics on, at /metrics; `off` disables them.
    #[arg(
        long,
        env = "ATTACHE_METRICS_ADDR",
        default_value = "127.0.0.1:9464",
        value_parser = parse_metrics_addr,
        value_name = "ADDR|off"
    )]
    pub metrics_addr: MetricsAddr,

    /// Log format (to stderr): `pretty` is one human-readable line per event.
    #[arg(long, env = "ATTACHE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `attache=debug,info` [default: RUST_LOG, else info].
    #[arg(long, env = "ATTACHE_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Largest document text accepted, in bytes; larger is INVALID_ARGUMENT.
    #[arg(long, env = "ATTACHE_MAX_TEXT_BYTES", value_name = "BYTES", default_value_t = Limits::default().max_text_bytes)]
    pub max_text_bytes: usize,

    /// Most documents in one ClassifyBatch; more is INVALID_ARGUMENT.
    #[arg(long, env = "ATTACHE_MAX_BATCH", value_name = "N", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,

    /// Most calls in flight (a stream counts until it ends); more are refused at once with
    /// RESOURCE_EXHAUSTED. Health checks are exempt.
    #[arg(long, env = "ATTACHE_MAX_CONCURRENCY", value_name = "N", default_value_t = Limits::default().max_concurrency)]
    pub max_concurrency: usize,

    /// Largest gRPC request message decoded, in bytes (raised to fit one maximal document);
    /// larger is OUT_OF_RANGE.
    #[arg(long, env = "ATTACHE_MAX_MESSAGE_BYTES", value_name = "BYTES", default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,

    /// After SIGTERM/SIGINT, how long calls in flight may take to finish (e.g. 10s, 500ms).
    #[arg(
        long,
        env = "ATTACHE_GRACE_PERIOD",
        default_value = "10s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub grace_period: Duration,

    /// Bearer token that enables the ModelAdmin service (disabled without one). Prefer the
    /// environment variable: command lines are visible to other users.
    #[arg(
        long,
        env = "ATTACHE_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<Secret>,

    /// TLS certificate chain (PEM); requires --tls-key.
    #[arg(
        long,
        env = "ATTACHE_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM); requires --tls-cert.
    #[arg(
        long,
        env = "ATTACHE_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,

    /// Characters of each request's text to include in its log line (0: none).
    #[arg(
        long,
        env = "ATTACHE_LOG_TEXT_CHARS",
        value_name = "N",
        default_value_t = 0
    )]
    pub log_text_chars: usize,
}

/// Where metrics are served, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    match s.trim() {
        "off" | "none" | "" => Ok(MetricsAddr(None)),
        a => a
            .parse()
            .map(|a| MetricsAddr(Some(a)))
            .map_err(|e| format!("{e} (expected HOST:PORT or `off`)")),
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A secret flag value: never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Parses `10s`, `500ms`, `2m`, or a plain number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{s:?}: {e}"))
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format, args.log_level.as_deref())?;
    let (model, source, default_dir) = load(args.model.as_deref())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsIdentity {
            cert_pem: std::fs::read(cert)
                .with_context(|| format!("cannot read --tls-cert {}", cert.display()))?,
            key_pem: std::fs::read(key)
                .with_context(|| format!("cannot read --tls-key {}", key.display()))?,
        }),
        _ => None,
    };
    if args.max_batch == 0 || args.max_concurrency == 0 || args.max_text_bytes == 0 {
        bail!("--max-text-bytes, --max-batch and --max-concurrency must be at least 1");
    }
    let admin_token = args
        .admin_token
        .as_ref()
        .and_then(|s| AdminToken::new(&s.0));
    if args.admin_token.is_some() && admin_token.is_none() {
        tracing::warn!("the admin token is blank: ModelAdmin stays disabled");
    }
    let config = ServerConfig {
        limits: Limits {
            max_text_bytes: args.max_text_bytes,
            max_batch: args.max_batch,
            max_concurrency: args.max_concurrency,
            max_message_bytes: args.max_message_bytes,
        },
        admin_token,
        model_dir: args.model_dir.clone().or(default_dir),
        grace_period: args.grace_period,
        tls,
        log_text_chars: args.log_text_chars,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(args, config, model, source));
    // Blocking classification of an abandoned call must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    args: Args,
    config: ServerConfig,
    model: crate::model::Model,
    source: ModelSource,
) -> anyhow::Result<ExitCode> {
    let admin_enabled = config.admin_token.is_some();
    let tls = config.tls.is_some();
    let server = Server::new(config, model, source).context("cannot start the server")?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let metrics_listener = match args.metrics_addr.0 {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?,
        ),
        None => None,
    };
    let terminated = shutdown::termination().context("cannot install signal handlers")?;
    let hangups =
        shutdown::reload_on_hangup(server.models()).context("cannot install signal handlers")?;
    tokio::spawn(hangups);

    let addr = listener.local_addr()?;
    let metrics_addr = metrics_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let served = server.models().current();
    tracing::info!(
        %addr,
        metrics = %metrics_addr.map_or("off".to_owned(), |a| a.to_string()),
        model_id = served.model.id(),
        model_version = served.model.version(),
        model = %served.source.describe(),
        model_dir = %server.models().model_dir().map_or("none".to_owned(), |d| d.display().to_string()),
        admin = admin_enabled,
        tls,
        "attache serving"
    );
    drop(served);
    announce(addr, metrics_addr)?;

    server
        .serve(listener, metrics_listener, async {
            let signal = terminated.await;
            tracing::info!(signal, "shutdown requested");
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The one readiness line on stdout.
fn announce(addr: SocketAddr, metrics: Option<SocketAddr>) -> anyhow::Result<()> {
    let metrics = metrics.map_or("metrics off".to_owned(), |a| format!("metrics on {a}"));
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "attache listening on {addr} {metrics}").and_then(|()| out.flush());
    match written {
        // Nobody reads stdout (a closed pipe): the line is informational, keep serving.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// The model to serve, where it came from, and the default model directory.
fn load(
    model: Option<&Path>,
) -> anyhow::Result<(crate::model::Model, ModelSource, Option<PathBuf>)> {
    let default = Path::new(super::DEFAULT_MODEL_PATH);
    let file = match model {
        Some(p) => Some(p),
        None if default.is_file() => Some(default),
        None => None,
    };
    match file {
        Some(path) => {
            let (model, _) = super::load_model(Some(path))?;
            // Absolute but not canonical: SIGHUP re-reads this path, following its symbolic
            // links as they are then (a Kubernetes ConfigMap update repoints `..data` and
            // deletes the old target), and the model directory is the folder it was named in.
            let absolute = std::path::absolute(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?;
            let dir = absolute.parent().map(Path::to_path_buf);
            Ok((model, ModelSource::File(absolute), dir))
        }
        None => {
            let (model, description) = super::load_model(None)?;
            Ok((model, ModelSource::BuiltIn(description), None))
        }
    }
}

fn init_logging(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).with_context(|| format!("invalid --log-level {l:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colours only for a person at a terminal, never in files or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units_and_plain_seconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn metrics_can_be_turned_off() {
        assert_eq!(parse_metrics_addr("off"), Ok(MetricsAddr(None)));
        assert_eq!(
            parse_metrics_addr("127.0.0.1:0"),
            Ok(MetricsAddr(Some("127.0.0.1:0".parse().unwrap())))
        );
        assert!(parse_metrics_addr("nowhere").is_err());
    }

    #[test]
    fn the_admin_token_never_shows_in_debug_output() {
        let secret: Secret = "hunter2".parse().unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
