//! The raw route of the Streamable HTTP front: a session's `tools/call` POSTed by a
//! 2025-era client is forwarded as one raw JSON line, as on the stdio hot path (`hot`), and
//! answered with `application/json`, or with an SSE stream only when the call streams.
//!
//! An axum layer in front of rmcp's `StreamableHttpService` takes a POST only when it is sure
//! rmcp would accept it and the call needs no translation: a known, initialized session
//! (`Mcp-Session-Id`) of an era before 2026-07-28, an allowed `Host`, no `Origin` (browsers go
//! through rmcp's checks), `Accept` naming JSON and SSE, a JSON body of a declared length
//! within the cap, `MCP-Protocol-Version` absent or the session's own, no per-request
//! protocol metadata, and a tool whose server is up on stdio (`Hub::raw_route`). Everything
//! else, every other method included, goes to rmcp with its bytes unchanged.
//!
//! A call answers `application/json` when the server answers before sending anything else.
//! When the first progress notification or server request arrives first, the answer becomes
//! an SSE stream: progress under the client's token, the server's requests (sampling,
//! elicitation, roots) under polyclaw's own ids (`pcup:N`), and last the response. The
//! client's POSTed answers to those ids are taken here (202) and handed to the server; a
//! POSTed `notifications/cancelled` for a call in flight here cancels it. A client that hangs
//! up cancels its call.
//!
//! The call runs under the hub's one call policy (`Hub::carry` with `call::Raw`): timeout,
//! cancellation, progress, the server's requests and crashes behave as on every route.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData as McpError;
use rmcp::model::{ProtocolVersion, RequestId};
use rmcp::service::{Peer, RoleServer};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hot::{CallParams, CancelParams, Envelope, id_key};
use crate::error::Error;
use crate::hub::call::Raw;
use crate::hub::guard::ToolCall;
use crate::hub::{CallContext, Hub};
use crate::runtime::raw::contains_bytes;
use crate::runtime::relay::{CallEvent, WireAnswer, unless_declared};

/// The prefix of the ids polyclaw gives the server requests it sends on a call's stream.
const UP_PREFIX: &str = "pcup:";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one map operation: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The initialized sessions of the HTTP front, by `Mcp-Session-Id`.
#[derive(Default)]
pub struct HttpSessions {
    map: Mutex<HashMap<String, Arc<HttpSession>>>,
    next_up: AtomicU64,
}

impl std::fmt::Debug for HttpSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSessions").finish_non_exhaustive()
    }
}

/// One client session, as the raw route needs it.
struct HttpSession {
    /// The hub's session (for `per_client` instances).
    hub_session: u64,
    /// The client, for what it declared (capabilities, protocol version).
    peer: Peer<RoleServer>,
    /// The negotiated protocol version.
    version: String,
    /// The client's ids of raw calls in flight (as JSON text) → their cancellation.
    calls: Mutex<HashMap<String, CancellationToken>>,
    /// Server requests sent on a call's stream, by our id → what takes the client's answer.
    up: Mutex<HashMap<String, WireAnswer>>,
    /// Which bearer token the session started with (the front checks every request's).
    token_id: Option<String>,
    /// Whether the raw route has served this session yet (logged once).
    served: std::sync::atomic::AtomicBool,
}

impl HttpSessions {
    /// Records an initialized session. Only sessions of an era with sessions (before
    /// 2026-07-28) are recorded.
    pub fn insert(
        &self,
        id: &str,
        hub_session: u64,
        peer: Peer<RoleServer>,
        token_id: Option<String>,
    ) {
        let Some(version) = peer
            .peer_info()
            .map(|i| i.protocol_version.clone())
            .filter(|v| *v < ProtocolVersion::V_2026_07_28)
        else {
            return;
        };
        let session = HttpSession {
            hub_session,
            peer,
            version: version.as_str().to_string(),
            calls: Mutex::new(HashMap::new()),
            up: Mutex::new(HashMap::new()),
            served: std::sync::atomic::AtomicBool::new(false),
            token_id,
        };
        lock(&self.map).insert(id.to_string(), Arc::new(session));
    }

    /// Forgets a session that ended.
    pub fn remove(&self, id: &str) {
        lock(&self.map).remove(id);
    }

    fn get(&self, headers: &HeaderMap) -> Option<Arc<HttpSession>> {
        let id = headers.get("mcp-session-id")?.to_str().ok()?;
        let session = lock(&self.map).get(id).cloned()?;
        (!session.peer.is_transport_closed()).then_some(session)
    }
}

