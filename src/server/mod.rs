//! The gRPC service: `attache.v1.Classifier` and `attache.v1.ModelAdmin`, with
//! `grpc.health.v1`, reflection (v1 and v1alpha), Prometheus metrics, request logs, load
//! shedding, deadlines, hot reload and graceful shutdown.
//!
//! # Layout
//!
//! - [`Server`] wires everything together; [`Server::serve`] runs it on a bound listener until
//!   a shutdown future resolves (tests bind `127.0.0.1:0` and run it in-process).
//! - [`service`] (`Classifier`) and [`admin`] (`ModelAdmin`, bearer token) are the handlers;
//!   [`work`] runs the synchronous classification, guarded against panics.
//! - [`handle`] holds the live model behind an `ArcSwap`; [`reload`] decides which files may
//!   replace it and checks them first.
//! - [`layer`] is the tower layer in front of every call: request id, load shedding,
//!   deadlines, panics, shutdown of streams, metrics and the log line ([`log`], [`metrics`]).
//! - [`convert`] maps domain types to protobuf and holds the one [`ServerError`] ->
//!   `tonic::Status` mapping; [`limits`], [`deadline`], [`method`], [`health`] and
//!   [`shutdown`] are the small pieces the rest is made of.
//!
//! # Shutdown
//!
//! When the shutdown future resolves: health turns NOT_SERVING for `""` and
//! `attache.v1.Classifier`; the listener closes and connections get GOAWAY (no new calls);
//! health watches and reflection streams end; calls in flight finish. Once the grace period
//! is over, classification streams still open end with UNAVAILABLE and `serve` returns.

pub mod admin;
pub mod convert;
pub mod deadline;
pub mod error;
pub mod handle;
pub mod health;
pub mod layer;
pub mod limits;
pub mod log;
pub mod method;
pub mod metrics;
pub mod reload;
pub mod service;
pub mod shutdown;
pub mod work;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};

pub use admin::AdminToken;
pub use error::{DocumentError, ServerError};
pub use handle::{ModelHandle, ModelSource, Served};
pub use limits::Limits;
pub use metrics::Metrics;

use crate::model::Model;
use crate::proto::classifier_server::ClassifierServer;
use crate::proto::model_admin_server::ModelAdminServer;
use layer::{CallLayer, LayerState};
use method::Phase;

/// How long calls in flight may take to finish after shutdown begins, by default.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// After the grace period, how long `serve` waits for connections to close before returning
/// anyway (a unary call cannot be interrupted; the process is about to exit).
const AFTER_GRACE: Duration = Duration::from_secs(1);

/// A PEM certificate chain and private key for TLS.
#[derive(Clone)]
pub struct TlsIdentity {
    /// Certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(<key redacted>)")
    }
}

/// Everything about a server except its model and sockets.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Request limits.
    pub limits: Limits,
    /// Enables `ModelAdmin`; `None` disables it.
    pub admin_token: Option<AdminToken>,
    /// Directory whose files `ReloadModel` may load; `None`: only the current file.
    pub model_dir: Option<PathBuf>,
    /// How long calls in flight may take to finish once shutdown begins.
    pub grace_period: Duration,
    /// Serve TLS with this identity.
    pub tls: Option<TlsIdentity>,
    /// Characters of request text in each log line (0: none).
    pub log_text_chars: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            admin_token: None,
            model_dir: None,
            grace_period: DEFAULT_GRACE_PERIOD,
            tls: None,
            log_text_chars: 0,
        }
    }
}

/// A configured server with its model, ready to [`Server::serve`].
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    models: Arc<ModelHandle>,
    metrics: Arc<Metrics>,
}

impl Server {
    /// A server for `model`, which came from `source`. Fails when the model directory does
    /// not exist or the model fails its smoke test.
    pub fn new(
        config: ServerConfig,
        model: Model,
        source: ModelSource,
    ) -> Result<Server, ServerError> {
        if let Some(tls) = &config.tls {
            // Refuse a bad certificate or key now, before the server announces itself.
            tonic::transport::Server::builder().tls_config(tls_config(tls))?;
        }
        let metrics = Arc::new(Metrics::new());
        let models = Arc::new(ModelHandle::new(
            model,
            source,
            config.model_dir.clone(),
            metrics.clone(),
        )?);
        Ok(Server {
            config,
            models,
            metrics,
        })
    }

    /// The live model, e.g. to reload it on SIGHUP.
    pub fn models(&self) -> Arc<ModelHandle> {
        self.models.clone()
    }

    /// The server's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves gRPC on `listener` (and `/metrics` on `metrics_listener`) until `shutdown`
    /// resolves, then shuts down gracefully (see the module documentation).
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let Server {
            config,
            models,
            metrics,
        } = self;
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let (health, health_service) = health::Health::new().await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let classifier = ClassifierServer::new(service::ClassifierService::new(
            models.clone(),
            config.limits.clone(),
            metrics.clone(),
        ))
        .max_decoding_message_size(config.limits.decoding_limit());
        let admin = ModelAdminServer::new(admin::AdminService::new(
            models.clone(),
            config.admin_token.clone(),
        ));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &config.tls {
            builder = builder.tls_config(tls_config(tls))?;
        }
        let router = builder
            .layer(CallLayer::new(LayerState {
                metrics: metrics.clone(),
                admission: limits::Admission::new(config.limits.max_concurrency),
                phase: phase_rx.clone(),
                log_text_chars: config.log_text_chars,
            }))
            .add_service(health_service)
            .add_service(classifier)
            .add_service(admin)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?);

        let _metrics_http = metrics_listener
            .map(|l| AbortOnDrop(tokio::spawn(metrics::serve_http(l, metrics.clone()))));
        let _upkeep = AbortOnDrop(tokio::spawn({
            let metrics = metrics.clone();
            async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    metrics.upkeep();
                }
            }
        }));

        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let mut draining = phase_rx.clone();
        let stop_accepting = async move {
            let _ = draining.wait_for(|p| *p != Phase::Running).await;
        };
        let server = router.serve_with_incoming_shutdown(incoming, stop_accepting);
        tokio::pin!(server);
        tokio::pin!(shutdown);
        health.set(true).await;

        tokio::select! {
            result = &mut server => return result.map_err(ServerError::from),
            () = &mut shutdown => {}
        }
        tracing::info!(
            grace_period_s = config.grace_period.as_secs_f64(),
            "shutting down: health NOT_SERVING, no new calls, calls in flight may finish"
        );
        health.set(false).await;
        phase_tx.send_replace(Phase::Draining);
        let result = match tokio::time::timeout(config.grace_period, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("grace period over: ending the calls still in flight");
                phase_tx.send_replace(Phase::Stopped);
                match tokio::time::timeout(AFTER_GRACE, &mut server).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!(
                            "connections still open after the grace period; leaving them"
                        );
                        Ok(())
                    }
                }
            }
        };
        tracing::info!("server stopped");
        result.map_err(ServerError::from)
    }
}

fn tls_config(tls: &TlsIdentity) -> ServerTlsConfig {
    ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
}

/// Aborts a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
