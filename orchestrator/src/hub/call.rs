//! The call policy: what happens to every request polyclaw sends a downstream server, on
//! every route.
//!
//! A call is carried either **typed** (rmcp's client: a [`ClientRequest`] in, a
//! [`ServerResult`] out) or **raw** (one JSON line written to a stdio server's stdin, its
//! response line taken off the stdout tap; see `runtime::raw`). The two differ only in how
//! the bytes travel — a [`Carrier`] — never in what happens around them, which is
//! [`Hub::carry`]:
//!
//! - the server is marked in use for the call (its idle timer never stops it mid-call);
//! - the call is registered with the relay, so the server's progress reaches the client
//!   under the client's own token, and the server's requests during the call (sampling,
//!   elicitation, roots) are answered by asking the client, from the call's own task;
//! - the server's `timeout` bounds the call; when it passes, or when the client cancels, the
//!   server is told with `notifications/cancelled` and the call ends
//!   ([`Error::Timeout`], [`Error::Cancelled`]);
//! - a connection that breaks before the answer (the server crashed) fails the call with
//!   [`connection_broke`]; the supervisor restarts the server.
//!
//! Never here: parsing what a client sent or writing what it gets back. That is the front
//! doors' (`front/`); they hand the hub a call and get a reply or an [`Error`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolResponse, CallToolResult, CancelledNotificationParam, ClientRequest,
    InputRequiredResult, NumberOrString, ProgressToken, RequestId, RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{CallContext, Hub};
use crate::error::Error;
use crate::runtime::Downstream;
use crate::runtime::raw::{ID_PREFIX, Pending, RawLink};
use crate::runtime::relay::{CallEvent, Reach, UpRequest};

/// A call's answer, once it is on its way.
pub type Waiting<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// How one call's bytes travel to a server and back.
pub trait Carrier: Send {
    /// What the server's answer is, as this carrier hands it over.
    type Reply: Send + 'static;

    /// Sends the request. Returns the progress token the server was given (when the client
    /// asked for progress) and the answer to wait for.
    fn send(
        &mut self,
    ) -> impl Future<Output = Result<(Option<ProgressToken>, Waiting<Self::Reply>), Error>> + Send;

