//! The hot path of the stdio front door: `tools/call` forwarded as raw JSON lines.
//!
//! rmcp's typed model on both hops costs a stdio client ~150 µs per call (parsing and building
//! every message twice, and a few task hand-offs). For the calls that need no translation,
//! the front's reader hands the line to [`HotPath::try_handle`], which parses only the
//! envelope (`id`, `method`, `params.name`, with `arguments` kept as raw JSON), rewrites the
//! id to one of the server's raw ids (`runtime::raw`), the tool name to the server's own and
//! the progress token to the call's, and writes it to the server's stdin; the response comes
//! back through the stdout tap with only its id rewritten. Everything else (polyclaw's own
//! tools, unknown, blocked or not yet listed tools, servers not running, `per_client` servers,
//! container and HTTP servers, 2026-07-28 clients, requests with fields beyond `name`,
//! `arguments` and `_meta`) takes the typed path, as does every other method.
//!
//! What the typed path does for a call, the hot path does too: progress reaches the client
//! under its own token (through the relay, in order); the server's requests during the call
//! (sampling, elicitation, roots) are answered by asking the client; the server's timeout
//! applies, and a call that times out or that the client cancels is cancelled at the server
//! (`notifications/cancelled`); a server that dies fails its calls with the same error; an
//! idle timer does not stop a server with a call in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rmcp::model::{NumberOrString, ProgressToken, RequestId};
use rmcp::service::{Peer, RoleServer};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Mesh, connection_broke, own_tools, recv};
use crate::error::Error;
use crate::runtime::raw::{ID_PREFIX, RawLink, contains_bytes};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams<'a> {
    name: String,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta")]
    meta: Option<MetaIn>,
}

#[derive(Deserialize)]
struct MetaIn {
    #[serde(rename = "progressToken")]
    progress_token: Option<ProgressToken>,
}

#[derive(Deserialize)]
struct CancelParams {
    #[serde(rename = "requestId")]
    request_id: RequestId,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// The stdio front's hot path. Enabled once the client has initialized in a protocol era
/// whose `tools/call` needs no translation.
pub struct HotPath {
    mesh: Arc<Mesh>,
    /// To the one writer of stdout.
    out: mpsc::Sender<String>,
    client: OnceLock<Peer<RoleServer>>,
    /// The client's ids of calls in flight (as JSON text) → their cancellation.
    calls: Mutex<HashMap<String, CancellationToken>>,
}

impl std::fmt::Debug for HotPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotPath").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one map operation: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes a call's cancellation entry when the call ends, however it ends.
struct InFlight<'a> {
    hot: &'a HotPath,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.hot.calls).remove(&self.key);
    }
}

