//! The front door over stdio: what IDE configs launch. stdout carries only protocol; every
//! log line goes to stderr. The session ends when the client closes stdin or on shutdown.

use std::sync::Arc;

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

use super::{FrontDoor, Mesh};

/// Serves one client on stdin/stdout until it disconnects or `shutdown` is cancelled.
///
/// # Errors
/// [`Error::Io`] when the session cannot start (e.g. stdin is closed at once).
pub async fn serve(mesh: Arc<Mesh>, shutdown: CancellationToken) -> Result<(), Error> {
    let running = FrontDoor::new(mesh)
        .serve_with_ct(rmcp::transport::stdio(), shutdown.child_token())
        .await
        .map_err(|e| Error::Io {
            context: format!("the stdio client did not complete the MCP handshake: {e}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let _ = running.waiting().await;
    Ok(())
}