    /// Tells the server the call is over (`notifications/cancelled`), as far as it can.
    fn cancel(&mut self, reason: &'static str) -> impl Future<Output = ()> + Send;
}

impl Hub {
    /// Carries one call to `ds` under the call policy (see the module's documentation).
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Cancelled`], the carrier's own errors
    /// ([`connection_broke`] when the server's connection ends first).
    pub async fn carry<C: Carrier>(
        &self,
        ds: &Arc<Downstream>,
        mut carrier: C,
        ctx: &CallContext,
    ) -> Result<C::Reply, Error> {
        let server = ds.spec.name.as_str();
        let _in_use = ds.begin_use();
        let reach = match (&ctx.events, &ctx.client) {
            (Some(events), _) => Some(Reach::Stream(events.clone())),
            (None, Some(peer)) => Some(Reach::Peer(peer.clone())),
            (None, None) => None,
        };
        let mut guard = self.relay.begin_call(server, reach.clone());
        let timeout = ds.spec.timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // Sending is bounded too: a server that stops reading its stdin fills the pipe.
        let sent = tokio::select! {
            sent = carrier.send() => sent,
            () = &mut deadline => Err(timed_out(server, timeout)),
            () = ctx.cancel.cancelled() => Err(Error::Cancelled { server: server.to_string() }),
        };
        let (token, mut answer) = sent?;
        if let Some(token) = token {
            guard.track_progress(token, ctx.client_token.clone());
        }
        let mut up = guard.up.take();
        loop {
            tokio::select! {
                reply = &mut answer => return reply,
                Some(up_request) = recv(&mut up) => {
                    // Answered here, in the client's request task, so HTTP clients get the
                    // request on the stream of their own call.
                    match &reach {
                        Some(Reach::Peer(client)) => crate::runtime::relay::answer(client, up_request).await,
                        // The front writes it out; the client's answer goes straight to the server.
                        Some(Reach::Stream(events)) => {
                            let _ = events.send(CallEvent::Request(up_request)).await;
                        }
                        None => {}
                    }
                }
                () = &mut deadline => {
                    carrier.cancel("the call timed out in polyclaw").await;
                    return Err(timed_out(server, timeout));
                }
                () = ctx.cancel.cancelled() => {
                    carrier.cancel("cancelled by the client").await;
                    return Err(Error::Cancelled { server: server.to_string() });
                }
            }
        }
    }
}

fn timed_out(server: &str, timeout: Duration) -> Error {
    Error::Timeout {
        server: server.to_string(),
        secs: timeout.as_secs_f64(),
    }
}

/// A request carried by rmcp's typed client.
pub struct Typed {
    server: String,
    peer: Peer<RoleClient>,
    request: Option<ClientRequest>,
    meta: Option<RequestMetaObject>,
    /// The id rmcp gave the request, once sent (for `notifications/cancelled`).
    sent: Option<RequestId>,
}

impl Typed {
    /// `request` for `server` over `peer`; `meta` is a 2026-07-28 client's request `_meta`,
    /// passed on to a server that speaks that era.
    #[must_use]
    pub fn new(
        server: &str,
        peer: Peer<RoleClient>,
        request: ClientRequest,
        meta: Option<RequestMetaObject>,
    ) -> Self {
        Self {
            server: server.to_string(),
            peer,
            request: Some(request),
            meta,
            sent: None,
        }
    }
}

impl Carrier for Typed {
    type Reply = ServerResult;

    async fn send(&mut self) -> Result<(Option<ProgressToken>, Waiting<ServerResult>), Error> {
        let request = self.request.take().ok_or_else(|| Error::Downstream {
            server: self.server.clone(),
            message: "a call was sent twice (a bug in polyclaw)".into(),
        })?;
        let mut options = PeerRequestOptions::no_options();
        // The policy's deadline bounds the call, for every carrier alike.
        options.timeout = None;
        options.meta = self.meta.take();
        let handle = self
            .peer
            .send_request_with_option(request, options)
            .await
            .map_err(|e| downstream_error(&self.server, e))?;
        self.sent = Some(handle.id.clone());
        let token = handle.progress_token.clone();
        let server = self.server.clone();
        let answer = Box::pin(async move {
            handle
                .await_response()
                .await
                .map_err(|e| downstream_error(&server, e))
        });
        Ok((Some(token), answer))
    }

    async fn cancel(&mut self, reason: &'static str) {
        if let Some(id) = self.sent.take() {
            let note = CancelledNotificationParam::new(Some(id), Some(reason.into()));
            let _ = self.peer.notify_cancelled(note).await;
        }
    }
}

/// A `tools/call` carried as one raw JSON line to a stdio server (see `runtime::raw`): the
/// arguments are passed on as the client wrote them, never parsed.
pub struct Raw {
    server: String,
    link: Arc<RawLink>,
    /// The tool's name at the server.
    tool: String,
    /// The arguments object, as JSON text.
    arguments: Option<String>,
    /// Whether the client asked for progress.
    progress: bool,
    /// A 2026-07-28 client's request `_meta`, for a server of that era (its progress token
    /// is replaced by the call's).
    meta: Option<serde_json::Map<String, serde_json::Value>>,
    /// More params (a 2026-07-28 retry's `inputResponses` and `requestState`).
    extra: serde_json::Map<String, serde_json::Value>,
    pending: Option<Pending>,
}

impl Raw {
    /// A call of `tool` (the server's own name for it) on `server`'s raw link.
    #[must_use]
    pub fn new(
        server: &str,
        link: Arc<RawLink>,
        tool: &str,
        arguments: Option<String>,
        progress: bool,
    ) -> Self {
        Self {
            server: server.to_string(),
            link,
            tool: tool.to_string(),
            arguments,
            progress,
            meta: None,
            extra: serde_json::Map::new(),
            pending: None,
        }
    }

    /// Sends the client's own request `_meta` (2026-07-28, to a server of that era).
    #[must_use]
    pub fn with_meta(mut self, meta: serde_json::Map<String, serde_json::Value>) -> Self {
        self.meta = Some(meta);
        self
    }

    /// Adds params beside `name` and `arguments`.
    #[must_use]
    pub fn with_params(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = extra;
        self
    }

    fn down_id(&self) -> Option<String> {
        self.pending
            .as_ref()
            .map(|p| format!("{ID_PREFIX}{}", p.number))
    }
}

impl Carrier for Raw {
    /// The server's response line (its id is ours; the front puts the client's back).
    type Reply = Vec<u8>;

    async fn send(&mut self) -> Result<(Option<ProgressToken>, Waiting<Vec<u8>>), Error> {
        let (pending, response) = self.link.begin();
        let down_id = format!("{ID_PREFIX}{}", pending.number);
        let line = request_line(
            &down_id,
            &Params {
                tool: &self.tool,
                arguments: self.arguments.as_deref(),
                progress: self.progress,
                meta: self.meta.as_ref(),
                extra: &self.extra,
            },
        );
        self.pending = Some(pending);
        if !self.link.send(line).await {
            return Err(connection_broke(&self.server));
        }
        let token = self
            .progress
            .then(|| ProgressToken(NumberOrString::String(down_id.into())));
        let server = self.server.clone();
        let answer = Box::pin(async move { response.await.map_err(|_| connection_broke(&server)) });
        Ok((token, answer))
    }

    async fn cancel(&mut self, reason: &'static str) {
        if let Some(id) = self.down_id() {
            let _ = self.link.send(cancel_line(&id, reason)).await;
        }
    }
}

/// A server answered `tools/call` with something else than a tool result (or an error).
pub(crate) fn not_a_tool_result(server: &str) -> Error {
    Error::Downstream {
        server: server.to_string(),
        message: "it answered tools/call with something that is not a tool result".into(),
    }
}

/// The tool result in a server's raw response line; its JSON-RPC error as [`Error::Remote`].
///
/// # Errors
/// [`Error::Remote`], or [`Error::Downstream`] when the line is not an answer to `tools/call`.
pub fn tool_result(server: &str, line: &[u8]) -> Result<CallToolResponse, Error> {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<rmcp::ErrorData>,
    }
    match serde_json::from_slice::<Answer<'_>>(line) {
        Ok(Answer {
            error: Some(error), ..
        }) => Err(Error::Remote {
            server: server.to_string(),
            error,
        }),
        Ok(Answer {
            result: Some(result),
            ..
        }) => {
            let text = result.get();
            if text.contains("input_required")
                && let Ok(r) = serde_json::from_str::<InputRequiredResult>(text)
            {
                return Ok(CallToolResponse::InputRequired(r));
            }
            match serde_json::from_str::<CallToolResult>(text) {
                Ok(r) => Ok(CallToolResponse::Complete(r)),
                // An empty result, as the typed route reads it.
                Err(_)
                    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                        .is_ok_and(|m| m.is_empty()) =>
                {
                    Ok(CallToolResponse::Complete(CallToolResult::success(
                        Vec::new(),
                    )))
                }
                Err(_) => Err(not_a_tool_result(server)),
            }
        }
        _ => Err(not_a_tool_result(server)),
    }
}

/// What goes into a raw request's params.
struct Params<'a> {
    tool: &'a str,
    arguments: Option<&'a str>,
    progress: bool,
    meta: Option<&'a serde_json::Map<String, serde_json::Value>>,
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// The raw request for the server, one line: our id, the server's tool name, the arguments
/// as the client wrote them, and our id as the progress token when the client asked.
fn request_line(down_id: &str, p: &Params<'_>) -> Vec<u8> {
    let name = json(p.tool);
    let mut line = String::with_capacity(96 + name.len() + p.arguments.map_or(0, str::len));
    line.push_str(r#"{"jsonrpc":"2.0","id":""#);
    line.push_str(down_id);
    line.push_str(r#"","method":"tools/call","params":{"name":"#);
    line.push_str(&name);
    if let Some(arguments) = p.arguments {
        line.push_str(r#","arguments":"#);
        line.push_str(arguments);
    }
    match p.meta {
        Some(meta) => {
            let mut meta = meta.clone();
            meta.remove("progressToken");
            if p.progress {
                meta.insert("progressToken".into(), down_id.into());
            }
            line.push_str(r#","_meta":"#);
            line.push_str(&json(&meta));
        }
        None if p.progress => {
            line.push_str(r#","_meta":{"progressToken":""#);
            line.push_str(down_id);
            line.push_str(r#""}"#);
        }
        None => {}
    }
    for (key, value) in p.extra {
        line.push(',');
        line.push_str(&json(key));
        line.push(':');
        line.push_str(&json(value));
    }
    line.push_str("}}\n");
    line.into_bytes()
}

/// JSON text of a value that always serializes (strings, maps of JSON values).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn cancel_line(down_id: &str, reason: &str) -> Vec<u8> {
    let mut line = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": down_id, "reason": reason}
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

/// The next up-request, or never when the call has no client.
async fn recv(up: &mut Option<mpsc::Receiver<UpRequest>>) -> Option<UpRequest> {
    match up {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A call's connection to its server ended before the answer.
pub(crate) fn connection_broke(server: &str) -> Error {
    Error::Unavailable {
        server: server.to_string(),
        reason:
            "the connection to it broke during the call (it may have crashed); polyclaw restarts it"
                .into(),
    }
}

fn downstream_error(server: &str, e: ServiceError) -> Error {
    match e {
        ServiceError::McpError(error) => Error::Remote {
            server: server.to_string(),
            error,
        },
        ServiceError::Timeout { timeout } => timed_out(server, timeout),
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => connection_broke(server),
        other => Error::Downstream {
            server: server.to_string(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod policy_tests {
    //! The policy around a carrier, with carriers that misbehave on purpose (a real server
    //! for each route is in tests/tests/hot_path.rs).
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::{Carrier, Waiting};
    use crate::config::{Config, ConfigSource, Interpolator};
    use crate::error::Error;
    use crate::hub::{CallContext, Hub};

    /// A hub with one (never started) server whose timeout is 0.2 s (real time: tokio's
    /// paused clock would need its `test-util` feature, a second build of the graph).
    fn hub(state: &std::path::Path) -> (Arc<Hub>, Arc<crate::runtime::Downstream>) {
        let text = format!(
            "[plans]\nstate_dir = {:?}\n\n[servers.s]\ncommand = \"true\"\ntimeout = 0.2\n",
            state.display().to_string()
        );
        let config = Config::parse(&text, ConfigSource::Embedded, &Interpolator::from_env())
            .expect("config");
        let hub = Hub::start(&config, CancellationToken::new());
        let ds = hub.server("s").expect("server s");
        (hub, ds)
    }

    /// Never gets its request out (a server that stopped reading its stdin).
    struct Stuck;

    impl Carrier for Stuck {
        type Reply = ();
        async fn send(
            &mut self,
        ) -> Result<(Option<rmcp::model::ProgressToken>, Waiting<()>), Error> {
            std::future::pending().await
        }
        async fn cancel(&mut self, _reason: &'static str) {}
    }

    /// Sends, then never hears back; remembers whether it was told to cancel.
    struct Silent(Arc<std::sync::Mutex<Option<&'static str>>>);

    impl Carrier for Silent {
        type Reply = ();
        async fn send(
            &mut self,
        ) -> Result<(Option<rmcp::model::ProgressToken>, Waiting<()>), Error> {
            Ok((None, Box::pin(std::future::pending())))
        }
        async fn cancel(&mut self, reason: &'static str) {
            if let Ok(mut r) = self.0.lock() {
                *r = Some(reason);
            }
        }
    }

    #[tokio::test]
    async fn a_send_that_never_completes_ends_at_the_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (hub, ds) = hub(dir.path());
        let result = hub.carry(&ds, Stuck, &CallContext::default()).await;
        assert!(
            matches!(&result, Err(Error::Timeout { server, .. }) if server == "s"),
            "{result:?}"
        );
        let ctx = CallContext::default();
        ctx.cancel.cancel();
        let result = hub.carry(&ds, Stuck, &ctx).await;
        assert!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
    }

    #[tokio::test]
    async fn a_silent_server_is_told_why_the_call_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (hub, ds) = hub(dir.path());
        let told = Arc::new(std::sync::Mutex::new(None));
        let result = hub
            .carry(&ds, Silent(told.clone()), &CallContext::default())
            .await;
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert_eq!(
            *told.lock().expect("lock"),
            Some("the call timed out in polyclaw")
        );
        let ctx = CallContext::default();
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            cancel.cancel();
        });
        let result = hub.carry(&ds, Silent(told.clone()), &ctx).await;
        assert!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
        assert_eq!(*told.lock().expect("lock"), Some("cancelled by the client"));
    }
}

#[cfg(test)]
mod tests {
    use super::{Params, cancel_line, request_line, tool_result};
    use crate::error::Error;
    use rmcp::model::CallToolResponse;
    use serde_json::Value;
    use serde_json::json;

    #[test]
    fn a_raw_answer_reads_as_the_typed_route_reads_it() {
        let ok = tool_result(
            "echo",
            br#"{"jsonrpc":"2.0","id":"pc:1","result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#,
        );
        assert!(
            matches!(ok, Ok(CallToolResponse::Complete(r)) if r.is_error != Some(true) && r.content.len() == 1)
        );
        let empty = tool_result("echo", br#"{"jsonrpc":"2.0","id":"pc:1","result":{}}"#);
        assert!(matches!(empty, Ok(CallToolResponse::Complete(r)) if r.content.is_empty()));
        let asks = tool_result(
            "echo",
            br#"{"jsonrpc":"2.0","id":"pc:1","result":{"resultType":"input_required","requestState":"s"}}"#,
        );
        assert!(
            matches!(asks, Ok(CallToolResponse::InputRequired(r)) if r.request_state.as_deref() == Some("s"))
        );
        let remote = tool_result(
            "echo",
            br#"{"jsonrpc":"2.0","id":"pc:1","error":{"code":-32602,"message":"bad"}}"#,
        );
        assert!(matches!(remote, Err(Error::Remote { error, .. }) if error.code.0 == -32602));
        for odd in [
            &br#"{"jsonrpc":"2.0","id":"pc:1"}"#[..],
            b"{\"result\": 3}",
            b"nonsense",
        ] {
            assert!(
                matches!(tool_result("echo", odd), Err(Error::Downstream { ref server, .. }) if server == "echo"),
                "{}",
                String::from_utf8_lossy(odd)
            );
        }
    }

    fn params<'a>(
        tool: &'a str,
        arguments: Option<&'a str>,
        progress: bool,
        extra: &'a serde_json::Map<String, Value>,
    ) -> Params<'a> {
        Params {
            tool,
            arguments,
            progress,
            meta: None,
            extra,
        }
    }

    #[test]
    fn the_raw_request_carries_our_id_the_servers_name_and_raw_arguments() -> anyhow::Result<()> {
        let none = serde_json::Map::new();
        let args = r#"{"text": "hi", "n": [1,2]}"#;
        let line = request_line("pc:7", &params("ec\"ho", Some(args), true, &none));
        assert!(line.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&line)?;
        assert_eq!(v["id"], "pc:7");
        assert_eq!(v["method"], "tools/call");
        assert_eq!(v["params"]["name"], "ec\"ho");
        assert_eq!(v["params"]["arguments"]["n"][1], 2);
        assert_eq!(v["params"]["_meta"]["progressToken"], "pc:7");
        let bare: Value =
            serde_json::from_slice(&request_line("pc:8", &params("echo", None, false, &none)))?;
        assert!(bare["params"].get("arguments").is_none());
        assert!(bare["params"].get("_meta").is_none());
        // A 2026-07-28 client's meta goes on with our progress token; a retry's params too.
        let meta = json!({"progressToken": "theirs", "io.modelcontextprotocol/protocolVersion": "2026-07-28"});
        let extra = json!({"requestState": "s1"});
        let (Some(meta), Some(extra)) = (meta.as_object(), extra.as_object()) else {
            anyhow::bail!("objects");
        };
        let mut p = params("echo", Some("{}"), true, extra);
        p.meta = Some(meta);
        let modern: Value = serde_json::from_slice(&request_line("pc:9", &p))?;
        assert_eq!(modern["params"]["_meta"]["progressToken"], "pc:9");
        assert_eq!(
            modern["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert_eq!(modern["params"]["requestState"], "s1");
        p.progress = false;
        let quiet: Value = serde_json::from_slice(&request_line("pc:10", &p))?;
        assert!(quiet["params"]["_meta"].get("progressToken").is_none());
        let cancel: Value = serde_json::from_slice(&cancel_line("pc:7", "why"))?;
        assert_eq!(cancel["params"]["requestId"], "pc:7");
        assert_eq!(cancel["method"], "notifications/cancelled");
        Ok(())
    }
}
