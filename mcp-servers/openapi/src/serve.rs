//! stdio transport with a clean exit on stdin EOF, SIGTERM and SIGINT.

use rmcp::{ServerHandler, ServiceExt, service::ServerInitializeError, transport::stdio_pipes};
use tokio_util::sync::CancellationToken;

/// Serves one client on stdin/stdout until EOF or a signal.
pub async fn stdio<S: ServerHandler>(server: S) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        signal().await;
        on_signal.cancel();
    });
    let running = match server.serve_with_ct(stdio_pipes(), stop).await {
        Ok(running) => running,
        // EOF or a signal before the first message: nothing to serve.
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    running.waiting().await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (never, if they cannot be listened for).
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (term, int) => {
            eprintln!(
                "cannot listen for signals: {:?} {:?}",
                term.err(),
                int.err()
            );
            std::future::pending::<()>().await;
        }
    }
}
