//! Transports: stdio (default) and Streamable HTTP at `/mcp`, with a clean
//! exit on stdin EOF, SIGTERM and SIGINT.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use rmcp::{
    ServiceExt,
    service::ServerInitializeError,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService, stdio_pipes,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio_util::sync::CancellationToken;

use crate::{server::EchoServer, state::Shared};

/// How long HTTP connections get to finish after a shutdown signal.
const HTTP_DRAIN: Duration = Duration::from_secs(2);

/// Serves one client on stdin/stdout until EOF or a signal.
pub async fn stdio(shared: Arc<Shared>) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    // Non-blocking pipes when stdin/stdout are FIFOs (how MCP clients spawn
    // servers); blocking std handles otherwise.
    let running = match EchoServer::new(shared)
        .serve_with_ct(stdio_pipes(), stop.clone())
        .await
    {
        Ok(running) => running,
        // EOF or a signal before the first message: nothing to serve.
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    let reason = running.waiting().await?;
    tracing::debug!(?reason, "stdio session ended");
    Ok(())
}

/// Serves Streamable HTTP at `http://ADDR/mcp` until a signal.
pub async fn http(shared: Arc<Shared>, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    eprintln!("listening on http://{local}/mcp");

    let stop = CancellationToken::new();
    // Legacy sessions carry server→client requests (sampling, elicitation)
    // for 2025-11-25 clients; 2026-07-28 requests are always stateless.
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(true)
        .with_cancellation_token(stop.child_token());
    if !addr.ip().is_loopback() {
        // Bound for other hosts (e.g. a container): clients will use names we
        // cannot know, so the loopback-only Host check would refuse them.
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(EchoServer::new(shared.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY");
        }
    });
    let graceful = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(graceful.cancelled_owned())
            .await
    });
    cancel_on_signal(stop).await;
    match tokio::time::timeout(HTTP_DRAIN, server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::debug!("HTTP connections still open after the drain period"),
    }
    Ok(())
}

/// Waits for SIGTERM or SIGINT (or for `stop` to be cancelled elsewhere),
/// then cancels `stop`.
async fn cancel_on_signal(stop: CancellationToken) {
    tokio::select! {
        () = signal() => tracing::debug!("shutdown signal"),
        () = stop.cancelled() => {}
    }
    stop.cancel();
}

#[cfg(unix)]
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
            tracing::warn!(term = ?term.err(), int = ?int.err(), "cannot listen for signals");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