/// The raw route's state: the hub, the sessions, and the checks rmcp would make.
pub struct RawHttp {
    pub(super) hub: Arc<Hub>,
    pub(super) sessions: Arc<HttpSessions>,
    /// The allowed `Host` values (as rmcp is configured).
    pub(super) hosts: Vec<String>,
    /// The body cap (as rmcp is configured).
    pub(super) max_body: usize,
}

/// What the raw route made of a POST.
enum Taken {
    /// Not for the raw route: rmcp gets the request (rebuilt with its body).
    No,
    /// Answered here already.
    Done(Response),
}

/// The layer: takes what the raw route serves, passes everything else to rmcp.
pub async fn layer(State(raw): State<Arc<RawHttp>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !raw.hub.front.forward_raw {
        return next.run(request).await;
    }
    let Some(session) = raw.sessions.get(request.headers()) else {
        return next.run(request).await;
    };
    if !raw.headers_fit(&request, &session) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, raw.max_body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Bad Request: the body could not be read ({e})"),
            )
                .into_response();
        }
    };
    match raw.take(&session, &bytes).await {
        Taken::Done(response) => response,
        Taken::No => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

impl RawHttp {
    /// Whether the headers are ones rmcp would accept for a session request, with nothing
    /// the raw route would have to check further.
    fn headers_fit(&self, request: &Request, session: &HttpSession) -> bool {
        let headers = request.headers();
        let accepts = |what: &str| {
            headers.get_all(header::ACCEPT).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| media_type(t) == what && !zero_q(t)))
            })
        };
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| media_type(v) == "application/json");
        let version = headers
            .get_all("mcp-protocol-version")
            .iter()
            .all(|v| v.as_bytes() == session.version.as_bytes());
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n <= self.max_body);
        let standard = headers.keys().any(|k| {
            let k = k.as_str();
            k.starts_with("mcp-") && k != "mcp-session-id" && k != "mcp-protocol-version"
        });
        json && version
            && length
            && !standard
            && !headers.contains_key(header::ORIGIN)
            && accepts("application/json")
            && accepts("text/event-stream")
            && host_allowed(request, &self.hosts)
    }

    async fn take(&self, session: &Arc<HttpSession>, body: &Bytes) -> Taken {
        let call = contains_bytes(body, b"tools/call");
        let answer = contains_bytes(body, UP_PREFIX.as_bytes());
        let cancel = contains_bytes(body, b"notifications/cancelled");
        if !(call || answer || cancel) || contains_bytes(body, b"io.modelcontextprotocol/") {
            return Taken::No;
        }
        if answer && let Some(taken) = take_answer(session, body) {
            return taken;
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body) else {
            return Taken::No;
        };
        match (envelope.method.as_ref(), envelope.id, envelope.params) {
            ("tools/call", Some(id), Some(params)) => self.call(session, id, params).await,
            ("notifications/cancelled", None, Some(params)) => {
                let Ok(cancel) = serde_json::from_str::<CancelParams>(params.get()) else {
                    return Taken::No;
                };
                match lock(&session.calls).get(&id_key(&cancel.request_id)) {
                    Some(token) => {
                        token.cancel();
                        Taken::Done(StatusCode::ACCEPTED.into_response())
                    }
                    None => Taken::No,
                }
            }
            _ => Taken::No,
        }
    }

    async fn call(&self, session: &Arc<HttpSession>, id: &RawValue, params: &RawValue) -> Taken {
        let Ok(request_id) = serde_json::from_str::<RequestId>(id.get()) else {
            return Taken::No;
        };
        let Some(params) = CallParams::read(params.get()) else {
            return Taken::No;
        };
        if !params.goes_raw() {
            return Taken::No;
        }
        let Some(route) = self.hub.catalog().tool_route(&params.name).cloned() else {
            return Taken::No;
        };
        let client_token = params.meta.and_then(|m| m.progress_token);
        let (events, mut events_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let ctx = CallContext {
            client: Some(session.peer.clone()),
            client_token,
            cancel: cancel.clone(),
            inline_meta: None,
            session: Some(session.hub_session),
            events: Some(events),
            token_id: session.token_id.clone(),
            ..CallContext::default()
        };
        let Some((ds, link)) = self.hub.raw_route(&route.server, &ctx, false) else {
            return Taken::No;
        };
        let arguments = params.arguments.map(|a| a.get().to_owned());
        let guarded = ToolCall::routed(&route, &params.name, arguments.as_deref());
        // A call that must ask someone goes through rmcp, where the client can be asked.
        if !self.hub.runs_unasked(&guarded, &ctx) {
            return Taken::No;
        }
        let key = id_key(&request_id);
        {
            let mut calls = lock(&session.calls);
            if calls.contains_key(&key) {
                // A duplicate id in flight: rmcp answers it as it would.
                return Taken::No;
            }
            calls.insert(key.clone(), cancel.clone());
        }
        if !session.served.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                session = session.hub_session,
                "HTTP raw route serving the session's calls"
            );
        }
        let reply = super::hot::Call {
            client_id: id.get().to_owned(),
            exposed: params.name.clone(),
            server: route.server.clone(),
            inline: false,
        };
        let carrier = Raw::new(
            &route.server,
            link,
            &route.name,
            arguments.clone(),
            ctx.client_token.is_some(),
        );
        let hub = self.hub.clone();
        let owner = session.clone();
        // Polled right here (no task of its own, one hand-off less per call) until it answers
        // or streams; see `Running` for a client that hangs up.
        let mut call = Running {
            fut: Some(Box::pin(async move {
                let guarded = ToolCall::routed(&route, &reply.exposed, arguments.as_deref());
                let result = hub
                    .guarded(&guarded, &ctx, hub.carry(&ds, carrier, &ctx))
                    .await;
                // Closes the call's stream of events once the policy let go of its copies.
                drop(ctx);
                lock(&owner.calls).remove(&key);
                match result {
                    Ok(line) => Some(reply.relay(&line)),
                    Err(Error::Cancelled { .. }) => None,
                    Err(e) => Some(reply.failed(&e)),
                }
            })),
            cancel,
        };
        let mut finished = None;
        let first = tokio::select! {
            biased;
            event = events_rx.recv() => event,
            line = call.finish() => {
                // Anything the call sent before its answer goes first, on a stream.
                match events_rx.try_recv() {
                    Ok(event) => {
                        finished = Some(line);
                        Some(event)
                    }
                    Err(_) => return Taken::Done(json_answer(line)),
                }
            }
        };
        let Some(first) = first else {
            // The call ended without a word before its answer.
            return Taken::Done(json_answer(call.finish().await));
        };
        let stream = CallStream {
            session: session.clone(),
            first: Some(first),
            events: events_rx,
            call,
            finished,
            ended: false,
            sent_up: Vec::new(),
        };
        Taken::Done(sse_answer(stream, self.sessions.clone()))
    }
}

