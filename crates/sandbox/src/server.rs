//! Binding a simulator's router to a local port, with graceful shutdown.

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::SandboxError;

/// A simulator listening on `127.0.0.1`; stops when dropped or on [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and waits until in-flight requests finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The receiver is gone only when the server already stopped.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and returns the listener with its base URL, so the simulator can
/// learn its own address (Salesforce returns it as `instance_url`) before serving.
pub(crate) async fn bind() -> Result<(TcpListener, String), SandboxError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(SandboxError::Bind)?;
    let addr = listener.local_addr().map_err(SandboxError::Bind)?;
    Ok((listener, format!("http://{addr}")))
}

/// Serves `router` on `listener` in a background task.
pub(crate) fn serve(listener: TcpListener, url: String, router: Router) -> RunningServer {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "simulator server stopped with an error");
        }
    });
    RunningServer {
        url,
        stop: Some(stop),
        task: Some(task),
    }
}
