//! `polyclaw serve`: start the mesh, serve the front door over stdio or HTTP, and on
//! SIGINT/SIGTERM (or the stdio client leaving) stop serving and stop every server, bounded.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;
use crate::front;
use crate::hub::{self, Hub};
use crate::runtime::docker;

/// Serves until a signal arrives or (stdio) the client disconnects.
///
/// # Errors
/// [`Error::Bind`] when the HTTP address is taken; [`Error::Io`] when serving fails.
pub async fn serve(
    config: Config,
    http: Option<SocketAddr>,
    token: Option<String>,
) -> Result<(), Error> {
    let root = CancellationToken::new();
    spawn_signal_handler(root.clone());
    tracing::info!(config = %config.source, servers = config.servers.len(), "starting polyclaw");
    let uses_docker = config
        .servers
        .iter()
        .any(|s| matches!(s.transport, crate::config::Transport::Docker { .. }));
    if uses_docker {
        reap_leftovers().await;
    }
    let hub = Hub::start(&config, root.child_token());
    let served = match http {
        Some(addr) => {
            let listener = front::http::bind(addr).await?;
            let local = listener.local_addr().unwrap_or(addr);
            let banner_mesh = hub.clone();
            let authed = token.is_some();
            tokio::spawn(async move { banner(&banner_mesh, local, authed).await });
            front::http::serve(hub.clone(), listener, token, root.clone()).await
        }
        None => front::stdio::serve(hub.clone(), root.clone()).await,
    };
    tracing::info!("stopping servers");
    root.cancel();
    tokio::time::timeout(Duration::from_secs(10), hub.shutdown())
        .await
        .unwrap_or_else(|_| tracing::error!("servers did not stop within 10 s"));
    if uses_docker {
        // A safety net: anything this instance started that is still there goes now.
        if let Ok(Ok(engine)) =
            tokio::time::timeout(Duration::from_secs(3), docker::Engine::connect()).await
        {
            match engine.remove_owned(docker::labels::instance_id()).await {
                Ok(0) | Err(_) => {}
                Ok(n) => tracing::warn!(containers = n, "removed containers left after shutdown"),
            }
        }
    }
    served
}

/// Refuses to serve HTTP beyond this machine without a token: anyone who reaches the port
/// could run tools. `--insecure-no-auth` serves anyway, with a warning.
///
/// # Errors
/// [`Error::InvalidInput`] naming the fixes.
pub fn check_exposure(addr: SocketAddr, token: bool, insecure_no_auth: bool) -> Result<(), Error> {
    if token || addr.ip().is_loopback() {
        return Ok(());
    }
    if insecure_no_auth {
        tracing::warn!(
            %addr,
            "serving MCP on a non-loopback address without a token (--insecure-no-auth): anyone who reaches this port can run tools"
        );
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "refusing to serve on {addr} without a token: anyone who can reach it could run tools through polyclaw. \
         Give a token (`--token` or POLYCLAW_TOKEN; clients send `Authorization: Bearer <token>`), \
         bind to 127.0.0.1, or pass --insecure-no-auth if you really mean it"
    )))
}

/// Removes containers left by polyclaw instances that are gone (crashed, killed).
async fn reap_leftovers() {
    match tokio::time::timeout(Duration::from_secs(5), docker::Engine::connect()).await {
        Ok(Ok(engine)) => match engine.reap_leftovers(docker::labels::instance_id()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                containers = n,
                "removed containers left by earlier polyclaw instances"
            ),
            Err(e) => tracing::warn!("could not look for leftover containers: {e}"),
        },
        Ok(Err(e)) => {
            tracing::warn!("{e}; container servers will be unavailable until Docker is reachable")
        }
        Err(_) => tracing::warn!(
            "Docker did not answer within 5 s; container servers will be unavailable"
        ),
    }
}

fn spawn_signal_handler(root: CancellationToken) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            () = term => tracing::info!("terminated"),
            () = root.cancelled() => return,
        }
        root.cancel();
    });
}

/// Tells a person at a terminal what is running and how to connect; a log line otherwise.
async fn banner(hub: &Hub, local: SocketAddr, authed: bool) {
    let url = format!("http://{local}{}", front::http::MCP_PATH);
    tracing::info!(%url, "serving MCP over Streamable HTTP");
    if !std::io::stdout().is_terminal() {
        return;
    }
    hub.warm_up(hub::LIST_WAIT).await;
    let catalog = hub.catalog();
    let mut lines = vec![format!("\npolyclaw is serving MCP at {url}\n")];
    for ds in hub.servers() {
        let n = catalog.tool_count(&ds.spec.name);
        let status = ds.status();
        let extra = match &status {
            crate::runtime::Status::Down { error, .. } => format!("  ({error})"),
            _ => String::new(),
        };
        lines.push(format!(
            "  {:<14} {:<8} {:>3} tools  {}{extra}",
            ds.spec.name,
            status.label(),
            n,
            ds.spec.endpoint()
        ));
    }
    lines.push(format!(
        "  {:<14} {:<8} {:>3} tools  polyclaw's own (find_tools, add_server, ...)",
        "polyclaw",
        "ready",
        front::own_tools::definitions().len()
    ));
    lines.push(String::new());
    lines.push("Connect a client:".into());
    lines.push(format!("  VS Code:      add {{\"servers\": {{\"polyclaw\": {{\"type\": \"http\", \"url\": \"{url}\"}}}}}} to .vscode/mcp.json"));
    lines.push(format!(
        "  Claude Code:  claude mcp add --transport http polyclaw {url}"
    ));
    lines.push("  or over stdio: polyclaw connect vscode|claude-desktop|claude-code|cursor".into());
    if authed {
        lines.push("  (send `Authorization: Bearer <token>`: the token is required)".into());
    }
    lines.push("Press Ctrl-C to stop.".into());
    super::out(&lines.join("\n"));
}