/// A raw call, polled by whoever answers the client. Dropped before its end (the client hung
/// up), it is cancelled and left to finish on a task of its own, which tells the server.
struct Running {
    fut: Option<Pin<Box<dyn Future<Output = Option<String>> + Send>>>,
    cancel: CancellationToken,
}

impl Running {
    /// Waits for the call's answer line (`None`: cancelled, no answer). Cancel-safe; call it
    /// again only until it has returned once.
    async fn finish(&mut self) -> Option<String> {
        let fut = self.fut.as_mut()?;
        let line = fut.await;
        self.fut = None;
        line
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take() {
            self.cancel.cancel();
            tokio::spawn(fut);
        }
    }
}

/// A client's answer to one of the server requests sent on a call's stream.
fn take_answer(session: &HttpSession, body: &[u8]) -> Option<Taken> {
    #[derive(Deserialize)]
    struct Answer {
        id: String,
        result: Option<serde_json::Value>,
        error: Option<McpError>,
        method: Option<serde::de::IgnoredAny>,
    }
    let answer = serde_json::from_slice::<Answer>(body).ok()?;
    if answer.method.is_some() || !answer.id.starts_with(UP_PREFIX) {
        return None;
    }
    let taker = lock(&session.up).remove(&answer.id)?;
    let result = match (answer.result, answer.error) {
        (_, Some(error)) => Err(error),
        (Some(result), None) => Ok(result),
        (None, None) => Err(McpError::invalid_params(
            "the client answered with neither a result nor an error",
            None,
        )),
    };
    taker(result);
    Some(Taken::Done(StatusCode::ACCEPTED.into_response()))
}

/// The answer as `application/json`; a cancelled call (no line) gets 202 and no body, as it
/// gets no answer on any route.
fn json_answer(line: Option<String>) -> Response {
    match line {
        Some(line) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            line,
        )
            .into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    }
}

/// A call whose answer streams: its events, then its answer.
struct CallStream {
    session: Arc<HttpSession>,
    first: Option<CallEvent>,
    events: mpsc::Receiver<CallEvent>,
    call: Running,
    /// The call's answer once it came (events sent before it are written first).
    finished: Option<Option<String>>,
    /// Whether the answer has been written.
    ended: bool,
    /// Our ids of the server requests sent on this stream (forgotten when it ends).
    sent_up: Vec<String>,
}

impl Drop for CallStream {
    fn drop(&mut self) {
        let mut up = lock(&self.session.up);
        for id in &self.sent_up {
            up.remove(id);
        }
    }
}

