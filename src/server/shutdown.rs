//! Process signals: SIGTERM and SIGINT shut the server down gracefully, SIGHUP reloads the
//! model.
//!
//! The handlers are installed when these functions are called, before the server announces
//! that it is listening: a signal arriving right after the announcement then reaches the
//! server instead of the default disposition (which would kill the process, SIGHUP too).
//!
//! What shutdown does is [`super::Server::serve`]'s business: health turns NOT_SERVING at
//! once, no new calls are accepted, calls in flight may finish within the grace period.

use std::future::Future;
use std::sync::Arc;

use super::handle::ModelHandle;

/// Resolves on the first SIGTERM or SIGINT, with the signal's name.
pub fn termination() -> std::io::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

/// Reloads the model from its file on every SIGHUP, forever (spawn it). A failed reload is
/// logged and counted; the previous model keeps serving.
pub fn reload_on_hangup(models: Arc<ModelHandle>) -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        Ok(async move {
            while hup.recv().await.is_some() {
                // The outcome is logged by the reload itself.
                let _ = models.reload("", "SIGHUP").await;
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = models;
        Ok(std::future::pending())
    }
}