impl HotPath {
    /// A disabled hot path writing to `out`.
    #[must_use]
    pub fn new(mesh: Arc<Mesh>, out: mpsc::Sender<String>) -> Arc<Self> {
        Arc::new(Self {
            mesh,
            out,
            client: OnceLock::new(),
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// Turns the hot path on for this client (its requests to the client go through `peer`).
    pub fn enable(&self, peer: Peer<RoleServer>) {
        let _ = self.client.set(peer);
    }

    /// Takes `line` (one message from the client) if the hot path can serve it: a
    /// `tools/call` it forwards raw, or a cancellation of such a call. A taken line has been
    /// parsed whole, so it is valid JSON. `false`: give it to rmcp (after checking it is JSON).
    pub fn try_handle(self: &Arc<Self>, line: &[u8]) -> bool {
        let Some(client) = self.client.get() else {
            return false;
        };
        let call = contains_bytes(line, b"tools/call");
        if !call && !contains_bytes(line, b"notifications/cancelled") {
            return false;
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(line) else {
            return false;
        };
        match (envelope.method.as_ref(), envelope.id, envelope.params) {
            ("tools/call", Some(id), Some(params)) => self.try_call(client, id, params),
            ("notifications/cancelled", None, Some(params)) => self.try_cancel(params),
            _ => false,
        }
    }

    fn try_cancel(&self, params: &RawValue) -> bool {
        let Ok(cancel) = serde_json::from_str::<CancelParams>(params.get()) else {
            return false;
        };
        let key = id_key(&cancel.request_id);
        match lock(&self.calls).get(&key) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn try_call(
        self: &Arc<Self>,
        client: &Peer<RoleServer>,
        id: &RawValue,
        params: &RawValue,
    ) -> bool {
        let Ok(request_id) = serde_json::from_str::<RequestId>(id.get()) else {
            return false;
        };
        let Ok(params) = serde_json::from_str::<CallParams<'_>>(params.get()) else {
            return false;
        };
        // Arguments that are not an object get rmcp's own refusal (invalid params).
        if own_tools::is_own(&params.name)
            || params.arguments.is_some_and(|a| !a.get().starts_with('{'))
        {
            return false;
        }
        let Some(route) = self.mesh.catalog().tool_route(&params.name).cloned() else {
            return false;
        };
        let Some(ds) = self.mesh.server(&route.server) else {
            return false;
        };
        if ds.spec.per_client {
            return false;
        }
        let Some(link) = ds.raw_link() else {
            return false;
        };
        let key = id_key(&request_id);
        let cancel = CancellationToken::new();
        {
            let mut calls = lock(&self.calls);
            if calls.contains_key(&key) {
                // A duplicate id in flight: let rmcp answer it as it would.
                return false;
            }
            calls.insert(key.clone(), cancel.clone());
        }
        let call = Call {
            client_id: id.get().to_owned(),
            exposed: params.name.clone(),
            server: route.server.clone(),
            tool: route.name.clone(),
            arguments: params.arguments.map(|a| a.get().to_owned()),
            client_token: params.meta.and_then(|m| m.progress_token),
        };
        let hot = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let _in_flight = InFlight { hot: &hot, key };
            let _in_use = ds.begin_use();
            let timeout = ds.spec.timeout;
            if let Some(line) = hot.run(&call, &link, &client, timeout, &cancel).await {
                let _ = hot.out.send(line).await;
            }
        });
        true
    }

    /// Runs one call; returns the line for the client, or `None` when the client cancelled it.
    async fn run(
        &self,
        call: &Call,
        link: &RawLink,
        client: &Peer<RoleServer>,
        timeout: std::time::Duration,
        cancel: &CancellationToken,
    ) -> Option<String> {
        let mut pending = link.begin();
        let down_id = format!("{ID_PREFIX}{}", pending.number);
        let mut guard = self
            .mesh
            .relay
            .begin_call(&call.server, Some(client.clone()));
        if call.client_token.is_some() {
            let token = ProgressToken(NumberOrString::String(down_id.clone().into()));
            guard.track_progress(token, call.client_token.clone());
        }
        let request = call.request_line(&down_id, call.client_token.is_some());
        if !link.send(request).await {
            return Some(call.failed(&connection_broke(&call.server)));
        }
        let mut up = guard.up.take();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                response = &mut pending.response => {
                    return Some(match response {
                        Ok(line) => call.relay(&line),
                        Err(_) => call.failed(&connection_broke(&call.server)),
                    });
                }
                Some(up_request) = recv(&mut up) => {
                    crate::runtime::relay::answer(client, up_request).await;
                }
                () = &mut deadline => {
                    let _ = link.send(cancel_line(&down_id, "the call timed out in polyclaw")).await;
                    return Some(call.failed(&Error::Timeout {
                        server: call.server.clone(),
                        secs: timeout.as_secs_f64(),
                    }));
                }
                () = cancel.cancelled() => {
                    let _ = link.send(cancel_line(&down_id, "cancelled by the client")).await;
                    return None;
                }
            }
        }
    }
}

/// One call on the hot path.
struct Call {
    /// The client's id, as the JSON text it sent.
    client_id: String,
    exposed: String,
    server: String,
    /// The tool's name at the server.
    tool: String,
    arguments: Option<String>,
    client_token: Option<ProgressToken>,
}