impl CallStream {
    /// The next SSE frame: the events, then the answer; `None` at the end.
    async fn next_frame(&mut self, sessions: &HttpSessions) -> Option<String> {
        loop {
            if self.ended {
                return None;
            }
            let event = if let Some(event) = self.first.take() {
                event
            } else if self.finished.is_some() {
                match self.events.try_recv() {
                    Ok(event) => event,
                    Err(_) => {
                        self.ended = true;
                        return self.finished.take().flatten().map(|line| frame(&line));
                    }
                }
            } else {
                tokio::select! {
                    biased;
                    event = self.events.recv() => match event {
                        Some(event) => event,
                        None => {
                            self.finished = Some(self.call.finish().await);
                            continue;
                        }
                    },
                    line = self.call.finish() => {
                        self.finished = Some(line);
                        continue;
                    }
                }
            };
            if let Some(frame) = self.event_frame(event, sessions) {
                return Some(frame);
            }
        }
    }

    /// An event as an SSE frame; `None` for a server request answered without the client.
    fn event_frame(&mut self, event: CallEvent, sessions: &HttpSessions) -> Option<String> {
        match event {
            CallEvent::Progress(params) => {
                let note = serde_json::json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": params,
                });
                Some(frame(&note.to_string()))
            }
            CallEvent::Request(request) => {
                let caps = self
                    .session
                    .peer
                    .peer_info()
                    .map(|i| i.capabilities.clone());
                let request = unless_declared(caps.as_ref(), request)?;
                let (method, params, taker) = request.into_wire()?;
                let id = format!(
                    "{UP_PREFIX}{}",
                    sessions.next_up.fetch_add(1, Ordering::Relaxed)
                );
                lock(&self.session.up).insert(id.clone(), taker);
                self.sent_up.push(id.clone());
                let request = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "method": method,
                    "params": params,
                });
                Some(frame(&request.to_string()))
            }
        }
    }
}

fn frame(json: &str) -> String {
    format!("event: message\ndata: {json}\n\n")
}

fn sse_answer(stream: CallStream, sessions: Arc<HttpSessions>) -> Response {
    let frames = futures::stream::unfold((stream, sessions), |(mut stream, sessions)| async move {
        let frame = stream.next_frame(&sessions).await?;
        Some((Ok::<_, std::convert::Infallible>(frame), (stream, sessions)))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

/// The media type of one `Accept` or `Content-Type` entry, lower case, without parameters.
fn media_type(entry: &str) -> String {
    entry
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether an `Accept` entry says `q=0` (not acceptable).
fn zero_q(entry: &str) -> bool {
    entry.split(';').skip(1).any(|p| {
        p.trim()
            .strip_prefix("q=")
            .and_then(|q| q.trim().parse::<f32>().ok())
            .is_some_and(|q| q == 0.0)
    })
}

/// Whether the request's `Host` (or URI authority) is one of `allowed` (`host` or
/// `host:port` entries, as rmcp reads them).
fn host_allowed(request: &Request, allowed: &[String]) -> bool {
    let authority = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| axum::http::uri::Authority::try_from(v).ok())
        .or_else(|| request.uri().authority().cloned());
    let Some(authority) = authority else {
        return false;
    };
    let host = normalize(authority.host());
    let port = authority.port_u16();
    allowed.iter().any(|entry| {
        let (h, p) = match axum::http::uri::Authority::try_from(entry.as_str()) {
            Ok(a) => (normalize(a.host()), a.port_u16()),
            Err(_) => (normalize(entry), None),
        };
        h == host && p.is_none_or(|p| Some(p) == port)
    })
}

fn normalize(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{host_allowed, media_type, zero_q};
    use axum::body::Body;
    use axum::extract::Request;

    fn request(host: &str) -> Request {
        Request::builder()
            .uri("/mcp")
            .header("host", host)
            .body(Body::empty())
            .expect("request")
    }

    #[test]
    fn hosts_are_read_as_rmcp_reads_them() {
        let allowed = vec![
            "localhost".to_string(),
            "127.0.0.1".into(),
            "[::1]".into(),
            "example.com:8080".into(),
        ];
        for ok in [
            "localhost:8765",
            "127.0.0.1",
            "[::1]:9",
            "LOCALHOST",
            "example.com:8080",
        ] {
            assert!(host_allowed(&request(ok), &allowed), "{ok}");
        }
        for no in ["evil.com", "example.com:80", "127.0.0.2:8765"] {
            assert!(!host_allowed(&request(no), &allowed), "{no}");
        }
    }

    #[test]
    fn accept_entries() {
        assert_eq!(
            media_type(" Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert!(zero_q("text/event-stream;q=0"));
        assert!(!zero_q("text/event-stream; q=0.5"));
    }
}
