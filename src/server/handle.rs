//! The live model: an [`ArcSwap`] holding the model being served.
//!
//! A call takes one snapshot ([`ModelHandle::current`], an `Arc`) and uses it to the end, so
//! a reload never changes the model under a call in flight; the old model is freed when the
//! last call holding it ends. Reloads are serialised, and the new model is loaded and
//! validated completely before the swap.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::convert;
use super::error::ServerError;
use super::metrics::{Metrics, ModelMetrics};
use super::reload;
use crate::model::Model;
use crate::proto;

/// Where a served model came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A model file (an absolute path, symbolic links unresolved); an empty-path reload
    /// reads it again.
    File(PathBuf),
    /// The model embedded in the binary; described by the string (e.g. `built-in (...)`).
    BuiltIn(String),
}

impl ModelSource {
    /// How `ModelInfo.path` and the logs show it.
    pub fn describe(&self) -> String {
        match self {
            ModelSource::File(p) => p.display().to_string(),
            ModelSource::BuiltIn(d) => d.clone(),
        }
    }
}

/// A model being served, with everything derived from it once at load.
#[derive(Debug)]
pub struct Served {
    /// The model.
    pub model: Model,
    /// Where it came from.
    pub source: ModelSource,
    /// `GetModelInfo`'s answer.
    pub info: proto::ModelInfo,
    /// Per-model metrics (assigned-label counters, the info gauge).
    pub metrics: ModelMetrics,
}

impl Served {
    fn new(model: Model, source: ModelSource, metrics: &Metrics) -> Served {
        let info = convert::model_info(&model, &source);
        let metrics = metrics.model(&model);
        Served {
            model,
            source,
            info,
            metrics,
        }
    }
}

/// The model being served, swapped atomically by reloads.
#[derive(Debug)]
pub struct ModelHandle {
    current: ArcSwap<Served>,
    model_dir: Option<PathBuf>,
    metrics: Arc<Metrics>,
    reloading: tokio::sync::Mutex<()>,
}

impl ModelHandle {
    /// Serves `model`. `model_dir` (made canonical here; it must exist) bounds the paths a
    /// reload may load; `None` allows only re-reading the file the model came from.
    pub fn new(
        model: Model,
        source: ModelSource,
        model_dir: Option<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Result<ModelHandle, ServerError> {
        let model_dir = model_dir
            .map(|d| {
                std::fs::canonicalize(&d).map_err(|source| ServerError::Io {
                    context: format!("model directory {}", d.display()),
                    source,
                })
            })
            .transpose()?;
        let path = PathBuf::from(source.describe());
        reload::smoke_test(&model)
            .map_err(|reason| ServerError::ModelFailedValidation { path, reason })?;
        let served = Served::new(model, source, &metrics);
        served.metrics.set_serving(true);
        Ok(ModelHandle {
            current: ArcSwap::from_pointee(served),
            model_dir,
            metrics,
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// The model serving now; hold it for the whole call.
    pub fn current(&self) -> Arc<Served> {
        self.current.load_full()
    }

    /// The canonical model directory, if any.
    pub fn model_dir(&self) -> Option<&std::path::Path> {
        self.model_dir.as_deref()
    }

    /// Loads `path` (empty: the file the serving model came from), validates it, and swaps it
    /// in. On error the serving model stays. `trigger` names the cause in the logs
    /// (`SIGHUP`, `ReloadModel`).
    pub async fn reload(&self, path: &str, trigger: &str) -> Result<Arc<Served>, ServerError> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.current();
        let result = self.load(path, &old.source).await;
        self.metrics.reload(result.is_ok());
        match result {
            Ok((model, file)) => {
                let served = Arc::new(Served::new(model, ModelSource::File(file), &self.metrics));
                let old = self.current.swap(served.clone());
                old.metrics.set_serving(false);
                served.metrics.set_serving(true);
                tracing::info!(
                    trigger,
                    model_id = served.model.id(),
                    model_version = served.model.version(),
                    previous_version = old.model.version(),
                    path = %served.source.describe(),
                    checksum = %served.info.checksum,
                    "model reloaded"
                );
                Ok(served)
            }
            Err(e) => {
                tracing::error!(
                    trigger,
                    requested = path,
                    error = %e,
                    serving_version = old.model.version(),
                    "model reload failed; the previous model keeps serving"
                );
                Err(e)
            }
        }
    }

    async fn load(
        &self,
        path: &str,
        current: &ModelSource,
    ) -> Result<(Model, PathBuf), ServerError> {
        // `read` is the file opened now; `named` the path recorded for the next empty-path
        // reload. They differ through symbolic links: the recorded path keeps its links
        // unresolved, so a reload follows them to wherever they point by then (a Kubernetes
        // ConfigMap volume publishes an update by repointing its `..data` link and deleting
        // the directory the old link led to).
        let (read, named) = if path.is_empty() {
            match current {
                ModelSource::File(p) => (p.clone(), p.clone()),
                ModelSource::BuiltIn(_) => return Err(ServerError::NothingToReload),
            }
        } else {
            let dir = self.model_dir.as_deref().ok_or(ServerError::NoModelDir)?;
            // The checks run on the canonical path, and that is the file read; `path` is
            // relative to `dir` or an absolute path inside it, so joining gives its name.
            (reload::resolve(dir, path)?, dir.join(path))
        };
        // Reading and validating a model is blocking work (file I/O, refitting weights).
        tokio::task::spawn_blocking(move || reload::load(&read).map(|m| (m, named)))
            .await
            .map_err(|e| ServerError::Internal(format!("model loading task failed: {e}")))?
    }
}