impl Call {
    /// The request for the server, one line.
    fn request_line(&self, down_id: &str, with_token: bool) -> Vec<u8> {
        let name = serde_json::to_string(&self.tool).unwrap_or_else(|_| "\"\"".into());
        let mut line =
            String::with_capacity(96 + name.len() + self.arguments.as_ref().map_or(0, String::len));
        line.push_str(r#"{"jsonrpc":"2.0","id":""#);
        line.push_str(down_id);
        line.push_str(r#"","method":"tools/call","params":{"name":"#);
        line.push_str(&name);
        if let Some(arguments) = &self.arguments {
            line.push_str(r#","arguments":"#);
            line.push_str(arguments);
        }
        if with_token {
            line.push_str(r#","_meta":{"progressToken":""#);
            line.push_str(down_id);
            line.push_str(r#""}"#);
        }
        line.push_str("}}\n");
        line.into_bytes()
    }

    /// The server's response with the client's id.
    fn relay(&self, line: &[u8]) -> String {
        let (key, body) = match serde_json::from_slice::<Response<'_>>(line) {
            Ok(Response {
                result: Some(r), ..
            }) => ("result", r.get()),
            Ok(Response { error: Some(e), .. }) => ("error", e.get()),
            _ => {
                return self.failed(&Error::Downstream {
                    server: self.server.clone(),
                    message: "it answered tools/call with something that is not a tool result"
                        .into(),
                });
            }
        };
        let mut out = String::with_capacity(40 + self.client_id.len() + body.len());
        out.push_str(r#"{"jsonrpc":"2.0","id":"#);
        out.push_str(&self.client_id);
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        out.push_str(body);
        out.push('}');
        out
    }

    /// A tool error result for the client, as the typed path gives it.
    fn failed(&self, error: &Error) -> String {
        tracing::warn!(tool = %self.exposed, "call failed: {error}");
        let result = rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
            error.to_string(),
        )]);
        let result = serde_json::to_string(&result).unwrap_or_else(|_| "{}".into());
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            self.client_id
        )
    }
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

/// A request id as a map key (its JSON text, normalised).
fn id_key(id: &RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{Call, cancel_line};
    use serde_json::Value;

    fn call(arguments: Option<&str>) -> Call {
        Call {
            client_id: "\"abc\"".into(),
            exposed: "echo__echo".into(),
            server: "echo".into(),
            tool: "ec\"ho".into(),
            arguments: arguments.map(str::to_owned),
            client_token: None,
        }
    }

    #[test]
    fn the_request_carries_our_id_the_servers_name_and_raw_arguments() -> anyhow::Result<()> {
        let line = call(Some(r#"{"text": "hi", "n": [1,2]}"#)).request_line("pc:7", true);
        assert!(line.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&line)?;
        assert_eq!(v["id"], "pc:7");
        assert_eq!(v["method"], "tools/call");
        assert_eq!(v["params"]["name"], "ec\"ho");
        assert_eq!(v["params"]["arguments"]["n"][1], 2);
        assert_eq!(v["params"]["_meta"]["progressToken"], "pc:7");
        let bare: Value = serde_json::from_slice(&call(None).request_line("pc:8", false))?;
        assert!(bare["params"].get("arguments").is_none());
        assert!(bare["params"].get("_meta").is_none());
        Ok(())
    }

    #[test]
    fn the_response_gets_the_clients_id_back() -> anyhow::Result<()> {
        let c = call(None);
        let ok: Value = serde_json::from_str(
            &c.relay(br#"{"jsonrpc":"2.0","id":"pc:7","result":{"content":[],"isError":false}}"#),
        )?;
        assert_eq!(ok["id"], "abc");
        assert_eq!(ok["result"]["isError"], false);
        let err: Value = serde_json::from_str(
            &c.relay(br#"{"id":"pc:7","jsonrpc":"2.0","error":{"code":-32602,"message":"bad"}}"#),
        )?;
        assert_eq!(err["error"]["code"], -32602);
        let odd: Value = serde_json::from_str(&c.relay(br#"{"jsonrpc":"2.0","id":"pc:7"}"#))?;
        assert_eq!(odd["result"]["isError"], true);
        assert!(
            odd["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("echo"))
        );
        let cancel: Value = serde_json::from_slice(&cancel_line("pc:7", "why"))?;
        assert_eq!(cancel["params"]["requestId"], "pc:7");
        Ok(())
    }
}
