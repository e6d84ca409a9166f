//! The front door over Streamable HTTP at `/mcp`, with the defaults a local service needs:
//! loopback bind, `Host` and `Origin` checked (DNS-rebinding protection), an optional bearer
//! token, and a cap on request size. Both protocol eras are served by rmcp: 2025-11-25 with
//! sessions, 2026-07-28 stateless; a session's `tools/call` that needs no translation takes
//! the raw route first (`http_raw`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

use super::FrontDoor;
use super::http_raw::{self, HttpSessions, RawHttp};
use crate::hub::Hub;

/// The path of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// Binds the front door's listener.
///
/// # Errors
/// [`Error::Bind`] naming the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// Serves MCP on `listener` until `shutdown` is cancelled. `token`, when set, is required as
/// `Authorization: Bearer <token>` on every request.
///
/// # Errors
/// [`Error::Io`] if the server fails.
pub async fn serve(
    hub: Arc<Hub>,
    listener: TcpListener,
    token: Option<String>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let local = listener.local_addr().map_err(|source| Error::Io {
        context: "cannot read the listener's address".into(),
        source,
    })?;
    let app = router(hub, local, token, shutdown.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| Error::Io {
            context: format!("the HTTP front door on {local} failed"),
            source,
        })
}

/// The axum app: `/mcp` (MCP) and `/healthz`.
pub fn router(
    hub: Arc<Hub>,
    local: SocketAddr,
    token: Option<String>,
    shutdown: CancellationToken,
) -> Router {
    let front = hub.front.clone();
    let mut hosts: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(front.allowed_hosts.iter().cloned());
    let mut origins: Vec<String> = ["http", "https"]
        .iter()
        .flat_map(|s| {
            ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .map(move |h| format!("{s}://{h}:*"))
        })
        .collect();
    origins.extend(front.allowed_origins.iter().cloned());
    let sessions = Arc::new(HttpSessions::default());
    let raw = Arc::new(RawHttp {
        hub: hub.clone(),
        sessions: sessions.clone(),
        hosts: hosts.clone(),
        max_body: front.max_request_bytes,
    });
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(front.max_request_bytes)
        .with_cancellation_token(shutdown.child_token());
    let factory_mesh = hub.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(FrontDoor::with_sessions(
                factory_mesh.clone(),
                Some(sessions.clone()),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .nest_service(MCP_PATH, service)
        .layer(middleware::from_fn_with_state(raw, http_raw::layer))
        .layer(middleware::from_fn(session_end_is_ok))
        .layer(middleware::from_fn_with_state(
            Arc::new((token, hub.clone())),
            require_token,
        ));
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .merge(mcp)
}

async fn require_token(
    State(state): State<Arc<(Option<String>, Arc<Hub>)>>,
    request: Request,
    next: Next,
) -> Response {
    let (token, hub) = &*state;
    let Some(expected) = token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        return next.run(request).await;
    }
    let mut entry = crate::hub::audit::Entry::new("auth");
    entry.outcome = Some("refused".into());
    entry.detail = Some(
        if given.is_some() {
            "wrong bearer token"
        } else {
            "no bearer token"
        }
        .into(),
    );
    entry.client = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(120).collect());
    hub.audit.record(&entry);
    let message = if given.is_some() {
        "the bearer token is wrong; use the token polyclaw was started with (--token or POLYCLAW_TOKEN)"
    } else {
        "this polyclaw requires `Authorization: Bearer <token>`; `polyclaw connect` prints a client config that sends it"
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32001, "message": message}
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"polyclaw\""),
    );
    response
}

/// rmcp answers a session's `DELETE` with 202 Accepted; clients (the Python SDK among them)
/// expect 200 or 204 and log the ended session as a failure otherwise.
async fn session_end_is_ok(request: Request, next: Next) -> Response {
    let delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
